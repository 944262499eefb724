//! `ratecheck run`: scenarios executed step by step into a [`RunReport`].
//!
//! `repeat` and `for_each` are unrolled into a flat plan before anything is sent, so the
//! driver is one loop over leaf steps (`probe`, `request`, `exhaust`), each producing one
//! [`StepReport`] of checks. Reporters only print the report; `exit` only reads it.

mod ctx;
mod exhaust;
mod expect;
mod fleetstep;
mod limitsstep;
mod loadstep;
mod steps;

pub use fleetstep::rules as fleet_rules;
use std::collections::HashMap;
use std::time::Instant;

use serde::Serialize;

use crate::baseline::{self, Baseline, Comparison};
use crate::endpoint::{Endpoint, Mode};
use crate::http::{Client, Exchange, ms};
use crate::probe::TOOL;
use crate::probe::analyze::CounterMode;
use crate::scenario::vars::Vars;
use crate::scenario::{Loaded, Step};
use crate::verdict::{self, Abort, Exit, Finding, Outcome};
use ctx::Ctx;

pub use expect::glob_match;

/// Version of the run report layout. Bumped only on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

/// Everything a run found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    /// Layout version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// `ratecheck` and its version.
    pub tool: String,
    /// Wall time of the whole run, in milliseconds.
    pub wall_ms: f64,
    /// One entry per scenario file, in command-line order.
    pub scenarios: Vec<ScenarioReport>,
    /// The header-contract comparison, when `--baseline` was given.
    pub baseline: Option<Comparison>,
    /// The exit code this report maps to.
    pub outcome: Outcome,
}

/// One scenario's results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScenarioReport {
    /// The scenario's name.
    pub name: String,
    /// The file it came from.
    pub file: String,
    /// What it checks, as written in the file.
    pub description: Option<String>,
    /// The target base URL, redacted.
    pub target: String,
    /// The model used.
    pub model: Option<String>,
    /// One entry per leaf step run, in order.
    pub steps: Vec<StepReport>,
    /// Set when the scenario stopped early; the steps after it did not run.
    pub aborted: Option<Abort>,
    /// Leaf steps planned but not run because of the abort or an interrupt.
    pub skipped_steps: usize,
    /// Ctrl-C stopped the scenario: the steps after the interrupted one did not run.
    pub interrupted: bool,
    /// Wall time, in milliseconds.
    pub wall_ms: f64,
}

impl ScenarioReport {
    /// Every check of every step.
    pub fn checks(&self) -> impl Iterator<Item = &Check> {
        self.steps.iter().flat_map(|s| s.checks.iter())
    }

    /// Checks that failed.
    pub fn failed(&self) -> usize {
        self.checks().filter(|c| !c.passed).count()
    }

    /// Every exchange of every step, in send order.
    pub fn exchanges(&self) -> impl Iterator<Item = &Exchange> {
        self.steps.iter().flat_map(|s| s.exchanges.iter())
    }

    /// The exit this scenario alone maps to: what stopped it, what broke on the way, and
    /// whether an expectation failed.
    pub fn exit(&self) -> Exit {
        let faults = self.aborted.iter().map(|a| a.exit).chain(
            self.exchanges()
                .filter_map(|e| e.failure.as_ref())
                .map(|f| f.kind.exit()),
        );
        verdict::decide(faults, self.failed() > 0)
    }
}

/// One leaf step's results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepReport {
    /// Position in the file: `2`, or `3.1.2` inside loops (step, then iteration, then inner step).
    pub position: String,
    /// `probe`, `request` or `exhaust`.
    pub kind: &'static str,
    /// The step's name, with loop values.
    pub name: String,
    /// Every expectation, passed or not.
    pub checks: Vec<Check>,
    /// Every request sent.
    pub exchanges: Vec<Exchange>,
    /// Probe or load findings: what the evidence proves.
    pub findings: Vec<Finding>,
    /// Probe or load warnings: suspicious, not proof.
    pub warnings: Vec<Finding>,
    /// Observations that are not failures (measured waits, headers on a 429, …).
    pub notes: Vec<String>,
    /// What ended the scenario at this step besides a failed exchange (a probe whose every
    /// answer was a server error). Reported as the scenario's `aborted`.
    #[serde(skip)]
    pub stopped: Option<Abort>,
    /// Wall time, in milliseconds.
    pub wall_ms: f64,
}

/// One expectation and how it went.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// What is checked, in one line.
    pub name: String,
    /// Whether it held.
    pub passed: bool,
    /// What was expected.
    pub expected: String,
    /// What was seen.
    pub actual: String,
}

