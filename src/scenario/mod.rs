//! Scenario files: the YAML format `ratecheck run` and `ratecheck validate` read.
//!
//! The types here are the format: serde derives them with `deny_unknown_fields`, so an unknown
//! key is an error that serde-saphyr locates (file, line, column), and `read` adds a "did you
//! mean". Steps are externally tagged (`- request: {...}`) rather than `kind: request`, because an
//! internally tagged enum is buffered before it is read and its errors lose their position.
//!
//! `read` parses; `lint` checks what the types cannot say (empty step lists, zero repeats,
//! variables nobody defines); `vars` expands `${VAR}` and `${VAR:-default}`.

mod lint;
mod read;
mod rules;
pub mod vars;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::Spanned;

use crate::endpoint::{Endpoint, Mode};

pub use read::{ScenarioError, from_yaml, parse, read};
pub use rules::{Dur, FailIf, HeaderRule, IntRange, Pattern, StreamExpect};

/// A scenario as written, with the file it came from.
#[derive(Debug)]
pub struct Loaded {
    /// The file, as given on the command line.
    pub path: PathBuf,
    /// Its text, kept to locate errors found after parsing.
    pub source: String,
    /// The parsed scenario.
    pub scenario: Scenario,
}

impl Loaded {
    /// The scenario's name, or the file stem when it has none.
    pub fn name(&self) -> String {
        self.scenario.name.clone().unwrap_or_else(|| {
            self.path
                .file_stem()
                .map_or_else(|| "scenario".into(), |s| s.to_string_lossy().into_owned())
        })
    }
}

/// One scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Name shown in reports (default: the file stem).
    pub name: Option<String>,
    /// What the scenario checks and why; shown in Markdown reports.
    pub description: Option<String>,
    /// Gateway base URL; `--target` overrides it. `${VAR}` and `${VAR:-default}` expand.
    pub target: Option<Spanned<String>>,
    /// Where the API key comes from.
    #[serde(default)]
    pub auth: Auth,
    /// Settings every step inherits.
    #[serde(default)]
    pub defaults: Defaults,
    /// Warnings fail expectations too, not only findings (as `--strict` does).
    #[serde(default)]
    pub strict: bool,
    /// What to do, in order.
    pub steps: Spanned<Vec<Spanned<Step>>>,
}

/// Where the API key comes from. Neither set: `RATECHECK_API_KEY`, `LITELLM_API_KEY`, then
/// `OPENAI_API_KEY`. The key itself is never written in a scenario.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    /// Name of the environment variable holding the key.
    pub env: Option<String>,
    /// File whose first line is the key (`${VAR}` expands).
    pub file: Option<String>,
    /// Send no key at all.
    #[serde(default)]
    pub none: bool,
}

/// Settings every step inherits.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Model for generation endpoints (default: the first from `GET /v1/models`).
    pub model: Option<String>,
    /// Model for `/v1/embeddings` (default: `model`).
    pub embedding_model: Option<String>,
    /// Time allowed to connect, to receive headers, and between two chunks (default 30s).
    pub timeout: Option<Spanned<Dur>>,
    /// The longest one request may take, headers and whole body (default 120s).
    pub max_time: Option<Spanned<Dur>>,
    /// Also trust the CA certificates in this PEM file (`${VAR}` expands).
    pub cacert: Option<String>,
    /// Accept invalid TLS certificates.
    #[serde(default)]
    pub insecure: bool,
    /// Follow 307/308 redirects to the same origin.
    #[serde(default)]
    pub follow_redirects: bool,
    /// Extra request headers on every request.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Request headers whose values are secrets, redacted in every output like the key.
    #[serde(default)]
    pub secret_headers: Vec<String>,
    /// Operator-named rate-limit headers, compared across shapes like the known dialects.
    #[serde(default)]
    pub rate_headers: Vec<String>,
    /// How counter motion is judged: `auto` (default), `exact`, `approximate` or `off`.
    pub counters: Option<crate::probe::analyze::CounterMode>,
}

