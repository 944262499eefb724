//! `ratecheck mock`: the built-in simulator on 127.0.0.1, until Ctrl-C.

use std::io::Write;

use super::{Ended, write_out};
use crate::cli::MockArgs;
use crate::config::{self, CliError};
use crate::mock::MockServer;
use crate::verdict::Exit;

/// Runs `ratecheck mock`.
pub async fn run(args: &MockArgs, out: &mut dyn Write) -> Result<Ended, CliError> {
    let cfg = config::mock_config(args)?;
    let profile = cfg.profile;
    let (rpm, tpm) = (cfg.rpm, cfg.tpm);
    let server = MockServer::start(cfg, args.port)
        .await
        .map_err(|e| CliError {
            exit: Exit::Unreachable,
            message: format!("could not listen on 127.0.0.1:{}: {e}", args.port),
            hint: Some("pick another `--port`, or `--port 0` for any free one".into()),
            preceding: Vec::new(),
        })?;
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
