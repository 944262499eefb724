//! `ratecheck probe`: send the endpoint × shape matrix, then analyse what came back.
//!
//! The probe is sequential on purpose: counters must be read in send order to check that
//! `remaining` falls by one per request. It stops early only when going on cannot help
//! (connection refused, key refused, target hanging), and keeps what it gathered so far.

pub mod analyze;

use std::time::Instant;

use serde::Serialize;

use crate::endpoint::{Endpoint, Mode, Variant};
use crate::http::{Client, Exchange};
use crate::stop::Stop;
use crate::verdict::{self, Abort, Exit, Finding, Outcome};
use analyze::CounterMode;

/// Version of the JSON report layout. Bumped only on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

/// `ratecheck` and its version, as every report names the tool.
pub const TOOL: &str = concat!("ratecheck ", env!("CARGO_PKG_VERSION"));

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
    /// How counter motion is judged.
    pub counters: CounterMode,
    /// Warnings fail the run too (exit 1).
    pub strict: bool,
    /// Ctrl-C: the probe stops sending and reports what it gathered.
    pub stop: Stop,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            endpoints: Endpoint::ALL.to_vec(),
            model: None,
            embedding_model: None,
            repeat: 1,
            counters: CounterMode::Auto,
            strict: false,
            stop: Stop::default(),
        }
    }
}

/// The gateway, as its headers reveal it, and the provider behind it when its headers reach
/// the client (see [`analyze::fingerprint`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Gateway {
    /// Product name (`LiteLLM`, `Portkey`, `Kong`, …) from headers only that product sends;
    /// else the `server` header's value.
    pub name: Option<String>,
    /// Version, when a header tells it (`x-litellm-version`, `via: 1.1 kong/3.11.0`).
    pub version: Option<String>,
    /// How `name` was read: from the product's own headers, or from the `server` header alone
    /// (which a gateway may pass through from its upstream).
    pub named_by: Option<NamedBy>,
    /// The header that named it (`x-portkey-trace-id`), with its value when the value is what
    /// named it (`via: 1.1 kong/3.11.0`, `server: envoy`); `server` when it was that alone.
    pub evidence: Option<String>,
    /// The provider the gateway sends requests to, when its headers reach the client.
    pub upstream: Option<Upstream>,
}

/// What named a gateway or an upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NamedBy {
    /// Headers only that product sends.
    Headers,
    /// The `server` header's value alone.
    Server,
}

/// The provider behind a gateway.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Upstream {
    /// The provider (`OpenAI`, `Anthropic`, …) from its own headers; else the `server` header
    /// the gateway passed through.
    pub name: String,
    /// How `name` was read.
    pub named_by: NamedBy,
    /// The header that named it (`openai-organization`, `x-inference-provider`), as for the
    /// gateway.
    pub evidence: String,
    /// The `server` header the gateway passed through, beside a provider named by its headers.
    pub server: Option<String>,
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
    /// The evidence files the exchanges were read from (`ratecheck analyze`); none for a probe
    /// that sent them.
    pub evidence: Option<Vec<String>>,
    /// The model used.
    pub model: Option<String>,
    /// Where the API key came from (a variable's name, `file PATH`, `-H`), or `none`.
    pub key: String,
    /// The proxy the environment sent the requests through (`HTTPS_PROXY`, `HTTP_PROXY`,
    /// `ALL_PROXY` less `NO_PROXY`), without credentials.
    pub proxy: Option<String>,
    /// Rounds requested.
    pub rounds: u32,
    /// Wall time of the whole probe, in milliseconds.
    pub wall_ms: f64,
    /// The gateway fingerprint.
    pub gateway: Gateway,
    /// Every request sent, in order.
    pub exchanges: Vec<Exchange>,
    /// Defects the evidence proves; any makes the exit code at least 1.
    pub findings: Vec<Finding>,
    /// Suspicious but not proof; they make the exit code 1 only with `strict`.
    pub warnings: Vec<Finding>,
    /// Whether warnings fail the run.
    pub strict: bool,
    /// The probe was stopped by Ctrl-C: the report covers what was sent until then.
    pub interrupted: bool,
    /// Observations that are not problems.
    pub notes: Vec<String>,
    /// Response shapes asked for and never seen (every attempt failed or answered another
    /// shape), each with what came back: nothing was checked on them, and `strict` fails.
    pub unchecked: Vec<analyze::Unchecked>,
    /// Set when the probe stopped early.
    pub aborted: Option<Abort>,
    /// The exit code this report maps to, and its name.
    pub outcome: Outcome,
}

impl ProbeReport {
    /// The exit this report maps to.
    pub fn exit(&self) -> Exit {
        if self.evidence.is_some() {
            // The evidence's failures are what its client saw, judged as findings; this
            // command had no network to fail, only files it could not read.
            let unreadable = (self.outcome.exit_code == Exit::Usage.code()).then_some(Exit::Usage);
            return verdict::decide(unreadable, self.failed());
        }
        exit_of(self.aborted.as_ref(), &self.exchanges, self.failed())
    }

