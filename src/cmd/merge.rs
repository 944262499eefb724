//! `ratecheck merge RAW...`: the raw results of a split test's shards folded into one report,
//! written as `load` writes its own.

use std::io::Write;

use super::Ended;
use super::load::{check_reports, write_reports};
use crate::cli::MergeArgs;
use crate::config::CliError;
use crate::load::merge::{Input, merge};
use crate::load::raw;

/// Runs `ratecheck merge`. A file that cannot be read is named and left out; the merged run
/// then fails (exit 2), as it does when a shard is missing.
pub fn run(args: &MergeArgs, color: bool, out: &mut dyn Write) -> Result<Ended, CliError> {
    check_reports(&args.reports)?;
    let mut inputs = Vec::new();
    let mut unreadable = Vec::new();
    for path in &args.files {
        let name = path.display().to_string();
        let read = std::fs::read_to_string(path)
            .map_err(|e| format!("{name}: cannot be read: {e}"))
            .and_then(|text| raw::Raw::read(&text, &name).map_err(|e| e.0));
        match read {
            Ok(raw) => inputs.push(Input { name, raw }),
            Err(message) => unreadable.push(message),
        }
    }
    if inputs.is_empty() {
        return Err(CliError::usage(unreadable.join("\n"))
            .hint("give the files `ratecheck load --raw FILE` wrote, one per shard of the test"));
    }
    let raw = merge(inputs, unreadable).map_err(|e| CliError::usage(e.0))?;
    let report = raw.report();
    write_reports(&args.reports, &report, &raw, color, out)?;
    let mut ended = Ended::with(report.exit());
    // The table shows the shards' problems; other formats are read by programs, and a person
    // watching the terminal still learns why the merge failed.
    if args.reports.format != crate::report::Format::Table
        && let Some(shards) = &report.shards
    {
        ended.notices.extend(shards.problems.iter().cloned());
    }
    Ok(ended)
}
