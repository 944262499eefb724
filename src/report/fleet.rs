//! The fleet check's report: the timeline of answers per instance, then the verdict lines.

use crate::words::counted;
use std::fmt::Write as _;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};

use super::{Format, md, md_text, paint};
use crate::fleet::{FleetReport, VIA};

/// The report in `format`.
pub fn render(report: &FleetReport, format: Format, color: bool) -> String {
    match format {
        Format::Json => super::json(report),
        Format::Markdown => markdown(report),
        Format::Table => table(report, color),
    }
}

fn cell<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "—".to_string(), |v| v.to_string())
}

/// The timeline's source column: the instance's number, or `via` for the load balancer.
fn source(instance: usize) -> String {
    if instance == VIA {
        "via".into()
    } else {
        instance.to_string()
    }
}

/// The heading's "watched for 30 s" or "spent one window".
fn mode(r: &FleetReport) -> String {
    r.watch_ms.map_or_else(
        || "spending one window".into(),
        |w| format!("watched for {:.0} s", w / 1000.0),
    )
}

fn table(r: &FleetReport, color: bool) -> String {
    let mut out = format!(
        "ratecheck fleet: {} instances, {}, {} answers, counter {}\n",
        r.instances.len(),
        mode(r),
        r.answers.len(),
        r.header.as_deref().unwrap_or("—")
    );
    for (i, url) in r.instances.iter().enumerate() {
        let _ = writeln!(out, "  instance {}: {url}", i + 1);
    }
    if let Some(via) = &r.via {
        let _ = writeln!(out, "  via (load balancer): {via}");
    }
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header([
            "request",
            "instance",
            "at ms",
            "status",
            "remaining",
            "limit",
        ]);
    for a in &r.answers {
        t.add_row([
            a.seq.to_string(),
            source(a.instance),
            format!("{:.0}", a.at_ms),
            a.status
                .map_or_else(|| "no answer".into(), |s| s.to_string()),
            cell(a.remaining),
            cell(a.limit),
        ]);
    }
    let _ = writeln!(out, "{t}");
    verdict_lines(r, &mut out, |s, code| paint(s, code, color));
    out
}

fn verdict_lines(r: &FleetReport, out: &mut String, paint: impl Fn(&str, &str) -> String) {
    if !r.changes.is_empty() {
        out.push_str("changes of state:\n");
        for c in &r.changes {
            let _ = writeln!(
                out,
                "  {} {} (+{:.1} s, request {}): {}",
                c.time,
                paint(c.state.label(), "1"),
                c.at_ms / 1000.0,
                c.seq,
                c.evidence
            );
        }
    }
    if !r.findings.is_empty() {
        out.push_str("findings:\n");
        for f in &r.findings {
            let _ = writeln!(
                out,
                "  {} {}: {}",
                paint("✗", "31;1"),
                f.kind.name(),
                f.message
            );
        }
    }
    if !r.warnings.is_empty() {
        out.push_str("warnings (suspicious, not proof):\n");
        for f in &r.warnings {
            let _ = writeln!(
                out,
                "  {} {}: {}",
                paint("!", "33"),
                f.kind.name(),
                f.message
            );
        }
    }
    for n in &r.notes {
        let _ = writeln!(out, "note: {n}");
    }
    let exit = r.exit();
    let _ = writeln!(
        out,
        "{}, {}, {} in {:.1} s: exit {} ({})",
        counted(r.findings.len(), "finding"),
        counted(r.warnings.len(), "warning"),
        counted(r.answers.len(), "request"),
        r.wall_ms / 1000.0,
        exit.code(),
        exit.name()
    );
}

fn markdown(r: &FleetReport) -> String {
    let mut out = format!("## ratecheck fleet\n\n{}\n\n", mode(r));
    for (i, url) in r.instances.iter().enumerate() {
        let _ = writeln!(out, "- instance {}: `{}`", i + 1, md(url));
    }
    if let Some(via) = &r.via {
        let _ = writeln!(out, "- via (load balancer): `{}`", md(via));
    }
    let _ = writeln!(
        out,
        "- counter: `{}`\n\n| request | instance | at ms | status | remaining | limit |\n|---|---|---|---|---|---|",
        md(r.header.as_deref().unwrap_or("—"))
    );
    for a in &r.answers {
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {} | {} | {} |",
            a.seq,
            source(a.instance),
            a.at_ms,
            cell(a.status),
            cell(a.remaining),
            cell(a.limit)
        );
    }
    out.push('\n');
    let mut lines = String::new();
    verdict_lines(r, &mut lines, |s, _| s.to_string());
    for l in lines.lines() {
        // Findings and warnings as a list; headings and notes as lines of their own.
        match l.strip_prefix("  ") {
            Some(item) => {
                let _ = writeln!(out, "- {}", md_text(item));
            }
            None => {
                let _ = writeln!(out, "\n{}", md_text(l));
            }
        }
    }
    out
}
