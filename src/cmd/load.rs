//! `ratecheck load URL`: flags to a [`LoadSpec`](crate::load::LoadSpec), a progress line on a
//! terminal, Ctrl-C that still writes every report.

use std::io::Write;

use std::path::PathBuf;

use super::{Ended, check_outputs, spinner, write_file, write_out};
use crate::cli::LoadArgs;
use crate::config::{self, CliError};
use crate::load::{self, Target};
use crate::report::load::{html, render};

/// Runs `ratecheck load`.
pub async fn run(args: &LoadArgs, color: bool, out: &mut dyn Write) -> Result<Ended, CliError> {
    let client = config::client(&args.url, &args.connect)?;
    let spec = config::load_spec(args)?;
    check_outputs(
        args.output
            .iter()
            .chain(&args.report_html)
            .map(PathBuf::as_path),
    )?;
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
    let opts = spec
        .resolve(model, args.embedding_model.clone())
        .map_err(|e| config::spec_error(&e))?;
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
    let target = client.display_base();
    let stop = async move {
        if !stopped {
            let _ = tokio::signal::ctrl_c().await;
        }
    };
    let key_warning = super::command_line_key(&client, &args.url);
    let transport = Target::for_load(client.lean());
    let report = load::run(transport, opts, target, stop, &mut |p| {
        bar.set_message(format!(
            "{} sent, {:.1}/s, {} in flight, {} × 429, p99 {:.0} ms",
            p.sent, p.rate, p.in_flight, p.throttled, p.p99_ms
        ));
    })
    .await;
    bar.finish_and_clear();
    write_out(out, &render(&report, args.format, color))?;
    if let Some(path) = &args.output {
        write_file(path, &render(&report, args.format, false))?;
    }
    if let Some(path) = &args.report_html {
        write_file(path, &html::render(&report))?;
    }
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