impl Check {
    pub(crate) fn new(
        name: impl Into<String>,
        passed: bool,
        expected: impl Into<String>,
        actual: impl Into<String>,
    ) -> Self {
        Check {
            name: name.into(),
            passed,
            expected: expected.into(),
            actual: actual.into(),
        }
    }
}

impl RunReport {
    /// The report of a finished run, compared with `baseline` when one was given.
    pub fn new(
        scenarios: Vec<ScenarioReport>,
        baseline: Option<(&Baseline, &str)>,
        start: Instant,
    ) -> Self {
        let mut report = RunReport {
            schema_version: SCHEMA_VERSION,
            tool: TOOL.to_string(),
            wall_ms: 0.0,
            scenarios,
            baseline: None,
            outcome: Exit::Ok.into(),
        };
        report.baseline = baseline.map(|(b, file)| baseline::compare(b, &report.contract(), file));
        report.outcome = report.exit().into();
        report.wall_ms = ms(start.elapsed());
        report
    }

    /// The exit this report maps to.
    pub fn exit(&self) -> Exit {
        let scenarios = self.scenarios.iter().map(ScenarioReport::exit);
        let regressed = self
            .baseline
            .as_ref()
            .is_some_and(|b| !b.missing.is_empty());
        verdict::decide(scenarios, regressed)
    }

    /// The header contract this run observed, to save or to compare with a baseline.
    pub fn contract(&self) -> Baseline {
        baseline::record(
            self.scenarios.iter().flat_map(ScenarioReport::exchanges),
            self.scenarios.iter().map(|s| s.target.clone()),
        )
    }
}

/// Loop values a leaf step runs with.
#[derive(Debug, Clone, Default)]
pub(crate) struct Bindings {
    endpoint: Option<Endpoint>,
    mode: Option<Mode>,
    model: Option<String>,
    iteration: Option<u32>,
}

impl Bindings {
    fn vars(&self) -> HashMap<String, String> {
        let mut m = HashMap::new();
        if let Some(e) = self.endpoint {
            m.insert("endpoint".into(), e.name().to_string());
        }
        if let Some(mode) = self.mode {
            m.insert("shape".into(), mode.label().to_string());
            m.insert("stream".into(), (mode == Mode::Streaming).to_string());
        }
        if let Some(model) = &self.model {
            m.insert("model".into(), model.clone());
        }
        if let Some(i) = self.iteration {
            m.insert("iteration".into(), i.to_string());
        }
        m
    }

    /// `[streaming chat/completions, model m, #2]`, or empty outside loops; without the
    /// endpoint and shape when the step's name already says them.
    fn label(&self, with_variant: bool) -> String {
        let mut parts = Vec::new();
        match (
            self.mode.filter(|_| with_variant),
            self.endpoint.filter(|_| with_variant),
        ) {
            (Some(m), Some(e)) => parts.push(format!("{} {}", m.label(), e.name())),
            (Some(m), None) => parts.push(m.label().to_string()),
            (None, Some(e)) => parts.push(e.name().to_string()),
            (None, None) => {}
        }
        if let Some(model) = &self.model {
            parts.push(format!("model {model}"));
        }
        if let Some(i) = self.iteration {
            parts.push(format!("#{i}"));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!(" [{}]", parts.join(", "))
        }
    }
}

/// A leaf step with the loop values it runs with.
pub(crate) struct Planned<'a> {
    step: &'a Step,
    bindings: Bindings,
    position: String,
}

/// Unrolls `repeat` and `for_each` into leaf steps.
fn plan<'a>(
    steps: &'a [serde_saphyr::Spanned<Step>],
    bindings: &Bindings,
    prefix: &str,
    out: &mut Vec<Planned<'a>>,
) {
    for (i, s) in steps.iter().enumerate() {
        let position = format!("{prefix}{}", i + 1);
        match &s.value {
            Step::Repeat(r) => {
                for n in 1..=r.times.value {
                    let b = Bindings {
                        iteration: Some(n),
                        ..bindings.clone()
                    };
                    plan(&r.steps.value, &b, &format!("{position}.{n}."), out);
                }
            }
            Step::ForEach(f) => {
                let endpoints: Vec<Option<Endpoint>> = match &f.endpoints {
                    Some(list) => list.value.iter().copied().map(Some).collect(),
                    None => vec![bindings.endpoint],
                };
                let modes: Vec<Option<Mode>> = match &f.shapes {
                    Some(list) => list.value.iter().copied().map(Some).collect(),
                    None => vec![bindings.mode],
                };
                let models: Vec<Option<String>> = match &f.models {
                    Some(list) => list.value.iter().cloned().map(Some).collect(),
                    None => vec![bindings.model.clone()],
                };
                let mut n = 0;
                for e in &endpoints {
                    for m in &modes {
                        for model in &models {
                            n += 1;
                            let b = Bindings {
                                endpoint: *e,
                                mode: *m,
                                model: model.clone(),
                                iteration: bindings.iteration,
                            };
                            plan(&f.steps.value, &b, &format!("{position}.{n}."), out);
                        }
                    }
                }
            }
            leaf => out.push(Planned {
                step: leaf,
                bindings: bindings.clone(),
                position,
            }),
        }
    }
}

