//! `ratecheck mock`: the built-in simulator on 127.0.0.1, until Ctrl-C.

use std::io::Write;

use super::{Ended, write_out};
use crate::cli::MockArgs;
use crate::config::{self, CliError};
use crate::mock::MockServer;
use crate::mock::fault::{Fault, FaultServer};
use crate::verdict::Exit;

/// Runs `ratecheck mock`.
pub async fn run(args: &MockArgs, out: &mut dyn Write) -> Result<Ended, CliError> {
    if let Some(fault) = args.fault {
        return run_fault(fault, args.port, out).await;
    }
    let cfg = config::mock_config(args)?;
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
    CliError {
        exit: Exit::Unreachable,
        message: format!("could not listen on 127.0.0.1:{port}: {e}"),
        hint: Some("pick another `--port`, or `--port 0` for any free one".into()),
        preceding: Vec::new(),
    }
}
