//! Judging a fleet from the answers its instances gave one key: whether they count it once.
//!
//! The evidence is each response's instance, status, and the exact-window counter it carried
//! (LiteLLM's `x-ratelimit-{descriptor}-remaining-requests` and its `limit`). With one shared
//! store every admitted request takes the next value of one counter, so within a window no
//! value repeats, on any instance; with a counter per instance the same values come back from
//! each. Windows are told apart by what the counters do (a value higher than the one before is
//! a reset), never by a clock guess: a finding must not come from two windows taken for one.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::verdict::{Finding, FindingKind};

/// The [`Sample::instance`] of an answer through the load balancer (`--via`).
pub const VIA: usize = 0;

/// One answer from one instance: what the check records and the report's timeline shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    /// Send order, from 1.
    pub seq: u32,
    /// Which instance answered, numbered from 1 in the order given; 0 for the load balancer.
    pub instance: usize,
    /// When it was sent, in milliseconds since the check began.
    pub at_ms: f64,
    /// The status, if there was an answer.
    pub status: Option<u16>,
    /// The counter's `remaining`, on an answer that carried it (only admitted answers'
    /// are judged).
    pub remaining: Option<u64>,
    /// The counter's `limit`, on an answer that carried it.
    pub limit: Option<u64>,
    /// Why there was no answer, if there was none.
    pub failure: Option<String>,
}

impl Sample {
    pub(crate) fn admitted(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// The counter value judged: an answer whose body was cut or unreadable shows its value
    /// in the timeline, but is not followed.
    pub(super) fn counted(&self) -> Option<u64> {
        self.remaining.filter(|_| self.failure.is_none())
    }

    fn refused(&self) -> bool {
        self.status == Some(429)
    }
}

/// What the answers show.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verdict {
    /// Defects the answers prove, and warnings.
    pub findings: Vec<Finding>,
    /// What was consistent.
    pub notes: Vec<String>,
}

/// How the answers are read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rules {
    /// The limiter's window, in milliseconds (LiteLLM's `LITELLM_RATE_LIMIT_WINDOW_SIZE`,
    /// 60 s by default): answers further apart are never taken for one window.
    pub window_ms: f64,
    /// How long one instance may still refuse after another admitted in a new window.
    pub tolerance_ms: f64,
}

/// Judges `samples` (in send order) of the counter `header`.
pub fn judge(header: &str, samples: &[Sample], rules: Rules) -> Verdict {
    let mut v = Verdict::default();
    limits(samples, header, &mut v);
    let windows = windows(samples, rules.window_ms);
    let limit = samples.iter().filter_map(|s| s.limit).max();
    let mut split = false;
    for w in &windows {
        split |= repeated_values(w, header, &mut v);
        if let Some(limit) = limit {
            over_admission(w, limit, &mut v);
        }
    }
    if !split
        && windows
            .iter()
            .any(|w| w.iter().filter(|s| s.counted().is_some()).count() > 1)
    {
        v.notes.push(format!(
            "`{header}` counted down once across the instances: no value repeated on two"
        ));
    }
    stale_refusals(samples, &windows, rules.tolerance_ms, &mut v);
    v
}

/// Where an answer came from as messages name it: the report lists each instance's URL under
/// its number; 0 is the load balancer (`--via`).
pub fn name(i: usize) -> String {
    if i == VIA {
        "the load balancer".into()
    } else {
        format!("instance {i}")
    }
}

/// Several sources named at once: "instances 1 and 2", "instance 1 and the load balancer".
pub(super) fn names(on: &[usize]) -> String {
    let numbers: Vec<String> = on
        .iter()
        .filter(|i| **i != VIA)
        .map(usize::to_string)
        .collect();
    let instances = match numbers.len() {
        0 => String::new(),
        1 => format!("instance {}", numbers[0]),
        _ => format!("instances {}", numbers.join(" and ")),
    };
    match (on.contains(&VIA), instances.is_empty()) {
        (false, _) => instances,
        (true, true) => name(VIA),
        // The load balancer last, after the instances it routes to.
        (true, false) => format!("{instances} and {}", name(VIA)),
    }
}

/// Every instance advertises the same limit.
fn limits(samples: &[Sample], header: &str, v: &mut Verdict) {
    let mut by_instance: BTreeMap<usize, BTreeSet<u64>> = BTreeMap::new();
    for s in samples {
        if let Some(l) = s.limit {
            by_instance.entry(s.instance).or_default().insert(l);
        }
    }
    let distinct: BTreeSet<u64> = by_instance.values().flatten().copied().collect();
    if distinct.len() > 1 {
        let said: Vec<String> = by_instance
            .iter()
            .map(|(i, ls)| {
                let ls: Vec<String> = ls.iter().map(u64::to_string).collect();
                format!("{} on {}", ls.join(", "), name(*i))
            })
            .collect();
        let mut f = Finding::new(
            FindingKind::FleetLimitMismatch,
            format!(
                "the limit beside `{header}` differs between instances: {}",
                said.join("; ")
            ),
        );
        f.headers = vec![header.to_string()];
        v.findings.push(f);
    } else if let Some(l) = distinct.first()
        && by_instance.len() > 1
    {
        v.notes
            .push(format!("every instance advertised the limit {l}"));
    }
}

