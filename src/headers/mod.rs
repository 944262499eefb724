//! The rate-limit header model: which dialect a header belongs to, what it means, and its value.
//!
//! Rule zero (see the README): each family is parsed in its own dialect. The same model is used
//! in both directions: `classify` reads a response header for the probe, and `emit` writes the
//! headers the simulator sends, so the checker and the simulator cannot drift apart.

pub mod emit;
pub mod values;

use std::borrow::Cow;

use serde::Serialize;

use values::{
    NumericReset, RetryAfter, parse_count, parse_go_duration, parse_ietf_list, parse_numeric_reset,
    parse_retry_after, parse_retry_after_ms, parse_rfc3339,
};

/// LiteLLM's per-key limit, present on every response shape when the key has limits.
pub const LITELLM_KEY_RPM_LIMIT: &str = "x-litellm-key-rpm-limit";
/// LiteLLM's per-key token limit, the twin of [`LITELLM_KEY_RPM_LIMIT`].
pub const LITELLM_KEY_TPM_LIMIT: &str = "x-litellm-key-tpm-limit";
/// LiteLLM's version header, used to fingerprint the gateway.
pub const LITELLM_VERSION: &str = "x-litellm-version";
/// Upstream issue for the v3 limiter's streaming header drop.
pub const LITELLM_ISSUE_URL: &str = "https://github.com/BerriAI/litellm/issues/27748";

/// The dialect a header belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// LiteLLM v3 limiter: `x-ratelimit-{descriptor}-{remaining|limit}-{unit}`.
    LitellmDescriptor,
    /// LiteLLM's per-key limits: `x-litellm-key-{rpm,tpm}-limit`, the "limits are configured" signal.
    LitellmKeyLimit,
    /// OpenAI's bare `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` (Go-duration resets).
    Openai,
    /// Any other `x-ratelimit-*` name (Cerebras, Mistral, GitHub, …): reported, not rejected.
    XRatelimitOther,
    /// Anthropic's `anthropic-ratelimit-*` (RFC 3339 resets).
    Anthropic,
    /// IETF draft `RateLimit` and `RateLimit-Policy` structured fields.
    Ietf,
    /// IETF legacy draft `RateLimit-Limit`, `-Remaining`, `-Reset`.
    IetfLegacy,
    /// `retry-after`, `retry-after-ms`, `x-ms-retry-after-ms`.
    RetryAfter,
    /// LiteLLM's 429 extras: `rate_limit_type`, `reset_at`.
    LitellmThrottle,
    /// Informational `x-litellm-*` (version, call id, cost, …): shown, never compared.
    LitellmInfo,
    /// `llm_provider-*`: the upstream provider's headers passed through. Never the gateway's own.
    Provider,
}

impl Family {
    /// Whether presence of this family is compared across response shapes. `Retry-After` and
    /// LiteLLM's 429 extras belong to throttled responses only; `llm_provider-*` is upstream's.
    pub fn compared_across_shapes(self) -> bool {
        !matches!(
            self,
            Family::RetryAfter | Family::LitellmThrottle | Family::LitellmInfo | Family::Provider
        )
    }
}

/// What a header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The quota (`limit`, IETF legacy `RateLimit-Limit`).
    Limit,
    /// What is left.
    Remaining,
    /// When the quota replenishes.
    Reset,
    /// IETF `RateLimit-Policy`.
    Policy,
    /// IETF `RateLimit` (remaining and reset per policy).
    Status,
    /// How long to wait before retrying.
    RetryAfter,
    /// Anything informational.
    Info,
}

/// A header value, parsed in its dialect.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Parsed {
    /// A count (`-1` is Azure's "unknown").
    Count { value: i64 },
    /// A delay in seconds from the response.
    Seconds { value: f64 },
    /// A point in time, as Unix seconds.
    At { unix: f64 },
    /// IETF structured-field items: name, remaining `r` or quota `q`, reset `t`, window `w`.
    Policies { items: Vec<IetfPolicy> },
    /// Text with no rate-limit meaning to check.
    Text,
    /// The value does not parse in its dialect; the reason says why.
    Malformed { reason: String },
}

