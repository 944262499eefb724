//! The limiter checks' report: a matrix of endpoint × shape against the five checks, then the
//! findings with their evidence, the warnings, what was not checked and why, and the notes.

use std::fmt::Write as _;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};

use super::{Format, md, md_text, paint};
use crate::endpoint::Variant;
use crate::limits::{CheckId, KeyLimits, LimitsReport, Status};

/// The report in `format`.
pub fn render(report: &LimitsReport, format: Format, color: bool) -> String {
    match format {
        Format::Json => super::json(report),
        Format::Markdown => markdown(report),
        Format::Table => table(report, color),
    }
}

/// The column heading of a check, short enough for a terminal.
fn heading(check: CheckId) -> &'static str {
    match check {
        CheckId::RetryAdvice => "429 says when",
        CheckId::RefusalsCharged => "refusals free",
        CheckId::TokensCharged => "tokens charged",
        CheckId::SlotsReturned => "slots returned",
        CheckId::Concurrency => "concurrency",
    }
}

/// The rows: each endpoint × shape that has a cell, in report order.
fn rows(r: &LimitsReport) -> Vec<Variant> {
    let mut out: Vec<Variant> = Vec::new();
    for c in &r.cells {
        if !out.contains(&c.variant) {
            out.push(c.variant);
        }
    }
    out
}

fn limits_line(l: &KeyLimits) -> String {
    let show = |v: Option<i64>| v.map_or_else(|| "—".to_string(), |v| v.to_string());
    format!(
        "requests {}, tokens {}, max_parallel {}{}",
        show(l.requests),
        show(l.tokens),
        show(l.max_parallel),
        l.max_parallel_from
            .as_deref()
            .filter(|f| *f != "header")
            .map(|f| format!(" ({f})"))
            .unwrap_or_default()
    )
}

fn heading_lines(r: &LimitsReport) -> String {
    let mut out = format!(
        "ratecheck limits {} (model {}{})\n",
        r.target,
        r.model,
        r.gateway
            .as_deref()
            .map(|g| format!(", {g}"))
            .unwrap_or_default()
    );
    let _ = write!(out, "key: {}", limits_line(&r.limits));
    if let Some(c) = &r.concurrency_key_limits {
        let _ = write!(out, "; concurrency key: {}", limits_line(c));
    }
    let _ = writeln!(out, "\nbudget: {}", r.budget.summary());
    out
}

/// "✗ 5 findings, 1 warning (exit 1) — 87 requests in 74.2 s (41.0 s waiting)".
fn verdict_line(r: &LimitsReport) -> String {
    let exit = r.exit();
    let plural = |n: usize, one: &str, many: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {many}")
        }
    };
    let mark = if !r.checked_any() {
        "·"
    } else if r.findings.is_empty() && exit.code() == 0 {
        "✓"
    } else {
        "✗"
    };
    let what = if !r.checked_any() {
        "nothing could be checked (see \"not checked\"); `--strict` fails such a run".to_string()
    } else if r.findings.is_empty() {
        "no findings".to_string()
    } else {
        plural(r.findings.len(), "finding", "findings")
    };
    let warnings = if r.warnings.is_empty() {
        String::new()
    } else {
        format!(", {}", plural(r.warnings.len(), "warning", "warnings"))
    };
    let waited = if r.waited_ms > 0.0 {
        format!(
            " ({:.1} s waiting for the key's limits to clear)",
            r.waited_ms / 1000.0
        )
    } else {
        String::new()
    };
    format!(
        "{mark} {what}{warnings} (exit {}) — {} in {:.1} s{waited}",
        exit.code(),
        plural(r.requests.len(), "request", "requests"),
        r.wall_ms / 1000.0
    )
}

/// The reasons cells were not checked, each once, with the cells it covers.
fn not_checked(r: &LimitsReport) -> Vec<(CheckId, String, Vec<Variant>)> {
    let mut out: Vec<(CheckId, String, Vec<Variant>)> = Vec::new();
    for c in r.cells.iter().filter(|c| c.status == Status::NotChecked) {
        match out
            .iter_mut()
            .find(|(k, why, _)| *k == c.check && *why == c.detail)
        {
            Some((_, _, vs)) => vs.push(c.variant),
            None => out.push((c.check, c.detail.clone(), vec![c.variant])),
        }
    }
    out
}

