//! `ratecheck fleet URL URL...`: one key's requests over a fleet's instances, judged, rendered
//! to stdout and `-o FILE`.

use std::io::Write;

use super::{Ended, check_outputs, spinner, write_file, write_out};
use crate::cli::FleetArgs;
use crate::config::{self, CliError};
use crate::fleet::{self, Change, FleetOptions, Rules, Watch};
use crate::report::fleet::render;

/// Runs `ratecheck fleet`.
pub async fn run(args: &FleetArgs, color: bool, out: &mut dyn Write) -> Result<Ended, CliError> {
    let clients = args
        .urls
        .iter()
        .map(|u| config::client(u, &args.connect))
        .collect::<Result<Vec<_>, _>>()?;
    let via = args
        .via
        .as_deref()
        .map(|u| config::client(u, &args.connect))
        .transpose()?;
    let window = config::flag_duration("--window", &args.window)?;
    let tolerance = config::flag_duration("--tolerance", &args.tolerance)?;
    let watch = match &args.watch {
        Some(d) => Some(Watch {
            duration: config::flag_duration("--watch", d)?,
            every: config::flag_duration("--every", &args.every)?,
        }),
        None => None,
    };
    if watch.is_some_and(|w| w.every.is_zero()) {
        return Err(CliError::usage(
            "`--every` must be longer than zero: the watch keeps a low request rate",
        ));
    }
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
        watch,
        stop: crate::stop::Stop::on_ctrl_c(),
    };
    let sources = clients.len() + usize::from(via.is_some());
    // It spends quota: say how much before the first request.
    let _ = writeln!(
        std::io::stderr(),
        "ratecheck fleet: {}",
        plan(&opts, sources)
    );
    let bar = spinner("{spinner} {msg}");
    bar.set_message(if watch.is_some() {
        "watching the fleet…"
    } else {
        "sending over the instances…"
    });
    let mut progress = |c: &Change| {
        bar.suspend(|| {
            let _ = writeln!(std::io::stderr(), "{}", c.summary());
        });
    };
    let report = fleet::check(&clients, via.as_ref(), &opts, &mut progress).await;
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

/// What the check will spend, said before it starts.
fn plan(opts: &FleetOptions, sources: usize) -> String {
    match opts.watch {
        Some(w) => {
            let n = w.requests().min(opts.max_requests);
            format!(
                "one key over {sources} sources for {:.0} s: one request every {} ms, at most {n} requests{}",
                w.duration.as_secs_f64(),
                w.every.as_millis(),
                if n < w.requests() {
                    " (`--max-requests`)"
                } else {
                    ""
                }
            )
        }
        None => format!(
            "one key over {sources} sources, at most {} requests (what the first answer's `remaining` leaves, plus two per source)",
            opts.max_requests
        ),
    }
}
