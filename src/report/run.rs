//! Reporters for `ratecheck run`: the terminal summary, JUnit XML, Markdown and JSON.
//!
//! The terminal summary prints one line per step and one line per failed expectation with
//! expected and actual side by side, so a CI log answers "what broke" without a report file.

use crate::words::counted;
use std::fmt::Write as _;

use super::{Format, md, md_text, paint};
use crate::baseline::Comparison;
use crate::run::{Check, RunReport, ScenarioReport, StepReport};

/// The whole run in `format`: the terminal summary (every step, then the totals), the JSON
/// report (schema: `docs/run-report.schema.json`) or the Markdown report.
pub fn render(report: &RunReport, format: Format, color: bool) -> String {
    match format {
        Format::Table => {
            let mut out = String::new();
            for s in &report.scenarios {
                out.push_str(&scenario_head(&s.name, &s.file, &s.target));
                for step in &s.steps {
                    out.push_str(&step_lines(step, color));
                }
                out.push_str(&scenario_tail(s, color));
            }
            out.push_str(&summary(report, color));
            out
        }
        Format::Json => super::json(report),
        Format::Markdown => markdown(report),
    }
}

/// The heading line of one scenario, printed before its steps run.
pub fn scenario_head(name: &str, file: &str, target: &str) -> String {
    format!("{name} ({file}) → {target}\n")
}

/// One step's lines: a verdict line, then one line per failed check and one per note.
pub fn step_lines(step: &StepReport, color: bool) -> String {
    let failed: Vec<&Check> = step.checks.iter().filter(|c| !c.passed).collect();
    let mark = if failed.is_empty() {
        paint("PASS", "32", color)
    } else {
        paint("FAIL", "31;1", color)
    };
    let mut out = format!(
        "  {mark} {} {}: {}  ({} checks, {:.0} ms)\n",
        step.position,
        step.kind,
        step.name,
        step.checks.len(),
        step.wall_ms
    );
    for c in failed {
        let _ = writeln!(
            out,
            "       ✗ {}: expected {}, got {}",
            c.name, c.expected, c.actual
        );
    }
    // Notes say what a passing step did not check (an unreached limit) or what it saw besides.
    for n in &step.notes {
        let _ = writeln!(out, "       {} {n}", paint("·", "2", color));
    }
    out
}

/// The closing lines of one scenario.
pub fn scenario_tail(s: &ScenarioReport, color: bool) -> String {
    let mut out = String::new();
    if s.aborted.is_some() {
        // What stopped it is said once, on stderr, with its hint.
        let _ = writeln!(
            out,
            "  {} after step {}: {} not run",
            paint("STOPPED", "31;1", color),
            s.steps.last().map_or("0", |st| st.position.as_str()),
            if s.skipped_steps == 1 {
                "1 step".to_string()
            } else {
                format!("{} steps", s.skipped_steps)
            }
        );
    }
    let total = s.checks().count();
    let failed = s.failed();
    let verdict = if failed == 0 && s.aborted.is_none() {
        paint("passed", "32", color)
    } else {
        paint("FAILED", "31;1", color)
    };
    let _ = writeln!(
        out,
        "  {verdict}: {failed} of {total} checks failed ({:.1} s)\n",
        s.wall_ms / 1000.0
    );
    out
}

/// Checks and failed checks over every scenario and the baseline comparison (one check per
/// header that went missing, or one that passed when none did), as the console and JUnit
/// count them both.
fn totals(report: &RunReport) -> (usize, usize) {
    let checks: usize = report.scenarios.iter().map(|s| s.checks().count()).sum();
    let failed: usize = report.scenarios.iter().map(ScenarioReport::failed).sum();
    let (cases, missing) = baseline_counts(report);
    (checks + cases, failed + missing)
}

/// The baseline's checks and failures: one per header that went missing, or one passed.
fn baseline_counts(report: &RunReport) -> (usize, usize) {
    report
        .baseline
        .as_ref()
        .map_or((0, 0), |b| (b.missing.len().max(1), b.missing.len()))
}

