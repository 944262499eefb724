//! `ratecheck analyze FILE...`: evidence read, turned into exchanges, judged by the probe's
//! rules, rendered in the probe's formats; every unreadable part named once on stderr. The
//! same reading serves `ratecheck triage --from`.

use crate::words::counted;
use std::io::Write;
use std::path::PathBuf;

use super::{Ended, check_outputs};
use crate::cli::AnalyzeArgs;
use crate::config::CliError;
use crate::evidence::{self, EvidenceError};
use crate::probe::analyze::CounterMode;
use crate::probe::{self, ProbeReport};
use crate::verdict::Exit;

/// Runs `ratecheck analyze`.
pub async fn run(args: &AnalyzeArgs, color: bool, out: &mut dyn Write) -> Result<Ended, CliError> {
    check_outputs(args.output.as_deref())?;
    let (report, errors) = judge(&args.files, args.counters, args.strict, &args.rate_headers).await;
    super::write_probe_report(&report, args.format, color, args.output.as_deref(), out)?;
    Ok(ended(&report, &errors))
}

/// Reads every file and judges what could be read: the report, and the parts that could not.
pub(super) async fn judge(
    paths: &[PathBuf],
    counters: CounterMode,
    strict: bool,
    rate_headers: &[String],
) -> (ProbeReport, Vec<EvidenceError>) {
    let mut records = Vec::new();
    let mut errors: Vec<EvidenceError> = Vec::new();
    for path in paths {
        let read = evidence::read(path);
        records.extend(read.records);
        errors.extend(read.errors);
    }
    let judged = evidence::exchanges(&records, rate_headers).await;
    let files: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    let mut report = probe::judge_evidence(
        judged.exchanges,
        judged
            .target
            .unwrap_or_else(|| "unknown (no URL in the evidence)".into()),
        files.clone(),
        counters,
        strict,
        true,
    );
    report.notes.insert(
        0,
        format!(
            "read from evidence: {} with the five endpoints in {}",
            counted(report.exchanges.len(), "exchange"),
            counted(files.len(), "file")
        ),
    );
    if judged.skipped > 0 {
        report.notes.push(format!(
            "{} left aside: not to one of the five endpoints, or no response at all",
            counted(judged.skipped, "response")
        ));
    }
    if judged.elsewhere > 0 {
        report.notes.push(format!(
            "{} with other gateways left aside ({}): one gateway is judged at a time; give each its own file",
            counted(judged.elsewhere, "exchange"),
            judged.other_origins.join(", ")
        ));
    }
    if judged.without_body > 0 {
        report.notes.push(format!(
            "{} no body in the evidence: their shape is read from `content-type` and the request's `stream` field",
            match judged.without_body {
                1 => "1 response has".to_string(),
                n => format!("{n} responses have"),
            }
        ));
    }
    if !errors.is_empty() {
        report.notes.push(format!(
            "{} of the evidence could not be read (named on stderr): the verdict covers the rest",
            counted(errors.len(), "part")
        ));
        report.outcome = Exit::Usage.into();
    }
    (report, errors)
}

/// How a command on evidence ends: the report's exit, or 2 with every unreadable part named.
pub(super) fn ended(report: &ProbeReport, errors: &[EvidenceError]) -> Ended {
    if errors.is_empty() {
        return Ended::with(report.exit());
    }
    // An error message may quote the unreadable text: nothing shaped like a key goes out.
    let shown: Vec<String> = errors
        .iter()
        .map(|e| crate::redact::credentials_in_source(&e.to_string()))
        .collect();
    let mut ended = Ended::with(Exit::Usage);
    ended.error = Some(CliError {
        exit: Exit::Usage,
        message: format!(
            "{} of the evidence could not be read",
            counted(errors.len(), "part")
        ),
        hint: Some("what could be read is judged above; fix or re-export the named parts (a HAR from the browser's Network tab, `curl -i` or `curl -v` output as printed)".into()),
        preceding: shown,
    });
    ended
}
