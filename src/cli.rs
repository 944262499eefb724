//! Command-line arguments. clap only parses here; `config.rs` resolves and validates.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::mock::Profile;
use crate::probe::analyze::CounterMode;
use crate::report::Format;

/// Reproduce, diagnose and verify rate-limit header bugs in LLM gateways.
///
/// Exit codes: 0 no findings, 1 findings, 2 usage or input error, 3 target unreachable or
/// authentication failed, 4 timeout, 5 broken response (stream cut, garbage body).
#[derive(Debug, Parser)]
#[command(name = "ratecheck", version, about, long_about)]
pub struct Cli {
    /// When to colour the output. `NO_COLOR` set in the environment means never.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    pub color: ColorChoice,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Colour policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour when standard output is a terminal and `NO_COLOR` is unset.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Probe a gateway: which rate-limit headers each endpoint and response shape carries.
    ///
    /// Sends a minimal non-streaming and streaming request to each endpoint the target offers,
    /// compares the rate-limit headers across shapes, and names the LiteLLM v3 streaming drop
    /// (BerriAI/litellm#27748) when its signature matches.
    Probe(ProbeArgs),
    /// Run YAML scenarios: a regression gate for CI, with JUnit, JSON and Markdown reports.
    ///
    /// Exit codes as for `probe`: 0 every expectation held, 1 one failed (or a baseline header
    /// is missing), 2 a scenario or flag is wrong, 3 the target is unreachable.
    Run(RunArgs),
    /// Check scenario files without sending anything.
    Validate(ValidateArgs),
    /// Write a redacted support bundle: probe, repeat, 429 contract, SSE timeline, in one
    /// Markdown file.
    Triage(TriageArgs),
    /// Load a gateway the way a well-behaved client would, and check its rate-limit headers
    /// against what it does under load.
    ///
    /// Open loop (`--rate`, optionally `--poisson`) or closed loop (`--concurrency` alone).
    /// Refusals are backed off per `retry-after-ms`, `Retry-After`, IETF `RateLimit` or the reset
    /// of an exhausted limit; latency is timed from each request's intended send time.
    Load(Box<LoadArgs>),
    /// Check that a gateway fleet enforces one limit: one key's requests spread over the
    /// instances, their counters compared.
    ///
    /// Give each instance's own base URL (each pod's address, not the load balancer's). Exit
    /// codes as for `probe`: 1 when the instances count apart, over-admit or disagree.
    Fleet(FleetArgs),
    /// Judge evidence from real traffic offline: HAR files, `curl -i` / `curl -v` output, or
    /// ratecheck's own JSON reports, with the probe's rules and formats.
    ///
    /// Exit codes as for `probe`; 2 when a file, or a part of one, cannot be read (what could
    /// be read is still judged, and each unreadable part is named by file and line).
    Analyze(AnalyzeArgs),
    /// Record what a real client receives: a pass-through on loopback to the gateway, then the
    /// `analyze` report over every exchange (and a redacted HAR with `--save`).
    ///
    /// Point the client's base URL at the recorder; requests go to `--upstream` unchanged and
    /// responses come back unchanged, streams chunk by chunk. Stops at Ctrl-C or `--duration`.
    Record(RecordArgs),
    /// Run the built-in rate-limited simulator on 127.0.0.1.
    Mock(MockArgs),
    /// Show the LiteLLM streaming header drop and its fix on the built-in simulator.
    ///
    /// Needs no network and no gateway.
    Demo(DemoArgs),
    /// Print a shell completion script: `ratecheck completions bash > /etc/bash_completion.d/ratecheck`.
    Completions(CompletionsArgs),
    /// Print the manual page (roff): `ratecheck man | man -l -`.
    Man,
}

/// `ratecheck completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Connection settings shared by commands that talk to a gateway.
#[derive(Debug, Args, Clone)]
pub struct ConnectArgs {
    /// Name of the environment variable holding the API key.
    ///
    /// Without it, the first set of `RATECHECK_API_KEY`, `LITELLM_API_KEY` and `OPENAI_API_KEY`
    /// is used. Keys are never taken from the command line, and never printed.
    #[arg(long, value_name = "VAR")]
    pub api_key_env: Option<String>,