/// The last lines of a run: baseline comparison and the totals.
pub fn summary(report: &RunReport, color: bool) -> String {
    let mut out = String::new();
    if let Some(b) = &report.baseline {
        let _ = writeln!(out, "baseline {}:", b.file);
        for m in &b.missing {
            let _ = writeln!(
                out,
                "  {} `{}` on {}: in the baseline, missing now",
                paint("MISSING", "31;1", color),
                m.header,
                m.variant
            );
        }
        for n in &b.new {
            let _ = writeln!(out, "  new `{}` on {}", n.header, n.variant);
        }
        for v in &b.not_exercised {
            let _ = writeln!(out, "  not exercised in this run: {v}");
        }
        if b.missing.is_empty() {
            let _ = writeln!(out, "  every baseline header is still sent");
        }
    }
    let scenarios = report.scenarios.len();
    let passed = report
        .scenarios
        .iter()
        .filter(|s| s.failed() == 0 && s.aborted.is_none())
        .count();
    // The same totals as the JUnit report's: the baseline's headers are checks too.
    let (checks, failed) = totals(report);
    let baseline = report
        .baseline
        .as_ref()
        .filter(|b| !b.missing.is_empty())
        .map(|b| {
            format!(
                " ({} missing from the baseline)",
                counted(b.missing.len(), "header")
            )
        })
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "{}: {passed} passed, {} failed; {}, {failed} failed{baseline}; exit {} ({})",
        counted(scenarios, "scenario"),
        scenarios - passed,
        counted(checks, "check"),
        report.outcome.exit_code,
        report.outcome.status
    );
    out
}

/// Escapes text for XML attributes and content; drops characters XML 1.0 cannot carry.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' | '\r' => out.push(' '),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// JUnit XML: one `<testsuite>` per scenario, one `<testcase>` per expectation (classname is
/// the scenario and step), an `<error>` testcase when a scenario stopped early.
pub fn junit(report: &RunReport) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let tests: usize = report
        .scenarios
        .iter()
        .map(|s| s.checks().count() + usize::from(s.aborted.is_some()))
        .sum();
    let failures: usize = report.scenarios.iter().map(ScenarioReport::failed).sum();
    let errors = report
        .scenarios
        .iter()
        .filter(|s| s.aborted.is_some())
        .count();
    let (baseline_cases, baseline_failures) = baseline_counts(report);
    let _ = writeln!(
        out,
        "<testsuites name=\"ratecheck\" tests=\"{}\" failures=\"{}\" errors=\"{errors}\" time=\"{:.3}\">",
        tests + baseline_cases,
        failures + baseline_failures,
        report.wall_ms / 1000.0
    );
    for s in &report.scenarios {
        junit_suite(&mut out, s);
    }
    if let Some(b) = &report.baseline {
        junit_baseline(&mut out, b, baseline_cases, baseline_failures);
    }
    out.push_str("</testsuites>\n");
    out
}

/// One scenario's `<testsuite>`: a testcase per check, an `<error>` testcase when it stopped
/// early, its notes as `<system-out>`.
fn junit_suite(out: &mut String, s: &ScenarioReport) {
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3}\" file=\"{}\">",
        xml(&s.name),
        s.checks().count() + usize::from(s.aborted.is_some()),
        s.failed(),
        usize::from(s.aborted.is_some()),
        s.skipped_steps,
        s.wall_ms / 1000.0,
        xml(&s.file)
    );
    let _ = writeln!(
        out,
        "    <properties>\n      <property name=\"target\" value=\"{}\"/>\n      <property name=\"model\" value=\"{}\"/>\n    </properties>",
        xml(&s.target),
        xml(s.model.as_deref().unwrap_or(""))
    );
    for step in &s.steps {
        let classname = xml(&format!("{}.{} {}", s.name, step.position, step.name));
        // Each check's share of the step's time, so suite totals add up.
        let share = step.wall_ms / 1000.0 / step.checks.len().max(1) as f64;
        for c in &step.checks {
            let _ = write!(
                out,
                "    <testcase name=\"{}\" classname=\"{classname}\" time=\"{share:.3}\"",
                xml(&c.name)
            );
            if c.passed {
                out.push_str("/>\n");
            } else {
                let _ = writeln!(
                    out,
                    ">\n      <failure type=\"expectation\" message=\"expected {}, got {}\">expected: {}&#10;actual: {}</failure>\n    </testcase>",
                    xml(&c.expected),
                    xml(&c.actual),
                    xml(&c.expected),
                    xml(&c.actual)
                );
            }
        }
    }
    if let Some(a) = &s.aborted {
        let _ = writeln!(
            out,
            "    <testcase name=\"the scenario runs to the end\" classname=\"{}\" time=\"0.000\">\n      <error type=\"{}\" message=\"{}\">{} steps not run. {}</error>\n    </testcase>",
            xml(&s.name),
            xml(&format!("{:?}", a.failure.kind).to_ascii_lowercase()),
            xml(&a.failure.message),
            s.skipped_steps,
            xml(&a.hint)
        );
    }
    let notes: Vec<String> = s
        .steps
        .iter()
        .flat_map(|st| {
            st.notes
                .iter()
                .map(move |n| format!("{}: {n}", st.position))
        })
        .collect();
    if !notes.is_empty() {
        let _ = writeln!(
            out,
            "    <system-out>{}</system-out>",
            xml(&notes.join("\n"))
        );
    }
    out.push_str("  </testsuite>\n");
}

