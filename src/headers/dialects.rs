//! The dialects, one reader each: a lowercased header name and its value in, what it means out.
//!
//! Rule zero: each family is read in its own dialect, never with one global format. The names
//! and formats here come from the providers' and gateways' documentation and from real captures
//! (`tests/corpus/`, each file citing its source): OpenAI's Go-duration resets (and its
//! `_usage_based` and project/image buckets), Azure's unit-less resets on the same names,
//! window-named counters (Cerebras, Mistral, Kong), Kong AI Rate Limiting Advanced, Envoy's
//! draft-03 lists, GitHub-style bare names with epoch resets, Anthropic's RFC 3339 and unified
//! epoch resets, IETF fields, Helicone, LiteLLM. A `*ratelimit*` name none of them knows is still
//! a rate-limit header: compared across shapes, never judged for format.

use std::borrow::Cow;

use super::parse::{
    count, go_or_seconds, ietf, known, list_first_count, malformed, numeric_reset, retry_after,
    rfc3339,
};
use super::values::parse_retry_after_ms;
use super::{
    Family, LITELLM_KEY_RPM_LIMIT, LITELLM_KEY_TPM_LIMIT, Parsed, Role, split_descriptor_name,
};

/// What a header means, before it is named: family, role, scope, unit, window and value.
pub(super) struct Meaning {
    pub family: Family,
    pub role: Role,
    pub scope: Cow<'static, str>,
    pub unit: Option<Cow<'static, str>>,
    pub window: Option<Cow<'static, str>>,
    pub parsed: Parsed,
}

impl Meaning {
    fn new(family: Family, role: Role, scope: &'static str, parsed: Parsed) -> Self {
        Meaning {
            family,
            role,
            scope: Cow::Borrowed(scope),
            unit: None,
            window: None,
            parsed,
        }
    }

    fn unit(mut self, unit: &str) -> Self {
        self.unit = Some(known(unit));
        self
    }

    fn window(mut self, window: &str) -> Self {
        self.window = Some(known(window));
        self
    }
}

/// One dialect's reader: the lowercased name and the value in, a meaning out when the name is
/// the dialect's.
type Reader = fn(&str, &str) -> Option<Meaning>;

/// The dialects, tried in order: the first whose reader knows the name wins. Passthrough comes
/// first (it wraps every other dialect); LiteLLM's descriptors, window-named counters and
/// flags before the bare `x-ratelimit-*` names they share a prefix with; the catch-all last.
const READERS: [Reader; 12] = [
    read_provider,
    read_descriptor,
    read_flag,
    read_window_named,
    read_kong_ai,
    read_openai,
    read_x_ratelimit,
    read_anthropic,
    read_exact,
    read_helicone,
    read_litellm_info,
    read_unknown,
];

/// What the first dialect that knows `name` (lowercase) makes of it.
pub(super) fn meaning(name: &str, value: &str) -> Option<Meaning> {
    READERS.iter().find_map(|read| read(name, value))
}

/// `llm_provider-*`: the upstream's headers passed through by LiteLLM. Shown apart and never
/// counted as the gateway's own; still parsed for display.
fn read_provider(n: &str, value: &str) -> Option<Meaning> {
    let inner = n.strip_prefix("llm_provider-")?;
    let parsed = meaning(inner, value).map_or(Parsed::Text, |m| m.parsed);
    Some(Meaning::new(
        Family::Provider,
        Role::Info,
        "provider",
        parsed,
    ))
}

/// LiteLLM's v3 descriptors: `x-ratelimit-{descriptor}-{remaining|limit}-{unit}`.
fn read_descriptor(n: &str, value: &str) -> Option<Meaning> {
    let (descriptor, role, unit) = split_descriptor_name(n)?;
    Some(Meaning {
        family: Family::LitellmDescriptor,
        role,
        scope: known(descriptor),
        unit: Some(known(unit)),
        window: None,
        parsed: count(value),
    })
}

