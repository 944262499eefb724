//! What a user asks of a load run, from flags or from a scenario's `load` step, and the one
//! place its defaults and limits live: [`LoadSpec::resolve`] turns it into [`LoadOptions`].

use std::time::Duration;

use super::backoff::{Backoff, Policy};
use super::options::{Arrival, LoadOptions, mix};
use super::pace::Pace;
use super::threshold::Condition;
use crate::endpoint::Endpoint;
use crate::settings::{self, Setting};

/// How long a run sends when neither a duration nor a request count is given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);
/// The open loop's in-flight cap when `concurrency` does not set one.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 256;
/// `max_tokens` per request.
pub const DEFAULT_MAX_TOKENS: u32 = 16;
/// Prompt length in characters.
pub const DEFAULT_PROMPT_CHARS: usize = 16;
/// Retries allowed as a share of the last 10 s of requests.
pub const DEFAULT_RETRY_BUDGET: f64 = 0.2;
/// Retries always allowed per 10 s, whatever the share.
pub const RETRY_BUDGET_FLOOR: u32 = 10;
/// Share of attempts that may fail, throttles aside, before a run fails.
pub const DEFAULT_MAX_ERROR_RATE: f64 = 0.05;
/// How long requests in flight when `duration` ends may finish before they are abandoned.
/// Long enough for a typical short completion or stream, short enough that a gateway that
/// holds streams open cannot stretch a 10 s run into minutes.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// A load run as asked for; `None` takes the default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadSpec {
    /// Open loop: requests per second.
    pub rate: Option<f64>,
    /// With `rate`: exponential gaps instead of even spacing.
    pub poisson: bool,
    /// Closed loop: workers; with `rate`: the in-flight cap.
    pub concurrency: Option<usize>,
    /// Stop sending after this long (default [`DEFAULT_DURATION`] unless `requests` is set).
    pub duration: Option<Duration>,
    /// With `duration`: how long requests in flight at its end may finish (default
    /// [`DEFAULT_GRACE`]).
    pub grace: Option<Duration>,
    /// Stop sending after this many logical requests.
    pub requests: Option<u64>,
    /// Endpoints in equal shares (default chat).
    pub endpoints: Option<Vec<Endpoint>>,
    /// Share of requests streamed, 0 to 1 (default 0).
    pub stream_fraction: Option<f64>,
    /// `max_tokens` per request.
    pub max_tokens: Option<u32>,
    /// Prompt length in characters.
    pub prompt_chars: Option<usize>,
    /// How to wait when a refusal gives no advice.
    pub backoff: Option<Policy>,
    /// Retries per request.
    pub max_retries: Option<u32>,
    /// First computed backoff wait.
    pub backoff_base: Option<Duration>,
    /// Longest computed backoff wait.
    pub backoff_cap: Option<Duration>,
    /// Longest advised wait honoured.
    pub max_wait: Option<Duration>,
    /// Retries as a share of recent requests, 0 to 10.
    pub retry_budget: Option<f64>,
    /// Proactive pacing from the headers.
    pub pace: Option<Pace>,
    /// Thresholds that fail the run when they hold.
    pub fail_if: Vec<Condition>,
    /// Seed for arrivals, the mix and jitter (default 1).
    pub seed: Option<u64>,
    /// Warnings fail the run too.
    pub strict: bool,
    /// Share of attempts that may fail, throttles aside (default 5 %).
    pub max_error_rate: Option<f64>,
    /// The shard of a split test this run is: its exact share of the whole.
    pub segment: Option<super::segment::Segment>,
}

/// Why a spec cannot run. `field` is the scenario key; flags spell it `--field-name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpecError {
    /// Neither a rate nor a concurrency: nothing says how to send.
    NoArrival,
    /// One value is out of range.
    Field {
        /// The key, as a scenario writes it (`stream_fraction`).
        field: &'static str,
        /// What is wrong, completing "`field` …".
        problem: String,
    },
}

/// `value` kept to `setting`'s rule: the rule its flag and its scenario key are read by.
fn keep(setting: &Setting, value: Option<f64>) -> Result<(), SpecError> {
    match value.and_then(|v| setting.rule.check_number(v)) {
        Some(problem) => Err(SpecError::Field {
            field: setting.key_name(),
            problem,
        }),
        None => Ok(()),
    }
}

