//! `ratecheck merge`: the raw results of a split test's shards folded into one. Counts,
//! histograms, tallies and the timeline add; samples are kept from every shard; what the
//! shards could not see together is taken as slack (the first refusal) or said to be
//! unchecked (admission per window). The set of shards is checked as it is folded: a shard
//! missing, given twice, from another test, interrupted or failed is named and fails the merge.

use std::collections::BTreeMap;

use super::raw::{Raw, RawError};
use super::report::{First429, Shards, Truth};
use super::segment::Segment;
use super::stats::Second;
use crate::verdict::Exit;

/// One raw file given to `merge`, read.
pub struct Input {
    /// The path as given.
    pub name: String,
    /// Its raw result.
    pub raw: Raw,
}

/// Folds the shards of one test into one raw result. The test is the one most files belong
/// to; a file of another test is left out and named in `left_out` with the files that could
/// not be read, and the report names a shard missing or given twice (see [`Raw::report`]).
pub fn merge(inputs: Vec<Input>, unreadable: Vec<String>) -> Result<Raw, RawError> {
    let mut ids: BTreeMap<&str, usize> = BTreeMap::new();
    for i in &inputs {
        *ids.entry(i.raw.test_id.as_str()).or_default() += 1;
    }
    let test = ids
        .iter()
        .max_by_key(|(id, n)| (**n, std::cmp::Reverse(*id)))
        .map(|(id, _)| (*id).to_string())
        .ok_or_else(|| RawError("no raw result to merge".into()))?;
    let mut foreign = unreadable;
    let mut merged: Option<Raw> = None;
    for i in inputs {
        if i.raw.test_id != test {
            foreign.push(format!(
                "{} is from another test (id `{}`, not `{test}`): left out",
                i.name, i.raw.test_id
            ));
            continue;
        }
        match &mut merged {
            None => merged = Some(i.raw),
            Some(m) => m.absorb(i.raw),
        }
    }
    let mut merged = merged.ok_or_else(|| RawError("no raw result to merge".into()))?;
    merged.merged = true;
    merged.left_out.extend(foreign);
    // The report speaks of the whole test, as one process running it would have.
    if let Some(w) = merged.whole {
        let s = &mut merged.settings;
        s.arrival = w.arrival;
        s.max_in_flight = w.max_in_flight;
        s.requests = w.requests;
        s.seed = w.seed;
        s.segment = None;
    }
    Ok(merged)
}

impl Raw {
    /// Folds another shard's raw result into this one: counts and histograms add, the
    /// timeline adds second by second (the shards started together), samples are kept from
    /// every shard, and the first refusal is the earliest of any shard's, with the others'
    /// traffic counted as slack (see `Truth::absorb`).
    pub fn absorb(&mut self, o: Raw) {
        let others_in_flight = o.peak_in_flight;
        let mine_in_flight = self.peak_in_flight;
        self.truth.absorb(
            o.truth,
            (&self.timeline, mine_in_flight),
            (&o.timeline, others_in_flight),
        );
        self.wall_ms = self.wall_ms.max(o.wall_ms);
        self.interrupted |= o.interrupted;
        self.dispatch_ms = self.dispatch_ms.max(o.dispatch_ms);
        self.peak_in_flight += o.peak_in_flight;
        self.latency.add(&o.latency);
        let (s, t) = (&mut self.schedule, &o.schedule);
        s.late += t.late;
        s.held_by_pause += t.held_by_pause;
        s.held_by_pace += t.held_by_pace;
        s.dropped_at_cap += t.dropped_at_cap;
        let (r, q) = (&mut self.requests, &o.requests);
        r.logical += q.logical;
        r.succeeded += q.succeeded;
        r.failed += q.failed;
        r.attempts += q.attempts;
        r.retries += q.retries;
        r.retried_successes += q.retried_successes;
        r.budget_exhausted += q.budget_exhausted;
        r.cancelled += q.cancelled;
        r.waited_ms += q.waited_ms;
        add_counts(&mut self.errors, o.errors);
        add_counts(&mut self.hints, o.hints);
        for (class, message) in o.first_errors {
            self.first_errors.entry(class).or_insert(message);
        }
        self.clamped_hints += o.clamped_hints;
        if self.target_down.is_none() {
            self.target_down = o.target_down;
        }
        for (variant, tally) in o.shapes {
            let mine = self.shapes.entry(variant).or_default();
            mine.responses += tally.responses;
            add_counts(&mut mine.carried, tally.carried);
        }
        if self.timeline.len() < o.timeline.len() {
            self.timeline.resize_with(o.timeline.len(), Second::default);
        }
        for (mine, theirs) in self.timeline.iter_mut().zip(o.timeline) {
            mine.sent += theirs.sent;
            mine.accepted += theirs.accepted;
            mine.throttled += theirs.throttled;
            mine.errors += theirs.errors;
            for (variant, remaining) in theirs.remaining {
                // Within one second, the lowest count any shard saw is the latest.
                let r = mine.remaining.entry(variant).or_insert(remaining);
                *r = (*r).min(remaining);
            }
        }
        for mut sample in o.samples {
            sample.seq = u32::try_from(self.samples.len() + 1).unwrap_or(u32::MAX);
            self.samples.push(sample);
        }
        for name in o.declared {
            if !self.declared.contains(&name) {
                self.declared.push(name);
            }
        }
        for expr in o.fail_if {
            if !self.fail_if.contains(&expr) {
                self.fail_if.push(expr);
            }
        }
        self.strict |= o.strict;
        self.shards.extend(o.shards);
        self.left_out.extend(o.left_out);
    }

