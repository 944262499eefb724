//! Command-line arguments. clap only parses here; `config.rs` resolves and validates.
//!
//! This file holds the command line itself and the options several commands share (the
//! connection, the probe's selection); each family of commands has its arguments in a file of
//! its own.

mod gateway;
mod load;
mod local;
mod scenario;

pub use gateway::{AnalyzeArgs, ExporterArgs, LimitsArgs, ProbeArgs, RecordArgs, TriageArgs};
pub use load::{FleetArgs, LoadArgs, LoadReportArgs, MergeArgs};
pub use local::{DemoArgs, MockArgs};
pub use scenario::{RunArgs, ValidateArgs};

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::probe::analyze::CounterMode;

/// Reproduce, diagnose and verify rate-limit header bugs in LLM gateways.
///
/// Exit codes: 0 no findings, 1 findings, 2 usage or input error, 3 target unreachable or
/// authentication failed, 4 timeout, 5 broken response (stream cut, garbage body), 6 this
/// machine failed the run (a report file that cannot be written, a port that cannot be bound).
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
    /// Check what a gateway's limiter does, not only what its headers say: 429s that say when
    /// to retry, refusals not charged, tokens charged as used, concurrency slots returned,
    /// limits that hold under concurrency — on every endpoint and shape.
    ///
    /// Use a test key with small limits (rpm, tpm, max_parallel_requests): the run spends its
    /// quota, within `--max-requests`, and says its budget before the first request. Exit codes
    /// as for `probe`: 1 when a defect is proven.
    Limits(Box<LimitsArgs>),
    /// Load a gateway the way a well-behaved client would, and check its rate-limit headers
    /// against what it does under load.
    ///
    /// Open loop (`--rate`, optionally `--poisson`) or closed loop (`--concurrency` alone).
    /// Refusals are backed off per `retry-after-ms`, `Retry-After`, IETF `RateLimit` or the reset
    /// of an exhausted limit; latency is timed from each request's intended send time.
    Load(Box<LoadArgs>),
    /// Merge the raw results of a test split over several processes (`load --segment K/N
    /// --raw FILE`) into one report, as one process sending the whole test would have made.
    ///
    /// Counts add up exactly, percentiles come from the merged histograms, and thresholds and
    /// findings are judged on the merged data. Exit codes as for `load`; 2 when a shard is
    /// missing, given twice, from another test or was interrupted, and a failed shard's own
    /// code when it failed.
    Merge(MergeArgs),
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
    /// Serve the probe and the fleet check to Prometheus, as the blackbox exporter serves
    /// its probes: `/probe?target=URL&module=NAME` answers one check as metrics.
    ///
    /// Listens on loopback unless `--allow-remote`. A key is only sent to the targets the
    /// configuration or `--target` names; `/metrics` has the exporter's own counters. Stops
    /// at Ctrl-C or SIGTERM.
    Exporter(ExporterArgs),
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
#[derive(Debug, Args, Clone, Default)]
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

    /// Also trust the certificates in this PEM file: a gateway's private CA, or its own
    /// self-signed certificate, as curl takes it.
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
