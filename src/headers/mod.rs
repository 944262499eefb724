//! The rate-limit header model: which dialect a header belongs to, what it means, and its value.
//!
//! Rule zero (see the README): each family is parsed in its own dialect. The same model is used
//! in both directions: `classify` reads a response header for the probe, and `emit` writes the
//! headers the simulator sends, so the checker and the simulator cannot drift apart.

mod classify;
mod dialects;
pub mod emit;
mod parse;
pub mod values;

pub use classify::{classify, classify_all, declared, mark_passthrough};

use std::borrow::Cow;

use serde::Serialize;

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

    /// Whether the family is a provider's dialect, which a gateway may pass through from its
    /// upstream as it came (OpenAI's, Anthropic's, Cerebras' and Mistral's window-named,
    /// Together's and OpenRouter's bare names, names the tool does not know), rather than a
    /// gateway limiter's own (LiteLLM's descriptors and key limits, Kong AI's, Helicone's, the
    /// IETF fields gateways emit, names the operator declared). A gateway in front of two
    /// providers answers each endpoint in its provider's dialect: such headers are compared
    /// only across endpoints that speak the same dialect.
    pub fn provider_dialect(self) -> bool {
        matches!(
            self,
            Family::Openai
                | Family::Anthropic
                | Family::AnthropicUnified
                | Family::WindowNamed
                | Family::XRatelimit
                | Family::XRatelimitOther
                | Family::Flag
                | Family::Unknown
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
