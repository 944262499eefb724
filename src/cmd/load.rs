//! `ratecheck load URL`: flags to a [`LoadSpec`](crate::load::LoadSpec), a progress line on a
//! terminal, Ctrl-C that still writes every report.

use std::io::Write;

use std::path::{Path, PathBuf};

use super::{Ended, check_outputs, spinner, write_file, write_out};
use crate::cli::{LoadArgs, LoadReportArgs};
use crate::config::{self, CliError};
use crate::load::{self, LoadReport, Raw, Target};
use crate::report::load::{html, render};

/// Runs `ratecheck load`.
pub async fn run(args: &LoadArgs, color: bool, out: &mut dyn Write) -> Result<Ended, CliError> {
    let client = config::client(&args.url, &args.connect)?;
    let spec = config::load_spec(args)?;
    check_reports(&args.reports)?;
    // Check the flags before asking the gateway for a model: a usage error sends nothing.
    spec.resolve(String::new(), None)
        .map_err(|e| config::spec_error(&e))?;
    let start = args
        .start_at
        .as_deref()
        .map(|at| load::segment::Start::parse(at, jiff::Timestamp::now()))
        .transpose()
        .map_err(|e| CliError::usage(format!("`--start-at`: {e}")))?;
    let model = client
        .resolve_model(args.model.as_deref())
        .await
        .map_err(|a| CliError {
            exit: a.exit,
            message: a.failure.message,
            hint: Some(a.hint),
            preceding: Vec::new(),
        })?;
    let mut opts = spec
        .resolve(model, args.embedding_model.clone())
        .map_err(|e| config::spec_error(&e))?;
    let target = client.display_base();
    opts.test_id = args
        .test_id
        .clone()
        .filter(|id| !id.trim().is_empty())
        .unwrap_or_else(|| opts.test_id(&target, start.as_ref()));
    let mut notices = Vec::new();
    // The shards of a split test start together: wait for the common start, Ctrl-C still
    // ending the run (with its reports, of nothing sent).
    let mut stopped = false;
    if let Some(start) = start {
        let (wait, ago) = start.wait(jiff::Timestamp::now());
        if ago > std::time::Duration::ZERO {
            notices.push(format!(
                "the start time passed {:.1} s ago: sending at once",
                ago.as_secs_f64()
            ));
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = tokio::signal::ctrl_c() => stopped = true,
        }
    }
    let bar = spinner("{spinner} {elapsed} {msg}");
    let stop = async move {
        if !stopped {
            let _ = tokio::signal::ctrl_c().await;
        }
    };
    let key_warning = super::command_line_key(&client, &args.url);
    let transport = Target::for_load(client.lean());
    let raw = load::run(transport, opts, target, stop, &mut |p| {
        bar.set_message(format!(
            "{} sent, {:.1}/s, {} in flight, {} × 429, p99 {:.0} ms",
            p.sent, p.rate, p.in_flight, p.throttled, p.p99_ms
        ));
    })
    .await;
    bar.finish_and_clear();
    let report = raw.report();
    write_reports(&args.reports, &report, &raw, color, out)?;
    let mut ended = Ended::with(report.exit());
    ended.notices.extend(key_warning);
    ended.notices.extend(notices);
    if report.interrupted {
        ended
            .notices
            .push("interrupted: the report covers what was sent until then".into());
    }
    Ok(ended)
}

/// Whether a path given for a file means standard output.
fn is_stdout(p: &Path) -> bool {
    p.as_os_str() == "-"
}

/// Checks, before anything is sent, that every report file asked for can be written.
pub(super) fn check_reports(r: &LoadReportArgs) -> Result<(), CliError> {
    check_outputs(
        r.output
            .iter()
            .chain(&r.report_html)
            .chain(r.raw.iter().filter(|p| !is_stdout(p)))
            .map(PathBuf::as_path),
    )
}

/// Writes the report, its files and the raw result. With the raw result on standard output,
/// the report goes to standard error so that the raw result stays readable.
pub(super) fn write_reports(
    r: &LoadReportArgs,
    report: &LoadReport,
    raw: &Raw,
    color: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let shown = render(report, r.format, color);
    match r.raw.as_deref() {
        Some(p) if is_stdout(p) => {
            write_out(&mut std::io::stderr(), &shown)?;
            write_out(out, &raw.to_json())?;
        }
        Some(p) => {
            write_out(out, &shown)?;
            write_file(p, &raw.to_json())?;
        }
        None => write_out(out, &shown)?,
    }
    if let Some(path) = &r.output {
        write_file(path, &render(report, r.format, false))?;
    }
    if let Some(path) = &r.report_html {
        write_file(path, &html::render(report))?;
    }
    Ok(())
}