/// The admitted samples split into windows: a new window starts where the counter rose, on
/// any instance (after a reset a shared counter rises everywhere; a split one on its own
/// instance, and cutting there too only shortens what is compared), and a window's length
/// after its first answer at the latest (a reset between two answers that left the counter
/// where it was shows no rise).
pub(super) fn windows(samples: &[Sample], window_ms: f64) -> Vec<Vec<&Sample>> {
    let mut out: Vec<Vec<&Sample>> = vec![Vec::new()];
    let mut last: BTreeMap<usize, u64> = BTreeMap::new();
    let mut fleet_last: Option<u64> = None;
    for s in samples.iter().filter(|s| s.admitted()) {
        let expired = out
            .last()
            .and_then(|w| w.first())
            .is_some_and(|first| s.at_ms - first.at_ms >= window_ms);
        if expired {
            out.push(Vec::new());
            last.clear();
            fleet_last = None;
        }
        if let Some(r) = s.counted() {
            let rose_here = last.get(&s.instance).is_some_and(|prev| r > *prev);
            // A shared counter that rose since the fleet's last value is a reset too; a split
            // one rises between instances all the time, so only a rise on every instance that
            // had counted before marks a window for the fleet.
            let rose_everywhere =
                fleet_last.is_some_and(|prev| r > prev) && last.values().all(|prev| r > *prev);
            if (rose_here || rose_everywhere) && out.last().is_some_and(|w| !w.is_empty()) {
                out.push(Vec::new());
                last.clear();
            }
            last.insert(s.instance, r);
            fleet_last = Some(r);
        }
        if let Some(w) = out.last_mut() {
            w.push(s);
        }
    }
    out.retain(|w| !w.is_empty());
    out
}

/// One value of the counter reported by two instances in one window: they count apart.
fn repeated_values(window: &[&Sample], header: &str, v: &mut Verdict) -> bool {
    let mut seen: BTreeMap<u64, BTreeSet<usize>> = BTreeMap::new();
    for s in window {
        if let Some(r) = s.counted() {
            seen.entry(r).or_default().insert(s.instance);
        }
    }
    // Grouped by the instances that repeated them: "3, 2, 1 on instances 1 and 2".
    let mut by_instances: BTreeMap<Vec<usize>, Vec<u64>> = BTreeMap::new();
    for (r, on) in seen.iter().rev().filter(|(_, on)| on.len() > 1) {
        by_instances
            .entry(on.iter().copied().collect())
            .or_default()
            .push(*r);
    }
    let repeated: Vec<String> = by_instances
        .iter()
        .map(|(on, values)| {
            let values: Vec<String> = values.iter().take(5).map(u64::to_string).collect();
            format!("{} on {}", values.join(", "), names(on))
        })
        .collect();
    let Some(first) = first_repeat(window) else {
        return false;
    };
    let mut f = Finding::new(
        FindingKind::FleetSplitCounters,
        format!(
            "`{header}` gave the same values on different instances within one window ({}), first at {:.1} s (request {}): each instance counts this key alone",
            repeated.join("; "),
            first.at_ms / 1000.0,
            first.seq
        ),
    );
    f.headers = vec![header.to_string()];
    v.findings.push(f);
    true
}

/// The first answer in `window` whose counter value another source gave before it.
fn first_repeat<'a>(window: &[&'a Sample]) -> Option<&'a Sample> {
    let mut seen: BTreeMap<u64, usize> = BTreeMap::new();
    for s in window {
        let Some(r) = s.counted() else { continue };
        match seen.get(&r) {
            Some(on) if *on != s.instance => return Some(s),
            _ => {
                seen.insert(r, s.instance);
            }
        }
    }
    None
}

/// More admitted in one window than the limit, counting every instance.
fn over_admission(window: &[&Sample], limit: u64, v: &mut Verdict) {
    let admitted = window.len() as u64;
    if admitted <= limit {
        return;
    }
    let over = window[usize::try_from(limit)
        .unwrap_or(usize::MAX)
        .min(window.len() - 1)];
    let mut per: BTreeMap<usize, u64> = BTreeMap::new();
    for s in window {
        *per.entry(s.instance).or_default() += 1;
    }
    let per: Vec<String> = per
        .iter()
        .map(|(i, n)| format!("{}: {n}", name(*i)))
        .collect();
    v.findings.push(Finding::new(
        FindingKind::FleetOverAdmission,
        format!(
            "{admitted} requests admitted within one window across the instances, above the advertised limit of {limit} ({}); the first over it at {:.1} s (request {})",
            per.join(", "),
            over.at_ms / 1000.0,
            over.seq
        ),
    ));
}

