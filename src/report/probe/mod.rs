//! Reporters for `ratecheck probe`: the header × endpoint/shape matrix that the terminal and
//! Markdown forms share is built here, once; `table` and `markdown` lay it out.

pub mod markdown;
pub mod table;

use super::Format;
use crate::endpoint::{Mode, Variant};
use crate::headers::Family;
use crate::headers::values::shown;
use crate::http::Exchange;
use crate::probe::{Gateway, NamedBy, ProbeReport};
use crate::report::md_text;

/// Renders a probe report in the chosen format, the table at full width.
pub fn render(report: &ProbeReport, format: Format, color: bool) -> String {
    render_within(report, format, color, None)
}

/// As [`render`], with the table fitted to a terminal `width` when one is known: too wide, the
/// matrix is laid out one response shape per block instead.
pub fn render_within(
    report: &ProbeReport,
    format: Format,
    color: bool,
    width: Option<u16>,
) -> String {
    match format {
        Format::Table => table::render(report, color, width),
        Format::Json => super::json(report),
        Format::Markdown => markdown::render(report),
    }
}

/// One cell of the header matrix.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// The header's value.
    Value(String),
    /// Present elsewhere, absent here on a successful response.
    Missing,
    /// Here, but with its `llm_provider-` twin's value: the upstream's, not the gateway's own.
    Upstream(String),
    /// Not applicable: this response was not a success, or the header is not compared.
    None,
}

/// The header × endpoint/shape matrix for the first exchange of each variant.
#[derive(Debug, Clone)]
pub struct Matrix {
    /// Column heads, one per variant.
    pub columns: Vec<Variant>,
    /// Status, shape and time rows, as text.
    pub meta: Vec<(String, Vec<String>)>,
    /// Rate-limit header rows: name, cells.
    pub rows: Vec<(String, Vec<Cell>)>,
    /// Upstream `llm_provider-*` rows, shown apart.
    pub provider_rows: Vec<(String, Vec<Cell>)>,
}

/// Who answered, as the one-line summaries say it: `gateway Portkey`, or `server cloudflare`
/// when only the `server` header names it; then `upstream OpenAI (server cloudflare)`, or
/// `upstream server fake-openai-upstream/1` when only the `server` header the gateway passed
/// through names it.
pub fn identity(gw: &Gateway) -> Vec<String> {
    let mut parts = Vec::new();
    match (gw.named_by, &gw.name) {
        (Some(NamedBy::Headers), Some(name)) => parts.push(match &gw.version {
            Some(v) => format!("gateway {name} {v}"),
            None => format!("gateway {name}"),
        }),
        (Some(NamedBy::Server), Some(name)) => parts.push(format!("server {name}")),
        _ => {}
    }
    if let Some(u) = &gw.upstream {
        parts.push(match (u.named_by, &u.server) {
            (NamedBy::Server, _) => format!("upstream server {}", u.name),
            (NamedBy::Headers, Some(server)) => format!("upstream {} (server {server})", u.name),
            (NamedBy::Headers, None) => format!("upstream {}", u.name),
        });
    }
    parts
}

/// A header name as code in Markdown, backticks inside it made harmless.
fn code(name: &str) -> String {
    format!("`{}`", name.replace('`', "'"))
}

/// The gateway as the Markdown report and the triage bundle name it: the product, its version
/// and the header that named it; or what the `server` header says when nothing else does.
pub fn gateway_markdown(gw: &Gateway) -> String {
    let evidence = gw.evidence.as_deref().map(code).unwrap_or_default();
    match (gw.named_by, &gw.name) {
        (Some(NamedBy::Headers), Some(name)) => match &gw.version {
            Some(v) => format!("{} {} (named by {evidence})", md_text(name), md_text(v)),
            None => format!(
                "{} (named by {evidence}; version not revealed)",
                md_text(name)
            ),
        },
        (Some(NamedBy::Server), Some(name)) => format!(
            "not named by headers of its own; `server`: {}",
            md_text(name)
        ),
        _ => "not identified from headers".into(),
    }
}

