//! What one answer says about the limiter: its exact-window counters (requests, tokens,
//! requests in flight), and for a refusal, which limit refused, whose refusal it is and what it
//! advises.

use std::time::Duration;

use serde::Serialize;

use crate::headers::{Family, RateHeader, Role, Semantics};
use crate::http::Exchange;
use crate::load::backoff::wait_hint;
use crate::probe::analyze::is_litellm;

/// One exact-window counter as an answer showed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Counter {
    /// The `remaining` header read.
    pub header: String,
    /// Its value.
    pub remaining: i64,
    /// The limit of the same dimension, when sent.
    pub limit: Option<i64>,
}

/// The limiter's counters on one answer: only the gateway's own exact fixed windows (LiteLLM's
/// descriptors, its legacy limiter's bare names), whose motion between two answers is exact.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Reading {
    /// Requests left in the window.
    pub requests: Option<Counter>,
    /// Tokens left in the window.
    pub tokens: Option<Counter>,
    /// Requests that may still be in flight (`max_parallel_requests`).
    pub parallel: Option<Counter>,
}

/// Scopes in order of preference: the key's own counters before a user's or a team's.
const SCOPES: [&str; 4] = ["api_key", "openai", "user", "team"];

impl Reading {
    /// The counters on `ex`.
    pub fn of(ex: &Exchange) -> Reading {
        let litellm = is_litellm(std::slice::from_ref(ex));
        let own: Vec<&RateHeader> = ex
            .rate_headers
            .iter()
            .filter(|h| !h.passthrough && Semantics::of(h, litellm) == Semantics::ExactWindow)
            .collect();
        let counter = |unit: &str| -> Option<Counter> {
            let of_unit = |role: Role| {
                own.iter()
                    .filter(move |h| h.role == role && h.unit.as_deref() == Some(unit))
            };
            let remaining = of_unit(Role::Remaining)
                .filter(|h| h.count().is_some())
                .min_by_key(|h| {
                    SCOPES
                        .iter()
                        .position(|s| *s == h.scope)
                        .unwrap_or(SCOPES.len())
                })?;
            let limit = of_unit(Role::Limit)
                .find(|l| l.scope == remaining.scope)
                .and_then(|l| l.count());
            Some(Counter {
                header: remaining.name.clone(),
                remaining: remaining.count()?,
                limit,
            })
        };
        Reading {
            requests: counter("requests"),
            tokens: counter("tokens"),
            parallel: counter("max_parallel_requests"),
        }
    }

    /// Requests left, if shown.
    pub fn requests_left(&self) -> Option<i64> {
        self.requests.as_ref().map(|c| c.remaining)
    }

    /// Tokens left, if shown.
    pub fn tokens_left(&self) -> Option<i64> {
        self.tokens.as_ref().map(|c| c.remaining)
    }

    /// Slots left, if shown.
    pub fn slots_left(&self) -> Option<i64> {
        self.parallel.as_ref().map(|c| c.remaining)
    }
}

/// Which limit a refusal names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitType {
    /// Requests per window.
    Requests,
    /// Tokens per window.
    Tokens,
    /// Requests in flight at once.
    MaxParallelRequests,
    /// The refusal does not say (LiteLLM's legacy limiter: "Crossed TPM / RPM / Max Parallel
    /// Request Limit").
    Unnamed,
}

impl LimitType {
    /// As LiteLLM names it.
    pub fn name(self) -> &'static str {
        match self {
            LimitType::Requests => "requests",
            LimitType::Tokens => "tokens",
            LimitType::MaxParallelRequests => "max_parallel_requests",
            LimitType::Unnamed => "unnamed",
        }
    }
}

/// Whose refusal a 429 is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// The gateway's own limiter refused the key.
    Own,
    /// The gateway's router refused because a deployment is cooling down ("No deployments
    /// available"): not the key's limit.
    Cooldown,
    /// The upstream provider's 429, passed through.
    Upstream,
}

/// A 429, read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Refusal {
    /// Which limit it names.
    pub limit: LimitType,
    /// Whose refusal it is.
    pub origin: Origin,
    /// The wait it advises (`retry-after-ms`, `retry-after`, IETF `t`, the reset of an
    /// exhausted dimension), as `header: value`.
    pub advice: Option<String>,
    /// That wait, in milliseconds.
    pub advice_ms: Option<f64>,
    /// LiteLLM's `reset_at` label: a reset time, though not one to compute with.
    pub reset_label: bool,
}

impl Refusal {
    /// Whether the refusal says anything about when to retry.
    pub fn says_when(&self) -> bool {
        self.advice.is_some() || self.reset_label
    }

    /// `ex` read as a refusal, if it is a 429.
    pub fn of(ex: &Exchange) -> Option<Refusal> {
        if ex.status != Some(429) {
            return None;
        }
        let body = ex.error_excerpt.as_deref().unwrap_or_default();
        let lower = body.to_ascii_lowercase();
        let named = ex
            .header("rate_limit_type")
            .map(str::to_string)
            .or_else(|| {
                let at = body.find("Limit type: ")? + "Limit type: ".len();
                Some(
                    body[at..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect(),
                )
            });
        let limit = match named.as_deref() {
            Some("requests") => LimitType::Requests,
            Some("tokens") => LimitType::Tokens,
            Some("max_parallel_requests") => LimitType::MaxParallelRequests,
            _ => LimitType::Unnamed,
        };
        let own_words = lower.contains("rate limit exceeded for")
            || lower.contains("limit type:")
            || lower.contains("rate limit handler")
            || ex.header("rate_limit_type").is_some();
        let origin = if lower.contains("no deployments available") || lower.contains("cooldown") {
            Origin::Cooldown
        } else if !own_words
            && (ex
                .headers
                .iter()
                .any(|(n, _)| n.starts_with("llm_provider-"))
                || lower.contains("exception"))
        {
            Origin::Upstream
        } else {
            Origin::Own
        };
        let now = jiff::Timestamp::now().as_millisecond() as f64 / 1000.0;
        let hint = wait_hint(ex, now);
        let advice = hint.map(|h| {
            let header = ex
                .rate_headers
                .iter()
                .filter(|r| matches!(r.family, Family::RetryAfter))
                .min_by_key(|r| !r.name.ends_with("-ms"))
                .map_or_else(
                    || h.source.label().to_string(),
                    |r| format!("{}: {}", r.name, r.value),
                );
            (header, h.wait)
        });
        Some(Refusal {
            limit,
            origin,
            advice_ms: advice.as_ref().map(|(_, w)| ms(*w)),
            advice: advice.map(|(h, _)| h),
            reset_label: ex.header("reset_at").is_some(),
        })
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
