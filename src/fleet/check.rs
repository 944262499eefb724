//! Sending a fleet check: one key, requests spread over the instances, every answer kept.
//!
//! The first answer names the counter to follow (an exact-window `remaining` of requests, as
//! LiteLLM's limiter sends) and how much of the window is left. The check then spends the
//! window: round robin over half of what is left, then bursts of one request to every source
//! at once (the race a shared store must win), until every source has been refused twice or
//! the budget is spent: `remaining` more requests and two per source, so that a fleet counting
//! per instance shows both its repeated values and its over-admission, and a healthy one shows
//! its refusals on every instance. A watch instead keeps one request per interval for its
//! duration. Nothing is sent beyond `max_requests`.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::judge::{self, Rules, Sample, VIA};
use super::watch::{Change, Tracker};
use crate::endpoint::{Endpoint, Mode, Variant};
use crate::headers::{RateHeader, Role, Semantics};
use crate::http::{Client, Exchange, ms};
use crate::probe::analyze::is_litellm;
use crate::verdict::{self, Abort, Exit, Finding, Outcome};

/// Layout version of [`FleetReport`].
pub const SCHEMA_VERSION: u32 = 1;

/// What the check may spend and how it reads the answers.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    /// The model to ask for.
    pub model: String,
    /// The most requests sent, whatever the limit says.
    pub max_requests: u32,
    /// How the answers are judged.
    pub rules: Rules,
    /// Watch over time instead of spending the window, if given.
    pub watch: Option<Watch>,
    /// Ctrl-C.
    pub stop: crate::stop::Stop,
}

/// `--watch DURATION [--every INTERVAL]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Watch {
    /// How long to watch.
    pub duration: Duration,
    /// One request this often, round robin; none to pace from the advertised limit.
    pub every: Option<Duration>,
}

/// The quickest pace a watch chooses itself: one request a second is enough to date a Redis
/// loss, and a generous limit is no reason to send more.
pub const QUICKEST_WATCH: Duration = Duration::from_secs(1);

/// The share of the advertised limit a watch may spend per window. A watch that spends the
/// whole limit is refused for the rest of each window and sees nothing; half leaves the other
/// half to whatever else uses the key.
const WATCH_SHARE: f64 = 0.5;

impl Watch {
    /// Requests a whole watch sends at most: at its pace, or at the quickest it may choose.
    pub fn requests(self) -> u32 {
        let every = self.every.unwrap_or(QUICKEST_WATCH);
        let n = self.duration.as_secs_f64() / every.as_secs_f64().max(1e-3);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // bounded just below
        let n = n.ceil().clamp(1.0, f64::from(u32::MAX)) as u32;
        n
    }

    /// The pace to keep, and why, once the first answer said its limit (`None`: it did not)
    /// for a window of `window`: `--every` when given; otherwise at most [`WATCH_SHARE`] of
    /// the limit per window, never quicker than [`QUICKEST_WATCH`].
    pub fn pace(self, limit: Option<u64>, window: Duration) -> (Duration, String) {
        if let Some(every) = self.every {
            return (
                every,
                format!("one request every {} (`--every`)", secs(every)),
            );
        }
        let Some(limit) = limit.filter(|l| *l > 0) else {
            return (
                QUICKEST_WATCH,
                format!(
                    "one request every {}: no limit was advertised to pace from",
                    secs(QUICKEST_WATCH)
                ),
            );
        };
        let share = (limit as f64 * WATCH_SHARE).max(1.0);
        let from_limit = window.div_f64(share);
        if from_limit <= QUICKEST_WATCH {
            return (
                QUICKEST_WATCH,
                format!(
                    "one request every {}: the advertised limit of {limit} per {} window leaves room for more, and a second is enough to date a change",
                    secs(QUICKEST_WATCH),
                    secs(window)
                ),
            );
        }
        (
            from_limit,
            format!(
                "one request every {}: half the advertised limit of {limit} per {} window, so the watch alone never spends the key",
                secs(from_limit),
                secs(window)
            ),
        )
    }
}

/// A duration as the pace notes say it: `12 s`, `1.5 s`.
fn secs(d: Duration) -> String {
    format!("{} s", (d.as_secs_f64() * 10.0).round() / 10.0)
}

