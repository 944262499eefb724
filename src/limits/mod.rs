//! `ratecheck limits`: whether a gateway's limiter does what its headers say.
//!
//! Five checks, each on every endpoint and response shape the gateway offers, with the user's
//! key (ideally a test key with small limits):
//! - **retry advice**: every 429 from the gateway's own limiter says when to retry, where a
//!   sibling endpoint's 429 for the same limit does (BerriAI/litellm#37754); advice far longer
//!   than the real wait is suspicious;
//! - **refusals not charged**: requests refused while the key's concurrency slots are held do
//!   not use its request quota (BerriAI/litellm#39309);
//! - **tokens charged**: the fall of `remaining-tokens` across a request matches the `usage` it
//!   reported, as on chat;
//! - **slots returned**: a completed request gives its `max_parallel_requests` slot back;
//! - **limits under concurrency**: concurrent requests are not admitted past the tokens or
//!   requests limit by more than the one request a check-then-charge limiter lets through.
//!
//! Every check reads the gateway's own exact-window counters between requests of its own, on a
//! control (non-streaming chat), so a streaming answer that carries no header is still measured.
//! A check that cannot be made is *not checked*, with the reason; a finding is made only when
//! the arithmetic proves the defect.
//!
//! `session` sends and keeps the log and the budget; `hold`, `pass` (with `tokens` and
//! `slots`), `concurrency` run the checks; `contract` judges every refusal the run met; `read` reads one answer.

mod concurrency;
mod contract;
mod hold;
mod pass;
pub mod read;
mod session;
mod slots;
mod tokens;

use std::time::Duration;

use serde::Serialize;

use crate::endpoint::{Endpoint, Mode, Variant};
use crate::http::Client;
use crate::verdict::{self, Abort, Exit, Finding, Outcome};
pub use read::{LimitType, Origin, Reading, Refusal};
use session::Session;

/// Layout version of [`LimitsReport`].
pub const SCHEMA_VERSION: u32 = 1;

/// The checks, in the order the report lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckId {
    /// 429s say when to retry, as their siblings do.
    RetryAdvice,
    /// Refused requests do not use quota.
    RefusalsCharged,
    /// Tokens are charged as used.
    TokensCharged,
    /// Concurrency slots come back after a completed request.
    SlotsReturned,
    /// Limits hold under concurrent requests.
    Concurrency,
}

impl CheckId {
    /// Every check, in report order.
    pub const ALL: [CheckId; 5] = [
        CheckId::RetryAdvice,
        CheckId::RefusalsCharged,
        CheckId::TokensCharged,
        CheckId::SlotsReturned,
        CheckId::Concurrency,
    ];

    /// The stable name (scenario `checks:`, `--checks`, JSON).
    pub fn name(self) -> &'static str {
        match self {
            CheckId::RetryAdvice => "retry_advice",
            CheckId::RefusalsCharged => "refusals_charged",
            CheckId::TokensCharged => "tokens_charged",
            CheckId::SlotsReturned => "slots_returned",
            CheckId::Concurrency => "concurrency",
        }
    }

    /// What it checks, as a column heading.
    pub fn title(self) -> &'static str {
        match self {
            CheckId::RetryAdvice => "429 says when to retry",
            CheckId::RefusalsCharged => "refusals not charged",
            CheckId::TokensCharged => "tokens charged as used",
            CheckId::SlotsReturned => "slots returned",
            CheckId::Concurrency => "limits hold under concurrency",
        }
    }
}

impl std::str::FromStr for CheckId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().replace('-', "_");
        CheckId::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown check `{s}`; expected one of {}",
                    CheckId::ALL.map(CheckId::name).join(", ")
                )
            })
    }
}

/// A check's result on one endpoint and shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The limiter did what its headers say.
    Held,
    /// Proven wrong: a finding names the evidence.
    Defect,
    /// Suspicious, not proof: a warning names it.
    Suspicious,
    /// Not checked; the detail says why.
    NotChecked,
}

impl Status {
    /// As the table shows it.
    pub fn label(self) -> &'static str {
        match self {
            Status::Held => "held",
            Status::Defect => "DEFECT",
            Status::Suspicious => "suspicious",
            Status::NotChecked => "not checked",
        }
    }
}

