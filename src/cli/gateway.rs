//! Arguments of the commands about one gateway, live or from its evidence: `probe`,
//! `triage`, `analyze`, `record`.

use std::path::PathBuf;

use clap::Args;

use super::{ConnectArgs, SelectArgs};
use crate::probe::analyze::CounterMode;
use crate::report::Format;

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