/// The check's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetReport {
    /// Layout version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// `ratecheck` and its version.
    pub tool: String,
    /// The instances' base URLs, redacted, in the order given.
    pub instances: Vec<String>,
    /// The load balancer's URL (`--via`), redacted; its answers are instance 0.
    pub via: Option<String>,
    /// How long the check watched (`--watch`), in milliseconds; none when it spent a window.
    pub watch_ms: Option<f64>,
    /// The counter followed, if one was found.
    pub header: Option<String>,
    /// The limit the first answer advertised.
    pub limit: Option<u64>,
    /// Requests the check set out to send.
    pub planned: u32,
    /// Every answer, in send order: the timeline, and what was judged.
    pub answers: Vec<Sample>,
    /// When a watch saw the fleet change state, in order.
    pub changes: Vec<Change>,
    /// Defects the answers prove.
    pub findings: Vec<Finding>,
    /// Suspicious, not proof.
    pub warnings: Vec<Finding>,
    /// What was consistent, and what could not be checked.
    pub notes: Vec<String>,
    /// Ctrl-C stopped the check.
    pub interrupted: bool,
    /// What stopped the check early, if anything.
    pub aborted: Option<Abort>,
    /// Wall time, in milliseconds.
    pub wall_ms: f64,
    /// The verdict.
    pub outcome: Outcome,
}

impl FleetReport {
    /// The exit this check maps to.
    pub fn exit(&self) -> Exit {
        verdict::decide(
            self.aborted.iter().map(|a| a.exit),
            !self.findings.is_empty(),
        )
    }
}

/// The exact-window counter of requests on `ex`, and its limit.
fn counter(ex: &Exchange) -> Option<(&RateHeader, Option<u64>)> {
    let litellm = is_litellm(std::slice::from_ref(ex));
    let h = ex.rate_headers.iter().find(|h| {
        h.role == Role::Remaining
            && !h.passthrough
            && h.unit.as_deref() == Some("requests")
            && Semantics::of(h, litellm) == Semantics::ExactWindow
    })?;
    let limit = ex
        .rate_headers
        .iter()
        .find(|l| l.role == Role::Limit && l.dimension() == h.dimension())
        .and_then(RateHeader::count)
        .and_then(|c| u64::try_from(c).ok());
    Some((h, limit))
}

/// The sources requests go to: every instance, numbered from 1, then the load balancer.
fn sources<'a>(instances: &'a [Client], via: Option<&'a Client>) -> Vec<(usize, &'a Client)> {
    instances
        .iter()
        .enumerate()
        .map(|(i, c)| (i + 1, c))
        .chain(via.map(|c| (VIA, c)))
        .collect()
}

/// One check in progress: the report it fills and what it has seen so far.
struct Run<'a> {
    sources: Vec<(usize, &'a Client)>,
    opts: &'a FleetOptions,
    start: Instant,
    report: FleetReport,
    /// Refusals per source, by position in `sources`.
    refusals: Vec<u32>,
    /// What the first answer with the counter said was left of the window.
    left: Option<u32>,
}

const CHAT: Variant = Variant {
    endpoint: Endpoint::Chat,
    mode: Mode::NonStreaming,
};

