//! `ratecheck run FILE...`: read every file first (any error stops the run before a request is
//! sent), resolve each scenario's settings — command line over scenario over defaults — into the
//! same specs the flags give, run, then report to stdout and to every requested file.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use super::validate::read_all;
use super::{Ended, check_outputs, write_file, write_out};
use crate::baseline;
use crate::cli::RunArgs;
use crate::config::{self, CliError, ConnectDefaults, KeySource};
use crate::http::Client;
use crate::report::{Format, run as reporter};
use crate::run::{Resolved, RunReport, run_scenario};
use crate::scenario::vars::Vars;
use crate::scenario::{Auth, Defaults, Loaded};
use crate::stop::Stop;
use crate::verdict::Abort;

/// The client and settings one scenario runs with.
fn resolve(l: &Loaded, args: &RunArgs, stop: &Stop) -> Result<(Client, Resolved), CliError> {
    let file = l.path.display().to_string();
    let s = &l.scenario;
    let vars = Vars::default();
    let expand = |text: &str| {
        vars.expand(text)
            .map_err(|why| CliError::usage(why).in_file(&file))
    };
    let target = match (&args.target, &s.target) {
        (Some(t), _) => t.clone(),
        (None, Some(t)) => expand(&t.value)?,
        (None, None) => {
            return Err(CliError::usage(
                "no target: write `target: URL` in the scenario or pass `--target URL`",
            )
            .in_file(&file));
        }
    };
    let flags = &args.connect;
    let key = KeySource::from_flags(flags.api_key_env.as_ref(), flags.api_key_file.as_ref());
    let key = if key.is_given() {
        key
    } else {
        auth_key(&s.auth, &expand, &file)?
    };
    let defaults = connect_defaults(&s.defaults, &expand)?;
    let spec = config::connect(flags, &key, &defaults).map_err(|e| e.in_file(&file))?;
    let model = match (&args.model, &s.defaults.model) {
        (Some(m), _) => Some(m.clone()),
        (None, Some(m)) => Some(expand(m)?).filter(|m| !m.is_empty()),
        (None, None) => None,
    };
    let embedding_model = match &s.defaults.embedding_model {
        Some(m) => Some(expand(m)?).filter(|m| !m.is_empty()),
        None => None,
    };
    let client = config::build_client(&target, spec).map_err(|e| e.in_file(&file))?;
    Ok((
        client,
        Resolved {
            model,
            embedding_model,
            counters: s.defaults.counters.unwrap_or_default(),
            strict: s.strict || args.strict,
            stop: stop.clone(),
            waiting: crate::wait::Waiting::default(),
        },
    ))
}

/// Where an `auth` section (a scenario's, an exporter module's) in `file` says the key comes
/// from, `${VAR}` expanded by `expand`; a named variable must be set.
pub(super) fn auth_key(
    auth: &Auth,
    expand: &dyn Fn(&str) -> Result<String, CliError>,
    file: &str,
) -> Result<KeySource, CliError> {
    Ok(if auth.none {
        KeySource::None
    } else if let Some(f) = &auth.file {
        KeySource::File(PathBuf::from(expand(f)?))
    } else if let Some(var) = &auth.env {
        if !std::env::var(var).is_ok_and(|v| !v.trim().is_empty()) {
            return Err(CliError::usage(format!(
                "`auth.env: {var}` names a variable that is not set"
            ))
            .in_file(file)
            .hint(format!(
                "export {var}=... (a key with rate limits), or pass `--api-key-env VAR`"
            )));
        }
        KeySource::Env(var.clone())
    } else {
        KeySource::Default
    })
}

/// A `defaults` section's connection settings, `${VAR}` expanded by `expand`, as the
/// connection flags take them.
pub(super) fn connect_defaults(
    d: &Defaults,
    expand: &dyn Fn(&str) -> Result<String, CliError>,
) -> Result<ConnectDefaults, CliError> {
    Ok(ConnectDefaults {
        timeout: d.timeout.as_ref().map(|t| t.value.0),
        max_time: d.max_time.as_ref().map(|t| t.value.0),
        insecure: d.insecure,
        follow_redirects: d.follow_redirects,
        cacert: d
            .cacert
            .as_deref()
            .map(expand)
            .transpose()?
            .map(PathBuf::from),
        headers: d
            .headers
            .iter()
            .map(|(name, value)| Ok(format!("{name}: {}", expand(value)?)))
            .collect::<Result<_, CliError>>()?,
        rate_headers: d.rate_headers.clone(),
        secret_headers: d.secret_headers.clone(),
    })
}

