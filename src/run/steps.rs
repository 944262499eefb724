//! Running one leaf step: `probe` and `request` here, `exhaust`, `load` and `fleet` in their
//! own modules.

use std::time::Instant;

use super::ctx::{Ctx, variant};
use super::expect::{header_checks, probe_checks, stream_checks};
use super::{Check, Planned, StepReport};
use crate::endpoint::{Endpoint, Variant};
use crate::http::{Exchange, ms};
use crate::probe::{self, ProbeOptions};
use crate::scenario::{RequestStep, Step};
use crate::verdict::FailureKind;

/// Runs one leaf step.
pub(super) async fn run(ctx: &mut Ctx<'_>, leaf: &Planned<'_>) -> StepReport {
    let start = Instant::now();
    let mut report = StepReport {
        position: leaf.position.clone(),
        kind: leaf.step.kind(),
        name: String::new(),
        checks: Vec::new(),
        exchanges: Vec::new(),
        findings: Vec::new(),
        warnings: Vec::new(),
        notes: Vec::new(),
        stopped: None,
        wall_ms: 0.0,
    };
    let b = &leaf.bindings;
    match leaf.step {
        Step::Probe(p) => {
            report.name = ctx.name(p.name.as_deref(), "probe", b, &mut report.checks);
            let opts = ProbeOptions {
                endpoints: p
                    .endpoints
                    .clone()
                    .or_else(|| leaf.bindings.endpoint.map(|e| vec![e]))
                    .unwrap_or_else(|| Endpoint::ALL.to_vec()),
                model: Some(ctx.model_for(leaf, None, &mut report.checks)),
                embedding_model: Some(ctx.embedding_model.clone()),
                repeat: p.repeat.unwrap_or(1),
                counters: ctx.counters,
                strict: ctx.strict,
                stop: ctx.stop.clone(),
            };
            let probed = probe::probe(ctx.client, &opts, &mut |_| {}).await;
            report.checks.extend(probe_checks(&probed, &p.expect));
            report.notes.extend(probed.notes.iter().cloned());
            report.notes.extend(
                probed
                    .warnings
                    .iter()
                    .map(|w| format!("warning: {}", w.summary())),
            );
            unchecked(ctx.strict, &probed.unchecked, &mut report);
            // An outage has checked nothing: the step fails and the scenario ends with the
            // probe's own verdict, not a pass over zero successful responses.
            if let Some(abort) = probed.aborted {
                if abort.failure.kind == FailureKind::ServerError {
                    report.checks.push(Check::new(
                        "the gateway answered something to check",
                        false,
                        "at least one response that is not a server error",
                        abort.failure.message.clone(),
                    ));
                }
                report.stopped = Some(abort);
            }
            report.findings = probed.findings;
            report.warnings = probed.warnings;
            report.exchanges = probed.exchanges;
        }
        Step::Request(r) => {
            let variant = variant(r.endpoint, r.stream, leaf);
            let default = format!("{variant} request");
            report.name = ctx.name(r.name.as_deref(), &default, b, &mut report.checks);
            let ex = request(ctx, r, variant, leaf, &mut report.checks).await;
            judge_request(ctx, r, &ex, &mut report.checks);
            report.exchanges.push(ex);
        }
        Step::Exhaust(x) => {
            let variant = variant(x.endpoint, x.stream, leaf);
            let default = format!("exhaust the limit with {variant} requests");
            report.name = ctx.name(x.name.as_deref(), &default, b, &mut report.checks);
            let model = ctx.model_for(leaf, x.model.as_deref(), &mut report.checks);
            super::exhaust::run(ctx, x, variant, &model, &mut report).await;
        }
        Step::Load(ld) => {
            let default = "load".to_string();
            report.name = ctx.name(ld.name.as_deref(), &default, b, &mut report.checks);
            super::loadstep::run(ctx, ld, leaf, &mut report).await;
        }
        Step::Fleet(f) => {
            let default = format!("one limit across {} instances", f.instances.value.len());
            report.name = ctx.name(f.name.as_deref(), &default, b, &mut report.checks);
            super::fleetstep::run(ctx, f, leaf, &mut report).await;
        }
        Step::Limits(l) => {
            let default = "the limiter does what its headers say".to_string();
            report.name = ctx.name(l.name.as_deref(), &default, b, &mut report.checks);
            super::limitsstep::run(ctx, l, leaf, &mut report).await;
        }
        Step::Repeat(_) | Step::ForEach(_) => {}
    }
    report.wall_ms = ms(start.elapsed());
    report
}

/// A shape never seen passed every header check vacuously: strict scenarios fail it, the
/// others say so in the step's notes.
fn unchecked(strict: bool, unchecked: &[probe::analyze::Unchecked], report: &mut StepReport) {
    for u in unchecked {
        if strict {
            report.checks.push(Check::new(
                "every response shape asked for was seen",
                false,
                "at least one successful answer of each shape (strict)",
                format!("{} never checked: {}", u.shape, u.why),
            ));
        } else {
            report
                .notes
                .push(format!("never checked: {}: {}", u.shape, u.why));
        }
    }
}

async fn request(
    ctx: &mut Ctx<'_>,
    r: &RequestStep,
    variant: Variant,
    leaf: &Planned<'_>,
    checks: &mut Vec<Check>,
) -> Exchange {
    let model = ctx.model_for(leaf, r.model.as_deref(), checks);
    let headers: Vec<(String, String)> = r
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let req = ctx.build(variant, &model, r.body.as_ref(), &headers, checks);
    ctx.client.send(&req).await
}

/// Every check of a `request` step, and its captures.
fn judge_request(ctx: &mut Ctx<'_>, r: &RequestStep, ex: &Exchange, checks: &mut Vec<Check>) {
    if let Some(f) = &ex.failure {
        checks.push(Check::new(
            "a complete response arrives",
            false,
            "a complete response",
            f.message.clone(),
        ));
    }
    let status = ex
        .status
        .map_or("no response".to_string(), |s| s.to_string());
    match r.expect.status {
        Some(want) => checks.push(Check::new(
            format!("status is {want}"),
            ex.status == Some(want),
            want.to_string(),
            status,
        )),
        None => checks.push(Check::new(
            "status is 2xx",
            ex.status.is_some_and(|s| (200..300).contains(&s)),
            "2xx",
            status,
        )),
    }
    checks.extend(header_checks(ex, &r.expect.headers, &ctx.vars));
    if let Some(rules) = &r.expect.stream {
        checks.extend(stream_checks(ex, rules));
    }
    for (var, header) in &r.capture {
        let name = header.to_ascii_lowercase();
        match ex.header(&name) {
            Some(v) => {
                ctx.vars.captured.insert(var.clone(), v.to_string());
            }
            None => checks.push(Check::new(
                format!("capture `{var}` from `{name}`"),
                false,
                format!("header `{name}` present"),
                "absent",
            )),
        }
    }
}
