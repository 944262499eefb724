//! `--pace headers`: stay under the limit by reading it, instead of finding it with 429s.
//!
//! The last response's `remaining` (requests) and reset say how many requests the window still
//! admits and when it refills; sends are spaced so that what is left lasts until the reset, and
//! held entirely while everything left is already in flight. Without a reset header (LiteLLM's
//! descriptor counters have none) the window is taken to be a minute, the unit of `rpm`.

use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::headers::{Family, Parsed, Role};
use crate::http::Exchange;

/// Whether and how to pace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Pace {
    /// Send on schedule; find the limit by its refusals.
    None,
    /// Hold sends back so that `remaining` lasts until the reset.
    Headers,
}

/// The window assumed when a response gives `remaining` but no reset.
const DEFAULT_WINDOW: Duration = Duration::from_mins(1);

/// What the last response said about the request quota.
#[derive(Debug, Clone, Default)]
pub struct Pacer {
    remaining: Option<i64>,
    reset_at: Option<Instant>,
    last_send: Option<Instant>,
}

impl Pacer {
    /// Learns from a response that arrived at `now` (`now_unix` for absolute resets).
    pub fn observe(&mut self, ex: &Exchange, now: Instant, now_unix: f64) {
        let requests = |role: Role| {
            ex.rate_headers
                .iter()
                .filter(move |h| h.role == role && h.unit.as_deref() == Some("requests"))
        };
        if let Some(r) =
            requests(Role::Remaining).find_map(super::super::headers::RateHeader::count)
        {
            self.remaining = Some(r);
            self.reset_at = requests(Role::Reset)
                .find_map(|h| match h.parsed {
                    Parsed::Seconds { value } => Some(value),
                    Parsed::At { unix } => Some(unix - now_unix),
                    _ => None,
                })
                .filter(|s| s.is_finite())
                .map(|s| now + Duration::from_secs_f64(s.clamp(0.0, 86_400.0)))
                .or(Some(now + DEFAULT_WINDOW));
        }
        // IETF `RateLimit: "p";r=..;t=..` carries both in one header.
        for h in ex
            .rate_headers
            .iter()
            .filter(|h| h.family == Family::Ietf && h.role == Role::Status)
        {
            if let Parsed::Policies { items } = &h.parsed
                && let Some(p) = items.iter().min_by_key(|p| p.amount)
            {
                self.remaining = Some(p.amount);
                self.reset_at =
                    p.t.map(|t| now + Duration::from_secs(t.max(0).unsigned_abs()));
            }
        }
    }

    /// When the next send may go, if not now; records `now` as a send when it may.
    /// `in_flight` requests already sent since the last response are counted against what is
    /// left only when nothing else is known about them.
    pub fn hold_until(&mut self, now: Instant, in_flight: usize) -> Option<Instant> {
        // Once the advertised reset has passed the quota is back; the next response says how
        // much of it is left.
        if self.reset_at.is_some_and(|r| r <= now) {
            self.remaining = None;
            self.reset_at = None;
        }
        let Some(remaining) = self.remaining else {
            self.last_send = Some(now);
            return None;
        };
        let reset_at = self.reset_at.unwrap_or(now + DEFAULT_WINDOW);
        // `remaining` already counts down with every send since the last response.
        let left = if self.last_send.is_some() {
            remaining
        } else {
            remaining - i64::try_from(in_flight).unwrap_or(i64::MAX)
        };
        if left <= 0 {
            return Some(reset_at);
        }
        let spacing = (reset_at - now) / u32::try_from(left).unwrap_or(u32::MAX);
        if let Some(last) = self.last_send
            && now < last + spacing
        {
            return Some(last + spacing);
        }
        self.last_send = Some(now);
        // The quota moves with every send; the next response corrects the estimate.
        self.remaining = Some(remaining - 1);
        None
    }
}
