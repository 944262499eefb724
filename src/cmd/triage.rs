//! `ratecheck triage URL`: probe, then the 429 contract, written as one redacted Markdown bundle.

use std::io::Write;

use super::{Ended, check_outputs, spinner, write_file, write_out};
use crate::cli::TriageArgs;
use crate::config::{self, CliError};
use crate::report::triage::render;
use crate::triage::{TriageOptions, triage};

/// The spinner's message while triage is busy, between deliberate waits.
const BUSY: &str = "probing, then checking the 429 contract…";

/// Runs `ratecheck triage`.
pub async fn run(args: &TriageArgs, out: &mut dyn Write) -> Result<Ended, CliError> {
    let Some(url) = args.url.as_deref() else {
        return from_evidence(args, out).await;
    };
    let client = config::client(url, &args.connect)?;
    check_outputs(args.output.as_deref())?;
    let max_wait = crate::settings::EXHAUST_MAX_WAIT.duration(&args.max_wait)?;
    let mut probe = config::probe_options(&args.select, args.repeat)?;
    probe.stop = crate::stop::Stop::on_ctrl_c();
    let (waiting, mut waits) = crate::wait::Waiting::channel();
    let opts = TriageOptions {
        probe,
        check_429: !args.skip_429,
        exhaust_max: args.exhaust_max,
        max_wait_secs: max_wait.as_secs_f64(),
        waiting,
    };
    let bar = spinner("{spinner} {msg}");
    bar.set_message(BUSY);
    // A deliberate wait (up to `--max-wait`) counts down, so a minute of it does not look stuck.
    let countdown = {
        let bar = bar.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_millis(250));
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    changed = waits.changed() => if changed.is_err() { return },
                }
                let now = std::time::Instant::now();
                match &*waits.borrow() {
                    Some(w) => bar.set_message(format!(
                        "{} (Ctrl-C stops and writes the bundle)",
                        w.describe(now)
                    )),
                    None => bar.set_message(BUSY),
                }
            }
        })
    };
    let t = triage(&client, &opts).await;
    countdown.abort();
    bar.finish_and_clear();
    write_bundle(&t, args, out)?;
    let mut ended = Ended::stopped(t.exit(), t.probe.aborted.as_ref());
    ended.notices.extend(super::command_line_key(&client, url));
    if opts.probe.stop.is_set() {
        ended
            .notices
            .push("interrupted: the bundle covers what was gathered until then".into());
    }
    ended.explain(&t.probe.exchanges);
    Ok(ended)
}

/// `triage --from FILE...`: the bundle from evidence, as `analyze` reads it; no request sent.
async fn from_evidence(args: &TriageArgs, out: &mut dyn Write) -> Result<Ended, CliError> {
    check_outputs(args.output.as_deref())?;
    let (report, errors) = super::analyze::judge(
        &args.from,
        crate::probe::analyze::CounterMode::Approximate,
        args.select.strict,
        &args.connect.rate_headers,
    )
    .await;
    let t = crate::triage::Triage {
        probe: report,
        contract: None,
        per_endpoint: None,
    };
    write_bundle(&t, args, out)?;
    Ok(super::analyze::ended(&t.probe, &errors))
}

/// The bundle to `-o` (and a line saying so), or to stdout.
fn write_bundle(
    t: &crate::triage::Triage,
    args: &TriageArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let generated = jiff::Timestamp::now()
        .strftime("%Y-%m-%d %H:%M:%S UTC")
        .to_string();
    let text = render(t, &generated);
    let exit = t.exit();
    match &args.output {
        Some(path) => {
            write_file(path, &text)?;
            write_out(
                out,
                &format!(
                    "triage bundle written to {} ({}, verdict {}, exit {})\n",
                    path.display(),
                    crate::words::counted(t.probe.findings.len(), "finding"),
                    exit.name(),
                    exit.code()
                ),
            )
        }
        None => write_out(out, &text),
    }
}
