//! `ratecheck load`: load that backs off the way a good client does, measured honestly.
//!
//! One dispatcher turns the arrival model into intended send times; one worker function runs
//! every logical request (send, classify, back off, retry) with the backoff policy given as data;
//! one collector turns attempt records into histograms and tallies. Latency is measured from the
//! *intended* send time, so neither a slow target nor our own backoff pauses hide time (no
//! coordinated omission); slots held back by a pause or by pacing are counted, not hidden.
//!
//! This module holds the options, the transports and [`run`], which ties the parts together;
//! `worker` holds the dispatcher, the worker loop and their shared state, `collect` the
//! collector. The target is a [`Transport`], so tests can drive the engine with an in-memory
//! target and tokio's paused clock; the real one is [`Target`].

pub mod backoff;
mod collect;
mod dispatch;
mod pace;
pub mod raw;
mod record;
pub(crate) mod report;
pub mod segment;
pub mod spec;
pub mod stats;
#[cfg(test)]
mod tests;
pub mod threshold;
mod truth;
mod worker;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::endpoint::{Endpoint, Mode, Variant};
use crate::http::{Client, Exchange, Lane, Request};
use backoff::Backoff;
pub use collect::Progress;
use dispatch::dispatch;
pub use pace::Pace;
pub use raw::Raw;
pub use record::LATE;
pub(crate) use record::{Record, SlotFate};
use record::{Sink, TICK};
pub use report::{
    First429, Latencies, LoadReport, Requests, SCHEMA_VERSION, Schedule, Settings, ShapeReport,
    Truth,
};
pub use segment::Segment;
pub use spec::{LoadSpec, SpecError};
pub use threshold::Threshold;
use worker::{CUT_OFF, INTERRUPTED, RunState, Shared};

/// Where requests go. The engine only needs one request turned into one exchange.
pub trait Transport: Send + Sync + Sized + 'static {
    /// Sends `req` and reads the response to its end.
    fn deliver(&self, req: Request) -> impl Future<Output = Exchange> + Send;

    /// Another handle on the same target for another lane of workers; by default the same one.
    #[must_use]
    fn lane(&self) -> Self;

    /// OS threads the closed loop's workers are spread over, each thread with a runtime of its
    /// own (see [`worker::dispatch`]); 1 runs them on the caller's runtime.
    fn threads(&self) -> usize {
        1
    }
}

impl Transport for Client {
    async fn deliver(&self, req: Request) -> Exchange {
        self.send(&req).await
    }

    fn lane(&self) -> Self {
        self.clone()
    }
}

/// The real target as the load engine uses it: on `http://`, requests go out on lanes (one
/// connection each, driven directly: [`Lane`]) — closed-loop workers each drive their own,
/// like a client per user, and the open loop takes whichever is idle; everything else shares
/// the pooled client.
#[derive(Debug)]
pub enum Target {
    /// The general client and its connection pool.
    Pool(Box<Client>),
    /// One connection, driven directly.
    Lane(Lane),
}

impl Target {
    /// The transport for a load run against `client`'s target.
    pub fn for_load(client: Client) -> Self {
        Lane::new(&client).map_or_else(|| Target::Pool(Box::new(client)), Target::Lane)
    }
}

impl Transport for Target {
    async fn deliver(&self, req: Request) -> Exchange {
        match self {
            Target::Pool(c) => c.send(&req).await,
            Target::Lane(l) => l.send(&req).await,
        }
    }

    fn lane(&self) -> Self {
        match self {
            Target::Pool(c) => Target::Pool(c.clone()),
            Target::Lane(l) => Target::Lane(l.sibling()),
        }
    }

    fn threads(&self) -> usize {
        match self {
            // The pooled client's connections belong to the runtime that made them.
            Target::Pool(_) => 1,
            Target::Lane(_) => std::thread::available_parallelism().map_or(1, usize::from),
        }
    }
}

/// When requests are sent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum Arrival {
    /// Open loop: evenly spaced at `rate` per second, whatever the responses do.
    Constant {
        /// Requests per second.
        rate: f64,
    },
    /// Open loop: exponential gaps averaging `rate` per second (bursty, like real users).
    Poisson {
        /// Requests per second, on average.
        rate: f64,
    },
    /// Closed loop: `concurrency` workers, each sending when its previous request is done.
    Closed {
        /// Workers.
        concurrency: usize,
    },
}

/// One entry of the request mix.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MixEntry {
    /// Endpoint and shape.
    pub variant: Variant,
    /// Relative weight.
    pub weight: f64,
}