/// The baseline's `<testsuite>`: a failing testcase per header that went missing.
fn junit_baseline(out: &mut String, b: &Comparison, cases: usize, failures: usize) {
    let _ = writeln!(
        out,
        "  <testsuite name=\"baseline\" tests=\"{cases}\" failures=\"{failures}\" errors=\"0\" file=\"{}\">",
        xml(&b.file)
    );
    if b.missing.is_empty() {
        out.push_str(
            "    <testcase name=\"every baseline header is still sent\" classname=\"baseline\"/>\n",
        );
    }
    for m in &b.missing {
        let _ = writeln!(
            out,
            "    <testcase name=\"{} keeps `{}`\" classname=\"baseline\">\n      <failure type=\"baseline\" message=\"in the baseline, missing now\">{} was sent on {} in the baseline and is missing now</failure>\n    </testcase>",
            xml(&m.variant),
            xml(&m.header),
            xml(&m.header),
            xml(&m.variant)
        );
    }
    out.push_str("  </testsuite>\n");
}

/// The Markdown report: a summary table, then each scenario's failed checks and notes.
pub fn markdown(report: &RunReport) -> String {
    let mut out = String::from("## ratecheck run\n\n");
    let _ = writeln!(
        out,
        "- tool: {}\n- verdict: **{}** (exit {})\n",
        report.tool, report.outcome.status, report.outcome.exit_code
    );
    out.push_str("| scenario | target | checks | failed | time |\n|---|---|---|---|---|\n");
    for s in &report.scenarios {
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {} | {:.1} s |",
            md(&s.name),
            md(&s.target),
            s.checks().count(),
            s.failed(),
            s.wall_ms / 1000.0
        );
    }
    out.push('\n');
    for s in &report.scenarios {
        let _ = writeln!(out, "### {}\n", md(&s.name));
        if let Some(d) = &s.description {
            let _ = writeln!(out, "{}\n", d.trim());
        }
        out.push_str("| step | check | result | expected | actual |\n|---|---|---|---|---|\n");
        for step in &s.steps {
            for c in &step.checks {
                let _ = writeln!(
                    out,
                    "| {} {} | {} | {} | {} | {} |",
                    step.position,
                    md(&step.name),
                    md(&c.name),
                    if c.passed { "pass" } else { "**FAIL**" },
                    md(&c.expected),
                    md(&c.actual)
                );
            }
        }
        out.push('\n');
        let notes: Vec<String> = s
            .steps
            .iter()
            .flat_map(|st| {
                st.notes
                    .iter()
                    .map(move |n| format!("- {}: {}", st.position, md_text(n)))
            })
            .collect();
        if !notes.is_empty() {
            let _ = writeln!(out, "Notes:\n\n{}\n", notes.join("\n"));
        }
        if let Some(a) = &s.aborted {
            let _ = writeln!(
                out,
                "Stopped early: {} ({} steps not run). {}\n",
                a.failure.message, s.skipped_steps, a.hint
            );
        }
    }
    if let Some(b) = &report.baseline {
        let _ = writeln!(out, "### Baseline `{}`\n", md(&b.file));
        if b.missing.is_empty() {
            out.push_str("Every baseline header is still sent.\n\n");
        }
        for m in &b.missing {
            let _ = writeln!(out, "- **missing** `{}` on {}", m.header, m.variant);
        }
        for n in &b.new {
            let _ = writeln!(out, "- new `{}` on {}", n.header, n.variant);
        }
        for v in &b.not_exercised {
            let _ = writeln!(out, "- not exercised: {v}");
        }
        out.push('\n');
    }
    out
}
