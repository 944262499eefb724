//! The single collector: attempt records in, a [`LoadReport`] out.
//!
//! Everything is aggregated as it arrives (histograms, counters, per-second buckets, per-shape
//! tallies, a handful of sample exchanges), so memory does not grow with the request count.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::backoff::HintSource;
use super::record::{Brief, SAMPLES_PER_SHAPE};
use super::report::{
    First429, Latencies, LoadReport, Requests, Schedule, Settings, ShapeReport, Truth,
};
use super::stats::{ErrorClass, Hist, Second, ShapeTally, tally};
use super::threshold::{self, Condition};
use super::{Arrival, LoadOptions, Record, SlotFate, truth};
use crate::endpoint::Variant;
use crate::http::Exchange;
use crate::verdict::Exit;

/// The running numbers, for the progress line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Seconds since the start.
    pub elapsed_s: f64,
    /// Attempts sent.
    pub sent: u64,
    /// Attempts per second over the run so far.
    pub rate: f64,
    /// Requests in flight now.
    pub in_flight: u64,
    /// 429s so far.
    pub throttled: u64,
    /// p99 of success latency so far, in ms.
    pub p99_ms: f64,
}

/// Aggregates records.
pub(crate) struct Collector {
    target: String,
    in_flight: Arc<AtomicUsize>,
    settings: Settings,
    from_intended: Hist,
    service: Hist,
    headers: Hist,
    ttft: Hist,
    gaps: Hist,
    queued: Hist,
    schedule: Schedule,
    requests: Requests,
    errors: BTreeMap<ErrorClass, u64>,
    hints: BTreeMap<HintSource, u64>,
    clamped: u64,
    /// The first failure message of each class that fails in transport.
    first_errors: BTreeMap<ErrorClass, String>,
    /// Set when dispatching ended early because the target was down: the streak, and the
    /// last failure's message.
    target_down: Option<(usize, String)>,
    shapes: BTreeMap<Variant, ShapeTally>,
    /// Per lane and shape: the compared rate-limit headers of the last whole success.
    carried: BTreeMap<(usize, Variant), Vec<String>>,
    timeline: Vec<Second>,
    samples: Vec<Exchange>,
    truth: Truth,
    last_remaining: Option<i64>,
    accepted_since_remaining: u64,
    window_accepted: u64,
    dispatch_end: Duration,
    fail_if: Vec<Condition>,
    strict: bool,
}

impl Collector {
    pub fn new(opts: &LoadOptions, target: String, in_flight: Arc<AtomicUsize>) -> Self {
        let settings = Settings {
            arrival: opts.arrival,
            duration_s: opts.duration.map(|d| d.as_secs_f64()),
            grace_s: opts.duration.map(|_| opts.grace.as_secs_f64()),
            requests: opts.requests,
            mix: opts
                .mix
                .iter()
                .map(|m| format!("{} × {}", m.weight, m.variant))
                .collect(),
            backoff: opts.backoff.policy,
            max_retries: opts.backoff.max_retries,
            max_hint_s: opts.backoff.max_hint.as_secs_f64(),
            pace: opts.pace,
            max_in_flight: opts.max_in_flight,
            max_error_rate: opts.max_error_rate,
            seed: opts.seed,
            segment: opts.segment,
        };
        Collector {
            target,
            in_flight,
            schedule: Schedule {
                target_rate: match opts.arrival {
                    Arrival::Constant { rate } | Arrival::Poisson { rate } => Some(rate),
                    Arrival::Closed { .. } => None,
                },
                ..Schedule::default()
            },
            settings,
            from_intended: Hist::default(),
            service: Hist::default(),
            headers: Hist::default(),
            ttft: Hist::default(),
            gaps: Hist::default(),
            queued: Hist::default(),
            requests: Requests::default(),
            errors: BTreeMap::new(),
            hints: BTreeMap::new(),
            clamped: 0,
            target_down: None,
            first_errors: BTreeMap::new(),
            shapes: BTreeMap::new(),
            carried: BTreeMap::new(),
            timeline: Vec::new(),
            samples: Vec::new(),
            truth: Truth::default(),
            last_remaining: None,
            accepted_since_remaining: 0,
            window_accepted: 0,
            dispatch_end: Duration::ZERO,
            fail_if: opts.fail_if.clone(),
            strict: opts.strict,
        }
    }

    /// Takes in a batch of records.
    pub fn add_all(&mut self, records: Vec<Record>) {
        for r in records {
            self.add(r);
        }
    }

