//! Reporters for `ratecheck load`: the terminal summary, Markdown and JSON.

use std::fmt::Write as _;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};

use crate::load::stats::Percentiles;
use crate::load::{Arrival, LoadReport};

/// The load report as pretty JSON.
pub fn json(report: &LoadReport) -> String {
    let mut s = serde_json::to_string_pretty(report)
        .unwrap_or_else(|e| format!("{{\"error\": \"report could not be serialised: {e}\"}}"));
    s.push('\n');
    s
}

fn arrival(a: &Arrival) -> String {
    match a {
        Arrival::Constant { rate } => format!("open loop, {rate}/s constant"),
        Arrival::Poisson { rate } => format!("open loop, {rate}/s Poisson"),
        Arrival::Closed { concurrency } => format!("closed loop, {concurrency} workers"),
    }
}

/// (label, distribution) rows of the latency table.
fn latency_rows(r: &LoadReport) -> Vec<(&'static str, Percentiles)> {
    let l = &r.latency;
    vec![
        ("from intended send (what users wait)", l.from_intended),
        ("service (send to end of body)", l.service),
        ("time to headers", l.time_to_headers),
        ("time to first event (streams)", l.ttft),
        ("gap between events (streams)", l.inter_event_gap),
        ("held at the client before sending", l.queued),
    ]
}

/// "1 retry", "3 retries".
fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A value's serialised name (`full-jitter`, `headers`).
fn name<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn fmt_ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Lines shared by the terminal and Markdown forms: the summary sentences.
pub fn summary_lines(r: &LoadReport) -> Vec<String> {
    let s = &r.settings;
    let q = &r.requests;
    let mut lines = vec![
        format!(
            "{}, {}; backoff {}, up to {} retries, pacing {}",
            arrival(&s.arrival),
            match (s.duration_s, s.requests) {
                (Some(d), Some(n)) => format!("for {d} s or {n} requests"),
                (Some(d), None) => format!("for {d} s"),
                (None, Some(n)) => format!("{n} requests"),
                (None, None) => "until stopped".into(),
            },
            name(&s.backoff),
            s.max_retries,
            name(&s.pace)
        ),
        format!("mix: {}", s.mix.join(", ")),
    ];
    let sc = &r.schedule;
    lines.push(match sc.target_rate {
        Some(t) => format!(
            "schedule: target {t:.1}/s, achieved {:.1}/s; late {}, held by a 429 pause {}, held by pacing {}, dropped at the in-flight cap {}",
            sc.achieved_rate, sc.late, sc.held_by_pause, sc.held_by_pace, sc.dropped_at_cap
        ),
        None => format!("schedule: closed loop, achieved {:.1}/s", sc.achieved_rate),
    });
    lines.push(format!(
        "requests: {} sent, {} succeeded, {} failed; {} incl. {} ({} then succeeded); {} refused by the budget; {:.1} s spent in backoff waits{}",
        q.logical,
        q.succeeded,
        q.failed,
        count(q.attempts, "attempt", "attempts"),
        count(q.retries, "retry", "retries"),
        q.retried_successes,
        count(q.budget_exhausted, "retry", "retries"),
        q.waited_ms / 1000.0,
        if q.cancelled > 0 {
            format!("; {} in flight at the interrupt", q.cancelled)
        } else {
            String::new()
        }
    ));
    if !r.errors.is_empty() {
        let e: Vec<String> = r
            .errors
            .iter()
            .map(|(c, n)| format!("{} {n}", c.label()))
            .collect();
        lines.push(format!("errors: {}", e.join(", ")));
    }
    if !r.hints.is_empty() {
        let h: Vec<String> = r
            .hints
            .iter()
            .map(|(s, n)| format!("{} {n}", s.label()))
            .collect();
        lines.push(format!(
            "advised waits used: {}{}",
            h.join(", "),
            if r.clamped_hints > 0 {
                format!(
                    " ({} clamped to {} s)",
                    r.clamped_hints, r.settings.max_hint_s
                )
            } else {
                String::new()
            }
        ));
    }
    lines
}

