//! From parsed arguments to resolved settings: defaults, environment, files, validation.
//!
//! Every user mistake is caught here and becomes a [`CliError`] with exit code 2 and a message
//! that says what to do, before anything is sent.

use std::fmt;
use std::time::Duration;

use crate::cli::{ConnectArgs, MockArgs, ProbeArgs, SelectArgs};
use crate::endpoint::Endpoint;
use crate::exit::Exit;
use crate::headers::values::parse_go_duration;
use crate::http::{Client, ClientSettings, normalize_base};
use crate::mock::MockConfig;
use crate::probe::ProbeOptions;

/// Environment variables searched for the API key, in order, when `--api-key-env` is not given.
pub const KEY_VARS: [&str; 3] = ["RATECHECK_API_KEY", "LITELLM_API_KEY", "OPENAI_API_KEY"];

/// An error that ends the run before or instead of a report.
#[derive(Debug, Clone, PartialEq)]
pub struct CliError {
    /// Exit code to use.
    pub exit: Exit,
    /// What went wrong, one line.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl CliError {
    /// A usage or input error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        CliError {
            exit: Exit::Usage,
            message: message.into(),
            hint: None,
        }
    }

    /// Adds a hint.
    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

/// Parses `30s`, `500ms`, `1m30s` or a bare number of seconds.
pub fn parse_duration(flag: &str, text: &str) -> Result<Duration, CliError> {
    let seconds = text
        .trim()
        .parse::<f64>()
        .ok()
        .or_else(|| parse_go_duration(text).ok())
        .filter(|s| s.is_finite() && *s >= 0.0 && *s < 1e9)
        .ok_or_else(|| {
            CliError::usage(format!(
                "`{flag}` takes a duration such as `30s` or `500ms`, not `{text}`"
            ))
        })?;
    Ok(Duration::from_secs_f64(seconds))
}

/// Finds the API key: `--api-key-file`, `--api-key-env`, or the first of [`KEY_VARS`] that is set.
pub fn api_key(args: &ConnectArgs) -> Result<Option<String>, CliError> {
    if let Some(path) = &args.api_key_file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            CliError::usage(format!(
                "cannot read the API key file `{}`: {e}",
                path.display()
            ))
        })?;
        let key = text.lines().next().unwrap_or_default().trim().to_string();
        if key.is_empty() {
            return Err(CliError::usage(format!(
                "the API key file `{}` is empty",
                path.display()
            )));
        }
        return Ok(Some(key));
    }
    if let Some(var) = &args.api_key_env {
        return match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Ok(Some(v.trim().to_string())),
            _ => Err(CliError::usage(format!(
                "`--api-key-env {var}` names a variable that is not set"
            ))
            .hint(format!("export {var}=... before running ratecheck"))),
        };
    }
    Ok(KEY_VARS
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .map(|v| v.trim().to_string())
        .find(|v| !v.is_empty()))
}

/// A client for `url` with the connection flags: the URL checked, the key found, the client
/// built. Every command that talks to one gateway starts here.
pub fn client(url: &str, connect: &ConnectArgs) -> Result<Client, CliError> {
    let base = normalize_base(url).map_err(CliError::usage)?;
    build_client(base, client_settings(connect)?)
}

/// Builds the HTTP client; failing here means the TLS setup itself failed.
pub fn build_client(base: reqwest::Url, settings: ClientSettings) -> Result<Client, CliError> {
    Client::new(base, settings)
        .map_err(|e| CliError::usage(format!("could not set up the HTTP client: {e:#}")))
}

/// Resolves connection settings.
pub fn client_settings(args: &ConnectArgs) -> Result<ClientSettings, CliError> {
    let timeout = parse_duration("--timeout", &args.timeout)?;
    if timeout.is_zero() {
        return Err(CliError::usage("`--timeout` must be more than zero"));
    }
    let mut extra_headers = Vec::new();
    for h in &args.headers {
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
        extra_headers.push((name.to_string(), value.trim().to_string()));
    }
    Ok(ClientSettings {
        timeout,
        insecure: args.insecure,
        extra_headers,
        api_key: api_key(args)?,
    })
}

/// Resolves probe options.
pub fn probe_options(args: &ProbeArgs) -> Result<ProbeOptions, CliError> {
    probe_selection(&args.select, args.repeat)
}

/// Resolves the probe's endpoint list, models and rounds (shared by `probe` and `triage`).
pub fn probe_selection(select: &SelectArgs, repeat: u32) -> Result<ProbeOptions, CliError> {
    let endpoints = match &select.endpoints {
        None => Endpoint::ALL.to_vec(),
        Some(list) => {
            let mut out = Vec::new();
            for item in list.iter().filter(|s| !s.trim().is_empty()) {
                let e: Endpoint = item.parse().map_err(CliError::usage)?;
                if !out.contains(&e) {
                    out.push(e);
                }
            }
            if out.is_empty() {
                return Err(CliError::usage("`--endpoints` is empty"));
            }
            out
        }
    };
    Ok(ProbeOptions {
        endpoints,
        model: select.model.clone(),
        embedding_model: select.embedding_model.clone(),
        repeat,
    })
}

/// Resolves simulator settings.
pub fn mock_config(args: &MockArgs) -> Result<MockConfig, CliError> {
    let window = parse_duration("--window", &args.window)?;
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
        chunk_delay: parse_duration("--chunk-delay", &args.chunk_delay)?,
        model: args.model.clone(),
        require_key,
        endpoints: Endpoint::ALL.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("t", "30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("t", "2").unwrap(), Duration::from_secs(2));
        assert_eq!(
            parse_duration("t", "250ms").unwrap(),
            Duration::from_millis(250)
        );
        let e = parse_duration("--timeout", "soon").unwrap_err();
        assert_eq!(e.exit, Exit::Usage);
        assert!(e.message.contains("--timeout"));
    }
}
