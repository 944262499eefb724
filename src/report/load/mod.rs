//! Reporters for `ratecheck load`: the terminal summary, Markdown, JSON, and (`html`) the
//! self-contained chart page.

pub mod html;

use std::fmt::Write as _;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};

use super::{Format, md_text};
use crate::load::LoadReport;
use crate::load::report::count;
use crate::load::stats::Percentiles;

/// Renders a load report in the chosen format.
pub fn render(report: &LoadReport, format: Format, color: bool) -> String {
    match format {
        Format::Table => human(report, color),
        Format::Json => super::json(report),
        Format::Markdown => markdown(report),
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

fn fmt_ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
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
    let shards = r.shards.as_ref().map_or(String::new(), |s| {
        format!(
            ", {}",
            count(s.problems.len() as u64, "shard problem", "shard problems")
        )
    });
    format!(
        "{}, {}, {failed} thresholds failed{shards}{}: exit {} ({})",
        count(r.findings.len() as u64, "finding", "findings"),
        count(r.warnings.len() as u64, "warning", "warnings"),
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
    for l in r.summary_lines() {
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
    if !r.warnings.is_empty() {
        out.push_str("warnings (suspicious, not proof):\n");
        for w in &r.warnings {
            let _ = writeln!(out, "  {}: {}", w.kind.name(), w.message);
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
    for l in r.summary_lines() {
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
            let _ = writeln!(out, "- `{}`: {}", f.kind.name(), md_text(&f.message));
        }
    }
    if !r.warnings.is_empty() {
        out.push_str("\n### Warnings (suspicious, not proof)\n\n");
        for w in &r.warnings {
            let _ = writeln!(out, "- `{}`: {}", w.kind.name(), md_text(&w.message));
        }
    }
    if !r.notes.is_empty() {
        out.push_str("\n### Notes\n\n");
        for n in &r.notes {
            let _ = writeln!(out, "- {}", md_text(n));
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
