//! The simulator's counters: per key, a fixed window or a replenishing bucket of requests and
//! tokens, and the admission of one request against them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use super::{MockConfig, Profile, Recorded};
use crate::endpoint::Endpoint;
use crate::headers::emit::Budget;

/// One key's usage: a fixed window (LiteLLM, Anthropic, IETF profiles), or a bucket that
/// replenishes continuously at the limit's rate (the OpenAI profile, as OpenAI documents).
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Window {
    started: Option<Instant>,
    requests: f64,
    tokens: f64,
}

/// Each key's usage, as one table.
type Table = Mutex<HashMap<String, Window>>;

/// Where an instance keeps usage: one table that every instance of a fleet shares (as LiteLLM
/// pods share Redis), and its own, used while the fleet is split (as each pod falls back to
/// memory when Redis is lost). A lone instance is a fleet of one that never splits.
#[derive(Debug, Clone, Default)]
pub struct Store {
    shared: Arc<Table>,
    own: Arc<Table>,
    split: Arc<AtomicBool>,
}

impl Store {
    /// `n` stores over one shared table and one split switch.
    pub fn fleet(n: usize) -> Vec<Store> {
        let first = Store::default();
        (0..n)
            .map(|_| Store {
                own: Arc::default(),
                ..first.clone()
            })
            .collect()
    }

    /// From now on every instance of the fleet counts alone, in its own table, until
    /// [`Store::rejoin`].
    pub fn split(&self) {
        self.split.store(true, Ordering::SeqCst);
    }

    /// Empties this instance's own table, so that a split starts from zero.
    pub fn clear_own(&self) {
        lock(&self.own).clear();
    }

    /// The shared table counts again (what it held before the split, as Redis keeps it).
    pub fn rejoin(&self) {
        self.split.store(false, Ordering::SeqCst);
    }

    /// Whether the fleet is split.
    pub fn is_split(&self) -> bool {
        self.split.load(Ordering::SeqCst)
    }

    fn table(&self) -> &Table {
        if self.is_split() {
            &self.own
        } else {
            &self.shared
        }
    }
}

/// What every handler shares: the configuration, each key's usage, the request log.
pub(super) struct Shared {
    pub(super) cfg: MockConfig,
    pub(super) store: Store,
    pub(super) log: Mutex<Vec<Recorded>>,
    pub(super) next_id: Mutex<u64>,
    /// Each key's requests in flight (`max_parallel_requests`).
    pub(super) slots: Mutex<HashMap<String, u64>>,
}

/// A poisoned lock only means a handler panicked mid-update; the counters are still usable.
pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One key's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct KeyLimits {
    pub rpm: u64,
    pub tpm: u64,
    pub max_parallel: Option<u64>,
}

/// Whether a request fits its key's budget, with the budget as it stands after it.
pub(super) enum Admission {
    Allowed(Budget),
    Refused { budget: Budget, unit: &'static str },
}

impl Shared {
    #[cfg(test)]
    pub(super) fn admit(&self, key: &str, tokens: u64) -> Admission {
        self.admit_as(key, tokens, false)
    }

    /// Admits one request reserving `tokens`; `check_then_charge` reserves nothing and refuses
    /// only a key whose tokens are already spent (the charge comes after the response).
    pub(super) fn admit_as(&self, key: &str, tokens: u64, check_then_charge: bool) -> Admission {
        let limits = self.limits(key);
        let (rpm, tpm) = (limits.rpm as f64, limits.tpm as f64);
        self.with_window(key, |w, budget| {
            if w.requests + 1.0 > rpm + 1e-9 {
                return Admission::Refused {
                    budget: budget(w),
                    unit: "requests",
                };
            }
            let over = if check_then_charge {
                w.tokens >= tpm - 1e-9
            } else {
                w.tokens + tokens as f64 > tpm + 1e-9
            };
            if over {
                return Admission::Refused {
                    budget: budget(w),
                    unit: "tokens",
                };
            }
            w.requests += 1.0;
            if !check_then_charge {
                w.tokens += tokens as f64;
            }
            Admission::Allowed(budget(w))
        })
    }