    /// Read the API key from this file (first line).
    #[arg(long, value_name = "FILE", conflicts_with = "api_key_env")]
    pub api_key_file: Option<PathBuf>,

    /// Extra request header, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,

    /// Time allowed to connect, to receive headers, and between two chunks of a body
    /// [default: 30s].
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,

    /// The longest one request may take, headers and whole body, however steadily a stream
    /// trickles [default: 120s].
    #[arg(long, value_name = "DURATION")]
    pub max_time: Option<String>,

    /// Also trust the CA certificates in this PEM file (a gateway with a private CA).
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,

    /// Accept invalid TLS certificates.
    #[arg(long)]
    pub insecure: bool,

    /// A rate-limit header the gateway's operator named (Azure APIM's `llm-token-limit` policy
    /// lets them choose, e.g. `remaining-tokens`); compared across shapes like the known
    /// dialects (repeatable).
    #[arg(long = "rate-header", value_name = "NAME")]
    pub rate_headers: Vec<String>,

    /// A request header whose value is a secret (a tenant token, say): redacted in every output
    /// like the key. `authorization`, `x-api-key`, `api-key` and cookies always are (repeatable).
    #[arg(long = "secret-header", value_name = "NAME")]
    pub secret_headers: Vec<String>,

    /// Follow a gateway's 307/308 redirects to the same origin (scheme, host, port). Without
    /// it no redirect is followed: the key and the body would go wherever it points.
    #[arg(long)]
    pub follow_redirects: bool,
}

/// Which endpoints and models the probe matrix uses (shared by `probe` and `triage`).
#[derive(Debug, Args, Clone)]
pub struct SelectArgs {
    /// Model for the generation endpoints (default: the first from `GET /v1/models`).
    #[arg(long)]
    pub model: Option<String>,

    /// Model for `/v1/embeddings` (default: `--model`).
    #[arg(long)]
    pub embedding_model: Option<String>,

    /// Endpoints to probe, comma-separated: chat, completions, responses, messages, embeddings.
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub endpoints: Option<Vec<String>>,

    /// How counter motion is judged: `auto` by each dialect's limiter (LiteLLM's exact windows,
    /// OpenAI's replenishing counters, …), `exact` or `approximate` for all, `off`.
    #[arg(long, value_enum, default_value_t = CounterMode::Auto)]
    pub counters: CounterMode,

    /// Warnings fail the run too (exit 1), not only findings.
    #[arg(long)]
    pub strict: bool,
}

/// `ratecheck probe`.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// Gateway base URL: `http://host:4000` or `http://host:4000/v1`.
    pub url: String,

    #[command(flatten)]
    pub select: SelectArgs,

    /// Rounds of the whole matrix, sent one after another, to check that counters move.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub repeat: u32,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Also write the report to this file (format from `--format`).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// `ratecheck analyze`.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Evidence files: `.har`, `curl -i` / `curl -v` output, ratecheck probe or run JSON.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// How counter motion is judged. Real traffic may share its key with other clients, so
    /// by default only motion no client could cause is reported (`approximate`); `exact` when
    /// the evidence is the key's only traffic.
    #[arg(long, value_enum, default_value_t = CounterMode::Approximate)]
    pub counters: CounterMode,

    /// Warnings fail the run too (exit 1), not only findings.
    #[arg(long)]
    pub strict: bool,

    /// Compare this operator-named header across shapes like the known dialects (repeatable).
    #[arg(long = "rate-header", value_name = "NAME")]
    pub rate_headers: Vec<String>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Also write the report to this file (format from `--format`).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `ratecheck record`.
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// The gateway's base URL: every request is forwarded there, its path appended.
    #[arg(long, value_name = "URL")]
    pub upstream: String,

    /// Where clients connect: loopback unless `--allow-remote` (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:4400", value_name = "ADDR:PORT")]
    pub listen: String,

    /// Accept a `--listen` address other machines can reach: anyone who can connect then
    /// uses the gateway with the credentials their requests carry.
    #[arg(long)]
    pub allow_remote: bool,

    /// Stop after this long (default: at Ctrl-C).
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<String>,

    /// Save every exchange as a HAR 1.2 file, credentials and query values removed.
    #[arg(long, value_name = "FILE.har")]
    pub save: Option<PathBuf>,

    /// How counter motion is judged (as for `analyze`: the client may share its key).
    #[arg(long, value_enum, default_value_t = CounterMode::Approximate)]
    pub counters: CounterMode,

    /// Warnings fail the run too (exit 1), not only findings.
    #[arg(long)]
    pub strict: bool,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Also write the report to this file (format from `--format`).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `ratecheck fleet`.
