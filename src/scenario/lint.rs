//! Checks a parsed scenario for what its types cannot say: empty step lists, zero repeats,
//! loops over nothing, bad capture names, and variables that nothing defines.
//!
//! Variables are checked in step order, so using a value before the step that captures it is
//! caught here rather than half-way through a run.

use std::collections::HashSet;

use serde_json::Value;
use serde_saphyr::Spanned;

use super::vars::references;
use super::{
    Dur, FleetStep, ForEachStep, LimitsStep, LoadStep, Loaded, RequestStep, ScenarioError, Step,
};
use crate::settings::{self, Setting};

/// Names every run defines.
const BUILTIN: [&str; 2] = ["model", "target"];

/// Checks `loaded`; `target_given` skips the `target` field, which `--target` replaces.
pub fn check(loaded: &Loaded, target_given: bool) -> Result<(), ScenarioError> {
    let mut l = Linter {
        loaded,
        defined: BUILTIN
            .iter()
            .map(std::string::ToString::to_string)
            .collect(),
    };
    let s = &loaded.scenario;
    if !target_given && let Some(t) = &s.target {
        l.text(&t.value, "target")?;
    }
    if let Some(f) = &s.auth.file {
        l.text(f, "auth.file")?;
    }
    for (what, v) in [
        ("defaults.model", &s.defaults.model),
        ("defaults.embedding_model", &s.defaults.embedding_model),
    ] {
        if let Some(v) = v {
            l.text(v, what)?;
        }
    }
    for v in s.defaults.headers.values() {
        l.text(v, "defaults.headers")?;
    }
    if let Some(f) = &s.defaults.cacert {
        l.text(f, "defaults.cacert")?;
    }
    for (setting, value) in [
        (&settings::TIMEOUT, &s.defaults.timeout),
        (&settings::MAX_TIME, &s.defaults.max_time),
    ] {
        if let Some(v) = value {
            l.keeps(setting, Some(v.value.0.as_secs_f64()), at(&v.referenced))?;
        }
    }
    l.steps(&s.steps, "steps")?;
    let leaves = count_leaves(&s.steps.value);
    if leaves > MAX_LEAVES {
        return Err(ScenarioError::at(
            &loaded.path.display().to_string(),
            &loaded.source,
            s.steps.referenced.line(),
            s.steps.referenced.column(),
            &format!(
                "the steps unroll to {leaves} requests-bearing steps; at most {MAX_LEAVES} (lower `repeat.times` or the `for_each` lists)"
            ),
        ));
    }
    Ok(())
}

/// A value's position in its file.
fn at(span: &serde_saphyr::Location) -> (u64, u64) {
    (span.line(), span.column())
}

/// A duration as the number a rule checks.
fn secs(d: Option<Dur>) -> Option<f64> {
    d.map(|d| d.0.as_secs_f64())
}

/// Most leaf steps a scenario may unroll to: loops multiply, and a typo in `times` must not
/// turn into billions of planned steps.
pub const MAX_LEAVES: u64 = 100_000;

/// Leaf steps after unrolling, counted without unrolling (saturating).
fn count_leaves(steps: &[Spanned<Step>]) -> u64 {
    steps
        .iter()
        .map(|s| match &s.value {
            Step::Repeat(r) => {
                u64::from(r.times.value).saturating_mul(count_leaves(&r.steps.value))
            }
            Step::ForEach(f) => {
                let n = |len: Option<usize>| len.map_or(1, |l| l as u64);
                n(f.endpoints.as_ref().map(|e| e.value.len()))
                    .saturating_mul(n(f.shapes.as_ref().map(|e| e.value.len())))
                    .saturating_mul(n(f.models.as_ref().map(|e| e.value.len())))
                    .saturating_mul(count_leaves(&f.steps.value))
            }
            _ => 1,
        })
        .fold(0u64, u64::saturating_add)
}

struct Linter<'a> {
    loaded: &'a Loaded,
    defined: HashSet<String>,
}

