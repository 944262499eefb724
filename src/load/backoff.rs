//! What a well-behaved client does after a refusal, as data and pure functions: which wait the
//! response advises, how long to back off without advice, whether a retry is affordable, and
//! which responses are worth retrying at all.
//!
//! Nothing here sleeps or reads a clock; callers pass `now`, so tests drive it with any time
//! they like and the worker loop stays the only place that waits.

use std::collections::VecDeque;
use std::time::Duration;

use serde::Serialize;

use crate::headers::{Family, Parsed, RateHeader, Role};
use crate::http::Exchange;
use crate::verdict::FailureKind;

/// Where a wait came from, in the order a good client trusts them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum HintSource {
    /// `retry-after-ms` (or `x-ms-retry-after-ms`): milliseconds.
    RetryAfterMs,
    /// `retry-after` in seconds.
    RetryAfterSeconds,
    /// `retry-after` as an HTTP-date.
    RetryAfterDate,
    /// IETF `RateLimit: ...;t=N`.
    IetfT,
    /// The reset of a dimension whose `remaining` is 0.
    ExhaustedReset,
}

impl HintSource {
    /// Human label.
    pub fn label(self) -> &'static str {
        match self {
            HintSource::RetryAfterMs => "retry-after-ms",
            HintSource::RetryAfterSeconds => "retry-after (seconds)",
            HintSource::RetryAfterDate => "retry-after (HTTP-date)",
            HintSource::IetfT => "RateLimit t",
            HintSource::ExhaustedReset => "reset of an exhausted limit",
        }
    }
}

/// A wait the response advises.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hint {
    /// Which header said it.
    pub source: HintSource,
    /// How long, from the response.
    pub wait: Duration,
}

/// A wait in seconds as a duration; negative waits are zero, non-finite ones are ignored (zero).
fn secs(s: f64) -> Duration {
    if s.is_finite() {
        Duration::from_secs_f64(s.clamp(0.0, 1e9))
    } else {
        Duration::ZERO
    }
}

/// The wait one `retry-after` or `retry-after-ms` header gives, if it is one and it parses.
pub fn retry_after_hint(h: &RateHeader, now_unix: f64) -> Option<Hint> {
    if h.family != Family::RetryAfter {
        return None;
    }
    let (source, wait) = match h.parsed {
        Parsed::Seconds { value } if h.name.ends_with("-ms") => {
            (HintSource::RetryAfterMs, secs(value))
        }
        Parsed::Seconds { value } => (HintSource::RetryAfterSeconds, secs(value)),
        Parsed::At { unix } => (HintSource::RetryAfterDate, secs(unix - now_unix)),
        _ => return None,
    };
    Some(Hint { source, wait })
}

/// Reads the advised wait, in precedence order: `retry-after-ms`, `Retry-After` (seconds or
/// HTTP-date), IETF `RateLimit` `t`, then the reset of a dimension whose `remaining` is 0.
/// `now_unix` turns absolute times into waits; waits in the past count as zero.
pub fn wait_hint(ex: &Exchange, now_unix: f64) -> Option<Hint> {
    let until = |unix: f64| secs(unix - now_unix);
    let mut best: Option<Hint> = None;
    let mut offer = |source: HintSource, wait: Duration| {
        if best.is_none_or(|b| source < b.source) {
            best = Some(Hint { source, wait });
        }
    };
    for h in &ex.rate_headers {
        if let Some(hint) = retry_after_hint(h, now_unix) {
            offer(hint.source, hint.wait);
            continue;
        }
        if let (Family::Ietf, Parsed::Policies { items }) = (h.family, &h.parsed)
            && h.role == Role::Status
            // The policy with the least left is the one that binds.
            && let Some(t) = items
                .iter()
                .filter(|p| p.amount <= 0)
                .filter_map(|p| p.t)
                .max()
                .or_else(|| items.iter().filter_map(|p| p.t).min())
        {
            offer(HintSource::IetfT, secs(t as f64));
        }
    }
    // The reset of an exhausted dimension: `remaining` 0 and a reset for the same scope and unit.
    for r in ex.rate_headers.iter().filter(|h| h.exhausted()) {
        let reset = ex.rate_headers.iter().find(|h| {
            h.role == Role::Reset && h.family == r.family && h.scope == r.scope && h.unit == r.unit
        });
        match reset.map(|h| &h.parsed) {
            Some(Parsed::Seconds { value }) => offer(HintSource::ExhaustedReset, secs(*value)),
            Some(Parsed::At { unix }) => offer(HintSource::ExhaustedReset, until(*unix)),
            _ => {}
        }
    }
    best
}

/// How to wait when the response gives no advice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// Never retry, never pause: the behaviour of every other load generator, for comparison.
    None,
    /// `U(0, min(cap, base·2^n))`: AWS's recommendation, the fewest calls under contention.
    FullJitter,
    /// `v/2 + U(0, v/2)` with `v = min(cap, base·2^n)`.
    EqualJitter,
    /// `min(cap, base·2^n)`, no jitter: synchronised retries, kept to show why jitter matters.
    Exponential,
}