/// One step. Written as a one-key mapping: `- probe: {...}`, `- request: {...}`, …
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// The probe's endpoint × shape matrix, with expectations on it.
    Probe(ProbeStep),
    /// One request with expectations on its status, headers and stream.
    Request(RequestStep),
    /// Send until the limit answers, then check the 429 contract and the advertised wait.
    Exhaust(ExhaustStep),
    /// Run the inner steps several times.
    Repeat(RepeatStep),
    /// Run the inner steps once per endpoint, shape or model.
    ForEach(ForEachStep),
    /// Backoff-aware load, with thresholds and the rate-limit truth findings.
    Load(LoadStep),
    /// One key over a gateway fleet's instances: whether they enforce one limit.
    Fleet(FleetStep),
    /// What the gateway's limiter does (`ratecheck limits`): 429s that say when to retry,
    /// refusals not charged, tokens charged, slots returned, limits under concurrency.
    Limits(LimitsStep),
}

impl Step {
    /// The step kind as written.
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Probe(_) => "probe",
            Step::Request(_) => "request",
            Step::Exhaust(_) => "exhaust",
            Step::Repeat(_) => "repeat",
            Step::ForEach(_) => "for_each",
            Step::Load(_) => "load",
            Step::Fleet(_) => "fleet",
            Step::Limits(_) => "limits",
        }
    }
}

/// `probe`: the endpoint × shape matrix.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeStep {
    /// Name shown in reports.
    pub name: Option<String>,
    /// Endpoints to probe (default: all five).
    pub endpoints: Option<Vec<Endpoint>>,
    /// Rounds of the matrix (default 1); two or more check that counters move.
    pub repeat: Option<u32>,
    /// What must hold.
    #[serde(default)]
    pub expect: ProbeExpect,
}

/// Expectations on a probe. Unset fields keep their defaults, which are strict.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeExpect {
    /// Every successful response carries each of these: a dialect (`litellm`, `openai`,
    /// `anthropic`, `ietf`, …) or a header name, `*` matching any run of characters.
    #[serde(default)]
    pub require: Vec<String>,
    /// No rate-limit header is present on one response shape and missing on another.
    #[serde(default = "yes")]
    pub same_across_shapes: bool,
    /// Values parse in their dialect, agree with each other, and counters move as they should.
    #[serde(default = "yes")]
    pub consistent_values: bool,
    /// Every request got a complete, successful response.
    #[serde(default = "yes")]
    pub no_errors: bool,
}

impl Default for ProbeExpect {
    fn default() -> Self {
        ProbeExpect {
            require: Vec::new(),
            same_across_shapes: true,
            consistent_values: true,
            no_errors: true,
        }
    }
}

fn yes() -> bool {
    true
}

/// `request`: one request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestStep {
    /// Name shown in reports.
    pub name: Option<String>,
    /// Endpoint (default: the enclosing `for_each`'s, else `chat`).
    pub endpoint: Option<Endpoint>,
    /// Ask for a stream (default: the enclosing `for_each`'s shape, else `false`).
    pub stream: Option<bool>,
    /// Model (default: the scenario's).
    pub model: Option<String>,
    /// The JSON body; `model` and `stream` are filled in when absent. Default: a minimal request.
    pub body: Option<Value>,
    /// Extra request headers for this request.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// What must hold.
    #[serde(default)]
    pub expect: RequestExpect,
    /// Variables to set from response headers: `variable: header-name`.
    #[serde(default)]
    pub capture: BTreeMap<String, String>,
}

/// Expectations on one response.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestExpect {
    /// Exact status (default: any 2xx).
    pub status: Option<u16>,
    /// Rules per header name (`*` matches any run of characters).
    #[serde(default)]
    pub headers: BTreeMap<String, HeaderRule>,
    /// Rules on the SSE stream.
    pub stream: Option<StreamExpect>,
}

