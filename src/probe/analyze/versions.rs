//! What is known about LiteLLM releases: which known defects a release has, and whether an
//! upgrade helps. One table, each row citing its evidence; the probe and the triage bundle read
//! `x-litellm-version` and say which rows apply.

use crate::headers::LITELLM_VERSION;
use crate::http::Exchange;
use crate::verdict::{Finding, FindingKind};

/// A release, as `(major, minor, patch)`.
pub type Release = (u32, u32, u32);

/// One known behaviour of a range of LiteLLM releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownDefect {
    /// What it is, in a few words.
    pub what: &'static str,
    /// The first release it was measured in.
    pub first: Release,
    /// The first release without it; `None` while no release fixes it.
    pub fixed_in: Option<Release>,
    /// The finding that shows it, when the probe can see it.
    pub kind: Option<FindingKind>,
    /// What to do about it.
    pub advice: &'static str,
    /// Where the facts come from.
    pub evidence: &'static str,
}

/// The table. Measured on ten real releases (1.77.0, 1.77.1, 1.80.0, 1.90.0, 1.100.0, 1.101.6,
/// 1.102.0, 1.106.12, 1.110.2; real wheels from PyPI, headers read with curl), and upstream's
/// issues and pull requests.
pub const LITELLM_DEFECTS: [KnownDefect; 4] = [
    KnownDefect {
        what: "the rate-limit headers are dropped on every streaming response (either limiter)",
        first: (1, 77, 0),
        fixed_in: None,
        kind: Some(FindingKind::LitellmV3StreamingDrop),
        advice: "no release fixes it yet (the fix, PR #27747, was closed unmerged): the README's `async_post_call_response_headers_hook` callback restores the headers",
        evidence: "BerriAI/litellm#27748; measured in every release from 1.77.0 to 1.110.2",
    },
    KnownDefect {
        what: "the rate-limit headers are dropped on plain-dict responses (non-streaming /v1/messages)",
        first: (1, 77, 0),
        fixed_in: Some((1, 102, 0)),
        kind: Some(FindingKind::LitellmV3PlainDictDrop),
        advice: "upgrading to 1.102.0 or later fixes it",
        evidence: "measured in 1.77.0–1.101.6, absent from 1.102.0 (its v3 success hook tests `response_has_hidden_params(response)`, true for dicts too)",
    },
    KnownDefect {
        what: "the default limiter is the legacy v1 `parallel_request_limiter` (bare `x-ratelimit-*` names; none on streams nor on /v1/messages)",
        first: (0, 0, 0),
        fixed_in: Some((1, 77, 1)),
        kind: None,
        advice: "1.77.1 and later default to the v3 limiter (`x-ratelimit-{descriptor}-*`); `LEGACY_MULTI_INSTANCE_RATE_LIMITING=true` switches back",
        evidence: "PR #14450 (v3 default again, 2025-09-12); measured: 1.77.0 legacy, 1.77.1 v3",
    },
    KnownDefect {
        what: "release 1.107.0 was reported compromised",
        first: (1, 107, 0),
        fixed_in: Some((1, 107, 1)),
        kind: None,
        advice: "do not run it: replace it with another release now",
        evidence: "reported compromised; it is not on the package index",
    },
];

/// `1.106.12` (or `v1.106.12`, `1.106.12-stable`) as a release.
pub fn parse_release(text: &str) -> Option<Release> {
    let t = text.trim().trim_start_matches('v');
    let mut parts = t.split(['.', '-', '+']);
    let mut num = || parts.next()?.parse::<u32>().ok();
    Some((num()?, num()?, num().unwrap_or(0)))
}

/// The rows that apply to `version`.
pub fn defects_of(version: &str) -> Vec<&'static KnownDefect> {
    let Some(r) = parse_release(version) else {
        return Vec::new();
    };
    LITELLM_DEFECTS
        .iter()
        .filter(|d| r >= d.first && d.fixed_in.is_none_or(|f| r < f))
        .collect()
}

fn show(r: Release) -> String {
    format!("{}.{}.{}", r.0, r.1, r.2)
}

/// One note per known defect of the release the responses name, saying whether this probe
/// saw it and what helps.
pub(super) fn notes(exchanges: &[Exchange], found: &[Finding]) -> Vec<String> {
    let Some(version) = exchanges.iter().find_map(|e| e.header(LITELLM_VERSION)) else {
        return Vec::new();
    };
    let Some(release) = parse_release(version) else {
        return vec![format!(
            "LiteLLM version `{version}` is not a release number; no known-defect check"
        )];
    };
    let rows = defects_of(version);
    if rows.is_empty() {
        return vec![format!(
            "LiteLLM {}: no known defect of this release in ratecheck's table",
            show(release)
        )];
    }
    rows.into_iter()
        .map(|d| {
            let seen = match d.kind {
                Some(k) if found.iter().any(|f| f.kind == k) => "; seen here",
                Some(_) => "; not seen here",
                None => "",
            };
            let range = match d.fixed_in {
                Some(f) if d.first == (0, 0, 0) => format!("releases before {}", show(f)),
                Some(f) => format!("from {}, fixed in {}", show(d.first), show(f)),
                None => format!("every release since {}", show(d.first)),
            };
            format!(
                "LiteLLM {} has a known defect ({range}): {}{seen}; {} [{}]",
                show(release),
                d.what,
                d.advice,
                d.evidence
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_get_their_rows() {
        let kinds = |v: &str| -> Vec<Option<FindingKind>> {
            defects_of(v).iter().map(|d| d.kind).collect()
        };
        assert_eq!(
            kinds("1.90.0"),
            vec![
                Some(FindingKind::LitellmV3StreamingDrop),
                Some(FindingKind::LitellmV3PlainDictDrop)
            ]
        );
        assert_eq!(
            kinds("1.106.12"),
            vec![Some(FindingKind::LitellmV3StreamingDrop)]
        );
        assert_eq!(kinds("v1.110.2-stable"), kinds("1.106.12"));
        assert_eq!(kinds("1.77.0").len(), 3);
        assert_eq!(kinds("1.107.0").len(), 2);
        assert!(defects_of("main").is_empty());
    }
}
