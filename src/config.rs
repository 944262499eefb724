//! From what the user typed to the plain specs engines take: defaults, environment, files,
//! validation.
//!
//! Every user mistake is caught here and becomes a [`CliError`] with exit code 2 and a message
//! that says what to do, before anything is sent. Scenario settings reach the same specs
//! through the same helpers (`cmd::run`), so a flag and a scenario key mean one thing.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::{ConnectArgs, LoadArgs, MockArgs, SelectArgs};
use crate::endpoint::Endpoint;
use crate::http::{Client, ConnectSpec, normalize_base};
use crate::load::threshold;
use crate::load::{LoadSpec, SpecError};
use crate::mock::MockConfig;
use crate::probe::ProbeOptions;
use crate::settings::{self, Setting};
use crate::verdict::Exit;

/// Environment variables searched for the API key, in order, when none is named.
pub const KEY_VARS: [&str; 3] = ["RATECHECK_API_KEY", "LITELLM_API_KEY", "OPENAI_API_KEY"];

pub use crate::http::{DEFAULT_MAX_TIME, DEFAULT_TIMEOUT};

/// An error that ends the run before or instead of a report.
#[derive(Debug, Clone, PartialEq)]
pub struct CliError {
    /// Exit code to use.
    pub exit: Exit,
    /// What went wrong, one line.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
    /// Errors found before this one, each printed as its own error first (one per bad
    /// scenario file, with its source excerpt).
    pub preceding: Vec<String>,
}

impl CliError {
    /// A usage or input error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        CliError {
            exit: Exit::Usage,
            message: message.into(),
            hint: None,
            preceding: Vec::new(),
        }
    }

    /// A failure of this machine's files or streams (exit 6): a report that cannot be written,
    /// a file that exists and cannot be read.
    pub fn io(message: impl Into<String>) -> Self {
        CliError {
            exit: Exit::Io,
            ..CliError::usage(message)
        }
    }

    /// A failure to run at all (exit 6): a port that cannot be bound, a runtime or TLS setup
    /// that does not start.
    pub fn runtime(message: impl Into<String>) -> Self {
        CliError {
            exit: Exit::Runtime,
            ..CliError::usage(message)
        }
    }

    /// A file the user named that could not be read: a usage error when it is not there
    /// (a typo), an I/O failure when it is there and cannot be read.
    pub fn unreadable(message: impl Into<String>, e: &std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::NotFound {
            CliError::usage(message)
        } else {
            CliError::io(message)
        }
    }

    /// Adds a hint.
    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The same error, said of `file`.
    #[must_use]
    pub fn in_file(mut self, file: &str) -> Self {
        self.message = format!("{file}: {}", self.message);
        self
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

/// A duration flag: `30s`, `500ms`, `1m30s` or a bare number of seconds.
pub fn flag_duration(flag: &str, text: &str) -> Result<Duration, CliError> {
    crate::duration::parse(text).map_err(|_| {
        CliError::usage(format!(
            "`{flag}` takes a duration such as `30s` or `500ms`, not `{text}`"
        ))
    })
}

/// Where the API key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// The first line of a file.
    File(PathBuf),
    /// A named environment variable, which must be set.
    Env(String),
    /// The first of [`KEY_VARS`] that is set, or none.
    Default,
    /// No key at all.
    None,
}

impl KeySource {
    /// `--api-key-file` over `--api-key-env` over the default chain.
    pub fn from_flags(env: Option<&String>, file: Option<&PathBuf>) -> Self {
        match (file, env) {
            (Some(f), _) => KeySource::File(f.clone()),
            (None, Some(v)) => KeySource::Env(v.clone()),
            (None, None) => KeySource::Default,
        }
    }

    /// Whether the user said where the key comes from.
    pub fn is_given(&self) -> bool {
        !matches!(self, KeySource::Default)
    }
}