/// `exhaust`: send until the limit answers, then check the answer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExhaustStep {
    /// Name shown in reports.
    pub name: Option<String>,
    /// Endpoint (default: the enclosing `for_each`'s, else `chat`).
    pub endpoint: Option<Endpoint>,
    /// Ask for streams (default `false`).
    pub stream: Option<bool>,
    /// Model (default: the scenario's).
    pub model: Option<String>,
    /// Give up when this many requests all succeed (default 200).
    pub max_requests: Option<u32>,
    /// What giving up means: a failed check (`fail`, the default: the scenario says the limit
    /// is below `max_requests`) or a note that the contract went unchecked (`note`: the limit
    /// is not known, as in `triage`).
    #[serde(default)]
    pub if_not_reached: IfNotReached,
    /// After the refusal, wait as advised and check that a request then succeeds (default true).
    pub recover: Option<bool>,
    /// Longest wait honoured for the recovery check (default 90s).
    pub max_wait: Option<Dur>,
    /// What the refusal must look like.
    #[serde(default)]
    pub expect: ExhaustExpect,
}

/// What an `exhaust` step that never met a refusal reports.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IfNotReached {
    /// A failed check: the limit was expected below `max_requests`.
    #[default]
    Fail,
    /// A note: the limit is unknown, so not reaching it proves nothing.
    Note,
}

/// The 429 contract.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExhaustExpect {
    /// Status of the refusal (default 429; a 503 is a classic gateway mistake).
    #[serde(default = "too_many")]
    pub status: u16,
    /// The refusal carries `retry-after` or `retry-after-ms`, and it parses (default true).
    #[serde(default = "yes")]
    pub retry_after: bool,
    /// The refusal's body is a JSON error object (default true).
    #[serde(default = "yes")]
    pub error_body: bool,
    /// Rules per header on the refusal.
    #[serde(default)]
    pub headers: BTreeMap<String, HeaderRule>,
}

impl Default for ExhaustExpect {
    fn default() -> Self {
        ExhaustExpect {
            status: 429,
            retry_after: true,
            error_body: true,
            headers: BTreeMap::new(),
        }
    }
}

fn too_many() -> u16 {
    429
}

/// `fleet`: the same check as `ratecheck fleet`, over the instances listed (each a base URL,
/// `${VAR}` expands), with the scenario's key and connection settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetStep {
    /// Name shown in reports.
    pub name: Option<String>,
    /// Every instance's own base URL (at least two).
    pub instances: Spanned<Vec<String>>,
    /// The load balancer in front of them, taking its turn in the rotation.
    pub via: Option<String>,
    /// Model (default: the scenario's).
    pub model: Option<String>,
    /// The most requests sent (default 100).
    pub max_requests: Option<u32>,
    /// The limiter's window (default 60s, LiteLLM's `LITELLM_RATE_LIMIT_WINDOW_SIZE`).
    pub window: Option<Dur>,
    /// How long one instance may still refuse after another admitted in a new window
    /// (default 2s).
    pub tolerance: Option<Dur>,
    /// Watch for this long instead of spending the window.
    pub watch: Option<Dur>,
    /// With `watch`: one request this often (default 1s).
    pub every: Option<Dur>,
}

/// `limits`: the same checks as `ratecheck limits`, with the scenario's key and connection
/// settings; one expectation per check, failed by a defect (and by a warning when strict).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsStep {
    /// Name shown in reports.
    pub name: Option<String>,
    /// Which checks (default: all): `retry_advice`, `refusals_charged`, `tokens_charged`,
    /// `slots_returned`, `concurrency`.
    pub checks: Option<Spanned<Vec<String>>>,
    /// Endpoints (default: all five).
    pub endpoints: Option<Vec<crate::endpoint::Endpoint>>,
    /// Model (default: the scenario's).
    pub model: Option<String>,
    /// The most requests the step sends (default 200).
    pub max_requests: Option<u32>,
    /// The longest one wait for the key's limits to clear (default 90s).
    pub max_wait: Option<Dur>,
    /// The key's max_parallel_requests, when the gateway does not advertise it.
    pub max_parallel: Option<i64>,
    /// Pause before each counter reading (default 300ms).
    pub settle: Option<Dur>,
    /// max_tokens of the long generations that hold the key's slots (default 400).
    pub hold_tokens: Option<u64>,
    /// The variable holding a second key for the concurrency checks.
    pub concurrency_key_env: Option<String>,
    /// The file whose first line is that second key (`${VAR}` expands).
    pub concurrency_key_file: Option<String>,
}