/// One IETF policy item as reported.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IetfPolicy {
    /// Policy name.
    pub name: String,
    /// `q` (quota) for a policy, `r` (remaining) for a status.
    pub amount: i64,
    /// `t` (seconds until more quota), when sent.
    pub t: Option<i64>,
    /// `w` (window in seconds), when sent.
    pub w: Option<i64>,
}

/// A recognised rate-limit header, with its meaning and parsed value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RateHeader {
    /// Lowercased header name.
    pub name: String,
    /// The raw value, as sent.
    pub value: String,
    /// Which dialect it belongs to.
    pub family: Family,
    /// What it says.
    pub role: Role,
    /// The scope it counts for: a LiteLLM descriptor (`api_key`), or the dialect's name.
    pub scope: Cow<'static, str>,
    /// The counted unit (`requests`, `tokens`, `input-tokens`, …), when the name says.
    pub unit: Option<Cow<'static, str>>,
    /// The value parsed in the dialect.
    pub parsed: Parsed,
}

impl RateHeader {
    /// The parsed count, if this header is a well-formed count.
    pub fn count(&self) -> Option<i64> {
        match self.parsed {
            Parsed::Count { value } => Some(value),
            _ => None,
        }
    }
}

fn malformed(reason: String) -> Parsed {
    Parsed::Malformed { reason }
}

fn count(value: &str) -> Parsed {
    parse_count(value).map_or_else(malformed, |v| Parsed::Count { value: v })
}

fn go_duration(value: &str) -> Parsed {
    parse_go_duration(value).map_or_else(malformed, |v| Parsed::Seconds { value: v })
}

fn numeric_reset(value: &str) -> Parsed {
    match parse_numeric_reset(value) {
        Ok(NumericReset::DeltaSeconds(v)) => Parsed::Seconds { value: v },
        Ok(NumericReset::EpochSeconds(v)) => Parsed::At { unix: v },
        Ok(NumericReset::EpochMillis(v)) => Parsed::At { unix: v / 1000.0 },
        Err(e) => malformed(e),
    }
}

fn rfc3339(value: &str) -> Parsed {
    parse_rfc3339(value).map_or_else(malformed, |t| Parsed::At {
        unix: t.as_millisecond() as f64 / 1000.0,
    })
}