#[derive(Debug, Args)]
pub struct FleetArgs {
    /// Every instance's own base URL (at least two).
    #[arg(required = true, num_args = 2.., value_name = "URL")]
    pub urls: Vec<String>,

    /// Model to ask for (default: the first `GET /v1/models` lists on the first instance).
    #[arg(long)]
    pub model: Option<String>,

    /// The most requests to send. The check plans what the first answer's `remaining` leaves,
    /// plus two per instance, and says so before it starts.
    #[arg(long, default_value_t = 100, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_requests: u32,

    /// The limiter's window (LiteLLM's `LITELLM_RATE_LIMIT_WINDOW_SIZE`): answers further apart
    /// are never compared as one window.
    #[arg(long, default_value = "60s", value_name = "DURATION")]
    pub window: String,

    /// How long one instance may still refuse after another admitted in a new window.
    #[arg(long, default_value = "2s", value_name = "DURATION")]
    pub tolerance: String,

    /// The load balancer in front of the instances: it takes its turn with them, and its
    /// answers must follow the same counter.
    #[arg(long, value_name = "URL")]
    pub via: Option<String>,

    /// Watch for this long instead of spending the window: a low request rate (`--every`),
    /// and every change of the fleet's state (one counter, split) with its time.
    #[arg(long, value_name = "DURATION")]
    pub watch: Option<String>,

    /// With `--watch`: one request this often, round robin over the instances.
    #[arg(
        long,
        default_value = "1s",
        value_name = "DURATION",
        requires = "watch"
    )]
    pub every: String,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Also write the report to this file (format from `--format`).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// `ratecheck run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario files (YAML).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Gateway base URL, replacing each scenario's `target`.
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,

    /// Model, replacing each scenario's `defaults.model`.
    #[arg(long)]
    pub model: Option<String>,

    /// Name of the environment variable holding the API key (replaces the scenario's `auth`).
    #[arg(long, value_name = "VAR")]
    pub api_key_env: Option<String>,

    /// Read the API key from this file (replaces the scenario's `auth`).
    #[arg(long, value_name = "FILE", conflicts_with = "api_key_env")]
    pub api_key_file: Option<PathBuf>,

    /// Extra request header, `Name: value` (repeatable), added to the scenario's.
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,

    /// Time allowed to connect, to receive headers, and between two chunks (replaces
    /// `defaults.timeout`; default 30s).
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,

    /// Accept invalid TLS certificates.
    #[arg(long)]
    pub insecure: bool,

    /// A rate-limit header the operator named, added to the scenario's `rate_headers`
    /// (repeatable).
    #[arg(long = "rate-header", value_name = "NAME")]
    pub rate_headers: Vec<String>,

    /// A request header whose value is a secret: redacted in every output (repeatable).
    #[arg(long = "secret-header", value_name = "NAME")]
    pub secret_headers: Vec<String>,

    /// Follow 307/308 redirects to the same origin (none are followed without it).
    #[arg(long)]
    pub follow_redirects: bool,

    /// The longest one request may take, headers and whole body [default: 120s].
    #[arg(long, value_name = "DURATION")]
    pub max_time: Option<String>,

    /// Also trust the CA certificates in this PEM file.
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,

    /// Warnings fail the run too, as `strict: true` in a scenario does.
    #[arg(long)]
    pub strict: bool,

    /// Output format on standard output: the step-by-step summary as the run goes (`table`),
    /// or the whole report at the end.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Write a JUnit XML report (one testcase per expectation).
    #[arg(long, value_name = "FILE")]
    pub report_junit: Option<PathBuf>,

    /// Write the JSON report (schema: docs/run-report.schema.json).
    #[arg(long, value_name = "FILE")]
    pub report_json: Option<PathBuf>,

    /// Write a Markdown report.
    #[arg(long, value_name = "FILE")]
    pub report_markdown: Option<PathBuf>,

    /// Record which rate-limit headers each endpoint × shape carried into this file.
    #[arg(long, value_name = "FILE")]
    pub save_baseline: Option<PathBuf>,

    /// Fail when a header recorded in this baseline is missing now.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
}

