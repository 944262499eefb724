//! Rate-limit truth under load: findings from what the headers said against what the gateway
//! did. Pure functions of the collector's tallies.

use std::collections::BTreeMap;

use super::report::Truth;
use super::stats::{ErrorClass, ShapeTally};
use crate::endpoint::Variant;
use crate::http::Exchange;
use crate::probe::analyze;
use crate::probe::analyze::CounterMode;
use crate::verdict::{Finding, FindingClass, FindingKind};

/// A header counts as sent on a shape when at least this share of its responses carried it.
const ALWAYS: f64 = 0.99;

/// Everything found, and notes.
pub fn findings(
    shapes: &BTreeMap<Variant, ShapeTally>,
    samples: &[Exchange],
    truth: &Truth,
    errors: &BTreeMap<ErrorClass, u64>,
    max_in_flight: usize,
) -> (Vec<Finding>, Vec<String>) {
    let mut out = Vec::new();
    let mut notes = Vec::new();
    // The probe's per-response checks still hold on sampled exchanges under concurrency;
    // its counter and error checks need sequential sends, so their kinds are left out.
    let sampled = analyze::analyze(samples, CounterMode::Off);
    out.extend(
        sampled
            .findings
            .into_iter()
            .chain(sampled.warnings)
            .filter(|f| f.kind.info().sampled_under_load),
    );
    notes.extend(sampled.notes);
    missing_under_load(shapes, &mut out);
    // Motion of an exact window proves what it shows; of anything else, it only suggests.
    let exact = analyze::is_litellm(samples);
    let level = |f: Finding| if exact { f } else { f.warning() };

    if let Some(first) = truth.first_429 {
        let slack = i64::try_from(first.in_flight).unwrap_or(i64::MAX);
        // Responses without counters (streams, on some gateways) still used up the quota.
        let since = i64::try_from(first.accepted_since).unwrap_or(i64::MAX);
        match first.last_remaining {
            Some(r) if r.saturating_sub(since) > slack => out.push(level(Finding::new(
                FindingKind::EarlyThrottle,
                format!(
                    "the first 429 came {:.0} ms in while the last response still advertised {r} requests remaining ({since} accepted since, {} in flight): the advertised counter is not the one enforced",
                    first.at_ms, first.in_flight
                ),
            ))),
            Some(r) => notes.push(format!(
                "the first 429 came {:.0} ms in, after `remaining` reached {r} ({} in flight): the counter predicted it",
                first.at_ms, first.in_flight
            )),
            None => notes.push(format!(
                "the first 429 came {:.0} ms in; no response before it advertised `remaining`",
                first.at_ms
            )),
        }
    }
    if let Some(limit) = truth.limit_requests
        && truth.windows > 0
    {
        let slack = u64::try_from(max_in_flight).unwrap_or(u64::MAX);
        let most = truth.max_accepted_per_window;
        let limit_u = u64::try_from(limit.max(0)).unwrap_or(0);
        if most > limit_u.saturating_add(slack) {
            out.push(level(Finding::new(
                FindingKind::OverAdmission,
                format!("{most} requests were accepted in one window against an advertised limit of {limit}"),
            )));
        } else if let Some(summed) = truth.max_accepted_per_window_summed {
            // A split test: each shard counted its windows alone. The most one shard saw is
            // what the whole test accepted at least in one window; the shards' most, summed, at
            // most. Between the two, over-admission can be neither proven nor ruled out.
            if summed > limit_u.saturating_add(slack) {
                out.push(Finding::new(
                    FindingKind::OverAdmission,
                    format!(
                        "one shard accepted up to {most} requests in one window and the shards' busiest windows add up to {summed}, against an advertised limit of {limit}: whether the whole test went over in one window was not checked (each shard counts its windows alone)"
                    ),
                ).warning());
            } else {
                notes.push(format!(
                    "at most {summed} requests accepted per window across the shards (their busiest windows added; {} seen), advertised limit {limit}",
                    crate::words::counted(truth.windows, "window")
                ));
            }
        } else {
            notes.push(format!(
                "at most {most} requests accepted per window ({} seen), advertised limit {limit}",
                crate::words::counted(truth.windows, "window")
            ));
        }
    }
    let refused_again = truth.retries_after_hint - truth.retries_after_hint_accepted;
    if truth.retries_after_hint > 0 {
        if refused_again * 10 > truth.retries_after_hint {
            out.push(Finding::new(
                FindingKind::WaitTooShort,
                format!(
                    "{refused_again} of {} retries sent after the advertised wait were refused again: the advertised wait is too short",
                    truth.retries_after_hint
                ),
            ));
        } else {
            notes.push(format!(
                "{} of {} retries sent after the advertised wait were accepted",
                truth.retries_after_hint_accepted, truth.retries_after_hint
            ));
        }
    }
    if truth.throttles_without_hint > 0 {
        out.push(Finding::new(
            FindingKind::NoRetryHint,
            format!(
                "{} 429s carried no `retry-after`, `retry-after-ms`, `RateLimit` t or exhausted reset: clients can only guess how long to wait",
                truth.throttles_without_hint
            ),
        ));
    }
    if let Some(n) = errors.get(&ErrorClass::Unavailable503) {
        out.push(Finding::new(
            FindingKind::EndpointError,
            format!("{n} responses were 503: if these are throttling, clients treat them as an outage (a limit should answer 429)"),
        ));
    }
    (out, notes)
}