    pub fn progress(&self, elapsed: Duration) -> Progress {
        let secs = elapsed.as_secs_f64().max(1e-3);
        let throttled = self
            .errors
            .get(&ErrorClass::GatewayThrottle)
            .copied()
            .unwrap_or(0)
            + self
                .errors
                .get(&ErrorClass::UpstreamThrottle)
                .copied()
                .unwrap_or(0);
        Progress {
            elapsed_s: secs,
            sent: self.requests.attempts,
            rate: self.requests.attempts as f64 / secs,
            in_flight: self.in_flight.load(Ordering::Relaxed) as u64,
            throttled,
            p99_ms: self.from_intended.summary().p99,
        }
    }

    fn second(&mut self, at: Duration) -> &mut Second {
        let i = usize::try_from(at.as_secs())
            .unwrap_or(usize::MAX)
            .min(86_400);
        if self.timeline.len() <= i {
            self.timeline.resize_with(i + 1, Second::default);
        }
        &mut self.timeline[i]
    }

    fn add(&mut self, r: Record) {
        match r {
            Record::Attempt {
                at,
                brief,
                ex,
                retry,
                after_hint,
                in_flight,
            } => self.attempt(at, &brief, ex.as_deref(), retry, after_hint, in_flight),
            Record::Done {
                success,
                latency_ms,
                queued_ms,
                retries,
                waited_ms,
            } => {
                self.requests.logical += 1;
                self.requests.waited_ms += waited_ms;
                self.queued.record_ms(queued_ms);
                if success {
                    self.requests.succeeded += 1;
                    self.from_intended.record_ms(latency_ms);
                    if retries > 0 {
                        self.requests.retried_successes += 1;
                    }
                } else {
                    self.requests.failed += 1;
                }
            }
            Record::Hint(source, clamped) => {
                *self.hints.entry(source).or_default() += 1;
                if clamped {
                    self.clamped += 1;
                }
            }
            Record::BudgetExhausted => self.requests.budget_exhausted += 1,
            Record::Cancelled => self.requests.cancelled += 1,
            Record::TargetDown(streak, message) => self.target_down = Some((streak, message)),
            Record::Slot(fate) => match fate {
                SlotFate::Late => self.schedule.late += 1,
                SlotFate::HeldByPause => self.schedule.held_by_pause += 1,
                SlotFate::HeldByPace => self.schedule.held_by_pace += 1,
                SlotFate::DroppedAtCap => self.schedule.dropped_at_cap += 1,
            },
        }
    }

    fn attempt(
        &mut self,
        at: Duration,
        brief: &Brief,
        ex: Option<&Exchange>,
        retry: bool,
        after_hint: bool,
        in_flight: usize,
    ) {
        self.requests.attempts += 1;
        if retry {
            self.requests.retries += 1;
        } else {
            self.dispatch_end = self.dispatch_end.max(at);
        }
        let class = brief.class;
        let (remaining, limit) = (brief.remaining, brief.limit);
        {
            let s = self.second(at);
            s.sent += 1;
            match class {
                None => s.accepted += 1,
                Some(ErrorClass::GatewayThrottle | ErrorClass::UpstreamThrottle) => {
                    s.throttled += 1;
                }
                Some(_) => s.errors += 1,
            }
            if let Some(r) = remaining {
                s.remaining.insert(brief.variant, r);
            }
        }
        if retry && after_hint {
            self.truth.retries_after_hint += 1;
            if class.is_none() {
                self.truth.retries_after_hint_accepted += 1;
            }
        }
        match class {
            None => {
                self.service.record_ms(brief.total_ms);
                if let Some(h) = brief.headers_ms {
                    self.headers.record_ms(h);
                }
                if let Some(t) = brief.ttft_ms {
                    self.ttft.record_ms(t);
                }
                self.success(brief, ex);
                if let Some(l) = limit {
                    self.truth.limit_requests = Some(l);
                }
                if let Some(r) = remaining {
                    // A window ends when `remaining` goes back up.
                    if self.last_remaining.is_some_and(|prev| r > prev) {
                        self.close_window();
                    }
                    self.last_remaining = Some(r);
                    self.accepted_since_remaining = 0;
                } else {
                    self.accepted_since_remaining += 1;
                }
                self.window_accepted += 1;
            }
            Some(c) => {
                *self.errors.entry(c).or_default() += 1;
                if let Some(f) = ex.and_then(|ex| ex.failure.as_ref()) {
                    self.first_errors
                        .entry(c)
                        .or_insert_with(|| f.with_remedy());
                }
                if matches!(
                    c,
                    ErrorClass::GatewayThrottle | ErrorClass::UpstreamThrottle
                ) {
                    if self.truth.first_429.is_none() {
                        self.truth.first_429 = Some(First429 {
                            at_ms: at.as_secs_f64() * 1000.0,
                            last_remaining: self.last_remaining,
                            accepted_since: self.accepted_since_remaining,
                            in_flight,
                        });
                    }
                    if !brief.hinted {
                        self.truth.throttles_without_hint += 1;
                    }
                }
            }
        }
    }