/// `ratecheck triage`.
#[derive(Debug, Args)]
pub struct TriageArgs {
    /// Gateway base URL: `http://host:4000` or `http://host:4000/v1`.
    #[arg(required_unless_present = "from")]
    pub url: Option<String>,

    /// Write the bundle from evidence instead of probing: HAR files, `curl -i` / `curl -v`
    /// output, ratecheck JSON reports (as `ratecheck analyze` reads them).
    #[arg(long, num_args = 1.., value_name = "FILE", conflicts_with = "url")]
    pub from: Vec<PathBuf>,

    /// Write the bundle to this file (default: standard output).
    #[arg(long, short = 'o', value_name = "FILE.md")]
    pub out: Option<PathBuf>,

    #[command(flatten)]
    pub select: SelectArgs,

    /// Rounds of the probe matrix.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub repeat: u32,

    /// Skip the 429 contract check (it spends up to `--exhaust-max` requests of the key's quota).
    #[arg(long)]
    pub skip_429: bool,

    /// Requests sent while looking for the limit.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub exhaust_max: u32,

    /// Longest advertised wait honoured when checking recovery after the 429.
    #[arg(long, default_value = "90s", value_name = "DURATION")]
    pub max_wait: String,

    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// `ratecheck load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Gateway base URL: `http://host:4000` or `http://host:4000/v1`.
    pub url: String,

    /// Open loop: requests per second, sent on schedule whatever the responses do.
    #[arg(long, value_name = "PER_SECOND")]
    pub rate: Option<f64>,

    /// With `--rate`: exponential gaps (Poisson arrivals) instead of even spacing.
    #[arg(long, requires = "rate")]
    pub poisson: bool,

    /// Without `--rate`: closed loop with this many workers. With `--rate`: the most requests
    /// in flight; slots beyond it are dropped and counted (default 256).
    #[arg(long, short = 'c', value_name = "N")]
    pub concurrency: Option<usize>,

    /// Stop sending after this long (default 10s unless `--requests` is given).
    #[arg(long, short = 'd', value_name = "DURATION")]
    pub duration: Option<String>,

    /// Stop sending after this many requests (retries not counted).
    #[arg(long, short = 'n', value_name = "N")]
    pub requests: Option<u64>,

    /// With `--duration`: how long requests still in flight at its end may finish; then they
    /// are abandoned and counted [default: 5s].
    #[arg(long, value_name = "DURATION")]
    pub grace: Option<String>,

    /// Endpoints to send to, comma-separated, in equal shares [default: chat].
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub endpoints: Option<Vec<String>>,

    /// Share of requests sent with `stream: true` (0 to 1), on endpoints that stream
    /// [default: 0].
    #[arg(long, value_name = "FRACTION")]
    pub stream_fraction: Option<f64>,

    /// Model for the generation endpoints (default: the first from `GET /v1/models`).
    #[arg(long)]
    pub model: Option<String>,

    /// Model for `/v1/embeddings` (default: `--model`).
    #[arg(long)]
    pub embedding_model: Option<String>,

    /// `max_tokens` per request [default: 16].
    #[arg(long, value_name = "N")]
    pub max_tokens: Option<u32>,

    /// Prompt length in characters [default: 16].
    #[arg(long, value_name = "N")]
    pub prompt_chars: Option<usize>,

    /// How to wait when a refusal gives no advice; `none` never retries nor pauses
    /// [default: full-jitter].
    #[arg(long, value_enum)]
    pub backoff: Option<crate::load::backoff::Policy>,

