//! `ratecheck load`: flags to [`LoadOptions`], a progress line on a terminal, Ctrl-C that still
//! reports, thresholds, and the exit code.

use std::io::Write;
use std::time::Duration;

use super::backoff::Backoff;
use super::stats::ErrorClass;
use super::threshold::{self, Condition};
use super::{Arrival, LoadOptions, LoadReport, run};
use crate::cli::LoadArgs;
use crate::config::{self, CliError};
use crate::endpoint::Endpoint;
use crate::exit::Exit;
use crate::http::ModelsError;
use crate::report::{Format, load as reporter};

/// Resolves the flags into options (model resolution aside).
pub fn options(args: &LoadArgs) -> Result<(LoadOptions, Vec<Condition>), CliError> {
    let duration = match (&args.duration, args.requests) {
        (Some(d), _) => Some(config::parse_duration("--duration", d)?),
        (None, Some(_)) => None,
        (None, None) => Some(Duration::from_secs(10)),
    };
    if duration.is_some_and(|d| d.is_zero()) || args.requests == Some(0) {
        return Err(CliError::usage(
            "`--duration` and `--requests` must be more than zero",
        ));
    }
    let arrival = match (args.rate, args.concurrency) {
        (Some(r), _) if !(r.is_finite() && r > 0.0) => {
            return Err(CliError::usage(format!(
                "`--rate {r}` must be a positive number"
            )));
        }
        (Some(rate), _) if args.poisson => Arrival::Poisson { rate },
        (Some(rate), _) => Arrival::Constant { rate },
        (None, Some(0)) => return Err(CliError::usage("`--concurrency` must be at least 1")),
        (None, Some(concurrency)) => Arrival::Closed { concurrency },
        (None, None) => {
            return Err(CliError::usage(
                "say how to send: `--rate N` (open loop) or `--concurrency N` (closed loop)",
            )
            .hint("e.g. `ratecheck load URL --rate 20 --duration 30s`"));
        }
    };
    if !(0.0..=1.0).contains(&args.stream_fraction) {
        return Err(CliError::usage(
            "`--stream-fraction` is a share from 0 to 1",
        ));
    }
    let mut endpoints = Vec::new();
    for item in args.endpoints.iter().filter(|s| !s.trim().is_empty()) {
        endpoints.push(item.parse::<Endpoint>().map_err(CliError::usage)?);
    }
    let mix = super::mix(&endpoints, args.stream_fraction);
    if mix.is_empty() {
        return Err(CliError::usage("`--endpoints` is empty"));
    }
    let backoff = Backoff {
        policy: args.backoff,
        base: config::parse_duration("--backoff-base", &args.backoff_base)?,
        cap: config::parse_duration("--backoff-cap", &args.backoff_cap)?,
        max_hint: config::parse_duration("--max-wait", &args.max_wait)?,
        max_retries: args.max_retries,
    };
    if !(0.0..=10.0).contains(&args.retry_budget) {
        return Err(CliError::usage("`--retry-budget` is a share such as 0.2"));
    }
    let conditions = args
        .fail_if
        .iter()
        .map(|e| threshold::parse(e).map_err(|err| CliError::usage(format!("`--fail-if`: {err}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let model = args.model.clone().unwrap_or_default();
    let opts = LoadOptions {
        arrival,
        max_in_flight: args
            .concurrency
            .filter(|_| args.rate.is_some())
            .unwrap_or(256),
        duration,
        requests: args.requests,
        mix,
        embedding_model: args
            .embedding_model
            .clone()
            .unwrap_or_else(|| model.clone()),
        model,
        max_tokens: args.max_tokens,
        prompt_chars: args.prompt_chars,
        backoff,
        budget_percent: args.retry_budget,
        budget_floor: 10,
        pace: args.pace,
        seed: args.seed,
    };
    Ok((opts, conditions))
}

/// The exit a finished load report maps to.
pub fn exit_for(report: &LoadReport) -> Exit {
    let mut e = Exit::Ok;
    if report.requests.succeeded == 0 {
        let worst = [
            (ErrorClass::Connect, Exit::Unreachable),
            (ErrorClass::Auth, Exit::Unreachable),
            (ErrorClass::Timeout, Exit::Timeout),
            (ErrorClass::CutStream, Exit::Protocol),
            (ErrorClass::BadBody, Exit::Protocol),
        ];
        for (class, exit) in worst {
            if report.errors.contains_key(&class) {
                e = e.worst(exit);
            }
        }
    }
    if !report.findings.is_empty() || report.thresholds.iter().any(|t| t.failed) {
        e = e.worst(Exit::Findings);
    }
    e
}

/// `ratecheck load`.
pub async fn load_command(
    args: &LoadArgs,
    color: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Exit, CliError> {
    let client = config::client(&args.url, &args.connect)?;
    let (mut opts, conditions) = options(args)?;
    if opts.model.is_empty() {
        let models = client.list_models().await.map_err(|e| match e {
            ModelsError::Failure(f) => CliError {
                exit: crate::exit::for_failure(f.kind),
                hint: Some(crate::probe::hint_for(f.kind, &client.display_base())),
                message: f.message,
            },
            ModelsError::Status(s) => CliError::usage(format!(
                "`GET /v1/models` answered {s}, so no model could be picked"
            ))
            .hint("pass `--model NAME`"),
        })?;
        opts.model = models.into_iter().next().ok_or_else(|| {
            CliError::usage("`GET /v1/models` listed no models").hint("pass `--model NAME`")
        })?;
        if args.embedding_model.is_none() {
            opts.embedding_model = opts.model.clone();
        }
    }
    let bar = crate::spinner("{spinner} {elapsed} {msg}");
    let target = client.display_base();
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let transport = super::Target::for_load(client.lean(), &opts.arrival);
    let mut report = run(transport, opts, target, stop, &mut |p| {
        bar.set_message(format!(
            "{} sent, {:.1}/s, {} in flight, {} × 429, p99 {:.0} ms",
            p.sent, p.rate, p.in_flight, p.throttled, p.p99_ms
        ));
    })
    .await;
    bar.finish_and_clear();
    report.thresholds = threshold::evaluate(&report, &conditions);
    let exit = exit_for(&report);
    report.outcome = crate::probe::Outcome {
        exit_code: exit.code(),
        status: exit.name(),
    };
    let text = match args.format {
        Format::Table => reporter::human(&report, color),
        Format::Json => reporter::json(&report),
        Format::Markdown => reporter::markdown(&report),
    };
    out.write_all(text.as_bytes())
        .map_err(|e| CliError::usage(format!("could not write the output: {e}")))?;
    if let Some(path) = &args.output {
        let text = match args.format {
            Format::Table => reporter::human(&report, false),
            Format::Json => reporter::json(&report),
            Format::Markdown => reporter::markdown(&report),
        };
        std::fs::write(path, text)
            .map_err(|e| CliError::usage(format!("could not write `{}`: {e}", path.display())))?;
    }
    if let Some(path) = &args.report_html {
        std::fs::write(path, crate::report::html::render(&report))
            .map_err(|e| CliError::usage(format!("could not write `{}`: {e}", path.display())))?;
    }
    if report.interrupted {
        let _ = writeln!(
            err,
            "ratecheck: interrupted: the report covers what was sent until then"
        );
    }
    Ok(exit)
}
