//! The triage bundle: one redacted Markdown file a support engineer can attach to a ticket —
//! tool version, target fingerprint, the header matrix, every finding with its likely cause and
//! upstream link, the 429 contract, and the SSE timeline of one stream.

use std::fmt::Write as _;

use super::md;
use super::probe::markdown;
use crate::http::{Exchange, Shape};
use crate::probe::ProbeReport;
use crate::probe::analyze::defects_of;
use crate::triage::Triage;

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
    let gateway = crate::report::probe::gateway_markdown(&p.gateway);
    let upstream = crate::report::probe::upstream_markdown(&p.gateway)
        .map(|u| format!("- upstream: {u}\n"))
        .unwrap_or_default();
    let server = p
        .exchanges
        .iter()
        .find_map(|e| e.header("server"))
        .unwrap_or("not sent");
    let sent = match &p.evidence {
        Some(files) => {
            let files: Vec<String> = files.iter().map(|f| format!("`{}`", md(f))).collect();
            format!(
                "- evidence: {} ({} exchanges, read offline)",
                files.join(", "),
                p.exchanges.len()
            )
        }
        None => format!(
            "- model: `{}`\n- requests: {} in {} rounds, {:.0} ms",
            p.model.as_deref().unwrap_or("—"),
            p.exchanges.len(),
            p.rounds,
            p.wall_ms
        ),
    };
    let _ = writeln!(
        out,
        "- gateway: {gateway}\n{upstream}- `server` header: {}\n{sent}\n- verdict: **{}** (exit {})\n",
        md(server),
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
    likely_causes(&mut out, p);
    versions(&mut out, p);
    contract(&mut out, t);
    per_endpoint(&mut out, t);
    timeline(&mut out, p);
    out
}

/// What is known about the gateway's release: which known defects apply, and whether an
/// upgrade helps.
fn versions(out: &mut String, p: &ProbeReport) {
    let (Some("LiteLLM"), Some(version)) =
        (p.gateway.name.as_deref(), p.gateway.version.as_deref())
    else {
        return;
    };
    let _ = writeln!(out, "## Known defects of LiteLLM {}\n", md(version));
    let rows = defects_of(version);
    if rows.is_empty() {
        out.push_str("None in ratecheck's table.\n\n");
        return;
    }
    out.push_str(
        "| defect | releases | seen here | what helps | evidence |\n|---|---|---|---|---|\n",
    );
    for d in rows {
        let seen = match d.kind {
            Some(k) if p.findings.iter().chain(&p.warnings).any(|f| f.kind == k) => "yes",
            Some(_) => "no",
            None => "—",
        };
        let show = |r: (u32, u32, u32)| format!("{}.{}.{}", r.0, r.1, r.2);
        let range = match d.fixed_in {
            Some(f) if d.first == (0, 0, 0) => format!("before {}", show(f)),
            Some(f) => format!("{} to before {}", show(d.first), show(f)),
            None => format!("{} and later (no fixed release)", show(d.first)),
        };
        let _ = writeln!(
            out,
            "| {} | {range} | {seen} | {} | {} |",
            md(d.what),
            md(d.advice),
            md(d.evidence)
        );
    }
    out.push('\n');
}

/// One line per kind of finding: why it usually happens, and the upstream link.
fn likely_causes(out: &mut String, p: &ProbeReport) {
    if !p.findings.is_empty() || !p.warnings.is_empty() {
        out.push_str("## Likely causes\n\n");
        let mut seen = Vec::new();
        for f in p.findings.iter().chain(&p.warnings) {
            if seen.contains(&f.kind) {
                continue;
            }
            seen.push(f.kind);
            let link = f
                .link
                .as_ref()
                .map(|l| format!(" See {l}."))
                .unwrap_or_default();
            let _ = writeln!(out, "- `{}`: {}{link}", f.kind.name(), f.kind.info().cause);
        }
        out.push('\n');
    }
}

/// The 429 contract's checks and notes.
fn contract(out: &mut String, t: &Triage) {
    out.push_str("## 429 contract\n\n");
    match &t.contract {
        None if t.probe.evidence.is_some() => out.push_str(
            "Not checked: the bundle was written from evidence (`--from`); `ratecheck triage URL` checks it live.\n\n",
        ),
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
}

/// The 429 contract on every endpoint and shape: whether each one's 429 says when to retry.
fn per_endpoint(out: &mut String, t: &Triage) {
    out.push_str(
        "## 429 contract per endpoint

",
    );
    let Some(r) = &t.per_endpoint else {
        out.push_str(if t.probe.evidence.is_some() {
            "Not checked: the bundle was written from evidence (`--from`).\n\n"
        } else {
            "Not checked (`--skip-429`, or the 429 contract did not run).\n\n"
        });
        return;
    };
    out.push_str("| endpoint × shape | result | evidence |\n|---|---|---|\n");
    for c in r
        .cells
        .iter()
        .filter(|c| c.check == crate::limits::CheckId::RetryAdvice)
    {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            c.variant,
            c.status.label(),
            md(&c.detail)
        );
    }
    out.push('\n');
    for f in r.findings.iter().chain(&r.warnings) {
        let _ = writeln!(out, "- `{}`: {}", f.kind.name(), md(&f.message));
    }
    let _ = writeln!(
        out,
        "- {} requests ({}), `ratecheck limits` checks the rest of the limiter\n",
        r.requests.len(),
        r.budget.summary()
    );
}

/// The first stream's events with their arrival times, and its response headers.
fn timeline(out: &mut String, p: &ProbeReport) {
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
}
