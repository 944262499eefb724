//! Sending a fleet check: one key, requests spread over the instances, every answer kept.
//!
//! The first answer names the counter to follow (an exact-window `remaining` of requests, as
//! LiteLLM's limiter sends) and how much of the window is left. The check then sends, round
//! robin, until every instance has been refused twice or the budget is spent: `remaining`
//! more requests and two per instance, so that a fleet counting per instance shows both its
//! repeated values and its over-admission, and a healthy one shows its refusals on every
//! instance. Nothing is sent beyond `max_requests`.

use std::time::Instant;

use serde::Serialize;

use super::judge::{self, Rules, Sample};
use crate::endpoint::{Endpoint, Mode, Variant};
use crate::headers::{RateHeader, Role, Semantics};
use crate::http::{Client, Exchange, ms};
use crate::probe::analyze::is_litellm;
use crate::verdict::{self, Abort, Exit, Finding, Outcome};

/// Layout version of [`FleetReport`].
pub const SCHEMA_VERSION: u32 = 1;

/// What the check may spend and how it reads the answers.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    /// The model to ask for.
    pub model: String,
    /// The most requests sent, whatever the limit says.
    pub max_requests: u32,
    /// How the answers are judged.
    pub rules: Rules,
    /// Ctrl-C.
    pub stop: crate::stop::Stop,
}

/// The check's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetReport {
    /// Layout version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// `ratecheck` and its version.
    pub tool: String,
    /// The instances' base URLs, redacted, in the order given.
    pub instances: Vec<String>,
    /// The counter followed, if one was found.
    pub header: Option<String>,
    /// The limit the first answer advertised.
    pub limit: Option<u64>,
    /// Requests the check set out to send.
    pub planned: u32,
    /// Every answer, in send order: the timeline, and what was judged.
    pub answers: Vec<Sample>,
    /// Defects the answers prove.
    pub findings: Vec<Finding>,
    /// Suspicious, not proof.
    pub warnings: Vec<Finding>,
    /// What was consistent, and what could not be checked.
    pub notes: Vec<String>,
    /// Ctrl-C stopped the check.
    pub interrupted: bool,
    /// What stopped the check early, if anything.
    pub aborted: Option<Abort>,
    /// Wall time, in milliseconds.
    pub wall_ms: f64,
    /// The verdict.
    pub outcome: Outcome,
}

impl FleetReport {
    /// The exit this check maps to.
    pub fn exit(&self) -> Exit {
        verdict::decide(
            self.aborted.iter().map(|a| a.exit),
            !self.findings.is_empty(),
        )
    }
}

/// The exact-window counter of requests on `ex`, and its limit.
fn counter(ex: &Exchange) -> Option<(&RateHeader, Option<u64>)> {
    let litellm = is_litellm(std::slice::from_ref(ex));
    let h = ex.rate_headers.iter().find(|h| {
        h.role == Role::Remaining
            && !h.passthrough
            && h.unit.as_deref() == Some("requests")
            && Semantics::of(h, litellm) == Semantics::ExactWindow
    })?;
    let limit = ex
        .rate_headers
        .iter()
        .find(|l| l.role == Role::Limit && l.dimension() == h.dimension())
        .and_then(RateHeader::count)
        .and_then(|c| u64::try_from(c).ok());
    Some((h, limit))
}

/// Runs the check against `clients` (one per instance, in order).
pub async fn check(clients: &[Client], opts: &FleetOptions) -> FleetReport {
    let start = Instant::now();
    let variant = Variant {
        endpoint: Endpoint::Chat,
        mode: Mode::NonStreaming,
    };
    let mut report = FleetReport {
        schema_version: SCHEMA_VERSION,
        tool: crate::probe::TOOL.to_string(),
        instances: clients.iter().map(Client::display_base).collect(),
        header: None,
        limit: None,
        planned: 1,
        answers: Vec::new(),
        findings: Vec::new(),
        warnings: Vec::new(),
        notes: Vec::new(),
        interrupted: false,
        aborted: None,
        wall_ms: 0.0,
        outcome: Exit::Ok.into(),
    };
    let mut refusals = vec![0u32; clients.len()];
    let mut seq = 0u32;
    while seq < report.planned && !opts.stop.is_set() {
        let instance = seq as usize % clients.len().max(1);
        seq += 1;
        let sent = start.elapsed();
        let ex = tokio::select! {
            ex = clients[instance].exchange(variant, &opts.model, 1, seq) => ex,
            () = opts.stop.fired() => break,
        };
        let followed = report.header.clone();
        let (remaining, limit) = match (&followed, counter(&ex)) {
            (None, Some((h, limit))) => {
                // The first answer with the counter sets the plan: what is left, and two
                // refusals per instance.
                report.header = Some(h.name.clone());
                report.limit = limit;
                let left = h.count().and_then(|c| u32::try_from(c).ok()).unwrap_or(0);
                let wanted = seq + left + 2 * u32::try_from(clients.len()).unwrap_or(u32::MAX);
                report.planned = wanted.min(opts.max_requests.max(1));
                (h.count().and_then(|c| u64::try_from(c).ok()), limit)
            }
            (Some(name), _) => {
                let h = ex.rate_header(name);
                let limit = counter(&ex).and_then(|(_, l)| l);
                (
                    h.and_then(RateHeader::count)
                        .and_then(|c| u64::try_from(c).ok()),
                    limit,
                )
            }
            (None, None) => (None, None),
        };
        if ex.status == Some(429) {
            refusals[instance] += 1;
        }
        report.answers.push(Sample {
            seq,
            instance: instance + 1,
            at_ms: ms(sent),
            status: ex.status,
            remaining,
            limit,
            failure: ex.failure.as_ref().map(|f| f.message.clone()),
        });
        if let Some(f) = ex.failure.as_ref().filter(|f| f.kind.stops_run()) {
            report.aborted = Some(clients[instance].abort(f.clone()));
            break;
        }
        if report.header.is_none() && seq >= u32::try_from(clients.len()).unwrap_or(1) {
            // No instance sent a counter this check can follow.
            break;
        }
        if refusals.iter().all(|n| *n >= 2) {
            break;
        }
    }
    report.interrupted = opts.stop.is_set();
    conclude(&mut report, opts);
    report.wall_ms = ms(start.elapsed());
    report.outcome = report.exit().into();
    report
}

/// The verdict on what was gathered, or a note on why there was nothing to judge.
fn conclude(report: &mut FleetReport, opts: &FleetOptions) {
    let Some(header) = report.header.clone() else {
        if report.aborted.is_none() {
            report.notes.push(
                "no answer carried an exact-window counter of requests (LiteLLM's `x-ratelimit-{descriptor}-remaining-requests`): nothing to compare across the instances".into(),
            );
        }
        return;
    };
    let v = judge::judge(&header, &report.answers, opts.rules);
    let (findings, warnings) = verdict::by_level(v.findings);
    report.findings = findings;
    report.warnings = warnings;
    report.notes.extend(v.notes);
    if report.planned == opts.max_requests && !report.answers.iter().any(|s| s.status == Some(429))
    {
        report.notes.push(format!(
            "`--max-requests {}` stopped the check before any refusal: over-admission was not checked",
            opts.max_requests
        ));
    }
}