/// Everything a load run needs.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Arrival model.
    pub arrival: Arrival,
    /// Most logical requests in flight in the open loop; slots beyond it are dropped.
    pub max_in_flight: usize,
    /// Stop dispatching after this long.
    pub duration: Option<Duration>,
    /// After `duration`: how long requests in flight may finish before they are abandoned.
    pub grace: Duration,
    /// Stop dispatching after this many logical requests.
    pub requests: Option<u64>,
    /// What to send.
    pub mix: Vec<MixEntry>,
    /// Model for generation endpoints.
    pub model: String,
    /// Model for embeddings.
    pub embedding_model: String,
    /// `max_tokens` per request.
    pub max_tokens: u32,
    /// Prompt length in characters.
    pub prompt_chars: usize,
    /// Backoff and retries.
    pub backoff: Backoff,
    /// Retry budget: share of recent requests, and floor per ttl.
    pub budget_percent: f64,
    /// Retries always allowed per 10 s.
    pub budget_floor: u32,
    /// Proactive pacing from the headers.
    pub pace: Pace,
    /// Thresholds evaluated on the finished report; one that holds fails the run.
    pub fail_if: Vec<threshold::Condition>,
    /// Warnings fail the run too.
    pub strict: bool,
    /// Share of attempts that may fail (throttles aside) before the run fails.
    pub max_error_rate: f64,
    /// Seed for arrivals, the mix and jitter: the same seed gives the same schedule.
    pub seed: u64,
    /// The shard of a split test this run is, if it is one.
    pub segment: Option<Segment>,
    /// Open loop, evenly spaced: when the first request is sent after the start (a shard's
    /// stripe of the whole test's schedule); zero otherwise.
    pub first_send: Duration,
    /// For a shard: the whole test, as asked for before the split.
    pub whole: Option<segment::Whole>,
    /// The test this run is (a shard of), as its raw result names it.
    pub test_id: String,
}

/// The mix for `endpoints` in equal shares, `stream_fraction` of each streamed where it can be.
pub fn mix(endpoints: &[Endpoint], stream_fraction: f64) -> Vec<MixEntry> {
    let mut out = Vec::new();
    for &endpoint in endpoints {
        let f = if endpoint.streams() {
            stream_fraction.clamp(0.0, 1.0)
        } else {
            0.0
        };
        for (mode, weight) in [(Mode::NonStreaming, 1.0 - f), (Mode::Streaming, f)] {
            if weight > 0.0 {
                out.push(MixEntry {
                    variant: Variant { endpoint, mode },
                    weight,
                });
            }
        }
    }
    out
}

/// Runs the load until the duration or request count is reached, or `stop` completes (Ctrl-C).
/// `progress` is called about four times a second with the running numbers. The raw result
/// holds everything the report is made from ([`Raw::report`]), and how this run ended.
pub async fn run<T: Transport>(
    transport: T,
    opts: LoadOptions,
    target: String,
    stop: impl Future<Output = ()> + Send,
    progress: &mut dyn FnMut(&Progress),
) -> Raw {
    let sink = Arc::new(Sink::default());
    let state = Arc::new(RunState::new());
    let in_flight = Arc::new(AtomicUsize::new(0));
    let (sh, start) = Shared::new(
        transport,
        &opts,
        sink.clone(),
        state.clone(),
        in_flight.clone(),
    );
    let mut dispatcher = tokio::spawn(dispatch(sh.clone()));
    let watcher = {
        let state = state.clone();
        async move {
            stop.await;
            state.advance(INTERRUPTED);
        }
    };
    drop(sh);
    let mut collector = collect::Collector::new(&opts, target, in_flight);
    tokio::pin!(watcher);
    let mut watching = true;
    let mut next_progress = start;
    // A run with a duration ends within its grace: what is still in flight then is abandoned.
    let cut_off = opts.duration.map(|d| start + d + opts.grace);
    loop {
        tokio::select! {
            _ = &mut dispatcher => break,
            () = tokio::time::sleep(TICK) => {}
            () = &mut watcher, if watching => watching = false,
        }
        if cut_off.is_some_and(|c| Instant::now() >= c) {
            state.advance(CUT_OFF);
        }
        collector.add_all(sink.drain());
        let now = Instant::now();
        if now >= next_progress {
            next_progress = now + Duration::from_millis(250);
            progress(&collector.progress(now - start));
        }
    }
    // The dispatcher returns once every request it started has ended: nothing more comes.
    collector.add_all(sink.drain());
    let interrupted = state.get() == INTERRUPTED;
    let mut raw = collector.finish(start, interrupted);
    let outcome = raw.report().outcome;
    raw.seal(opts.segment, outcome);
    raw
}

/// A finished report from recorded attempts, without sending anything: reporter tests render
/// it. Under tokio's paused clock its times are exact.
#[cfg(test)]
pub(crate) fn report_from(opts: &LoadOptions, target: &str, records: Vec<Record>) -> LoadReport {
    raw_from(opts, target, records).report()
}

/// The sealed raw result of recorded attempts, as [`run`] returns it.
#[cfg(test)]
pub(crate) fn raw_from(opts: &LoadOptions, target: &str, records: Vec<Record>) -> Raw {
    let start = Instant::now();
    let mut collector = collect::Collector::new(opts, target.into(), Arc::new(AtomicUsize::new(0)));
    collector.add_all(records);
    let mut raw = collector.finish(start, false);
    let outcome = raw.report().outcome;
    raw.seal(opts.segment, outcome);
    raw
}
