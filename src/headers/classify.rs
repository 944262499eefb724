//! Reading one response header: which dialect it belongs to ([`classify`], by the readers in
//! `dialects`), its value parsed in that dialect by `parse`, and the user's declared headers.

use std::borrow::Cow;

use super::{Family, Parsed, RateHeader, Role, dialects};

/// Recognises a rate-limit header and parses its value; `None` for unrelated headers.
pub fn classify(name: &str, value: &str) -> Option<RateHeader> {
    // HTTP/2 and hyper hand names over lowercased already: allocate only when they are not.
    let lower: Cow<'_, str> = if name.bytes().any(|b| b.is_ascii_uppercase()) {
        name.to_ascii_lowercase().into()
    } else {
        name.into()
    };
    let m = dialects::meaning(&lower, value)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headers::{descriptor_name, split_descriptor_name};

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
