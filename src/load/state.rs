//! The phase a load run is in, shared by the collector, the dispatcher and every worker thread:
//! it only moves forward, and each phase says what requests in flight may still do.

use std::future::Future;
use std::sync::atomic::{AtomicU8, Ordering};

use tokio::sync::watch;

/// Where a run is, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub(super) enum Phase {
    /// Dispatching.
    Running,
    /// Dispatching is over: requests in flight finish, but nothing new starts and no retry
    /// waits.
    Ending,
    /// The grace after `duration` is spent: requests still in flight are abandoned.
    CutOff,
    /// Interrupted (Ctrl-C): requests in flight are abandoned.
    Interrupted,
}

impl Phase {
    fn of(n: u8) -> Phase {
        match n {
            0 => Phase::Running,
            1 => Phase::Ending,
            2 => Phase::CutOff,
            _ => Phase::Interrupted,
        }
    }
}

/// The run's phase: a channel to wait on, and the same value in an atomic for the checks
/// every request makes (a read of the channel takes its lock, on a line every core shares).
pub(super) struct RunState {
    now: AtomicU8,
    tx: watch::Sender<Phase>,
}

impl RunState {
    pub(super) fn new() -> Self {
        RunState {
            now: AtomicU8::new(Phase::Running as u8),
            tx: watch::channel(Phase::Running).0,
        }
    }

    /// The phase now.
    pub(super) fn get(&self) -> Phase {
        Phase::of(self.now.load(Ordering::Acquire))
    }

    /// Moves the run to `phase` unless it is already further along.
    pub(super) fn advance(&self, phase: Phase) {
        self.now.fetch_max(phase as u8, Ordering::AcqRel);
        self.tx.send_if_modified(|p| {
            let later = phase > *p;
            if later {
                *p = phase;
            }
            later
        });
    }

    /// A receiver to wait on: on a load thread its own copy (see [`relay`]), so that waiting
    /// contends with no other core.
    pub(super) fn subscribe(&self) -> watch::Receiver<Phase> {
        LOCAL_STATE
            .with_borrow(Clone::clone)
            .unwrap_or_else(|| self.tx.subscribe())
    }

    /// Relays the phase into a channel of this thread's own, until the run is interrupted or
    /// ends; the thread's workers wait on that copy.
    pub(super) fn relay(&self) -> impl Future<Output = ()> + use<> {
        let mut global = self.tx.subscribe();
        let (tx, rx) = watch::channel(*global.borrow_and_update());
        LOCAL_STATE.set(Some(rx));
        async move {
            while global.changed().await.is_ok() {
                let now = *global.borrow_and_update();
                tx.send_replace(now);
                if now == Phase::Interrupted {
                    return;
                }
            }
        }
    }
}

thread_local! {
    /// On a load thread (see [`RunState::relay`]): the run's phase, relayed into a channel of
    /// this thread's own.
    static LOCAL_STATE: std::cell::RefCell<Option<watch::Receiver<Phase>>> =
        const { std::cell::RefCell::new(None) };
}
