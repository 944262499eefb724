//! The table itself: one row per setting, kept on one line each so it reads as a table.

use super::{Key, Rule, Setting};

const fn key(commands: &'static [&'static str], id: &'static str, path: &'static str, example: &'static str, default: &'static str, rule: Rule) -> Setting {
    Setting { commands, id, key: Key::Scenario { path, example }, default, rule }
}

const fn cli(commands: &'static [&'static str], id: &'static str, why: &'static str) -> Setting {
    Setting { commands, id, key: Key::CliOnly(why), default: "", rule: Rule::Any }
}

/// Commands that talk to one gateway with the connection flags.
const CONNECTED: &[&str] = &["probe", "run", "triage", "limits", "load", "fleet"];
/// Commands with the probe's selection flags.
const SELECTING: &[&str] = &["probe", "triage"];
/// Commands whose gateway a scenario names with `target`.
const TARGETED: &[&str] = &["probe", "triage", "limits", "load"];

const REPORT_FILE: &str = "where a report goes is the caller's choice; a scenario's reports are `run`'s `--output` and `--report-*`";
const FORMAT: &str = "how the report is shown; a scenario's run has its own `--format`";
const SCENARIO_FILES: &str = "the scenarios themselves";
const OFFLINE: &str = "judges evidence already gathered; a scenario sends its own requests";
const RECORDER: &str = "relays a real client's traffic; a scenario sends its own";
const SIMULATOR: &str = "sets up the built-in simulator, which a scenario points at like any gateway";
const SHOW: &str = "a fixed show on the built-in simulator";
const EXPORTER: &str = "serves Prometheus's scrapes; what each scrape checks is its configuration's modules, which read as scenario steps";

