//! The exporter's HTTP side: `/probe` for Prometheus, `/metrics` for the exporter's own
//! counters, `/` for a person.
//!
//! A scrape names its module and target; both are checked before anything is sent (an
//! unknown module or a target the module may not send its key to is a 4xx, and no connection
//! is opened). The check's deadline is Prometheus's scrape timeout
//! (`X-Prometheus-Scrape-Timeout-Seconds`) less a margin for the answer to travel back, or
//! [`Limits::default_timeout`] when the header is missing, never more than
//! [`Limits::max_timeout`]. Scrapes of one module and target that arrive while a check of
//! them runs wait for that check and share its answer: two Prometheus replicas cost the
//! gateway one check. At most [`Limits::max_in_flight`] checks run at once; a scrape beyond
//! that is answered 503 at once rather than queued past its own deadline.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::Deserialize;
use tokio::sync::{Semaphore, oneshot};

use super::metrics::{CONTENT_TYPE, Probed};
use super::{Checked, Module};
use crate::redact::Redactor;
use crate::verdict::Exit;

/// Prometheus's header with the scrape's timeout, in seconds.
pub const SCRAPE_TIMEOUT_HEADER: &str = "x-prometheus-scrape-timeout-seconds";

/// How long checks may take, and how many run at once.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Checks running at once, all modules and targets together.
    pub max_in_flight: usize,
    /// The deadline when the scrape does not say its timeout.
    pub default_timeout: Duration,
    /// The longest deadline, whatever the scrape says.
    pub max_timeout: Duration,
    /// Taken off the scrape's timeout, so the answer reaches Prometheus before it gives up.
    pub margin: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_in_flight: 8,
            default_timeout: Duration::from_secs(10),
            max_timeout: Duration::from_mins(5),
            margin: Duration::from_millis(500),
        }
    }
}

impl Limits {
    /// The deadline of a check for a scrape with these headers.
    fn deadline(&self, headers: &HeaderMap) -> Duration {
        let asked = headers
            .get(SCRAPE_TIMEOUT_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
            .map(|s| Duration::from_secs_f64(s.min(self.max_timeout.as_secs_f64())));
        match asked {
            // Never less than a tenth of what was asked: a very short timeout still leaves
            // the check a moment.
            Some(t) => t.saturating_sub(self.margin).max(t / 10),
            None => self.default_timeout,
        }
    }
}

/// The exporter's own counters, at `/metrics`.
struct Own {
    registry: Registry,
    scrapes: Family<Vec<(String, String)>, Counter>,
    checks: Family<Vec<(String, String)>, Counter>,
    failures: Family<Vec<(String, String)>, Counter>,
    refused: Family<Vec<(String, String)>, Counter>,
    in_flight: Gauge,
}

/// Why a scrape was refused, as `ratecheck_exporter_refused_total{reason}` counts it.
const REASONS: [&str; 4] = [
    "bad_request",
    "unknown_module",
    "target_not_allowed",
    "busy",
];

impl Own {
    fn new(modules: &BTreeMap<String, Arc<Module>>) -> Self {
        let mut registry = Registry::default();
        let scrapes = Family::<Vec<(String, String)>, Counter>::default();
        let checks = Family::<Vec<(String, String)>, Counter>::default();
        let failures = Family::<Vec<(String, String)>, Counter>::default();
        let refused = Family::<Vec<(String, String)>, Counter>::default();
        let in_flight = Gauge::default();
        // Every series exists from the start, so a rate over it has a beginning.
        for name in modules.keys() {
            let l = vec![("module".to_string(), name.clone())];
            scrapes.get_or_create(&l).inc_by(0);
            checks.get_or_create(&l).inc_by(0);
            failures.get_or_create(&l).inc_by(0);
        }
        for reason in REASONS {
            refused
                .get_or_create(&vec![("reason".to_string(), reason.to_string())])
                .inc_by(0);
        }
        registry.register(
            "ratecheck_exporter_scrapes",
            "Scrapes of /probe answered, by module",
            scrapes.clone(),
        );
        registry.register(
            "ratecheck_exporter_checks",
            "Checks run, by module: scrapes that joined a check in flight are not counted again",
            checks.clone(),
        );
        registry.register(
            "ratecheck_exporter_check_failures",
            "Checks that could not reach a verdict, by module",
            failures.clone(),
        );
        registry.register(
            "ratecheck_exporter_refused",
            "Scrapes of /probe refused before anything was sent, by reason",
            refused.clone(),
        );
        registry.register(
            "ratecheck_exporter_checks_in_flight",
            "Checks running now",
            in_flight.clone(),
        );
        Own {
            registry,
            scrapes,
            checks,
            failures,
            refused,
            in_flight,
        }
    }

