//! The `ratecheck` binary: parse, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = ratecheck::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ratecheck: error: could not start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr();
    match runtime.block_on(ratecheck::run(cli, &mut out, &mut err)) {
        Ok(exit) => ExitCode::from(exit.code()),
        Err(e) => {
            eprintln!("ratecheck: error: {}", e.message);
            if let Some(hint) = &e.hint {
                eprintln!("  hint: {hint}");
            }
            ExitCode::from(e.exit.code())
        }
    }
}
