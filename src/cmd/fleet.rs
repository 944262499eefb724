//! `ratecheck fleet URL URL...`: one key's requests over a fleet's instances, judged, rendered
//! to stdout and `-o FILE`.

use std::io::Write;

use super::{Ended, check_outputs, spinner, write_file, write_out};
use crate::cli::FleetArgs;
use crate::config::{self, CliError};
use crate::fleet::{self, Change, FleetOptions, Rules, Watch};
use crate::report::fleet::render;
use crate::settings;

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
    let window = settings::FLEET_WINDOW.duration(&args.window)?;
    let tolerance = settings::FLEET_TOLERANCE.duration(&args.tolerance)?;
    let watch = match &args.watch {
        Some(d) => Some(Watch {
            duration: settings::FLEET_WATCH.duration(d)?,
            every: args
                .every
                .as_deref()
                .map(|e| settings::FLEET_EVERY.duration(e))
                .transpose()?,
        }),
        None => None,
    };
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
            let pace = match w.every {
                Some(every) => format!("one request every {} ms", every.as_millis()),
                None => format!(
                    "paced from the first answer's advertised limit (at most half of it per {:.0} s window, at most one request a second)",
                    opts.rules.window_ms / 1000.0
                ),
            };
            format!(
                "one key over {sources} sources for {:.0} s: {pace}, at most {n} requests{}",
                w.duration.as_secs_f64(),
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
