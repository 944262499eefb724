//! `ratecheck triage`: one redacted Markdown file a support engineer can attach to a ticket.
//!
//! It runs the probe (a short `--repeat`, so counters are seen to move), then the 429 contract
//! as an `exhaust` step through the scenario engine, and writes: tool version, target
//! fingerprint, the header matrix, every finding with its likely cause and upstream link, the
//! 429 contract, and the SSE timeline of one stream. Every value comes from reports that the
//! client's redactor has already cleaned; the target URL is shown without credentials.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::exit::Exit;
use crate::http::{Client, Exchange, Shape};
use crate::probe::analyze::FindingKind;
use crate::probe::{ProbeOptions, ProbeReport, probe};
use crate::report::markdown::{self, escape as md};
use crate::run::{Resolved, ScenarioReport, run_scenario};
use crate::scenario;

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
}

/// The bundle's data, before rendering.
#[derive(Debug, Clone)]
pub struct Triage {
    /// The probe.
    pub probe: ProbeReport,
    /// The 429 contract run, when it was asked for and a model was known.
    pub contract: Option<ScenarioReport>,
}

impl Triage {
    /// The exit this bundle maps to: the probe's, worsened by a failed 429 contract.
    pub fn exit(&self) -> Exit {
        let e = self.probe.exit();
        match &self.contract {
            Some(c) => e.worst(c.exit()),
            None => e,
        }
    }
}

/// Runs the probe and the 429 contract check.
pub async fn triage(client: &Client, opts: &TriageOptions) -> Triage {
    let report = probe(client, &opts.probe, &mut |_| {}).await;
    let contract = match (&report.model, opts.check_429, &report.aborted) {
        (Some(model), true, None) => {
            let text = format!(
                "name: 429 contract\nsteps:\n  - exhaust:\n      name: the limit answers 429 and says when to come back\n      endpoint: chat\n      max_requests: {}\n      max_wait: {}s\n",
                opts.exhaust_max, opts.max_wait_secs
            );
            match scenario::parse(&PathBuf::from("(triage)"), text, true) {
                Ok(loaded) => {
                    let resolved = Resolved {
                        model: Some(model.clone()),
                        embedding_model: opts.probe.embedding_model.clone(),
                    };
                    Some(run_scenario(&loaded, client, &resolved, &mut |_| {}).await)
                }
                Err(_) => None,
            }
        }
        _ => None,
    };
    Triage {
        probe: report,
        contract,
    }
}

/// Why a finding of this kind usually happens, and where to look.
pub fn likely_cause(kind: FindingKind) -> &'static str {
    match kind {
        FindingKind::LitellmV3StreamingDrop => {
            "LiteLLM's v3 parallel_request_limiter computes these headers in a post-call hook, which runs after a streaming response has already sent its headers. The fix (PR #27747) was closed unmerged; the callback in ratecheck's README (`async_post_call_response_headers_hook`) restores them."
        }
        FindingKind::LitellmV3PlainDictDrop => {
            "Responses that LiteLLM builds as plain dicts (e.g. /v1/messages) skip the code path that attaches the v3 limiter's headers to response objects."
        }
        FindingKind::MissingOnShape => {
            "The gateway adds this header on some code paths only. Streaming responses often flush their headers before the post-processing that would add it."
        }
        FindingKind::MalformedValue => {
            "The value is not in its dialect's format; SDKs that parse it will fail or ignore it. Check the gateway's header-writing code or its configuration of header names."
        }
        FindingKind::InconsistentValue => {
            "Remaining above limit, or a limit that is not positive: counters from different scopes (key, team, model) are mixed, or the limit is misconfigured."
        }
        FindingKind::ImplausibleReset => {
            "A reset in the past or absurdly far away: usually a unit mix-up (milliseconds for seconds) or an epoch timestamp sent where a delta is expected."
        }
        FindingKind::CounterMismatch => {
            "The counter does not fall by one per request: other traffic on the same key, a counter not updated on some response shapes, or one counter per worker instead of a shared one."
        }
        FindingKind::EndpointError => {
            "The endpoint answered an error status: the model is not configured for it, the key may not use it, or the limit was reached during the probe."
        }
        FindingKind::BrokenResponse => {
            "A stream was cut or a body could not be read: a proxy timeout or buffer limit between client and gateway, or the upstream disconnecting mid-stream."
        }
        FindingKind::EarlyThrottle => {
            "The gateway refused while its own counter said there was room: the advertised counter is per worker or per replica while the limit is enforced globally, or another counter (tokens, team, model) binds first."
        }
        FindingKind::OverAdmission => {
            "More requests got through in a window than the advertised limit: the limit is enforced per worker or replica, or the counters are eventually consistent."
        }
        FindingKind::WaitTooShort => {
            "The advertised wait ends before the window refills: the gateway computes Retry-After from a different clock or window than the one it enforces."
        }
        FindingKind::NoRetryHint => {
            "The 429 carries no Retry-After: clients fall back to guessing, which either hammers the gateway or waits too long."
        }
        FindingKind::InStreamError => {
            "The gateway answered 200 and then sent an error inside the stream: the upstream failed after headers were flushed (see BerriAI/litellm#9035), so the status code cannot tell clients."
        }
    }
}

