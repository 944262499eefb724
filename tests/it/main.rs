//! ratecheck's integration suite: one binary, every server on 127.0.0.1, every loop bounded.

/// Shared helpers: running the binary, faulty raw-socket servers.
mod support;

/// `probe` against each simulator profile, in-process and through the binary.
mod probe_sim;

/// Bad input and broken targets: each gets its own message and exit code.
mod errors;

/// No API key reaches any output format.
mod secrets;

/// The proof on a real LiteLLM proxy (installed by `tests/litellm/setup.sh`).
mod litellm_e2e;

/// `analyze` on `curl -i`, `curl -v` and HAR evidence of real traffic to real LiteLLM: the
/// probe's own verdicts.
mod evidence_e2e;

/// `record` between the official openai SDK and the real LiteLLM proxy.
mod record_e2e;

/// `analyze` offline: the committed captures of real LiteLLM traffic, and broken, hostile and
/// huge evidence (located errors, exit 2, no secret out); `triage --from`.
mod evidence;

/// Three real LiteLLM releases, each with its own verdict; failed requests that still count;
/// the legacy limiter behind an upstream with its own headers.
mod litellm_releases;

/// Shipped scenarios against the simulator, report schemas, the baseline gate.
mod scenarios_sim;

/// Real-world captures replayed on loopback: no finding on a healthy gateway, the exact drop
/// when the headers are stripped from streams.
mod corpus;

// Real response bodies from public recordings, held to the shape contract.
mod bodies;

/// Answers that are not their endpoints', through every command that judges answers.
mod shape_faults;

/// Malformed scenarios: located one-line errors, exit 2.
mod scenarios_malformed;

/// `load` against the simulator: findings under load, backoff on real 429s, Ctrl-C.
mod load_sim;

/// deploy/kubernetes/: the manifests against the Kubernetes API's schemas, and the Jobs'
/// commands run here as the cluster would run them, against the simulator.
mod kubernetes;

/// Property tests: the header-value parsers and the scenario reader on generated input.
mod properties;

/// TLS as curl does it: a self-signed `--cacert` certificate through `probe`, `load` and
/// `record`; each refusal a TLS failure with its cause.
mod tls;

/// Through a real proxy (tinyproxy): `HTTP_PROXY`, `HTTPS_PROXY` and `NO_PROXY` honoured.
mod proxy;

/// The simulator as a fleet on one shared store, split as a Redis loss would.
mod fleet_sim;

/// `ratecheck fleet` on real LiteLLM instances, with and without a real Redis.
mod fleet_e2e;

/// `ratecheck limits` on the simulator: the healthy limiter, each defect, what cannot be
/// checked, secrets, Ctrl-C and a gateway that dies.
mod limits_sim;

/// `ratecheck limits` on real LiteLLM 1.80.0, 1.106.12 and 1.110.2 and the legacy limiter,
/// each behind an upstream on loopback: each release's own limiter defects.
mod limits_e2e;

/// `ratecheck exporter` scraped by a real Prometheus over the simulator; deploy/prometheus/
/// through promtool; a scrape's cost; bad modules, targets and configurations; secrets.
mod exporter;

/// The README stays true to the code.
mod readme;
