//! ratecheck: reproduce, diagnose and verify rate-limit header bugs in LLM gateways.
//!
//! Data flows one way: `cli` parses, `config` resolves what the user typed into plain specs,
//! an engine (`probe`, `run`, `load`, `triage`) drives `http` and returns a report in the
//! `verdict` vocabulary, `report` renders it, and `cmd` — the only glue between them — writes it
//! out. [`run`] prints the one error a command ended with, once, on stderr. `mock` is the
//! built-in simulator that `demo` and the tests run; it writes headers through the same
//! `headers` model the checker reads with.

pub mod baseline;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod duration;
pub mod endpoint;
pub mod evidence;
pub mod exporter;
pub mod fleet;
pub mod headers;
pub mod http;
pub mod limits;
pub mod load;
pub mod mock;
pub mod probe;
pub mod record;
pub mod redact;
pub mod report;
pub mod run;
pub mod scenario;
pub mod settings;
pub mod stop;
pub mod suggest;
pub mod triage;
pub mod verdict;
pub mod wait;
pub mod words;

use std::io::{IsTerminal, Write};

use cli::{Cli, Command};
use verdict::Exit;

/// Runs a parsed command line, writing results to `out` and the error it ended with, if any,
/// to `err`. Returns the exit to use.
pub async fn run(cli: Cli, out: &mut dyn Write, err: &mut dyn Write) -> Exit {
    let color = cmd::use_color(cli.color, std::io::stdout().is_terminal());
    let ended = match &cli.command {
        Command::Probe(args) => cmd::probe::run(args, color, out).await,
        Command::Run(args) => cmd::run::run(args, color, out).await,
        Command::Validate(args) => cmd::validate::run(args, out),
        Command::Triage(args) => cmd::triage::run(args, out).await,
        Command::Limits(args) => cmd::limits::run(args, color, out).await,
        Command::Load(args) => cmd::load::run(args, color, out).await,
        Command::Merge(args) => cmd::merge::run(args, color, out),
        Command::Fleet(args) => cmd::fleet::run(args, color, out).await,
        Command::Analyze(args) => cmd::analyze::run(args, color, out).await,
        Command::Record(args) => cmd::record::run(args, color, out).await,
        Command::Exporter(args) => cmd::exporter::run(args).await,
        Command::Mock(args) => cmd::mock::run(args, out).await,
        Command::Demo(args) => cmd::demo::run(args, color, out).await,
        Command::Completions(args) => cmd::completions::completions(args, out),
        Command::Man => cmd::completions::man(out),
    };
    match ended {
        Ok(e) => {
            for notice in &e.notices {
                let _ = writeln!(err, "ratecheck: {notice}");
            }
            if let Some(error) = &e.error {
                cmd::print_error(err, error);
            }
            e.exit
        }
        Err(error) => {
            cmd::print_error(err, &error);
            error.exit
        }
    }
}
