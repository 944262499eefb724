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

/// Who answered, as each format names it: a gateway passing its upstream's `server` through,
/// the same with the upstream's own headers, a gateway that claims its `server`, a provider
/// reached directly, and nothing to go by.
#[test]
fn probe_identity_in_every_format() {
    let cases: [(&str, &[(&str, &str)]); 5] = [
        (
            "Portkey, the upstream's server passed through",
            &[
                ("server", "fake-openai-upstream/1"),
                ("x-portkey-trace-id", "5b1e"),
            ],
        ),
        (
            "Portkey in front of OpenAI",
            &[
                ("server", "fake-openai-upstream/1"),
                ("x-portkey-trace-id", "5b1e"),
                ("openai-organization", "org-1"),
            ],
        ),
        (
            "Kong answering itself",
            &[
                ("server", "kong/3.11.0.2-enterprise-edition"),
                ("x-kong-request-id", "r"),
            ],
        ),
        (
            "OpenAI directly",
            &[("server", "cloudflare"), ("openai-organization", "org-1")],
        ),
        (
            "nothing to go by",
            &[("x-ratelimit-remaining-requests", "9")],
        ),
    ];
    let mut out = String::new();
    for (what, headers) in cases {
        let report = fixtures::probe_report_answered_with(headers);
        let table = probe::render(&report, Format::Table, false);
        let markdown = probe::render(&report, Format::Markdown, false);
        let json: serde_json::Value =
            serde_json::from_str(&probe::render(&report, Format::Json, false)).unwrap();
        out.push_str(&format!("## {what}\n{}\n", table.lines().next().unwrap()));
        for line in markdown
            .lines()
            .filter(|l| l.starts_with("- gateway") || l.starts_with("- upstream"))
        {
            out.push_str(line);
            out.push('\n');
        }
        out.push_str(&format!("{}\n\n", json["gateway"]));
    }
    assert_snapshot!(out);
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

/// A merge of a split test with a shard missing: the shards line, the problem, the verdict.
#[tokio::test(start_paused = true)]
async fn load_merged_table() {
    assert_snapshot!(load::render(
        &fixtures::merged_load_report(),
        Format::Table,
        false
    ));
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
