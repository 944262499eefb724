//! Running leaf steps: `probe` and `request` here, `exhaust` in its own module.

use std::time::Instant;

use serde_json::Value;

use super::expect::{header_checks, probe_checks, stream_checks};
use super::{Check, Planned, StepReport};
use crate::endpoint::{Endpoint, Mode, Variant};
use crate::http::{Client, Exchange, Request, ms};
use crate::probe::{self, ProbeOptions};
use crate::scenario::vars::Vars;
use crate::scenario::{RequestStep, Step};

pub(crate) use crate::probe::hint_for;

/// What steps share while a scenario runs.
pub(crate) struct Ctx<'a> {
    pub client: &'a Client,
    pub model: String,
    pub embedding_model: String,
    pub vars: Vars,
    pub seq: u32,
}

impl Ctx<'_> {
    /// Runs one leaf step.
    pub async fn run(&mut self, leaf: &Planned<'_>) -> StepReport {
        let start = Instant::now();
        let mut report = StepReport {
            position: leaf.position.clone(),
            kind: leaf.step.kind(),
            name: String::new(),
            checks: Vec::new(),
            exchanges: Vec::new(),
            findings: Vec::new(),
            notes: Vec::new(),
            wall_ms: 0.0,
        };
        let b = &leaf.bindings;
        match leaf.step {
            Step::Probe(p) => {
                report.name = self.name(p.name.as_deref(), "probe", b, &mut report.checks);
                let opts = ProbeOptions {
                    endpoints: p
                        .endpoints
                        .clone()
                        .or_else(|| leaf.bindings.endpoint.map(|e| vec![e]))
                        .unwrap_or_else(|| Endpoint::ALL.to_vec()),
                    model: Some(self.model_for(leaf, None, &mut report.checks)),
                    embedding_model: Some(self.embedding_model.clone()),
                    repeat: p.repeat.unwrap_or(1),
                };
                let probed = probe::probe(self.client, &opts, &mut |_| {}).await;
                report.checks.extend(probe_checks(&probed, &p.expect));
                report.notes.extend(probed.notes.iter().cloned());
                report.findings = probed.findings;
                report.exchanges = probed.exchanges;
            }
            Step::Request(r) => {
                let variant = self.variant(r.endpoint, r.stream, leaf);
                let default = format!("{variant} request");
                report.name = self.name(r.name.as_deref(), &default, b, &mut report.checks);
                let ex = self.request(r, variant, leaf, &mut report.checks).await;
                self.judge_request(r, &ex, &mut report.checks);
                report.exchanges.push(ex);
            }
            Step::Exhaust(x) => {
                let variant = self.variant(x.endpoint, x.stream, leaf);
                let default = format!("exhaust the limit with {variant} requests");
                report.name = self.name(x.name.as_deref(), &default, b, &mut report.checks);
                let model = self.model_for(leaf, x.model.as_deref(), &mut report.checks);
                super::exhaust::run(self, x, variant, &model, &mut report).await;
            }
            Step::Load(ld) => {
                let default = "load".to_string();
                report.name = self.name(ld.name.as_deref(), &default, b, &mut report.checks);
                super::loadstep::run(self, ld, leaf, &mut report).await;
            }
            Step::Repeat(_) | Step::ForEach(_) => {}
        }
        report.wall_ms = ms(start.elapsed());
        report
    }

    /// The endpoint and shape a step asks for: its own, else its loop's, else chat non-streaming.
    pub fn variant(
        &self,
        e: Option<Endpoint>,
        stream: Option<bool>,
        leaf: &Planned<'_>,
    ) -> Variant {
        let endpoint = e.or(leaf.bindings.endpoint).unwrap_or(Endpoint::Chat);
        let mode = match stream {
            Some(true) => Mode::Streaming,
            Some(false) => Mode::NonStreaming,
            None => leaf.bindings.mode.unwrap_or(Mode::NonStreaming),
        };
        let mode = if endpoint.streams() {
            mode
        } else {
            Mode::NonStreaming
        };
        Variant { endpoint, mode }
    }

    /// A step's display name, with variables expanded and the loop values it does not already
    /// mention appended.
    fn name(
        &self,
        given: Option<&str>,
        default: &str,
        bindings: &super::Bindings,
        checks: &mut Vec<Check>,
    ) -> String {
        match given {
            Some(n) => {
                let label = bindings.label(!n.contains("${"));
                format!("{}{label}", self.expand(n, "name", checks))
            }
            None => format!("{default}{}", bindings.label(false)),
        }
    }

    /// Expands variables; an unset variable becomes a failed check (validation catches most).
    pub fn expand(&self, text: &str, what: &str, checks: &mut Vec<Check>) -> String {
        match self.vars.expand(text) {
            Ok(v) => v,
            Err(why) => {
                checks.push(Check::new(
                    format!("`{what}` expands"),
                    false,
                    "every variable set",
                    why,
                ));
                text.to_string()
            }
        }
    }

    /// The model a step uses: its own, else its loop's, else the scenario's.
    pub fn model_for(
        &self,
        leaf: &Planned<'_>,
        own: Option<&str>,
        checks: &mut Vec<Check>,
    ) -> String {
        match own {
            Some(m) => self.expand(m, "model", checks),
            None => leaf
                .bindings
                .model
                .as_deref()
                .map(|m| self.expand(m, "model", checks))
                .unwrap_or_else(|| self.model.clone()),
        }
    }

    /// The request a `request` or `exhaust` step sends.
    pub fn build(
        &mut self,
        variant: Variant,
        model: &str,
        body: Option<&Value>,
        headers: &[(String, String)],
        checks: &mut Vec<Check>,
    ) -> Request {
        let stream = variant.mode == Mode::Streaming;
        let model = if variant.endpoint == Endpoint::Embeddings && model == self.model {
            self.embedding_model.clone()
        } else {
            model.to_string()
        };
        let body = match body {
            Some(b) => {
                let mut b = match self.vars.expand_json(b) {
                    Ok(v) => v,
                    Err(why) => {
                        checks.push(Check::new(
                            "`body` expands",
                            false,
                            "every variable set",
                            why,
                        ));
                        b.clone()
                    }
                };
                if let Some(obj) = b.as_object_mut() {
                    obj.entry("model")
                        .or_insert_with(|| Value::String(model.clone()));
                    if stream {
                        obj.entry("stream").or_insert(Value::Bool(true));
                    }
                }
                b
            }
            None => variant.endpoint.body(&model, stream),
        };
        // Scenario-wide headers are already in the client's settings; these are the step's.
        let all = headers
            .iter()
            .map(|(n, v)| (n.clone(), self.expand(v, "headers", checks)))
            .collect();
        self.seq += 1;
        Request {
            variant,
            body,
            headers: all,
            raw_body: None,
            round: 1,
            seq: self.seq,
        }
    }

    async fn request(
        &mut self,
        r: &RequestStep,
        variant: Variant,
        leaf: &Planned<'_>,
        checks: &mut Vec<Check>,
    ) -> Exchange {
        let model = self.model_for(leaf, r.model.as_deref(), checks);
        let headers: Vec<(String, String)> = r
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let req = self.build(variant, &model, r.body.as_ref(), &headers, checks);
        self.client.send(&req).await
    }

    /// Every check of a `request` step, and its captures.
    fn judge_request(&mut self, r: &RequestStep, ex: &Exchange, checks: &mut Vec<Check>) {
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
        checks.extend(header_checks(ex, &r.expect.headers, &self.vars));
        if let Some(rules) = &r.expect.stream {
            checks.extend(stream_checks(ex, rules));
        }
        for (var, header) in &r.capture {
            let name = header.to_ascii_lowercase();
            match ex.header(&name) {
                Some(v) => {
                    self.vars.captured.insert(var.clone(), v.to_string());
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
}