/// Backoff settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The formula for waits without advice; `None` disables retries and pauses.
    pub policy: Policy,
    /// First wait.
    pub base: Duration,
    /// Longest computed wait.
    pub cap: Duration,
    /// Longest advised wait honoured; longer advice is flagged, and the request is not retried.
    pub max_hint: Duration,
    /// Retries per logical request.
    pub max_retries: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            policy: Policy::FullJitter,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(30),
            max_hint: Duration::from_mins(2),
            max_retries: 3,
        }
    }
}

impl Backoff {
    /// The computed wait before retry `attempt` (from 0), given a uniform sample `u` in [0, 1).
    pub fn computed(&self, attempt: u32, u: f64) -> Duration {
        let expo = self
            .base
            .saturating_mul(2u32.saturating_pow(attempt.min(30)))
            .min(self.cap);
        let u = u.clamp(0.0, 1.0);
        match self.policy {
            Policy::None => Duration::ZERO,
            Policy::FullJitter => expo.mul_f64(u),
            Policy::EqualJitter => expo / 2 + (expo / 2).mul_f64(u),
            Policy::Exponential => expo,
        }
    }

    /// The wait to use: the advice (clamped to `max_hint`, flagged when it was) or the formula.
    pub fn delay(&self, hint: Option<Hint>, attempt: u32, u: f64) -> (Duration, bool) {
        match hint {
            Some(h) if h.wait > self.max_hint => (self.max_hint, true),
            Some(h) => (h.wait, false),
            None => (self.computed(attempt, u), false),
        }
    }
}

/// Whether a response is worth retrying, and whether it is a throttle (which pauses dispatch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A complete 2xx.
    Success,
    /// 429 or 529: retry after the advised wait, and slow every worker down.
    Throttled,
    /// 408, 409, 5xx, a timeout or a refused connection: retry with backoff.
    Transient,
    /// Anything else (400, 401, 404, a cut stream — never retried once started): give up.
    Fatal,
}

/// Classifies an exchange for the retry decision.
pub fn verdict(ex: &Exchange) -> Verdict {
    if let Some(f) = &ex.failure {
        return match f.kind {
            FailureKind::Connect | FailureKind::Timeout if ex.status.is_none() => {
                Verdict::Transient
            }
            _ => Verdict::Fatal,
        };
    }
    match ex.status {
        Some(s) if (200..300).contains(&s) => Verdict::Success,
        Some(429 | 529) => Verdict::Throttled,
        Some(408 | 409 | 500 | 502 | 503 | 504) => Verdict::Transient,
        _ => Verdict::Fatal,
    }
}

/// Retries allowed as a share of recent requests plus a floor, so retries never multiply the
/// load on a target that is already failing (Finagle's and Envoy's 20 %).
///
/// Counts are kept in 100 ms buckets over the ttl, so memory does not grow with the rate.
#[derive(Debug, Clone)]
pub struct RetryBudget {
    /// Share of recent requests that may be retried.
    pub percent: f64,
    /// Retries always allowed per `ttl`, however few requests were sent.
    pub floor: u32,
    /// How long a request counts as recent.
    pub ttl: Duration,
    /// (bucket, requests, retries), oldest first.
    buckets: VecDeque<(u64, u64, u64)>,
    requests: u64,
    retries: u64,
}

/// Width of one budget bucket.
const BUCKET: Duration = Duration::from_millis(100);

impl RetryBudget {
    /// A budget of `percent` of the requests in the last `ttl`, plus `floor`.
    pub fn new(percent: f64, floor: u32, ttl: Duration) -> Self {
        RetryBudget {
            percent,
            floor,
            ttl,
            buckets: VecDeque::new(),
            requests: 0,
            retries: 0,
        }
    }

    fn bucket(now: Duration) -> u64 {
        u64::try_from(now.as_millis() / BUCKET.as_millis()).unwrap_or(u64::MAX)
    }

    /// Drops buckets older than the ttl and returns the current one.
    fn current(&mut self, now: Duration) -> &mut (u64, u64, u64) {
        let b = Self::bucket(now);
        let keep = u64::try_from(self.ttl.as_millis() / BUCKET.as_millis()).unwrap_or(u64::MAX);
        while self
            .buckets
            .front()
            .is_some_and(|(old, _, _)| b.saturating_sub(*old) >= keep)
        {
            if let Some((_, req, ret)) = self.buckets.pop_front() {
                self.requests -= req;
                self.retries -= ret;
            }
        }
        if self.buckets.back().is_none_or(|(last, _, _)| *last != b) {
            self.buckets.push_back((b, 0, 0));
        }
        self.buckets.back_mut().expect("a bucket was just pushed")
    }