fn shape_lines(r: &LoadReport) -> Vec<String> {
    r.shapes
        .iter()
        .map(|s| {
            let carried: Vec<String> = s
                .carried
                .iter()
                .map(|(h, n)| format!("{h} {n}/{}", s.responses))
                .collect();
            format!(
                "{} ({} responses): {}",
                s.variant,
                s.responses,
                if carried.is_empty() {
                    "no rate-limit header".to_string()
                } else {
                    carried.join(", ")
                }
            )
        })
        .collect()
}

fn verdict(r: &LoadReport) -> String {
    let failed = r.thresholds.iter().filter(|t| t.failed).count();
    format!(
        "{} findings, {failed} thresholds failed{}: exit {} ({})",
        r.findings.len(),
        if r.interrupted { ", interrupted" } else { "" },
        r.outcome.exit_code,
        r.outcome.status
    )
}

/// The terminal report.
pub fn human(r: &LoadReport, _color: bool) -> String {
    let mut out = format!(
        "ratecheck load {} — {:.1} s{}\n",
        r.target,
        r.wall_ms / 1000.0,
        if r.interrupted { " (interrupted)" } else { "" }
    );
    for l in summary_lines(r) {
        let _ = writeln!(out, "{l}");
    }
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(vec![
            "ms (successes only)",
            "n",
            "p50",
            "p90",
            "p99",
            "p99.9",
            "max",
        ]);
    for (label, p) in latency_rows(r) {
        t.add_row(vec![
            label.to_string(),
            p.count.to_string(),
            fmt_ms(p.p50),
            fmt_ms(p.p90),
            fmt_ms(p.p99),
            fmt_ms(p.p999),
            fmt_ms(p.max),
        ]);
    }
    let _ = writeln!(out, "{t}");
    out.push_str("rate-limit headers carried, by shape:\n");
    for l in shape_lines(r) {
        let _ = writeln!(out, "  {l}");
    }
    if !r.findings.is_empty() {
        out.push_str("findings:\n");
        for f in &r.findings {
            let _ = writeln!(out, "  {}: {}", f.kind.name(), f.message);
        }
    }
    for n in &r.notes {
        let _ = writeln!(out, "note: {n}");
    }
    for th in &r.thresholds {
        let _ = writeln!(
            out,
            "threshold {}: {} (actual {:.3})",
            th.condition.expr,
            if th.failed { "FAILED" } else { "ok" },
            th.actual
        );
    }
    let _ = writeln!(out, "{}", verdict(r));
    out
}

/// The Markdown report.
pub fn markdown(r: &LoadReport) -> String {
    let mut out = format!("## ratecheck load: `{}`\n\n", r.target);
    let _ = writeln!(out, "- tool: {}\n- verdict: **{}**", r.tool, verdict(r));
    for l in summary_lines(r) {
        let _ = writeln!(out, "- {l}");
    }
    out.push_str("\n| ms (successes only) | n | p50 | p90 | p99 | p99.9 | max |\n|---|---|---|---|---|---|---|\n");
    for (label, p) in latency_rows(r) {
        let _ = writeln!(
            out,
            "| {label} | {} | {} | {} | {} | {} | {} |",
            p.count,
            fmt_ms(p.p50),
            fmt_ms(p.p90),
            fmt_ms(p.p99),
            fmt_ms(p.p999),
            fmt_ms(p.max)
        );
    }
    out.push_str("\n### Rate-limit headers carried, by shape\n\n");
    for l in shape_lines(r) {
        let _ = writeln!(out, "- {l}");
    }
    if !r.findings.is_empty() {
        out.push_str("\n### Findings\n\n");
        for f in &r.findings {
            let _ = writeln!(out, "- `{}`: {}", f.kind.name(), f.message);
        }
    }
    if !r.notes.is_empty() {
        out.push_str("\n### Notes\n\n");
        for n in &r.notes {
            let _ = writeln!(out, "- {n}");
        }
    }
    if !r.thresholds.is_empty() {
        out.push_str("\n### Thresholds\n\n");
        for th in &r.thresholds {
            let _ = writeln!(
                out,
                "- `{}`: {} (actual {:.3})",
                th.condition.expr,
                if th.failed { "**FAILED**" } else { "ok" },
                th.actual
            );
        }
    }
    out
}
