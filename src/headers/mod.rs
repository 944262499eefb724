//! The rate-limit header model: which dialect a header belongs to, what it means, and its value.
//!
//! Rule zero (see the README): each family is parsed in its own dialect. The same model is used
//! in both directions: `classify` reads a response header for the probe, and `emit` writes the
//! headers the simulator sends, so the checker and the simulator cannot drift apart.

mod dialects;
pub mod emit;
pub mod values;

use std::borrow::Cow;

use serde::Serialize;

use values::{
    NumericReset, RetryAfter, parse_count, parse_go_duration, parse_ietf_list, parse_numeric_reset,
    parse_retry_after, parse_rfc3339,
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
    /// OpenAI's `x-ratelimit-{limit,remaining,reset}-{requests,tokens,…}` (Go-duration resets;
    /// Azure's whole seconds on the same names), also with the `_usage_based` suffix.
    Openai,
    /// Counters whose name says their window: Cerebras `-requests-day`, Mistral `-req-minute`,
    /// Kong `-minute`.
    WindowNamed,
    /// Kong AI Rate Limiting Advanced: `x-ai-ratelimit-*`.
    KongAi,
    /// Bare `x-ratelimit-{limit,remaining,reset,used}` (GitHub, Envoy, Together, OpenRouter).
    XRatelimit,
    /// Any other `x-ratelimit-*` name: reported and compared, never judged for format.
    XRatelimitOther,
    /// Anthropic's `anthropic-ratelimit-*` (RFC 3339 resets).
    Anthropic,
    /// Anthropic's subscription family `anthropic-ratelimit-unified-*` (epoch-second resets).
    AnthropicUnified,
    /// IETF draft `RateLimit` and `RateLimit-Policy` structured fields.
    Ietf,
    /// IETF legacy draft `RateLimit-Limit`, `-Remaining`, `-Reset`.
    IetfLegacy,
    /// Helicone's `helicone-ratelimit-*`.
    Helicone,
    /// A yes/no flag sent on every response (`x-ratelimit-over-limit`, Together's `x-ratelimit`).
    Flag,
    /// A flag only refusals carry (`x-envoy-ratelimited`).
    ThrottleFlag,
    /// A header the user declared with `--rate-header` (or `rate_headers:`): compared, not judged.
    Declared,
    /// Another name that says it is about rate limits: compared, never judged for format.
    Unknown,
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
    /// Whether presence of this family is compared across response shapes. `Retry-After`,
    /// refusal flags and LiteLLM's 429 extras belong to throttled responses only;
    /// `llm_provider-*` is upstream's.
    pub fn compared_across_shapes(self) -> bool {
        !matches!(
            self,
            Family::RetryAfter
                | Family::ThrottleFlag
                | Family::LitellmThrottle
                | Family::LitellmInfo
                | Family::Provider
        )
    }

    /// Whether values of this family are checked against their dialect's format: names the
    /// tool does not know, or that the user declared, are compared but never judged.
    pub fn judged(self) -> bool {
        !matches!(
            self,
            Family::XRatelimitOther | Family::Declared | Family::Unknown | Family::Flag
        )
    }

    /// Whether the dialect's documentation says what each counter counts (unit and window),
    /// so that remaining above limit within one dimension proves a contradiction. Bare names
    /// (Together's `x-ratelimit-limit` and `-remaining` have been seen 10 and 19) do not.
    pub fn documented_dimensions(self) -> bool {
        matches!(
            self,
            Family::LitellmDescriptor
                | Family::Openai
                | Family::WindowNamed
                | Family::KongAi
                | Family::Anthropic
                | Family::Ietf
        )
    }
}

/// How a family's limiter moves its `remaining` counters, which decides what their motion can
/// prove (README: "What ratecheck accuses").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Semantics {
    /// A fixed window counted exactly: `remaining` falls by one per request the limiter
    /// admitted, failed ones included (LiteLLM's v3 descriptors; its legacy limiter's bare
    /// names when the response says it is LiteLLM).
    ExactWindow,
    /// Replenished continuously, shared by a whole organisation, or approximate (OpenAI, Azure,
    /// Groq, Anthropic, Cerebras, Mistral, Kong cluster policies, …): only impossible values
    /// prove anything.
    Replenishing,
    /// Token-cost limiters that debit after the response (Kong AI, Envoy AI Gateway): a
    /// stream's cost lands on a later request.
    TokenCost,
    /// Not known.
    Unknown,
}