impl Linter<'_> {
    fn error_at(&self, line: u64, column: u64, message: impl AsRef<str>) -> ScenarioError {
        ScenarioError::at(
            &self.loaded.path.display().to_string(),
            &self.loaded.source,
            line,
            column,
            message.as_ref(),
        )
    }

    /// `value`, under `setting`'s scenario key, kept to the setting's rule: the flag's rule,
    /// in the flag's words.
    fn keeps(
        &self,
        setting: &Setting,
        value: Option<f64>,
        at: (u64, u64),
    ) -> Result<(), ScenarioError> {
        match value.and_then(|v| setting.scenario_problem(v)) {
            Some(problem) => Err(self.error_at(at.0, at.1, problem)),
            None => Ok(()),
        }
    }

    fn steps(
        &mut self,
        steps: &Spanned<Vec<Spanned<Step>>>,
        what: &str,
    ) -> Result<(), ScenarioError> {
        if steps.value.is_empty() {
            return Err(self.error_at(
                steps.referenced.line(),
                steps.referenced.column(),
                format!("`{what}` is empty: give at least one step"),
            ));
        }
        for step in &steps.value {
            self.step(step)?;
        }
        Ok(())
    }

    fn step(&mut self, step: &Spanned<Step>) -> Result<(), ScenarioError> {
        let at = (step.referenced.line(), step.referenced.column());
        match &step.value {
            Step::Probe(p) => {
                self.opt(p.name.as_ref(), "name")?;
                self.keeps(&settings::PROBE_REPEAT, p.repeat.map(f64::from), at)?;
                if p.endpoints.as_ref().is_some_and(Vec::is_empty) {
                    return Err(self.error_at(at.0, at.1, "`probe.endpoints` is empty"));
                }
            }
            Step::Request(r) => self.request_step(r, at)?,
            Step::Exhaust(x) => {
                self.opt(x.name.as_ref(), "name")?;
                self.opt(x.model.as_ref(), "model")?;
                self.keeps(&settings::EXHAUST_MAX, x.max_requests.map(f64::from), at)?;
                for rule in x.expect.headers.values() {
                    self.opt(rule.equals.as_ref(), "equals")?;
                }
            }
            Step::Load(ld) => self.load_step(ld, at)?,
            Step::Fleet(f) => self.fleet_step(f, at)?,
            Step::Limits(l) => self.limits_step(l, at)?,
            Step::Repeat(r) => {
                if r.times.value == 0 {
                    return Err(self.error_at(
                        r.times.referenced.line(),
                        r.times.referenced.column(),
                        "`repeat.times` must be at least 1",
                    ));
                }
                let added = self.define(&["iteration"]);
                self.steps(&r.steps, "repeat.steps")?;
                self.undefine(added);
            }
            Step::ForEach(f) => self.for_each_step(f, at)?,
        }
        Ok(())
    }

    /// A `limits` step: known checks, a budget that sends something.
    fn limits_step(&mut self, l: &LimitsStep, at: (u64, u64)) -> Result<(), ScenarioError> {
        self.opt(l.name.as_ref(), "name")?;
        self.opt(l.model.as_ref(), "model")?;
        if let Some(checks) = &l.checks {
            for c in &checks.value {
                if let Err(e) = c.parse::<crate::limits::CheckId>() {
                    return Err(self.error_at(
                        checks.referenced.line(),
                        checks.referenced.column(),
                        format!("`limits.checks`: {e}"),
                    ));
                }
            }
        }
        self.opt(l.concurrency_key_file.as_ref(), "concurrency_key_file")?;
        self.keeps(
            &settings::LIMITS_MAX_REQUESTS,
            l.max_requests.map(f64::from),
            at,
        )?;
        self.keeps(
            &settings::LIMITS_MAX_PARALLEL,
            l.max_parallel.map(|n| n as f64),
            at,
        )?;
        self.keeps(
            &settings::LIMITS_HOLD_TOKENS,
            l.hold_tokens.map(|n| n as f64),
            at,
        )?;
        Ok(())
    }

    /// A `fleet` step: two instances or more, expandable URLs, a watch that sends something.
    fn fleet_step(&mut self, f: &FleetStep, at: (u64, u64)) -> Result<(), ScenarioError> {
        self.opt(f.name.as_ref(), "name")?;
        self.opt(f.model.as_ref(), "model")?;
        self.opt(f.via.as_ref(), "via")?;
        for url in &f.instances.value {
            self.text(url, "instances")?;
        }
        if f.instances.value.len() < 2 {
            return Err(self.error_at(
                f.instances.referenced.line(),
                f.instances.referenced.column(),
                "`fleet.instances` needs two base URLs or more: one instance has no one to agree with",
            ));
        }
        self.keeps(
            &settings::FLEET_MAX_REQUESTS,
            f.max_requests.map(f64::from),
            at,
        )?;
        self.keeps(&settings::FLEET_WINDOW, secs(f.window), at)?;
        self.keeps(&settings::FLEET_WATCH, secs(f.watch), at)?;
        self.keeps(&settings::FLEET_EVERY, secs(f.every), at)?;
        if f.every.is_some() && f.watch.is_none() {
            return Err(self.error_at(
                at.0,
                at.1,
                "`fleet.every` paces a watch: set `watch` too, or drop `every`",
            ));
        }
        Ok(())
    }

    /// A `request` step: expandable texts, valid captures; captures are defined for the steps after it.
    fn request_step(&mut self, r: &RequestStep, at: (u64, u64)) -> Result<(), ScenarioError> {
        self.opt(r.name.as_ref(), "name")?;
        self.opt(r.model.as_ref(), "model")?;
        if let Some(b) = &r.body {
            self.json(b)?;
        }
        for v in r.headers.values() {
            self.text(v, "headers")?;
        }
        for rule in r.expect.headers.values() {
            self.opt(rule.equals.as_ref(), "equals")?;
        }
        for (var, header) in &r.capture {
            let valid = var
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid || header.trim().is_empty() {
                let (line, col) = self.find(var).unwrap_or(at);
                return Err(self.error_at(
                    line,
                    col,
                    format!("`capture: {{{var}: {header}}}` needs a variable name (letters, digits, `_`) and a header name"),
                ));
            }
        }
        // Captured names are defined for the steps after this one.
        self.defined.extend(r.capture.keys().cloned());
        Ok(())
    }

    /// A `load` step: something that says how to send, rates and shares in range.
    fn load_step(&self, ld: &LoadStep, at: (u64, u64)) -> Result<(), ScenarioError> {
        self.opt(ld.name.as_ref(), "name")?;
        let phases = ld.phases.as_ref();
        if let Some(p) = phases
            && p.value.is_empty()
        {
            return Err(self.error_at(
                p.referenced.line(),
                p.referenced.column(),
                "`load.phases` is empty",
            ));
        }
        let sends = |rate: Option<f64>, conc: Option<usize>| rate.is_some() || conc.is_some();
        let every_phase =
            phases.is_some_and(|p| p.value.iter().all(|ph| sends(ph.rate, ph.concurrency)));
        if !sends(ld.rate, ld.concurrency) && !every_phase {
            return Err(self.error_at(
                at.0,
                at.1,
                "`load` needs `rate` (open loop) or `concurrency` (closed loop), on the step or on every phase",
            ));
        }
        let phase_values = phases.iter().flat_map(|p| &p.value);
        for rate in phase_values.clone().map(|ph| ph.rate).chain([ld.rate]) {
            self.keeps(&settings::LOAD_RATE, rate, at)?;
        }
        for workers in phase_values
            .map(|ph| ph.concurrency)
            .chain([ld.concurrency])
        {
            self.keeps(&settings::LOAD_CONCURRENCY, workers.map(|n| n as f64), at)?;
        }
        for (setting, value) in [
            (&settings::LOAD_DURATION, secs(ld.duration)),
            (&settings::LOAD_REQUESTS, ld.requests.map(|n| n as f64)),
            (&settings::LOAD_STREAM_FRACTION, ld.stream_fraction),
            (&settings::LOAD_BACKOFF_BASE, secs(ld.backoff_base)),
            (&settings::LOAD_BACKOFF_CAP, secs(ld.backoff_cap)),
            (&settings::LOAD_RETRY_BUDGET, ld.retry_budget),
            (&settings::LOAD_MAX_ERROR_RATE, ld.max_error_rate),
        ] {
            self.keeps(setting, value, at)?;
        }
        Ok(())
    }

    /// A `for_each`: something to loop over, no empty list; its loop variables are defined inside.
    fn for_each_step(&mut self, f: &ForEachStep, at: (u64, u64)) -> Result<(), ScenarioError> {
        if f.endpoints.is_none() && f.shapes.is_none() && f.models.is_none() {
            return Err(self.error_at(
                at.0,
                at.1,
                "`for_each` needs `endpoints`, `shapes` or `models` to loop over",
            ));
        }
        let lists = [
            f.endpoints
                .as_ref()
                .map(|s| (s.value.is_empty(), &s.referenced, "endpoints")),
            f.shapes
                .as_ref()
                .map(|s| (s.value.is_empty(), &s.referenced, "shapes")),
            f.models
                .as_ref()
                .map(|s| (s.value.is_empty(), &s.referenced, "models")),
        ];
        for (empty, loc, name) in lists.into_iter().flatten() {
            if empty {
                return Err(self.error_at(
                    loc.line(),
                    loc.column(),
                    format!("`for_each.{name}` is empty: the steps would never run"),
                ));
            }
        }
        if let Some(models) = &f.models {
            for m in &models.value {
                self.text(m, "models")?;
            }
        }
        let added = self.define(&["endpoint", "shape", "stream"]);
        self.steps(&f.steps, "for_each.steps")?;
        self.undefine(added);
        Ok(())
    }

    fn define(&mut self, names: &[&str]) -> Vec<String> {
        names
            .iter()
            .filter(|n| self.defined.insert(n.to_string()))
            .map(std::string::ToString::to_string)
            .collect()
    }

    fn undefine(&mut self, added: Vec<String>) {
        for n in added {
            self.defined.remove(&n);
        }
    }

    fn opt(&self, v: Option<&String>, what: &str) -> Result<(), ScenarioError> {
        match v {
            Some(t) => self.text(t, what),
            None => Ok(()),
        }
    }

    fn json(&self, v: &Value) -> Result<(), ScenarioError> {
        match v {
            Value::String(s) => self.text(s, "body"),
            Value::Array(items) => items.iter().try_for_each(|i| self.json(i)),
            Value::Object(map) => map.values().try_for_each(|i| self.json(i)),
            _ => Ok(()),
        }
    }

    fn text(&self, text: &str, what: &str) -> Result<(), ScenarioError> {
        let refs = references(text).map_err(|why| {
            let (line, col) = self.find(text).unwrap_or((1, 1));
            self.error_at(line, col, format!("in `{what}`: {why}"))
        })?;
        for r in refs {
            if r.has_default
                || self.defined.contains(&r.name)
                || std::env::var_os(&r.name).is_some()
            {
                continue;
            }
            let (line, col) = self.find(&format!("${{{}", r.name)).unwrap_or((1, 1));
            return Err(self.error_at(
                line,
                col,
                format!(
                    "undefined variable `{}` in `{what}`: set it in the environment, capture it in an earlier step, or write `${{{}:-default}}`",
                    r.name, r.name
                ),
            ));
        }
        Ok(())
    }

    /// Line and column (from 1) of the first occurrence of `needle` in the source.
    fn find(&self, needle: &str) -> Option<(u64, u64)> {
        let src = &self.loaded.source;
        let at = src.find(needle)?;
        let before = &src[..at];
        let line = before.matches('\n').count() + 1;
        let col = before
            .rsplit('\n')
            .next()
            .unwrap_or_default()
            .chars()
            .count()
            + 1;
        Some((line as u64, col as u64))
    }
}
