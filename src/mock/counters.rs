//! The simulator's counters: per key, a fixed window or a replenishing bucket of requests and
//! tokens, and the admission of one request against them.

use std::collections::HashMap;
use std::sync::Mutex;
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

/// What every handler shares: the configuration, each key's usage, the request log.
pub(super) struct Shared {
    pub(super) cfg: MockConfig,
    pub(super) windows: Mutex<HashMap<String, Window>>,
    pub(super) log: Mutex<Vec<Recorded>>,
    pub(super) next_id: Mutex<u64>,
}

/// A poisoned lock only means a handler panicked mid-update; the counters are still usable.
pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whether a request fits its key's budget, with the budget as it stands after it.
pub(super) enum Admission {
    Allowed(Budget),
    Refused { budget: Budget, unit: &'static str },
}

impl Shared {
    pub(super) fn admit(&self, key: &str, tokens: u64) -> Admission {
        let cfg = &self.cfg;
        let now = Instant::now();
        let mut windows = lock(&self.windows);
        let w = windows.entry(key.to_string()).or_default();
        let secs = cfg.window.as_secs_f64().max(1e-3);
        let (rpm, tpm) = (cfg.rpm as f64, cfg.tpm as f64);
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
                limit_requests: cfg.rpm,
                remaining_requests: (rpm - w.requests).floor().max(0.0) as u64,
                limit_tokens: cfg.tpm,
                remaining_tokens: (tpm - w.tokens).floor().max(0.0) as u64,
                reset_in,
                retry_in,
                window: cfg.window,
                now: SystemTime::now(),
            }
        };
        if w.requests + 1.0 > rpm + 1e-9 {
            return Admission::Refused {
                budget: budget(w),
                unit: "requests",
            };
        }
        if w.tokens + tokens as f64 > tpm + 1e-9 {
            return Admission::Refused {
                budget: budget(w),
                unit: "tokens",
            };
        }
        w.requests += 1.0;
        w.tokens += tokens as f64;
        Admission::Allowed(budget(w))
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
            windows: Mutex::new(HashMap::new()),
            log: Mutex::new(Vec::new()),
            next_id: Mutex::new(0),
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
            windows: Mutex::new(HashMap::new()),
            log: Mutex::new(Vec::new()),
            next_id: Mutex::new(0),
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
}
