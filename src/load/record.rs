//! What workers leave for the collector: a [`Record`] per event of a run (an attempt, a
//! request's end, a slot not sent), the [`Brief`] most attempts travel as, the per-lane
//! [`Memo`] that decides when an exchange must travel whole, and the [`Sink`] they wait in.

use std::sync::Mutex;
use std::time::Duration;

use super::backoff::HintSource;
use super::stats::{ErrorClass, error_class, request_counters};
use crate::endpoint::Variant;
use crate::http::Exchange;

/// What the worker loop reports to the collector.
#[derive(Debug, Clone)]
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
pub(super) struct Memo(Vec<(Variant, u32, Vec<String>)>);

impl Memo {
    /// Whether the collector needs this exchange whole.
    pub(super) fn needs_whole(&mut self, ex: &Exchange, success: bool) -> bool {
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

/// How often the collector drains the sink.
pub(super) const TICK: Duration = Duration::from_millis(20);

/// Where workers leave records for the collector. The collector drains it on a short tick
/// instead of being woken per record: at tens of thousands of requests a second, a wake-up per
/// record costs more than the request itself.
#[derive(Default)]
pub(crate) struct Sink(Mutex<Vec<Record>>);

impl Sink {
    pub(super) fn push(&self, r: Record) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(r);
    }

    /// Two records under one lock: a request's last attempt and its end.
    pub(super) fn push2(&self, a: Record, b: Record) {
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
