//! Arguments of the commands about one gateway, live or from its evidence: `probe`,
//! `triage`, `analyze`, `record`, and `exporter`, which runs the probe and the fleet check
//! for Prometheus.

use std::path::PathBuf;

use clap::Args;

use super::{ConnectArgs, SelectArgs};
use crate::probe::analyze::CounterMode;
use crate::report::Format;
use crate::settings;

/// `ratecheck probe`.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// Gateway base URL: `http://host:4000` or `http://host:4000/v1`.
    pub url: String,

    #[command(flatten)]
    pub select: SelectArgs,

    /// Rounds of the whole matrix, sent one after another, to check that counters move.
    #[arg(long, default_value = settings::PROBE_REPEAT.default, value_parser = settings::PROBE_REPEAT.ranged::<u32>())]
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

/// `ratecheck limits`.
#[derive(Debug, Args)]
pub struct LimitsArgs {
    /// Gateway base URL: `http://host:4000` or `http://host:4000/v1`.
    pub url: String,

    /// Model for the generation endpoints (default: the first from `GET /v1/models`).
    #[arg(long)]
    pub model: Option<String>,

    /// Model for `/v1/embeddings` (default: `--model`).
    #[arg(long)]
    pub embedding_model: Option<String>,

    /// Endpoints to check, comma-separated: chat, completions, responses, messages, embeddings.
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub endpoints: Option<Vec<String>>,

    /// Checks to run, comma-separated: retry_advice, refusals_charged, tokens_charged,
    /// slots_returned, concurrency (default: all).
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub checks: Option<Vec<String>>,

    /// The most requests the run sends, all checks together.
    #[arg(long, default_value = settings::LIMITS_MAX_REQUESTS.default, value_parser = settings::LIMITS_MAX_REQUESTS.ranged::<u32>())]
    pub max_requests: u32,

    /// The longest one wait for the key's limits to clear (a slot a defect kept, a spent
    /// window); the run waits at most three times.
    #[arg(long, default_value = settings::LIMITS_MAX_WAIT.default, value_name = "DURATION")]
    pub max_wait: String,

    /// The key's max_parallel_requests, when the gateway does not advertise it (LiteLLM's
    /// legacy limiter sends no header for it).
    #[arg(long, value_name = "N", value_parser = settings::LIMITS_MAX_PARALLEL.ranged::<i64>())]
    pub max_parallel: Option<i64>,

    /// Pause before each counter reading, so a charge made just after an answer has landed.
    #[arg(long, default_value = settings::LIMITS_SETTLE.default, value_name = "DURATION")]
    pub settle: String,

    /// max_tokens of the long generations that hold the key's concurrency slots.
    #[arg(long, default_value = settings::LIMITS_HOLD_TOKENS.default, value_parser = settings::LIMITS_HOLD_TOKENS.ranged::<u64>())]
    pub hold_tokens: u64,

    /// A second key for the concurrency checks, in this variable: one without
    /// max_parallel_requests (and with a small tpm), when the main key caps its requests in
    /// flight.
    #[arg(long, value_name = "VAR")]
    pub concurrency_key_env: Option<String>,

    /// The same, read from a file (first line).
    #[arg(long, value_name = "FILE", conflicts_with = "concurrency_key_env")]
    pub concurrency_key_file: Option<PathBuf>,

    /// Warnings fail the run too (exit 1), not only findings.
    #[arg(long)]
    pub strict: bool,

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

    /// Also trust the certificates in this PEM file: the upstream's private CA, or its own
    /// self-signed certificate, as curl takes it.
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,

    /// Accept invalid TLS certificates from the upstream.
    #[arg(long)]
    pub insecure: bool,

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
    #[arg(long, short = 'o', visible_alias = "out", value_name = "FILE.md")]
    pub output: Option<PathBuf>,

    #[command(flatten)]
    pub select: SelectArgs,

    /// Rounds of the probe matrix.
    #[arg(long, default_value = settings::TRIAGE_REPEAT.default, value_parser = settings::TRIAGE_REPEAT.ranged::<u32>())]
    pub repeat: u32,

    /// Skip the 429 contract check (it spends up to `--exhaust-max` requests of the key's quota).
    #[arg(long)]
    pub skip_429: bool,

    /// Requests sent while looking for the limit.
    #[arg(long, default_value = settings::EXHAUST_MAX.default, value_parser = settings::EXHAUST_MAX.ranged::<u32>())]
    pub exhaust_max: u32,

    /// Longest advertised wait honoured when checking recovery after the 429.
    #[arg(long, default_value = settings::EXHAUST_MAX_WAIT.default, value_name = "DURATION")]
    pub max_wait: String,

    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// `ratecheck exporter`.
#[derive(Debug, Args)]
pub struct ExporterArgs {
    /// Where Prometheus scrapes: loopback unless `--allow-remote` (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:9464", value_name = "ADDR:PORT")]
    pub listen: String,

    /// Accept a `--listen` address other machines can reach: anyone who can connect then
    /// makes the exporter send its keys to the targets it knows.
    #[arg(long)]
    pub allow_remote: bool,

    /// The modules (what a scrape checks, and with which key) and targets, in YAML. Without
    /// it, one module `probe`: the probe's defaults, the key from the usual variables.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// A base URL a probe module may be pointed at (repeatable); added to the configuration's
    /// `targets`. Any other target is refused, and nothing is sent to it.
    #[arg(long = "target", value_name = "URL")]
    pub targets: Vec<String>,
}