fn ietf(value: &str, required: &str) -> Parsed {
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

fn retry_after(value: &str) -> Parsed {
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

/// Splits a LiteLLM descriptor name `x-ratelimit-{descriptor}-{remaining|limit}-{unit}`.
/// The descriptor is any `[a-z_]+`: the set depends on the LiteLLM version.
pub fn split_descriptor_name(name: &str) -> Option<(&str, Role, &str)> {
    let rest = name.strip_prefix("x-ratelimit-")?;
    for unit in ["requests", "tokens", "max_parallel_requests"] {
        let Some(head) = rest.strip_suffix(unit).and_then(|h| h.strip_suffix('-')) else {
            continue;
        };
        for (word, role) in [("-remaining", Role::Remaining), ("-limit", Role::Limit)] {
            if let Some(descriptor) = head.strip_suffix(word)
                && !descriptor.is_empty()
                && descriptor
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_')
            {
                return Some((descriptor, role, unit));
            }
        }
    }
    None
}

/// The name LiteLLM's v3 limiter gives a descriptor's counter.
pub fn descriptor_name(descriptor: &str, role: Role, unit: &str) -> String {
    let word = if role == Role::Remaining {
        "remaining"
    } else {
        "limit"
    };
    format!("x-ratelimit-{descriptor}-{word}-{unit}")
}

/// Scopes and units repeat on every response: the common ones are not allocated.
fn known(text: &str) -> Cow<'static, str> {
    const KNOWN: [&str; 18] = [
        "requests",
        "tokens",
        "input-tokens",
        "output-tokens",
        "max_parallel_requests",
        "api_key",
        "user",
        "team",
        "model",
        "openai",
        "anthropic",
        "ietf",
        "provider",
        "retry",
        "default",
        "litellm",
        "litellm_key",
        "other",
    ];
    match KNOWN.iter().find(|k| **k == text) {
        Some(k) => Cow::Borrowed(k),
        None => Cow::Owned(text.to_string()),
    }
}

/// What a header means, before it is named: family, role, scope, unit and parsed value.
struct Meaning {
    family: Family,
    role: Role,
    scope: Cow<'static, str>,
    unit: Option<Cow<'static, str>>,
    parsed: Parsed,
}

// The readers' shorthand: every reader returns an `Option`, most of them this one.
#[allow(clippy::unnecessary_wraps)]
fn meaning(
    family: Family,
    role: Role,
    scope: &'static str,
    unit: Option<&'static str>,
    parsed: Parsed,
) -> Option<Meaning> {
    Some(Meaning {
        family,
        role,
        scope: Cow::Borrowed(scope),
        unit: unit.map(Cow::Borrowed),
        parsed,
    })
}

/// One dialect's reader: the lowercased name and the value in, a meaning out when the name is
/// the dialect's.
type Reader = fn(&str, &str) -> Option<Meaning>;

/// The dialects, tried in order: the first whose reader knows the name wins. Passthrough comes
/// first (it wraps every other dialect), LiteLLM's descriptors before the bare `x-ratelimit-*`
/// names they share a prefix with.
const READERS: [Reader; 6] = [
    read_provider,
    read_descriptor,
    read_x_ratelimit,
    read_anthropic,
    read_exact,
    read_litellm_info,
];

/// Recognises a rate-limit header and parses its value; `None` for unrelated headers.
pub fn classify(name: &str, value: &str) -> Option<RateHeader> {
    // HTTP/2 and hyper hand names over lowercased already: allocate only when they are not.
    let lower: Cow<'_, str> = if name.bytes().any(|b| b.is_ascii_uppercase()) {
        name.to_ascii_lowercase().into()
    } else {
        name.into()
    };
    let m = READERS.iter().find_map(|read| read(&lower, value))?;
    Some(RateHeader {
        name: lower.into_owned(),
        value: value.to_string(),
        family: m.family,
        role: m.role,
        scope: m.scope,
        unit: m.unit,
        parsed: m.parsed,
    })
}

/// `llm_provider-*`: shown separately and never counted as the gateway's own; still parsed for
/// display.
fn read_provider(n: &str, value: &str) -> Option<Meaning> {
    let inner = n.strip_prefix("llm_provider-")?;
    let parsed = classify(inner, value).map_or(Parsed::Text, |h| h.parsed);
    meaning(Family::Provider, Role::Info, "provider", None, parsed)
}

/// LiteLLM's v3 descriptors: `x-ratelimit-{descriptor}-{remaining|limit}-{unit}`.
fn read_descriptor(n: &str, value: &str) -> Option<Meaning> {
    let (descriptor, role, unit) = split_descriptor_name(n)?;
    Some(Meaning {
        family: Family::LitellmDescriptor,
        role,
        scope: known(descriptor),
        unit: Some(known(unit)),
        parsed: count(value),
    })
}

/// OpenAI's bare names: suffix after `x-ratelimit-`, role, unit.
const OPENAI: [(&str, Role, &str); 6] = [
    ("limit-requests", Role::Limit, "requests"),
    ("limit-tokens", Role::Limit, "tokens"),
    ("remaining-requests", Role::Remaining, "requests"),
    ("remaining-tokens", Role::Remaining, "tokens"),
    ("reset-requests", Role::Reset, "requests"),
    ("reset-tokens", Role::Reset, "tokens"),
];

/// OpenAI's six bare names, then any other `x-ratelimit-*` (role guessed from the name).
fn read_x_ratelimit(n: &str, value: &str) -> Option<Meaning> {
    let rest = n.strip_prefix("x-ratelimit-")?;
    if let Some((_, role, unit)) = OPENAI.iter().find(|(suffix, ..)| *suffix == rest) {
        let parsed = if *role == Role::Reset {
            go_duration(value)
        } else {
            count(value)
        };
        return meaning(Family::Openai, *role, "openai", Some(unit), parsed);
    }
    let role = if rest.contains("remaining") {
        Role::Remaining
    } else if rest.contains("limit") {
        Role::Limit
    } else if rest.contains("reset") {
        Role::Reset
    } else {
        Role::Info
    };
    let parsed = match role {
        Role::Remaining | Role::Limit => count(value),
        Role::Reset => numeric_reset(value),
        _ => Parsed::Text,
    };
    meaning(Family::XRatelimitOther, role, "other", None, parsed)
}

