//! The `load` step: `ratecheck load`'s engine, once per phase, judged by thresholds and by the
//! rate-limit truth findings.

use std::time::Duration;

use super::steps::Ctx;
use super::{Check, Planned, StepReport};
use crate::endpoint::{Endpoint, Mode};
use crate::load::backoff::Backoff;
use crate::load::{self, Arrival, LoadOptions, threshold};
use crate::scenario::LoadStep;

/// Runs a `load` step into `report`.
pub(super) async fn run(
    ctx: &mut Ctx<'_>,
    l: &LoadStep,
    leaf: &Planned<'_>,
    report: &mut StepReport,
) {
    let single = l.duration.map(|d| d.0).or(if l.requests.is_some() {
        None
    } else {
        Some(Duration::from_secs(10))
    });
    let phases: Vec<(Option<Duration>, Option<f64>, Option<usize>)> = match &l.phases {
        Some(p) => p
            .value
            .iter()
            .map(|ph| {
                (
                    Some(ph.duration.0),
                    ph.rate.or(l.rate),
                    ph.concurrency.or(l.concurrency),
                )
            })
            .collect(),
        None => vec![(single, l.rate, l.concurrency)],
    };
    let endpoints = l
        .endpoints
        .clone()
        .or_else(|| leaf.bindings.endpoint.map(|e| vec![e]))
        .unwrap_or_else(|| vec![Endpoint::Chat]);
    let fraction = l.stream_fraction.unwrap_or(match leaf.bindings.mode {
        Some(Mode::Streaming) => 1.0,
        _ => 0.0,
    });
    let model = ctx.model_for(leaf, None, &mut report.checks);
    let many = phases.len() > 1;
    for (i, (duration, rate, concurrency)) in phases.into_iter().enumerate() {
        let arrival = match (rate, concurrency) {
            (Some(rate), _) if l.poisson => Arrival::Poisson { rate },
            (Some(rate), _) => Arrival::Constant { rate },
            (None, Some(c)) => Arrival::Closed {
                concurrency: c.max(1),
            },
            (None, None) => Arrival::Closed { concurrency: 1 },
        };
        let backoff = Backoff {
            policy: l
                .backoff
                .unwrap_or(crate::load::backoff::Policy::FullJitter),
            max_retries: l.max_retries.unwrap_or(3),
            max_hint: l.max_wait.map_or(Duration::from_secs(120), |d| d.0),
            ..Backoff::default()
        };
        let opts = LoadOptions {
            arrival,
            max_in_flight: concurrency.filter(|_| rate.is_some()).unwrap_or(256),
            duration,
            requests: l.requests,
            mix: load::mix(&endpoints, fraction),
            model: model.clone(),
            embedding_model: ctx.embedding_model.clone(),
            max_tokens: l.max_tokens.unwrap_or(16),
            prompt_chars: l.prompt_chars.unwrap_or(16),
            backoff,
            pace: l.pace.unwrap_or(load::Pace::None),
            seed: 1 + i as u64,
            ..LoadOptions::default()
        };
        let prefix = if many {
            format!("phase {}: ", i + 1)
        } else {
            String::new()
        };
        let transport = load::Target::for_load(ctx.client.clone().lean(), &opts.arrival);
        let mut r = load::run(
            transport,
            opts,
            ctx.client.display_base(),
            std::future::pending(),
            &mut |_| {},
        )
        .await;
        let conditions: Vec<_> = l.expect.fail_if.iter().map(|f| f.0.clone()).collect();
        r.thresholds = threshold::evaluate(&r, &conditions);
        for t in &r.thresholds {
            report.checks.push(Check::new(
                format!("{prefix}`{}` does not hold", t.condition.expr),
                !t.failed,
                format!("not {}", t.condition.expr),
                format!("{} = {:.3}", t.condition.metric, t.actual),
            ));
        }
        if l.expect.no_findings {
            let found: Vec<String> = r
                .findings
                .iter()
                .map(super::expect::finding_summary)
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
            crate::report::load::summary_lines(&r)
                .into_iter()
                .map(|n| format!("{prefix}{n}")),
        );
        report
            .notes
            .extend(r.notes.iter().map(|n| format!("{prefix}{n}")));
        report.findings.extend(r.findings);
    }
}