impl Run<'_> {
    /// Sends request `seq` to the source at `pos`: when it was sent, and what came back.
    async fn send(&self, pos: usize, seq: u32) -> (f64, Exchange) {
        let sent = ms(self.start.elapsed());
        let ex = self.sources[pos]
            .1
            .exchange(CHAT, &self.opts.model, 1, seq)
            .await;
        (sent, ex)
    }

    /// Keeps one answer; false when the check cannot go on.
    fn record(&mut self, pos: usize, seq: u32, at_ms: f64, ex: &Exchange) -> bool {
        let (remaining, limit) = match (&self.report.header, counter(ex)) {
            (None, Some((h, limit))) => {
                self.report.header = Some(h.name.clone());
                self.report.limit = limit;
                self.left = Some(h.count().and_then(|c| u32::try_from(c).ok()).unwrap_or(0));
                (h.count().and_then(|c| u64::try_from(c).ok()), limit)
            }
            (Some(name), _) => (
                ex.rate_header(name)
                    .and_then(RateHeader::count)
                    .and_then(|c| u64::try_from(c).ok()),
                counter(ex).and_then(|(_, l)| l),
            ),
            (None, None) => (None, None),
        };
        if ex.status == Some(429) {
            self.refusals[pos] += 1;
        }
        let (instance, client) = self.sources[pos];
        self.report.answers.push(Sample {
            seq,
            instance,
            at_ms,
            status: ex.status,
            remaining,
            limit,
            failure: ex.failure.as_ref().map(|f| f.message.clone()),
        });
        if let Some(f) = ex.failure.as_ref().filter(|f| f.kind.stops_run()) {
            self.report.aborted = Some(client.abort(f.clone()));
            return false;
        }
        // Without a counter to follow after one answer from each source, there is nothing to
        // compare.
        self.report.header.is_some() || (seq as usize) < self.sources.len()
    }

    fn all_refused_twice(&self) -> bool {
        self.refusals.iter().all(|n| *n >= 2)
    }

    /// Spends the window: round robin over half of what is left, then bursts of one request
    /// to every source at once, until every source refused twice or the plan is spent.
    async fn spend(&mut self) {
        let n = u32::try_from(self.sources.len()).unwrap_or(u32::MAX);
        let stop = self.opts.stop.clone();
        let mut seq = 0u32;
        // Until the counter is found: one request per source at most.
        let mut round_robin_until = self.report.planned;
        let mut planned = false;
        while seq < self.report.planned.min(round_robin_until) {
            let pos = seq as usize % self.sources.len();
            seq += 1;
            let (at, ex) = tokio::select! {
                r = self.send(pos, seq) => r,
                () = stop.fired() => return,
            };
            if !self.record(pos, seq, at, &ex) || self.all_refused_twice() {
                return;
            }
            if let Some(left) = self.left.filter(|_| !planned) {
                // The first answer with the counter sets the plan: what is left, and two
                // refusals per source.
                planned = true;
                let wanted = seq.saturating_add(left).saturating_add(2 * n);
                self.report.planned = wanted.min(self.opts.max_requests.max(1));
                round_robin_until = seq + left / 2;
            }
        }
        while seq < self.report.planned && self.left.is_some() {
            let batch: Vec<(usize, u32)> = (0..self.sources.len())
                .zip(seq + 1..=self.report.planned)
                .collect();
            seq += u32::try_from(batch.len()).unwrap_or(0);
            let answers = tokio::select! {
                r = futures_util::future::join_all(batch.iter().map(|(pos, s)| self.send(*pos, *s))) => r,
                () = stop.fired() => return,
            };
            for ((pos, s), (at, ex)) in batch.into_iter().zip(answers) {
                if !self.record(pos, s, at, &ex) {
                    return;
                }
            }
            if self.all_refused_twice() {
                return;
            }
        }
    }

    /// Watches: one request at the pace [`Watch::pace`] chooses after the first answer, round
    /// robin, for `duration` (or the plan), and every change of the fleet's state reported as
    /// it is seen.
    async fn watch(&mut self, watch: Watch, progress: &mut (dyn FnMut(&Change) + Send)) {
        let stop = self.opts.stop.clone();
        let mut tracker = Tracker::default();
        let started = jiff::Timestamp::now();
        let deadline = self.start + watch.duration;
        let window = Duration::from_secs_f64(self.opts.rules.window_ms / 1000.0);
        // Until an answer names the counter and its limit, the quickest pace; then the pace
        // is chosen once, and said.
        let mut every = watch.every.unwrap_or(QUICKEST_WATCH);
        let mut paced = false;
        let mut due = self.start;
        for k in 0..self.report.planned {
            if due >= deadline {
                return;
            }
            tokio::select! {
                () = tokio::time::sleep_until(due.into()) => {}
                () = stop.fired() => return,
            }
            let pos = k as usize % self.sources.len();
            let (at, ex) = tokio::select! {
                r = self.send(pos, k + 1) => r,
                () = stop.fired() => return,
            };
            if !self.record(pos, k + 1, at, &ex) {
                return;
            }
            if !paced && (watch.every.is_some() || self.report.header.is_some()) {
                let why;
                (every, why) = watch.pace(self.report.limit, window);
                self.report.notes.push(format!("paced {why}"));
                paced = true;
            }
            due += every;
            let Some(header) = self.report.header.as_deref() else {
                continue;
            };
            if let Some(mut change) = tracker.observe(header, &self.report.answers, self.opts.rules)
            {
                change.time = clock(started, change.at_ms);
                progress(&change);
                self.report.changes.push(change);
            }
        }
    }
}