/// `repeat`: the inner steps, several times. `${iteration}` counts from 1.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepeatStep {
    /// How many times.
    pub times: Spanned<u32>,
    /// The steps to repeat.
    pub steps: Spanned<Vec<Spanned<Step>>>,
}

/// `for_each`: the inner steps once per combination. Inner steps that do not name an endpoint,
/// shape or model take the loop's; `${endpoint}`, `${shape}` and `${model}` are set.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForEachStep {
    /// Endpoints to loop over.
    pub endpoints: Option<Spanned<Vec<Endpoint>>>,
    /// Shapes to loop over: `streaming`, `non_streaming`.
    pub shapes: Option<Spanned<Vec<Mode>>>,
    /// Models to loop over.
    pub models: Option<Spanned<Vec<String>>>,
    /// The steps to run for each combination.
    pub steps: Spanned<Vec<Spanned<Step>>>,
}

/// `load`: the same engine as `ratecheck load`, run for each phase in turn (a stepwise ramp).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadStep {
    /// Name shown in reports.
    pub name: Option<String>,
    /// Open loop: requests per second (each phase may set its own).
    pub rate: Option<f64>,
    /// With `rate`: Poisson arrivals.
    #[serde(default)]
    pub poisson: bool,
    /// Without `rate`: closed-loop workers; with it, the in-flight cap.
    pub concurrency: Option<usize>,
    /// How long to send (default 10s unless `requests` is given).
    pub duration: Option<Dur>,
    /// How many requests to send.
    pub requests: Option<u64>,
    /// Phases run one after another, each with its own duration and rate or concurrency.
    pub phases: Option<Spanned<Vec<LoadPhase>>>,
    /// Endpoints, in equal shares (default: the loop's, else chat).
    pub endpoints: Option<Vec<Endpoint>>,
    /// Share of requests sent streaming (0 to 1).
    pub stream_fraction: Option<f64>,
    /// `max_tokens` per request.
    pub max_tokens: Option<u32>,
    /// Prompt length in characters.
    pub prompt_chars: Option<usize>,
    /// Backoff without advice: `full-jitter` (default), `equal-jitter`, `exponential`, `none`.
    pub backoff: Option<crate::load::backoff::Policy>,
    /// Retries per request (default 3).
    pub max_retries: Option<u32>,
    /// First computed backoff wait (default 500ms).
    pub backoff_base: Option<Dur>,
    /// Longest computed backoff wait (default 30s).
    pub backoff_cap: Option<Dur>,
    /// Retries allowed as a share of the last 10 s of requests, plus 10 per 10 s (default 0.2).
    pub retry_budget: Option<f64>,
    /// Longest advised wait honoured (default 120s).
    pub max_wait: Option<Dur>,
    /// Share of attempts that may fail, throttles aside, before the step fails (default 0.05).
    pub max_error_rate: Option<f64>,
    /// Seed for arrivals, the mix and jitter (default 1; phases count on from it).
    pub seed: Option<u64>,
    /// This run's shard of a test split over several processes: `K/N`.
    pub segment: Option<crate::load::Segment>,
    /// After `duration`: how long requests in flight may finish (default 5s).
    pub grace: Option<Dur>,
    /// `headers`: pace from `remaining` and reset.
    pub pace: Option<crate::load::Pace>,
    /// What must hold.
    #[serde(default)]
    pub expect: LoadExpect,
}

/// One phase of a `load` step.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadPhase {
    /// How long the phase sends.
    pub duration: Dur,
    /// Requests per second in this phase.
    pub rate: Option<f64>,
    /// Closed-loop workers in this phase.
    pub concurrency: Option<usize>,
}

/// Expectations on a load run.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadExpect {
    /// k6-style thresholds that fail the step when they hold: `p99_ms>2000`, `error_rate>0.01`.
    #[serde(default)]
    pub fail_if: Vec<FailIf>,
    /// No rate-limit truth finding (headers missing under load, early 429s, short waits, …).
    #[serde(default = "yes")]
    pub no_findings: bool,
}

impl Default for LoadExpect {
    fn default() -> Self {
        LoadExpect {
            fail_if: Vec::new(),
            no_findings: true,
        }
    }
}
