//! The probe's Markdown report: a ticket-ready summary, matrix and findings.

use super::{Cell, column_head, gateway_markdown, matrix, upstream_markdown, verdict};
use crate::probe::ProbeReport;
use crate::report::{md as escape, md_text};

/// Renders the Markdown report.
pub fn render(report: &ProbeReport) -> String {
    let mut out = heading(report);
    out.push_str(&format!(
        "- tool: {}\n- key from: {}\n",
        report.tool,
        md_text(&report.key)
    ));
    if let Some(p) = &report.proxy {
        out.push_str(&format!("- via proxy: {}\n", md_text(p)));
    }
    if report.gateway.name.is_some() {
        out.push_str(&format!(
            "- gateway: {}\n",
            gateway_markdown(&report.gateway)
        ));
    }
    if let Some(upstream) = upstream_markdown(&report.gateway) {
        out.push_str(&format!("- upstream: {upstream}\n"));
    }
    out.push_str(&format!(
        "- model: `{}`\n- verdict: **{}**\n\n",
        report.model.as_deref().unwrap_or("—"),
        verdict(report)
    ));
    if !report.exchanges.is_empty() {
        let m = matrix(report);
        out.push_str("### Rate-limit headers by endpoint and shape\n\n| header |");
        for v in &m.columns {
            let (endpoint, mode) = column_head(*v);
            out.push_str(&format!(" {endpoint} ({mode}) |"));
        }
        out.push_str("\n|---|");
        out.push_str(&"---|".repeat(m.columns.len()));
        out.push('\n');
        for (name, cells) in &m.meta {
            out.push_str(&format!("| {name} |"));
            for c in cells {
                out.push_str(&format!(" {} |", escape(c)));
            }
            out.push('\n');
        }
        for (name, cells) in m.rows.iter().chain(m.provider_rows.iter()) {
            out.push_str(&format!("| `{name}` |"));
            for c in cells {
                let text = match c {
                    Cell::Value(v) => format!("`{}`", escape(v)),
                    Cell::Missing => "**MISSING**".into(),
                    Cell::Upstream(v) => format!("`{}` (upstream)", escape(v)),
                    Cell::None => "·".into(),
                };
                out.push_str(&format!(" {text} |"));
            }
            out.push('\n');
        }
        out.push('\n');
    }
    if !report.findings.is_empty() {
        out.push_str("### Findings\n\n");
        for f in &report.findings {
            let link = f
                .link
                .as_ref()
                .map(|l| format!(" ([upstream]({l}))"))
                .unwrap_or_default();
            out.push_str(&format!(
                "- `{}`: {}{link}\n",
                f.kind.name(),
                md_text(&f.message)
            ));
        }
        out.push('\n');
    }
    if !report.warnings.is_empty() {
        out.push_str("### Warnings (suspicious, not proof)\n\n");
        for w in &report.warnings {
            out.push_str(&format!("- `{}`: {}\n", w.kind.name(), md_text(&w.message)));
        }
        out.push('\n');
    }
    if !report.unchecked.is_empty() {
        out.push_str("### Never checked\n\n");
        for u in &report.unchecked {
            out.push_str(&format!("- {}: {}\n", md_text(&u.shape), md_text(&u.why)));
        }
        out.push('\n');
    }
    if !report.notes.is_empty() {
        out.push_str("### Notes\n\n");
        for n in &report.notes {
            out.push_str(&format!("- {}\n", md_text(n)));
        }
        out.push('\n');
    }
    if let Some(a) = &report.aborted {
        out.push_str(&format!(
            "### Stopped early\n\n{} — {}\n",
            a.failure.message, a.hint
        ));
    }
    out
}

/// `## ratecheck probe: URL`, or for evidence the files it was read from.
fn heading(report: &ProbeReport) -> String {
    match &report.evidence {
        Some(files) => {
            let files: Vec<String> = files.iter().map(|f| format!("`{}`", escape(f))).collect();
            format!(
                "## ratecheck analyze: `{}`\n\n- evidence: {}\n",
                escape(&report.target),
                files.join(", ")
            )
        }
        None => format!("## ratecheck probe: `{}`\n\n", report.target),
    }
}