    /// Whether the findings (and, when strict, the warnings and unchecked shapes) fail the
    /// run.
    pub fn failed(&self) -> bool {
        failed(&self.findings, &self.warnings, &self.unchecked, self.strict)
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
    on_exchange: &mut (dyn FnMut(&Exchange) + Send),
) -> ProbeReport {
    let start = Instant::now();
    let target = client.display_base();
    let (model, mut aborted) = match client.resolve_model(opts.model.as_deref()).await {
        Ok(m) => (Some(m), None),
        Err(a) => (None, Some(a)),
    };
    let mut exchanges = Vec::new();
    if let Some(model) = &model {
        let embed_model = opts.embedding_model.as_deref().unwrap_or(model);
        aborted = send_matrix(
            client,
            opts,
            model,
            embed_model,
            &mut exchanges,
            on_exchange,
        )
        .await;
    }
    if aborted.is_none() {
        aborted = outage(&exchanges).map(|f| Abort::new(f, &target));
    }
    let a = analyze::analyze(&exchanges, opts.counters);
    let failed = failed(&a.findings, &a.warnings, &a.unchecked, opts.strict);
    let outcome = exit_of(aborted.as_ref(), &exchanges, failed).into();
    ProbeReport {
        schema_version: SCHEMA_VERSION,
        tool: TOOL.to_string(),
        target,
        evidence: None,
        model,
        key: client.key_source(),
        proxy: client.proxy().map(str::to_string),
        rounds: opts.repeat.max(1),
        wall_ms: crate::http::ms(start.elapsed()),
        gateway: analyze::fingerprint(&exchanges),
        exchanges,
        findings: a.findings,
        warnings: a.warnings,
        strict: opts.strict,
        interrupted: opts.stop.is_set(),
        notes: a.notes,
        unchecked: a.unchecked,
        aborted,
        outcome,
    }
}

/// The probe's verdict on exchanges it did not send: evidence read from a HAR, a `curl` dump
/// or an old report (`ratecheck analyze`). `target` names where they went, `files` what they
/// were read from.
///
/// `partial`: the evidence may hold less than the client received (a paste, an export taken
/// mid-stream), so a body that stops short proves nothing about the gateway: broken bodies
/// are warnings then, findings only when the evidence is a whole copy (`record`).
pub fn judge_evidence(
    exchanges: Vec<Exchange>,
    target: String,
    files: Vec<String>,
    counters: CounterMode,
    strict: bool,
    partial: bool,
) -> ProbeReport {
    let a = analyze::analyze_evidence(&exchanges, counters, partial);
    let failed = failed(&a.findings, &a.warnings, &a.unchecked, strict);
    // The evidence's failures are what the customer saw, not this run's: they are judged as
    // findings and notes, never as this command's network faults.
    let outcome = verdict::decide(std::iter::empty(), failed).into();
    ProbeReport {
        schema_version: SCHEMA_VERSION,
        tool: TOOL.to_string(),
        target,
        evidence: Some(files),
        model: None,
        key: "none: read from evidence".into(),
        proxy: None,
        rounds: 1,
        wall_ms: 0.0,
        gateway: analyze::fingerprint(&exchanges),
        exchanges,
        findings: a.findings,
        warnings: a.warnings,
        strict,
        interrupted: false,
        notes: a.notes,
        unchecked: a.unchecked,
        aborted: None,
        outcome,
    }
}

/// Whether a probe fails: on a finding; when strict, also on a warning or a shape never
/// checked.
fn failed(
    findings: &[Finding],
    warnings: &[Finding],
    unchecked: &[analyze::Unchecked],
    strict: bool,
) -> bool {
    !findings.is_empty() || (strict && (!warnings.is_empty() || !unchecked.is_empty()))
}

/// A probe where no answer was a success and every answer was a server error has checked
/// nothing: it must not pass. One 2xx, or any other status in the mix, and the 5xx answers stay
/// warnings.
fn outage(exchanges: &[Exchange]) -> Option<verdict::Failure> {
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for e in exchanges {
        match e.status {
            Some(s @ 500..=599) if e.failure.is_none() => *statuses.entry(s).or_default() += 1,
            _ => return None,
        }
    }
    if statuses.is_empty() {
        return None;
    }
    let seen: Vec<String> = statuses.iter().map(|(s, n)| format!("{s} ×{n}")).collect();
    Some(verdict::Failure {
        kind: verdict::FailureKind::ServerError,
        message: format!(
            "every request answered a server error ({}): nothing could be checked",
            seen.join(", ")
        ),
    })
}

/// What stopped the probe, what broke on the way, and whether anything was found.
fn exit_of(aborted: Option<&Abort>, exchanges: &[Exchange], found: bool) -> Exit {
    let faults = aborted.map(|a| a.exit).into_iter().chain(
        exchanges
            .iter()
            .filter_map(|e| e.failure.as_ref())
            .map(|f| f.kind.exit()),
    );
    verdict::decide(faults, found)
}

/// Sends every round of the matrix in order; stops at the first failure that
/// [stops the run](crate::verdict::FailureKind::stops_run) and returns it as the abort.
async fn send_matrix(
    client: &Client,
    opts: &ProbeOptions,
    model: &str,
    embed_model: &str,
    exchanges: &mut Vec<Exchange>,
    on_exchange: &mut (dyn FnMut(&Exchange) + Send),
) -> Option<Abort> {
    let mut seq = 0;
    for round in 1..=opts.repeat.max(1) {
        for &endpoint in &opts.endpoints {
            let modes: &[Mode] = if endpoint.streams() {
                &[Mode::NonStreaming, Mode::Streaming]
            } else {
                &[Mode::NonStreaming]
            };
            for &mode in modes {
                seq += 1;
                let m = if endpoint == Endpoint::Embeddings {
                    embed_model
                } else {
                    model
                };
                let send = client.exchange(Variant { endpoint, mode }, m, round, seq);
                let ex = tokio::select! {
                    ex = send => ex,
                    () = opts.stop.fired() => return None,
                };
                on_exchange(&ex);
                let stop = ex.failure.clone().filter(|f| f.kind.stops_run());
                exchanges.push(ex);
                if let Some(f) = stop {
                    return Some(client.abort(f));
                }
            }
        }
    }
    None
}
