//! `ratecheck load`: load that backs off the way a good client does, measured honestly.
//!
//! One dispatcher turns the arrival model into intended send times; one worker function runs
//! every logical request (send, classify, back off, retry) with the backoff policy given as data;
//! one collector turns attempt records into histograms and tallies. Latency is measured from the
//! *intended* send time, so neither a slow target nor our own backoff pauses hide time (no
//! coordinated omission); slots held back by a pause or by pacing are counted, not hidden.
//!
//! [`run`] ties the parts together, in the order a request meets them: `options` (what to do),
//! `dispatch` (when: the schedule), `worker` (the one loop a request runs), `shared` (what
//! every request shares: lanes, pause, pacing, budget, the run's `state`), `record` (what an
//! attempt leaves), `collect` (the fold of records into a [`Raw`] result) and `raw` (the fold
//! of shards, and the one place the report is made). The target is a [`Transport`], so tests
//! can drive the engine with an in-memory target and tokio's paused clock; the real one is
//! [`Target`].

pub mod backoff;
mod collect;
mod dispatch;
pub mod merge;
mod options;
mod pace;
pub mod raw;
mod record;
pub(crate) mod report;
pub mod segment;
mod shared;
pub mod spec;
mod state;
pub mod stats;
#[cfg(test)]
mod tests;
pub mod threshold;
mod transport;
mod truth;
mod worker;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use tokio::time::Instant;

pub use collect::Progress;
use dispatch::dispatch;
pub use options::{Arrival, LoadOptions, MixEntry, mix};
pub use pace::Pace;
pub use raw::Raw;
pub use record::LATE;
#[cfg(test)]
pub(crate) use record::Record;
use record::{Sink, TICK};
pub use report::{
    First429, Latencies, LoadReport, Requests, SCHEMA_VERSION, Schedule, Settings, ShapeReport,
    Truth,
};
pub use segment::Segment;
use shared::Shared;
pub use spec::{LoadSpec, SpecError};
use state::{Phase, RunState};
pub use threshold::Threshold;
pub use transport::{Target, Transport};

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
            state.advance(Phase::Interrupted);
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
            state.advance(Phase::CutOff);
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
    let interrupted = state.get() == Phase::Interrupted;
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