/// Yes/no flags: Fireworks' `x-ratelimit-over-limit`, Together's `x-ratelimit`, Azure's
/// `x-ratelimit-abusepenalty-active`; and Envoy's `x-envoy-ratelimited`, which only a refusal
/// carries.
fn read_flag(n: &str, _value: &str) -> Option<Meaning> {
    let family = match n {
        "x-ratelimit-over-limit" | "x-ratelimit" | "x-ratelimit-abusepenalty-active" => {
            Family::Flag
        }
        "x-envoy-ratelimited" => Family::ThrottleFlag,
        _ => return None,
    };
    Some(Meaning::new(family, Role::Flag, "flag", Parsed::Text))
}

/// The window words that end a counter's name: Cerebras (`-requests-day`), Mistral
/// (`-req-minute`, `-req-10-second`, `-tokens-month`), Kong (`-minute`, `-hour`, …).
const WINDOWS: [&str; 7] = [
    "10-second",
    "second",
    "minute",
    "hour",
    "day",
    "month",
    "year",
];

/// Splits `{role}-{unit}-{window}` or `{role}-{window}` (Kong) after `x-ratelimit-`.
fn window_parts(rest: &str) -> Option<(Role, Option<&'static str>, &'static str)> {
    let (role, tail) = [
        ("limit-", Role::Limit),
        ("remaining-", Role::Remaining),
        ("reset-", Role::Reset),
    ]
    .into_iter()
    .find_map(|(p, r)| rest.strip_prefix(p).map(|t| (r, t)))?;
    let window = WINDOWS
        .into_iter()
        .find(|w| tail == *w || tail.ends_with(&format!("-{w}")))?;
    let unit = tail
        .strip_suffix(window)
        .map(|u| u.trim_end_matches('-'))
        .unwrap_or_default();
    let unit = match unit {
        "" => None,
        "req" | "requests" => Some("requests"),
        "tokens" => Some("tokens"),
        _ => return None,
    };
    Some((role, unit, window))
}

/// Counters whose name says their window: Cerebras, Mistral, Kong's rate-limiting plugin.
/// Resets are (fractional) seconds.
fn read_window_named(n: &str, value: &str) -> Option<Meaning> {
    let rest = n.strip_prefix("x-ratelimit-")?;
    let (role, unit, window) = window_parts(rest)?;
    let parsed = match role {
        Role::Reset => numeric_reset(value),
        _ => count(value),
    };
    let m = Meaning::new(Family::WindowNamed, role, "window", parsed).window(window);
    Some(match unit {
        Some(u) => m.unit(u),
        None => m,
    })
}

/// Kong AI Rate Limiting Advanced: `x-ai-ratelimit-{limit|remaining}-{window}-{provider}`,
/// `-reset`, `-retry-after`, `-query-cost` (a request's token cost counts against the next).
fn read_kong_ai(n: &str, value: &str) -> Option<Meaning> {
    let rest = n.strip_prefix("x-ai-ratelimit-")?;
    let role_of = |p: &str| match p {
        "limit" => Some(Role::Limit),
        "remaining" => Some(Role::Remaining),
        "reset" => Some(Role::Reset),
        "retry-after" => Some(Role::RetryAfter),
        _ => None,
    };
    if rest == "query-cost" || rest.starts_with("query-cost-") {
        return Some(Meaning::new(
            Family::KongAi,
            Role::Info,
            "kong_ai",
            count(value),
        ));
    }
    let (role, tail) = ["limit", "remaining", "reset", "retry-after"]
        .into_iter()
        .find_map(|p| {
            if rest == p {
                Some((role_of(p)?, ""))
            } else {
                rest.strip_prefix(p)
                    .and_then(|t| t.strip_prefix('-'))
                    .and_then(|t| Some((role_of(p)?, t)))
            }
        })?;
    let parsed = match role {
        Role::Reset | Role::RetryAfter => numeric_reset(value),
        _ => count(value),
    };
    let mut m = Meaning::new(Family::KongAi, role, "kong_ai", parsed).unit("tokens");
    // `minute-openai`: the window, then the provider the limit applies to.
    if let Some((window, provider)) = tail.split_once('-') {
        m = m.window(window);
        m.scope = known(provider);
    } else if !tail.is_empty() {
        m = m.window(tail);
    }
    if matches!(role, Role::Reset | Role::RetryAfter) {
        m.unit = None;
    }
    Some(m)
}

