//! `ratecheck exporter`: the probe and the fleet check on demand, for Prometheus, the way the
//! blackbox exporter checks an endpoint from outside.
//!
//! Prometheus scrapes `/probe?target=URL&module=NAME`; the module says what to check (a
//! probe's selection, or a fleet's instances) and with which key, and the answer is the
//! check's report as gauges ([`metrics`]). The engines are the commands' own: [`crate::probe`]
//! and [`crate::fleet`], called with resolved values. A key is only ever sent to a target the
//! configuration or `--target` named (a fleet module's instances and load balancer are named
//! by the module itself); any other target is refused before anything is sent. [`server`]
//! holds the HTTP side: deadlines from Prometheus's scrape timeout, concurrent scrapes of one
//! target and module joined into one check, a bound on checks in flight, and the exporter's
//! own counters.

pub mod file;
pub mod metrics;
pub mod server;

use std::time::{Duration, Instant};

use crate::fleet::{FleetOptions, Rules, Watch};
use crate::http::{Client, ConnectSpec, normalize_base};
use crate::probe::ProbeOptions;
use crate::verdict::Exit;

pub use server::{Exporter, Limits};

/// One module: what a scrape that names it checks, and how it connects.
#[derive(Debug, Clone)]
pub struct Module {
    /// The name a scrape gives as `module=`.
    pub name: String,
    /// The connection: key, headers, timeouts, TLS, declared rate-limit headers.
    pub connect: ConnectSpec,
    /// The check.
    pub check: Check,
}

/// What a module checks.
#[derive(Debug, Clone)]
pub enum Check {
    /// The probe's endpoint × shape matrix on the scrape's target.
    Probe(ProbeOptions),
    /// The fleet check over the module's instances.
    Fleet(FleetModule),
}

/// A fleet module: `ratecheck fleet`'s options, its instances named by the configuration.
#[derive(Debug, Clone)]
pub struct FleetModule {
    /// Every instance's own base URL, normalised.
    pub instances: Vec<reqwest::Url>,
    /// The load balancer, taking its turn with them.
    pub via: Option<reqwest::Url>,
    /// The model; `None` asks the first instance.
    pub model: Option<String>,
    /// The most requests one check sends.
    pub max_requests: u32,
    /// How the answers are judged.
    pub rules: Rules,
    /// A watch instead of spending the window.
    pub watch: Option<Watch>,
}

impl Module {
    /// Whether a scrape may send this module's key to `target`: a probe module to the
    /// targets the exporter was given, a fleet module to its own instances and load balancer.
    pub fn allows(&self, target: &reqwest::Url, targets: &[reqwest::Url]) -> bool {
        match &self.check {
            Check::Probe(_) => targets.contains(target),
            Check::Fleet(f) => f.instances.contains(target) || f.via.as_ref() == Some(target),
        }
    }
}

/// A target as a scrape gives it, normalised as the commands normalise a base URL.
pub fn target(text: &str) -> Result<reqwest::Url, String> {
    normalize_base(text)
}

/// The outcome of one check: its answer, and a line for the log when it could not run.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The exposition text.
    pub body: String,
    /// Whether the check ran to its verdict.
    pub success: bool,
    /// Why it did not, redacted, for the exporter's log.
    pub failure: Option<String>,
}

/// Runs `module`'s check on `target` within `deadline`, and renders the answer.
pub async fn check(module: &Module, target: &reqwest::Url, deadline: Duration) -> Checked {
    let start = Instant::now();
    // Whatever goes wrong is said without the module's secrets or the target's credentials.
    let redactor = crate::redact::Redactor::for_target(
        target,
        module.connect.api_key.as_deref(),
        &module.connect.extra_headers,
        &module.connect.secret_headers,
    );
    let ran = tokio::time::timeout(deadline, run(module, target)).await;
    let took = start.elapsed();
    let (probed, failure) = match &ran {
        Ok(Ok(Ran::Probe(r))) => (
            metrics::Probed::Probe(r),
            r.aborted.as_ref().map(|a| a.failure.message.clone()),
        ),
        Ok(Ok(Ran::Fleet(r))) => (
            metrics::Probed::Fleet(r),
            r.aborted.as_ref().map(|a| a.failure.message.clone()),
        ),
        Ok(Err((exit, why))) => (metrics::Probed::Failed(*exit), Some(why.clone())),
        Err(_) => (
            metrics::Probed::Failed(Exit::Timeout),
            Some(format!(
                "no verdict within the scrape's deadline of {:.1} s",
                deadline.as_secs_f64()
            )),
        ),
    };
    let series = metrics::series(probed, took);
    Checked {
        body: metrics::encode(series),
        success: metrics::succeeded(probed),
        failure: failure.map(|f| redactor.text(&f)),
    }
}

/// A finished check's report.
enum Ran {
    Probe(crate::probe::ProbeReport),
    Fleet(crate::fleet::FleetReport),
}

/// A client with the module's connection for `base`; failing means the TLS setup failed.
fn client(module: &Module, base: &reqwest::Url) -> Result<Client, (Exit, String)> {
    Client::new(base.clone(), module.connect.clone()).map_err(|e| {
        (
            Exit::Runtime,
            format!("could not set up the HTTP client: {e:#}"),
        )
    })
}

/// Runs the check; an error is a check that could not start, with its exit.
async fn run(module: &Module, target: &reqwest::Url) -> Result<Ran, (Exit, String)> {
    match &module.check {
        Check::Probe(opts) => {
            let client = client(module, target)?;
            Ok(Ran::Probe(
                crate::probe::probe(&client, opts, &mut |_| {}).await,
            ))
        }
        Check::Fleet(f) => {
            let clients = f
                .instances
                .iter()
                .map(|u| client(module, u))
                .collect::<Result<Vec<_>, _>>()?;
            let via = f.via.as_ref().map(|u| client(module, u)).transpose()?;
            let model = clients[0]
                .resolve_model(f.model.as_deref())
                .await
                .map_err(|a| (a.exit, a.failure.message))?;
            let opts = FleetOptions {
                model,
                max_requests: f.max_requests,
                rules: f.rules,
                watch: f.watch,
                stop: crate::stop::Stop::default(),
            };
            Ok(Ran::Fleet(
                crate::fleet::check(&clients, via.as_ref(), &opts, &mut |_| {}).await,
            ))
        }
    }
}