impl Semantics {
    /// The semantics of `h` on a response that does (or does not) come from LiteLLM.
    pub fn of(h: &RateHeader, litellm: bool) -> Semantics {
        match h.family {
            // Per-model descriptors only count requests to their model.
            Family::LitellmDescriptor if !h.scope.contains("model") => Semantics::ExactWindow,
            Family::Openai if litellm && !h.passthrough && h.scope == "openai" => {
                Semantics::ExactWindow
            }
            Family::KongAi => Semantics::TokenCost,
            Family::Openai
            | Family::LitellmDescriptor
            | Family::Anthropic
            | Family::AnthropicUnified
            | Family::WindowNamed
            | Family::XRatelimit
            | Family::Helicone
            | Family::Ietf
            | Family::IetfLegacy => Semantics::Replenishing,
            _ => Semantics::Unknown,
        }
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
    /// A yes/no flag.
    Flag,
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
    /// The window (`minute`, `day`, …), when the name says.
    pub window: Option<Cow<'static, str>>,
    /// The value parsed in the dialect.
    pub parsed: Parsed,
    /// The same value is on this response as `llm_provider-{name}`: the gateway passed the
    /// upstream's header through; it is not the gateway's own.
    pub passthrough: bool,
}

impl RateHeader {
    /// Whether this header is the gateway's own and takes part in the comparison across
    /// response shapes.
    pub fn compared(&self) -> bool {
        self.family.compared_across_shapes() && !self.passthrough
    }

    /// What it counts: family, scope, unit and window. A limit and a remaining compare only
    /// within one dimension.
    pub fn dimension(&self) -> (Family, &str, Option<&str>, Option<&str>) {
        (
            self.family,
            &self.scope,
            self.unit.as_deref(),
            self.window.as_deref(),
        )
    }

    /// The parsed count, if this header is a well-formed count.
    pub fn count(&self) -> Option<i64> {
        match self.parsed {
            Parsed::Count { value } => Some(value),
            _ => None,
        }
    }

