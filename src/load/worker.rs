//! The worker side of a load run: the one worker function every logical request runs (send,
//! classify, back off, retry) and the state workers share. They leave records in a
//! [`Sink`](super::record::Sink); the collector drains it.

use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::backoff::{Policy, RetryBudget, Verdict, verdict, wait_hint};
use super::record::{Brief, Memo, Record, Sink, SlotFate};
use super::{Arrival, LoadOptions, Pace, Transport, pace};
use crate::endpoint::{Endpoint, Mode, Variant};
use crate::http::{Exchange, Request, ms};

/// Run states, in order: each only moves forward.
pub(super) const RUNNING: u8 = 0;
/// Dispatching is over: requests in flight finish, but nothing new starts and no retry waits.
pub(super) const ENDING: u8 = 1;
/// The grace after `duration` is spent: requests still in flight are abandoned.
pub(super) const CUT_OFF: u8 = 2;
/// Interrupted (Ctrl-C): requests in flight are abandoned.
pub(super) const INTERRUPTED: u8 = 3;

/// State every worker shares.
pub(super) struct Shared<T> {
    /// One transport per lane of workers (see [`Transport::lane`]).
    pub(super) lanes: Vec<T>,
    /// The open loop's idle lanes, most recently used last: a request takes the lane used
    /// last, so only as many connections open as requests are ever in flight at once.
    pub(super) idle: Mutex<Vec<usize>>,
    /// One per lane (see [`Memo`]); only the attempt on that lane takes it.
    pub(super) memos: Vec<Mutex<Memo>>,
    pub(super) opts: LoadOptions,
    /// Per lane, each variant's body: a copy of its own, so that taking one for a request
    /// touches no reference count another core is also touching.
    pub(super) bodies: Vec<Vec<(Variant, bytes::Bytes)>>,
    pub(super) start: Instant,
    /// Until when a throttle pause holds every worker, in nanoseconds after `start`; 0 when
    /// none was ever asked for (read on every request: no lock, and no clock when 0).
    pub(super) paused_until: AtomicU64,
    pub(super) budget: Mutex<RetryBudget>,
    pub(super) pacer: Mutex<pace::Pacer>,
    pub(super) in_flight: Arc<AtomicUsize>,
    pub(super) started: AtomicU64,
    pub(super) state: Arc<RunState>,
    pub(super) sink: Arc<Sink>,
    /// Whether any attempt has succeeded.
    pub(super) alive: std::sync::atomic::AtomicBool,
    /// Attempts in a row, before any success, that failed the way that stops a probe.
    pub(super) dead_streak: std::sync::atomic::AtomicUsize,
    /// The streak that ends dispatching: one per lane, at least four.
    pub(super) give_up_after: usize,
}

impl<T: Transport> Shared<T> {
    /// Claims the next logical request; `false` once the request count is reached.
    pub(super) fn take(&self) -> bool {
        let n = self.started.fetch_add(1, Ordering::SeqCst);
        self.opts.requests.is_none_or(|max| n < max)
    }

    /// Why an open-loop slot due `now` is not sent, if it is not: a throttle pause or pacing.
    pub(super) fn held(&self, now: Instant) -> Option<SlotFate> {
        if self.pause_end().is_some_and(|end| end > now) {
            return Some(SlotFate::HeldByPause);
        }
        let paced = self.opts.pace != Pace::None
            && self
                .pacer
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .hold_until(now, self.in_flight.load(Ordering::SeqCst))
                .is_some();
        paced.then_some(SlotFate::HeldByPace)
    }

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
            alive: std::sync::atomic::AtomicBool::new(false),
            dead_streak: std::sync::atomic::AtomicUsize::new(0),
            give_up_after: lane_count.max(4),
        };
        (Arc::new(shared), start)
    }

    /// Notes how an attempt went. Before any success, `give_up_after` attempts in a row that
    /// failed the way that stops a probe (refused connection, refused key, no answer in time)
    /// end dispatching: the target is down, and going on would only wait out its timeouts.
    pub(super) fn observe_outcome(&self, ex: &Exchange, success: bool) {
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
                    self.advance(ENDING);
                }
            }
        }
    }

    pub(super) fn stopped(&self) -> bool {
        self.state.get() != RUNNING
    }

    pub(super) fn advance(&self, state: u8) {
        self.state.advance(state);
    }

    /// Sleeps until `until`, or less if the run stops. Returns false when it stopped.
    pub(super) async fn sleep_until(&self, until: Instant) -> bool {
        let mut rx = self.state.subscribe();
        if *rx.borrow_and_update() != RUNNING {
            return false;
        }
        tokio::select! {
            () = tokio::time::sleep_until(until) => !self.stopped(),
            _ = rx.wait_for(|s| *s != RUNNING) => false,
        }
    }

    /// The end of the last throttle pause asked for, if any was.
    pub(super) fn pause_end(&self) -> Option<Instant> {
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

    /// Waits while a throttle pause is in force.
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

    pub(super) fn request(&self, variant: Variant, seq: u64, lane: usize) -> Request {
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

    pub(super) fn send_record(&self, r: Record) {
        self.sink.push(r);
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
            _ = rx.wait_for(|s| *s >= CUT_OFF) => None,
        };
        self.release(on);
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        ex.map(|ex| (ex, in_flight, on))
    }

    /// The lane for one attempt: the closed-loop worker's own, or an idle one in the open loop
    /// (given back with [`Shared::release`]).
    pub(super) fn acquire(&self, worker: usize) -> usize {
        match self.opts.arrival {
            Arrival::Closed { .. } => worker % self.lanes.len(),
            Arrival::Constant { .. } | Arrival::Poisson { .. } => self
                .idle
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .pop()
                // The in-flight cap is the lane count: an idle lane is always there.
                .unwrap_or(worker % self.lanes.len()),
        }
    }

    pub(super) fn release(&self, lane: usize) {
        if !matches!(self.opts.arrival, Arrival::Closed { .. }) {
            self.idle
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(lane);
        }
    }
}

