//! Command glue, one file per subcommand: flags and scenarios resolved through `config`, an
//! engine run on plain values, its report rendered through `report` and written out.
//!
//! These are the only modules that see `cli`, `config` and `report` together. A command returns
//! [`Ended`]; [`crate::run`] prints its one error on stderr, once, while the results went to
//! stdout and to every requested file first.

pub mod analyze;
pub mod completions;
pub mod demo;
pub mod exporter;
pub mod fleet;
pub mod limits;
pub mod load;
pub mod merge;
pub mod mock;
pub mod probe;
pub mod record;
pub mod run;
pub mod triage;
pub mod validate;

use std::io::{IsTerminal, Write};
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::ColorChoice;
use crate::config::CliError;
use crate::verdict::{Abort, Exit};

/// How a command ended.
#[derive(Debug)]
pub struct Ended {
    /// The exit code to use.
    pub exit: Exit,
    /// The error that stopped the run early, printed on stderr after the results.
    pub error: Option<CliError>,
    /// Lines for stderr that are not errors (an interrupted run, a key on the command line).
    pub notices: Vec<String>,
}

impl Ended {
    /// A command that ran to the end.
    pub fn with(exit: Exit) -> Self {
        Ended {
            exit,
            error: None,
            notices: Vec::new(),
        }
    }

    /// A command whose run stopped early at `abort`, if it did.
    pub fn stopped(exit: Exit, abort: Option<&Abort>) -> Self {
        Ended {
            exit,
            error: abort.map(|a| CliError {
                exit: a.exit,
                message: a.failure.message.clone(),
                hint: Some(a.hint.clone()),
                preceding: Vec::new(),
            }),
            notices: Vec::new(),
        }
    }
}

impl Ended {
    /// With no error yet, the failure among `exchanges` that decided the exit becomes it, so
    /// the code is never unexplained.
    pub fn explain(&mut self, exchanges: &[crate::http::Exchange]) {
        if self.error.is_some() {
            return;
        }
        let exit = self.exit;
        if let Some(f) = exchanges
            .iter()
            .filter_map(|e| e.failure.as_ref())
            .find(|f| f.kind.exit() == exit)
        {
            self.error = Some(CliError {
                exit,
                message: f.message.clone(),
                hint: None,
                preceding: Vec::new(),
            });
        }
    }
}

/// A warning when the key was given on the command line (`-H authorization`, a URL with a
/// password or a query): shell history and `ps` keep it. `None` when it came from elsewhere.
pub fn command_line_key(client: &crate::http::Client, url: &str) -> Option<String> {
    let in_url = reqwest::Url::parse(url)
        .ok()
        .is_some_and(|u| u.password().is_some() || u.query().is_some());
    let in_header = client.key_source() == "-H";
    (in_url || in_header).then(|| {
        format!(
            "warning: a credential was given on the command line ({}): shell history and `ps` keep it; prefer `RATECHECK_API_KEY` or `--api-key-file FILE`",
            if in_header { "-H" } else { "in the URL" }
        )
    })
}

/// The address a server of ratecheck's listens on: loopback, or another only when
/// `allow_remote` says so; `risk` says what other machines could do through it.
fn listen_addr(
    text: &str,
    allow_remote: bool,
    risk: &str,
) -> Result<std::net::SocketAddr, CliError> {
    let listen: std::net::SocketAddr = text.parse().map_err(|_| {
        CliError::usage(format!(
            "`--listen` takes an address and port such as `127.0.0.1:4400`, not `{text}`"
        ))
    })?;
    if !listen.ip().is_loopback() && !allow_remote {
        return Err(CliError::usage(format!(
            "refusing to listen on {listen}: other machines could {risk}"
        ))
        .hint(
            "listen on 127.0.0.1 (the default), or pass `--allow-remote` if that is what you want",
        ));
    }
    Ok(listen)
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

/// The width tables must fit on standard output: `COLUMNS` when set, the terminal's when
/// standard output is one, none (full width) for files and pipes.
pub fn terminal_width() -> Option<u16> {
    if let Some(cols) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<u16>().ok())
        .filter(|c| *c > 0)
    {
        return Some(cols);
    }
    if std::io::stdout().is_terminal() {
        return comfy_table::Table::new().width();
    }
    None
}

/// Prints an error the one way errors are printed: `ratecheck: error: …`, then the hint.
pub fn print_error(err: &mut dyn Write, e: &CliError) {
    for p in &e.preceding {
        let _ = writeln!(err, "ratecheck: error: {p}");
    }
    let _ = writeln!(err, "ratecheck: error: {}", e.message);
    if let Some(h) = &e.hint {
        let _ = writeln!(err, "  hint: {h}");
    }
}

/// Writes results to standard output.
fn write_out(out: &mut dyn Write, text: &str) -> Result<(), CliError> {
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| CliError::io(format!("could not write the output: {e}")))
}

/// Checks, before anything is sent, that every requested report can be written: its folder
/// exists and takes a file. An hour of probing must not end in "could not write".
fn check_outputs<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Result<(), CliError> {
    for path in paths {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        if !dir.is_dir() {
            return Err(CliError::io(format!(
                "cannot write `{}`: the folder `{}` does not exist",
                path.display(),
                dir.display()
            ))
            .hint("create it, or choose another path; nothing was sent"));
        }
        if path.is_dir() {
            return Err(CliError::io(format!(
                "cannot write `{}`: it is a folder",
                path.display()
            )));
        }
        let probe = dir.join(format!(".ratecheck-write-check-{}", std::process::id()));
        match std::fs::File::create(&probe) {
            Ok(_) => {
                let _ = std::fs::remove_file(&probe);
            }
            Err(e) => {
                return Err(
                    CliError::io(format!("cannot write `{}`: {e}", path.display()))
                        .hint("choose a folder you can write to; nothing was sent"),
                );
            }
        }
    }
    Ok(())
}

/// Writes a requested report file.
fn write_file(path: &Path, text: &str) -> Result<(), CliError> {
    std::fs::write(path, text)
        .map_err(|e| CliError::io(format!("could not write `{}`: {e}", path.display())))
}

/// A probe report to stdout (fitted to the terminal) and to `-o FILE` (plain, uncoloured).
fn write_probe_report(
    report: &crate::probe::ProbeReport,
    format: crate::report::Format,
    color: bool,
    output: Option<&Path>,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    use crate::report::probe::{render, render_within};
    write_out(out, &render_within(report, format, color, terminal_width()))?;
    if let Some(path) = output {
        write_file(path, &render(report, format, false))?;
    }
    Ok(())
}

/// A ticking spinner on a terminal's stderr, or a hidden bar when stderr is not a terminal.
fn spinner(template: &str) -> ProgressBar {
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

/// A counting bar of `len` steps on a terminal's stderr, hidden elsewhere.
fn counter(len: u64, template: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}
