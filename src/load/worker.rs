//! The worker side of a load run: the dispatcher that turns the arrival model into sends, the
//! one worker function every logical request runs (send, classify, back off, retry), and the
//! state they share. Workers leave records in a [`Sink`]; the collector drains it.

use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

use super::backoff::{HintSource, Policy, RetryBudget, Verdict, verdict, wait_hint};
use super::stats::{ErrorClass, error_class, request_counters};
use super::{Arrival, LoadOptions, MixEntry, Pace, Transport, pace};
use crate::endpoint::{Endpoint, Mode, Variant};
use crate::http::{Exchange, Request, ms};

/// What the worker loop reports to the collector.
#[derive(Debug)]
pub(crate) enum Record {
    /// One attempt and its response.
    Attempt {
        /// Send time since the start.
        at: Duration,
        /// What the collector reads of every response.
        brief: Brief,
        /// The whole response, when the collector needs more than the brief (see
        /// [`Record::attempt`]); most successes go without, so that an exchange is freed on
        /// the thread that made it.
        ex: Option<Box<Exchange>>,
        /// Whether this attempt is a retry.
        retry: bool,
        /// Whether it was sent after waiting an advised time.
        after_hint: bool,
        /// Requests in flight when it was sent (itself included).
        in_flight: usize,
    },
    /// A logical request ended.
    Done {
        /// It ended in a complete 2xx.
        success: bool,
        /// Intended send time to the end of the successful attempt, in ms.
        latency_ms: f64,
        /// Intended send time to the first attempt's send, in ms (client-side queueing).
        queued_ms: f64,
        /// Retries it took.
        retries: u32,
        /// Time spent in backoff waits, in ms.
        waited_ms: f64,
    },
    /// A wait advice was read; `clamped` when it was longer than the cap (and so not waited for).
    Hint(HintSource, bool),
    /// A retry was refused by the budget.
    BudgetExhausted,
    /// An open-loop slot not sent, and why.
    Slot(SlotFate),
    /// A request in flight when the run was interrupted; its response was not awaited.
    Cancelled,
    /// Dispatching ended early: this many attempts in a row, before any success, found the
    /// target down; the last one failed with this message.
    TargetDown(usize, String),
}

/// What the collector reads of every attempt, computed where the exchange was read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Brief {
    /// Endpoint and mode.
    pub variant: Variant,
    /// The lane it went out on: a success without its exchange carried the same rate-limit
    /// headers as this lane's last success of the same shape that came with one.
    pub lane: usize,
    /// How it failed, if it did.
    pub class: Option<ErrorClass>,
    /// The request counters it carried: `remaining` and `limit`.
    pub remaining: Option<i64>,
    pub limit: Option<i64>,
    /// Milliseconds from send to the end of the body, to the head, to the first event.
    pub total_ms: f64,
    pub headers_ms: Option<f64>,
    pub ttft_ms: Option<f64>,
    /// A refusal that advised a wait.
    pub hinted: bool,
}

impl Brief {
    pub(crate) fn of(ex: &Exchange, lane: usize) -> Brief {
        let class = error_class(ex);
        let (remaining, limit) = request_counters(ex);
        let throttled = matches!(
            class,
            Some(ErrorClass::GatewayThrottle | ErrorClass::UpstreamThrottle)
        );
        Brief {
            variant: ex.variant,
            lane,
            class,
            remaining,
            limit,
            total_ms: ex.total_ms,
            headers_ms: ex.time_to_headers_ms,
            ttft_ms: ex.time_to_first_event_ms,
            hinted: throttled && super::backoff::wait_hint(ex, 0.0).is_some(),
        }
    }
}

#[cfg(test)]
impl Record {
    /// An attempt with its whole exchange, which the collector reads all of.
    pub(crate) fn attempt(
        at: Duration,
        ex: Exchange,
        retry: bool,
        after_hint: bool,
        in_flight: usize,
    ) -> Record {
        Record::Attempt {
            at,
            brief: Brief::of(&ex, 0),
            ex: Some(Box::new(ex)),
            retry,
            after_hint,
            in_flight,
        }
    }
}

