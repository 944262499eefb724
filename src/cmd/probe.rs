//! `ratecheck probe URL`: the endpoint × shape matrix, rendered in the chosen format, to stdout
//! and to `-o FILE`.

use std::io::Write;

use super::{Ended, check_outputs, counter};
use crate::cli::ProbeArgs;
use crate::config::{self, CliError};
use crate::probe;

/// Runs `ratecheck probe`.
pub async fn run(args: &ProbeArgs, color: bool, out: &mut dyn Write) -> Result<Ended, CliError> {
    let client = config::client(&args.url, &args.connect)?;
    let mut opts = config::probe_options(&args.select, args.repeat)?;
    opts.stop = crate::stop::Stop::on_ctrl_c();
    check_outputs(args.output.as_deref())?;
    let modes: u64 = opts
        .endpoints
        .iter()
        .map(|e| if e.streams() { 2 } else { 1 })
        .sum();
    let bar = counter(
        modes * u64::from(opts.repeat),
        "{spinner} {pos}/{len} requests {msg}",
    );
    let report = probe::probe(&client, &opts, &mut |ex| {
        bar.set_message(ex.variant.to_string());
        bar.inc(1);
    })
    .await;
    bar.finish_and_clear();

    super::write_probe_report(&report, args.format, color, args.output.as_deref(), out)?;
    let exit = report.exit();
    let mut ended = Ended::stopped(exit, report.aborted.as_ref());
    ended
        .notices
        .extend(super::command_line_key(&client, &args.url));
    if report.interrupted {
        ended
            .notices
            .push("interrupted: the report covers what was sent until then".into());
    }
    ended.explain(&report.exchanges);
    Ok(ended)
}
