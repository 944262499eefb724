//! Everything a load run needs, resolved: the arrival model, the mix, backoff, pacing,
//! thresholds and, for a shard, its segment of the whole test. [`spec`](super::spec) makes
//! them from flags and scenarios; the engine only reads them.

use std::fmt::Write as _;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::backoff::Backoff;
use super::pace::Pace;
use super::segment::{Segment, Start};
use super::threshold;
use crate::endpoint::{Endpoint, Mode, Variant};

/// When requests are sent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum Arrival {
    /// Open loop: evenly spaced at `rate` per second, whatever the responses do.
    Constant {
        /// Requests per second.
        rate: f64,
    },
    /// Open loop: exponential gaps averaging `rate` per second (bursty, like real users).
    Poisson {
        /// Requests per second, on average.
        rate: f64,
    },
    /// Closed loop: `concurrency` workers, each sending when its previous request is done.
    Closed {
        /// Workers.
        concurrency: usize,
    },
}

/// One entry of the request mix.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MixEntry {
    /// Endpoint and shape.
    pub variant: Variant,
    /// Relative weight.
    pub weight: f64,
}

/// Everything a load run needs.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Arrival model.
    pub arrival: Arrival,
    /// Most logical requests in flight in the open loop; slots beyond it are dropped.
    pub max_in_flight: usize,
    /// Stop dispatching after this long.
    pub duration: Option<Duration>,
    /// After `duration`: how long requests in flight may finish before they are abandoned.
    pub grace: Duration,
    /// Stop dispatching after this many logical requests.
    pub requests: Option<u64>,
    /// What to send.
    pub mix: Vec<MixEntry>,
    /// Model for generation endpoints.
    pub model: String,
    /// Model for embeddings.
    pub embedding_model: String,
    /// `max_tokens` per request.
    pub max_tokens: u32,
    /// Prompt length in characters.
    pub prompt_chars: usize,
    /// Backoff and retries.
    pub backoff: Backoff,
    /// Retry budget: share of recent requests, and floor per ttl.
    pub budget_percent: f64,
    /// Retries always allowed per 10 s.
    pub budget_floor: u32,
    /// Proactive pacing from the headers.
    pub pace: Pace,
    /// Thresholds evaluated on the finished report; one that holds fails the run.
    pub fail_if: Vec<threshold::Condition>,
    /// Warnings fail the run too.
    pub strict: bool,
    /// Share of attempts that may fail (throttles aside) before the run fails.
    pub max_error_rate: f64,
    /// Seed for arrivals, the mix and jitter: the same seed gives the same schedule.
    pub seed: u64,
    /// The shard of a split test this run is, if it is one.
    pub segment: Option<Segment>,
    /// Open loop, evenly spaced: when the first request is sent after the start (a shard's
    /// stripe of the whole test's schedule); zero otherwise.
    pub first_send: Duration,
    /// For a shard: the whole test, as asked for before the split.
    pub whole: Option<Whole>,
    /// The test this run is (a shard of), as its raw result names it.
    pub test_id: String,
}

/// The mix for `endpoints` in equal shares, `stream_fraction` of each streamed where it can be.
pub fn mix(endpoints: &[Endpoint], stream_fraction: f64) -> Vec<MixEntry> {
    let mut out = Vec::new();
    for &endpoint in endpoints {
        let f = if endpoint.streams() {
            stream_fraction.clamp(0.0, 1.0)
        } else {
            0.0
        };
        for (mode, weight) in [(Mode::NonStreaming, 1.0 - f), (Mode::Streaming, f)] {
            if weight > 0.0 {
                out.push(MixEntry {
                    variant: Variant { endpoint, mode },
                    weight,
                });
            }
        }
    }
    out
}

/// The whole test a shard is part of: what it asked for before the split, for the merged
/// report to say.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Whole {
    /// The arrival model of the whole test.
    pub arrival: Arrival,
    /// Its in-flight cap.
    pub max_in_flight: usize,
    /// Its request count.
    pub requests: Option<u64>,
    /// Its seed.
    pub seed: u64,
}