/// Finds the API key, and says where it came from (a variable's name, a file's path; never
/// the key).
pub fn api_key(source: &KeySource) -> Result<Option<(String, String)>, CliError> {
    match source {
        KeySource::None => Ok(None),
        KeySource::File(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                CliError::unreadable(
                    format!("cannot read the API key file `{}`: {e}", path.display()),
                    &e,
                )
            })?;
            let key = text.lines().next().unwrap_or_default().trim().to_string();
            if key.is_empty() {
                return Err(CliError::usage(format!(
                    "the API key file `{}` is empty",
                    path.display()
                )));
            }
            Ok(Some((key, format!("file {}", path.display()))))
        }
        KeySource::Env(var) => match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Ok(Some((v.trim().to_string(), var.clone()))),
            _ => Err(CliError::usage(format!(
                "`--api-key-env {var}` names a variable that is not set"
            ))
            .hint(format!("export {var}=... before running ratecheck"))),
        },
        KeySource::Default => Ok(KEY_VARS.iter().find_map(|var| {
            let v = std::env::var(var).ok()?;
            let v = v.trim();
            (!v.is_empty()).then(|| (v.to_string(), (*var).to_string()))
        })),
    }
}

/// `-H 'Name: value'` headers, checked.
pub fn headers(list: &[String]) -> Result<Vec<(String, String)>, CliError> {
    let mut out = Vec::new();
    for h in list {
        let Some((name, value)) = h.split_once(':') else {
            return Err(CliError::usage(format!(
                "`-H {h}` is not a header: write `-H 'Name: value'`"
            )));
        };
        let name = name.trim();
        if name.is_empty()
            || reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err()
            || reqwest::header::HeaderValue::from_str(value.trim()).is_err()
        {
            return Err(CliError::usage(format!(
                "`-H` got an invalid header name or value in `{}`",
                h.split(':').next().unwrap_or_default()
            )));
        }
        out.push((name.to_string(), value.trim().to_string()));
    }
    Ok(out)
}

/// A scenario's connection keys (`defaults.*`), which the connection flags replace or add to;
/// empty for the commands that take no scenario.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConnectDefaults {
    /// `defaults.timeout`.
    pub timeout: Option<Duration>,
    /// `defaults.max_time`.
    pub max_time: Option<Duration>,
    /// `defaults.insecure`.
    pub insecure: bool,
    /// `defaults.follow_redirects`.
    pub follow_redirects: bool,
    /// `defaults.cacert`, expanded.
    pub cacert: Option<PathBuf>,
    /// `defaults.headers`, expanded, as `Name: value`.
    pub headers: Vec<String>,
    /// `defaults.rate_headers`.
    pub rate_headers: Vec<String>,
    /// `defaults.secret_headers`.
    pub secret_headers: Vec<String>,
}

/// The connection the flags give over `defaults`: a flag replaces the scenario's value; `-H`,
/// `--rate-header` and `--secret-header` add to the scenario's lists; each value is checked by
/// its setting's rule.
pub fn connect(
    flags: &ConnectArgs,
    key: &KeySource,
    defaults: &ConnectDefaults,
) -> Result<ConnectSpec, CliError> {
    let duration = |s: &Setting, flag: &Option<String>, scenario: Option<Duration>| match flag {
        Some(t) => s.duration(t),
        None => Ok(scenario.unwrap_or_else(|| s.default_duration())),
    };
    let timeout = duration(&settings::TIMEOUT, &flags.timeout, defaults.timeout)?;
    let max_time = duration(&settings::MAX_TIME, &flags.max_time, defaults.max_time)?;
    let joined = |scenario: &[String], flag: &[String]| [scenario, flag].concat();
    let spec = connect_spec(
        timeout,
        flags.insecure || defaults.insecure,
        &joined(&defaults.headers, &flags.headers),
        key,
        &joined(&defaults.rate_headers, &flags.rate_headers),
        &joined(&defaults.secret_headers, &flags.secret_headers),
    )?;
    Ok(ConnectSpec {
        follow_redirects: flags.follow_redirects || defaults.follow_redirects,
        max_time,
        cacert: cacert(flags.cacert.as_deref().or(defaults.cacert.as_deref()))?,
        ..spec
    })
}