/// `--timeout`.
pub const TIMEOUT: Setting = key(CONNECTED, "timeout", "defaults.timeout", "30s", "30s", Rule::AboveZero);
/// `--max-time`.
pub const MAX_TIME: Setting = key(CONNECTED, "max_time", "defaults.max_time", "2m", "120s", Rule::AboveZero);
/// `--repeat` of `probe`.
pub const PROBE_REPEAT: Setting = key(&["probe"], "repeat", "probe.repeat", "2", "1", Rule::Within(1, 1000));
/// `--repeat` of `triage`: the probe step's rounds, two by default to see counters move.
pub const TRIAGE_REPEAT: Setting = key(&["triage"], "repeat", "probe.repeat", "2", "2", Rule::Within(1, 1000));
/// `triage --exhaust-max`: an `exhaust` step's `max_requests`.
pub const EXHAUST_MAX: Setting = key(&["triage"], "exhaust_max", "exhaust.max_requests", "50", "50", Rule::Within(1, 10_000));
/// `triage --max-wait`: an `exhaust` step's `max_wait`.
pub const EXHAUST_MAX_WAIT: Setting = key(&["triage"], "max_wait", "exhaust.max_wait", "90s", "90s", Rule::Any);
/// `limits --max-requests`.
pub const LIMITS_MAX_REQUESTS: Setting = key(&["limits"], "max_requests", "limits.max_requests", "200", "200", Rule::Within(10, 5000));
/// `limits --max-wait`.
pub const LIMITS_MAX_WAIT: Setting = key(&["limits"], "max_wait", "limits.max_wait", "90s", "90s", Rule::Any);
/// `limits --max-parallel`.
pub const LIMITS_MAX_PARALLEL: Setting = key(&["limits"], "max_parallel", "limits.max_parallel", "2", "", Rule::Within(1, 16));
/// `limits --settle`.
pub const LIMITS_SETTLE: Setting = key(&["limits"], "settle", "limits.settle", "500ms", "300ms", Rule::Any);
/// `limits --hold-tokens`.
pub const LIMITS_HOLD_TOKENS: Setting = key(&["limits"], "hold_tokens", "limits.hold_tokens", "400", "400", Rule::Within(1, 100_000));
/// `load --rate`.
pub const LOAD_RATE: Setting = key(&["load"], "rate", "load.rate", "5", "", Rule::AboveZero);
/// `load --concurrency`.
pub const LOAD_CONCURRENCY: Setting = key(&["load"], "concurrency", "load.concurrency", "4", "", Rule::Within(1, i64::MAX));
/// `load --duration`.
pub const LOAD_DURATION: Setting = key(&["load"], "duration", "load.duration", "10s", "10s", Rule::AboveZero);
/// `load --requests`.
pub const LOAD_REQUESTS: Setting = key(&["load"], "requests", "load.requests", "100", "", Rule::Within(1, i64::MAX));
/// `load --stream-fraction`.
pub const LOAD_STREAM_FRACTION: Setting = key(&["load"], "stream_fraction", "load.stream_fraction", "0.5", "0", Rule::Share);
/// `load --backoff-base`.
pub const LOAD_BACKOFF_BASE: Setting = key(&["load"], "backoff_base", "load.backoff_base", "250ms", "500ms", Rule::AboveZero);
/// `load --backoff-cap`.
pub const LOAD_BACKOFF_CAP: Setting = key(&["load"], "backoff_cap", "load.backoff_cap", "10s", "30s", Rule::AboveZero);
/// `load --retry-budget`.
pub const LOAD_RETRY_BUDGET: Setting = key(&["load"], "retry_budget", "load.retry_budget", "0.5", "0.2", Rule::UpTo(10.0));
/// `load --max-error-rate`.
pub const LOAD_MAX_ERROR_RATE: Setting = key(&["load"], "max_error_rate", "load.max_error_rate", "0.1", "0.05", Rule::Share);
/// `fleet --max-requests`.
pub const FLEET_MAX_REQUESTS: Setting = key(&["fleet"], "max_requests", "fleet.max_requests", "100", "100", Rule::Within(1, 100_000));
/// `fleet --window`.
pub const FLEET_WINDOW: Setting = key(&["fleet"], "window", "fleet.window", "60s", "60s", Rule::AboveZero);
/// `fleet --tolerance`.
pub const FLEET_TOLERANCE: Setting = key(&["fleet"], "tolerance", "fleet.tolerance", "2s", "2s", Rule::Any);
/// `fleet --watch`.
pub const FLEET_WATCH: Setting = key(&["fleet"], "watch", "fleet.watch", "30s", "", Rule::AboveZero);
/// `fleet --every`: without it, the pace follows the advertised limit.
pub const FLEET_EVERY: Setting = key(&["fleet"], "every", "fleet.every", "2s", "", Rule::AboveZero);