/// One check on one endpoint and shape.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cell {
    /// The check.
    pub check: CheckId,
    /// The endpoint and shape.
    pub variant: Variant,
    /// Its result.
    pub status: Status,
    /// The evidence in a few words, or why it was not checked.
    pub detail: String,
}

/// The key's limits, as the gateway advertised them (or the user said).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct KeyLimits {
    /// Requests per window.
    pub requests: Option<i64>,
    /// Tokens per window.
    pub tokens: Option<i64>,
    /// Requests in flight at once.
    pub max_parallel: Option<i64>,
    /// Where `max_parallel` came from: `header` or `--max-parallel`.
    pub max_parallel_from: Option<String>,
}

/// What the run may spend, said before its first request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Budget {
    /// The most requests it sends (`--max-requests`).
    pub max_requests: u32,
    /// The longest one wait for the key's limits to clear (`--max-wait`), in milliseconds.
    pub max_wait_ms: f64,
    /// The most such waits.
    pub max_waits: u32,
}

impl Budget {
    /// The budget in one line, as said before the first request.
    pub fn summary(&self) -> String {
        format!(
            "at most {} requests; no wait on a healthy limiter, at most {} waits of up to {:.0} s each where the key's slots stay taken",
            self.max_requests,
            self.max_waits,
            self.max_wait_ms / 1000.0,
        )
    }
}

/// One request the run sent, for the report's log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sent {
    /// Position in send order (from 1).
    pub seq: u32,
    /// Which key: `main`, or `concurrency` (`--concurrency-key-*`).
    pub key: &'static str,
    /// What it was for: `control`, `holder`, `refusal`, `variant`, `concurrent`, `contract`.
    pub purpose: &'static str,
    /// Endpoint and shape.
    pub variant: Variant,
    /// Milliseconds from the run's start to the send.
    pub at_ms: f64,
    /// Milliseconds from the send to the end of the body.
    pub total_ms: f64,
    /// HTTP status, if an answer came.
    pub status: Option<u16>,
    /// The counters the answer showed.
    pub reading: Reading,
    /// For a 429, what it says.
    pub refusal: Option<Refusal>,
    /// The tokens the body reported.
    pub usage_total: Option<u64>,
    /// Why it failed, if it did.
    pub failure: Option<String>,
}

/// What the run did and found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LimitsReport {
    /// Layout version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// `ratecheck` and its version.
    pub tool: String,
    /// The gateway's base URL, redacted.
    pub target: String,
    /// The gateway, as its headers name it (`LiteLLM 1.106.12`).
    pub gateway: Option<String>,
    /// The model asked for.
    pub model: String,
    /// The main key's limits.
    pub limits: KeyLimits,
    /// The second key's limits, when one was given for the concurrency checks.
    pub concurrency_key_limits: Option<KeyLimits>,
    /// What the run could spend.
    pub budget: Budget,
    /// Each check on each endpoint and shape.
    pub cells: Vec<Cell>,
    /// Defects the evidence proves.
    pub findings: Vec<Finding>,
    /// Suspicious, not proof.
    pub warnings: Vec<Finding>,
    /// What held, what could not be checked, and the release's known defects.
    pub notes: Vec<String>,
    /// Every request sent, in order.
    pub requests: Vec<Sent>,
    /// Time spent waiting for the key's limits to clear, in milliseconds.
    pub waited_ms: f64,
    /// Whether warnings fail the run.
    pub strict: bool,
    /// Ctrl-C stopped the run.
    pub interrupted: bool,
    /// What stopped the run early, if anything.
    pub aborted: Option<Abort>,
    /// Wall time, in milliseconds.
    pub wall_ms: f64,
    /// The verdict.
    pub outcome: Outcome,
}

impl LimitsReport {
    /// The exit this run maps to.
    pub fn exit(&self) -> Exit {
        let strict_fails = self.strict && (!self.warnings.is_empty() || !self.checked_any());
        verdict::decide(
            self.aborted.iter().map(|a| a.exit),
            !self.findings.is_empty() || strict_fails,
        )
    }

    /// Whether any cell was checked at all: a run where none was is not a green one.
    pub fn checked_any(&self) -> bool {
        self.cells.iter().any(|c| c.status != Status::NotChecked)
    }

