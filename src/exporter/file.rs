//! The exporter's configuration file: its modules and the targets a probe module may send its
//! key to.
//!
//! A module is written as a scenario with one step: the step (`probe:` or `fleet:`, with the
//! options of `ratecheck probe` and `ratecheck fleet`), `auth` and `defaults` as a scenario
//! has them. The file is read with the scenario reader's machinery, so its errors name the
//! file, line and column, and an unknown key gets its "did you mean".
//!
//! ```yaml
//! targets: [http://litellm:4000]
//! modules:
//!   litellm:
//!     probe: {endpoints: [chat, messages]}
//!     auth: {env: LITELLM_MONITOR_KEY}
//!     defaults: {model: gpt-4o-mini, timeout: 10s}
//!   fleet:
//!     fleet: {instances: [http://10.0.0.1:4000, http://10.0.0.2:4000], window: 60s}
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::endpoint::Endpoint;
use crate::scenario::{Auth, Defaults, Dur, ScenarioError};
use crate::settings;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExporterFile {
    /// Base URLs a probe module may be pointed at; `--target` adds to them.
    #[serde(default)]
    pub targets: Vec<Spanned<String>>,
    /// The modules, by the name a scrape gives as `module=`.
    pub modules: Spanned<BTreeMap<String, Spanned<ModuleSpec>>>,
}

/// One module: one check, and how it connects.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleSpec {
    /// The probe's matrix on the scrape's target.
    pub probe: Option<ProbeCheck>,
    /// The fleet check over the instances listed.
    pub fleet: Option<FleetCheck>,
    /// Where the key comes from, as in a scenario.
    #[serde(default)]
    pub auth: Auth,
    /// Model, connection settings, declared rate-limit headers and counter judgement, as in
    /// a scenario's `defaults`.
    #[serde(default)]
    pub defaults: Defaults,
}

/// `probe:`: `ratecheck probe`'s selection.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeCheck {
    /// Endpoints to probe (default: all five).
    pub endpoints: Option<Vec<Endpoint>>,
    /// Rounds of the matrix (default 1).
    pub repeat: Option<Spanned<u32>>,
}

/// `fleet:`: `ratecheck fleet`'s options.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetCheck {
    /// Every instance's own base URL (at least two).
    pub instances: Spanned<Vec<String>>,
    /// The load balancer in front of them, taking its turn in the rotation.
    pub via: Option<String>,
    /// The most requests one check sends (default 100).
    pub max_requests: Option<Spanned<u32>>,
    /// The limiter's window (default 60s).
    pub window: Option<Spanned<Dur>>,
    /// How long one instance may still refuse after another admitted (default 2s).
    pub tolerance: Option<Dur>,
    /// Watch for this long instead of spending the window.
    pub watch: Option<Spanned<Dur>>,
    /// With `watch`: one request this often.
    pub every: Option<Spanned<Dur>>,
}

/// A file read and checked, with its text to locate what resolution finds later.
#[derive(Debug)]
pub struct Loaded {
    /// The file, as given.
    pub file: String,
    /// Its text.
    pub source: String,
    /// What it says.
    pub spec: ExporterFile,
}

impl Loaded {
    /// An error at a place in the file.
    pub fn error_at(&self, at: &serde_saphyr::Location, message: &str) -> ScenarioError {
        ScenarioError::at(&self.file, &self.source, at.line(), at.column(), message)
    }
}

/// Reads and checks the file.
pub fn read(path: &Path) -> Result<Loaded, ScenarioError> {
    let file = path.display().to_string();
    let source = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        file: file.clone(),
        line: 0,
        column: 0,
        message: format!("cannot read the exporter's configuration: {e}"),
        snippet: None,
        caret: 0,
    })?;
    parse(&file, source)
}

/// Parses and checks configuration text that came from `file`.
pub fn parse(file: &str, source: String) -> Result<Loaded, ScenarioError> {
    if source.trim().is_empty() {
        return Err(ScenarioError::at(
            file,
            &source,
            1,
            1,
            "the configuration is empty: it needs at least `modules:`",
        ));
    }
    let spec: ExporterFile = crate::scenario::from_yaml(file, &source)?;
    let loaded = Loaded {
        file: file.to_string(),
        source,
        spec,
    };
    check(&loaded)?;
    Ok(loaded)
}

/// What the types cannot say: one check per module, a fleet of two, values within their
/// settings' rules, URLs that are URLs.
fn check(l: &Loaded) -> Result<(), ScenarioError> {
    let modules = &l.spec.modules;
    if modules.value.is_empty() {
        return Err(l.error_at(
            &modules.referenced,
            "`modules` is empty: name at least one, e.g. `probe: {probe: {}}`",
        ));
    }
    for t in &l.spec.targets {
        url(l, &t.value, &t.referenced)?;
    }
    for (name, m) in &modules.value {
        let at = &m.referenced;
        match (&m.value.probe, &m.value.fleet) {
            (Some(p), None) => {
                if let Some(r) = &p.repeat {
                    rule(
                        l,
                        &settings::PROBE_REPEAT,
                        f64::from(r.value),
                        &r.referenced,
                    )?;
                }
            }
            (None, Some(f)) => fleet(l, f)?,
            _ => {
                return Err(l.error_at(
                    at,
                    &format!(
                        "module `{name}` must say one check: `probe: {{...}}` or `fleet: {{...}}`"
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn fleet(l: &Loaded, f: &FleetCheck) -> Result<(), ScenarioError> {
    if f.instances.value.len() < 2 {
        return Err(l.error_at(
            &f.instances.referenced,
            "`instances` needs every instance's own base URL, at least two",
        ));
    }
    for i in &f.instances.value {
        url(l, i, &f.instances.referenced)?;
    }
    if let Some(m) = &f.max_requests {
        rule(
            l,
            &settings::FLEET_MAX_REQUESTS,
            f64::from(m.value),
            &m.referenced,
        )?;
    }
    for (setting, d) in [
        (&settings::FLEET_WINDOW, &f.window),
        (&settings::FLEET_WATCH, &f.watch),
        (&settings::FLEET_EVERY, &f.every),
    ] {
        if let Some(d) = d {
            rule(l, setting, d.value.0.as_secs_f64(), &d.referenced)?;
        }
    }
    if let (Some(every), None) = (&f.every, &f.watch) {
        return Err(l.error_at(
            &every.referenced,
            "`every` paces a `watch`: add `watch: DURATION`",
        ));
    }
    Ok(())
}

/// A value checked by its setting's rule, said in the file's words.
fn rule(
    l: &Loaded,
    s: &settings::Setting,
    value: f64,
    at: &serde_saphyr::Location,
) -> Result<(), ScenarioError> {
    match s.rule.check_number(value) {
        Some(problem) => Err(l.error_at(at, &format!("`{}` {problem}", s.key_name()))),
        None => Ok(()),
    }
}

/// A base URL, or an error where it is written.
fn url(l: &Loaded, text: &str, at: &serde_saphyr::Location) -> Result<(), ScenarioError> {
    crate::http::normalize_base(text)
        .map(|_| ())
        .map_err(|why| l.error_at(at, &why))
}
