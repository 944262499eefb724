//! `ratecheck completions SHELL` and `ratecheck man`: generated from the same clap definitions
//! as `--help`, so they cannot drift from the flags.

use std::io::Write;

use clap::CommandFactory;

use super::{Ended, write_out};
use crate::cli::{Cli, CompletionsArgs};
use crate::config::CliError;
use crate::verdict::Exit;

/// Prints the completion script for a shell.
pub fn completions(args: &CompletionsArgs, out: &mut dyn Write) -> Result<Ended, CliError> {
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "ratecheck", &mut buf);
    write_out(out, &String::from_utf8_lossy(&buf))?;
    Ok(Ended::with(Exit::Ok))
}

/// Prints the manual page.
pub fn man(out: &mut dyn Write) -> Result<Ended, CliError> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut buf)
        .map_err(|e| CliError::runtime(format!("could not render the manual page: {e}")))?;
    write_out(out, &String::from_utf8_lossy(&buf))?;
    Ok(Ended::with(Exit::Ok))
}