/// "streaming chat/completions: 0 of 512 responses carried `x-…`" for every header that one
/// shape always carries and another does not. A header the sampled analysis already named
/// missing on that shape (LiteLLM's drop) gets the tally added to that finding: one finding
/// per defect.
fn missing_under_load(shapes: &BTreeMap<Variant, ShapeTally>, out: &mut Vec<Finding>) {
    let share = |t: &ShapeTally, h: &str| {
        if t.responses == 0 {
            0.0
        } else {
            t.carried.get(h).copied().unwrap_or(0) as f64 / t.responses as f64
        }
    };
    let names: std::collections::BTreeSet<&String> =
        shapes.values().flat_map(|t| t.carried.keys()).collect();
    for (variant, tally) in shapes {
        let mut missing = Vec::new();
        let mut present_on = Vec::new();
        for name in &names {
            let always: Vec<String> = shapes
                .iter()
                .filter(|(v, t)| *v != variant && share(t, name) >= ALWAYS)
                .map(|(v, _)| v.to_string())
                .collect();
            if !always.is_empty() && share(tally, name) < ALWAYS {
                missing.push((
                    (*name).clone(),
                    tally.carried.get(*name).copied().unwrap_or(0),
                ));
                for a in always {
                    if !present_on.contains(&a) {
                        present_on.push(a);
                    }
                }
            }
        }
        if missing.is_empty() {
            continue;
        }
        let detail: Vec<String> = missing
            .iter()
            .map(|(n, c)| format!("{c} of {} carried `{n}`", tally.responses))
            .collect();
        let shape = variant.to_string();
        let named = out.iter_mut().find(|f| {
            f.kind.class() == FindingClass::Shape
                && f.missing_on.contains(&shape)
                && missing.iter().all(|(n, _)| f.headers.contains(n))
        });
        if let Some(f) = named {
            f.message
                .push_str(&format!("; under load, {shape}: {}", detail.join(", ")));
            continue;
        }
        let litellm = missing.iter().any(|(n, _)| {
            crate::headers::classify(n, "1")
                .is_some_and(|h| h.family == crate::headers::Family::LitellmDescriptor)
        });
        let mut f = Finding::new(
            FindingKind::MissingOnShape,
            format!(
                "{variant}: {} (always sent on {})",
                detail.join(", "),
                present_on.join(", ")
            ),
        );
        f.headers = missing.iter().map(|(n, _)| n.clone()).collect();
        f.present_on = present_on;
        f.missing_on = vec![shape];
        f.link = litellm.then(|| crate::headers::LITELLM_ISSUE_URL.into());
        out.push(f);
    }
}

/// More attempts failed (throttles aside) than the run allows: the finding that explains the
/// exit, with the classes that made it up.
pub fn failed_requests(
    errors: &BTreeMap<ErrorClass, u64>,
    attempts: u64,
    settings: &super::report::Settings,
) -> Option<Finding> {
    let failed: Vec<(ErrorClass, u64)> = errors
        .iter()
        .filter(|(c, _)| !c.is_throttle())
        .map(|(c, n)| (*c, *n))
        .collect();
    let total: u64 = failed.iter().map(|(_, n)| n).sum();
    let share = total as f64 / attempts.max(1) as f64;
    if attempts == 0 || share <= settings.max_error_rate {
        return None;
    }
    let parts: Vec<String> = failed
        .iter()
        .map(|(c, n)| format!("{} {n}", c.label()))
        .collect();
    Some(Finding::new(
        FindingKind::FailedRequests,
        format!(
            "{total} of {attempts} attempts ({:.0} %) failed ({}), above the allowed {:.0} % (`--max-error-rate`)",
            share * 100.0,
            parts.join(", "),
            settings.max_error_rate * 100.0
        ),
    ))
}