    /// Whether this header says its dimension is used up: a `remaining` of 0.
    pub fn exhausted(&self) -> bool {
        self.role == Role::Remaining && self.count() == Some(0)
    }
}

fn malformed(reason: String) -> Parsed {
    Parsed::Malformed { reason }
}

fn count(value: &str) -> Parsed {
    parse_count(value).map_or_else(malformed, |v| Parsed::Count { value: v })
}

/// A Go duration (OpenAI), or whole or fractional seconds (Azure sends `7` and `500` on the
/// same names).
fn go_or_seconds(value: &str) -> Parsed {
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
fn list_first_count(value: &str) -> Parsed {
    let first = value.split(',').next().unwrap_or_default();
    count(first.split(';').next().unwrap_or_default())
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

/// Recognises a rate-limit header and parses its value; `None` for unrelated headers.
pub fn classify(name: &str, value: &str) -> Option<RateHeader> {
    // HTTP/2 and hyper hand names over lowercased already: allocate only when they are not.
    let lower: Cow<'_, str> = if name.bytes().any(|b| b.is_ascii_uppercase()) {
        name.to_ascii_lowercase().into()
    } else {
        name.into()
    };
    let m = dialects::READERS
        .iter()
        .find_map(|read| read(&lower, value))?;
    Some(RateHeader {
        name: lower.into_owned(),
        value: value.to_string(),
        family: m.family,
        role: m.role,
        scope: m.scope,
        unit: m.unit,
        window: m.window,
        parsed: m.parsed,
        passthrough: false,
    })
}

/// A header the user declared a rate-limit header (`--rate-header`): its role guessed from
/// the name, compared across shapes, never judged.
pub fn declared(name: &str, value: &str) -> RateHeader {
    let lower = name.to_ascii_lowercase();
    let role = if lower.contains("remaining") {
        Role::Remaining
    } else if lower.contains("limit") {
        Role::Limit
    } else if lower.contains("reset") || lower.contains("retry") {
        Role::Reset
    } else {
        Role::Info
    };
    RateHeader {
        name: lower,
        value: value.to_string(),
        family: Family::Declared,
        role,
        scope: Cow::Borrowed("declared"),
        unit: None,
        window: None,
        parsed: Parsed::Text,
        passthrough: false,
    }
}

/// Classifies one response's headers: known dialects, then the names the user declared; then
/// marks passthrough. LiteLLM forwards an upstream's `x-ratelimit-*` both unprefixed and as
/// `llm_provider-x-ratelimit-*`; an unprefixed header with the same value as its twin is the
/// upstream's, not the gateway's own.
pub fn classify_all<'a>(
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    declared_names: &[String],
) -> Vec<RateHeader> {
    let mut out: Vec<RateHeader> = headers
        .into_iter()
        .filter_map(|(n, v)| {
            classify(n, v).or_else(|| {
                declared_names
                    .iter()
                    .any(|d| d.eq_ignore_ascii_case(n))
                    .then(|| declared(n, v))
            })
        })
        .collect();
    mark_passthrough(&mut out);
    out
}

/// Marks headers whose `llm_provider-` twin on the same response has the same value.
pub fn mark_passthrough(headers: &mut [RateHeader]) {
    let twins: Vec<(String, String)> = headers
        .iter()
        .filter_map(|h| {
            h.name
                .strip_prefix("llm_provider-")
                .map(|inner| (inner.to_string(), h.value.clone()))
        })
        .collect();
    if twins.is_empty() {
        return;
    }
    for h in headers.iter_mut() {
        if twins.iter().any(|(n, v)| *n == h.name && *v == h.value) {
            h.passthrough = true;
        }
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
            Some((Family::WindowNamed, Role::Limit))
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

    /// The variants seen in real captures (tests/corpus/), each read with its role, unit and
    /// window.
    #[test]
    fn the_real_worlds_variants() {
        let h = |n: &str, v: &str| classify(n, v).unwrap();
        let usage = h("x-ratelimit-reset-tokens_usage_based", "9ms");
        assert_eq!((usage.family, usage.role), (Family::Openai, Role::Reset));
        assert!(matches!(usage.parsed, Parsed::Seconds { value } if (value - 0.009).abs() < 1e-12));
        assert_eq!(usage.scope, "openai_usage_based");
        let project = h("x-ratelimit-remaining-project-tokens", "149999");
        assert_eq!(project.unit.as_deref(), Some("project-tokens"));
        // Azure's whole seconds on OpenAI's names.
        assert_eq!(
            h("x-ratelimit-reset-requests", "500").parsed,
            Parsed::Seconds { value: 500.0 }
        );
        let cerebras = h("x-ratelimit-reset-requests-day", "33011.382867097855");
        assert_eq!(
            (cerebras.family, cerebras.window.as_deref()),
            (Family::WindowNamed, Some("day"))
        );
        let mistral = h("x-ratelimit-remaining-req-10-second", "5");
        assert_eq!(
            (mistral.unit.as_deref(), mistral.window.as_deref()),
            (Some("requests"), Some("10-second"))
        );
        let kong = h("X-RateLimit-Remaining-Minute", "4");
        assert_eq!(
            (kong.family, kong.unit.as_deref()),
            (Family::WindowNamed, None)
        );
        let kong_ai = h("X-AI-RateLimit-Remaining-minute-openai", "120");
        assert_eq!(
            (
                kong_ai.family,
                kong_ai.role,
                &*kong_ai.scope,
                kong_ai.window.as_deref()
            ),
            (Family::KongAi, Role::Remaining, "openai", Some("minute"))
        );
        assert_eq!(h("x-ai-ratelimit-retry-after", "12").role, Role::RetryAfter);
        // Envoy's draft-03 list: the first number is the limit.
        assert_eq!(
            h("x-ratelimit-limit", "3, 3;w=60").parsed,
            Parsed::Count { value: 3 }
        );
        assert_eq!(
            h("x-ratelimit-reset", "1700000000").parsed,
            Parsed::At { unix: 1.7e9 }
        );
        for flag in [
            "x-ratelimit-over-limit",
            "x-ratelimit",
            "x-ratelimit-abusepenalty-active",
        ] {
            assert_eq!(h(flag, "no").role, Role::Flag, "{flag}");
        }
        assert_eq!(
            h("x-envoy-ratelimited", "true").family,
            Family::ThrottleFlag
        );
        let unified = h("anthropic-ratelimit-unified-5h-reset", "1760000000");
        assert_eq!(
            (unified.family, unified.parsed.clone()),
            (Family::AnthropicUnified, Parsed::At { unix: 1.76e9 })
        );
        assert_eq!(
            h("anthropic-ratelimit-unified-status", "allowed").role,
            Role::Info
        );
        assert_eq!(
            h("Helicone-RateLimit-Remaining", "9").family,
            Family::Helicone
        );
        assert_eq!(
            h("x-tokenlimit-remaining", "3000").unit.as_deref(),
            Some("tokens")
        );
        assert_eq!(
            h("ratelimitbysize-remaining", "500").family,
            Family::Unknown
        );
        assert_eq!(
            h("X-Trial-Endpoint-Call-Remaining", "4").family,
            Family::Unknown
        );
        assert_eq!(declared("remaining-tokens", "900").role, Role::Remaining);
    }

    #[test]
    fn passthrough_twins_are_marked() {
        let headers = classify_all(
            [
                ("x-ratelimit-limit-requests", "10000"),
                ("llm_provider-x-ratelimit-limit-requests", "10000"),
                ("x-ratelimit-remaining-requests", "499"),
                ("llm_provider-x-ratelimit-remaining-requests", "9999"),
                ("remaining-tokens", "800"),
            ],
            &["Remaining-Tokens".to_string()],
        );
        let own: Vec<&str> = headers
            .iter()
            .filter(|h| h.compared())
            .map(|h| h.name.as_str())
            .collect();
        assert_eq!(
            own,
            vec!["x-ratelimit-remaining-requests", "remaining-tokens"]
        );
    }

    #[test]
    fn values_parse_in_their_own_dialect() {
        let p = |n: &str, v: &str| classify(n, v).unwrap().parsed;
        assert_eq!(
            p("x-ratelimit-reset-requests", "1s"),
            Parsed::Seconds { value: 1.0 }
        );
        // Text that is neither a Go duration nor a number of seconds.
        assert!(matches!(
            p("x-ratelimit-reset-requests", "soon"),
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