    fn refuse(&self, reason: &'static str, status: StatusCode, message: &str) -> Response {
        self.refused
            .get_or_create(&vec![("reason".to_string(), reason.to_string())])
            .inc();
        (status, format!("{message}\n")).into_response()
    }
}

type Pending = Shared<BoxFuture<'static, Arc<Checked>>>;

/// What every request shares.
struct Exp {
    modules: BTreeMap<String, Arc<Module>>,
    targets: Vec<reqwest::Url>,
    limits: Limits,
    in_flight: Mutex<HashMap<(String, reqwest::Url), Pending>>,
    permits: Arc<Semaphore>,
    own: Own,
}

/// A running exporter.
pub struct Exporter {
    /// Where it listens.
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Exporter {
    /// Binds `listen` and serves `modules`, sending keys only to `targets` (and to each fleet
    /// module's own instances).
    pub async fn start(
        listen: SocketAddr,
        modules: Vec<Module>,
        targets: Vec<reqwest::Url>,
        limits: Limits,
    ) -> std::io::Result<Self> {
        let modules: BTreeMap<String, Arc<Module>> = modules
            .into_iter()
            .map(|m| (m.name.clone(), Arc::new(m)))
            .collect();
        let own = Own::new(&modules);
        let state = Arc::new(Exp {
            modules,
            targets,
            limits,
            in_flight: Mutex::new(HashMap::new()),
            permits: Arc::new(Semaphore::new(limits.max_in_flight.max(1))),
            own,
        });
        let app = Router::new()
            .route("/", get(index))
            .route("/probe", get(probe))
            .route("/metrics", get(own_metrics))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let (tx, task) = crate::stop::serve(listener, app);
        Ok(Exporter {
            addr,
            shutdown: Some(tx),
            task,
        })
    }

    /// Stops listening and waits for the answers under way.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = self.task.await;
    }
}

/// `/probe`'s parameters.
#[derive(Debug, Deserialize)]
struct ProbeQuery {
    target: Option<String>,
    module: Option<String>,
}

/// A name the scraper sent, fit to be said back: escaped and cut short.
fn said_back(text: &str) -> String {
    let shown: String = text.chars().take(64).collect();
    crate::redact::escape_controls(&shown)
}

async fn probe(
    State(s): State<Arc<Exp>>,
    Query(query): Query<ProbeQuery>,
    headers: HeaderMap,
) -> Response {
    let (target, module) = match query {
        ProbeQuery {
            target: Some(t),
            module,
        } => (t, module.unwrap_or_else(|| "probe".into())),
        ProbeQuery { target: None, .. } => {
            return s.own.refuse(
                "bad_request",
                StatusCode::BAD_REQUEST,
                "`/probe` needs `?target=URL` (and `&module=NAME`, `probe` by default)",
            );
        }
    };
    let Some(module) = s.modules.get(&module).cloned() else {
        let known: Vec<&str> = s.modules.keys().map(String::as_str).collect();
        return s.own.refuse(
            "unknown_module",
            StatusCode::BAD_REQUEST,
            &format!(
                "unknown module `{}`: this exporter has {}",
                said_back(&module),
                known.join(", ")
            ),
        );
    };
    let target = match super::target(&target) {
        Ok(t) => t,
        Err(why) => {
            return s.own.refuse(
                "bad_request",
                StatusCode::BAD_REQUEST,
                &Redactor::default().text(&why),
            );
        }
    };
    if !module.allows(&target, &s.targets) {
        return s.own.refuse(
            "target_not_allowed",
            StatusCode::FORBIDDEN,
            &format!(
                "module `{}` does not send its key to {}: nothing was sent",
                module.name,
                Redactor::default().url(&target)
            ),
        );
    }
    let deadline = s.limits.deadline(&headers);
    let Some(pending) = join_or_start(&s, &module, &target, deadline) else {
        return s.own.refuse(
            "busy",
            StatusCode::SERVICE_UNAVAILABLE,
            &format!(
                "{} checks are running, the most this exporter runs at once: nothing was sent",
                s.limits.max_in_flight
            ),
        );
    };
    let labels = vec![("module".to_string(), module.name.clone())];
    s.own.scrapes.get_or_create(&labels).inc();
    // A scrape that joined a check started for a longer deadline still answers in its own.
    let checked = match tokio::time::timeout(deadline + s.limits.margin / 2, pending).await {
        Ok(c) => c,
        Err(_) => Arc::new(Checked {
            body: super::metrics::encode(super::metrics::series(
                Probed::Failed(Exit::Timeout),
                deadline,
            )),
            success: false,
            failure: None,
        }),
    };
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], checked.body.clone()).into_response()
}

