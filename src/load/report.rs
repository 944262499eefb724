//! The load report: what a run asked for, what happened, and what the headers said against it.
//! Built once by the collector; reporters print it, thresholds and the exit read it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::backoff::HintSource;
use super::options::Arrival;
use super::stats::{ErrorClass, Percentiles, Second};
use super::threshold::Threshold;
use crate::verdict::{self, Exit, Finding, Outcome};

/// Layout version of the load report.
pub const SCHEMA_VERSION: u32 = 1;

/// The settings a run used, as reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// The arrival model.
    pub arrival: Arrival,
    /// Dispatch stopped after this many seconds.
    pub duration_s: Option<f64>,
    /// With a duration: seconds requests in flight at its end could finish before they were
    /// abandoned.
    pub grace_s: Option<f64>,
    /// Dispatch stopped after this many logical requests.
    pub requests: Option<u64>,
    /// The mix, as `weight × shape endpoint`.
    pub mix: Vec<String>,
    /// Backoff policy.
    pub backoff: super::backoff::Policy,
    /// Retries per logical request.
    pub max_retries: u32,
    /// Longest advised wait honoured, in seconds.
    pub max_hint_s: f64,
    /// Header pacing.
    pub pace: super::pace::Pace,
    /// Open-loop in-flight cap.
    pub max_in_flight: usize,
    /// The seed.
    pub seed: u64,
    /// Share of attempts that may fail (throttles aside) before the run fails.
    pub max_error_rate: f64,
    /// The shard of a split test this run was, its settings its share of the whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment: Option<super::segment::Segment>,
}

/// How the schedule went.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// Requests per second asked for (open loop).
    pub target_rate: Option<f64>,
    /// First attempts sent per second, over the dispatch time.
    pub achieved_rate: f64,
    /// Slots sent more than 10 ms after their intended time (still timed from it).
    pub late: u64,
    /// Slots not sent because a throttle pause was in force.
    pub held_by_pause: u64,
    /// Slots not sent because header pacing held them.
    pub held_by_pace: u64,
    /// Slots not sent because the in-flight cap was reached.
    pub dropped_at_cap: u64,
}

/// Logical requests and their attempts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Requests {
    /// Logical requests ended (first attempts).
    pub logical: u64,
    /// Ended in a complete 2xx.
    pub succeeded: u64,
    /// Ended otherwise.
    pub failed: u64,
    /// Attempts sent, retries included.
    pub attempts: u64,
    /// Retries sent.
    pub retries: u64,
    /// Successes that needed at least one retry.
    pub retried_successes: u64,
    /// Retries the budget refused.
    pub budget_exhausted: u64,
    /// In flight when the run was interrupted, or when the grace after the duration ran out:
    /// abandoned, neither successes nor failures.
    pub cancelled: u64,
    /// Time spent in backoff waits, summed over requests, in ms.
    pub waited_ms: f64,
}

/// Time distributions, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Latencies {
    /// Successful requests, from the intended send time of the first attempt to the end of the
    /// successful one: what a user waits, backoff included.
    pub from_intended: Percentiles,
    /// Successful attempts, from send to end of body.
    pub service: Percentiles,
    /// Successful attempts, from send to response headers.
    pub time_to_headers: Percentiles,
    /// Successful streams, from send to the first event.
    pub ttft: Percentiles,
    /// Gaps between consecutive events of successful streams (first 32 events of each).
    pub inter_event_gap: Percentiles,
    /// From intended send time to the first attempt's send: time held at the client.
    pub queued: Percentiles,
    /// `from_intended` as (percentile, ms) points, for plotting the distribution.
    pub curve: Vec<(f64, f64)>,
}

/// One shape's header tally.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShapeReport {
    /// `streaming chat/completions`, …
    pub variant: String,
    /// Successful responses.
    pub responses: u64,
    /// Per rate-limit header: responses that carried it.
    pub carried: BTreeMap<String, u64>,
}

/// What the headers said against what the gateway did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    /// The advertised request limit, when a response said it.
    pub limit_requests: Option<i64>,
    /// The first 429: when, the last `remaining` advertised before it, requests in flight.
    pub first_429: Option<First429>,
    /// Windows seen (a window ends when `remaining` goes up).
    pub windows: u64,
    /// Most requests accepted within one window (in a merge: by one shard).
    pub max_accepted_per_window: u64,
    /// In a merge of a split test: the shards' most accepted in one window, added up — the
    /// most the whole test can have accepted in one window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_accepted_per_window_summed: Option<u64>,
    /// Retries sent after waiting an advised time.
    pub retries_after_hint: u64,
    /// Of those, accepted.
    pub retries_after_hint_accepted: u64,
    /// 429s without any wait advice.
    pub throttles_without_hint: u64,
}

/// The first refusal.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct First429 {
    /// Milliseconds after the start.
    pub at_ms: f64,
    /// The last `remaining` (requests) advertised before it, if any.
    pub last_remaining: Option<i64>,
    /// Requests accepted after that advertisement by responses that carried no counter.
    pub accepted_since: u64,
    /// Requests in flight when it was sent.
    pub in_flight: usize,
    /// When the last `remaining` before it was read, in ms after the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining_at_ms: Option<f64>,
}

