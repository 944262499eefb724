//! `ratecheck triage`: the evidence for one redacted support bundle.
//!
//! It runs the probe (a short `--repeat`, so counters are seen to move), then the 429 contract
//! as an `exhaust` step through the scenario engine. `report::triage` writes the bundle from
//! this data; every value in it comes from reports that the client's redactor has already
//! cleaned.

use std::path::PathBuf;

use crate::http::Client;
use crate::probe::{ProbeOptions, ProbeReport, probe};
use crate::run::{Resolved, ScenarioReport, run_scenario};
use crate::scenario;
use crate::verdict::{self, Exit};

/// What triage does besides the probe.
#[derive(Debug, Clone)]
pub struct TriageOptions {
    /// The probe's settings (`repeat` defaults to 2 here).
    pub probe: ProbeOptions,
    /// Run the 429 contract check (it spends up to `exhaust_max` requests of the key's quota).
    pub check_429: bool,
    /// Requests sent before giving up on reaching the limit.
    pub exhaust_max: u32,
    /// Longest advertised wait honoured for the recovery check, in seconds.
    pub max_wait_secs: f64,
    /// Where the recovery check's wait is announced.
    pub waiting: crate::wait::Waiting,
}

/// The bundle's data, before rendering.
#[derive(Debug, Clone)]
pub struct Triage {
    /// The probe.
    pub probe: ProbeReport,
    /// The 429 contract run, when it was asked for and a model was known.
    pub contract: Option<ScenarioReport>,
    /// The 429 contract on every endpoint and shape (`ratecheck limits`' retry-advice check),
    /// when the 429 contract was asked for.
    pub per_endpoint: Option<crate::limits::LimitsReport>,
}

impl Triage {
    /// The exit this bundle maps to: the probe's, worsened by a failed 429 contract.
    pub fn exit(&self) -> Exit {
        let contract = self.contract.iter().map(ScenarioReport::exit);
        let per_endpoint = self
            .per_endpoint
            .iter()
            .map(crate::limits::LimitsReport::exit);
        verdict::decide(
            std::iter::once(self.probe.exit())
                .chain(contract)
                .chain(per_endpoint),
            false,
        )
    }
}

/// Runs the probe and the 429 contract check.
pub async fn triage(client: &Client, opts: &TriageOptions) -> Triage {
    let report = probe(client, &opts.probe, &mut |_| {}).await;
    let contract = match (
        &report.model,
        opts.check_429 && !report.interrupted,
        &report.aborted,
    ) {
        (Some(model), true, None) => {
            let text = format!(
                "name: 429 contract\nsteps:\n  - exhaust:\n      name: the limit answers 429 and says when to come back\n      endpoint: chat\n      max_requests: {}\n      if_not_reached: note\n      max_wait: {}s\n",
                opts.exhaust_max, opts.max_wait_secs
            );
            match scenario::parse(&PathBuf::from("(triage)"), text, true) {
                Ok(loaded) => {
                    let resolved = Resolved {
                        model: Some(model.clone()),
                        embedding_model: opts.probe.embedding_model.clone(),
                        counters: opts.probe.counters,
                        strict: opts.probe.strict,
                        stop: opts.probe.stop.clone(),
                        waiting: opts.waiting.clone(),
                    };
                    Some(run_scenario(&loaded, client, &resolved, &mut |_| {}).await)
                }
                Err(_) => None,
            }
        }
        _ => None,
    };
    // The same limit refused on every endpoint and shape: which 429s say when to retry.
    let per_endpoint = match (&report.model, &contract) {
        (Some(model), Some(c)) if c.aborted.is_none() && !opts.probe.stop.is_set() => {
            let limits = crate::limits::LimitsOptions {
                model: model.clone(),
                embedding_model: opts
                    .probe
                    .embedding_model
                    .clone()
                    .unwrap_or_else(|| model.clone()),
                endpoints: opts.probe.endpoints.clone(),
                checks: vec![crate::limits::CheckId::RetryAdvice],
                max_requests: opts.exhaust_max + 30,
                max_wait: std::time::Duration::from_secs_f64(opts.max_wait_secs),
                max_parallel: None,
                settle: std::time::Duration::from_millis(300),
                hold_tokens: 400,
                strict: opts.probe.strict,
                stop: opts.probe.stop.clone(),
                waiting: opts.waiting.clone(),
            };
            Some(crate::limits::run(client, None, &limits, &mut |_| {}).await)
        }
        _ => None,
    };
    Triage {
        probe: report,
        contract,
        per_endpoint,
    }
}
