//! The `load` step: `ratecheck load`'s engine, once per phase, judged by thresholds and by the
//! rate-limit truth findings.

use super::ctx::Ctx;
use super::{Check, Planned, StepReport};
use crate::endpoint::Mode;
use crate::load::{self, LoadReport, LoadSpec, SpecError};
use crate::scenario::LoadStep;
use crate::verdict::Finding;

/// The spec of each phase, in order: a step without phases is one phase.
fn phase_specs(ctx: &Ctx<'_>, l: &LoadStep, leaf: &Planned<'_>) -> Vec<LoadSpec> {
    let base = LoadSpec {
        rate: l.rate,
        poisson: l.poisson,
        concurrency: l.concurrency,
        duration: l.duration.map(|d| d.0),
        requests: l.requests,
        endpoints: l
            .endpoints
            .clone()
            .or_else(|| leaf.bindings.endpoint.map(|e| vec![e])),
        // A `for_each` over shapes streams every request of its streaming iteration.
        stream_fraction: l.stream_fraction.or(match leaf.bindings.mode {
            Some(Mode::Streaming) => Some(1.0),
            _ => None,
        }),
        max_tokens: l.max_tokens,
        prompt_chars: l.prompt_chars,
        backoff: l.backoff,
        max_retries: l.max_retries,
        backoff_base: l.backoff_base.map(|d| d.0),
        backoff_cap: l.backoff_cap.map(|d| d.0),
        retry_budget: l.retry_budget,
        max_wait: l.max_wait.map(|d| d.0),
        max_error_rate: l.max_error_rate,
        grace: l.grace.map(|d| d.0),
        pace: l.pace,
        fail_if: l.expect.fail_if.iter().map(|f| f.0.clone()).collect(),
        strict: ctx.strict,
        segment: l.segment,
        ..LoadSpec::default()
    };
    let seed = l.seed.unwrap_or(1);
    match &l.phases {
        None => vec![LoadSpec {
            seed: Some(seed),
            ..base
        }],
        Some(p) => p
            .value
            .iter()
            .zip(seed..)
            .map(|(ph, seed)| LoadSpec {
                duration: Some(ph.duration.0),
                rate: ph.rate.or(l.rate),
                concurrency: ph.concurrency.or(l.concurrency),
                seed: Some(seed),
                ..base.clone()
            })
            .collect(),
    }
}

/// Runs a `load` step into `report`.
pub(super) async fn run(
    ctx: &mut Ctx<'_>,
    l: &LoadStep,
    leaf: &Planned<'_>,
    report: &mut StepReport,
) {
    let model = ctx.model_for(leaf, None, &mut report.checks);
    let specs = phase_specs(ctx, l, leaf);
    let many = specs.len() > 1;
    for (i, spec) in specs.into_iter().enumerate() {
        let prefix = if many {
            format!("phase {}: ", i + 1)
        } else {
            String::new()
        };
        let opts = match spec.resolve(model.clone(), Some(ctx.embedding_model.clone())) {
            Ok(o) => o,
            Err(e) => {
                report.checks.push(Check::new(
                    format!("{prefix}the load settings can run"),
                    false,
                    "a rate or a concurrency, each value in range",
                    match e {
                        SpecError::NoArrival => "neither `rate` nor `concurrency`".to_string(),
                        SpecError::Field { field, problem } => format!("`{field}` {problem}"),
                    },
                ));
                continue;
            }
        };
        let transport = load::Target::for_load(ctx.client.clone().lean());
        let r = load::run(
            transport,
            opts,
            ctx.client.display_base(),
            std::future::pending(),
            &mut |_| {},
        )
        .await
        .report();
        judge(&r, l.expect.no_findings, &prefix, report);
    }
}

/// The step's checks and notes from one phase's report.
fn judge(r: &LoadReport, no_findings: bool, prefix: &str, report: &mut StepReport) {
    for t in &r.thresholds {
        report.checks.push(Check::new(
            format!("{prefix}`{}` does not hold", t.condition.expr),
            !t.failed,
            format!("not {}", t.condition.expr),
            format!("{} = {:.3}", t.condition.metric, t.actual),
        ));
    }
    if no_findings {
        let strict = r.strict;
        let found: Vec<String> = r
            .findings
            .iter()
            .chain(r.warnings.iter().filter(|_| strict))
            .map(Finding::summary)
            .collect();
        report.checks.push(Check::new(
            format!("{prefix}the rate-limit headers tell the truth under load"),
            found.is_empty(),
            "no finding",
            if found.is_empty() {
                "none found".to_string()
            } else {
                found.join(" | ")
            },
        ));
    }
    if r.requests.succeeded == 0 {
        report.checks.push(Check::new(
            format!("{prefix}some requests succeed"),
            false,
            "at least one 2xx",
            format!(
                "{} sent, none succeeded: {:?}",
                r.requests.logical, r.errors
            ),
        ));
    }
    report.notes.extend(
        r.summary_lines()
            .into_iter()
            .map(|n| format!("{prefix}{n}")),
    );
    report
        .notes
        .extend(r.notes.iter().map(|n| format!("{prefix}{n}")));
    report.findings.extend(r.findings.iter().cloned());
    report.warnings.extend(r.warnings.iter().cloned());
    report.notes.extend(
        r.warnings
            .iter()
            .map(|w| format!("{prefix}warning: {}", w.summary())),
    );
}
