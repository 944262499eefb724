//! Arguments of the commands that send load or spend a window: `load`, `fleet`.

use std::path::PathBuf;

use clap::Args;

use super::ConnectArgs;
use crate::report::Format;
use crate::settings;

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
    #[arg(long, default_value = settings::FLEET_MAX_REQUESTS.default, value_name = "N", value_parser = settings::FLEET_MAX_REQUESTS.ranged::<u32>())]
    pub max_requests: u32,

    /// The limiter's window (LiteLLM's `LITELLM_RATE_LIMIT_WINDOW_SIZE`): answers further apart
    /// are never compared as one window.
    #[arg(long, default_value = settings::FLEET_WINDOW.default, value_name = "DURATION")]
    pub window: String,

    /// How long one instance may still refuse after another admitted in a new window.
    #[arg(long, default_value = settings::FLEET_TOLERANCE.default, value_name = "DURATION")]
    pub tolerance: String,

    /// The load balancer in front of the instances: it takes its turn with them, and its
    /// answers must follow the same counter.
    #[arg(long, value_name = "URL")]
    pub via: Option<String>,

    /// Watch for this long instead of spending the window: a low request rate (`--every`),
    /// and every change of the fleet's state (one counter, split) with its time.
    #[arg(long, value_name = "DURATION")]
    pub watch: Option<String>,

    /// With `--watch`: one request this often, round robin over the instances. By default
    /// the pace follows the limit the first answer advertises: at most half of it per
    /// `--window`, and never more than one request a second, so the watch does not spend
    /// the key.
    #[arg(long, value_name = "DURATION", requires = "watch")]
    pub every: Option<String>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Also write the report to this file (format from `--format`).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

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

    /// Run shard K of a test split over N processes (`2/4`): this process sends its exact
    /// share of the rate, workers, in-flight cap and requests, the shares adding up to the
    /// whole.
    #[arg(long, value_name = "K/N", conflicts_with = "segments")]
    pub segment: Option<crate::load::Segment>,

    /// Start sending at this moment (RFC 3339, `2026-12-03T15:00:00Z`, or Unix seconds), so
    /// that the shards of a split test start together; at most a day ahead.
    #[arg(long, value_name = "TIME")]
    pub start_at: Option<String>,

    /// Split the test over N processes, this one's shard from `JOB_COMPLETION_INDEX` (0-based,
    /// as a Kubernetes Indexed Job sets it in each pod).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(crate::load::segment::MAX_SEGMENTS)))]
    pub segments: Option<u32>,

    #[command(flatten)]
    pub reports: LoadReportArgs,

    /// The test this run is a shard of, written into its raw result so that `merge` takes
    /// only shards of one test [default: a digest of the target, the whole test's settings,
    /// the shard count and `--start-at`].
    #[arg(long, value_name = "ID", env = "RATECHECK_TEST_ID")]
    pub test_id: Option<String>,

    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// `ratecheck merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Raw results of the shards, written by `ratecheck load --raw FILE`.
    #[arg(required = true, value_name = "RAW")]
    pub files: Vec<PathBuf>,

    #[command(flatten)]
    pub reports: LoadReportArgs,
}

/// Where a load report goes: `load` and `merge` write the same ones.
#[derive(Debug, Args)]
pub struct LoadReportArgs {
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

    /// Also write the raw result to this file (`-`: standard output, the report then going to
    /// standard error): every histogram whole, the counts, header tallies, samples and
    /// timeline, for `ratecheck merge` to fold with the other shards of a split test.
    #[arg(long, value_name = "FILE")]
    pub raw: Option<PathBuf>,
}