/// Runs `ratecheck run`.
pub async fn run(args: &RunArgs, color: bool, out: &mut dyn Write) -> Result<Ended, CliError> {
    let start = Instant::now();
    // The flags alone, checked once in their own words before any scenario is read.
    config::connect(&args.connect, &KeySource::None, &ConnectDefaults::default())?;
    let loaded = read_all(&args.files, args.target.is_some())?;
    let base = match &args.baseline {
        Some(p) => Some(baseline::read(p).map_err(CliError::usage)?),
        None => None,
    };
    let stop = Stop::on_ctrl_c();
    let mut prepared = Vec::new();
    for l in &loaded {
        prepared.push(resolve(l, args, &stop)?);
    }
    check_outputs(
        [
            &args.output,
            &args.save_baseline,
            &args.report_junit,
            &args.report_json,
            &args.report_markdown,
        ]
        .into_iter()
        .flatten()
        .map(PathBuf::as_path),
    )?;
    // The table streams each step as it ends, so a long CI run shows where it is; the other
    // formats are whole documents, written at the end.
    let live = args.format == Format::Table;
    let mut scenarios = Vec::new();
    for (l, (client, resolved)) in loaded.iter().zip(&prepared) {
        if live {
            let head = reporter::scenario_head(
                &l.name(),
                &l.path.display().to_string(),
                &client.display_base(),
            );
            write_out(out, &head)?;
        }
        let s = run_scenario(l, client, resolved, &mut |step| {
            if live {
                let _ = write_out(out, &reporter::step_lines(step, color));
            }
        })
        .await;
        if live {
            write_out(out, &reporter::scenario_tail(&s, color))?;
        }
        scenarios.push(s);
        if stop.is_set() {
            break;
        }
    }
    let baseline_file = args.baseline.as_ref().map(|p| p.display().to_string());
    let report = RunReport::new(
        scenarios,
        base.as_ref().zip(baseline_file.as_deref()),
        start,
    );
    if live {
        write_out(out, &reporter::summary(&report, color))?;
    } else {
        write_out(out, &reporter::render(&report, args.format, color))?;
    }
    write_reports(args, &report, live, out)?;
    // Every scenario that stopped says why, on stderr, the last one as the run's error.
    let mut aborts: Vec<(&str, &Abort)> = report
        .scenarios
        .iter()
        .filter_map(|s| s.aborted.as_ref().map(|a| (s.name.as_str(), a)))
        .collect();
    let mut ended = Ended::stopped(report.exit(), aborts.pop().map(|(_, last)| last));
    if let Some(e) = &mut ended.error {
        e.preceding = aborts
            .iter()
            .map(|(name, a)| format!("{name}: {}", a.failure.message))
            .collect();
    }
    let exchanges: Vec<_> = report
        .scenarios
        .iter()
        .flat_map(|s| s.exchanges().cloned())
        .collect();
    ended.explain(&exchanges);
    if stop.is_set() {
        ended
            .notices
            .push("interrupted: the reports cover the steps that ran".into());
    }
    Ok(ended)
}

/// Every file the flags ask for: the baseline to save, the report in `--format`, JUnit, JSON,
/// Markdown.
fn write_reports(
    args: &RunArgs,
    report: &RunReport,
    live: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    if let Some(p) = &args.save_baseline {
        let b = report.contract();
        write_file(p, &crate::report::json(&b))?;
        if live {
            write_out(
                out,
                &format!(
                    "baseline saved to {} ({} endpoint × shape entries)\n",
                    p.display(),
                    b.contract.len()
                ),
            )?;
        }
    }
    if let Some(p) = &args.output {
        write_file(p, &reporter::render(report, args.format, false))?;
    }
    if let Some(p) = &args.report_junit {
        write_file(p, &reporter::junit(report))?;
    }
    if let Some(p) = &args.report_json {
        write_file(p, &crate::report::json(report))?;
    }
    if let Some(p) = &args.report_markdown {
        write_file(p, &reporter::markdown(report))?;
    }
    Ok(())
}