    /// Records a first attempt at `now` (time since the run started).
    pub fn deposit(&mut self, now: Duration) {
        self.current(now).1 += 1;
        self.requests += 1;
    }

    /// Takes one retry if the budget allows it.
    pub fn withdraw(&mut self, now: Duration) -> bool {
        self.current(now);
        let allowed = f64::from(self.floor) + self.percent * self.requests as f64;
        if (self.retries as f64) < allowed {
            self.current(now).2 += 1;
            self.retries += 1;
            true
        } else {
            false
        }
    }
}

impl Default for RetryBudget {
    fn default() -> Self {
        RetryBudget::new(0.2, 10, Duration::from_secs(10))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::{Endpoint, Mode, Variant};
    use crate::http::Shape;

    fn ex(status: u16, headers: &[(&str, &str)]) -> Exchange {
        let chat = Variant {
            endpoint: Endpoint::Chat,
            mode: Mode::NonStreaming,
        };
        Exchange::recorded(chat, status, Shape::Error, headers)
    }

    #[test]
    fn hints_follow_precedence() {
        let now = 1_800_000_000.0;
        let all = ex(
            429,
            &[
                ("retry-after", "7"),
                ("retry-after-ms", "1500"),
                ("ratelimit", "\"default\";r=0;t=9"),
            ],
        );
        assert_eq!(
            wait_hint(&all, now),
            Some(Hint {
                source: HintSource::RetryAfterMs,
                wait: Duration::from_millis(1500)
            })
        );
        let secs = ex(
            429,
            &[("retry-after", "7"), ("ratelimit", "\"default\";r=0;t=9")],
        );
        assert_eq!(wait_hint(&secs, now).unwrap().wait, Duration::from_secs(7));
        let date =
            httpdate::fmt_http_date(std::time::UNIX_EPOCH + Duration::from_secs_f64(now + 12.0));
        let dated = ex(429, &[("retry-after", date.as_str())]);
        let h = wait_hint(&dated, now).unwrap();
        assert_eq!(h.source, HintSource::RetryAfterDate);
        assert_eq!(h.wait, Duration::from_secs(12));
        let ietf = ex(429, &[("ratelimit", "\"default\";r=0;t=9")]);
        assert_eq!(
            wait_hint(&ietf, now),
            Some(Hint {
                source: HintSource::IetfT,
                wait: Duration::from_secs(9)
            })
        );
        let reset = ex(
            429,
            &[
                ("x-ratelimit-remaining-requests", "0"),
                ("x-ratelimit-reset-requests", "6m0s"),
                ("x-ratelimit-remaining-tokens", "100"),
                ("x-ratelimit-reset-tokens", "1s"),
            ],
        );
        assert_eq!(
            wait_hint(&reset, now),
            Some(Hint {
                source: HintSource::ExhaustedReset,
                wait: Duration::from_mins(6)
            })
        );
        assert_eq!(wait_hint(&ex(429, &[]), now), None);
    }

    #[test]
    fn waits_are_clamped_and_jittered() {
        let b = Backoff {
            max_hint: Duration::from_mins(1),
            ..Backoff::default()
        };
        let long = Hint {
            source: HintSource::RetryAfterSeconds,
            wait: Duration::from_hours(1),
        };
        assert_eq!(b.delay(Some(long), 0, 0.5), (Duration::from_mins(1), true));
        assert_eq!(b.computed(0, 1.0), Duration::from_millis(500));
        assert_eq!(b.computed(3, 0.5), Duration::from_secs(2));
        assert_eq!(b.computed(20, 1.0), Duration::from_secs(30));
        let equal = Backoff {
            policy: Policy::EqualJitter,
            ..b
        };
        assert_eq!(equal.computed(1, 0.0), Duration::from_millis(500));
    }

    #[test]
    fn budget_allows_a_share_plus_a_floor() {
        let mut b = RetryBudget::new(0.2, 2, Duration::from_secs(10));
        let t = Duration::from_secs(1);
        for _ in 0..10 {
            b.deposit(t);
        }
        let granted = (0..10).filter(|_| b.withdraw(t)).count();
        assert_eq!(granted, 4); // 2 + 20 % of 10
        // Old requests stop counting after the ttl.
        assert!(!b.withdraw(Duration::from_secs(5)));
        assert!(b.withdraw(Duration::from_secs(30)));
    }

    #[test]
    fn only_worthwhile_responses_are_retried() {
        assert_eq!(verdict(&ex(200, &[])), Verdict::Success);
        assert_eq!(verdict(&ex(429, &[])), Verdict::Throttled);
        assert_eq!(verdict(&ex(503, &[])), Verdict::Transient);
        assert_eq!(verdict(&ex(400, &[])), Verdict::Fatal);
        assert_eq!(verdict(&ex(401, &[])), Verdict::Fatal);
    }
}