    /// The key's budget as it stands, nothing charged.
    pub(super) fn budget_now(&self, key: &str) -> Budget {
        self.with_window(key, |w, budget| budget(w))
    }

    /// Charges `requests` and `tokens` (negative: gives tokens back) to the key's window.
    pub(super) fn charge(&self, key: &str, requests: f64, tokens: f64) {
        self.with_window(key, |w, _| {
            w.requests += requests;
            w.tokens = (w.tokens + tokens).max(0.0);
        });
    }

    /// Runs `f` on the key's window, rolled over or replenished to now, with the budget it
    /// shows.
    fn with_window<R>(
        &self,
        key: &str,
        f: impl FnOnce(&mut Window, &dyn Fn(&Window) -> Budget) -> R,
    ) -> R {
        let cfg = &self.cfg;
        let limits = self.limits(key);
        let now = Instant::now();
        let mut windows = lock(self.store.table());
        let w = windows.entry(key.to_string()).or_default();
        let secs = cfg.window.as_secs_f64().max(1e-3);
        let (rpm, tpm) = (limits.rpm as f64, limits.tpm as f64);
        let replenishing = cfg.profile == Profile::Openai;
        if replenishing {
            // Usage drains at the limit's rate: at 5,000 RPM `remaining` stays near the limit.
            if let Some(then) = w.started {
                let elapsed = now.duration_since(then).as_secs_f64();
                w.requests = (w.requests - elapsed * rpm / secs).max(0.0);
                w.tokens = (w.tokens - elapsed * tpm / secs).max(0.0);
            }
            w.started = Some(now);
        } else if w
            .started
            .is_none_or(|s| now.duration_since(s) >= cfg.window)
        {
            *w = Window {
                started: Some(now),
                requests: 0.0,
                tokens: 0.0,
            };
        }
        let started = w.started.unwrap_or(now);
        let window_left = cfg.window.saturating_sub(now.duration_since(started));
        let refill = |used: f64, per_window: f64| {
            Duration::from_secs_f64((used / (per_window / secs).max(1e-9)).clamp(0.0, 1e6))
        };
        let budget = |w: &Window| {
            let (reset_in, retry_in) = if replenishing {
                // Full again, and one request's worth back.
                (
                    refill(w.requests, rpm),
                    refill((w.requests + 1.0 - rpm).max(0.0), rpm),
                )
            } else {
                (window_left, window_left)
            };
            Budget {
                limit_requests: limits.rpm,
                remaining_requests: (rpm - w.requests).floor().max(0.0) as u64,
                limit_tokens: limits.tpm,
                remaining_tokens: (tpm - w.tokens).floor().max(0.0) as u64,
                reset_in,
                retry_in,
                window: cfg.window,
                now: SystemTime::now(),
            }
        };
        f(w, &budget)
    }

    /// The key's limits: the ones it carries (`sk-rc-<rpm>-<tpm>[-p<max_parallel>]-<any>`, the
    /// convention of the tests' LiteLLM auth, so that one simulator serves keys of different
    /// limits), else the simulator's.
    pub(super) fn limits(&self, key: &str) -> KeyLimits {
        let own = KeyLimits {
            rpm: self.cfg.rpm,
            tpm: self.cfg.tpm,
            max_parallel: self.cfg.max_parallel,
        };
        let parts: Vec<&str> = key.split('-').collect();
        match parts.as_slice() {
            ["sk", "rc", rpm, tpm, rest @ ..] if !rest.is_empty() => {
                let (Ok(rpm), Ok(tpm)) = (rpm.parse(), tpm.parse()) else {
                    return own;
                };
                let max_parallel = rest
                    .first()
                    .filter(|_| rest.len() >= 2)
                    .and_then(|p| p.strip_prefix('p'))
                    .and_then(|p| p.parse().ok());
                KeyLimits {
                    rpm,
                    tpm,
                    max_parallel,
                }
            }
            _ => own,
        }
    }