/// The most lanes (connections) a run opens.
const MAX_LANES: usize = 4096;

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

/// The run's state: a channel to wait on, and the same value in an atomic for the checks
/// every request makes (a read of the channel takes its lock, on a line every core shares).
pub(super) struct RunState {
    now: std::sync::atomic::AtomicU8,
    tx: watch::Sender<u8>,
}

impl RunState {
    pub(super) fn new() -> Self {
        RunState {
            now: std::sync::atomic::AtomicU8::new(RUNNING),
            tx: watch::channel(RUNNING).0,
        }
    }

    /// The state now.
    pub(super) fn get(&self) -> u8 {
        self.now.load(Ordering::Acquire)
    }

    /// Moves the run to `state` unless it is already further along.
    pub(super) fn advance(&self, state: u8) {
        self.now.fetch_max(state, Ordering::AcqRel);
        self.tx.send_if_modified(|s| {
            let later = state > *s;
            if later {
                *s = state;
            }
            later
        });
    }

    fn subscribe(&self) -> watch::Receiver<u8> {
        // On a load thread, its own copy: waiting on it contends with no other core.
        LOCAL_STATE
            .with_borrow(Clone::clone)
            .unwrap_or_else(|| self.tx.subscribe())
    }
}

thread_local! {
    /// On a load thread (see [`on_threads`]): the run's state, relayed into a channel of this
    /// thread's own.
    static LOCAL_STATE: std::cell::RefCell<Option<watch::Receiver<u8>>> =
        const { std::cell::RefCell::new(None) };
}

/// Relays the run's state into a channel of this thread's own, until the run is interrupted
/// or ends; the thread's workers wait on that copy.
pub(super) fn relay_state(state: &RunState) -> impl Future<Output = ()> + use<> {
    let mut global = state.tx.subscribe();
    let (tx, rx) = watch::channel(*global.borrow_and_update());
    LOCAL_STATE.set(Some(rx));
    async move {
        while global.changed().await.is_ok() {
            let now = *global.borrow_and_update();
            tx.send_replace(now);
            if now == INTERRUPTED {
                return;
            }
        }
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// One logical request: send, and on a refusal back off and retry as the policy says.
pub(super) async fn logical<T: Transport>(
    sh: Arc<Shared<T>>,
    intended: Instant,
    variant: Variant,
    seed: u64,
    lane: usize,
) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let seq = sh.started.load(Ordering::Relaxed);
    let mut attempt = 0u32;
    let mut after_hint = false;
    let mut waited = Duration::ZERO;
    let mut first_send: Option<Instant> = None;
    sh.budget
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .deposit(intended - sh.start);
    loop {
        if !sh.wait_pause().await && attempt > 0 {
            break;
        }
        let sent = Instant::now();
        first_send.get_or_insert(sent);
        let Some((ex, in_flight, on)) = sh.attempt(variant, seq, lane).await else {
            sh.send_record(Record::Cancelled);
            return;
        };
        let done = Instant::now();
        if sh.opts.pace != Pace::None {
            sh.pacer
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .observe(&ex, done, unix_now());
        }
        let v = verdict(&ex);
        sh.observe_outcome(&ex, v == Verdict::Success);
        let retryable = matches!(v, Verdict::Throttled | Verdict::Transient)
            && sh.opts.backoff.policy != Policy::None
            && attempt < sh.opts.backoff.max_retries
            && !sh.stopped();
        // Read the advice before the exchange goes to the collector.
        let hint = if retryable {
            wait_hint(&ex, unix_now())
        } else {
            None
        };
        let whole = sh.memos[on]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .needs_whole(&ex, v == Verdict::Success);
        let record = Record::Attempt {
            at: sent - sh.start,
            brief: Brief::of(&ex, on),
            ex: whole.then(|| Box::new(ex)),
            retry: attempt > 0,
            after_hint,
            in_flight,
        };
        if v == Verdict::Success || !retryable {
            let end = Record::Done {
                success: v == Verdict::Success,
                latency_ms: ms(done - intended),
                queued_ms: ms(first_send.unwrap_or(sent) - intended),
                retries: attempt,
                waited_ms: ms(waited),
            };
            sh.sink.push2(record, end);
            return;
        }
        sh.send_record(record);
        if !sh
            .budget
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .withdraw(done - sh.start)
        {
            sh.send_record(Record::BudgetExhausted);
            break;
        }
        let (delay, clamped) = sh.opts.backoff.delay(hint, attempt, rng.f64());
        if let Some(h) = hint {
            sh.send_record(Record::Hint(h.source, clamped));
        }
        if clamped {
            // Advice beyond `--max-wait` is not waited for, by this request or any other: it
            // ends throttled, and the advice is reported.
            break;
        }
        after_hint = hint.is_some();
        let resume = done + delay;
        if v == Verdict::Throttled {
            // One refusal slows every worker, not just this one.
            sh.pause_all_until(resume);
        }
        let slept = sh.sleep_until(resume).await;
        // Only the part of the wait that passed counts: an abandoned wait is no retry.
        waited += Instant::now().saturating_duration_since(done).min(delay);
        if !slept {
            break;
        }
        attempt += 1;
    }
    sh.send_record(Record::Done {
        success: false,
        latency_ms: ms(Instant::now() - intended),
        queued_ms: ms(first_send.unwrap_or(intended) - intended),
        retries: attempt,
        waited_ms: ms(waited),
    });
}
