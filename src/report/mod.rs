//! Reporters: they turn a command's report into text and never decide anything.
//!
//! One module per command (`probe`, `run`, `load`, `triage`), all driven by one [`Format`]; one
//! JSON writer and one colour helper for all of them. Every form is snapshot-tested on fixed
//! recorded data, so a layout change is reviewed as a diff.

pub mod fleet;
pub mod limits;
pub mod load;
pub mod probe;
pub mod run;
pub mod triage;

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod tests;

use serde::Serialize;

/// Output format for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table and verdict lines for people.
    Table,
    /// The stable JSON report.
    Json,
    /// Markdown, paste-ready for a ticket.
    Markdown,
}

/// Any report as pretty JSON, with a trailing newline (schemas under `docs/`).
pub fn json<T: Serialize>(report: &T) -> String {
    let mut s = serde_json::to_string_pretty(report)
        .unwrap_or_else(|e| format!("{{\"error\": \"report could not be serialised: {e}\"}}"));
    s.push('\n');
    s
}

/// `text` in the ANSI colour `code` (`31` red, `32` green, `31;1` bold red) when `color` is on.
pub fn paint(text: &str, code: &str, color: bool) -> String {
    if color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// Text made safe for a Markdown table cell: [`md_text`], pipes escaped, newlines folded.
pub fn md(text: &str) -> String {
    md_text(text).replace('|', "\\|").replace('\n', " ")
}

/// Gateway-provided text made inert in Markdown: outside code spans no raw HTML (`<` and `>`
/// as entities) and no links (brackets escaped), so an error body cannot inject markup or a
/// `javascript:` link into a ticket; inside code spans nothing renders, so nothing changes.
/// Control characters were already escaped when the text was recorded.
pub fn md_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut code = false;
    for c in text.chars() {
        match c {
            '`' => {
                code = !code;
                out.push(c);
            }
            '<' if !code => out.push_str("&lt;"),
            '>' if !code => out.push_str("&gt;"),
            '[' if !code => out.push_str("\\["),
            ']' if !code => out.push_str("\\]"),
            c => out.push(c),
        }
    }
    out
}