    /// For a merge: which shards were folded in, and what is wrong with the set. `None` for a
    /// run that was not split.
    pub(super) fn shard_summary(&self) -> Option<Shards> {
        if !self.merged {
            return None;
        }
        let count = self
            .shards
            .iter()
            .find_map(|s| s.segment)
            .map_or(1, |s| s.count);
        let mut merged: Vec<Segment> = self.shards.iter().filter_map(|s| s.segment).collect();
        merged.sort_by_key(|s| s.index);
        let mut problems = self.left_out.clone();
        let mut faults = vec![Exit::Usage; problems.len()];
        for k in 1..=count {
            let n = merged.iter().filter(|s| s.index == k).count();
            if n == 0 {
                problems.push(format!(
                    "shard {k}/{count} is missing: no raw result holds it"
                ));
                faults.push(Exit::Usage);
            } else if n > 1 {
                problems.push(format!(
                    "shard {k}/{count} was given {n} times: its traffic would count twice"
                ));
                faults.push(Exit::Usage);
            }
        }
        for s in &self.shards {
            let name = s
                .segment
                .map_or_else(|| "a run".to_string(), |g| format!("shard {g}"));
            if s.interrupted {
                problems.push(format!(
                    "{name} was interrupted: its numbers stop where it was stopped"
                ));
                faults.push(Exit::Usage);
            } else if s.exit_code >= 2 {
                problems.push(format!(
                    "{name} failed on its own (exit {}, {})",
                    s.exit_code, s.status
                ));
                // The shard's own status, word for word; a word this ratecheck does not know
                // is an input it cannot read.
                faults.push(Exit::named(&s.status).unwrap_or(Exit::Usage));
            }
        }
        merged.dedup();
        Some(Shards {
            test_id: self.test_id.clone(),
            count,
            merged: merged.iter().map(ToString::to_string).collect(),
            problems,
            exit: faults.into_iter().fold(Exit::Ok, Exit::worst),
        })
    }
}

fn add_counts<K: Ord>(into: &mut BTreeMap<K, u64>, from: BTreeMap<K, u64>) {
    for (k, n) in from {
        *into.entry(k).or_default() += n;
    }
}

