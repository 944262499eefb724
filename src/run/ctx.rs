//! What the steps of one scenario share while it runs: the client, the models, the variables,
//! the request counter; and the helpers every step uses to name itself and build requests.

use serde_json::Value;

use super::{Bindings, Check, Planned};
use crate::endpoint::{Endpoint, Mode, Variant};
use crate::http::{Client, Request};
use crate::probe::analyze::CounterMode;
use crate::scenario::vars::Vars;

/// What steps share while a scenario runs.
pub(super) struct Ctx<'a> {
    pub client: &'a Client,
    pub counters: CounterMode,
    pub strict: bool,
    pub stop: crate::stop::Stop,
    pub waiting: crate::wait::Waiting,
    pub model: String,
    pub embedding_model: String,
    pub vars: Vars,
    pub seq: u32,
    /// Secret header values the steps' own headers expanded to so far.
    pub secrets: Vec<String>,
}

impl Ctx<'_> {
    /// A step's display name, with variables expanded and the loop values it does not already
    /// mention appended.
    pub fn name(
        &self,
        given: Option<&str>,
        default: &str,
        bindings: &Bindings,
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
                .map_or_else(|| self.model.clone(), |m| self.expand(m, "model", checks)),
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
        let all: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| (n.clone(), self.expand(v, "headers", checks)))
            .collect();
        // Their secret values, once expanded, are redacted from the step's report too.
        self.secrets.extend(self.client.secret_values(&all));
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
}

/// The endpoint and shape a step asks for: its own, else its loop's, else chat non-streaming.
pub fn variant(e: Option<Endpoint>, stream: Option<bool>, leaf: &Planned<'_>) -> Variant {
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
