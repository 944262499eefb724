//! `--report-html`: one self-contained HTML file (inline SVG drawn with plotters, no script,
//! no network) with the run's timeline, the advertised `remaining` per response shape, and the
//! latency distribution.
//!
//! A shape whose responses carry no `remaining` has no line in the second chart and is named
//! under it: the missing header is visible as a gap, not as a zero.

use std::fmt::Write as _;

use plotters::prelude::*;

use crate::load::LoadReport;

const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Draws into an SVG string; a drawing error becomes a note instead of a chart.
fn svg(
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, plotters::coord::Shift>) -> Result<(), String>,
) -> String {
    let mut out = String::new();
    let result = {
        let root = SVGBackend::with_string(&mut out, (900, 320)).into_drawing_area();
        let r = root
            .fill(&WHITE)
            .map_err(|e| e.to_string())
            .and_then(|()| draw(&root));
        let presented = root.present().map_err(|e| e.to_string());
        r.and(presented)
    };
    match result {
        Ok(()) => out,
        Err(e) => format!("<p>chart not drawn: {}</p>", esc(&e)),
    }
}

/// A line broken into segments where values are missing.
type Segments = Vec<Vec<(f64, f64)>>;

/// A named line.
type Line = (String, Segments);

/// A line chart of several series; each series may have gaps (split into segments).
fn lines(title: &str, x_desc: &str, y_desc: &str, series: &[Line]) -> String {
    let x_max = series
        .iter()
        .flat_map(|(_, segs)| segs.iter().flatten())
        .map(|p| p.0)
        .fold(1.0f64, f64::max);
    let y_max = series
        .iter()
        .flat_map(|(_, segs)| segs.iter().flatten())
        .map(|p| p.1)
        .fold(1.0f64, f64::max)
        * 1.1;
    svg(|root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .draw()
            .map_err(|e| e.to_string())?;
        for (i, (name, segments)) in series.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let mut first = true;
            for seg in segments {
                let drawn = chart
                    .draw_series(LineSeries::new(seg.iter().copied(), color.stroke_width(2)))
                    .map_err(|e| e.to_string())?;
                if first {
                    drawn.label(name.clone()).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                    });
                    first = false;
                }
            }
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())
    })
}

/// Splits per-second values into contiguous segments (a missing second breaks the line).
fn segments(points: &[(usize, Option<f64>)]) -> Segments {
    let mut out: Segments = Vec::new();
    let mut cur = Vec::new();
    for (i, v) in points {
        match v {
            Some(v) => cur.push((*i as f64 + 0.5, *v)),
            None if !cur.is_empty() => out.push(std::mem::take(&mut cur)),
            None => {}
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The per-second lines of the first two charts: sent/accepted/refused, and advertised
/// `remaining` per shape; shapes that never advertised it are returned apart, to be named.
fn series(r: &LoadReport) -> (Vec<Line>, Vec<Line>, Vec<String>) {
    let t = &r.timeline;
    let per_second = |f: fn(&crate::load::stats::Second) -> u64| -> Vec<(f64, f64)> {
        t.iter()
            .enumerate()
            .map(|(i, s)| (i as f64 + 0.5, f(s) as f64))
            .collect()
    };
    let mut timeline: Vec<Line> = Vec::new();
    for (name, f) in [
        (
            "sent",
            (|s: &crate::load::stats::Second| s.sent) as fn(&_) -> u64,
        ),
        ("accepted", |s| s.accepted),
        ("429", |s| s.throttled),
        ("other errors", |s| s.errors),
    ] {
        timeline.push((name.to_string(), vec![per_second(f)]));
    }
    let mut remaining = Vec::new();
    let mut silent = Vec::new();
    for shape in &r.shapes {
        let points: Vec<(usize, Option<f64>)> = t
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let v = s
                    .remaining
                    .iter()
                    .find(|(k, _)| k.to_string() == shape.variant)
                    .map(|(_, v)| *v as f64);
                (i, v)
            })
            .collect();
        let segs = segments(&points);
        if segs.is_empty() {
            silent.push(shape.variant.clone());
        } else {
            remaining.push((shape.variant.clone(), segs));
        }
    }
    (timeline, remaining, silent)
}

/// Renders the HTML report.
pub fn render(r: &LoadReport) -> String {
    let (timeline, remaining, silent) = series(r);
    let curve = vec![(
        "from intended send".to_string(),
        vec![r.latency.curve.clone()],
    )];

    let mut html =
        String::from("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
    let _ = writeln!(html, "<title>ratecheck load: {}</title>", esc(&r.target));
    html.push_str("<style>body{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}th:first-child,td:first-child{text-align:left}.finding{color:#b00}</style>\n</head><body>\n");
    let _ = writeln!(
        html,
        "<h1>ratecheck load: <code>{}</code></h1>",
        esc(&r.target)
    );
    let _ = writeln!(
        html,
        "<p>{} — {:.1} s{}; exit {} ({})</p>",
        esc(&r.tool),
        r.wall_ms / 1000.0,
        if r.interrupted { ", interrupted" } else { "" },
        r.outcome.exit_code,
        r.outcome.status
    );
    html.push_str("<h2>Requests per second</h2>\n");
    html.push_str(&lines(
        "sent, accepted and refused per second",
        "seconds",
        "requests",
        &timeline,
    ));
    html.push_str("<h2>Advertised <code>remaining</code> (requests) per response shape</h2>\n");
    html.push_str(&lines(
        "remaining requests, last value each second",
        "seconds",
        "remaining",
        &remaining,
    ));
    if !silent.is_empty() {
        let _ = writeln!(
            html,
            "<p class=\"finding\">No line for: {} — these responses carried no <code>remaining</code> header.</p>",
            esc(&silent.join(", "))
        );
    }
    html.push_str("<h2>Latency distribution (successes only)</h2>\n");
    html.push_str(&lines(
        "latency from the intended send time",
        "percentile",
        "ms",
        &curve,
    ));
    html.push_str("<table><tr><th>ms</th><th>n</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>\n");
    let l = &r.latency;
    for (name, p) in [
        ("from intended send", l.from_intended),
        ("service", l.service),
        ("time to headers", l.time_to_headers),
        ("time to first event", l.ttft),
        ("gap between events", l.inter_event_gap),
    ] {
        let _ = writeln!(
            html,
            "<tr><td>{name}</td><td>{}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td></tr>",
            p.count, p.p50, p.p90, p.p99, p.p999, p.max
        );
    }
    html.push_str("</table>\n");
    for (title, list) in [
        ("Findings", &r.findings),
        ("Warnings (suspicious, not proof)", &r.warnings),
    ] {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(html, "<h2>{title}</h2>\n<ul>");
        for f in list {
            let _ = writeln!(
                html,
                "<li class=\"finding\"><code>{}</code>: {}</li>",
                f.kind.name(),
                esc(&f.message)
            );
        }
        html.push_str("</ul>\n");
    }
    html.push_str("</body></html>\n");
    html
}
