//! The single collector: attempt records in, the run's [`Raw`] result out.
//!
//! Everything is aggregated as it arrives (histograms, counters, per-second buckets, per-shape
//! tallies, a handful of sample exchanges), so memory does not grow with the request count.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::options::LoadOptions;
use super::raw::{Raw, TargetDown};
use super::record::{Brief, SAMPLES_PER_SHAPE};
use super::record::{Record, SlotFate};
use super::report::{First429, Settings};
use super::stats::{Second, tally};
use crate::endpoint::Variant;
use crate::http::Exchange;

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

/// Folds attempt records into the run's [`Raw`] result, keeping what only the order of
/// records tells (the window a response falls in, the headers a lane's last whole success
/// carried) to itself.
pub(crate) struct Collector {
    raw: Raw,
    in_flight: Arc<AtomicUsize>,
    /// Per lane and shape: the compared rate-limit headers of the last whole success.
    carried: BTreeMap<(usize, Variant), Vec<String>>,
    /// The last `remaining` advertised, and when it was sent.
    last_remaining: Option<(i64, Duration)>,
    accepted_since_remaining: u64,
    window_accepted: u64,
    dispatch_end: Duration,
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
        let mut raw = Raw::new(settings, target, opts.test_id.clone());
        raw.whole = opts.whole;
        raw.fail_if = opts.fail_if.iter().map(|c| c.expr.clone()).collect();
        raw.strict = opts.strict;
        Collector {
            raw,
            in_flight,
            carried: BTreeMap::new(),
            last_remaining: None,
            accepted_since_remaining: 0,
            window_accepted: 0,
            dispatch_end: Duration::ZERO,
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
        let raw = &self.raw;
        let throttled: u64 = raw
            .errors
            .iter()
            .filter(|(c, _)| c.is_throttle())
            .map(|(_, n)| n)
            .sum();
        Progress {
            elapsed_s: secs,
            sent: raw.requests.attempts,
            rate: raw.requests.attempts as f64 / secs,
            in_flight: self.in_flight.load(Ordering::Relaxed) as u64,
            throttled,
            p99_ms: raw.latency.from_intended.summary().p99,
        }
    }

