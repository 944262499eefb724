//! Turning exchanges into findings: pure functions over recorded data.
//!
//! Four kinds of check, each independent of how the data was gathered so that tests can feed
//! hand-made exchanges: failures of single exchanges (here), malformed or inconsistent values
//! within one response (`values`), headers present on one shape and missing on another with the
//! LiteLLM v3 signature named when it matches (`shapes`), and counters that do not move the way
//! requests say they should (`counters`). `identity` names the gateway and the provider behind
//! it from the same headers.

mod counters;
mod identity;
mod shapes;
#[cfg(test)]
mod tests;
mod values;
mod versions;

pub use counters::CounterMode;
pub use identity::fingerprint;
pub use versions::{KnownDefect, LITELLM_DEFECTS, defects_of, limiter_notes};

use std::collections::BTreeSet;

use crate::endpoint::{Mode, Variant};
use crate::headers::{Family, LITELLM_VERSION};
use crate::http::{Exchange, Shape};
use crate::verdict::{FailureKind, Finding, FindingKind, by_level};

/// What the checks found, split by the strength of the evidence.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Analysis {
    /// Proof of a defect.
    pub findings: Vec<Finding>,
    /// Suspicious, not proof.
    pub warnings: Vec<Finding>,
    /// Observations that are not problems.
    pub notes: Vec<String>,
    /// Response shapes asked for and never seen, each with why: nothing was checked on them.
    pub unchecked: Vec<Unchecked>,
}

/// A response shape asked for and never seen.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Unchecked {
    /// `non-streaming JSON` or `streaming (SSE)`.
    pub shape: String,
    /// What came back instead.
    pub why: String,
}

/// Runs every check, the counter checks by `counters`.
pub fn analyze(exchanges: &[Exchange], counters: CounterMode) -> Analysis {
    analyze_evidence(exchanges, counters, false)
}

/// As [`analyze`], on evidence that may hold less than the client received (`partial`: a
/// paste, an export taken mid-stream): a body that stops short proves nothing about the
/// gateway then, so it is a warning. An answer that broke the shape contract was read to
/// its end, and stays a finding.
pub fn analyze_evidence(exchanges: &[Exchange], counters: CounterMode, partial: bool) -> Analysis {
    let mut all = Vec::new();
    let mut notes = Vec::new();
    exchange_failures(exchanges, partial, &mut all);
    values::value_checks(exchanges, &mut all);
    shapes::presence(exchanges, &mut all, &mut notes);
    shapes::shape_comparison(exchanges, &mut all, &mut notes);
    counters::counter_checks(exchanges, counters, &mut all, &mut notes);
    notes.extend(versions::notes(exchanges, &all));
    let (findings, warnings) = by_level(all);
    Analysis {
        findings,
        warnings,
        notes,
        unchecked: unchecked(exchanges),
    }
}

/// The response shapes asked for that no answer showed: non-streaming JSON, and the SSE
/// stream. Every header check passes vacuously on a shape never seen, so each is said, with
/// what came back instead.
pub fn unchecked(exchanges: &[Exchange]) -> Vec<Unchecked> {
    let mut out = Vec::new();
    for (mode, shape_name, seen) in [
        (
            Mode::NonStreaming,
            "non-streaming JSON",
            &[Shape::JsonObject, Shape::PlainDict][..],
        ),
        (Mode::Streaming, "streaming (SSE)", &[Shape::Sse][..]),
    ] {
        let asked: Vec<&Exchange> = exchanges
            .iter()
            .filter(|e| e.variant.mode == mode)
            .collect();
        // A stream that carried an error event delivered no answer: its shape was not seen.
        let errored = |e: &Exchange| e.stream.as_ref().is_some_and(|s| s.error_event.is_some());
        if asked.is_empty()
            || asked
                .iter()
                .any(|e| e.failure.is_none() && !errored(e) && seen.contains(&e.shape))
        {
            continue;
        }
        let mut got = std::collections::BTreeMap::<String, usize>::new();
        for e in &asked {
            let what = match (e.status, &e.failure) {
                (Some(s), _) if !(200..300).contains(&s) => s.to_string(),
                (_, Some(f)) => f.kind.label().to_string(),
                (_, None) if errored(e) => "an error event in the stream".to_string(),
                (_, None) => e.shape.label().to_string(),
            };
            *got.entry(what).or_default() += 1;
        }
        let got: Vec<String> = got.iter().map(|(w, n)| format!("{w} ×{n}")).collect();
        let mode_name = mode.label();
        let none = match asked.len() {
            1 => format!("the one {mode_name} request did not get one"),
            n => format!("none of the {n} {mode_name} requests got one"),
        };
        out.push(Unchecked {
            shape: shape_name.to_string(),
            why: format!("{none} ({})", got.join(", ")),
        });
    }
    out
}

fn label(v: Variant) -> String {
    v.to_string()
}

/// Whether the responses come from LiteLLM: its version header, or its per-key limits.
pub(crate) fn is_litellm(exchanges: &[Exchange]) -> bool {
    exchanges
        .iter()
        .any(|e| e.header(LITELLM_VERSION).is_some() || has_family(e, Family::LitellmKeyLimit))
}

