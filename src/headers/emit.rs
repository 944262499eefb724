//! Writing rate-limit headers in each dialect, for the simulator.
//!
//! These are the inverse of `headers::classify`: every name written here is built from the same
//! helpers the checker uses to read it, and a unit test reads each dialect back.

use std::time::{Duration, SystemTime};

use super::values::format_go_duration;
use super::{LITELLM_KEY_RPM_LIMIT, LITELLM_KEY_TPM_LIMIT, Role, descriptor_name};

/// The budget a response reports: the state of one key's window at admission.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    /// Requests allowed per window.
    pub limit_requests: u64,
    /// Requests left in the current window.
    pub remaining_requests: u64,
    /// Tokens allowed per window.
    pub limit_tokens: u64,
    /// Tokens left in the current window.
    pub remaining_tokens: u64,
    /// Time until the window resets (for a replenishing limiter: until it is full again).
    pub reset_in: Duration,
    /// Time until the next request would be admitted: what a refusal advises to wait.
    pub retry_in: Duration,
    /// The window length.
    pub window: Duration,
    /// The time of the response, for absolute resets.
    pub now: SystemTime,
}

/// A header to send: lowercase name and value.
pub type Header = (String, String);

/// LiteLLM v3's four descriptor counters for one descriptor (e.g. `api_key`).
pub fn litellm_descriptor(descriptor: &str, b: &Budget) -> Vec<Header> {
    vec![
        (
            descriptor_name(descriptor, Role::Remaining, "requests"),
            b.remaining_requests.to_string(),
        ),
        (
            descriptor_name(descriptor, Role::Limit, "requests"),
            b.limit_requests.to_string(),
        ),
        (
            descriptor_name(descriptor, Role::Remaining, "tokens"),
            b.remaining_tokens.to_string(),
        ),
        (
            descriptor_name(descriptor, Role::Limit, "tokens"),
            b.limit_tokens.to_string(),
        ),
    ]
}

/// LiteLLM's per-key limit headers, which it sends on every shape when the key has limits.
pub fn litellm_key_limits(b: &Budget) -> Vec<Header> {
    vec![
        (LITELLM_KEY_RPM_LIMIT.into(), b.limit_requests.to_string()),
        (LITELLM_KEY_TPM_LIMIT.into(), b.limit_tokens.to_string()),
    ]
}

/// OpenAI's bare headers, with Go-duration resets.
pub fn openai(b: &Budget) -> Vec<Header> {
    let reset = format_go_duration(round_ms(b.reset_in));
    vec![
        (
            "x-ratelimit-limit-requests".into(),
            b.limit_requests.to_string(),
        ),
        (
            "x-ratelimit-remaining-requests".into(),
            b.remaining_requests.to_string(),
        ),
        ("x-ratelimit-reset-requests".into(), reset.clone()),
        (
            "x-ratelimit-limit-tokens".into(),
            b.limit_tokens.to_string(),
        ),
        (
            "x-ratelimit-remaining-tokens".into(),
            b.remaining_tokens.to_string(),
        ),
        ("x-ratelimit-reset-tokens".into(), reset),
    ]
}

/// Anthropic's headers: RFC 3339 resets, token remaining rounded down to a thousand as Anthropic
/// documents.
pub fn anthropic(b: &Budget) -> Vec<Header> {
    let reset_at = b.now + b.reset_in;
    let reset = jiff::Timestamp::try_from(reset_at)
        .map(|t| t.round(jiff::Unit::Second).unwrap_or(t).to_string())
        .unwrap_or_default();
    let tokens_remaining = b.remaining_tokens / 1000 * 1000;
    vec![
        (
            "anthropic-ratelimit-requests-limit".into(),
            b.limit_requests.to_string(),
        ),
        (
            "anthropic-ratelimit-requests-remaining".into(),
            b.remaining_requests.to_string(),
        ),
        ("anthropic-ratelimit-requests-reset".into(), reset.clone()),
        (
            "anthropic-ratelimit-tokens-limit".into(),
            b.limit_tokens.to_string(),
        ),
        (
            "anthropic-ratelimit-tokens-remaining".into(),
            tokens_remaining.to_string(),
        ),
        ("anthropic-ratelimit-tokens-reset".into(), reset),
    ]
}

/// IETF draft `RateLimit-Policy` and `RateLimit` for a request quota named `default`.
pub fn ietf(b: &Budget) -> Vec<Header> {
    vec![
        (
            "ratelimit-policy".into(),
            format!(
                "\"default\";q={};w={}",
                b.limit_requests,
                b.window.as_secs().max(1)
            ),
        ),
        (
            "ratelimit".into(),
            format!(
                "\"default\";r={};t={}",
                b.remaining_requests,
                b.reset_in.as_secs_f64().ceil() as u64
            ),
        ),
    ]
}

/// `retry-after` in whole seconds (rounded up, so a client never retries early).
pub fn retry_after(wait: Duration) -> Header {
    (
        "retry-after".into(),
        (wait.as_secs_f64().ceil() as u64).to_string(),
    )
}

/// `retry-after-ms`, OpenAI's and Azure's precise hint.
pub fn retry_after_ms(wait: Duration) -> Header {
    ("retry-after-ms".into(), wait.as_millis().to_string())
}

fn round_ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::super::{Family, Parsed, classify};
    use super::*;

    fn budget() -> Budget {
        Budget {
            limit_requests: 100,
            remaining_requests: 99,
            limit_tokens: 100_000,
            remaining_tokens: 98_975,
            reset_in: Duration::from_millis(42_500),
            retry_in: Duration::from_millis(42_500),
            window: Duration::from_mins(1),
            now: SystemTime::now(),
        }
    }

    /// Every dialect the simulator writes reads back cleanly in the checker's model.
    #[test]
    fn every_dialect_reads_back() {
        let b = budget();
        let cases = [
            (litellm_descriptor("api_key", &b), Family::LitellmDescriptor),
            (litellm_key_limits(&b), Family::LitellmKeyLimit),
            (openai(&b), Family::Openai),
            (anthropic(&b), Family::Anthropic),
            (ietf(&b), Family::Ietf),
            (
                vec![retry_after(b.reset_in), retry_after_ms(b.reset_in)],
                Family::RetryAfter,
            ),
        ];
        for (headers, family) in cases {
            for (name, value) in headers {
                let h = classify(&name, &value).expect(&name);
                assert_eq!(h.family, family, "{name}");
                assert!(
                    !matches!(h.parsed, Parsed::Malformed { .. }),
                    "{name}: {value} -> {:?}",
                    h.parsed
                );
            }
        }
        assert_eq!(retry_after(b.reset_in).1, "43");
        assert_eq!(openai(&b)[2].1, "42.5s");
    }
}
