//! A run's raw result: everything its report is computed from, in a form that adds up.
//!
//! The collector folds attempt records into one [`Raw`]; `ratecheck merge` folds the raw
//! results of a split test's shards with `Raw::absorb` (in [`merge`](super::merge)), the same
//! fold one level up; and
//! [`Raw::report`] is the one place a [`LoadReport`] is made, for one process or many. Raw
//! results are written with `load --raw` as JSON, the histograms in HdrHistogram's own
//! compressed form, so that merged percentiles are the percentiles of every value recorded.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::backoff::HintSource;
use super::options::{Arrival, Whole};
use super::report::{Latencies, LoadReport, Requests, Schedule, Settings, ShapeReport, Truth};
use super::segment::Segment;
use super::stats::{ErrorClass, Hist, Second, ShapeTally};
use super::{threshold, truth};
use crate::endpoint::Variant;
use crate::http::Exchange;
use crate::verdict::{Exit, Finding, Outcome};

/// What every raw file says it is.
pub const RAW_FORMAT: &str = "ratecheck-load-raw";
/// Layout version of raw results; a file of another version is refused, not guessed at.
pub const RAW_VERSION: u32 = 1;

/// The time distributions of a run, as histograms.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Hists {
    /// Successful requests, from intended send to the end of the successful attempt.
    pub from_intended: Hist,
    /// Successful attempts, send to end of body.
    pub service: Hist,
    /// Successful attempts, send to response head.
    pub time_to_headers: Hist,
    /// Successful streams, send to first event.
    pub ttft: Hist,
    /// Gaps between the events of successful streams.
    pub inter_event_gap: Hist,
    /// Intended send to the first attempt's send.
    pub queued: Hist,
}

impl Hists {
    /// Adds every value of `o`'s histograms.
    pub(super) fn add(&mut self, o: &Hists) {
        self.from_intended.add(&o.from_intended);
        self.service.add(&o.service);
        self.time_to_headers.add(&o.time_to_headers);
        self.ttft.add(&o.ttft);
        self.inter_event_gap.add(&o.inter_event_gap);
        self.queued.add(&o.queued);
    }
}

/// Dispatching ended early: the target looked down.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetDown {
    /// Attempts in a row that failed before any succeeded.
    pub streak: usize,
    /// The last one's message.
    pub message: String,
}

/// One shard a raw result holds, and how that shard's own run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shard {
    /// Which shard (absent for a run that was not split).
    pub segment: Option<Segment>,
    /// The exit the shard's own report had.
    pub exit_code: u8,
    /// Its status word (`ok`, `unreachable`, …).
    pub status: String,
    /// It was stopped by Ctrl-C.
    pub interrupted: bool,
}

/// A shard-level fold of one per-shape map: per shape, responses and headers carried.
type Shapes = BTreeMap<Variant, ShapeTally>;

/// Everything a run's report is computed from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Raw {
    /// [`RAW_FORMAT`].
    pub format: String,
    /// [`RAW_VERSION`].
    pub version: u32,
    /// `ratecheck X.Y.Z` that wrote it.
    pub tool: String,
    /// The test this run was (a shard of): shards of one test carry the same id.
    pub test_id: String,
    /// The target, redacted.
    pub target: String,
    /// The settings this process ran with (a shard's share, when split).
    pub settings: Settings,
    /// The whole test, when this run was a shard of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whole: Option<Whole>,
    /// `--fail-if` expressions, as written.
    pub fail_if: Vec<String>,
    /// Warnings fail the run.
    pub strict: bool,
    /// Wall time, in ms.
    pub wall_ms: f64,
    /// Stopped by Ctrl-C.
    pub interrupted: bool,
    /// The last first attempt's send time, in ms after the start.
    pub dispatch_ms: f64,
    /// Most requests in flight at once.
    pub peak_in_flight: u64,
    /// Time distributions.
    pub latency: Hists,
    /// The schedule against what happened.
    pub schedule: Schedule,
    /// Request counts.
    pub requests: Requests,
    /// Failed attempts by class.
    pub errors: BTreeMap<ErrorClass, u64>,
    /// The first message of each class that failed in transport.
    pub first_errors: BTreeMap<ErrorClass, String>,
    /// Waits advised, by source.
    pub hints: BTreeMap<HintSource, u64>,
    /// Advised waits beyond the cap.
    pub clamped_hints: u64,
    /// Set when dispatching ended early because the target was down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_down: Option<TargetDown>,
    /// Per shape: responses and the rate-limit headers they carried.
    #[serde(with = "by_shape")]
    pub shapes: Shapes,
    /// Per second of the run.
    pub timeline: Vec<Second>,
    /// Whole successful exchanges kept for the probe's per-response checks.
    pub samples: Vec<Exchange>,
    /// Header names the user declared as rate-limit headers (`--rate-header`) that the
    /// samples carry: they are classified again as such when the file is read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub declared: Vec<String>,
    /// Headers against behaviour.
    pub truth: Truth,
    /// The shards folded in (one, for one process).
    pub shards: Vec<Shard>,
    /// Made by [`merge`](super::merge::merge): its report speaks of the shards.
    #[serde(skip)]
    pub merged: bool,
    /// Files a merge had to leave out, and why: each fails the merged run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub left_out: Vec<String>,
}

