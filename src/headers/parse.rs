//! Each kind of rate-limit value read into [`Parsed`], in its dialect: counts, Go durations,
//! numeric and RFC 3339 resets, IETF fields, `retry-after`; and the interned scope and unit
//! names. The dialect readers pick one per header.

use std::borrow::Cow;

use super::values::{
    NumericReset, RetryAfter, parse_count, parse_go_duration, parse_ietf_list, parse_numeric_reset,
    parse_retry_after, parse_rfc3339,
};
use super::{IetfPolicy, Parsed};

pub(super) fn malformed(reason: String) -> Parsed {
    Parsed::Malformed { reason }
}

pub(super) fn count(value: &str) -> Parsed {
    parse_count(value).map_or_else(malformed, |v| Parsed::Count { value: v })
}

/// A Go duration (OpenAI), or whole or fractional seconds (Azure sends `7` and `500` on the
/// same names).
pub(super) fn go_or_seconds(value: &str) -> Parsed {
    let v = value.trim();
    if let Ok(seconds) = v.parse::<f64>()
        && seconds.is_finite()
        && seconds >= 0.0
    {
        return Parsed::Seconds { value: seconds };
    }
    parse_go_duration(value).map_or_else(malformed, |v| Parsed::Seconds { value: v })
}

/// A count, or the first number of a draft-03 list (`10, 10;w=60`).
pub(super) fn list_first_count(value: &str) -> Parsed {
    let first = value.split(',').next().unwrap_or_default();
    count(first.split(';').next().unwrap_or_default())
}

pub(super) fn numeric_reset(value: &str) -> Parsed {
    match parse_numeric_reset(value) {
        Ok(NumericReset::DeltaSeconds(v)) => Parsed::Seconds { value: v },
        Ok(NumericReset::EpochSeconds(v)) => Parsed::At { unix: v },
        Ok(NumericReset::EpochMillis(v)) => Parsed::At { unix: v / 1000.0 },
        Err(e) => malformed(e),
    }
}

pub(super) fn rfc3339(value: &str) -> Parsed {
    parse_rfc3339(value).map_or_else(malformed, |t| Parsed::At {
        unix: t.as_millisecond() as f64 / 1000.0,
    })
}

pub(super) fn ietf(value: &str, required: &str) -> Parsed {
    match parse_ietf_list(value, required) {
        Ok(items) => Parsed::Policies {
            items: items
                .into_iter()
                .map(|i| IetfPolicy {
                    amount: i.ints.get(required).copied().unwrap_or_default(),
                    t: i.ints.get("t").copied(),
                    w: i.ints.get("w").copied(),
                    name: i.name,
                })
                .collect(),
        },
        Err(e) => malformed(e),
    }
}

pub(super) fn retry_after(value: &str) -> Parsed {
    match parse_retry_after(value) {
        Ok(RetryAfter::Seconds { seconds, .. }) => Parsed::Seconds { value: seconds },
        Ok(RetryAfter::Date(at)) => Parsed::At {
            unix: at
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        },
        Err(e) => malformed(e),
    }
}

/// Scopes and units repeat on every response: the common ones are not allocated.
pub(super) fn known(text: &str) -> Cow<'static, str> {
    const KNOWN: [&str; 37] = [
        "requests",
        "tokens",
        "input-tokens",
        "output-tokens",
        "max_parallel_requests",
        "project-requests",
        "project-tokens",
        "input-images",
        "api_key",
        "user",
        "team",
        "model",
        "openai",
        "openai_usage_based",
        "anthropic",
        "anthropic_unified",
        "ietf",
        "provider",
        "retry",
        "default",
        "litellm",
        "litellm_key",
        "other",
        "unknown",
        "declared",
        "flag",
        "window",
        "kong_ai",
        "x-ratelimit",
        "helicone",
        "second",
        "10-second",
        "minute",
        "hour",
        "day",
        "month",
        "year",
    ];
    match KNOWN.iter().find(|k| **k == text) {
        Some(k) => Cow::Borrowed(k),
        None => Cow::Owned(text.to_string()),
    }
}