    /// A success's stream gaps, header tally and sample: from its exchange when it came whole,
    /// else the headers its lane's last whole success of the shape carried.
    fn success(&mut self, brief: &Brief, ex: Option<&Exchange>) {
        let Some(ex) = ex else {
            let t = self.shapes.entry(brief.variant).or_default();
            t.responses += 1;
            if let Some(names) = self.carried.get(&(brief.lane, brief.variant)) {
                for n in names {
                    if let Some(count) = t.carried.get_mut(n) {
                        *count += 1;
                    }
                }
            }
            return;
        };
        if let Some(stream) = &ex.stream {
            for pair in stream.timeline.windows(2) {
                self.gaps
                    .record_ms((pair[1].at_ms - pair[0].at_ms).max(0.0));
            }
        }
        tally(&mut self.shapes, ex);
        self.carried.insert(
            (brief.lane, brief.variant),
            ex.rate_headers
                .iter()
                .filter(|h| h.compared())
                .map(|h| h.name.clone())
                .collect(),
        );
        if self
            .samples
            .iter()
            .filter(|s| s.variant == ex.variant)
            .count()
            < SAMPLES_PER_SHAPE
        {
            let mut sample = ex.clone();
            sample.seq = u32::try_from(self.samples.len() + 1).unwrap_or(u32::MAX);
            self.samples.push(sample);
        }
    }

    fn close_window(&mut self) {
        self.truth.windows += 1;
        self.truth.max_accepted_per_window =
            self.truth.max_accepted_per_window.max(self.window_accepted);
        self.window_accepted = 0;
    }

    /// The report.
    pub fn finish(mut self, start: Instant, interrupted: bool) -> LoadReport {
        let wall = start.elapsed();
        if self.window_accepted > 0 && self.truth.windows > 0 {
            // The last, unfinished window only counts if it already went over.
            self.truth.max_accepted_per_window =
                self.truth.max_accepted_per_window.max(self.window_accepted);
        }
        let dispatch_s = self.dispatch_end.as_secs_f64().max(
            wall.as_secs_f64()
                .min(self.settings.duration_s.unwrap_or(f64::MAX)),
        );
        self.schedule.achieved_rate = if dispatch_s > 0.0 {
            self.requests.logical as f64 / dispatch_s
        } else {
            0.0
        };
        let shapes: Vec<ShapeReport> = self
            .shapes
            .iter()
            .map(|(v, t)| ShapeReport {
                variant: v.to_string(),
                responses: t.responses,
                carried: t.carried.clone(),
            })
            .collect();
        let (all, mut notes) = truth::findings(
            &self.shapes,
            &self.samples,
            &self.truth,
            &self.errors,
            self.settings.max_in_flight,
        );
        let (mut findings, warnings) = crate::verdict::by_level(all);
        if let Some(f) =
            truth::failed_requests(&self.errors, self.requests.attempts, &self.settings)
        {
            findings.push(f);
        }
        if self.requests.logical == 0 && self.requests.cancelled > 0 && !interrupted {
            notes.insert(
                0,
                format!(
                    "no request ended within the duration and its {} s grace: nothing was measured (the responses take longer: raise `--grace` or `--duration`)",
                    self.settings.grace_s.unwrap_or(0.0)
                ),
            );
        }
        if let Some((streak, message)) = &self.target_down {
            notes.insert(
                0,
                format!(
                    "the run ended early: {streak} attempts in a row failed (a refused connection, certificate or key, or no answer in time) before any succeeded; the target looks down or refuses this client: {message}"
                ),
            );
        }
        let mut report = LoadReport {
            schema_version: super::report::SCHEMA_VERSION,
            tool: crate::probe::TOOL.to_string(),
            target: self.target,
            settings: self.settings,
            wall_ms: wall.as_secs_f64() * 1000.0,
            interrupted,
            schedule: self.schedule,
            requests: self.requests,
            latency: Latencies {
                from_intended: self.from_intended.summary(),
                service: self.service.summary(),
                time_to_headers: self.headers.summary(),
                ttft: self.ttft.summary(),
                inter_event_gap: self.gaps.summary(),
                queued: self.queued.summary(),
                curve: self.from_intended.curve(),
            },
            errors: self.errors,
            first_errors: self.first_errors,
            hints: self.hints,
            clamped_hints: self.clamped,
            shapes,
            truth: self.truth,
            findings,
            warnings,
            strict: self.strict,
            notes,
            thresholds: Vec::new(),
            timeline: self.timeline,
            outcome: Exit::Ok.into(),
        };
        // Thresholds read the finished numbers, and the exit reads the thresholds: both are
        // settled here, before anyone else sees the report.
        report.thresholds = threshold::evaluate(&report, &self.fail_if);
        report.outcome = report.exit().into();
        report
    }
}