/// `anthropic-ratelimit-{unit}-{limit|remaining|reset}`, resets in RFC 3339.
fn read_anthropic(n: &str, value: &str) -> Option<Meaning> {
    let rest = n.strip_prefix("anthropic-ratelimit-")?;
    for (suffix, role) in [
        ("-limit", Role::Limit),
        ("-remaining", Role::Remaining),
        ("-reset", Role::Reset),
    ] {
        if let Some(unit) = rest.strip_suffix(suffix) {
            let parsed = if role == Role::Reset {
                rfc3339(value)
            } else {
                count(value)
            };
            return Some(Meaning {
                family: Family::Anthropic,
                role,
                scope: Cow::Borrowed("anthropic"),
                unit: Some(known(unit)),
                parsed,
            });
        }
    }
    meaning(
        Family::Anthropic,
        Role::Info,
        "anthropic",
        None,
        Parsed::Text,
    )
}

/// Names that are whole dialects on their own: IETF fields, `retry-after`, LiteLLM's 429
/// extras and per-key limits.
fn read_exact(n: &str, value: &str) -> Option<Meaning> {
    match n {
        "ratelimit-policy" => meaning(Family::Ietf, Role::Policy, "ietf", None, ietf(value, "q")),
        "ratelimit" => meaning(Family::Ietf, Role::Status, "ietf", None, ietf(value, "r")),
        "ratelimit-limit" => {
            // The legacy form allows `100, 100;w=10`: the first number is the expiring limit.
            let first = value.split(',').next().unwrap_or_default();
            let first = first.split(';').next().unwrap_or_default();
            meaning(Family::IetfLegacy, Role::Limit, "ietf", None, count(first))
        }
        "ratelimit-remaining" => meaning(
            Family::IetfLegacy,
            Role::Remaining,
            "ietf",
            None,
            count(value),
        ),
        "ratelimit-reset" => meaning(
            Family::IetfLegacy,
            Role::Reset,
            "ietf",
            None,
            numeric_reset(value),
        ),
        "retry-after" => meaning(
            Family::RetryAfter,
            Role::RetryAfter,
            "retry",
            None,
            retry_after(value),
        ),
        "retry-after-ms" | "x-ms-retry-after-ms" => {
            let parsed = parse_retry_after_ms(value)
                .map_or_else(malformed, |ms| Parsed::Seconds { value: ms / 1000.0 });
            meaning(Family::RetryAfter, Role::RetryAfter, "retry", None, parsed)
        }
        "rate_limit_type" => meaning(
            Family::LitellmThrottle,
            Role::Info,
            "litellm",
            None,
            Parsed::Text,
        ),
        // LiteLLM's `YYYY-MM-DD HH:MM:SS UTC` label; not for arithmetic (see README).
        "reset_at" => meaning(
            Family::LitellmThrottle,
            Role::Reset,
            "litellm",
            None,
            Parsed::Text,
        ),
        LITELLM_KEY_RPM_LIMIT => meaning(
            Family::LitellmKeyLimit,
            Role::Limit,
            "litellm_key",
            Some("requests"),
            count(value),
        ),
        LITELLM_KEY_TPM_LIMIT => meaning(
            Family::LitellmKeyLimit,
            Role::Limit,
            "litellm_key",
            Some("tokens"),
            count(value),
        ),
        _ => None,
    }
}

