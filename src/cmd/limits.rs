//! `ratecheck limits URL`: the limiter checks, their budget said first, the report rendered to
//! stdout and `-o FILE`.

use std::io::Write;

use super::{Ended, check_outputs, spinner, write_file, write_out};
use crate::cli::LimitsArgs;
use crate::config::{self, CliError, KeySource};
use crate::endpoint::Endpoint;
use crate::limits::{self, CheckId, LimitsOptions};
use crate::report::limits::render;
use crate::settings;

/// Runs `ratecheck limits`.
pub async fn run(args: &LimitsArgs, color: bool, out: &mut dyn Write) -> Result<Ended, CliError> {
    let mut main = config::client(&args.url, &args.connect)?;
    let second_source = match (&args.concurrency_key_env, &args.concurrency_key_file) {
        (Some(var), _) => Some(KeySource::Env(var.clone())),
        (None, Some(file)) => Some(KeySource::File(file.clone())),
        (None, None) => None,
    };
    let mut second = match &second_source {
        Some(source) => Some(config::client_with_key(&args.url, &args.connect, source)?),
        None => None,
    };
    // Each key's reports may quote the other's answers: both redactors know both keys.
    if let Some(s) = second.take() {
        let main_key: Vec<String> = main.key().map(str::to_string).into_iter().collect();
        main = main.knowing(s.key().map(str::to_string));
        second = Some(s.knowing(main_key));
    }
    check_outputs(args.output.as_deref())?;
    let max_wait = settings::LIMITS_MAX_WAIT.duration(&args.max_wait)?;
    let settle = settings::LIMITS_SETTLE.duration(&args.settle)?;
    let endpoints = match &args.endpoints {
        Some(list) => config::endpoint_list("--endpoints", list)?,
        None => Endpoint::ALL.to_vec(),
    };
    let checks = match &args.checks {
        Some(list) => check_list(list)?,
        None => CheckId::ALL.to_vec(),
    };
    let model = match main.resolve_model(args.model.as_deref()).await {
        Ok(m) => m,
        Err(abort) => return Ok(Ended::stopped(abort.exit, Some(&abort))),
    };
    let (waiting, mut waits) = crate::wait::Waiting::channel();
    let opts = LimitsOptions {
        embedding_model: args
            .embedding_model
            .clone()
            .unwrap_or_else(|| model.clone()),
        model,
        endpoints,
        checks,
        max_requests: args.max_requests,
        max_wait,
        max_parallel: args.max_parallel,
        settle,
        hold_tokens: args.hold_tokens,
        strict: args.strict,
        stop: crate::stop::Stop::on_ctrl_c(),
        waiting,
    };
    // It spends the key's quota: say how much before the first request.
    let _ = writeln!(
        std::io::stderr(),
        "ratecheck limits: {} on {} endpoint × shape cells{}",
        opts.budget().summary(),
        opts.variants().len(),
        if second.is_some() {
            ", the concurrency checks on the second key"
        } else {
            ""
        }
    );
    let bar = spinner("{spinner} {msg}");
    let countdown = {
        let bar = bar.clone();
        tokio::spawn(async move {
            while waits.changed().await.is_ok() {
                let shown = waits
                    .borrow()
                    .as_ref()
                    .map(|w| w.describe(std::time::Instant::now()));
                if let Some(text) = shown {
                    bar.set_message(format!("{text} (Ctrl-C stops and writes the report)"));
                }
            }
        })
    };
    let mut progress = |what: &str| bar.set_message(what.to_string());
    let report = limits::run(&main, second.as_ref(), &opts, &mut progress).await;
    countdown.abort();
    bar.finish_and_clear();
    write_out(out, &render(&report, args.format, color))?;
    if let Some(path) = &args.output {
        write_file(path, &render(&report, args.format, false))?;
    }
    let mut ended = Ended::stopped(report.exit(), report.aborted.as_ref());
    ended
        .notices
        .extend(super::command_line_key(&main, &args.url));
    if report.interrupted {
        ended
            .notices
            .push("interrupted: the report covers what was sent until then".into());
    }
    Ok(ended)
}

/// `--checks a,b`: the checks named, in order, without repeats.
pub fn check_list(list: &[String]) -> Result<Vec<CheckId>, CliError> {
    let mut c = Vec::new();
    for item in list.iter().filter(|s| !s.trim().is_empty()) {
        let id: CheckId = item.parse().map_err(CliError::usage)?;
        if !c.contains(&id) {
            c.push(id);
        }
    }
    if c.is_empty() {
        return Err(CliError::usage("`--checks` is empty"));
    }
    Ok(c)
}