/// The upstream as the Markdown report and the triage bundle name it, when one is seen.
pub fn upstream_markdown(gw: &Gateway) -> Option<String> {
    let u = gw.upstream.as_ref()?;
    Some(match (u.named_by, &u.server) {
        (NamedBy::Server, _) => format!(
            "named only by the `server` header the gateway passed through: {}",
            md_text(&u.name)
        ),
        (NamedBy::Headers, server) => format!(
            "{} (named by {}{})",
            md_text(&u.name),
            code(&u.evidence),
            server
                .as_deref()
                .map(|s| format!("; `server` passed through: {}", md_text(s)))
                .unwrap_or_default()
        ),
    })
}

/// Builds the matrix from the first exchange of each variant.
pub fn matrix(report: &ProbeReport) -> Matrix {
    let columns = report.variants();
    let firsts: Vec<&Exchange> = columns
        .iter()
        .filter_map(|v| report.exchanges.iter().find(|e| e.variant == *v))
        .collect();
    let meta = vec![
        (
            "status".to_string(),
            firsts
                .iter()
                .map(|e| e.status.map_or("—".into(), |s| s.to_string()))
                .collect(),
        ),
        (
            "shape".to_string(),
            firsts.iter().map(|e| e.shape.label().to_string()).collect(),
        ),
        (
            "headers after".to_string(),
            firsts
                .iter()
                .map(|e| {
                    e.time_to_headers_ms
                        .map_or("—".into(), |t| format!("{t:.0} ms"))
                })
                .collect(),
        ),
    ];
    let mut names: Vec<(Family, String)> = Vec::new();
    for e in &report.exchanges {
        for h in &e.rate_headers {
            let shown = h.family.compared_across_shapes()
                || matches!(h.family, Family::RetryAfter | Family::Provider);
            if shown && !names.iter().any(|(_, n)| *n == h.name) {
                names.push((h.family, h.name.clone()));
            }
        }
    }
    names.sort();
    let mut rows = Vec::new();
    let mut provider_rows = Vec::new();
    for (family, name) in names {
        let cells = firsts
            .iter()
            .map(|e| match e.rate_header(&name) {
                // The upstream's value passed through stands where the gateway's own would.
                Some(h) if h.passthrough && e.shape.is_success() => {
                    Cell::Upstream(shown(&h.value).into_owned())
                }
                Some(h) => Cell::Value(shown(&h.value).into_owned()),
                None if e.shape.is_success() && family.compared_across_shapes() => Cell::Missing,
                None => Cell::None,
            })
            .collect();
        if family == Family::Provider {
            provider_rows.push((name, cells));
        } else {
            rows.push((name, cells));
        }
    }
    Matrix {
        columns,
        meta,
        rows,
        provider_rows,
    }
}

/// A two-line column head: endpoint, then mode.
pub fn column_head(v: Variant) -> (String, &'static str) {
    let mode = match v.mode {
        Mode::NonStreaming => "non-stream",
        Mode::Streaming => "stream",
    };
    (v.endpoint.name().to_string(), mode)
}

/// The one-line verdict.
pub fn verdict(report: &ProbeReport) -> String {
    use crate::words::counted;
    let n = report.findings.len();
    let w = report.warnings.len();
    let warnings = if w > 0 {
        format!(", {}", counted(w, "warning"))
    } else {
        String::new()
    };
    let shapes: Vec<&str> = report.unchecked.iter().map(|u| u.shape.as_str()).collect();
    let warnings = if shapes.is_empty() {
        warnings
    } else {
        format!("{warnings}; {} never checked", shapes.join(" and "))
    };
    let what = match report.outcome.status {
        "ok" => format!("no findings{warnings}"),
        "findings" => format!("{}{warnings}", counted(n, "finding")),
        other => format!(
            "{other}{}{warnings}",
            if n > 0 {
                format!(", {}", counted(n, "finding"))
            } else {
                String::new()
            }
        ),
    };
    // The error itself goes to stderr once; the report only says that the probe stopped.
    // An outage (every answer a 5xx) is reported as the abort, but everything was sent.
    let stopped = match &report.aborted {
        Some(a) if a.failure.kind != crate::verdict::FailureKind::ServerError => ", stopped early",
        _ => "",
    };
    let plural = if report.exchanges.len() == 1 { "" } else { "s" };
    if report.evidence.is_some() {
        return format!(
            "{what} (exit {}) — {} exchange{plural} from evidence",
            report.outcome.exit_code,
            report.exchanges.len(),
        );
    }
    format!(
        "{what} (exit {}){stopped} — {} request{plural} in {:.0} ms",
        report.outcome.exit_code,
        report.exchanges.len(),
        report.wall_ms
    )
}