    /// Retries per request [default: 3].
    #[arg(long, value_name = "N")]
    pub max_retries: Option<u32>,

    /// First computed backoff wait [default: 500ms].
    #[arg(long, value_name = "DURATION")]
    pub backoff_base: Option<String>,

    /// Longest computed backoff wait [default: 30s].
    #[arg(long, value_name = "DURATION")]
    pub backoff_cap: Option<String>,

    /// Longest advised wait honoured; longer advice is not waited for (the request ends
    /// throttled) and is reported [default: 120s].
    #[arg(long, value_name = "DURATION")]
    pub max_wait: Option<String>,

    /// Retries allowed as a share of the last 10 s of requests, plus 10 per 10 s
    /// [default: 0.2].
    #[arg(long, value_name = "FRACTION")]
    pub retry_budget: Option<f64>,

    /// `headers`: pace sends from `remaining` and the reset so the limit is not hit
    /// [default: none].
    #[arg(long, value_enum)]
    pub pace: Option<crate::load::Pace>,

    /// Warnings fail the run too (exit 1), not only findings.
    #[arg(long)]
    pub strict: bool,

    /// Share of attempts that may fail, throttles aside, before the run fails with the
    /// commonest failure's exit (a finding, or 3/4/5 for connect, timeout, broken responses)
    /// [default: 0.05].
    #[arg(long, value_name = "FRACTION")]
    pub max_error_rate: Option<f64>,

    /// Fail (exit 1) when this holds, e.g. `p99_ms>2000` or `error_rate>0.01` (repeatable).
    #[arg(long = "fail-if", value_name = "EXPR")]
    pub fail_if: Vec<String>,

    /// Seed for arrivals, the mix and jitter [default: 1].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Also write the report to this file (format from `--format`).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Write a self-contained HTML report with charts: timeline, advertised `remaining` per
    /// shape, latency distribution.
    #[arg(long, value_name = "FILE")]
    pub report_html: Option<PathBuf>,

    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// `ratecheck validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Scenario files (YAML).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Check as if `--target` were given to `run` (the scenarios' `target` is not needed).
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
}

/// `ratecheck mock`.
#[derive(Debug, Args)]
pub struct MockArgs {
    /// Which gateway to imitate.
    #[arg(long, value_enum, default_value_t = Profile::LitellmV3)]
    pub profile: Profile,

    /// Port on 127.0.0.1; 0 picks a free one and prints the URL.
    #[arg(long, default_value_t = 4000)]
    pub port: u16,

    /// Requests allowed per key per window.
    #[arg(long, default_value_t = 1000)]
    pub rpm: u64,

    /// Tokens allowed per key per window.
    #[arg(long, default_value_t = 1_000_000)]
    pub tpm: u64,

    /// Window length.
    #[arg(long, default_value = "60s", value_name = "DURATION")]
    pub window: String,

    /// Pause between two SSE frames.
    #[arg(long, default_value = "10ms", value_name = "DURATION")]
    pub chunk_delay: String,

    /// Model name to list and answer with.
    #[arg(long, default_value = "mock-model")]
    pub model: String,

    /// Accept only the key in this environment variable; answer 401 to others.
    #[arg(long, value_name = "VAR")]
    pub require_key_env: Option<String>,

    /// Misbehave in this one way instead of simulating a gateway (see the README's fault table).
    #[arg(long, value_enum, value_name = "KIND")]
    pub fault: Option<crate::mock::fault::Fault>,

    /// Start this many instances sharing one store of counters, as gateway pods share Redis
    /// (on `--port`, `--port`+1, …; with `--port 0`, free ports).
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub instances: u16,

    /// With `--instances`: after this long, every instance counts alone (a Redis loss).
    #[arg(long, value_name = "DURATION")]
    pub split_after: Option<String>,

    /// With `--split-after`: this long after the start, the instances share their counters
    /// again.
    #[arg(long, value_name = "DURATION", requires = "split_after")]
    pub rejoin_after: Option<String>,
}

/// `ratecheck demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Output format for the two probe reports.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}