    fn second(&mut self, at: Duration) -> &mut Second {
        let i = usize::try_from(at.as_secs())
            .unwrap_or(usize::MAX)
            .min(86_400);
        let timeline = &mut self.raw.timeline;
        if timeline.len() <= i {
            timeline.resize_with(i + 1, Second::default);
        }
        &mut timeline[i]
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
                let raw = &mut self.raw;
                raw.requests.logical += 1;
                raw.requests.waited_ms += waited_ms;
                raw.latency.queued.record_ms(queued_ms);
                if success {
                    raw.requests.succeeded += 1;
                    raw.latency.from_intended.record_ms(latency_ms);
                    if retries > 0 {
                        raw.requests.retried_successes += 1;
                    }
                } else {
                    raw.requests.failed += 1;
                }
            }
            Record::Hint(source, clamped) => {
                *self.raw.hints.entry(source).or_default() += 1;
                if clamped {
                    self.raw.clamped_hints += 1;
                }
            }
            Record::BudgetExhausted => self.raw.requests.budget_exhausted += 1,
            Record::Cancelled => self.raw.requests.cancelled += 1,
            Record::TargetDown(streak, message) => {
                self.raw.target_down = Some(TargetDown { streak, message });
            }
            Record::Slot(fate) => {
                let s = &mut self.raw.schedule;
                match fate {
                    SlotFate::Late => s.late += 1,
                    SlotFate::HeldByPause => s.held_by_pause += 1,
                    SlotFate::HeldByPace => s.held_by_pace += 1,
                    SlotFate::DroppedAtCap => s.dropped_at_cap += 1,
                }
            }
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
        self.raw.requests.attempts += 1;
        self.raw.peak_in_flight = self.raw.peak_in_flight.max(in_flight as u64);
        if retry {
            self.raw.requests.retries += 1;
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
                Some(c) if c.is_throttle() => s.throttled += 1,
                Some(_) => s.errors += 1,
            }
            if let Some(r) = remaining {
                s.remaining.insert(brief.variant, r);
            }
        }
        let truth = &mut self.raw.truth;
        if retry && after_hint {
            truth.retries_after_hint += 1;
            if class.is_none() {
                truth.retries_after_hint_accepted += 1;
            }
        }
        match class {
            None => {
                let h = &mut self.raw.latency;
                h.service.record_ms(brief.total_ms);
                if let Some(t) = brief.headers_ms {
                    h.time_to_headers.record_ms(t);
                }
                if let Some(t) = brief.ttft_ms {
                    h.ttft.record_ms(t);
                }
                self.success(brief, ex);
                if let Some(l) = limit {
                    self.raw.truth.limit_requests = Some(l);
                }
                if let Some(r) = remaining {
                    // A window ends when `remaining` goes back up.
                    if self.last_remaining.is_some_and(|(prev, _)| r > prev) {
                        self.close_window();
                    }
                    self.last_remaining = Some((r, at));
                    self.accepted_since_remaining = 0;
                } else {
                    self.accepted_since_remaining += 1;
                }
                self.window_accepted += 1;
            }
            Some(c) => {
                let raw = &mut self.raw;
                *raw.errors.entry(c).or_default() += 1;
                if let Some(f) = ex.and_then(|ex| ex.failure.as_ref()) {
                    raw.first_errors.entry(c).or_insert_with(|| f.with_remedy());
                }
                if c.is_throttle() {
                    if raw.truth.first_429.is_none() {
                        raw.truth.first_429 = Some(First429 {
                            at_ms: at.as_secs_f64() * 1000.0,
                            last_remaining: self.last_remaining.map(|(r, _)| r),
                            accepted_since: self.accepted_since_remaining,
                            in_flight,
                            remaining_at_ms: self
                                .last_remaining
                                .map(|(_, t)| t.as_secs_f64() * 1000.0),
                        });
                    }
                    if !brief.hinted {
                        raw.truth.throttles_without_hint += 1;
                    }
                }
            }
        }
    }

    /// A success's stream gaps, header tally and sample: from its exchange when it came whole,
    /// else the headers its lane's last whole success of the shape carried.
    fn success(&mut self, brief: &Brief, ex: Option<&Exchange>) {
        let raw = &mut self.raw;
        let Some(ex) = ex else {
            let t = raw.shapes.entry(brief.variant).or_default();
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
                raw.latency
                    .inter_event_gap
                    .record_ms((pair[1].at_ms - pair[0].at_ms).max(0.0));
            }
        }
        tally(&mut raw.shapes, ex);
        self.carried.insert(
            (brief.lane, brief.variant),
            ex.rate_headers
                .iter()
                .filter(|h| h.compared())
                .map(|h| h.name.clone())
                .collect(),
        );
        if raw
            .samples
            .iter()
            .filter(|s| s.variant == ex.variant)
            .count()
            < SAMPLES_PER_SHAPE
        {
            let mut sample = ex.clone();
            // A lean exchange keeps its rate-limit headers parsed only: a sample carries them
            // among its headers too, as a full capture would, so that a raw result read back
            // classifies them again.
            for h in &ex.rate_headers {
                if sample.header(&h.name).is_none() {
                    sample.headers.push((h.name.clone(), h.value.clone()));
                }
            }
            sample.seq = u32::try_from(raw.samples.len() + 1).unwrap_or(u32::MAX);
            raw.samples.push(sample);
        }
    }

    fn close_window(&mut self) {
        let truth = &mut self.raw.truth;
        truth.windows += 1;
        truth.max_accepted_per_window = truth.max_accepted_per_window.max(self.window_accepted);
        self.window_accepted = 0;
    }

    /// The run's raw result, once every record is in.
    pub fn finish(mut self, start: Instant, interrupted: bool) -> Raw {
        let truth = &mut self.raw.truth;
        if self.window_accepted > 0 && truth.windows > 0 {
            // The last, unfinished window only counts if it already went over.
            truth.max_accepted_per_window = truth.max_accepted_per_window.max(self.window_accepted);
        }
        self.raw.wall_ms = start.elapsed().as_secs_f64() * 1000.0;
        self.raw.interrupted = interrupted;
        self.raw.dispatch_ms = self.dispatch_end.as_secs_f64() * 1000.0;
        let mut declared: Vec<String> = self
            .raw
            .samples
            .iter()
            .flat_map(|ex| &ex.rate_headers)
            .filter(|h| crate::headers::classify(&h.name, &h.value).is_none())
            .map(|h| h.name.clone())
            .collect();
        declared.sort();
        declared.dedup();
        self.raw.declared = declared;
        self.raw
    }
}
