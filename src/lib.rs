//! ratecheck: reproduce, diagnose and verify rate-limit header bugs in LLM gateways.
//!
//! Data flows one way: `cli` parses, `config` resolves, `probe` drives `http` and returns a
//! `ProbeReport`, `report` renders it, `exit` maps it to a code. `mock` is the built-in simulator
//! that `demo` and the tests run; it writes headers through the same `headers` model the checker
//! reads with.

pub mod baseline;
pub mod cli;
pub mod config;
pub mod demo;
pub mod endpoint;
pub mod exit;
pub mod headers;
pub mod http;
pub mod load;
pub mod mock;
pub mod probe;
pub mod redact;
pub mod report;
pub mod run;
pub mod scenario;
pub mod triage;

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressStyle};

use cli::{Cli, ColorChoice, Command, MockArgs, ProbeArgs, TriageArgs};
use config::CliError;
use exit::Exit;

/// Installs the TLS crypto provider once; later calls are no-ops.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Whether to colour output written to a stream that is (or is not) a terminal.
pub fn use_color(choice: ColorChoice, is_terminal: bool) -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => is_terminal && !no_color,
    }
}

/// Runs a parsed command line, writing reports to `out` and errors to `err`.
///
/// Returns the exit to use; a [`CliError`] means the run could not start (its exit is in it).
pub async fn run(cli: Cli, out: &mut dyn Write, err: &mut dyn Write) -> Result<Exit, CliError> {
    let color = use_color(cli.color, std::io::stdout().is_terminal());
    match cli.command {
        Command::Probe(args) => probe_command(&args, color, out, err).await,
        Command::Run(args) => run::command::run_command(&args, color, out, err).await,
        Command::Validate(args) => run::command::validate_command(&args, out, err),
        Command::Triage(args) => triage_command(&args, out, err).await,
        Command::Load(args) => load::command::load_command(&args, color, out, err).await,
        Command::Mock(args) => mock_command(&args, out).await,
        Command::Demo(args) => demo::run(args.format, color, out).await,
    }
}

/// A ticking spinner on a terminal's stderr, or a hidden bar when stderr is not a terminal.
pub(crate) fn spinner(template: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

fn io_error(e: &std::io::Error) -> CliError {
    CliError::usage(format!("could not write the output: {e}"))
}

async fn probe_command(
    args: &ProbeArgs,
    color: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Exit, CliError> {
    let client = config::client(&args.url, &args.connect)?;
    let opts = config::probe_options(args)?;

    let modes: u64 = opts
        .endpoints
        .iter()
        .map(|e| if e.streams() { 2 } else { 1 })
        .sum();
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(modes * u64::from(opts.repeat));
        if let Ok(style) = ProgressStyle::with_template("{spinner} {pos}/{len} requests {msg}") {
            bar.set_style(style);
        }
        bar
    } else {
        ProgressBar::hidden()
    };
    let report = probe::probe(&client, &opts, &mut |ex| {
        bar.set_message(ex.variant.to_string());
        bar.inc(1);
    })
    .await;
    bar.finish_and_clear();

    out.write_all(report::render(&report, args.format, color).as_bytes())
        .map_err(|e| io_error(&e))?;
    if let Some(path) = &args.output {
        std::fs::write(path, report::render(&report, args.format, false))
            .map_err(|e| CliError::usage(format!("could not write `{}`: {e}", path.display())))?;
    }
    let exit = report.exit();
    if let Some(a) = &report.aborted {
        let _ = writeln!(
            err,
            "ratecheck: error: {}\n  hint: {}",
            a.failure.message, a.hint
        );
    } else if let Some(f) = report
        .exchanges
        .iter()
        .filter_map(|e| e.failure.as_ref())
        .find(|f| exit::for_failure(f.kind) == exit)
    {
        let _ = writeln!(err, "ratecheck: error: {}", f.message);
    }
    Ok(exit)
}

async fn triage_command(
    args: &TriageArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Exit, CliError> {
    let client = config::client(&args.url, &args.connect)?;
    let max_wait = config::parse_duration("--max-wait", &args.max_wait)?;
    let opts = triage::TriageOptions {
        probe: config::probe_selection(&args.select, args.repeat)?,
        check_429: !args.skip_429,
        exhaust_max: args.exhaust_max,
        max_wait_secs: max_wait.as_secs_f64(),
    };
    let bar = spinner("{spinner} {msg}");
    bar.set_message("probing, then checking the 429 contract…");
    let t = triage::triage(&client, &opts).await;
    bar.finish_and_clear();
    let generated = jiff::Timestamp::now()
        .strftime("%Y-%m-%d %H:%M:%S UTC")
        .to_string();
    let text = triage::render(&t, &generated);
    let exit = t.exit();
    match &args.out {
        Some(path) => {
            std::fs::write(path, &text).map_err(|e| {
                CliError::usage(format!("could not write `{}`: {e}", path.display()))
            })?;
            writeln!(
                out,
                "triage bundle written to {} ({} findings, verdict {}, exit {})",
                path.display(),
                t.probe.findings.len(),
                exit.name(),
                exit.code()
            )
            .map_err(|e| io_error(&e))?;
        }
        None => out.write_all(text.as_bytes()).map_err(|e| io_error(&e))?,
    }
    if let Some(a) = &t.probe.aborted {
        let _ = writeln!(
            err,
            "ratecheck: error: {}\n  hint: {}",
            a.failure.message, a.hint
        );
    }
    Ok(exit)
}

async fn mock_command(args: &MockArgs, out: &mut dyn Write) -> Result<Exit, CliError> {
    let cfg = config::mock_config(args)?;
    let profile = cfg.profile;
    let (rpm, tpm) = (cfg.rpm, cfg.tpm);
    let server = mock::MockServer::start(cfg, args.port)
        .await
        .map_err(|e| CliError {
            exit: Exit::Unreachable,
            message: format!("could not listen on 127.0.0.1:{}: {e}", args.port),
            hint: Some("pick another `--port`, or `--port 0` for any free one".into()),
        })?;
    writeln!(
        out,
        "ratecheck mock ({profile}, rpm {rpm}, tpm {tpm}) listening on {}\ntry: ratecheck probe {}\nstop with Ctrl-C",
        server.url(),
        server.url()
    )
    .map_err(|e| io_error(&e))?;
    out.flush().map_err(|e| io_error(&e))?;
    tokio::select! {
        () = server.wait() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(Exit::Ok)
}