/// The first stream that carried events, for the timeline.
fn sample_stream(report: &ProbeReport) -> Option<&Exchange> {
    report
        .exchanges
        .iter()
        .find(|e| e.shape == Shape::Sse && e.stream.as_ref().is_some_and(|s| s.events > 0))
}

/// Renders the bundle.
pub fn render(t: &Triage, generated: &str) -> String {
    let p = &t.probe;
    let mut out = String::new();
    let _ = writeln!(out, "# ratecheck triage: `{}`\n", p.target);
    let _ = writeln!(out, "- generated: {generated}\n- tool: {}", p.tool);
    let gateway = match (&p.gateway.name, &p.gateway.version) {
        (Some(n), Some(v)) => format!("{n} {v}"),
        (Some(n), None) => format!("{n} (version not revealed)"),
        _ => "not identified from headers".into(),
    };
    let server = p
        .exchanges
        .iter()
        .find_map(|e| e.header("server"))
        .unwrap_or("not sent");
    let _ = writeln!(
        out,
        "- gateway: {gateway}\n- `server` header: {}\n- model: `{}`\n- requests: {} in {} rounds, {:.0} ms\n- verdict: **{}** (exit {})\n",
        md(server),
        p.model.as_deref().unwrap_or("—"),
        p.exchanges.len(),
        p.rounds,
        p.wall_ms,
        t.exit().name(),
        t.exit().code()
    );
    out.push_str("All credentials are redacted: the API key, `Authorization`, cookies, and any value shaped like a key.\n\n");

    // The probe's own Markdown gives the matrix, findings and notes; its title and summary
    // lines repeat what is above, so they are left out.
    let body = markdown::render(p);
    let body = body.find("### ").map_or("", |at| &body[at..]);
    out.push_str("## Probe\n\n");
    out.push_str(body);

    if !p.findings.is_empty() {
        out.push_str("## Likely causes\n\n");
        let mut seen = Vec::new();
        for f in &p.findings {
            if seen.contains(&f.kind) {
                continue;
            }
            seen.push(f.kind);
            let link = f
                .link
                .as_ref()
                .map(|l| format!(" See {l}."))
                .unwrap_or_default();
            let _ = writeln!(out, "- `{}`: {}{link}", f.kind.name(), likely_cause(f.kind));
        }
        out.push('\n');
    }

    out.push_str("## 429 contract\n\n");
    match &t.contract {
        None => out.push_str("Not checked (`--skip-429`, or the probe stopped early).\n\n"),
        Some(c) => {
            out.push_str("| check | result | expected | actual |\n|---|---|---|---|\n");
            for check in c.checks() {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} |",
                    md(&check.name),
                    if check.passed { "pass" } else { "**FAIL**" },
                    md(&check.expected),
                    md(&check.actual)
                );
            }
            out.push('\n');
            for n in c.steps.iter().flat_map(|s| s.notes.iter()) {
                let _ = writeln!(out, "- {}", md(n));
            }
            if let Some(a) = &c.aborted {
                let _ = writeln!(out, "- stopped: {}", md(&a.failure.message));
            }
            out.push('\n');
        }
    }

    out.push_str("## SSE timeline\n\n");
    match sample_stream(p) {
        None => out.push_str("No stream carried events.\n"),
        Some(ex) => {
            let info = ex
                .stream
                .as_ref()
                .map(|s| (s.events, s.end.clone(), s.usage));
            let _ = writeln!(
                out,
                "{} (round {}): headers after {}, first event after {}, done after {:.1} ms; {} events, end `{}`, usage {}.\n",
                ex.variant,
                ex.round,
                ex.time_to_headers_ms
                    .map_or("—".into(), |v| format!("{v:.1} ms")),
                ex.time_to_first_event_ms
                    .map_or("—".into(), |v| format!("{v:.1} ms")),
                ex.total_ms,
                info.as_ref().map_or(0, |i| i.0),
                info.as_ref()
                    .and_then(|i| i.1.clone())
                    .unwrap_or_else(|| "none".into()),
                if info.is_some_and(|i| i.2) {
                    "reported"
                } else {
                    "not reported"
                },
            );
            out.push_str("| # | at (ms) | event | data bytes |\n|---|---|---|---|\n");
            for (i, e) in ex.stream.iter().flat_map(|s| s.timeline.iter()).enumerate() {
                let _ = writeln!(
                    out,
                    "| {} | {:.1} | {} | {} |",
                    i + 1,
                    e.at_ms,
                    md(&e.event),
                    e.bytes
                );
            }
            out.push_str("\nResponse headers of this stream:\n\n```\n");
            for (n, v) in &ex.headers {
                let _ = writeln!(out, "{n}: {v}");
            }
            out.push_str("```\n");
        }
    }
    out
}