/// How many requests-bearing steps a scenario unrolls to (for `validate`).
pub fn leaf_steps(loaded: &Loaded) -> usize {
    let mut out = Vec::new();
    plan(
        &loaded.scenario.steps.value,
        &Bindings::default(),
        "",
        &mut out,
    );
    out.len()
}

/// Settings a scenario runs with, resolved from the file, the command line and the environment.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Model for generation endpoints, if the scenario or command line names one.
    pub model: Option<String>,
    /// Model for `/v1/embeddings`.
    pub embedding_model: Option<String>,
    /// How probe steps judge counter motion.
    pub counters: CounterMode,
    /// Warnings fail expectations too.
    pub strict: bool,
    /// Ctrl-C: the scenario stops between (or during) steps and reports what ran.
    pub stop: crate::stop::Stop,
    /// Where deliberate waits are announced (a countdown on a terminal).
    pub waiting: crate::wait::Waiting,
}

/// Runs one scenario against `client`; `on_step` is told of each step as it completes.
pub async fn run_scenario(
    loaded: &Loaded,
    client: &Client,
    resolved: &Resolved,
    on_step: &mut dyn FnMut(&StepReport),
) -> ScenarioReport {
    let start = Instant::now();
    let s = &loaded.scenario;
    let mut report = ScenarioReport {
        name: loaded.name(),
        file: loaded.path.display().to_string(),
        description: s.description.clone(),
        target: client.display_base(),
        model: resolved.model.clone(),
        steps: Vec::new(),
        aborted: None,
        skipped_steps: 0,
        interrupted: false,
        wall_ms: 0.0,
    };
    let mut leaves = Vec::new();
    plan(&s.steps.value, &Bindings::default(), "", &mut leaves);

    let model = match client.resolve_model(resolved.model.as_deref()).await {
        Ok(m) => m,
        Err(abort) => {
            report.aborted = Some(abort);
            report.skipped_steps = leaves.len();
            report.wall_ms = ms(start.elapsed());
            return report;
        }
    };
    report.model = Some(model.clone());
    let mut ctx = Ctx {
        client,
        counters: resolved.counters,
        strict: resolved.strict,
        stop: resolved.stop.clone(),
        waiting: resolved.waiting.clone(),
        embedding_model: resolved.embedding_model.clone().unwrap_or(model.clone()),
        model,
        vars: Vars::default(),
        seq: 0,
        secrets: Vec::new(),
    };
    ctx.vars.captured.insert("model".into(), ctx.model.clone());
    // The target as resolved (the file's, or `--target`), redacted: a `fleet` step's `via`.
    ctx.vars
        .captured
        .insert("target".into(), client.display_base());
    for (i, leaf) in leaves.iter().enumerate() {
        ctx.vars.loops = vec![leaf.bindings.vars()];
        let stop = resolved.stop.clone();
        let step = tokio::select! {
            step = steps::run(&mut ctx, leaf) => Some(step),
            () = stop.fired() => None,
        };
        let Some(mut step) = step else {
            report.interrupted = true;
            report.skipped_steps = leaves.len() - i;
            break;
        };
        redact_step(
            &mut step,
            &client.redactor().clone().with_secrets(ctx.secrets.clone()),
        );
        on_step(&step);
        let stop = step.stopped.take().or_else(|| {
            step.exchanges
                .iter()
                .filter_map(|e| e.failure.as_ref())
                .find(|f| f.kind.stops_run())
                .map(|f| client.abort(f.clone()))
        });
        report.steps.push(step);
        if let Some(abort) = stop {
            report.aborted = Some(abort);
            report.skipped_steps = leaves.len() - i - 1;
            break;
        }
    }
    report.wall_ms = ms(start.elapsed());
    report
}

/// Passes every text a step wrote through the client's redactor. Exchanges are redacted as
/// they are recorded; names, checks and notes can carry expanded variables (a scenario may
/// compare a header with `${SOME_TOKEN}`), so they are cleaned here, before any reporter sees
/// the step.
fn redact_step(step: &mut StepReport, r: &crate::redact::Redactor) {
    step.name = r.text(&step.name);
    for c in &mut step.checks {
        c.name = r.text(&c.name);
        c.expected = r.text(&c.expected);
        c.actual = r.text(&c.actual);
    }
    for n in &mut step.notes {
        *n = r.text(n);
    }
}
