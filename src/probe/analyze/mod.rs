//! Turning exchanges into findings: pure functions over recorded data.
//!
//! Four kinds of check, each independent of how the data was gathered so that tests can feed
//! hand-made exchanges: failures of single exchanges (here), malformed or inconsistent values
//! within one response (`values`), headers present on one shape and missing on another with the
//! LiteLLM v3 signature named when it matches (`shapes`), and counters that do not move the way
//! requests say they should (`counters`).

mod counters;
mod shapes;
#[cfg(test)]
mod tests;
mod values;

use std::collections::BTreeSet;

use serde::Serialize;

use crate::endpoint::Variant;
use crate::headers::{Family, LITELLM_VERSION};
use crate::http::{Exchange, FailureKind, Shape};

use super::Gateway;

/// The kind of a finding; stable names for JSON consumers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// LiteLLM's v3 limiter dropped its counters on streaming responses (#27748).
    LitellmV3StreamingDrop,
    /// LiteLLM's v3 limiter dropped its counters on plain-dict responses (#27748).
    LitellmV3PlainDictDrop,
    /// A rate-limit header present on one response shape is missing on another.
    MissingOnShape,
    /// A value does not parse in its dialect.
    MalformedValue,
    /// Values contradict each other (remaining above limit, limit not positive).
    InconsistentValue,
    /// A reset or wait is in the past or absurdly far away.
    ImplausibleReset,
    /// A remaining counter does not fall by one per request.
    CounterMismatch,
    /// An endpoint answered with an error status.
    EndpointError,
    /// A stream or body was cut, stalled or unreadable.
    BrokenResponse,
    /// A stream carried an error event.
    InStreamError,
    /// Under load: a 429 arrived while the advertised `remaining` was still well above zero.
    EarlyThrottle,
    /// Under load: more requests were accepted in one window than the advertised limit.
    OverAdmission,
    /// Under load: retries sent after the advertised wait were refused again.
    WaitTooShort,
    /// Under load: 429s that say nothing about when to retry.
    NoRetryHint,
}

impl FindingKind {
    /// The stable name used in JSON reports and scenario output.
    pub fn name(self) -> &'static str {
        match self {
            FindingKind::LitellmV3StreamingDrop => "litellm_v3_streaming_drop",
            FindingKind::LitellmV3PlainDictDrop => "litellm_v3_plain_dict_drop",
            FindingKind::MissingOnShape => "missing_on_shape",
            FindingKind::MalformedValue => "malformed_value",
            FindingKind::InconsistentValue => "inconsistent_value",
            FindingKind::ImplausibleReset => "implausible_reset",
            FindingKind::CounterMismatch => "counter_mismatch",
            FindingKind::EndpointError => "endpoint_error",
            FindingKind::BrokenResponse => "broken_response",
            FindingKind::InStreamError => "in_stream_error",
            FindingKind::EarlyThrottle => "early_throttle",
            FindingKind::OverAdmission => "over_admission",
            FindingKind::WaitTooShort => "wait_too_short",
            FindingKind::NoRetryHint => "no_retry_hint",
        }
    }
}

/// One problem, with the evidence for it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// What kind of problem.
    pub kind: FindingKind,
    /// The headers concerned, if any.
    pub headers: Vec<String>,
    /// One-line description.
    pub message: String,
    /// Where the header was present (`non-streaming chat/completions`, …).
    pub present_on: Vec<String>,
    /// Where it was missing.
    pub missing_on: Vec<String>,
    /// An upstream issue or documentation link.
    pub link: Option<String>,
}

impl Finding {
    /// A finding with only a kind and a message; callers add headers and places as they know them.
    pub(crate) fn new(kind: FindingKind, message: String) -> Self {
        Finding {
            kind,
            headers: Vec::new(),
            message,
            present_on: Vec::new(),
            missing_on: Vec::new(),
            link: None,
        }
    }
}

/// Reads the gateway's name and version from its headers.
pub fn fingerprint(exchanges: &[Exchange]) -> Gateway {
    let mut gw = Gateway::default();
    for ex in exchanges {
        if let Some(v) = ex.header(LITELLM_VERSION) {
            gw.name = Some("LiteLLM".into());
            gw.version = Some(v.to_string());
            return gw;
        }
        if ex
            .rate_headers
            .iter()
            .any(|h| matches!(h.family, Family::LitellmKeyLimit | Family::LitellmInfo))
        {
            gw.name = Some("LiteLLM".into());
        }
        if gw.name.is_none()
            && let Some(server) = ex.header("server")
        {
            gw.name = Some(server.to_string());
        }
    }
    gw
}

/// Runs every check; returns findings and notes.
pub fn analyze(exchanges: &[Exchange]) -> (Vec<Finding>, Vec<String>) {
    let mut findings = Vec::new();
    let mut notes = Vec::new();
    exchange_failures(exchanges, &mut findings);
    values::value_checks(exchanges, &mut findings);
    shapes::litellm_signature(exchanges, &mut findings, &mut notes);
    shapes::shape_comparison(exchanges, &mut findings);
    counters::counter_checks(exchanges, &mut findings, &mut notes);
    (findings, notes)
}

fn label(v: Variant) -> String {
    v.to_string()
}

fn exchange_failures(exchanges: &[Exchange], out: &mut Vec<Finding>) {
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
                FailureKind::StreamCut | FailureKind::BadBody | FailureKind::Timeout => {
                    out.push(Finding::new(
                        FindingKind::BrokenResponse,
                        format!("{at}: {}", f.message),
                    ));
                }
                // Connect and auth failures stop the probe and are reported as its abort.
                FailureKind::Connect | FailureKind::Auth => {}
            }
        }
        if ex.shape == Shape::Error && ex.failure.is_none() {
            let status = ex.status.unwrap_or_default();
            let what = if status == 429 {
                "was rate limited during the probe (429); wait for the window to pass, or use a key with more room"
            } else {
                "answered with an error"
            };
            let excerpt = ex
                .error_excerpt
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default();
            out.push(Finding::new(
                FindingKind::EndpointError,
                format!("{at} {what} (status {status}){excerpt}"),
            ));
        }
        if let Some(err) = ex.stream.as_ref().and_then(|s| s.error_event.as_ref()) {
            out.push(Finding::new(
                FindingKind::InStreamError,
                format!("{at}: the stream carried an error event after status 200: {err}"),
            ));
        }
    }
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