/// What an error answer was: the gateway's own refusal, or its upstream's failure.
fn error_finding(ex: &Exchange, at: &str) -> Finding {
    let status = ex.status.unwrap_or_default();
    let excerpt = ex.error_excerpt.as_deref().unwrap_or_default();
    let shown = if excerpt.is_empty() {
        String::new()
    } else {
        format!(": {excerpt}")
    };
    let gateway = ex
        .rate_headers
        .iter()
        .any(|h| h.name.starts_with("x-litellm-"))
        || excerpt.contains("litellm");
    if (300..400).contains(&status) {
        return Finding::new(
            FindingKind::Redirected,
            format!(
                "{at} answered {status} with a {excerpt}: not followed, since a client that follows it sends its key and body there (same-origin 307/308: `--follow-redirects`)"
            ),
        );
    }
    if status == 429
        && (excerpt.contains("No deployments available") || excerpt.contains("cooldown"))
    {
        return Finding::new(
            FindingKind::UpstreamError,
            format!(
                "{at} was refused by LiteLLM's router (status 429): no deployment available, the model is in cooldown after an upstream failure; the key's quota is not the cause{shown}"
            ),
        );
    }
    if status == 429 {
        return Finding::new(
            FindingKind::EndpointError,
            format!(
                "{at} was rate limited during the probe (429); wait for the window to pass, or use a key with more room{shown}"
            ),
        );
    }
    let exhausted = ex.rate_headers.iter().find(|h| h.exhausted());
    if status == 503
        && let Some(h) = exhausted
    {
        // A refusal for the limit sent as 503: clients retry 429s on the advice, and take a
        // 503 for an outage. Suspicious, not proof (503 is also the overload answer).
        return Finding::new(
            FindingKind::EndpointError,
            format!(
                "{at} answered 503 while its own `{}: 0` says the limit is exhausted: a rate-limit refusal should be 429, which clients retry on the advice; a 503 reads as an outage{shown}",
                h.name
            ),
        );
    }
    if gateway && (status == 404 || status >= 500) {
        return Finding::new(
            FindingKind::UpstreamError,
            format!(
                "{at}: the model behind the gateway failed (status {status}); the gateway still counted the request{shown}"
            ),
        );
    }
    Finding::new(
        FindingKind::EndpointError,
        format!("{at} answered with an error (status {status}){shown}"),
    )
}

fn exchange_failures(exchanges: &[Exchange], partial: bool, out: &mut Vec<Finding>) {
    if !exchanges.is_empty() && exchanges.iter().all(|e| e.shape == Shape::NotOffered) {
        out.push(Finding::new(
            FindingKind::EndpointError,
            "none of the probed endpoints is offered at this URL (all answered 404 or 405): is it the gateway's base URL?".into(),
        ));
    }
    for ex in exchanges {
        let at = format!("{} (request {})", label(ex.variant), ex.seq);
        if let Some(f) = &ex.failure {
            match f.kind {
                FailureKind::StreamCut | FailureKind::BadBody | FailureKind::Timeout if partial => {
                    out.push(
                        Finding::new(
                            FindingKind::BrokenResponse,
                            format!(
                                "{at}: {} (the evidence may stop short of what the client received: a paste or an export cut here reads the same)",
                                f.message
                            ),
                        )
                        .warning(),
                    );
                }
                FailureKind::StreamCut
                | FailureKind::BadBody
                | FailureKind::ShapeContract
                | FailureKind::Timeout => {
                    out.push(Finding::new(
                        FindingKind::BrokenResponse,
                        format!("{at}: {}", f.message),
                    ));
                }
                // Connect and auth failures stop the probe and are reported as its abort.
                FailureKind::Connect
                | FailureKind::Tls(_)
                | FailureKind::Auth
                | FailureKind::ServerError => {}
            }
        }
        if ex.shape == Shape::Error && ex.failure.is_none() {
            out.push(error_finding(ex, &at));
        }
        if ex.not_utf8 > 0 && ex.failure.is_none() {
            out.push(not_utf8(ex, &at));
        }
        if let Some(err) = ex.stream.as_ref().and_then(|s| s.error_event.as_ref()) {
            out.push(Finding::new(
                FindingKind::InStreamError,
                format!("{at}: the stream carried an error event after status 200: {err}"),
            ));
        }
    }
}

/// Bytes that are not UTF-8 in a stream's `data`: decoded as U+FFFD, the SSE standard's rule,
/// so the stream was read here; a client that decodes strictly (the openai SDK does) fails.
/// A JSON body with such bytes is not JSON at all and failed the shape contract instead.
fn not_utf8(ex: &Exchange, at: &str) -> Finding {
    let n = ex.not_utf8;
    Finding::new(
        FindingKind::BrokenResponse,
        format!(
            "{at}: {} of its stream {} not UTF-8: decoded with U+FFFD in their place as the SSE standard says, but a client that decodes strictly fails on them",
            crate::words::counted(n, "`data` line"),
            if n == 1 { "is" } else { "are" }
        ),
    )
    .warning()
}

fn has_family(ex: &Exchange, family: Family) -> bool {
    ex.rate_headers.iter().any(|h| h.family == family)
}

/// Distinct items in the order they first occur: variants and their labels are shown in send
/// order, as the matrix shows them.
pub(crate) fn first_occurrences<T: PartialEq>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

fn join(items: &BTreeSet<String>) -> String {
    items.iter().cloned().collect::<Vec<_>>().join(", ")
}
