//! The state every worker of a load run shares: the lanes (one connection each) and the
//! request bodies, the throttle pause and the header pacer that hold sends back, the retry
//! budget, the in-flight count and the run's phase. The dispatcher and the worker loop reach it
//! only through its methods.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::backoff::RetryBudget;
use super::options::{Arrival, LoadOptions};
use super::pace::{self, Pace};
use super::record::{Memo, Record, Sink, SlotFate};
use super::state::{Phase, RunState};
use super::transport::Transport;
use crate::endpoint::{Endpoint, Mode, Variant};
use crate::http::{Exchange, Request};

/// State every worker shares.
pub(super) struct Shared<T> {
    /// One transport per lane of workers (see [`Transport::lane`]).
    lanes: Vec<T>,
    /// The open loop's idle lanes, most recently used last: a request takes the lane used
    /// last, so only as many connections open as requests are ever in flight at once.
    idle: Mutex<Vec<usize>>,
    /// One per lane (see [`Memo`]); only the attempt on that lane takes it.
    memos: Vec<Mutex<Memo>>,
    opts: LoadOptions,
    /// Per lane, each variant's body: a copy of its own, so that taking one for a request
    /// touches no reference count another core is also touching.
    bodies: Vec<Vec<(Variant, bytes::Bytes)>>,
    start: Instant,
    /// Until when a throttle pause holds every worker, in nanoseconds after `start`; 0 when
    /// none was ever asked for (read on every request: no lock, and no clock when 0).
    paused_until: AtomicU64,
    budget: Mutex<RetryBudget>,
    pacer: Mutex<pace::Pacer>,
    in_flight: Arc<AtomicUsize>,
    started: AtomicU64,
    state: Arc<RunState>,
    sink: Arc<Sink>,
    /// Whether any attempt has succeeded.
    alive: AtomicBool,
    /// Attempts in a row, before any success, that failed the way that stops a probe.
    dead_streak: AtomicUsize,
    /// The streak that ends dispatching: one per lane, at least four.
    give_up_after: usize,
}

/// Why a send is held back, and until when.
#[derive(Debug, Clone, Copy)]
pub(super) struct Hold {
    /// A throttle pause or the header pacer.
    pub fate: SlotFate,
    /// When to look again.
    pub until: Instant,
}

impl<T: Transport> Shared<T> {
    /// The shared state of a run over `transport`, with the lanes built and bodies serialised;
    /// also the instant the run's clock starts (after that setup, which is not part of it).
    pub(super) fn new(
        transport: T,
        opts: &LoadOptions,
        sink: Arc<Sink>,
        state: Arc<RunState>,
        in_flight: Arc<AtomicUsize>,
    ) -> (Arc<Self>, Instant) {
        let bodies: Vec<(Variant, bytes::Bytes)> = opts
            .mix
            .iter()
            .map(|m| (m.variant, body_for(opts, m.variant)))
            .collect();
        // Closed-loop workers each get a lane, like a client per user; the open loop has one
        // for every request it may have in flight, each connected when first used.
        let (lane_count, idle) = match opts.arrival {
            Arrival::Closed { concurrency } => (concurrency.clamp(1, MAX_LANES), Vec::new()),
            Arrival::Constant { .. } | Arrival::Poisson { .. } => {
                let n = opts.max_in_flight.clamp(1, MAX_LANES);
                (n, (0..n).rev().collect())
            }
        };
        let mut lanes = Vec::with_capacity(lane_count);
        for _ in 1..lane_count {
            lanes.push(transport.lane());
        }
        lanes.push(transport);
        let bodies = (0..lane_count)
            .map(|_| {
                bodies
                    .iter()
                    .map(|(v, b)| (*v, bytes::Bytes::copy_from_slice(b)))
                    .collect()
            })
            .collect();
        let start = Instant::now();
        let shared = Shared {
            lanes,
            idle: Mutex::new(idle),
            memos: (0..lane_count).map(|_| Mutex::default()).collect(),
            bodies,
            start,
            paused_until: AtomicU64::new(0),
            budget: Mutex::new(RetryBudget::new(
                opts.budget_percent,
                opts.budget_floor,
                Duration::from_secs(10),
            )),
            pacer: Mutex::new(pace::Pacer::default()),
            in_flight,
            started: AtomicU64::new(0),
            state,
            sink,
            opts: opts.clone(),
            alive: AtomicBool::new(false),
            dead_streak: AtomicUsize::new(0),
            give_up_after: lane_count.max(4),
        };
        (Arc::new(shared), start)
    }

