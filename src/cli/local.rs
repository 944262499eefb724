//! Arguments of the commands that run on this machine alone: `mock`, `demo`.

use clap::Args;

use crate::mock::Profile;
use crate::report::Format;

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

    /// Requests of one key in flight at once (`max_parallel_requests`, sent as LiteLLM's
    /// `x-ratelimit-api_key-{remaining,limit}-max_parallel_requests`); none by default.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub max_parallel: Option<u64>,

    /// How long a long generation (`max_tokens` of 200 or more) takes; shorter ones answer at
    /// once.
    #[arg(long, default_value = "2s", value_name = "DURATION")]
    pub slow: String,

    /// Reproduce a limiter defect of LiteLLM's (repeatable): refusal-charged, no-retry-after,
    /// tokens-uncharged, slot-kept, tpm-race. Without any, the limiter is healthy.
    #[arg(long = "defect", value_enum, value_name = "DEFECT")]
    pub defects: Vec<crate::mock::Defect>,

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
    /// Output format for the two reports.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Show a limiter defect instead: `ratecheck limits` on a simulator with it, then on a
    /// healthy one (refusal-charged, no-retry-after, tokens-uncharged, slot-kept, tpm-race).
    #[arg(long, value_enum, value_name = "DEFECT")]
    pub limits: Option<crate::mock::Defect>,
}