/// Informational `x-litellm-*`: shown, never compared.
fn read_litellm_info(n: &str, _value: &str) -> Option<Meaning> {
    if !n.starts_with("x-litellm-") {
        return None;
    }
    meaning(
        Family::LitellmInfo,
        Role::Info,
        "litellm",
        None,
        Parsed::Text,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_names_split() {
        assert_eq!(
            split_descriptor_name("x-ratelimit-api_key-remaining-requests"),
            Some(("api_key", Role::Remaining, "requests"))
        );
        assert_eq!(
            split_descriptor_name("x-ratelimit-model_per_key-limit-tokens"),
            Some(("model_per_key", Role::Limit, "tokens"))
        );
        assert_eq!(
            split_descriptor_name("x-ratelimit-team-remaining-max_parallel_requests"),
            Some(("team", Role::Remaining, "max_parallel_requests"))
        );
        // OpenAI's bare names and Cerebras' suffixed ones are not descriptors.
        assert_eq!(
            split_descriptor_name("x-ratelimit-remaining-requests"),
            None
        );
        assert_eq!(split_descriptor_name("x-ratelimit-limit-tokens"), None);
        assert_eq!(
            split_descriptor_name("x-ratelimit-limit-requests-day"),
            None
        );
        assert_eq!(
            descriptor_name("api_key", Role::Remaining, "tokens"),
            "x-ratelimit-api_key-remaining-tokens"
        );
    }

    #[test]
    fn families_are_recognised() {
        let f = |n: &str, v: &str| classify(n, v).map(|h| (h.family, h.role));
        assert_eq!(
            f("X-RateLimit-api_key-remaining-requests", "9"),
            Some((Family::LitellmDescriptor, Role::Remaining))
        );
        assert_eq!(
            f("x-ratelimit-reset-tokens", "6m0s"),
            Some((Family::Openai, Role::Reset))
        );
        assert_eq!(
            f("x-ratelimit-limit-requests-day", "1000"),
            Some((Family::XRatelimitOther, Role::Limit))
        );
        assert_eq!(
            f(
                "anthropic-ratelimit-input-tokens-reset",
                "2026-01-01T00:00:00Z"
            ),
            Some((Family::Anthropic, Role::Reset))
        );
        assert_eq!(
            f("RateLimit", "\"default\";r=5;t=3"),
            Some((Family::Ietf, Role::Status))
        );
        assert_eq!(
            f("ratelimit-remaining", "5"),
            Some((Family::IetfLegacy, Role::Remaining))
        );
        assert_eq!(
            f("x-litellm-key-rpm-limit", "100"),
            Some((Family::LitellmKeyLimit, Role::Limit))
        );
        assert_eq!(
            f("llm_provider-x-ratelimit-remaining-requests", "777"),
            Some((Family::Provider, Role::Info))
        );
        assert_eq!(
            f("x-litellm-version", "1.106.12"),
            Some((Family::LitellmInfo, Role::Info))
        );
        assert_eq!(
            f("retry-after-ms", "1500"),
            Some((Family::RetryAfter, Role::RetryAfter))
        );
        assert_eq!(f("content-type", "application/json"), None);
    }

    #[test]
    fn values_parse_in_their_own_dialect() {
        let p = |n: &str, v: &str| classify(n, v).unwrap().parsed;
        assert_eq!(
            p("x-ratelimit-reset-requests", "1s"),
            Parsed::Seconds { value: 1.0 }
        );
        // A bare number is not a Go duration: OpenAI's dialect says it is malformed.
        assert!(matches!(
            p("x-ratelimit-reset-requests", "60"),
            Parsed::Malformed { .. }
        ));
        assert!(matches!(
            p("x-ratelimit-api_key-remaining-requests", "None"),
            Parsed::Malformed { .. }
        ));
        assert!(matches!(
            p("anthropic-ratelimit-requests-reset", "60"),
            Parsed::Malformed { .. }
        ));
        assert_eq!(p("retry-after-ms", "1500"), Parsed::Seconds { value: 1.5 });
        assert_eq!(
            p("ratelimit-limit", "100, 100;w=10"),
            Parsed::Count { value: 100 }
        );
        match p("ratelimit", "\"default\";r=50;t=30") {
            Parsed::Policies { items } => {
                assert_eq!(items[0].amount, 50);
                assert_eq!(items[0].t, Some(30));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