/// Successful exchanges the collector keeps per shape for the header analysis the probe also
/// runs; a lane sends its first ones whole.
pub(super) const SAMPLES_PER_SHAPE: usize = 2;

/// Per lane, per shape: successes so far and the rate-limit headers the last one carried.
/// The collector needs a success's whole exchange only for its first samples and when the
/// set of headers changed; the rest travel as a [`Brief`].
#[derive(Debug, Default)]
struct Memo(Vec<(Variant, u32, Vec<String>)>);

impl Memo {
    /// Whether the collector needs this exchange whole.
    fn needs_whole(&mut self, ex: &Exchange, success: bool) -> bool {
        if ex.failure.is_some() || ex.stream.is_some() {
            return true;
        }
        if !success {
            return false;
        }
        let names = || ex.rate_headers.iter().filter(|h| h.compared());
        let Some(at) = self.0.iter().position(|(v, _, _)| *v == ex.variant) else {
            self.0
                .push((ex.variant, 1, names().map(|h| h.name.clone()).collect()));
            return true;
        };
        let (_, seen, last) = &mut self.0[at];
        *seen = seen.saturating_add(1);
        let same =
            last.len() == names().count() && names().zip(last.iter()).all(|(h, n)| h.name == *n);
        if !same {
            *last = names().map(|h| h.name.clone()).collect();
        }
        !same || *seen <= SAMPLES_PER_SHAPE as u32
    }
}

/// Where workers leave records for the collector. The collector drains it on a short tick
/// instead of being woken per record: at tens of thousands of requests a second, a wake-up per
/// record costs more than the request itself.
#[derive(Default)]
pub(crate) struct Sink(Mutex<Vec<Record>>);

impl Sink {
    fn push(&self, r: Record) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(r);
    }

    /// Two records under one lock: a request's last attempt and its end.
    fn push2(&self, a: Record, b: Record) {
        let mut records = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        records.push(a);
        records.push(b);
    }

    /// Everything left since the last drain.
    pub(crate) fn drain(&self) -> Vec<Record> {
        std::mem::take(
            &mut *self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

/// How often the collector drains the sink.
pub(super) const TICK: Duration = Duration::from_millis(20);

/// Run states, in order: each only moves forward.
pub(super) const RUNNING: u8 = 0;
/// Dispatching is over: requests in flight finish, but nothing new starts and no retry waits.
const ENDING: u8 = 1;
/// The grace after `duration` is spent: requests still in flight are abandoned.
pub(super) const CUT_OFF: u8 = 2;
/// Interrupted (Ctrl-C): requests in flight are abandoned.
pub(super) const INTERRUPTED: u8 = 3;

/// What happened to an open-loop schedule slot that was not sent on time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SlotFate {
    /// Sent more than [`LATE`] after its intended time.
    Late,
    /// Not sent: a throttle pause was in force.
    HeldByPause,
    /// Not sent: header pacing said the quota would not allow it.
    HeldByPace,
    /// Not sent: `max_in_flight` requests were already in flight.
    DroppedAtCap,
}

/// A slot dispatched later than this after its intended time counts as late.
pub const LATE: Duration = Duration::from_millis(10);

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
    alive: std::sync::atomic::AtomicBool,
    /// Attempts in a row, before any success, that failed the way that stops a probe.
    dead_streak: std::sync::atomic::AtomicUsize,
    /// The streak that ends dispatching: one per lane, at least four.
    give_up_after: usize,
}

impl<T: Transport> Shared<T> {
    /// Claims the next logical request; `false` once the request count is reached.
    fn take(&self) -> bool {
        let n = self.started.fetch_add(1, Ordering::SeqCst);
        self.opts.requests.is_none_or(|max| n < max)
    }

