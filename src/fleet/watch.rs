//! `fleet --watch`: the fleet's state as the answers come in, and the moments it changes.
//!
//! An operator watching from outside sees a Redis outage as the instances' counters coming
//! apart: one instance reads the value another read a moment before (LiteLLM falls back to
//! each instance's memory and keeps admitting). Recovery shows as the counter running down
//! once across the instances again. Each change is dated by the answer that proved it.

use std::collections::BTreeSet;

use serde::Serialize;

use super::judge::{Rules, Sample, name, names, windows};

/// What the fleet looked like at a moment of the watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// One counter, run down once across the instances.
    OneCounter,
    /// The instances count apart: a value repeated on two, or more admitted than the limit.
    Split,
}

impl State {
    /// The state as the report prints it.
    pub fn label(self) -> &'static str {
        match self {
            State::OneCounter => "one counter",
            State::Split => "split",
        }
    }
}

/// The fleet changed state at an answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// The answer that showed it.
    pub seq: u32,
    /// When that request was sent, in milliseconds since the check began.
    pub at_ms: f64,
    /// The same moment on the clock (UTC, RFC 3339), to set beside the gateway's logs.
    pub time: String,
    /// The state from then on.
    pub state: State,
    /// The answers that show it.
    pub evidence: String,
}

impl Change {
    /// One line: when, the new state, and the evidence.
    pub fn summary(&self) -> String {
        format!(
            "{} (+{:.1} s, request {}): {}: {}",
            self.time,
            self.at_ms / 1000.0,
            self.seq,
            self.state.label(),
            self.evidence
        )
    }
}

/// Follows the state over a growing list of samples.
#[derive(Debug, Default)]
pub struct Tracker {
    state: Option<State>,
    /// Where the evidence for a split may start: the run that proved the last recovery, so
    /// values read while the fleet was split are not taken for repeats after it healed.
    since: usize,
}

impl Tracker {
    /// The change the newest of `samples` shows, if any (`time` left empty for the caller).
    pub fn observe(&mut self, header: &str, samples: &[Sample], rules: Rules) -> Option<Change> {
        let recent = samples.get(self.since..)?;
        let last = recent.last()?;
        if !last.admitted() {
            return None;
        }
        let windows = windows(recent, rules.window_ms);
        let window = windows.last()?;
        let (state, evidence) = if self.state == Some(State::Split) {
            (State::OneCounter, self.recovered(header, samples, window)?)
        } else {
            match split(header, samples, window, last) {
                Some(evidence) => (State::Split, evidence),
                None if self.state.is_none() => {
                    (State::OneCounter, self.recovered(header, samples, window)?)
                }
                None => return None,
            }
        };
        self.state = Some(state);
        Some(Change {
            seq: last.seq,
            at_ms: last.at_ms,
            time: String::new(),
            state,
            evidence,
        })
    }

    /// Two readings per source running down without a repeat, across two sources or more: one
    /// counter again.
    fn recovered(
        &mut self,
        header: &str,
        samples: &[Sample],
        window: &[&Sample],
    ) -> Option<String> {
        let sources: BTreeSet<usize> = samples.iter().map(|s| s.instance).collect();
        let counted: Vec<&Sample> = window
            .iter()
            .copied()
            .filter(|s| s.counted().is_some())
            .collect();
        let tail = counted.get(counted.len().checked_sub(2 * sources.len())?..)?;
        let descending = tail.windows(2).all(|p| p[1].counted() < p[0].counted());
        let on: Vec<usize> = tail
            .iter()
            .map(|s| s.instance)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if !descending || on.len() < 2 {
            return None;
        }
        self.since = samples.iter().position(|s| s.seq == tail[0].seq)?;
        let values: Vec<String> = tail
            .iter()
            .filter_map(|s| s.counted())
            .map(|v| v.to_string())
            .collect();
        Some(format!(
            "`{header}` counted down {} across {}",
            values.join(", "),
            names(&on)
        ))
    }
}

/// Whether `last` proves the instances count apart: its value read before on another source
/// in this window, or more admitted in the window than the limit.
fn split(header: &str, samples: &[Sample], window: &[&Sample], last: &Sample) -> Option<String> {
    if let Some(value) = last.counted()
        && let Some(other) = window
            .iter()
            .rev()
            .skip(1)
            .find(|s| s.counted() == Some(value) && s.instance != last.instance)
    {
        return Some(format!(
            "`{header}` read {value} on {} at {:.1} s, as on {} at {:.1} s: the instances count apart",
            name(last.instance),
            last.at_ms / 1000.0,
            name(other.instance),
            other.at_ms / 1000.0
        ));
    }
    let limit = samples.iter().filter_map(|s| s.limit).max()?;
    (window.len() as u64 > limit).then(|| {
        format!(
            "{} admitted within one window, above the limit of {limit}",
            window.len()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "x-ratelimit-api_key-remaining-requests";
    const RULES: Rules = Rules {
        window_ms: 60_000.0,
        tolerance_ms: 2000.0,
    };

    fn at(seq: u32, remaining: u64) -> Sample {
        Sample {
            seq,
            instance: (seq as usize + 1) % 2 + 1,
            at_ms: f64::from(seq) * 250.0,
            status: Some(200),
            remaining: Some(remaining),
            limit: Some(1000),
            failure: None,
        }
    }

    /// Every change over `values`, fed one answer at a time as the watch does.
    fn changes(values: &[u64]) -> Vec<(u32, State)> {
        let mut t = Tracker::default();
        let mut samples = Vec::new();
        let mut out = Vec::new();
        for (i, v) in values.iter().enumerate() {
            samples.push(at(u32::try_from(i).unwrap() + 1, *v));
            if let Some(c) = t.observe(H, &samples, RULES) {
                out.push((c.seq, c.state));
            }
        }
        out
    }

    #[test]
    fn a_redis_loss_and_its_recovery_are_dated() {
        // What LiteLLM 1.106.12 did when its Redis was stopped after request 6: the next answer
        // repeats the value before it. Then Redis is back, empty: one counter from the top.
        let values = [
            999, 998, 997, 996, 995, 994, 994, 993, 993, 992, 999, 998, 997, 996,
        ];
        assert_eq!(
            changes(&values),
            vec![
                (4, State::OneCounter),
                (7, State::Split),
                (14, State::OneCounter)
            ]
        );
    }

    #[test]
    fn a_shared_counter_stays_one() {
        let values: Vec<u64> = (0..20).map(|i| 999 - i).collect();
        assert_eq!(changes(&values), vec![(4, State::OneCounter)]);
    }

    #[test]
    fn refusals_and_cut_bodies_change_nothing() {
        let mut t = Tracker::default();
        let mut samples = vec![at(1, 999)];
        samples.push(Sample {
            status: Some(429),
            remaining: None,
            ..at(2, 0)
        });
        samples.push(Sample {
            failure: Some("cut".into()),
            ..at(3, 999)
        });
        for n in 1..=samples.len() {
            assert_eq!(t.observe(H, &samples[..n], RULES), None);
        }
    }
}