/// The units OpenAI's names count.
const UNITS: [&str; 5] = [
    "requests",
    "tokens",
    "project-requests",
    "project-tokens",
    "input-images",
];

/// OpenAI's names: `x-ratelimit-{limit|remaining|reset}-{unit}` for requests, tokens, project
/// buckets and images, each also with the `_usage_based` suffix. Resets are Go durations
/// (`6m0s`, `20ms`); Azure sends whole seconds on the same names, read as seconds.
fn read_openai(n: &str, value: &str) -> Option<Meaning> {
    let rest = n.strip_prefix("x-ratelimit-")?;
    let (rest, usage_based) = match rest.strip_suffix("_usage_based") {
        Some(r) => (r, true),
        None => (rest, false),
    };
    let (role, unit) = [
        ("limit-", Role::Limit),
        ("remaining-", Role::Remaining),
        ("reset-", Role::Reset),
    ]
    .into_iter()
    .find_map(|(p, r)| rest.strip_prefix(p).map(|u| (r, u)))?;
    let unit = UNITS.into_iter().find(|u| *u == unit)?;
    let parsed = match role {
        Role::Reset => go_or_seconds(value),
        _ => count(value),
    };
    let scope = if usage_based {
        "openai_usage_based"
    } else {
        "openai"
    };
    Some(Meaning::new(Family::Openai, role, scope, parsed).unit(unit))
}

/// Bare names: `x-ratelimit-{limit|remaining|reset|used}` (GitHub, Envoy and Envoy Gateway,
/// Together, OpenRouter, Exa) and Together's `x-tokenlimit-*`. Envoy's limit is a draft-03
/// list (`10, 10;w=60`): its first number is the limit. Resets are delta seconds or epoch
/// seconds/milliseconds, read by size. Other `x-ratelimit-*` names are kept unjudged.
fn read_x_ratelimit(n: &str, value: &str) -> Option<Meaning> {
    let (rest, unit) = if let Some(r) = n.strip_prefix("x-tokenlimit-") {
        (r, Some("tokens"))
    } else {
        (n.strip_prefix("x-ratelimit-")?, None)
    };
    let m = match rest {
        "limit" => Meaning::new(
            Family::XRatelimit,
            Role::Limit,
            "x-ratelimit",
            list_first_count(value),
        ),
        "remaining" => Meaning::new(
            Family::XRatelimit,
            Role::Remaining,
            "x-ratelimit",
            count(value),
        ),
        "reset" => Meaning::new(
            Family::XRatelimit,
            Role::Reset,
            "x-ratelimit",
            numeric_reset(value),
        ),
        "used" => Meaning::new(Family::XRatelimit, Role::Info, "x-ratelimit", count(value)),
        _ => Meaning::new(Family::XRatelimitOther, Role::Info, "other", Parsed::Text),
    };
    Some(match unit {
        Some(u) => m.unit(u),
        None => m,
    })
}

/// `anthropic-ratelimit-{unit}-{limit|remaining|reset}` with RFC 3339 resets, and the unified
/// family of subscription traffic (`anthropic-ratelimit-unified-*`) with epoch-second resets,
/// a status word and utilization fractions.
fn read_anthropic(n: &str, value: &str) -> Option<Meaning> {
    let rest = n.strip_prefix("anthropic-ratelimit-")?;
    if let Some(unified) = rest
        .strip_prefix("unified-")
        .or((rest == "unified").then_some(""))
    {
        let (role, parsed) = if unified == "reset" || unified.ends_with("-reset") {
            (Role::Reset, numeric_reset(value))
        } else {
            (Role::Info, Parsed::Text)
        };
        let mut m = Meaning::new(Family::AnthropicUnified, role, "anthropic_unified", parsed);
        if let Some(window) = unified.strip_suffix("-reset").filter(|w| !w.is_empty()) {
            m = m.window(window);
        }
        return Some(m);
    }
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
            return Some(Meaning::new(Family::Anthropic, role, "anthropic", parsed).unit(unit));
        }
    }
    Some(Meaning::new(
        Family::Anthropic,
        Role::Info,
        "anthropic",
        Parsed::Text,
    ))
}

