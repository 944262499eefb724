//! `ratecheck exporter`: the configuration read and resolved into modules (keys found, URLs
//! checked) before the port is bound, then the exporter served until Ctrl-C or SIGTERM.

use std::path::Path;

use super::Ended;
use super::run::{auth_key, connect_defaults};
use crate::cli::{ConnectArgs, ExporterArgs};
use crate::config::{self, CliError, ConnectDefaults, KeySource};
use crate::endpoint::Endpoint;
use crate::exporter::file::{self, ModuleSpec};
use crate::exporter::{Check, Exporter, FleetModule, Limits, Module};
use crate::fleet::Watch;
use crate::probe::ProbeOptions;
use crate::scenario::vars::Vars;
use crate::settings;
use crate::verdict::Exit;

/// Runs `ratecheck exporter`.
pub async fn run(args: &ExporterArgs) -> Result<Ended, CliError> {
    let listen = super::listen_addr(
        &args.listen,
        args.allow_remote,
        "make it send its keys to the targets it knows",
    )?;
    let (modules, mut targets) = match &args.config {
        Some(path) => from_file(path)?,
        None => (vec![builtin()?], Vec::new()),
    };
    for t in &args.targets {
        let url = crate::exporter::target(t)
            .map_err(|why| CliError::usage(format!("`--target`: {why}")))?;
        if !targets.contains(&url) {
            targets.push(url);
        }
    }
    let probes = modules.iter().any(|m| matches!(m.check, Check::Probe(_)));
    if probes && targets.is_empty() {
        return Err(CliError::usage(
            "no target a probe module may send its key to",
        )
        .hint("pass `--target URL` (repeatable), or list them under `targets:` in the configuration"));
    }
    let names: Vec<String> = modules.iter().map(|m| m.name.clone()).collect();
    let exporter = Exporter::start(listen, modules, targets.clone(), Limits::default())
        .await
        .map_err(|e| {
            CliError::runtime(format!("cannot listen on {listen}: {e}"))
                .hint("pick another port with `--listen 127.0.0.1:PORT` (0 picks a free one)")
        })?;
    let redactor = crate::redact::Redactor::default();
    let shown: Vec<String> = targets.iter().map(|t| redactor.url(t)).collect();
    say(&format!(
        "listening on http://{} ({}); modules: {}; probe targets: {}\n  scrape http://{}/probe?target=URL&module=NAME; stop with Ctrl-C",
        exporter.addr,
        if exporter.addr.ip().is_loopback() {
            "loopback only"
        } else {
            "reachable from other machines (--allow-remote)"
        },
        names.join(", "),
        if shown.is_empty() {
            "none".into()
        } else {
            shown.join(", ")
        },
        exporter.addr
    ));
    stopped().await;
    exporter.stop().await;
    say("stopped");
    Ok(Ended::with(Exit::Ok))
}

/// One line on standard error.
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "ratecheck exporter: {line}");
}

/// Resolves at Ctrl-C, or at SIGTERM (how a service manager or Kubernetes stops it).
async fn stopped() {
    let ctrl_c = crate::stop::Stop::on_ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                () = ctrl_c.fired() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    ctrl_c.fired().await;
}

/// The module without a configuration: the probe's defaults, the key from the usual variables.
fn builtin() -> Result<Module, CliError> {
    Ok(Module {
        name: "probe".into(),
        connect: config::connect(
            &ConnectArgs::default(),
            &KeySource::Default,
            &ConnectDefaults::default(),
        )?,
        check: Check::Probe(ProbeOptions::default()),
    })
}

/// The configuration's modules and targets, each resolved, or the first error located.
fn from_file(path: &Path) -> Result<(Vec<Module>, Vec<reqwest::Url>), CliError> {
    let loaded = file::read(path).map_err(|e| {
        let mut err = CliError::usage("the exporter's configuration cannot be used")
            .hint("fix the error above, then start the exporter again");
        err.preceding = vec![match e.excerpt() {
            Some(x) => format!("{e}\n{x}"),
            None => e.to_string(),
        }];
        err
    })?;
    let targets = loaded
        .spec
        .targets
        .iter()
        .filter_map(|t| crate::exporter::target(&t.value).ok())
        .collect();
    let modules = loaded
        .spec
        .modules
        .value
        .iter()
        .map(|(name, m)| module(&loaded.file, name, &m.value))
        .collect::<Result<_, _>>()?;
    Ok((modules, targets))
}

/// One module resolved: its key found, its connection and check as the commands take them.
fn module(file: &str, name: &str, m: &ModuleSpec) -> Result<Module, CliError> {
    let vars = Vars::default();
    let in_module = |e: CliError| CliError {
        message: format!("module `{name}`: {}", e.message),
        ..e
    };
    let expand = |text: &str| {
        vars.expand(text)
            .map_err(|why| in_module(CliError::usage(why)).in_file(file))
    };
    let key = auth_key(&m.auth, &expand, file).map_err(in_module)?;
    let defaults = connect_defaults(&m.defaults, &expand)?;
    let connect = config::connect(&ConnectArgs::default(), &key, &defaults)
        .map_err(|e| in_module(e).in_file(file))?;
    let model = m.defaults.model.as_deref().map(expand).transpose()?;
    let check = match (&m.probe, &m.fleet) {
        (Some(p), _) => Check::Probe(ProbeOptions {
            endpoints: p
                .endpoints
                .clone()
                .filter(|e| !e.is_empty())
                .unwrap_or_else(|| Endpoint::ALL.to_vec()),
            model,
            embedding_model: m
                .defaults
                .embedding_model
                .as_deref()
                .map(expand)
                .transpose()?,
            repeat: p.repeat.as_ref().map_or(1, |r| r.value),
            counters: m.defaults.counters.unwrap_or_default(),
            strict: false,
            stop: crate::stop::Stop::default(),
        }),
        (None, Some(f)) => {
            let url = |u: &str| {
                crate::exporter::target(u)
                    .map_err(|why| in_module(CliError::usage(why)).in_file(file))
            };
            Check::Fleet(FleetModule {
                instances: f
                    .instances
                    .value
                    .iter()
                    .map(|u| url(u))
                    .collect::<Result<_, _>>()?,
                via: f.via.as_deref().map(url).transpose()?,
                model,
                max_requests: f
                    .max_requests
                    .as_ref()
                    .map_or_else(|| settings::FLEET_MAX_REQUESTS.default_int(), |m| m.value),
                rules: crate::run::fleet_rules(
                    f.window.as_ref().map(|d| d.value.0),
                    f.tolerance.map(|d| d.0),
                ),
                watch: f.watch.as_ref().map(|d| Watch {
                    duration: d.value.0,
                    every: f.every.as_ref().map(|e| e.value.0),
                }),
            })
        }
        (None, None) => {
            return Err(in_module(CliError::usage(
                "say one check: `probe: {...}` or `fleet: {...}`",
            ))
            .in_file(file));
        }
    };
    Ok(Module {
        name: name.to_string(),
        connect,
        check,
    })
}