impl Truth {
    /// Folds another shard's truth into this one. The first refusal is the earliest of the
    /// two; the traffic of the shard that did not see it is slack for its check: requests
    /// that shard may have had in flight (its peak), and those it had accepted in the seconds
    /// from the last `remaining` to the refusal. A shared limiter counted them too, so
    /// without them a refusal that came on time would look early.
    fn absorb(&mut self, o: Truth, mine: (&[Second], u64), theirs: (&[Second], u64)) {
        let slack = |first: First429, other: (&[Second], u64)| {
            let (timeline, peak) = other;
            let mut f = first;
            f.in_flight = f
                .in_flight
                .saturating_add(usize::try_from(peak).unwrap_or(usize::MAX));
            if let Some(from) = f.remaining_at_ms {
                let (a, b) = (second_of(from), second_of(f.at_ms));
                let accepted: u64 = timeline
                    .iter()
                    .skip(a)
                    .take(b.saturating_sub(a) + 1)
                    .map(|s| s.accepted)
                    .sum();
                f.accepted_since += accepted;
            }
            f
        };
        self.first_429 = match (self.first_429, o.first_429) {
            (Some(a), Some(b)) if b.at_ms < a.at_ms => Some(slack(b, mine)),
            (Some(a), _) => Some(slack(a, theirs)),
            (None, Some(b)) => Some(slack(b, mine)),
            (None, None) => None,
        };
        self.limit_requests = self.limit_requests.or(o.limit_requests);
        self.windows = self.windows.max(o.windows);
        let summed = |t: &Truth| {
            t.max_accepted_per_window_summed
                .unwrap_or(t.max_accepted_per_window)
        };
        self.max_accepted_per_window_summed = Some(summed(self) + summed(&o));
        self.max_accepted_per_window = self.max_accepted_per_window.max(o.max_accepted_per_window);
        self.retries_after_hint += o.retries_after_hint;
        self.retries_after_hint_accepted += o.retries_after_hint_accepted;
        self.throttles_without_hint += o.throttles_without_hint;
    }
}

fn second_of(ms: f64) -> usize {
    // Whole seconds from the start; negative or unreadable times are the first.
    (ms / 1000.0).floor().clamp(0.0, 86_400.0) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shard A saw `remaining: 10` at 1.2 s and its first 429 at 1.5 s, with nothing accepted
    /// since and one request in flight: alone, the refusal looks early. Shard B accepted 20
    /// requests in that second and had up to 4 in flight; a shared limiter counted those too,
    /// so the merged first refusal carries them as slack.
    #[test]
    fn the_first_refusal_counts_the_other_shards_traffic() {
        let first = First429 {
            at_ms: 1500.0,
            last_remaining: Some(10),
            accepted_since: 0,
            in_flight: 1,
            remaining_at_ms: Some(1200.0),
        };
        let a = Truth {
            first_429: Some(first),
            ..Truth::default()
        };
        let busy = |accepted| Second {
            accepted,
            ..Second::default()
        };
        let theirs = vec![busy(5), busy(20), busy(7)];
        let mut merged = a;
        merged.absorb(Truth::default(), (&[], 1), (&theirs, 4));
        let f = merged.first_429.unwrap();
        assert_eq!((f.accepted_since, f.in_flight), (20, 5));
        // The other way round: B's refusal is the later one, A's still wins and is slackened.
        let mut other = Truth::default();
        other.absorb(a, (&theirs, 4), (&[], 1));
        let f = other.first_429.unwrap();
        assert_eq!((f.accepted_since, f.in_flight), (20, 5));
    }

    /// Three shards under one limit of 100 a window, each accepting up to 40 in its busiest
    /// window: none went over alone, together they may have. Not proof, never green: a warning.
    /// With up to 30 each, the sum stays under the limit: cleared. One shard alone at 120:
    /// proof, whatever the others did.
    #[test]
    fn admission_per_window_across_shards_is_proven_suspected_or_cleared() {
        use crate::verdict::FindingKind;
        let shard = |most| Truth {
            limit_requests: Some(100),
            windows: 3,
            max_accepted_per_window: most,
            ..Truth::default()
        };
        let merged = |most: [u64; 3]| {
            let mut t = shard(most[0]);
            t.absorb(shard(most[1]), (&[], 0), (&[], 0));
            t.absorb(shard(most[2]), (&[], 0), (&[], 0));
            super::super::truth::findings(&BTreeMap::new(), &[], &t, &BTreeMap::new(), 4)
        };
        let (found, _) = merged([40, 40, 40]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].kind, FindingKind::OverAdmission);
        assert!(
            found[0].message.contains("add up to 120"),
            "{}",
            found[0].message
        );
        assert_eq!(
            crate::verdict::by_level(found).0.len(),
            0,
            "a warning, not a finding"
        );
        let (found, notes) = merged([30, 30, 30]);
        assert!(found.is_empty(), "{found:?}");
        assert!(notes.iter().any(|n| n.contains("at most 90")), "{notes:?}");
        let (found, _) = merged([120, 10, 10]);
        assert_eq!(found.len(), 1);
        assert!(found[0].message.starts_with("120 requests were accepted"));
    }
}