/// A merged run: the shards it was made of, and what is wrong with the set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Shards {
    /// The test's id, as every shard's raw result carries it.
    pub test_id: String,
    /// How many shards the test was split into.
    pub count: u32,
    /// The shards merged, `K/N`.
    pub merged: Vec<String>,
    /// Shards missing, given twice, from another test, interrupted or failed: each makes the
    /// merged run fail.
    pub problems: Vec<String>,
    /// The exit the problems call for.
    #[serde(skip)]
    pub exit: Exit,
}

/// Everything a load run found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadReport {
    /// Layout version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// `ratecheck X.Y.Z`.
    pub tool: String,
    /// The target, redacted.
    pub target: String,
    /// What was asked for.
    pub settings: Settings,
    /// Wall time, in ms.
    pub wall_ms: f64,
    /// The run was stopped by Ctrl-C; the numbers cover what happened until then.
    pub interrupted: bool,
    /// The schedule against what happened.
    pub schedule: Schedule,
    /// Request counts.
    pub requests: Requests,
    /// Time distributions (successes only: refusals and errors never enter them).
    pub latency: Latencies,
    /// Failed attempts by class.
    pub errors: BTreeMap<ErrorClass, u64>,
    /// For each class that failed in transport (no answer, a cut or unreadable body), the
    /// first such failure's message: what the counts above were.
    pub first_errors: BTreeMap<ErrorClass, String>,
    /// Waits advised, by source.
    pub hints: BTreeMap<HintSource, u64>,
    /// Advised waits longer than the cap, not waited for.
    pub clamped_hints: u64,
    /// Rate-limit headers carried, per shape.
    pub shapes: Vec<ShapeReport>,
    /// Headers against behaviour.
    pub truth: Truth,
    /// Defects the evidence proves; any makes the exit code at least 1.
    pub findings: Vec<Finding>,
    /// Suspicious but not proof; they make the exit code 1 only with `strict`.
    pub warnings: Vec<Finding>,
    /// Whether warnings fail the run.
    pub strict: bool,
    /// Observations.
    pub notes: Vec<String>,
    /// `--fail-if` results.
    pub thresholds: Vec<Threshold>,
    /// Per second of the run.
    pub timeline: Vec<Second>,
    /// For a merged split test: its shards.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shards: Option<Shards>,
    /// Exit code and status.
    pub outcome: Outcome,
}

impl LoadReport {
    /// The value of a `--fail-if` metric in this report.
    pub fn metric(&self, metric: &str) -> f64 {
        let report = self;
        let l = &report.latency.from_intended;
        let r = &report.requests;
        let throttles: u64 = report
            .errors
            .iter()
            .filter(|(c, _)| {
                matches!(
                    c,
                    ErrorClass::GatewayThrottle | ErrorClass::UpstreamThrottle
                )
            })
            .map(|(_, n)| n)
            .sum();
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        match metric {
            "p50_ms" => l.p50,
            "p90_ms" => l.p90,
            "p99_ms" => l.p99,
            "p999_ms" => l.p999,
            "max_ms" => l.max,
            "mean_ms" => l.mean,
            "ttft_p50_ms" => report.latency.ttft.p50,
            "ttft_p99_ms" => report.latency.ttft.p99,
            "error_rate" => ratio(r.failed, r.logical),
            "throttle_rate" => ratio(throttles, r.attempts),
            "retry_rate" => ratio(r.retries, r.attempts),
            "achieved_rps" => report.schedule.achieved_rate,
            "findings" => report.findings.len() as f64,
            _ => f64::NAN,
        }
    }

    /// How each `--fail-if` condition went on this report.
    pub fn thresholds_of(&self, conditions: &[super::threshold::Condition]) -> Vec<Threshold> {
        conditions
            .iter()
            .map(|c| c.judge(self.metric(&c.metric)))
            .collect()
    }

    /// The commonest failure class (throttles aside) and the share of attempts that failed
    /// with anything but a throttle.
    pub fn dominant_failure(&self) -> Option<(ErrorClass, f64)> {
        let failed: u64 = self
            .errors
            .iter()
            .filter(|(c, _)| !c.is_throttle())
            .map(|(_, n)| n)
            .sum();
        let (class, _) = self
            .errors
            .iter()
            .filter(|(c, _)| !c.is_throttle())
            .max_by_key(|(_, n)| **n)?;
        let share = failed as f64 / self.requests.attempts.max(1) as f64;
        Some((*class, share))
    }