/// The connection spec: timeout, TLS, extra headers and key, each checked.
fn connect_spec(
    timeout: Duration,
    insecure: bool,
    header_flags: &[String],
    key: &KeySource,
    rate_headers: &[String],
    secret_headers: &[String],
) -> Result<ConnectSpec, CliError> {
    let extra_headers = headers(header_flags)?;
    let (api_key, mut key_source) = match api_key(key)? {
        Some((k, from)) => (Some(k), Some(from)),
        None => (None, None),
    };
    if key_source.is_none()
        && extra_headers.iter().any(|(n, _)| {
            n.eq_ignore_ascii_case("authorization") || n.eq_ignore_ascii_case("x-api-key")
        })
    {
        key_source = Some("-H".into());
    }
    Ok(ConnectSpec {
        timeout,
        insecure,
        extra_headers,
        api_key,
        key_source,
        rate_headers: rate_headers.to_vec(),
        secret_headers: secret_headers.to_vec(),
        follow_redirects: false,
        max_time: DEFAULT_MAX_TIME,
        cacert: None,
    })
}

/// A client for `url` with the connection flags: the URL checked, the key found, the client
/// built. Every command that talks to one gateway from flags starts here.
pub fn client(url: &str, connect: &ConnectArgs) -> Result<Client, CliError> {
    client_with_key(
        url,
        connect,
        &KeySource::from_flags(connect.api_key_env.as_ref(), connect.api_key_file.as_ref()),
    )
}

/// The same, with the key from `key` instead of the connection flags (a second key).
pub fn client_with_key(
    url: &str,
    connect: &ConnectArgs,
    key: &KeySource,
) -> Result<Client, CliError> {
    build_client(
        url,
        self::connect(connect, key, &ConnectDefaults::default())?,
    )
}

/// The PEM bundle `--cacert` names, read and checked before anything is sent.
pub fn cacert(path: Option<&std::path::Path>) -> Result<Option<Vec<u8>>, CliError> {
    let Some(path) = path else {
        return Ok(None);
    };
    let pem = std::fs::read(path).map_err(|e| {
        CliError::unreadable(
            format!("cannot read `--cacert {}`: {e}", path.display()),
            &e,
        )
    })?;
    if reqwest::Certificate::from_pem_bundle(&pem).map_or(true, |c| c.is_empty()) {
        return Err(CliError::usage(format!(
            "`--cacert {}` holds no PEM certificate",
            path.display()
        ))
        .hint("give the CA certificate in PEM (-----BEGIN CERTIFICATE-----)"));
    }
    Ok(Some(pem))
}

/// Builds the HTTP client for `url`; failing after the URL checks out means the TLS setup
/// itself failed.
pub fn build_client(url: &str, spec: ConnectSpec) -> Result<Client, CliError> {
    let base = normalize_base(url).map_err(CliError::usage)?;
    Client::new(base, spec)
        .map_err(|e| CliError::runtime(format!("could not set up the HTTP client: {e:#}")))
}

/// Endpoints named on the command line, in order, without repeats.
pub fn endpoint_list(flag: &str, list: &[String]) -> Result<Vec<Endpoint>, CliError> {
    let mut out = Vec::new();
    for item in list.iter().filter(|s| !s.trim().is_empty()) {
        let e: Endpoint = item.parse().map_err(CliError::usage)?;
        if !out.contains(&e) {
            out.push(e);
        }
    }
    if out.is_empty() {
        return Err(CliError::usage(format!("`{flag}` is empty")));
    }
    Ok(out)
}

/// The probe's endpoint list, models and rounds (shared by `probe` and `triage`).
pub fn probe_options(select: &SelectArgs, repeat: u32) -> Result<ProbeOptions, CliError> {
    let endpoints = match &select.endpoints {
        None => Endpoint::ALL.to_vec(),
        Some(list) => endpoint_list("--endpoints", list)?,
    };
    Ok(ProbeOptions {
        endpoints,
        model: select.model.clone(),
        embedding_model: select.embedding_model.clone(),
        repeat,
        counters: select.counters,
        strict: select.strict,
        stop: crate::stop::Stop::default(),
    })
}