fn places(vs: &[Variant], all: usize) -> String {
    if vs.len() == all && all > 1 {
        "every endpoint and shape".into()
    } else {
        vs.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn table(r: &LimitsReport, color: bool) -> String {
    let mut out = heading_lines(r);
    let variants = rows(r);
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled);
    let mut head = vec!["endpoint × shape".to_string()];
    head.extend(CheckId::ALL.iter().map(|c| heading(*c).to_string()));
    t.set_header(head);
    for v in &variants {
        let mut row = vec![v.to_string()];
        for check in CheckId::ALL {
            let label = r.cell(check, *v).map_or("—", |c| c.status.label());
            row.push(match r.cell(check, *v).map(|c| c.status) {
                Some(Status::Defect) => paint(label, "31;1", color),
                Some(Status::Suspicious) => paint(label, "33", color),
                Some(Status::Held) => paint(label, "32", color),
                _ => label.to_string(),
            });
        }
        t.add_row(row);
    }
    let _ = writeln!(out, "{t}");
    if !r.findings.is_empty() {
        out.push_str("\nfindings:\n");
        for f in &r.findings {
            let _ = writeln!(
                out,
                "  {} {}: {}",
                paint("✗", "31;1", color),
                f.kind.name(),
                f.message
            );
        }
    }
    if !r.warnings.is_empty() {
        out.push_str("\nwarnings (suspicious, not proof):\n");
        for f in &r.warnings {
            let _ = writeln!(
                out,
                "  {} {}: {}",
                paint("!", "33", color),
                f.kind.name(),
                f.message
            );
        }
    }
    let skipped = not_checked(r);
    if !skipped.is_empty() {
        out.push_str("\nnot checked:\n");
        for (check, why, vs) in &skipped {
            let _ = writeln!(
                out,
                "  · {} on {}: {why}",
                check.title(),
                places(vs, variants.len())
            );
        }
    }
    if !r.notes.is_empty() {
        out.push_str("\nnotes:\n");
        for n in &r.notes {
            let _ = writeln!(out, "  · {n}");
        }
    }
    let _ = writeln!(out, "\n{}", verdict_line(r));
    out
}

fn markdown(r: &LimitsReport) -> String {
    let mut out = format!("## ratecheck limits: `{}`\n\n", md(&r.target));
    let _ = writeln!(out, "- tool: {}", md_text(&r.tool));
    if let Some(g) = &r.gateway {
        let _ = writeln!(out, "- gateway: {}", md_text(g));
    }
    let _ = writeln!(out, "- model: `{}`", md(&r.model));
    let _ = writeln!(out, "- key: {}", limits_line(&r.limits));
    if let Some(c) = &r.concurrency_key_limits {
        let _ = writeln!(out, "- concurrency key: {}", limits_line(c));
    }
    let _ = writeln!(out, "- budget: {}", r.budget.summary());
    let _ = writeln!(out, "- verdict: **{}**\n", md_text(&verdict_line(r)));
    let variants = rows(r);
    out.push_str("| endpoint × shape |");
    for c in CheckId::ALL {
        let _ = write!(out, " {} |", c.title());
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(CheckId::ALL.len()));
    out.push('\n');
    for v in &variants {
        let _ = write!(out, "| {v} |");
        for check in CheckId::ALL {
            let label = r.cell(check, *v).map_or("—", |c| c.status.label());
            let shown = match r.cell(check, *v).map(|c| c.status) {
                Some(Status::Defect) => format!("**{label}**"),
                _ => label.to_string(),
            };
            let _ = write!(out, " {shown} |");
        }
        out.push('\n');
    }
    if !r.findings.is_empty() {
        out.push_str("\n### Findings\n\n");
        for f in &r.findings {
            let link = f
                .link
                .as_deref()
                .map(|l| format!(" ([upstream]({l}))"))
                .unwrap_or_default();
            let _ = writeln!(out, "- `{}`: {}{link}", f.kind.name(), md_text(&f.message));
        }
    }
    if !r.warnings.is_empty() {
        out.push_str("\n### Warnings (suspicious, not proof)\n\n");
        for f in &r.warnings {
            let _ = writeln!(out, "- `{}`: {}", f.kind.name(), md_text(&f.message));
        }
    }
    out.push_str("\n### Evidence per check\n\n| check | endpoint × shape | result | evidence |\n|---|---|---|---|\n");
    for c in r.cells.iter().filter(|c| c.status != Status::NotChecked) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            c.check.title(),
            c.variant,
            c.status.label(),
            md(&c.detail)
        );
    }
    let skipped = not_checked(r);
    if !skipped.is_empty() {
        out.push_str("\n### Not checked\n\n");
        for (check, why, vs) in &skipped {
            let _ = writeln!(
                out,
                "- {} on {}: {}",
                check.title(),
                places(vs, variants.len()),
                md_text(why)
            );
        }
    }
    if !r.notes.is_empty() {
        out.push_str("\n### Notes\n\n");
        for n in &r.notes {
            let _ = writeln!(out, "- {}", md_text(n));
        }
    }
    out
}
