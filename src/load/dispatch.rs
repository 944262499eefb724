//! The dispatcher: turns the arrival model into logical requests — closed-loop workers (on the
//! caller's runtime, or spread over one single-threaded runtime per core), or the open loop's
//! schedule of slots.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::options::{Arrival, MixEntry};
use super::record::{LATE, Record, SlotFate};
use super::shared::Shared;
use super::state::Phase;
use super::transport::Transport;
use super::worker::logical;
use crate::endpoint::{Endpoint, Mode, Variant};

/// Picks a variant from the mix with a uniform sample `u`.
fn pick(mix: &[MixEntry], u: f64) -> Variant {
    let total: f64 = mix.iter().map(|m| m.weight.max(0.0)).sum();
    let mut x = u * total;
    for m in mix {
        x -= m.weight.max(0.0);
        if x < 0.0 {
            return m.variant;
        }
    }
    mix.last().map_or(
        Variant {
            endpoint: Endpoint::Chat,
            mode: Mode::NonStreaming,
        },
        |m| m.variant,
    )
}

/// Turns the arrival model into sends; returns when dispatching is over and every request it
/// started has ended.
pub(super) async fn dispatch<T: Transport>(sh: Arc<Shared<T>>) {
    let deadline = sh.opts().duration.map(|d| sh.start() + d);
    let mut tasks = tokio::task::JoinSet::new();
    match sh.opts().arrival {
        Arrival::Closed { concurrency } => {
            let workers = concurrency.max(1);
            let threads = sh.threads().clamp(1, workers);
            if threads == 1 {
                for w in 0..workers {
                    tasks.spawn(closed_worker(sh.clone(), w, deadline));
                }
                // Closed-loop workers end on their own (deadline, request count, interrupt).
                while tasks.join_next().await.is_some() {}
            } else {
                on_threads(&sh, threads, workers, deadline).await;
            }
        }
        Arrival::Constant { rate } | Arrival::Poisson { rate } => {
            open_loop(&sh, &mut tasks, rate, deadline).await;
        }
    }
    sh.advance(Phase::Ending);
    while tasks.join_next().await.is_some() {}
}

/// The closed loop spread over `threads` OS threads, each running its share of the workers on
/// a single-threaded runtime of its own: a worker's lane, its connection and its task then
/// stay on one core, and a response wakes its worker without a hand-off between threads.
/// Returns when every worker has ended.
async fn on_threads<T: Transport>(
    sh: &Arc<Shared<T>>,
    threads: usize,
    workers: usize,
    deadline: Option<Instant>,
) {
    let mut done = Vec::with_capacity(threads);
    let mut here = tokio::task::JoinSet::new();
    for t in 0..threads {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let theirs = sh.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("ratecheck-load-{t}"))
            .spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async {
                    let relay = tokio::spawn(theirs.relay());
                    let mut mine = tokio::task::JoinSet::new();
                    for w in (t..workers).step_by(threads) {
                        mine.spawn(closed_worker(theirs.clone(), w, deadline));
                    }
                    while mine.join_next().await.is_some() {}
                    relay.abort();
                });
                let _ = tx.send(());
            });
        if spawned.is_ok() {
            done.push(rx);
        } else {
            // No thread to spare: this share runs on the caller's runtime instead.
            for w in (t..workers).step_by(threads) {
                here.spawn(closed_worker(sh.clone(), w, deadline));
            }
        }
    }
    for rx in done {
        // A thread that failed to start its runtime, or panicked, has ended too.
        let _ = rx.await;
    }
    while here.join_next().await.is_some() {}
}

/// One closed-loop worker: sends its next request when the previous one is done, until the
/// deadline, the request count or an interrupt.
async fn closed_worker<T: Transport>(sh: Arc<Shared<T>>, w: usize, deadline: Option<Instant>) {
    let seed = sh.opts().seed ^ ((w as u64 + 1) << 32);
    let mut rng = fastrand::Rng::with_seed(seed);
    loop {
        let now = Instant::now();
        if sh.stopped() || deadline.is_some_and(|d| now >= d) {
            return;
        }
        if !sh.wait_turn().await || !sh.take() {
            return;
        }
        let variant = pick(&sh.opts().mix, rng.f64());
        logical(sh.clone(), Instant::now(), variant, rng.u64(..), w).await;
    }
}

/// The open loop: one slot per intended send time, sent on schedule whatever the responses
/// do; a slot held by a pause or by pacing, or beyond the in-flight cap, is counted, not sent.
async fn open_loop<T: Transport>(
    sh: &Arc<Shared<T>>,
    tasks: &mut tokio::task::JoinSet<()>,
    rate: f64,
    deadline: Option<Instant>,
) {
    let opts = sh.opts();
    let poisson = matches!(opts.arrival, Arrival::Poisson { .. });
    let rate = rate.max(1e-6);
    let mut rng = fastrand::Rng::with_seed(opts.seed);
    let cap = Arc::new(Semaphore::new(opts.max_in_flight.max(1)));
    // A shard of an evenly spaced test sends its stripe of the whole schedule.
    let first = opts.first_send.as_secs_f64();
    let mut offset = first;
    let mut slot: u64 = 0;
    loop {
        let intended = sh.start() + Duration::from_secs_f64(offset);
        if deadline.is_some_and(|d| intended >= d) {
            break;
        }
        if Instant::now() < intended && !sh.sleep_until(intended).await {
            break;
        }
        if sh.stopped() {
            break;
        }
        slot += 1;
        offset = if poisson {
            offset + -(1.0 - rng.f64()).ln() / rate
        } else {
            first + slot as f64 / rate
        };
        let now = Instant::now();
        if let Some(hold) = sh.hold(now) {
            sh.send_record(Record::Slot(hold.fate));
            continue;
        }
        let Ok(permit) = cap.clone().try_acquire_owned() else {
            sh.send_record(Record::Slot(SlotFate::DroppedAtCap));
            continue;
        };
        if !sh.take() {
            break;
        }
        if now - intended > LATE {
            sh.send_record(Record::Slot(SlotFate::Late));
        }
        let variant = pick(&opts.mix, rng.f64());
        let seed = rng.u64(..);
        let sh2 = sh.clone();
        let lane = usize::try_from(slot).unwrap_or(usize::MAX);
        tasks.spawn(async move {
            logical(sh2, intended, variant, seed, lane).await;
            drop(permit);
        });
        // Reap finished tasks so the set stays as small as the in-flight count.
        while tasks.try_join_next().is_some() {}
    }
}