/// Every argument of every command, each with its scenario key or the reason it has none.
pub const ALL: &[Setting] = &[
    cli(&[""], "color", "how a terminal shows the output, not what is checked"),
    // The connection.
    key(CONNECTED, "api_key_env", "auth.env", "LITELLM_KEY", "", Rule::Any),
    key(CONNECTED, "api_key_file", "auth.file", "key.txt", "", Rule::Any),
    key(CONNECTED, "headers", "defaults.headers", "{X-Team: a}", "", Rule::Any),
    TIMEOUT,
    MAX_TIME,
    key(CONNECTED, "cacert", "defaults.cacert", "ca.pem", "", Rule::Any),
    key(CONNECTED, "insecure", "defaults.insecure", "true", "false", Rule::Any),
    key(CONNECTED, "rate_headers", "defaults.rate_headers", "[remaining-tokens]", "", Rule::Any),
    key(CONNECTED, "secret_headers", "defaults.secret_headers", "[x-tenant-token]", "", Rule::Any),
    key(CONNECTED, "follow_redirects", "defaults.follow_redirects", "true", "false", Rule::Any),
    // What is probed, and how it is judged.
    key(TARGETED, "url", "target", "http://127.0.0.1:4000", "", Rule::Any),
    key(SELECTING, "model", "defaults.model", "gpt-4o-mini", "", Rule::Any),
    key(&["probe", "triage", "limits", "load"], "embedding_model", "defaults.embedding_model", "text-embedding-3-small", "", Rule::Any),
    key(SELECTING, "endpoints", "probe.endpoints", "[chat]", "all five", Rule::Any),
    key(SELECTING, "counters", "defaults.counters", "exact", "auto", Rule::Any),
    key(&["probe", "run", "triage", "limits", "load"], "strict", "strict", "true", "false", Rule::Any),
    PROBE_REPEAT,
    cli(&["probe", "limits", "load", "merge", "fleet", "analyze", "record", "demo"], "format", FORMAT),
    cli(&["probe", "run", "limits", "load", "merge", "fleet", "analyze", "record", "triage"], "output", REPORT_FILE),
    // run, validate.
    cli(&["run", "validate"], "files", SCENARIO_FILES),
    key(&["run", "validate"], "target", "target", "http://127.0.0.1:4000", "", Rule::Any),
    key(&["run"], "model", "defaults.model", "gpt-4o-mini", "", Rule::Any),
    cli(&["run"], "format", "how the run is shown; the scenario says what is checked"),
    cli(&["run"], "report_junit", REPORT_FILE),
    cli(&["run"], "report_json", REPORT_FILE),
    cli(&["run"], "report_markdown", REPORT_FILE),
    cli(&["run"], "save_baseline", "a record of one run against one gateway, chosen per run; the scenario stays the same for every gateway"),
    cli(&["run"], "baseline", "compares one run with an earlier one; the scenario stays the same for every gateway"),
    // triage.
    cli(&["triage"], "from", "reads evidence instead of a gateway; a scenario always sends"),
    TRIAGE_REPEAT,
    cli(&["triage"], "skip_429", "a scenario leaves the `exhaust` step out instead"),
    EXHAUST_MAX,
    EXHAUST_MAX_WAIT,
    // limits.
    key(&["limits"], "model", "limits.model", "gpt-4o-mini", "", Rule::Any),
    key(&["limits"], "endpoints", "limits.endpoints", "[chat]", "all five", Rule::Any),
    key(&["limits"], "checks", "limits.checks", "[retry_advice]", "all", Rule::Any),
    LIMITS_MAX_REQUESTS,
    LIMITS_MAX_WAIT,
    LIMITS_MAX_PARALLEL,
    LIMITS_SETTLE,
    LIMITS_HOLD_TOKENS,
    key(&["limits"], "concurrency_key_env", "limits.concurrency_key_env", "SECOND_KEY", "", Rule::Any),
    key(&["limits"], "concurrency_key_file", "limits.concurrency_key_file", "second.txt", "", Rule::Any),
    // load.
    LOAD_RATE,
    key(&["load"], "poisson", "load.poisson", "true", "false", Rule::Any),
    LOAD_CONCURRENCY,
    LOAD_DURATION,
    LOAD_REQUESTS,
    key(&["load"], "grace", "load.grace", "5s", "5s", Rule::Any),
    key(&["load"], "endpoints", "load.endpoints", "[chat]", "chat", Rule::Any),
    LOAD_STREAM_FRACTION,
    key(&["load"], "model", "defaults.model", "gpt-4o-mini", "", Rule::Any),
    key(&["load"], "max_tokens", "load.max_tokens", "16", "16", Rule::Any),
    key(&["load"], "prompt_chars", "load.prompt_chars", "16", "16", Rule::Any),
    key(&["load"], "backoff", "load.backoff", "equal-jitter", "full-jitter", Rule::Any),
    key(&["load"], "max_retries", "load.max_retries", "3", "3", Rule::Any),
    LOAD_BACKOFF_BASE,
    LOAD_BACKOFF_CAP,
    key(&["load"], "max_wait", "load.max_wait", "120s", "120s", Rule::Any),
    LOAD_RETRY_BUDGET,
    key(&["load"], "pace", "load.pace", "headers", "none", Rule::Any),
    LOAD_MAX_ERROR_RATE,
    key(&["load"], "fail_if", "load.expect.fail_if", "[\"p99_ms>2000\"]", "", Rule::Any),
    key(&["load"], "seed", "load.seed", "7", "1", Rule::Any),
    key(&["load"], "segment", "load.segment", "2/4", "", Rule::Any),
    cli(&["load"], "start_at", "a wall-clock moment shared by the processes of one split test, given to each as it is launched; a scenario's steps run in order"),
    cli(&["load"], "segments", "takes the shard from the pod's `JOB_COMPLETION_INDEX`; a scenario names its shard with `segment`"),
    cli(&["load", "merge"], "report_html", "where a report goes is the caller's choice; a scenario's reports are `run`'s"),
    cli(&["load", "merge"], "raw", "a shard's raw result is for `merge`, from the processes of one split test; a scenario's reports are `run`'s"),
    cli(&["load"], "test_id", "names one split test across its processes, each launched with it; a scenario's steps run in one process"),
    cli(&["merge"], "files", "raw results of a test that already ran; nothing is sent"),
    // fleet.
    key(&["fleet"], "urls", "fleet.instances", "[\"http://a:4000\", \"http://b:4000\"]", "", Rule::Any),
    key(&["fleet"], "model", "fleet.model", "gpt-4o-mini", "", Rule::Any),
    FLEET_MAX_REQUESTS,
    FLEET_WINDOW,
    FLEET_TOLERANCE,
    key(&["fleet"], "via", "fleet.via", "http://lb:4000", "", Rule::Any),
    FLEET_WATCH,
    FLEET_EVERY,
    // analyze, record: traffic that is not ratecheck's own.
    cli(&["analyze"], "files", OFFLINE),
    cli(&["analyze", "record"], "counters", OFFLINE),
    cli(&["analyze", "record"], "strict", OFFLINE),
    cli(&["analyze"], "rate_headers", OFFLINE),
    cli(&["record"], "upstream", RECORDER),
    cli(&["record"], "listen", RECORDER),
    cli(&["record"], "allow_remote", RECORDER),
    cli(&["record"], "cacert", RECORDER),
    cli(&["record"], "insecure", RECORDER),
    cli(&["record"], "duration", RECORDER),
    cli(&["record"], "save", RECORDER),
    // exporter: checks on demand, for Prometheus.
    cli(&["exporter"], "listen", EXPORTER),
    cli(&["exporter"], "allow_remote", EXPORTER),
    cli(&["exporter"], "config", EXPORTER),
    cli(&["exporter"], "targets", EXPORTER),
    // The simulator, the demo, the shell.
    cli(&["mock"], "profile", SIMULATOR),
    cli(&["mock"], "port", SIMULATOR),
    cli(&["mock"], "rpm", SIMULATOR),
    cli(&["mock"], "tpm", SIMULATOR),
    cli(&["mock"], "window", SIMULATOR),
    cli(&["mock"], "chunk_delay", SIMULATOR),
    cli(&["mock"], "model", SIMULATOR),
    cli(&["mock"], "require_key_env", SIMULATOR),
    cli(&["mock"], "max_parallel", SIMULATOR),
    cli(&["mock"], "slow", SIMULATOR),
    cli(&["mock"], "defects", SIMULATOR),
    cli(&["mock"], "fault", SIMULATOR),
    cli(&["mock"], "instances", SIMULATOR),
    cli(&["mock"], "split_after", SIMULATOR),
    cli(&["mock"], "rejoin_after", SIMULATOR),
    cli(&["demo"], "limits", SHOW),
    cli(&["completions"], "shell", "prints a script for a shell; nothing is checked"),
];
