//! `ratecheck mock`: the built-in simulator on 127.0.0.1, until Ctrl-C.

use std::io::Write;

use super::{Ended, write_out};
use crate::cli::MockArgs;
use crate::config::{self, CliError};
use crate::mock::fault::{Fault, FaultServer};
use crate::mock::{MockConfig, MockFleet, MockServer};
use crate::verdict::Exit;

/// Runs `ratecheck mock`.
pub async fn run(args: &MockArgs, out: &mut dyn Write) -> Result<Ended, CliError> {
    if let Some(fault) = args.fault {
        return run_fault(fault, args.port, out).await;
    }
    let cfg = config::mock_config(args)?;
    if args.instances > 1 || args.split_after.is_some() {
        return run_fleet(args, &cfg, out).await;
    }
    let profile = cfg.profile;
    let (rpm, tpm) = (cfg.rpm, cfg.tpm);
    let server = MockServer::start(cfg, args.port)
        .await
        .map_err(|e| listen_error(args.port, &e))?;
    write_out(
        out,
        &format!(
            "ratecheck mock ({profile}, rpm {rpm}, tpm {tpm}) listening on {}\ntry: ratecheck probe {}\nstop with Ctrl-C\n",
            server.url(),
            server.url()
        ),
    )?;
    tokio::select! {
        () = server.wait() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(Ended::with(Exit::Ok))
}

/// Runs `ratecheck mock --instances N`: a fleet on one shared store, split and rejoined on the
/// schedule the flags give, each change said with its time.
async fn run_fleet(
    args: &MockArgs,
    cfg: &MockConfig,
    out: &mut dyn Write,
) -> Result<Ended, CliError> {
    if args.instances < 2 {
        return Err(CliError::usage(
            "`--split-after` splits a fleet: give `--instances 2` or more",
        ));
    }
    let split = args
        .split_after
        .as_deref()
        .map(|d| config::flag_duration("--split-after", d))
        .transpose()?;
    let rejoin = args
        .rejoin_after
        .as_deref()
        .map(|d| config::flag_duration("--rejoin-after", d))
        .transpose()?;
    if let (Some(s), Some(r)) = (split, rejoin)
        && r <= s
    {
        return Err(CliError::usage(
            "`--rejoin-after` must come after `--split-after`",
        ));
    }
    let fleet = MockFleet::start(cfg, usize::from(args.instances), args.port)
        .await
        .map_err(|e| listen_error(args.port, &e))?;
    let mut text = format!(
        "ratecheck mock: {} instances ({}, rpm {}, tpm {}) sharing one store of counters\n",
        fleet.servers.len(),
        cfg.profile,
        cfg.rpm,
        cfg.tpm
    );
    for (i, url) in fleet.urls().iter().enumerate() {
        text.push_str(&format!("instance {} listening on {url}\n", i + 1));
    }
    text.push_str(&format!(
        "try: ratecheck fleet {}\nstop with Ctrl-C\n",
        fleet.urls().join(" ")
    ));
    write_out(out, &text)?;
    let start = tokio::time::Instant::now();
    let changes = async {
        if let Some(s) = split {
            tokio::time::sleep_until(start + s).await;
            fleet.split();
            let _ = write_out(
                out,
                &format!(
                    "{:.1} s: split: each instance now counts alone\n",
                    s.as_secs_f64()
                ),
            );
        }
        if let Some(r) = rejoin {
            tokio::time::sleep_until(start + r).await;
            fleet.rejoin();
            let _ = write_out(
                out,
                &format!(
                    "{:.1} s: rejoined: the instances share their counters again\n",
                    r.as_secs_f64()
                ),
            );
        }
        std::future::pending::<()>().await;
    };
    tokio::select! {
        () = changes => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    fleet.shutdown().await;
    Ok(Ended::with(Exit::Ok))
}

/// Where `--fault redirect-away` sends its POSTs: the discard port, where nothing is expected
/// to listen, so that a client that follows the redirect fails instead of leaking its key.
const AWAY_PORT: u16 = 9;

/// Runs `ratecheck mock --fault KIND`.
async fn run_fault(fault: Fault, port: u16, out: &mut dyn Write) -> Result<Ended, CliError> {
    let server = FaultServer::start(fault, port, AWAY_PORT)
        .await
        .map_err(|e| listen_error(port, &e))?;
    let kind = clap::ValueEnum::to_possible_value(&fault)
        .map(|v| v.get_name().to_string())
        .unwrap_or_default();
    write_out(
        out,
        &format!(
            "ratecheck mock (fault {kind}) listening on {}\ntry: ratecheck probe {} --model mock-model\nstop with Ctrl-C\n",
            server.url(),
            server.url()
        ),
    )?;
    let _ = tokio::signal::ctrl_c().await;
    Ok(Ended::with(Exit::Ok))
}

fn listen_error(port: u16, e: &std::io::Error) -> CliError {
    CliError::runtime(format!("could not listen on 127.0.0.1:{port}: {e}"))
        .hint("pick another `--port`, or `--port 0` for any free one")
}