    /// Takes one of the key's `n` concurrency slots: the slots now in use, or `None` when all
    /// were taken.
    pub(super) fn take_slot(&self, key: &str, n: u64) -> Option<u64> {
        let mut slots = lock(&self.slots);
        let used = slots.entry(key.to_string()).or_default();
        if *used >= n {
            return None;
        }
        *used += 1;
        Some(*used)
    }

    /// Gives one of the key's slots back.
    pub(super) fn release_slot(&self, key: &str) {
        if let Some(used) = lock(&self.slots).get_mut(key) {
            *used = used.saturating_sub(1);
        }
    }

    pub(super) fn record(&self, endpoint: Endpoint, stream: bool, status: u16) {
        lock(&self.log).push(Recorded {
            path: endpoint.path().into(),
            stream,
            status,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_count_and_refuse() {
        let shared = Shared {
            cfg: MockConfig {
                rpm: 2,
                tpm: 100,
                ..MockConfig::default()
            },
            store: Store::default(),
            log: Mutex::new(Vec::new()),
            next_id: Mutex::new(0),
            slots: Mutex::new(HashMap::new()),
        };
        let Admission::Allowed(b) = shared.admit("k", 10) else {
            panic!()
        };
        assert_eq!(b.remaining_requests, 1);
        assert_eq!(b.remaining_tokens, 90);
        assert!(matches!(
            shared.admit("k", 95),
            Admission::Refused { unit: "tokens", .. }
        ));
        assert!(matches!(shared.admit("k", 10), Admission::Allowed(_)));
        assert!(matches!(
            shared.admit("k", 1),
            Admission::Refused {
                unit: "requests",
                ..
            }
        ));
        // Another key has its own window.
        assert!(matches!(shared.admit("other", 1), Admission::Allowed(_)));
    }

    #[test]
    fn the_openai_profile_replenishes() {
        let shared = Shared {
            cfg: MockConfig {
                profile: Profile::Openai,
                rpm: 6000,
                window: Duration::from_mins(1),
                ..MockConfig::default()
            },
            store: Store::default(),
            log: Mutex::new(Vec::new()),
            next_id: Mutex::new(0),
            slots: Mutex::new(HashMap::new()),
        };
        let remaining = |a: Admission| match a {
            Admission::Allowed(b) => b.remaining_requests,
            Admission::Refused { .. } => panic!("refused"),
        };
        assert_eq!(remaining(shared.admit("k", 1)), 5999);
        // 100 requests a second flow back: after 50 ms the first is back.
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(remaining(shared.admit("k", 1)), 5999);
    }

    #[test]
    fn a_fleet_counts_once_until_it_splits() {
        let cfg = MockConfig {
            rpm: 10,
            ..MockConfig::default()
        };
        let [a, b]: [Shared; 2] = Store::fleet(2)
            .into_iter()
            .map(|store| Shared {
                cfg: cfg.clone(),
                store,
                log: Mutex::new(Vec::new()),
                next_id: Mutex::new(0),
                slots: Mutex::new(HashMap::new()),
            })
            .collect::<Vec<_>>()
            .try_into()
            .ok()
            .unwrap();
        let remaining = |s: &Shared| match s.admit("k", 1) {
            Admission::Allowed(b) | Admission::Refused { budget: b, .. } => b.remaining_requests,
        };
        // One counter: 9 on the first instance, 8 on the second.
        assert_eq!((remaining(&a), remaining(&b)), (9, 8));
        a.store.clear_own();
        b.store.clear_own();
        a.store.split();
        // Split: each counts alone, from zero, as pods do when Redis is gone.
        assert_eq!((remaining(&a), remaining(&b)), (9, 9));
        assert!(b.store.is_split());
        b.store.rejoin();
        // Rejoined: the shared count goes on where it was.
        assert_eq!((remaining(&a), remaining(&b)), (7, 6));
    }
}