impl LoadOptions {
    /// These options cut down to `seg`'s share of the whole test. Fails when the shard would
    /// be left with no worker or no request, which no split of fewer than N can avoid.
    pub fn split(&mut self, seg: Segment) -> Result<(), String> {
        let opts = self;
        let n = f64::from(seg.count);
        let k = f64::from(seg.index);
        opts.whole = Some(Whole {
            arrival: opts.arrival,
            max_in_flight: opts.max_in_flight,
            requests: opts.requests,
            seed: opts.seed,
        });
        match opts.arrival {
            Arrival::Closed { concurrency } => {
                let mine = seg.share(u64::try_from(concurrency).unwrap_or(u64::MAX));
                if mine == 0 {
                    return Err(format!(
                        "{seg} would run no worker: `concurrency` {concurrency} is less than {} shards",
                        seg.count
                    ));
                }
                opts.arrival = Arrival::Closed {
                    concurrency: usize::try_from(mine).unwrap_or(usize::MAX),
                };
            }
            Arrival::Constant { rate } => {
                opts.arrival = Arrival::Constant { rate: rate / n };
                // The stripe: the whole test's schedule is every 1/rate; this shard's sends
                // are the K-th of every N.
                opts.first_send = Duration::from_secs_f64((k - 1.0) / rate.max(1e-9));
            }
            Arrival::Poisson { rate } => {
                opts.arrival = Arrival::Poisson { rate: rate / n };
            }
        }
        let cap = seg
            .share(u64::try_from(opts.max_in_flight).unwrap_or(u64::MAX))
            .max(1);
        opts.max_in_flight = usize::try_from(cap).unwrap_or(usize::MAX);
        if let Some(total) = opts.requests {
            let mine = seg.share(total);
            if mine == 0 {
                return Err(format!(
                    "{seg} would send no request: `requests` {total} is less than {} shards",
                    seg.count
                ));
            }
            opts.requests = Some(mine);
        }
        // Each shard its own arrivals, mix and jitter; the same seed and segment give the same
        // schedule again.
        opts.seed = opts
            .seed
            .wrapping_add(u64::from(seg.index - 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        opts.segment = Some(seg);
        Ok(())
    }

    /// The id of the test these options are (a shard of), when none is given: a digest of
    /// the target, the whole test's settings, the shard count and the common start. Every
    /// shard of one test computes the same; a test started at another moment, or with other
    /// settings, another.
    pub fn test_id(&self, target: &str, start: Option<&Start>) -> String {
        let opts = self;
        let whole = opts.whole.unwrap_or(Whole {
            arrival: opts.arrival,
            max_in_flight: opts.max_in_flight,
            requests: opts.requests,
            seed: opts.seed,
        });
        let mix: Vec<String> = opts
            .mix
            .iter()
            .map(|m| format!("{} {}", m.weight, m.variant))
            .collect();
        let text = format!(
            "{target}|{whole:?}|{:?}|{:?}|{mix:?}|{:?}|{}|{:?}|{}|{}|{:?}|{:?}",
            opts.duration,
            opts.grace,
            opts.backoff,
            opts.budget_percent,
            opts.pace,
            opts.model,
            opts.max_tokens,
            opts.segment.map(|s| s.count),
            start.map(Start::unix_seconds)
        );
        let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
        digest.as_ref()[..8]
            .iter()
            .fold(String::new(), |mut hex, b| {
                let _ = write!(hex, "{b:02x}");
                hex
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn even_arrivals_are_striped_over_the_shards() {
        // 40 requests per second over 4 shards: 10 each, the shards a quarter-gap apart.
        let starts: Vec<Duration> = (1..=4)
            .map(|k| {
                let mut o = LoadOptions {
                    arrival: Arrival::Constant { rate: 40.0 },
                    ..LoadOptions::default()
                };
                o.split(Segment::new(k, 4).unwrap()).unwrap();
                assert_eq!(o.arrival, Arrival::Constant { rate: 10.0 });
                o.first_send
            })
            .collect();
        let ms: Vec<u128> = starts.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [0, 25, 50, 75]);
        let mut o = LoadOptions {
            arrival: Arrival::Closed { concurrency: 3 },
            ..LoadOptions::default()
        };
        assert!(o.split(Segment::new(1, 4).unwrap()).is_err());
    }
}
