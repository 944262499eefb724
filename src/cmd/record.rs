//! `ratecheck record --upstream URL`: the recorder started on loopback, a live line per
//! exchange on stderr, and at the end the `analyze` report over what the client really saw,
//! with the redacted HAR if asked.

use std::io::Write;
use std::time::Duration;

use super::{Ended, check_outputs};
use crate::cli::RecordArgs;
use crate::config::{self, CliError};
use crate::evidence::{self, Record};
use crate::probe;
use crate::record::{Recorder, Seen};

/// How long exchanges still in flight at the stop may finish.
const GRACE: Duration = Duration::from_secs(5);

/// Runs `ratecheck record`.
pub async fn run(args: &RecordArgs, color: bool, out: &mut dyn Write) -> Result<Ended, CliError> {
    let listen = super::listen_addr(
        &args.listen,
        args.allow_remote,
        "use the gateway through it with whatever credentials they send",
    )?;
    let upstream = crate::http::normalize_base(&args.upstream).map_err(CliError::usage)?;
    let duration = args
        .duration
        .as_deref()
        .map(|d| config::flag_duration("--duration", d))
        .transpose()?;
    check_outputs(
        args.output
            .as_deref()
            .into_iter()
            .chain(args.save.as_deref()),
    )?;
    let cacert = config::cacert(args.cacert.as_deref())?;
    let mut recorder = Recorder::start(listen, upstream.clone(), cacert.as_deref(), args.insecure)
        .await
        .map_err(|e| {
            CliError::runtime(format!("cannot listen on {listen}: {e}"))
                .hint("pick another port with `--listen 127.0.0.1:PORT` (0 picks a free one)")
        })?;
    let shown = crate::redact::Redactor::default().url(&upstream);
    let here = format!("http://{}", recorder.addr);
    let _ = writeln!(
        std::io::stderr(),
        "ratecheck record: {here} → {shown} ({})\n  point the client's base URL here, e.g. OPENAI_BASE_URL={here}/v1\n  stop with Ctrl-C{}",
        if recorder.addr.ip().is_loopback() {
            "loopback only: clients on this machine"
        } else {
            "reachable from other machines (--allow-remote)"
        },
        duration.map_or_else(String::new, |d| format!(
            ", or it stops after {}",
            crate::http::show_duration(d)
        ))
    );
    let stop = crate::stop::Stop::on_ctrl_c();
    let until = async {
        match duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(until);
    loop {
        tokio::select! {
            seen = recorder.seen.recv() => match seen {
                Some(s) => live(&s),
                None => break,
            },
            () = stop.fired() => break,
            () = &mut until => break,
        }
    }
    let seen = std::mem::replace(&mut recorder.seen, tokio::sync::mpsc::unbounded_channel().1);
    let records = recorder.stop(GRACE).await;
    drain(seen);
    finish(args, &here, &records, color, out).await
}

/// One line per finished exchange, as it happens.
fn live(s: &Seen) {
    if let Some(why) = &s.error {
        let _ = writeln!(
            std::io::stderr(),
            "  {} → 502 from the recorder: {why}\n    hint: {}",
            s.request,
            s.hint.map_or_else(
                || "is the gateway running at `--upstream`? the client was told the same".into(),
                |h| format!("{h}; the client was told the same")
            )
        );
        return;
    }
    let _ = writeln!(
        std::io::stderr(),
        "  {} → {}, {:.0} ms to headers, {:.0} ms, {} bytes",
        s.request,
        s.status,
        s.ttfb_ms,
        s.total_ms,
        s.bytes
    );
}

/// Lines for exchanges that finished while the recorder stopped.
fn drain(mut seen: tokio::sync::mpsc::UnboundedReceiver<Seen>) {
    while let Ok(s) = seen.try_recv() {
        live(&s);
    }
}

/// The report over what was recorded, and the HAR.
async fn finish(
    args: &RecordArgs,
    here: &str,
    records: &[Record],
    color: bool,
    out: &mut dyn Write,
) -> Result<Ended, CliError> {
    let judged = evidence::exchanges(records, &[]).await;
    let mut report = probe::judge_evidence(
        judged.exchanges,
        judged.target.unwrap_or_default(),
        vec![format!("recorded through {here}")],
        args.counters,
        args.strict,
        false,
    );
    report.notes.insert(
        0,
        format!(
            "recorded {} exchanges, {} with the five endpoints",
            records.len(),
            report.exchanges.len()
        ),
    );
    if judged.without_body > 0 {
        report.notes.push(format!(
            "{} responses were too large to keep a copy of (over 16 MiB, or past the recording's 256 MiB): judged by their headers, relayed whole",
            judged.without_body
        ));
    }
    if judged.left_by_client > 0 {
        report.notes.push(format!(
            "{} responses were left by the client before they ended: not judged as cut",
            judged.left_by_client
        ));
    }
    super::write_probe_report(&report, args.format, color, args.output.as_deref(), out)?;
    if let Some(path) = &args.save {
        let secrets: Vec<String> = records.iter().flat_map(Record::secrets).collect();
        let redactor = crate::redact::Redactor::new(secrets);
        super::write_file(path, &evidence::har::write(records, &redactor))?;
        let _ = writeln!(
            std::io::stderr(),
            "ratecheck record: {} exchanges saved to {} (credentials and query values removed)",
            records.len(),
            path.display()
        );
    }
    Ok(Ended::with(report.exit()))
}
