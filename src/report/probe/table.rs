//! The probe's terminal report: a header matrix and plain verdict lines.
//!
//! Colour is decided by the caller (TTY and `NO_COLOR`); with it off the output is plain text
//! that greps and diffs cleanly.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Attribute, Cell as TCell, Color, ContentArrangement, Table};

use super::{Cell, column_head, identity, matrix, verdict};
use crate::probe::ProbeReport;
use crate::report::paint;

/// Renders the human report; with a `width`, a matrix wider than it is laid out by shape.
pub fn render(report: &ProbeReport, color: bool, width: Option<u16>) -> String {
    let mut out = heading(report);
    if report.rounds > 1 {
        out.push_str(&format!(
            "{} rounds; the matrix shows round 1\n",
            report.rounds
        ));
    }
    if !report.exchanges.is_empty() {
        let wide = table(report, color);
        let needed = wide.lines().map(|l| l.chars().count()).max().unwrap_or(0);
        if width.is_some_and(|w| needed > usize::from(w)) {
            out.push_str(&by_shape(report, color));
        } else {
            out.push_str(&wide);
            out.push('\n');
        }
    }
    if !report.findings.is_empty() {
        out.push_str("\nfindings:\n");
        for f in &report.findings {
            out.push_str(&format!("  {} {}", paint("✗", "31", color), f.message));
            if let Some(link) = &f.link {
                out.push_str(&format!(" <{link}>"));
            }
            out.push('\n');
        }
    }
    if !report.warnings.is_empty() {
        out.push_str(&format!(
            "\nwarnings{}:\n",
            if report.strict {
                " (--strict: they fail the run)"
            } else {
                " (suspicious, not proof: exit 0 unless --strict)"
            }
        ));
        for w in &report.warnings {
            out.push_str(&format!("  {} {}", paint("!", "33", color), w.message));
            if let Some(link) = &w.link {
                out.push_str(&format!(" <{link}>"));
            }
            out.push('\n');
        }
    }
    if !report.notes.is_empty() {
        out.push_str("\nnotes:\n");
        for n in &report.notes {
            out.push_str(&format!("  · {n}\n"));
        }
    }
    if !report.unchecked.is_empty() {
        out.push_str(&format!(
            "\nnever checked{}:\n",
            if report.strict {
                " (--strict: it fails the run)"
            } else {
                " (no header check applies to a shape never seen; --strict fails the run)"
            }
        ));
        for u in &report.unchecked {
            out.push_str(&format!(
                "  {} {}: {}\n",
                paint("?", "33", color),
                u.shape,
                u.why
            ));
        }
    }
    // Green only when everything asked for was seen and nothing is suspicious.
    let mark = if report.outcome.exit_code != 0 {
        paint("✗", "31", color)
    } else if report.warnings.is_empty() && report.unchecked.is_empty() {
        paint("✓", "32", color)
    } else {
        paint("!", "33", color)
    };
    out.push_str(&format!("\n{mark} {}\n", verdict(report)));
    out
}

/// The first line: what was probed (or read), the model, the gateway, where the key came from.
fn heading(report: &ProbeReport) -> String {
    let mut out = String::new();
    let gateway: String = identity(&report.gateway)
        .iter()
        .flat_map(|part| [", ", part.as_str()])
        .collect();
    match &report.evidence {
        Some(files) => out.push_str(&format!(
            "ratecheck analyze {} (target {}{gateway})\n",
            files.join(", "),
            report.target,
        )),
        None => out.push_str(&format!(
            "ratecheck probe {} (model {}{gateway}, {}{})\n",
            report.target,
            report.model.as_deref().unwrap_or("—"),
            if report.key == "none" {
                "no key".to_string()
            } else {
                format!("key from {}", report.key)
            },
            report
                .proxy
                .as_deref()
                .map(|p| format!(", via proxy {p}"))
                .unwrap_or_default(),
        )),
    }
    out
}

fn table(report: &ProbeReport, color: bool) -> String {
    let m = matrix(report);
    let mut t = Table::new();
    // Full width: the caller decides whether it fits (see `render`), rather than the table
    // squeezing every column to one character on a narrow or unknown terminal.
    t.load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled);
    if color {
        t.enforce_styling();
    } else {
        t.force_no_tty();
    }
    let mut head = vec![TCell::new("header")];
    for v in &m.columns {
        let (endpoint, mode) = column_head(*v);
        head.push(TCell::new(format!("{endpoint}\n{mode}")));
    }
    t.set_header(head);
    for (name, cells) in &m.meta {
        let mut row = vec![TCell::new(name)];
        row.extend(cells.iter().map(TCell::new));
        t.add_row(row);
    }
    let styled = |c: &Cell| match c {
        Cell::Value(v) => TCell::new(v),
        Cell::Missing if color => TCell::new("MISSING")
            .fg(Color::Red)
            .add_attribute(Attribute::Bold),
        Cell::Missing => TCell::new("MISSING"),
        Cell::Upstream(v) => TCell::new(format!("{v} (upstream)")),
        Cell::None => TCell::new("·"),
    };
    for (name, cells) in m.rows.iter().chain(m.provider_rows.iter()) {
        let mut row = vec![TCell::new(name)];
        row.extend(cells.iter().map(styled));
        t.add_row(row);
    }
    t.to_string()
}

/// The matrix for a narrow terminal: one block per endpoint and shape, one line per header.
fn by_shape(report: &ProbeReport, color: bool) -> String {
    let m = matrix(report);
    let mut out = String::new();
    for (i, v) in m.columns.iter().enumerate() {
        let (endpoint, mode) = column_head(*v);
        let meta: Vec<String> = m
            .meta
            .iter()
            .map(|(name, cells)| format!("{name} {}", cells[i]))
            .collect();
        out.push_str(&format!("{endpoint} {mode}: {}\n", meta.join(", ")));
        for (name, cells) in m.rows.iter().chain(m.provider_rows.iter()) {
            let value = match &cells[i] {
                Cell::Value(v) => v.clone(),
                Cell::Missing => paint("MISSING", "31;1", color),
                Cell::Upstream(v) => format!("{v} (upstream)"),
                Cell::None => continue,
            };
            out.push_str(&format!("  {name}: {value}\n"));
        }
    }
    out
}