/// Names that are whole dialects on their own: IETF fields, `retry-after`, LiteLLM's 429
/// extras and per-key limits.
fn read_exact(n: &str, value: &str) -> Option<Meaning> {
    let m = |family, role, scope, parsed| Some(Meaning::new(family, role, scope, parsed));
    match n {
        "ratelimit-policy" => m(Family::Ietf, Role::Policy, "ietf", ietf(value, "q")),
        "ratelimit" => m(Family::Ietf, Role::Status, "ietf", ietf(value, "r")),
        // The legacy form allows `100, 100;w=10`: the first number is the expiring limit.
        "ratelimit-limit" => m(
            Family::IetfLegacy,
            Role::Limit,
            "ietf",
            list_first_count(value),
        ),
        "ratelimit-remaining" => m(Family::IetfLegacy, Role::Remaining, "ietf", count(value)),
        "ratelimit-reset" => m(
            Family::IetfLegacy,
            Role::Reset,
            "ietf",
            numeric_reset(value),
        ),
        "retry-after" => m(
            Family::RetryAfter,
            Role::RetryAfter,
            "retry",
            retry_after(value),
        ),
        "retry-after-ms" | "x-ms-retry-after-ms" => {
            let parsed = parse_retry_after_ms(value)
                .map_or_else(malformed, |ms| Parsed::Seconds { value: ms / 1000.0 });
            m(Family::RetryAfter, Role::RetryAfter, "retry", parsed)
        }
        "rate_limit_type" => m(Family::LitellmThrottle, Role::Info, "litellm", Parsed::Text),
        // LiteLLM's `YYYY-MM-DD HH:MM:SS UTC` label; not for arithmetic (see README).
        "reset_at" => m(
            Family::LitellmThrottle,
            Role::Reset,
            "litellm",
            Parsed::Text,
        ),
        LITELLM_KEY_RPM_LIMIT => Some(
            Meaning::new(
                Family::LitellmKeyLimit,
                Role::Limit,
                "litellm_key",
                count(value),
            )
            .unit("requests"),
        ),
        LITELLM_KEY_TPM_LIMIT => Some(
            Meaning::new(
                Family::LitellmKeyLimit,
                Role::Limit,
                "litellm_key",
                count(value),
            )
            .unit("tokens"),
        ),
        _ => None,
    }
}

/// Helicone's `helicone-ratelimit-{limit|remaining|policy}` (the policy in IETF-like syntax).
fn read_helicone(n: &str, value: &str) -> Option<Meaning> {
    let rest = n.strip_prefix("helicone-ratelimit-")?;
    let (role, parsed) = match rest {
        "limit" => (Role::Limit, count(value)),
        "remaining" => (Role::Remaining, count(value)),
        _ => (Role::Info, Parsed::Text),
    };
    Some(Meaning::new(Family::Helicone, role, "helicone", parsed))
}

/// Informational `x-litellm-*`: shown, never compared.
fn read_litellm_info(n: &str, _value: &str) -> Option<Meaning> {
    n.starts_with("x-litellm-")
        .then(|| Meaning::new(Family::LitellmInfo, Role::Info, "litellm", Parsed::Text))
}

/// Any other name that says it is about rate limits (`ratelimitbysize-*`, Cohere's call
/// limits, …): compared across shapes, never judged for format.
fn read_unknown(n: &str, _value: &str) -> Option<Meaning> {
    const WORDS: [&str; 5] = [
        "ratelimit",
        "rate-limit",
        "tokenlimit",
        "call-limit",
        "call-remaining",
    ];
    // Every word holds `limit` or `remaining`: most names (date, server) are out in one look.
    ((n.contains("limit") || n.contains("remaining")) && WORDS.iter().any(|w| n.contains(w)))
        .then(|| Meaning::new(Family::Unknown, Role::Info, "unknown", Parsed::Text))
}