    /// Why an open-loop slot due `now` is not sent, if it is not: a throttle pause or pacing.
    fn held(&self, now: Instant) -> Option<SlotFate> {
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
    fn observe_outcome(&self, ex: &Exchange, success: bool) {
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
                    self.send_record(Record::TargetDown(self.give_up_after, f.message.clone()));
                    self.advance(ENDING);
                }
            }
        }
    }

    fn stopped(&self) -> bool {
        self.state.get() != RUNNING
    }

    fn advance(&self, state: u8) {
        self.state.advance(state);
    }

    /// Sleeps until `until`, or less if the run stops. Returns false when it stopped.
    async fn sleep_until(&self, until: Instant) -> bool {
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
    fn pause_end(&self) -> Option<Instant> {
        match self.paused_until.load(Ordering::Acquire) {
            0 => None,
            n => Some(self.start + Duration::from_nanos(n)),
        }
    }

    /// Holds every worker until `resume`, unless a longer pause is already in force.
    fn pause_all_until(&self, resume: Instant) {
        let n = u64::try_from((resume - self.start).as_nanos())
            .unwrap_or(u64::MAX)
            .max(1);
        self.paused_until.fetch_max(n, Ordering::AcqRel);
    }

    /// Waits while a throttle pause is in force.
    async fn wait_pause(&self) -> bool {
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

    fn send_record(&self, r: Record) {
        self.sink.push(r);
    }

    /// One attempt on a lane: the exchange, the requests in flight when it was sent (itself
    /// included) and the lane; `None` when the run was cut off or interrupted before its
    /// response ended.
    async fn attempt(
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
    fn acquire(&self, worker: usize) -> usize {
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

    fn release(&self, lane: usize) {
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
fn relay_state(state: &RunState) -> impl Future<Output = ()> + use<> {
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

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// One logical request: send, and on a refusal back off and retry as the policy says.
async fn logical<T: Transport>(
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

/// Turns the arrival model into sends; returns when dispatching is over and every request it
/// started has ended.
pub(super) async fn dispatch<T: Transport>(sh: Arc<Shared<T>>) {
    let deadline = sh.opts.duration.map(|d| sh.start + d);
    let mut tasks = tokio::task::JoinSet::new();
    match sh.opts.arrival {
        Arrival::Closed { concurrency } => {
            let workers = concurrency.max(1);
            let threads = sh.lanes[0].threads().clamp(1, workers);
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
    sh.advance(ENDING);
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
                    let relay = tokio::spawn(relay_state(&theirs.state));
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
    let seed = sh.opts.seed ^ ((w as u64 + 1) << 32);
    let mut rng = fastrand::Rng::with_seed(seed);
    loop {
        let now = Instant::now();
        if sh.stopped() || deadline.is_some_and(|d| now >= d) {
            return;
        }
        if !sh.wait_pause().await {
            return;
        }
        if sh.opts.pace != Pace::None {
            let hold = sh
                .pacer
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .hold_until(Instant::now(), sh.in_flight.load(Ordering::SeqCst));
            if let Some(until) = hold
                && !sh.sleep_until(until).await
            {
                return;
            }
        }
        if !sh.take() {
            return;
        }
        let variant = pick(&sh.opts.mix, rng.f64());
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
    let poisson = matches!(sh.opts.arrival, Arrival::Poisson { .. });
    let rate = rate.max(1e-6);
    let mut rng = fastrand::Rng::with_seed(sh.opts.seed);
    let cap = Arc::new(Semaphore::new(sh.opts.max_in_flight.max(1)));
    let mut offset = 0.0f64;
    let mut slot: u64 = 0;
    loop {
        let intended = sh.start + Duration::from_secs_f64(offset);
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
            slot as f64 / rate
        };
        let now = Instant::now();
        if let Some(fate) = sh.held(now) {
            sh.send_record(Record::Slot(fate));
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
        let variant = pick(&sh.opts.mix, rng.f64());
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