/// A per-shape map as a list of `{shape, tally}`: JSON keys are strings only.
mod by_shape {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{ShapeTally, Shapes, Variant};

    #[derive(Serialize, Deserialize)]
    struct Entry {
        shape: Variant,
        #[serde(flatten)]
        tally: ShapeTally,
    }

    pub fn serialize<S: Serializer>(m: &Shapes, s: S) -> Result<S::Ok, S::Error> {
        let list: Vec<Entry> = m
            .iter()
            .map(|(v, t)| Entry {
                shape: *v,
                tally: t.clone(),
            })
            .collect();
        list.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Shapes, D::Error> {
        Ok(Vec::<Entry>::deserialize(d)?
            .into_iter()
            .map(|e| (e.shape, e.tally))
            .collect())
    }
}

impl Raw {
    /// An empty raw result for a run with `settings`.
    pub(super) fn new(settings: Settings, target: String, test_id: String) -> Raw {
        Raw {
            format: RAW_FORMAT.into(),
            version: RAW_VERSION,
            tool: crate::probe::TOOL.to_string(),
            test_id,
            target,
            schedule: Schedule::default(),
            settings,
            whole: None,
            fail_if: Vec::new(),
            strict: false,
            wall_ms: 0.0,
            interrupted: false,
            dispatch_ms: 0.0,
            peak_in_flight: 0,
            latency: Hists::default(),
            requests: Requests::default(),
            errors: BTreeMap::new(),
            first_errors: BTreeMap::new(),
            hints: BTreeMap::new(),
            clamped_hints: 0,
            target_down: None,
            shapes: BTreeMap::new(),
            timeline: Vec::new(),
            samples: Vec::new(),
            declared: Vec::new(),
            truth: Truth::default(),
            shards: Vec::new(),
            merged: false,
            left_out: Vec::new(),
        }
    }

    /// The report: the one place it is made, for one process and for a merge alike.
    pub fn report(&self) -> LoadReport {
        let settings = self.settings.clone();
        // The rates are derived here from the settings and counts, for one process and a
        // merge alike.
        let mut schedule = self.schedule.clone();
        schedule.target_rate = match settings.arrival {
            Arrival::Constant { rate } | Arrival::Poisson { rate } => Some(rate),
            Arrival::Closed { .. } => None,
        };
        let dispatch_s = (self.dispatch_ms / 1000.0)
            .max((self.wall_ms / 1000.0).min(settings.duration_s.unwrap_or(f64::MAX)));
        schedule.achieved_rate = if dispatch_s > 0.0 {
            self.requests.logical as f64 / dispatch_s
        } else {
            0.0
        };
        let shards = self.shard_summary();
        let (findings, warnings, notes) = self.judge(&settings);
        let h = &self.latency;
        let mut report = LoadReport {
            schema_version: super::report::SCHEMA_VERSION,
            tool: crate::probe::TOOL.to_string(),
            target: self.target.clone(),
            settings,
            wall_ms: self.wall_ms,
            interrupted: self.interrupted,
            schedule,
            requests: self.requests.clone(),
            latency: Latencies {
                from_intended: h.from_intended.summary(),
                service: h.service.summary(),
                time_to_headers: h.time_to_headers.summary(),
                ttft: h.ttft.summary(),
                inter_event_gap: h.inter_event_gap.summary(),
                queued: h.queued.summary(),
                curve: h.from_intended.curve(),
            },
            errors: self.errors.clone(),
            first_errors: self.first_errors.clone(),
            hints: self.hints.clone(),
            clamped_hints: self.clamped_hints,
            shapes: self
                .shapes
                .iter()
                .map(|(v, t)| ShapeReport {
                    variant: v.to_string(),
                    responses: t.responses,
                    carried: t.carried.clone(),
                })
                .collect(),
            truth: self.truth,
            findings,
            warnings,
            strict: self.strict,
            notes,
            thresholds: Vec::new(),
            timeline: self.timeline.clone(),
            shards,
            outcome: Exit::Ok.into(),
        };
        // Thresholds read the finished numbers, and the exit reads the thresholds: both are
        // settled here, before anyone else sees the report.
        let conditions: Vec<threshold::Condition> = self
            .fail_if
            .iter()
            .filter_map(|e| threshold::parse(e).ok())
            .collect();
        report.thresholds = report.thresholds_of(&conditions);
        report.outcome = report.exit().into();
        report
    }

