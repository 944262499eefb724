//! The `fleet` step: `ratecheck fleet`'s check over the instances the step lists, with the
//! scenario's key and connection settings, judged as one expectation: the fleet counts one
//! limit.

use std::time::Duration;

use super::ctx::Ctx;
use super::{Check, Planned, StepReport};
use crate::fleet::{self, FleetOptions, Rules, Watch};
use crate::scenario::FleetStep;
use crate::settings;
use crate::verdict::Finding;

/// Runs a `fleet` step into `report`.
pub(super) async fn run(
    ctx: &mut Ctx<'_>,
    f: &FleetStep,
    leaf: &Planned<'_>,
    report: &mut StepReport,
) {
    let model = ctx.model_for(leaf, f.model.as_deref(), &mut report.checks);
    let mut clients = Vec::new();
    let urls = f.instances.value.iter().map(Some).chain([f.via.as_ref()]);
    for url in urls.flatten() {
        let url = ctx.expand(url, "instances", &mut report.checks);
        match ctx.client.at(&url) {
            Ok(c) => clients.push(c),
            Err(e) => {
                report.checks.push(Check::new(
                    "every instance is a base URL",
                    false,
                    "http(s)://host[:port][/path]",
                    format!("`{url}`: {e:#}"),
                ));
                return;
            }
        }
    }
    let via = f.via.is_some().then(|| clients.pop()).flatten();
    let opts = FleetOptions {
        model,
        max_requests: f
            .max_requests
            .unwrap_or_else(|| settings::FLEET_MAX_REQUESTS.default_int()),
        rules: rules(f.window.map(|d| d.0), f.tolerance.map(|d| d.0)),
        watch: f.watch.as_ref().map(|d| Watch {
            duration: d.0,
            every: f.every.map(|e| e.0),
        }),
        stop: ctx.stop.clone(),
    };
    let r = fleet::check(&clients, via.as_ref(), &opts, &mut |_| {}).await;
    let found: Vec<String> = r
        .findings
        .iter()
        .chain(r.warnings.iter().filter(|_| ctx.strict))
        .map(Finding::summary)
        .collect();
    match &r.header {
        Some(header) => report.checks.push(Check::new(
            "the instances count one limit",
            found.is_empty(),
            "no fleet finding",
            if found.is_empty() {
                format!(
                    "`{header}` followed over {} answers, none found",
                    r.answers.len()
                )
            } else {
                found.join(" | ")
            },
        )),
        None if r.aborted.is_none() => report.checks.push(Check::new(
            "the instances send a counter to follow",
            false,
            "an exact-window `remaining` of requests (LiteLLM's `x-ratelimit-{descriptor}-remaining-requests`)",
            "none on any answer",
        )),
        None => {}
    }
    report
        .notes
        .extend(r.changes.iter().map(fleet::Change::summary));
    report.notes.extend(r.notes);
    report.findings = r.findings;
    report.warnings = r.warnings;
    report.stopped = r.aborted;
}

/// How a fleet's answers are judged: the window and tolerance given, else their defaults.
pub fn rules(window: Option<Duration>, tolerance: Option<Duration>) -> Rules {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    Rules {
        window_ms: ms(window.unwrap_or_else(|| settings::FLEET_WINDOW.default_duration())),
        tolerance_ms: ms(tolerance.unwrap_or_else(|| settings::FLEET_TOLERANCE.default_duration())),
    }
}