    /// The cell of `check` on `variant`, if any.
    pub fn cell(&self, check: CheckId, variant: Variant) -> Option<&Cell> {
        self.cells
            .iter()
            .find(|c| c.check == check && c.variant == variant)
    }
}

/// What to run and what it may spend: resolved values only.
#[derive(Debug, Clone)]
pub struct LimitsOptions {
    /// The model for the generation endpoints.
    pub model: String,
    /// The model for `/v1/embeddings`.
    pub embedding_model: String,
    /// Endpoints to check.
    pub endpoints: Vec<Endpoint>,
    /// Which checks to run.
    pub checks: Vec<CheckId>,
    /// The most requests the run sends.
    pub max_requests: u32,
    /// The longest one wait for the key's limits to clear.
    pub max_wait: Duration,
    /// The key's `max_parallel_requests` when the gateway does not advertise it.
    pub max_parallel: Option<i64>,
    /// Pause before reading a counter, so a charge made after the answer has landed.
    pub settle: Duration,
    /// `max_tokens` of the long generations that hold the key's slots.
    pub hold_tokens: u64,
    /// Warnings fail the run.
    pub strict: bool,
    /// Ctrl-C.
    pub stop: crate::stop::Stop,
    /// Deliberate waits, announced.
    pub waiting: crate::wait::Waiting,
}

impl LimitsOptions {
    /// The budget these options allow.
    pub fn budget(&self) -> Budget {
        Budget {
            max_requests: self.max_requests,
            max_wait_ms: self.max_wait.as_secs_f64() * 1000.0,
            max_waits: MAX_WAITS,
        }
    }

    /// The endpoint × shape cells, in report order.
    pub fn variants(&self) -> Vec<Variant> {
        self.endpoints
            .iter()
            .flat_map(|&endpoint| {
                let modes: &[Mode] = if endpoint.streams() {
                    &[Mode::NonStreaming, Mode::Streaming]
                } else {
                    &[Mode::NonStreaming]
                };
                modes.iter().map(move |&mode| Variant { endpoint, mode })
            })
            .collect()
    }

    fn runs(&self, check: CheckId) -> bool {
        self.checks.contains(&check)
    }
}

/// Waits for the key's limits to clear a run may make. A healthy limiter needs none; one that
/// keeps slots needs one per endpoint that keeps them, in the refusal batches and again in
/// the per-endpoint pass.
pub const MAX_WAITS: u32 = 6;

/// The control every counter is read on: non-streaming chat.
pub const CONTROL: Variant = Variant {
    endpoint: Endpoint::Chat,
    mode: Mode::NonStreaming,
};

/// Runs the checks with `main` (and `second`, a key for the concurrency checks), saying what
/// it does through `progress`.
pub async fn run(
    main: &Client,
    second: Option<&Client>,
    opts: &LimitsOptions,
    progress: &mut (dyn FnMut(&str) + Send),
) -> LimitsReport {
    let mut s = Session::new(main, opts);
    let mut out = Outcomes::default();
    let variants = opts.variants();
    run_checks(&mut s, second, opts, &variants, &mut out, progress).await;
    // Every cell not decided is not checked, with the reason the run ended or gave.
    let why_left = if s.stopped() {
        "the run was interrupted first".to_string()
    } else if let Some(a) = &s.aborted {
        format!("the run stopped first: {}", a.failure.message)
    } else if s.spent() {
        format!(
            "the budget ({} requests, `--max-requests`) was spent first",
            opts.max_requests
        )
    } else {
        "not run".to_string()
    };
    for check in CheckId::ALL {
        for &v in &variants {
            if !out.cells.iter().any(|c| c.check == check && c.variant == v) {
                let detail = if opts.runs(check) {
                    why_left.clone()
                } else {
                    "not asked for (`--checks`)".to_string()
                };
                out.cell(check, v, Status::NotChecked, detail);
            }
        }
    }
    out.cells.sort_by_key(|c| {
        (
            c.check,
            variants.iter().position(|v| *v == c.variant).unwrap_or(0),
        )
    });
    let contract_notes = std::mem::take(&mut out.notes);
    let mut notes = s.notes.clone();
    notes.extend(contract_notes);
    let (findings, warnings) = verdict::by_level(out.findings);
    let mut report = LimitsReport {
        schema_version: SCHEMA_VERSION,
        tool: format!("ratecheck {}", env!("CARGO_PKG_VERSION")),
        target: main.display_base(),
        gateway: s.gateway.clone(),
        model: opts.model.clone(),
        limits: s.limits.clone(),
        concurrency_key_limits: out.second_limits.take(),
        budget: opts.budget(),
        cells: out.cells,
        findings,
        warnings,
        notes,
        requests: std::mem::take(&mut s.log),
        waited_ms: s.waited.as_secs_f64() * 1000.0,
        strict: opts.strict,
        interrupted: s.stopped(),
        aborted: s.aborted.clone(),
        wall_ms: s.elapsed_ms(),
        outcome: Outcome::from(Exit::Ok),
    };
    report.notes.extend(versions_notes(&report));
    report.outcome = Outcome::from(report.exit());
    report
}

