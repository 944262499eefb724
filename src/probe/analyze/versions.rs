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
/// 1.102.0, 1.106.12, 1.110.2; real wheels from PyPI, headers read with curl), the limiter's
/// behaviour on 1.77.0, 1.80.0, 1.90.0, 1.106.12 and 1.110.2 (real proxies on loopback, one
/// instance, limits from a custom-auth key, an OpenAI-compatible upstream on loopback), and
/// upstream's issues and pull requests.
pub const LITELLM_DEFECTS: [KnownDefect; 9] = [
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
        what: "requests refused for max_parallel_requests are charged to the key's requests limit",
        first: (1, 80, 0),
        fixed_in: None,
        kind: Some(FindingKind::RefusalCharged),
        advice: "no release fixes it: keep clients' concurrency under the key's max_parallel_requests, or bound the key with rpm/tpm alone",
        evidence: "BerriAI/litellm#39309; measured in 1.80.0, 1.90.0, 1.106.12 and 1.110.2 (every v3 release tried), not in 1.77.0's legacy limiter",
    },
    KnownDefect {
        what: "429s on /v1/messages and /v1/completions carry no retry-after (chat's carry `retry-after: 60`)",
        first: (1, 80, 0),
        fixed_in: None,
        kind: Some(FindingKind::RetryAdviceMissing),
        advice: "no release fixes it (PR #37767 is open): have Anthropic-style clients back off with jitter on any 429",
        evidence: "BerriAI/litellm#37754; measured in 1.80.0, 1.90.0, 1.106.12 and 1.110.2, for the requests, tokens and max_parallel_requests limits alike",
    },
    KnownDefect {
        what: "tokens are not charged on /v1/responses, /v1/completions and /v1/embeddings (chat is charged its output tokens)",
        first: (1, 77, 0),
        fixed_in: Some((1, 90, 0)),
        kind: Some(FindingKind::TokensNotCharged),
        advice: "upgrade: 1.90.0 and later charge every endpoint (the legacy limiter still leaves /v1/responses uncharged)",
        evidence: "BerriAI/litellm#17706, #18671, #17664; measured in 1.77.0 (legacy) and 1.80.0, not in 1.90.0, 1.106.12 or 1.110.2 (releases between 1.80.0 and 1.90.0 not measured)",
    },
    KnownDefect {
        what: "a max_parallel_requests slot stays taken after a completed /v1/messages or /v1/responses call, until its window ends",
        first: (1, 77, 0),
        fixed_in: Some((1, 90, 0)),
        kind: Some(FindingKind::SlotKept),
        advice: "upgrade: 1.90.0 and later release the slot",
        evidence: "BerriAI/litellm#27955, #17323; measured in 1.77.0 and 1.80.0, not in 1.90.0, 1.106.12 or 1.110.2 (releases between 1.80.0 and 1.90.0 not measured)",
    },
    KnownDefect {
        what: "concurrent requests pass the tokens limit (tokens are charged after the response, with no reservation)",
        first: (1, 80, 0),
        fixed_in: Some((1, 90, 0)),
        kind: Some(FindingKind::ConcurrentOverAdmission),
        advice: "upgrade: later releases reserve tokens before the call (send max_tokens so the reservation is right)",
        evidence: "BerriAI/litellm#18730; measured in 1.80.0, not in 1.90.0, 1.106.12 or 1.110.2 with max_tokens set (releases between 1.80.0 and 1.90.0 not measured)",
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
    release_notes(version, found, false)
}

/// The same notes for `ratecheck limits`, which checks the limiter's rows.
pub fn limiter_notes(version: &str, found: &[Finding]) -> Vec<String> {
    release_notes(version, found, true)
}

/// Whether `ratecheck limits` (rather than the probe) is the command that can see `kind`.
fn seen_by_limits(kind: FindingKind) -> bool {
    kind.class() == crate::verdict::FindingClass::Limits
}

fn release_notes(version: &str, found: &[Finding], limits: bool) -> Vec<String> {
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
                Some(k) if seen_by_limits(k) != limits => {
                    if limits {
                        "; `ratecheck probe` checks it"
                    } else {
                        "; `ratecheck limits` checks it"
                    }
                }
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
        use FindingKind::{
            ConcurrentOverAdmission, LitellmV3PlainDictDrop, LitellmV3StreamingDrop,
            RefusalCharged, RetryAdviceMissing, SlotKept, TokensNotCharged,
        };
        let kinds = |v: &str| -> Vec<Option<FindingKind>> {
            defects_of(v).iter().map(|d| d.kind).collect()
        };
        assert_eq!(
            kinds("1.80.0"),
            [
                LitellmV3StreamingDrop,
                LitellmV3PlainDictDrop,
                RefusalCharged,
                RetryAdviceMissing,
                TokensNotCharged,
                SlotKept,
                ConcurrentOverAdmission
            ]
            .map(Some)
        );
        assert_eq!(
            kinds("1.90.0"),
            [
                LitellmV3StreamingDrop,
                LitellmV3PlainDictDrop,
                RefusalCharged,
                RetryAdviceMissing
            ]
            .map(Some)
        );
        assert_eq!(
            kinds("1.106.12"),
            [LitellmV3StreamingDrop, RefusalCharged, RetryAdviceMissing].map(Some)
        );
        assert_eq!(kinds("v1.110.2-stable"), kinds("1.106.12"));
        // 1.77.0: both drops, the legacy default, tokens uncharged, slots kept.
        assert_eq!(kinds("1.77.0").len(), 5);
        assert_eq!(kinds("1.107.0").len(), 4);
        assert!(defects_of("main").is_empty());
    }
}
