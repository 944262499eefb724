//! The `ratecheck` binary: parse, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = ratecheck::cli::Cli::parse();
    let mut err = std::io::stderr();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let e = ratecheck::config::CliError::runtime(format!(
                "could not start the async runtime: {e}"
            ));
            ratecheck::cmd::print_error(&mut err, &e);
            return ExitCode::from(e.exit.code());
        }
    };
    let mut out = std::io::stdout().lock();
    let exit = runtime.block_on(ratecheck::run(cli, &mut out, &mut err));
    ExitCode::from(exit.code())
}