    /// Findings, warnings and notes of the data: the headers' truth, the failed share, and
    /// what the run could not measure.
    fn judge(&self, settings: &Settings) -> (Vec<Finding>, Vec<Finding>, Vec<String>) {
        let (all, mut notes) = truth::findings(
            &self.shapes,
            &self.samples,
            &self.truth,
            &self.errors,
            settings.max_in_flight,
        );
        let (mut findings, warnings) = crate::verdict::by_level(all);
        if let Some(f) = truth::failed_requests(&self.errors, self.requests.attempts, settings) {
            findings.push(f);
        }
        if self.requests.logical == 0 && self.requests.cancelled > 0 && !self.interrupted {
            notes.insert(
                0,
                format!(
                    "no request ended within the duration and its {} s grace: nothing was measured (the responses take longer: raise `--grace` or `--duration`)",
                    settings.grace_s.unwrap_or(0.0)
                ),
            );
        }
        if let Some(down) = &self.target_down {
            notes.insert(
                0,
                format!(
                    "the run ended early: {} attempts in a row failed (a refused connection, certificate or key, or no answer in time) before any succeeded; the target looks down or refuses this client: {}",
                    down.streak, down.message
                ),
            );
        }
        (findings, warnings, notes)
    }

    /// Records how this process's own run ended, as a merge will read it.
    pub fn seal(&mut self, segment: Option<Segment>, outcome: Outcome) {
        self.shards = vec![Shard {
            segment,
            exit_code: outcome.exit_code,
            status: outcome.status.to_string(),
            interrupted: self.interrupted,
        }];
    }
}

/// Why a raw file cannot be merged.
#[derive(Debug)]
pub struct RawError(pub String);

impl fmt::Display for RawError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Raw {
    /// Reads a raw result written by `load --raw`; `name` names the file in errors.
    pub fn read(text: &str, name: &str) -> Result<Raw, RawError> {
        let head: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            RawError(format!(
                "{name}:{}:{}: not a raw result ({e}): write one with `ratecheck load --raw FILE`",
                e.line(),
                e.column()
            ))
        })?;
        let format = head.get("format").and_then(serde_json::Value::as_str);
        if format != Some(RAW_FORMAT) {
            return Err(RawError(format!(
                "{name}: not a raw result (its `format` is {}, not `{RAW_FORMAT}`): write one with `ratecheck load --raw FILE`",
                format.map_or_else(|| "missing".to_string(), |f| format!("`{f}`"))
            )));
        }
        let version = head.get("version").and_then(serde_json::Value::as_u64);
        if version != Some(u64::from(RAW_VERSION)) {
            return Err(RawError(format!(
                "{name}: a raw result of layout version {}, and this ratecheck reads version {RAW_VERSION}: merge with the ratecheck that wrote it",
                version.map_or_else(|| "?".to_string(), |v| v.to_string())
            )));
        }
        let mut raw: Raw = serde_json::from_str(text).map_err(|e| {
            RawError(format!(
                "{name}:{}:{}: a damaged raw result: {e}",
                e.line(),
                e.column()
            ))
        })?;
        for expr in &raw.fail_if {
            threshold::parse(expr).map_err(|e| {
                RawError(format!(
                    "{name}: its `--fail-if` `{expr}` does not read: {e}"
                ))
            })?;
        }
        // Samples are read back as analyze reads reports: their headers classified again.
        for ex in &mut raw.samples {
            ex.rate_headers = crate::headers::classify_all(
                ex.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                &raw.declared,
            );
        }
        Ok(raw)
    }

    /// The raw result as written to a file.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default() + "\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_survive_the_round_trip_exactly() {
        let mut h = Hist::default();
        for i in 1..=10_000u32 {
            h.record_ms(f64::from(i) * 0.37);
        }
        let back: Hist = serde_json::from_str(&serde_json::to_string(&h).unwrap()).unwrap();
        assert_eq!(back.summary(), h.summary());
        assert_eq!(back.curve(), h.curve());
        let mut twice = h.clone();
        twice.add(&back);
        assert_eq!(twice.summary().count, 20_000);
        assert_eq!(twice.summary().p99.to_bits(), h.summary().p99.to_bits());
    }
}