/// `at_ms` after `started`, on the clock.
fn clock(started: jiff::Timestamp, at_ms: f64) -> String {
    #[allow(clippy::cast_possible_truncation)] // a watch lasts hours at most
    let offset = jiff::SignedDuration::from_millis(at_ms.round() as i64);
    started
        .checked_add(offset)
        .unwrap_or(started)
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// Runs the check against `instances` (one client each, in order) and, if given, the load
/// balancer in front of them; `progress` hears every change of state a watch sees.
pub async fn check(
    instances: &[Client],
    via: Option<&Client>,
    opts: &FleetOptions,
    progress: &mut (dyn FnMut(&Change) + Send),
) -> FleetReport {
    let sources = sources(instances, via);
    let mut run = Run {
        refusals: vec![0; sources.len()],
        report: FleetReport {
            schema_version: SCHEMA_VERSION,
            tool: crate::probe::TOOL.to_string(),
            instances: instances.iter().map(Client::display_base).collect(),
            via: via.map(Client::display_base),
            watch_ms: opts.watch.map(|w| ms(w.duration)),
            header: None,
            limit: None,
            planned: 1,
            answers: Vec::new(),
            changes: Vec::new(),
            findings: Vec::new(),
            warnings: Vec::new(),
            notes: Vec::new(),
            interrupted: false,
            aborted: None,
            wall_ms: 0.0,
            outcome: Exit::Ok.into(),
        },
        sources,
        opts,
        start: Instant::now(),
        left: None,
    };
    if let Some(w) = opts.watch {
        run.report.planned = w.requests().min(opts.max_requests);
        run.watch(w, progress).await;
    } else {
        let n = u32::try_from(run.sources.len()).unwrap_or(u32::MAX);
        run.report.planned = n.min(opts.max_requests);
        run.spend().await;
    }
    let mut report = run.report;
    report.interrupted = opts.stop.is_set();
    conclude(&mut report, opts);
    report.wall_ms = ms(run.start.elapsed());
    report.outcome = report.exit().into();
    report
}

/// The verdict on what was gathered, or a note on why there was nothing to judge.
fn conclude(report: &mut FleetReport, opts: &FleetOptions) {
    via_note(report);
    let Some(header) = report.header.clone() else {
        if report.aborted.is_none() {
            report.notes.push(
                "no answer carried an exact-window counter of requests (LiteLLM's `x-ratelimit-{descriptor}-remaining-requests`): nothing to compare across the instances".into(),
            );
        }
        return;
    };
    let v = judge::judge(&header, &report.answers, opts.rules);
    let (findings, warnings) = verdict::by_level(v.findings);
    report.findings = findings;
    report.warnings = warnings;
    report.notes.extend(v.notes);
    if let Some(w) = opts.watch {
        watch_notes(report, w, opts);
    } else if report.planned == opts.max_requests
        && !report.answers.iter().any(|s| s.status == Some(429))
    {
        report.notes.push(format!(
            "`--max-requests {}` stopped the check before any refusal: over-admission was not checked",
            opts.max_requests
        ));
    }
}

/// What a watch could not see: the rest of its duration, or counters it spent itself.
fn watch_notes(report: &mut FleetReport, w: Watch, opts: &FleetOptions) {
    if report.answers.len() >= opts.max_requests as usize && w.requests() > opts.max_requests {
        report.notes.push(format!(
            "`--max-requests {}` ended the watch before its {:.0} s",
            opts.max_requests,
            w.duration.as_secs_f64()
        ));
    }
    let Some(every) = w.every else { return };
    let per_window = opts.rules.window_ms / (every.as_secs_f64() * 1000.0);
    if let Some(limit) = report.limit
        && per_window > limit as f64
    {
        report.notes.push(format!(
            "one request every {} ms is {per_window:.0} per window, above the limit of {limit}: once it is spent the fleet refuses and its counter cannot be followed; without `--every` the watch paces itself from the limit",
            every.as_millis()
        ));
    }
}

/// The load balancer admitted without the counter its instances send.
fn via_note(report: &mut FleetReport) {
    let Some(header) = &report.header else { return };
    let bare = report
        .answers
        .iter()
        .filter(|s| s.instance == VIA && s.admitted() && s.remaining.is_none())
        .count();
    if bare > 0 {
        report.notes.push(format!(
            "{bare} admitted answers through the load balancer carried no `{header}`, which the instances send: it strips the header, or routes to instances that do not send it"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watch_spends_at_most_half_the_advertised_limit() {
        let auto = Watch {
            duration: Duration::from_mins(5),
            every: None,
        };
        let minute = Duration::from_mins(1);
        // rpm 10: five requests per window, one every 12 s.
        let (pace, why) = auto.pace(Some(10), minute);
        assert_eq!(pace, Duration::from_secs(12));
        assert!(
            why.starts_with(
                "one request every 12 s: half the advertised limit of 10 per 60 s window"
            ),
            "{why}"
        );
        // A generous limit is no reason to send more than one a second.
        assert_eq!(auto.pace(Some(1000), minute).0, QUICKEST_WATCH);
        // A limit of 1 cannot be halved: one request per window, the least that watches.
        assert_eq!(auto.pace(Some(1), minute).0, minute);
        let (pace, why) = auto.pace(None, minute);
        assert_eq!(pace, QUICKEST_WATCH);
        assert!(why.contains("no limit was advertised"), "{why}");
        // `--every` is taken as given, whatever the limit.
        let given = Watch {
            every: Some(Duration::from_millis(500)),
            ..auto
        };
        assert_eq!(given.pace(Some(10), minute).0, Duration::from_millis(500));
    }
}