    /// What the run asked for.
    pub(super) fn opts(&self) -> &LoadOptions {
        &self.opts
    }

    /// When the run's clock started.
    pub(super) fn start(&self) -> Instant {
        self.start
    }

    /// OS threads the closed loop's workers may be spread over (see [`Transport::threads`]).
    pub(super) fn threads(&self) -> usize {
        self.lanes[0].threads()
    }

    /// The run's phase, relayed into the calling thread's own channel (see
    /// [`RunState::relay`]).
    pub(super) fn relay(&self) -> impl std::future::Future<Output = ()> + use<T> {
        self.state.relay()
    }

    /// Claims the next logical request; `false` once the request count is reached.
    pub(super) fn take(&self) -> bool {
        let n = self.started.fetch_add(1, Ordering::SeqCst);
        self.opts.requests.is_none_or(|max| n < max)
    }

    /// Logical requests claimed so far: a request's position in send order.
    pub(super) fn claimed(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }

    /// Why a send due `now` is held back, if it is: a throttle pause in force, or the header
    /// pacer (which, when it lets the send go, counts it). The closed loop waits the hold
    /// out; the open loop counts its slot as held and moves on.
    pub(super) fn hold(&self, now: Instant) -> Option<Hold> {
        if let Some(until) = self.pause_end().filter(|end| *end > now) {
            return Some(Hold {
                fate: SlotFate::HeldByPause,
                until,
            });
        }
        if self.opts.pace == Pace::None {
            return None;
        }
        self.pacer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .hold_until(now, self.in_flight.load(Ordering::SeqCst))
            .map(|until| Hold {
                fate: SlotFate::HeldByPace,
                until,
            })
    }

    /// Waits until a send may go (see [`Shared::hold`]). Returns false when the run stopped.
    pub(super) async fn wait_turn(&self) -> bool {
        while let Some(h) = self.hold(Instant::now()) {
            if !self.sleep_until(h.until).await {
                return false;
            }
        }
        !self.stopped()
    }

    /// Notes how an attempt that ended at `done` went: the pacer learns the headers, and
    /// before any success, `give_up_after` attempts in a row that failed the way that stops a
    /// probe (refused connection, refused key, no answer in time) end dispatching: the target
    /// is down, and going on would only wait out its timeouts.
    pub(super) fn observe(&self, ex: &Exchange, done: Instant, success: bool) {
        if self.opts.pace != Pace::None {
            self.pacer
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .observe(ex, done, unix_now());
        }
        if success {
            // Written once: a store on every success would bounce the line between cores.
            if !self.alive.load(Ordering::Relaxed) {
                self.alive.store(true, Ordering::Relaxed);
            }
            return;
        }
        if self.alive.load(Ordering::Relaxed) {
            return;
        }
        match ex.failure.as_ref().filter(|f| f.kind.stops_run()) {
            None => self.dead_streak.store(0, Ordering::SeqCst),
            Some(f) => {
                if self.dead_streak.fetch_add(1, Ordering::SeqCst) + 1 == self.give_up_after {
                    self.send_record(Record::TargetDown(self.give_up_after, f.with_remedy()));
                    self.advance(Phase::Ending);
                }
            }
        }
    }

    /// Whether the run has left its running phase.
    pub(super) fn stopped(&self) -> bool {
        self.state.get() != Phase::Running
    }

    /// Moves the run on to `phase`.
    pub(super) fn advance(&self, phase: Phase) {
        self.state.advance(phase);
    }

    /// Sleeps until `until`, or less if the run stops. Returns false when it stopped.
    pub(super) async fn sleep_until(&self, until: Instant) -> bool {
        let mut rx = self.state.subscribe();
        if *rx.borrow_and_update() != Phase::Running {
            return false;
        }
        tokio::select! {
            () = tokio::time::sleep_until(until) => !self.stopped(),
            _ = rx.wait_for(|p| *p != Phase::Running) => false,
        }
    }

    /// The end of the last throttle pause asked for, if any was.
    fn pause_end(&self) -> Option<Instant> {
        match self.paused_until.load(Ordering::Acquire) {
            0 => None,
            n => Some(self.start + Duration::from_nanos(n)),
        }
    }

    /// Holds every worker until `resume`, unless a longer pause is already in force.
    pub(super) fn pause_all_until(&self, resume: Instant) {
        let n = u64::try_from((resume - self.start).as_nanos())
            .unwrap_or(u64::MAX)
            .max(1);
        self.paused_until.fetch_max(n, Ordering::AcqRel);
    }

