//! `ratecheck probe`: send the endpoint × shape matrix, then analyse what came back.
//!
//! The probe is sequential on purpose: counters must be read in send order to check that
//! `remaining` falls by one per request. It stops early only when going on cannot help
//! (connection refused, key refused, target hanging), and keeps what it gathered so far.

pub mod analyze;

use std::time::Instant;

use serde::Serialize;

use crate::endpoint::{Endpoint, Mode, Variant};
use crate::exit::{self, Exit};
use crate::http::{Client, Exchange, Failure, FailureKind, ModelsError};
use analyze::Finding;

/// Version of the JSON report layout. Bumped only on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

/// What to probe.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// Endpoints to try, in order.
    pub endpoints: Vec<Endpoint>,
    /// Model for generation endpoints; `None` picks the first from `GET /v1/models`.
    pub model: Option<String>,
    /// Model for `/v1/embeddings`; `None` uses the generation model.
    pub embedding_model: Option<String>,
    /// Rounds of the whole matrix, sent one after another.
    pub repeat: u32,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            endpoints: Endpoint::ALL.to_vec(),
            model: None,
            embedding_model: None,
            repeat: 1,
        }
    }
}

/// The gateway, as its headers reveal it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Gateway {
    /// Product name (`LiteLLM`, or the `server` header).
    pub name: Option<String>,
    /// Version, when a header tells it.
    pub version: Option<String>,
}

/// Why the probe stopped before sending everything.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Abort {
    /// The failure that stopped it.
    #[serde(flatten)]
    pub failure: Failure,
    /// What the user can do about it.
    pub hint: String,
}

/// Everything a probe found: the data every reporter prints from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeReport {
    /// Layout version of this report ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// `ratecheck` and its version.
    pub tool: String,
    /// The target base URL, redacted.
    pub target: String,
    /// The model used.
    pub model: Option<String>,
    /// Rounds requested.
    pub rounds: u32,
    /// Wall time of the whole probe, in milliseconds.
    pub wall_ms: f64,
    /// The gateway fingerprint.
    pub gateway: Gateway,
    /// Every request sent, in order.
    pub exchanges: Vec<Exchange>,
    /// Problems found; any finding makes the exit code at least 1.
    pub findings: Vec<Finding>,
    /// Observations that are not problems.
    pub notes: Vec<String>,
    /// Set when the probe stopped early.
    pub aborted: Option<Abort>,
    /// The exit code this report maps to, and its name.
    pub outcome: Outcome,
}

/// The verdict as a code and a word.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Outcome {
    /// Process exit code (see the README's exit-code table).
    pub exit_code: u8,
    /// `ok`, `findings`, `usage`, `unreachable`, `timeout` or `protocol`.
    pub status: &'static str,
}

impl ProbeReport {
    /// The exit this report maps to.
    pub fn exit(&self) -> Exit {
        exit::for_probe(self)
    }

    /// The variants in the order they were first sent.
    pub fn variants(&self) -> Vec<Variant> {
        analyze::first_occurrences(self.exchanges.iter().map(|e| e.variant))
    }
}

/// Runs the probe; `on_exchange` is told of each exchange as it completes (for progress).
pub async fn probe(
    client: &Client,
    opts: &ProbeOptions,
    on_exchange: &mut dyn FnMut(&Exchange),
) -> ProbeReport {
    let start = Instant::now();
    let mut report = ProbeReport {
        schema_version: SCHEMA_VERSION,
        tool: concat!("ratecheck ", env!("CARGO_PKG_VERSION")).to_string(),
        target: client.display_base(),
        model: opts.model.clone(),
        rounds: opts.repeat.max(1),
        wall_ms: 0.0,
        gateway: Gateway::default(),
        exchanges: Vec::new(),
        findings: Vec::new(),
        notes: Vec::new(),
        aborted: None,
        outcome: Outcome {
            exit_code: 0,
            status: "ok",
        },
    };

    if report.model.is_none() {
        match client.list_models().await {
            Ok(models) if !models.is_empty() => report.model = models.into_iter().next(),
            Ok(_) => {
                report.aborted = Some(Abort {
                    failure: Failure {
                        kind: FailureKind::BadBody,
                        message: "`GET /v1/models` listed no models".into(),
                    },
                    hint: "pass `--model NAME`".into(),
                });
            }
            Err(ModelsError::Status(status)) => {
                report.aborted = Some(Abort {
                    failure: Failure {
                        kind: FailureKind::BadBody,
                        message: format!(
                            "`GET /v1/models` answered {status}, so no model could be picked"
                        ),
                    },
                    hint: "pass `--model NAME`".into(),
                });
            }
            Err(ModelsError::Failure(f)) => {
                let hint = hint_for(f.kind, &report.target);
                report.aborted = Some(Abort { failure: f, hint });
            }
        }
    }

    if let Some(model) = report.model.clone() {
        let embed_model = opts
            .embedding_model
            .clone()
            .unwrap_or_else(|| model.clone());
        let mut seq = 0;
        'rounds: for round in 1..=opts.repeat.max(1) {
            for &endpoint in &opts.endpoints {
                let modes: &[Mode] = if endpoint.streams() {
                    &[Mode::NonStreaming, Mode::Streaming]
                } else {
                    &[Mode::NonStreaming]
                };
                for &mode in modes {
                    seq += 1;
                    let m = if endpoint == Endpoint::Embeddings {
                        &embed_model
                    } else {
                        &model
                    };
                    let ex = client
                        .exchange(Variant { endpoint, mode }, m, round, seq)
                        .await;
                    on_exchange(&ex);
                    let stop = ex.failure.as_ref().filter(|f| {
                        matches!(
                            f.kind,
                            FailureKind::Connect | FailureKind::Auth | FailureKind::Timeout
                        )
                    });
                    if let Some(f) = stop.cloned() {
                        let hint = hint_for(f.kind, &report.target);
                        report.aborted = Some(Abort { failure: f, hint });
                        report.exchanges.push(ex);
                        break 'rounds;
                    }
                    report.exchanges.push(ex);
                }
            }
        }
    }

    report.gateway = analyze::fingerprint(&report.exchanges);
    let (findings, notes) = analyze::analyze(&report.exchanges);
    report.findings = findings;
    report.notes = notes;
    report.wall_ms = crate::http::ms(start.elapsed());
    let exit = report.exit();
    report.outcome = Outcome {
        exit_code: exit.code(),
        status: exit.name(),
    };
    report
}

/// What to do about a failure that stopped the probe.
pub fn hint_for(kind: FailureKind, target: &str) -> String {
    match kind {
        FailureKind::Connect => format!(
            "is the gateway running at {target}? Check the host, the port and http vs https"
        ),
        FailureKind::Auth => "the gateway refused the key: set it in `RATECHECK_API_KEY` (or `LITELLM_API_KEY`, `OPENAI_API_KEY`), or name its variable with `--api-key-env VAR`".into(),
        FailureKind::Timeout => {
            "the target accepted the connection but did not answer; raise `--timeout` or check the gateway's upstream".into()
        }
        FailureKind::StreamCut | FailureKind::BadBody => {
            "the target is not speaking the OpenAI-compatible API at this URL".into()
        }
    }
}