/// After an instance admitted in a new window, another still refused for longer than allowed.
fn stale_refusals(
    samples: &[Sample],
    windows: &[Vec<&Sample>],
    tolerance_ms: f64,
    v: &mut Verdict,
) {
    for w in windows.iter().skip(1) {
        let Some(first) = w.first() else { continue };
        let late: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.refused() && s.instance != first.instance && s.at_ms > first.at_ms)
            .filter(|s| {
                // Only until that instance admits again in the new window.
                !samples.iter().any(|a| {
                    a.admitted()
                        && a.instance == s.instance
                        && a.at_ms > first.at_ms
                        && a.at_ms < s.at_ms
                })
            })
            .collect();
        if let Some(last) = late.last()
            && last.at_ms - first.at_ms > tolerance_ms
        {
            v.findings.push(
                Finding::new(
                    FindingKind::FleetStaleRefusal,
                    format!(
                        "{} kept refusing for {:.1} s after {} admitted in a new window",
                        name(last.instance),
                        (last.at_ms - first.at_ms) / 1000.0,
                        name(first.instance)
                    ),
                )
                .warning(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(seq: u32, instance: usize, status: u16, remaining: Option<u64>) -> Sample {
        Sample {
            seq,
            instance,
            at_ms: f64::from(seq) * 20.0,
            status: Some(status),
            remaining,
            limit: (status == 200).then_some(4),
            failure: None,
        }
    }

    fn kinds(v: &Verdict) -> Vec<FindingKind> {
        v.findings.iter().map(|f| f.kind).collect()
    }

    const H: &str = "x-ratelimit-api_key-remaining-requests";
    const RULES: Rules = Rules {
        window_ms: 60_000.0,
        tolerance_ms: 1000.0,
    };

    #[test]
    fn one_shared_counter_is_consistent() {
        // 3, 2, 1, 0 alternating, then refused on both: what LiteLLM on one Redis does.
        let samples = vec![
            s(1, 1, 200, Some(3)),
            s(2, 2, 200, Some(2)),
            s(3, 1, 200, Some(1)),
            s(4, 2, 200, Some(0)),
            s(5, 1, 429, None),
            s(6, 2, 429, None),
        ];
        let v = judge(H, &samples, RULES);
        assert!(v.findings.is_empty(), "{:?}", v.findings);
        assert_eq!(v.notes.len(), 2, "{:?}", v.notes);
    }

    #[test]
    fn counters_per_instance_are_split_and_over_admit() {
        // 3, 3, 2, 2, 1, 1, 0, 0: each instance its own counter, 8 admitted at a limit of 4.
        let samples: Vec<Sample> = (0..8u32)
            .map(|i| s(i + 1, (i % 2) as usize + 1, 200, Some(3 - u64::from(i / 2))))
            .collect();
        let v = judge(H, &samples, RULES);
        assert_eq!(
            kinds(&v),
            vec![
                FindingKind::FleetSplitCounters,
                FindingKind::FleetOverAdmission
            ],
            "{:?}",
            v.findings
        );
        assert!(
            v.findings[0]
                .message
                .contains("(3, 2, 1, 0 on instances 1 and 2)")
        );
        assert!(v.findings[1].message.starts_with("8 requests admitted"));
    }

    #[test]
    fn a_reset_starts_a_new_window_not_an_accusation() {
        // One shared counter runs out, then resets: 3, 2, 1, 0, then 3, 2 again.
        let mut samples = vec![
            s(1, 1, 200, Some(3)),
            s(2, 2, 200, Some(2)),
            s(3, 1, 200, Some(1)),
            s(4, 2, 200, Some(0)),
            s(5, 1, 200, Some(3)),
            s(6, 2, 200, Some(2)),
        ];
        let v = judge(H, &samples, RULES);
        assert!(v.findings.is_empty(), "{:?}", v.findings);
        // The other instance still refusing 2 s into the new window, before it admits there:
        // a stale local copy, a warning.
        samples[5] = Sample {
            at_ms: 100.0 + 2000.0,
            ..s(6, 2, 429, None)
        };
        let v = judge(H, &samples, RULES);
        assert_eq!(kinds(&v), vec![FindingKind::FleetStaleRefusal]);
        assert!(!v.findings[0].is_finding());
    }

    #[test]
    fn different_limits_are_named() {
        let mut samples = vec![s(1, 1, 200, Some(3)), s(2, 2, 200, Some(2))];
        samples[1].limit = Some(10);
        let v = judge(H, &samples, RULES);
        assert_eq!(kinds(&v), vec![FindingKind::FleetLimitMismatch]);
        assert!(
            v.findings[0]
                .message
                .contains("4 on instance 1; 10 on instance 2")
        );
    }

    #[test]
    fn answers_a_window_apart_are_not_compared() {
        // One request a minute: the shared counter reads 3 every time, on either instance.
        let samples: Vec<Sample> = (0..4u32)
            .map(|i| Sample {
                at_ms: f64::from(i) * 61_000.0,
                ..s(i + 1, (i % 2) as usize + 1, 200, Some(3))
            })
            .collect();
        let v = judge(H, &samples, RULES);
        assert!(v.findings.is_empty(), "{:?}", v.findings);
    }
}
