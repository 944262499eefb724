//! The `limits` step: `ratecheck limits`'s checks with the scenario's key and connection
//! settings, one expectation per check: no defect on any endpoint and shape (no warning either,
//! when strict).

use super::ctx::Ctx;
use super::{Check, Planned, StepReport};
use crate::endpoint::Endpoint;
use crate::limits::{self, CheckId, LimitsOptions, Status};
use crate::scenario::LimitsStep;
use crate::settings;

/// Runs a `limits` step into `report`.
pub(super) async fn run(
    ctx: &mut Ctx<'_>,
    l: &LimitsStep,
    leaf: &Planned<'_>,
    report: &mut StepReport,
) {
    let model = ctx.model_for(leaf, l.model.as_deref(), &mut report.checks);
    let checks: Vec<CheckId> = match &l.checks {
        Some(list) => list.value.iter().filter_map(|c| c.parse().ok()).collect(),
        None => CheckId::ALL.to_vec(),
    };
    let Ok(second) = second_key(ctx, l, report) else {
        return;
    };
    // Both keys are secrets of every report.
    let main = match &second {
        Some(s) => ctx.client.clone().knowing(s.key().map(str::to_string)),
        None => ctx.client.clone(),
    };
    let opts = LimitsOptions {
        embedding_model: ctx.embedding_model.clone(),
        model,
        endpoints: l
            .endpoints
            .clone()
            .unwrap_or_else(|| Endpoint::ALL.to_vec()),
        checks: checks.clone(),
        max_requests: l
            .max_requests
            .unwrap_or_else(|| settings::LIMITS_MAX_REQUESTS.default_int()),
        max_wait: l
            .max_wait
            .map_or_else(|| settings::LIMITS_MAX_WAIT.default_duration(), |d| d.0),
        max_parallel: l.max_parallel,
        settle: l
            .settle
            .map_or_else(|| settings::LIMITS_SETTLE.default_duration(), |d| d.0),
        hold_tokens: l
            .hold_tokens
            .unwrap_or_else(|| settings::LIMITS_HOLD_TOKENS.default_int()),
        strict: ctx.strict,
        stop: ctx.stop.clone(),
        waiting: ctx.waiting.clone(),
    };
    let r = limits::run(&main, second.as_ref(), &opts, &mut |_| {}).await;
    for check in checks {
        let cells: Vec<_> = r.cells.iter().filter(|c| c.check == check).collect();
        let failing: Vec<String> = cells
            .iter()
            .filter(|c| {
                c.status == Status::Defect || (ctx.strict && c.status == Status::Suspicious)
            })
            .map(|c| format!("{} on {}: {}", c.status.label(), c.variant, c.detail))
            .collect();
        let count = |s: Status| cells.iter().filter(|c| c.status == s).count();
        let actual = if failing.is_empty() {
            format!(
                "held on {}, suspicious on {}, not checked on {}",
                count(Status::Held),
                count(Status::Suspicious),
                count(Status::NotChecked)
            )
        } else {
            failing.join(" | ")
        };
        report.checks.push(Check::new(
            format!("{} on every endpoint and shape", check.title()),
            failing.is_empty(),
            "no defect",
            actual,
        ));
    }
    // What was not checked, each reason once with the cells it covers.
    let mut skipped: Vec<(CheckId, &str, Vec<String>)> = Vec::new();
    for c in r.cells.iter().filter(|c| c.status == Status::NotChecked) {
        match skipped
            .iter_mut()
            .find(|(k, why, _)| *k == c.check && *why == c.detail)
        {
            Some((_, _, on)) => on.push(c.variant.to_string()),
            None => skipped.push((c.check, &c.detail, vec![c.variant.to_string()])),
        }
    }
    let skipped: Vec<String> = skipped
        .into_iter()
        .map(|(check, why, on)| {
            format!("{} not checked on {}: {why}", check.title(), on.join(", "))
        })
        .collect();
    report.notes.extend(skipped);
    report.notes.extend(r.notes);
    report.findings = r.findings;
    report.warnings = r.warnings;
    report.stopped = r.aborted;
}

/// The client of the second key the step names, if it does and the variable is set; `Err`
/// when the key cannot be used (a check says why).
fn second_key(
    ctx: &Ctx<'_>,
    l: &LimitsStep,
    report: &mut StepReport,
) -> Result<Option<crate::http::Client>, ()> {
    let found = match (&l.concurrency_key_env, &l.concurrency_key_file) {
        (Some(var), _) => match std::env::var(var) {
            Ok(key) if !key.trim().is_empty() => Some((key.trim().to_string(), var.clone())),
            _ => {
                report.notes.push(format!(
                    "`{var}` is not set: the concurrency checks use the main key, if nothing caps its concurrency"
                ));
                None
            }
        },
        (None, Some(file)) => {
            let path = ctx.expand(file, "concurrency_key_file", &mut report.checks);
            match crate::config::api_key(&crate::config::KeySource::File(path.into())) {
                Ok(found) => found,
                Err(e) => {
                    report.checks.push(Check::new(
                        "the concurrency key can be read",
                        false,
                        "the key on the file's first line",
                        e.message,
                    ));
                    return Err(());
                }
            }
        }
        (None, None) => None,
    };
    let Some((key, source)) = found else {
        return Ok(None);
    };
    match ctx.client.with_key(key, source) {
        Ok(c) => Ok(Some(c)),
        Err(e) => {
            report.checks.push(Check::new(
                "the concurrency key can be used",
                false,
                "a client with the second key",
                format!("{e:#}"),
            ));
            Err(())
        }
    }
}