/// What the checks decided, gathered as they go.
#[derive(Debug, Default)]
pub(crate) struct Outcomes {
    cells: Vec<Cell>,
    findings: Vec<Finding>,
    notes: Vec<String>,
    second_limits: Option<KeyLimits>,
    /// Refusals whose advice was far longer than the real wait: variant, advised and actual
    /// milliseconds.
    too_long: Vec<(Variant, f64, f64)>,
}

impl Outcomes {
    fn cell(&mut self, check: CheckId, variant: Variant, status: Status, detail: String) {
        self.cells
            .retain(|c| !(c.check == check && c.variant == variant));
        self.cells.push(Cell {
            check,
            variant,
            status,
            detail,
        });
    }

    fn decided(&self, check: CheckId, variant: Variant) -> bool {
        self.cells
            .iter()
            .any(|c| c.check == check && c.variant == variant)
    }

    /// Every variant of `check` not decided yet is not checked, for `why`.
    fn rest_not_checked(&mut self, check: CheckId, variants: &[Variant], why: &str) {
        for &v in variants {
            if !self.decided(check, v) {
                self.cell(check, v, Status::NotChecked, why.to_string());
            }
        }
    }
}

async fn run_checks(
    s: &mut Session<'_>,
    second: Option<&Client>,
    opts: &LimitsOptions,
    variants: &[Variant],
    out: &mut Outcomes,
    progress: &mut (dyn FnMut(&str) + Send),
) {
    progress("reading the key's limits on non-streaming chat…");
    let Some(chat_charge) = s.discover(opts).await else {
        if s.aborted.is_none() && !s.stopped() {
            let why = s.unusable.clone().unwrap_or_else(|| "not run".into());
            for check in CheckId::ALL {
                out.rest_not_checked(check, variants, &why);
            }
        }
        return;
    };
    if opts.runs(CheckId::RefusalsCharged) || opts.runs(CheckId::RetryAdvice) {
        progress("holding the key's slots and collecting refusals…");
        hold::run(s, opts, variants, out).await;
    } else {
        out.rest_not_checked(
            CheckId::RefusalsCharged,
            variants,
            "not asked for (`--checks`)",
        );
    }
    if s.over() {
        return;
    }
    if opts.runs(CheckId::TokensCharged) || opts.runs(CheckId::SlotsReturned) {
        progress("one request per endpoint and shape, each read on the control…");
        pass::run(s, opts, variants, chat_charge, out).await;
    }
    if s.over() {
        return;
    }
    if opts.runs(CheckId::Concurrency) || opts.runs(CheckId::RetryAdvice) {
        progress("concurrent requests against the key's limits…");
        concurrency::run(s, second, opts, variants, chat_charge, out).await;
    }
    contract::judge(s, opts, variants, out);
}

/// The release's known defects, said beside the verdict (as `probe` and `triage` say them).
fn versions_notes(report: &LimitsReport) -> Vec<String> {
    let Some(version) = report
        .gateway
        .as_deref()
        .and_then(|g| g.strip_prefix("LiteLLM "))
    else {
        return Vec::new();
    };
    crate::probe::analyze::limiter_notes(version, &report.findings)
}
