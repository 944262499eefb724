//! Snapshots of every reporter on the fixed data in `fixtures`: a layout change shows up as a
//! diff to review (`cargo insta review`), not as a silent change in what users read.

use insta::assert_snapshot;

use super::{Format, fixtures, limits, load, probe, run, triage};

#[test]
fn probe_table() {
    assert_snapshot!(probe::render(
        &fixtures::probe_report(),
        Format::Table,
        false
    ));
}

#[test]
fn probe_table_in_colour_marks_missing_cells() {
    let text = probe::render(&fixtures::probe_report(), Format::Table, true);
    assert!(text.contains("\x1b[31m✗\x1b[0m"), "{text}");
    assert!(text.contains("MISSING"), "{text}");
}

/// On a terminal narrower than the matrix, one block per shape instead of a squeezed table.
#[test]
fn probe_table_on_a_narrow_terminal() {
    assert_snapshot!(probe::render_within(
        &fixtures::probe_report(),
        Format::Table,
        false,
        Some(60)
    ));
}

#[test]
fn probe_markdown() {
    assert_snapshot!(probe::render(
        &fixtures::probe_report(),
        Format::Markdown,
        false
    ));
}

#[test]
fn probe_json() {
    assert_snapshot!(probe::render(
        &fixtures::probe_report(),
        Format::Json,
        false
    ));
}

#[test]
fn run_summary() {
    assert_snapshot!(run::render(&fixtures::run_report(), Format::Table, false));
}

#[test]
fn run_junit() {
    assert_snapshot!(run::junit(&fixtures::run_report()));
}

#[test]
fn run_markdown() {
    assert_snapshot!(run::render(
        &fixtures::run_report(),
        Format::Markdown,
        false
    ));
}

#[tokio::test(start_paused = true)]
async fn load_table() {
    assert_snapshot!(load::render(&fixtures::load_report(), Format::Table, false));
}

#[tokio::test(start_paused = true)]
async fn load_markdown() {
    assert_snapshot!(load::render(
        &fixtures::load_report(),
        Format::Markdown,
        false
    ));
}

/// The HTML page with each chart's drawing left out: headings, captions and the shapes named
/// under the charts are what a reader relies on; plotters owns the paths.
#[tokio::test(start_paused = true)]
async fn load_html_structure() {
    let html = load::html::render(&fixtures::load_report());
    let mut outline = String::new();
    let mut rest = html.as_str();
    while let Some(at) = rest.find("<svg") {
        outline.push_str(&rest[..at]);
        let end = rest[at..].find("</svg>").map_or(rest.len(), |e| at + e + 6);
        outline.push_str("<svg>…</svg>");
        rest = &rest[end..];
    }
    outline.push_str(rest);
    assert_snapshot!(outline);
}

#[test]
fn triage_bundle() {
    assert_snapshot!(triage::render(
        &fixtures::triage(),
        "2026-12-01 12:00:00 UTC"
    ));
}

#[test]
fn fleet_table() {
    assert_snapshot!(super::fleet::render(
        &fixtures::fleet_report(),
        Format::Table,
        false
    ));
}

#[test]
fn fleet_markdown() {
    assert_snapshot!(super::fleet::render(
        &fixtures::fleet_report(),
        Format::Markdown,
        false
    ));
}

#[test]
fn fleet_watch_table() {
    assert_snapshot!(super::fleet::render(
        &fixtures::fleet_watch_report(),
        Format::Table,
        false
    ));
}

#[test]
fn fleet_watch_markdown() {
    assert_snapshot!(super::fleet::render(
        &fixtures::fleet_watch_report(),
        Format::Markdown,
        false
    ));
}

#[test]
fn limits_table() {
    assert_snapshot!(limits::render(
        &fixtures::limits_report(),
        Format::Table,
        false
    ));
}

#[test]
fn limits_markdown() {
    assert_snapshot!(limits::render(
        &fixtures::limits_report(),
        Format::Markdown,
        false
    ));
}

#[test]
fn limits_json() {
    assert_snapshot!(limits::render(
        &fixtures::limits_report(),
        Format::Json,
        false
    ));
}