/// The check of `module` on `target` in flight, joined; or a new one, when a slot is free.
fn join_or_start(
    s: &Arc<Exp>,
    module: &Arc<Module>,
    target: &reqwest::Url,
    deadline: Duration,
) -> Option<Pending> {
    let key = (module.name.clone(), target.clone());
    let mut in_flight = s.in_flight.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(p) = in_flight.get(&key) {
        return Some(p.clone());
    }
    let permit = s.permits.clone().try_acquire_owned().ok()?;
    let (state, module, target, k) = (s.clone(), module.clone(), target.clone(), key.clone());
    // Its own task: the check ends and leaves the table even if every scrape waiting for it
    // has gone.
    let task = tokio::spawn(async move {
        let labels = vec![("module".to_string(), module.name.clone())];
        state.own.checks.get_or_create(&labels).inc();
        state.own.in_flight.inc();
        let checked = super::check(&module, &target, deadline).await;
        state.own.in_flight.dec();
        if let Some(why) = &checked.failure {
            state.own.failures.get_or_create(&labels).inc();
            log(&format!(
                "module `{}` on {}: {why}",
                module.name,
                Redactor::default().url(&target)
            ));
        }
        state
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&k);
        drop(permit);
        Arc::new(checked)
    });
    let pending = async move {
        task.await.unwrap_or_else(|_| {
            Arc::new(Checked {
                body: super::metrics::encode(super::metrics::series(
                    Probed::Failed(Exit::Runtime),
                    Duration::ZERO,
                )),
                success: false,
                failure: Some("the check stopped unexpectedly".into()),
            })
        })
    }
    .boxed()
    .shared();
    in_flight.insert(key, pending.clone());
    Some(pending)
}

/// One line on the exporter's standard error.
fn log(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "ratecheck exporter: {line}");
}

async fn own_metrics(State(s): State<Arc<Exp>>) -> Response {
    let mut text = String::new();
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &s.own.registry);
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response()
}

async fn index(State(s): State<Arc<Exp>>) -> String {
    let mut text = String::from(
        "ratecheck exporter\n\n/probe?target=URL&module=NAME  one check, in the Prometheus text format\n/metrics                       the exporter's own counters\n\nmodules:\n",
    );
    for m in s.modules.values() {
        let what = match &m.check {
            super::Check::Probe(_) => "probe".to_string(),
            super::Check::Fleet(f) => format!("fleet of {} instances", f.instances.len()),
        };
        text.push_str(&format!("  {}: {what}\n", m.name));
    }
    text
}