    /// The exit this report maps to. Transport failures decide it when nothing succeeded, or
    /// when failures (throttles aside) exceed the allowed share and a transport failure is the
    /// commonest: then it is the exit that failure has alone. A few refused connections or
    /// timeouts within the share are what is being measured.
    pub fn exit(&self) -> Exit {
        let transport = |c: &ErrorClass| c.failure_kind().map(crate::verdict::FailureKind::exit);
        let faults: Vec<Exit> =
            if self.requests.logical == 0 && self.requests.cancelled > 0 && !self.interrupted {
                // Every request was still going when the grace ran out: nothing was measured.
                vec![Exit::Timeout]
            } else if self.requests.succeeded == 0 {
                self.errors.keys().filter_map(transport).collect()
            } else {
                self.dominant_failure()
                    .filter(|(_, share)| *share > self.settings.max_error_rate)
                    .and_then(|(class, _)| transport(&class))
                    .into_iter()
                    .collect()
            };
        let found = !self.findings.is_empty()
            || (self.strict && !self.warnings.is_empty())
            || self.thresholds.iter().any(|t| t.failed);
        let shards = self.shards.as_ref().map(|s| s.exit);
        verdict::decide(faults.into_iter().chain(shards), found)
    }
}

fn arrival(a: &Arrival) -> String {
    match a {
        Arrival::Constant { rate } => format!("open loop, {rate}/s constant"),
        Arrival::Poisson { rate } => format!("open loop, {rate}/s Poisson"),
        Arrival::Closed { concurrency } => format!("closed loop, {concurrency} workers"),
    }
}

/// "1 retry", "3 retries".
pub(crate) fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A value's serialised name (`full-jitter`, `headers`).
fn name<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

impl LoadReport {
    /// The run in a few sentences: settings, mix, schedule, requests, errors, advised waits.
    /// Reporters print them, and a scenario's `load` step keeps them as notes.
    pub fn summary_lines(&self) -> Vec<String> {
        let r = self;
        let s = &r.settings;
        let q = &r.requests;
        let mut lines = vec![
            format!(
                "{}, {}; backoff {}, up to {} retries, pacing {}",
                arrival(&s.arrival),
                match (s.duration_s, s.requests) {
                    (Some(d), Some(n)) => format!("for {d} s or {n} requests"),
                    (Some(d), None) => format!("for {d} s"),
                    (None, Some(n)) => format!("{n} requests"),
                    (None, None) => "until stopped".into(),
                },
                name(&s.backoff),
                s.max_retries,
                name(&s.pace)
            ),
            format!("mix: {}", s.mix.join(", ")),
        ];
        if let Some(sh) = &r.shards {
            lines.insert(
                0,
                format!(
                    "merged: {} of {} shards of test {} ({})",
                    sh.merged.len(),
                    sh.count,
                    sh.test_id,
                    sh.merged.join(", ")
                ),
            );
            for (i, p) in sh.problems.iter().enumerate() {
                lines.insert(1 + i, format!("shard problem: {p}"));
            }
        }
        if let Some(seg) = s.segment {
            lines.insert(
                0,
                format!(
                    "segment {seg} of a split test: the settings below are this shard's exact share"
                ),
            );
        }
        let sc = &r.schedule;
        lines.push(match sc.target_rate {
            Some(t) => format!(
                "schedule: target {t:.1}/s, achieved {:.1}/s; late {}, held by a 429 pause {}, held by pacing {}, dropped at the in-flight cap {}",
                sc.achieved_rate, sc.late, sc.held_by_pause, sc.held_by_pace, sc.dropped_at_cap
            ),
            None => format!("schedule: closed loop, achieved {:.1}/s", sc.achieved_rate),
        });
        lines.push(format!(
            "requests: {} sent, {} succeeded, {} failed; {} incl. {} ({} then succeeded); {} refused by the budget; {:.1} s spent in backoff waits{}",
            q.logical,
            q.succeeded,
            q.failed,
            count(q.attempts, "attempt", "attempts"),
            count(q.retries, "retry", "retries"),
            q.retried_successes,
            count(q.budget_exhausted, "retry", "retries"),
            q.waited_ms / 1000.0,
            match (q.cancelled, r.interrupted) {
                (0, _) => String::new(),
                (n, true) => format!("; {n} in flight at the interrupt"),
                (n, false) => format!(
                    "; {n} still in flight {} s after the duration, abandoned",
                    r.settings.grace_s.unwrap_or(0.0)
                ),
            }
        ));
        if !r.errors.is_empty() {
            let e: Vec<String> = r
                .errors
                .iter()
                .map(|(c, n)| format!("{} {n}", c.label()))
                .collect();
            lines.push(format!("errors: {}", e.join(", ")));
            for (c, message) in &r.first_errors {
                lines.push(format!("  first {}: {message}", c.label()));
            }
        }
        if !r.hints.is_empty() {
            let h: Vec<String> = r
                .hints
                .iter()
                .map(|(s, n)| format!("{} {n}", s.label()))
                .collect();
            lines.push(format!(
                "advised waits used: {}{}",
                h.join(", "),
                if r.clamped_hints > 0 {
                    format!(
                        " ({} beyond {} s, not waited for)",
                        r.clamped_hints, r.settings.max_hint_s
                    )
                } else {
                    String::new()
                }
            ));
        }
        lines
    }
}