    /// Waits while a throttle pause is in force. Returns false when the run stopped.
    pub(super) async fn wait_pause(&self) -> bool {
        while let Some(until) = self.pause_end() {
            if until <= Instant::now() {
                break;
            }
            if !self.sleep_until(until).await {
                return false;
            }
        }
        !self.stopped()
    }

    /// A request intended at `intended` joins the retry budget's count.
    pub(super) fn deposit(&self, intended: Instant) {
        self.budget
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .deposit(intended - self.start);
    }

    /// Whether the retry budget allows a retry of a refusal at `done`.
    pub(super) fn withdraw(&self, done: Instant) -> bool {
        self.budget
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .withdraw(done - self.start)
    }

    /// Whether the collector needs this exchange, answered on `lane`, whole (see [`Memo`]).
    pub(super) fn needs_whole(&self, lane: usize, ex: &Exchange, success: bool) -> bool {
        self.memos[lane]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .needs_whole(ex, success)
    }

    fn request(&self, variant: Variant, seq: u64, lane: usize) -> Request {
        let raw_body = self.bodies[lane]
            .iter()
            .find(|(v, _)| *v == variant)
            .map(|(_, b)| b.clone());
        Request {
            variant,
            body: serde_json::Value::Null,
            headers: Vec::new(),
            raw_body,
            round: 1,
            seq: u32::try_from(seq).unwrap_or(u32::MAX),
        }
    }

    /// Leaves a record for the collector.
    pub(super) fn send_record(&self, r: Record) {
        self.sink.push(r);
    }

    /// Leaves a request's last attempt and its end for the collector, under one lock.
    pub(super) fn send_end(&self, attempt: Record, end: Record) {
        self.sink.push2(attempt, end);
    }

    /// One attempt on a lane: the exchange, the requests in flight when it was sent (itself
    /// included) and the lane; `None` when the run was cut off or interrupted before its
    /// response ended.
    pub(super) async fn attempt(
        &self,
        variant: Variant,
        seq: u64,
        worker: usize,
    ) -> Option<(Exchange, usize, usize)> {
        let in_flight = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        let mut rx = self.state.subscribe();
        let on = self.acquire(worker);
        let ex = tokio::select! {
            ex = self.lanes[on].deliver(self.request(variant, seq, on)) => Some(ex),
            _ = rx.wait_for(|p| *p >= Phase::CutOff) => None,
        };
        self.release(on);
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        ex.map(|ex| (ex, in_flight, on))
    }

    /// The lane for one attempt: the closed-loop worker's own, or an idle one in the open loop
    /// (given back with [`Shared::release`]).
    fn acquire(&self, worker: usize) -> usize {
        match self.opts.arrival {
            Arrival::Closed { .. } => worker % self.lanes.len(),
            Arrival::Constant { .. } | Arrival::Poisson { .. } => self
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop()
                // The in-flight cap is the lane count: an idle lane is always there.
                .unwrap_or(worker % self.lanes.len()),
        }
    }

    fn release(&self, lane: usize) {
        if !matches!(self.opts.arrival, Arrival::Closed { .. }) {
            self.idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(lane);
        }
    }
}

/// Now, as Unix seconds: for resets and waits given as a moment.
pub(super) fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The most lanes (connections) a run opens.
const MAX_LANES: usize = 65_536;

/// The request body for one variant, serialised once for the whole run.
fn body_for(opts: &LoadOptions, variant: Variant) -> bytes::Bytes {
    let model = if variant.endpoint == Endpoint::Embeddings {
        &opts.embedding_model
    } else {
        &opts.model
    };
    let mut body = variant
        .endpoint
        .body(model, variant.mode == Mode::Streaming);
    let prompt: String = "Reply with OK. "
        .chars()
        .cycle()
        .take(opts.prompt_chars.max(1))
        .collect();
    if let Some(obj) = body.as_object_mut() {
        for key in ["max_tokens", "max_output_tokens"] {
            if obj.contains_key(key) {
                obj.insert(key.into(), opts.max_tokens.into());
            }
        }
        if let Some(m) = obj.get_mut("messages").and_then(|m| m.get_mut(0)) {
            m["content"] = prompt.into();
        } else if obj.contains_key("prompt") {
            obj.insert("prompt".into(), prompt.into());
        } else if obj.contains_key("input") {
            obj.insert("input".into(), prompt.into());
        }
    }
    bytes::Bytes::from(serde_json::to_vec(&body).unwrap_or_default())
}
