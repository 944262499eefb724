//! `ratecheck run` and `ratecheck validate`: load every file first (any error stops the run
//! before a request is sent), resolve each scenario's settings, run, then report.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::{Resolved, new_report, run_scenario};
use crate::baseline;
use crate::cli::{ConnectArgs, RunArgs, ValidateArgs};
use crate::config::{self, CliError};
use crate::exit::Exit;
use crate::http::{Client, normalize_base};
use crate::report::run as reporter;
use crate::scenario::vars::Vars;
use crate::scenario::{self, LoadError, Loaded};

/// Loads every file, writing each error (one located line, then the source line) to `err`.
fn load_all(
    files: &[PathBuf],
    target_given: bool,
    err: &mut dyn Write,
) -> Result<Vec<Loaded>, CliError> {
    let mut loaded = Vec::new();
    let mut failed = 0;
    for f in files {
        match scenario::load(f, target_given) {
            Ok(l) => loaded.push(l),
            Err(e) => {
                failed += 1;
                write_load_error(&e, err);
            }
        }
    }
    if failed > 0 {
        return Err(CliError::usage(format!(
            "{failed} of {} scenario files cannot be used",
            files.len()
        ))
        .hint("fix the errors above; `ratecheck validate FILE` checks without sending anything"));
    }
    Ok(loaded)
}

fn write_load_error(e: &LoadError, err: &mut dyn Write) {
    let _ = writeln!(err, "ratecheck: error: {e}");
    if let Some(x) = e.excerpt() {
        let _ = writeln!(err, "{x}");
    }
}

/// `ratecheck validate`.
pub fn validate_command(
    args: &ValidateArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Exit, CliError> {
    let loaded = load_all(&args.files, args.target.is_some(), err)?;
    for l in &loaded {
        let n = super::leaf_steps(l);
        let _ = writeln!(
            out,
            "{}: ok ({}, {n} {} once loops are unrolled)",
            l.path.display(),
            l.name(),
            if n == 1 { "step" } else { "steps" }
        );
    }
    Ok(Exit::Ok)
}

/// A scenario error found while resolving settings, before anything is sent.
fn located(l: &Loaded, message: String) -> CliError {
    CliError::usage(format!("{}: {message}", l.path.display()))
}

/// The client and settings one scenario runs with: command line over scenario over defaults.
fn resolve(l: &Loaded, args: &RunArgs) -> Result<(Client, Resolved), CliError> {
    let s = &l.scenario;
    let vars = Vars::default();
    let expand = |text: &str| vars.expand(text).map_err(|why| located(l, why));
    let target = match (&args.target, &s.target) {
        (Some(t), _) => t.clone(),
        (None, Some(t)) => expand(&t.value)?,
        (None, None) => {
            return Err(located(
                l,
                "no target: write `target: URL` in the scenario or pass `--target URL`".into(),
            ));
        }
    };
    let base = normalize_base(&target).map_err(|e| located(l, e))?;
    let mut headers: Vec<String> = Vec::new();
    for (name, value) in &s.defaults.headers {
        headers.push(format!("{name}: {}", expand(value)?));
    }
    headers.extend(args.headers.iter().cloned());
    let (api_key_env, api_key_file) = if args.api_key_env.is_some() || args.api_key_file.is_some() {
        (args.api_key_env.clone(), args.api_key_file.clone())
    } else {
        let file = match &s.auth.file {
            Some(f) => Some(PathBuf::from(expand(f)?)),
            None => None,
        };
        if let Some(var) = &s.auth.env
            && !std::env::var(var).is_ok_and(|v| !v.trim().is_empty())
        {
            return Err(located(
                l,
                format!("`auth.env: {var}` names a variable that is not set"),
            )
            .hint(format!(
                "export {var}=... (a key with rate limits), or pass `--api-key-env VAR`"
            )));
        }
        (s.auth.env.clone(), file)
    };
    let timeout = match (&args.timeout, &s.defaults.timeout) {
        (Some(t), _) => t.clone(),
        (None, Some(d)) => format!("{}ms", d.0.as_millis()),
        (None, None) => "30s".into(),
    };
    let connect = ConnectArgs {
        api_key_env,
        api_key_file,
        headers,
        timeout,
        insecure: args.insecure,
    };
    let mut settings = config::client_settings(&connect).map_err(|e| CliError {
        message: format!("{}: {}", l.path.display(), e.message),
        ..e
    })?;
    if s.auth.none && args.api_key_env.is_none() && args.api_key_file.is_none() {
        settings.api_key = None;
    }
    let model = match (&args.model, &s.defaults.model) {
        (Some(m), _) => Some(m.clone()),
        (None, Some(m)) => Some(expand(m)?).filter(|m| !m.is_empty()),
        (None, None) => None,
    };
    let embedding_model = match &s.defaults.embedding_model {
        Some(m) => Some(expand(m)?).filter(|m| !m.is_empty()),
        None => None,
    };
    let resolved = Resolved {
        model,
        embedding_model,
    };
    let client = config::build_client(base, settings)?;
    Ok((client, resolved))
}

fn write_file(path: &Path, text: &str) -> Result<(), CliError> {
    std::fs::write(path, text)
        .map_err(|e| CliError::usage(format!("could not write `{}`: {e}", path.display())))
}

/// `ratecheck run`.
pub async fn run_command(
    args: &RunArgs,
    color: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Exit, CliError> {
    let start = Instant::now();
    let loaded = load_all(&args.files, args.target.is_some(), err)?;
    let base = match &args.baseline {
        Some(p) => Some(baseline::read(p).map_err(CliError::usage)?),
        None => None,
    };
    let mut prepared = Vec::new();
    for l in &loaded {
        prepared.push(resolve(l, args)?);
    }
    let mut report = new_report();
    for (l, (client, resolved)) in loaded.iter().zip(&prepared) {
        let _ = write!(
            out,
            "{}",
            reporter::scenario_head(
                &l.name(),
                &l.path.display().to_string(),
                &client.display_base()
            )
        );
        let _ = out.flush();
        let s = run_scenario(l, client, resolved, &mut |step| {
            let _ = write!(out, "{}", reporter::step_lines(step, color));
            let _ = out.flush();
        })
        .await;
        let _ = write!(out, "{}", reporter::scenario_tail(&s, color));
        report.scenarios.push(s);
    }
    if let (Some(b), Some(path)) = (&base, &args.baseline) {
        report.baseline = Some(baseline::compare(b, &report, &path.display().to_string()));
    }
    report.finish(start);
    let _ = write!(out, "{}", reporter::summary(&report, color));
    if let Some(p) = &args.save_baseline {
        let b = baseline::record(&report);
        let text = serde_json::to_string_pretty(&b).unwrap_or_default() + "\n";
        write_file(p, &text)?;
        let _ = writeln!(
            out,
            "baseline saved to {} ({} endpoint × shape entries)",
            p.display(),
            b.contract.len()
        );
    }
    if let Some(p) = &args.report_junit {
        write_file(p, &reporter::junit(&report))?;
    }
    if let Some(p) = &args.report_json {
        write_file(p, &reporter::json(&report))?;
    }
    if let Some(p) = &args.report_markdown {
        write_file(p, &reporter::markdown(&report))?;
    }
    let exit = report.exit();
    if let Some(a) = report.scenarios.iter().find_map(|s| s.aborted.as_ref()) {
        let _ = writeln!(
            err,
            "ratecheck: error: {}\n  hint: {}",
            a.failure.message, a.hint
        );
    }
    Ok(exit)
}