/// The load spec the flags ask for; [`LoadSpec::resolve`] adds the defaults and checks each
/// value by its setting's rule, as it does a scenario's `load` step.
pub fn load_spec(args: &LoadArgs) -> Result<LoadSpec, CliError> {
    let duration =
        |flag: &str, v: &Option<String>| v.as_deref().map(|t| flag_duration(flag, t)).transpose();
    let fail_if = args
        .fail_if
        .iter()
        .map(|e| threshold::parse(e).map_err(|err| CliError::usage(format!("`--fail-if`: {err}"))))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(LoadSpec {
        rate: args.rate,
        poisson: args.poisson,
        concurrency: args.concurrency,
        duration: duration("--duration", &args.duration)?,
        grace: duration("--grace", &args.grace)?,
        requests: args.requests,
        endpoints: match &args.endpoints {
            Some(list) => Some(endpoint_list("--endpoints", list)?),
            None => None,
        },
        stream_fraction: args.stream_fraction,
        max_tokens: args.max_tokens,
        prompt_chars: args.prompt_chars,
        backoff: args.backoff,
        max_retries: args.max_retries,
        backoff_base: duration("--backoff-base", &args.backoff_base)?,
        backoff_cap: duration("--backoff-cap", &args.backoff_cap)?,
        max_wait: duration("--max-wait", &args.max_wait)?,
        retry_budget: args.retry_budget,
        pace: args.pace,
        fail_if,
        seed: args.seed,
        strict: args.strict,
        max_error_rate: args.max_error_rate,
        segment: match (args.segment, args.segments) {
            (Some(s), _) => Some(s),
            (None, Some(n)) => Some(
                crate::load::Segment::of_job(
                    n,
                    std::env::var(crate::load::segment::JOB_INDEX_VAR)
                        .ok()
                        .as_deref(),
                )
                .map_err(CliError::usage)?,
            ),
            (None, None) => None,
        },
    })
}

/// A [`SpecError`] in the words of the flags.
pub fn spec_error(e: &SpecError) -> CliError {
    match e {
        SpecError::NoArrival => CliError::usage(
            "say how to send: `--rate N` (open loop) or `--concurrency N` (closed loop)",
        )
        .hint("e.g. `ratecheck load URL --rate 20 --duration 30s`"),
        SpecError::Field { field, problem } => {
            CliError::usage(format!("`--{}` {problem}", field.replace('_', "-")))
        }
    }
}

/// Resolves simulator settings.
pub fn mock_config(args: &MockArgs) -> Result<MockConfig, CliError> {
    let window = flag_duration("--window", &args.window)?;
    if window < Duration::from_millis(1) {
        return Err(CliError::usage("`--window` must be at least 1ms"));
    }
    let require_key = match &args.require_key_env {
        None => None,
        Some(var) => Some(std::env::var(var).map_err(|_| {
            CliError::usage(format!(
                "`--require-key-env {var}` names a variable that is not set"
            ))
        })?),
    };
    Ok(MockConfig {
        profile: args.profile,
        rpm: args.rpm,
        tpm: args.tpm,
        window,
        chunk_delay: flag_duration("--chunk-delay", &args.chunk_delay)?,
        model: args.model.clone(),
        require_key,
        endpoints: Endpoint::ALL.to_vec(),
        max_parallel: args.max_parallel,
        slow: flag_duration("--slow", &args.slow)?,
        defects: args.defects.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_flags_name_themselves() {
        assert_eq!(flag_duration("t", "30s").unwrap(), Duration::from_secs(30));
        let e = flag_duration("--timeout", "soon").unwrap_err();
        assert_eq!(e.exit, Exit::Usage);
        assert!(e.message.contains("--timeout"));
    }

    #[test]
    fn spec_errors_speak_in_flags() {
        let e = spec_error(&SpecError::Field {
            field: "stream_fraction",
            problem: "is a share from 0 to 1".into(),
        });
        assert_eq!(e.message, "`--stream-fraction` is a share from 0 to 1");
    }
}
