//! `ratecheck fleet URL URL...`: one key's requests over a fleet's instances, judged, rendered
//! to stdout and `-o FILE`.

use std::io::Write;

use super::{Ended, check_outputs, spinner, write_file, write_out};
use crate::cli::FleetArgs;
use crate::config::{self, CliError};
use crate::fleet::{self, FleetOptions, Rules};
use crate::report::fleet::render;

/// Runs `ratecheck fleet`.
pub async fn run(args: &FleetArgs, color: bool, out: &mut dyn Write) -> Result<Ended, CliError> {
    let clients = args
        .urls
        .iter()
        .map(|u| config::client(u, &args.connect))
        .collect::<Result<Vec<_>, _>>()?;
    let window = config::flag_duration("--window", &args.window)?;
    let tolerance = config::flag_duration("--tolerance", &args.tolerance)?;
    check_outputs(args.output.as_deref())?;
    let model = match clients[0].resolve_model(args.model.as_deref()).await {
        Ok(m) => m,
        Err(abort) => return Ok(Ended::stopped(abort.exit, Some(&abort))),
    };
    let opts = FleetOptions {
        model,
        max_requests: args.max_requests,
        rules: Rules {
            window_ms: window.as_secs_f64() * 1000.0,
            tolerance_ms: tolerance.as_secs_f64() * 1000.0,
        },
        stop: crate::stop::Stop::on_ctrl_c(),
    };
    // It spends quota: say how much before the first request.
    let _ = writeln!(
        std::io::stderr(),
        "ratecheck fleet: one key over {} instances, at most {} requests (what the first answer's `remaining` leaves, plus two per instance)",
        clients.len(),
        args.max_requests
    );
    let bar = spinner("{spinner} {msg}");
    bar.set_message("sending over the instances…");
    let report = fleet::check(&clients, &opts).await;
    bar.finish_and_clear();
    write_out(out, &render(&report, args.format, color))?;
    if let Some(path) = &args.output {
        write_file(path, &render(&report, args.format, false))?;
    }
    let mut ended = Ended::stopped(report.exit(), report.aborted.as_ref());
    if report.interrupted {
        ended
            .notices
            .push("interrupted: the report covers what was sent until then".into());
    }
    Ok(ended)
}