impl LoadSpec {
    /// The options to run with, for `model` (and `embedding_model`, default `model`).
    pub fn resolve(
        &self,
        model: String,
        embedding_model: Option<String>,
    ) -> Result<LoadOptions, SpecError> {
        let arrival = self.arrival()?;
        let duration = match (self.duration, self.requests) {
            (Some(d), _) => Some(d),
            (None, Some(_)) => None,
            (None, None) => Some(DEFAULT_DURATION),
        };
        let secs = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
        let fraction = self.stream_fraction.unwrap_or(0.0);
        let budget = self.retry_budget.unwrap_or(DEFAULT_RETRY_BUDGET);
        for (setting, value) in [
            (&settings::LOAD_DURATION, secs(duration)),
            (&settings::LOAD_REQUESTS, self.requests.map(|n| n as f64)),
            (&settings::LOAD_STREAM_FRACTION, Some(fraction)),
            (&settings::LOAD_MAX_ERROR_RATE, self.max_error_rate),
            (&settings::LOAD_RETRY_BUDGET, Some(budget)),
            (&settings::LOAD_BACKOFF_BASE, secs(self.backoff_base)),
            (&settings::LOAD_BACKOFF_CAP, secs(self.backoff_cap)),
        ] {
            keep(setting, value)?;
        }
        let endpoints = self
            .endpoints
            .clone()
            .unwrap_or_else(|| vec![Endpoint::Chat]);
        let mix = mix(&endpoints, fraction);
        if mix.is_empty() {
            return Err(SpecError::Field {
                field: "endpoints",
                problem: "is empty".into(),
            });
        }
        let d = Backoff::default();
        let mut opts = LoadOptions {
            arrival,
            max_in_flight: self
                .concurrency
                .filter(|_| self.rate.is_some())
                .unwrap_or(DEFAULT_MAX_IN_FLIGHT),
            duration,
            grace: self.grace.unwrap_or(DEFAULT_GRACE),
            requests: self.requests,
            mix,
            embedding_model: embedding_model.unwrap_or_else(|| model.clone()),
            model,
            max_tokens: self.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
            prompt_chars: self.prompt_chars.unwrap_or(DEFAULT_PROMPT_CHARS),
            backoff: Backoff {
                policy: self.backoff.unwrap_or(d.policy),
                base: self.backoff_base.unwrap_or(d.base),
                cap: self.backoff_cap.unwrap_or(d.cap),
                max_hint: self.max_wait.unwrap_or(d.max_hint),
                max_retries: self.max_retries.unwrap_or(d.max_retries),
            },
            budget_percent: budget,
            budget_floor: RETRY_BUDGET_FLOOR,
            pace: self.pace.unwrap_or(Pace::None),
            fail_if: self.fail_if.clone(),
            strict: self.strict,
            max_error_rate: self.max_error_rate.unwrap_or(DEFAULT_MAX_ERROR_RATE),
            seed: self.seed.unwrap_or(1),
            segment: None,
            first_send: Duration::ZERO,
            whole: None,
            test_id: String::new(),
        };
        if let Some(segment) = self.segment {
            opts.split(segment).map_err(|problem| SpecError::Field {
                field: "segment",
                problem,
            })?;
        }
        Ok(opts)
    }

    fn arrival(&self) -> Result<Arrival, SpecError> {
        keep(&settings::LOAD_RATE, self.rate)?;
        keep(
            &settings::LOAD_CONCURRENCY,
            self.concurrency.map(|n| n as f64),
        )?;
        match (self.rate, self.concurrency) {
            (Some(rate), _) if self.poisson => Ok(Arrival::Poisson { rate }),
            (Some(rate), _) => Ok(Arrival::Constant { rate }),
            (None, Some(concurrency)) => Ok(Arrival::Closed { concurrency }),
            (None, None) => Err(SpecError::NoArrival),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_limits() {
        let spec = LoadSpec {
            rate: Some(5.0),
            ..LoadSpec::default()
        };
        let o = spec.resolve("m".into(), None).unwrap();
        assert_eq!(o.duration, Some(DEFAULT_DURATION));
        assert_eq!(o.max_in_flight, DEFAULT_MAX_IN_FLIGHT);
        assert_eq!(o.embedding_model, "m");
        assert_eq!(o.backoff, Backoff::default());
        let closed = LoadSpec {
            concurrency: Some(4),
            requests: Some(10),
            ..LoadSpec::default()
        };
        let o = closed.resolve("m".into(), None).unwrap();
        assert_eq!(o.arrival, Arrival::Closed { concurrency: 4 });
        assert_eq!(o.duration, None);
        assert!(matches!(
            LoadSpec::default().resolve("m".into(), None),
            Err(SpecError::NoArrival)
        ));
        let bad = LoadSpec {
            rate: Some(f64::NAN),
            ..LoadSpec::default()
        };
        assert!(matches!(
            bad.resolve("m".into(), None),
            Err(SpecError::Field { field: "rate", .. })
        ));
    }
}
