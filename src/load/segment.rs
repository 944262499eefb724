//! Execution segments: one load test split over N processes, each sending its exact share.
//!
//! Shard K of N (from 1) takes `⌊total·K/N⌋ − ⌊total·(K−1)/N⌋` of every whole number — workers,
//! the in-flight cap, the request count — so the shares add up to the whole with no rounding
//! drift whatever N is (k6's execution segments do the same). A rate is divided by N; an evenly
//! spaced one is striped, shard K's first send (K−1)/rate after the start, so that the shards
//! together send on the whole test's schedule. Poisson arrivals are divided too: the sum of N
//! independent Poisson streams of rate/N is a Poisson stream of the rate, so each shard draws
//! from its own seed.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;

/// The variable a Kubernetes Indexed Job sets in each pod: its index, from 0.
pub const JOB_INDEX_VAR: &str = "JOB_COMPLETION_INDEX";

/// The furthest ahead a common start may be set.
pub const MAX_START_AHEAD: Duration = Duration::from_hours(24);

/// A common start for the shards of one split test: a wall-clock moment, read once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Start(jiff::Timestamp);

impl Start {
    /// `text` as RFC 3339 or Unix seconds, at most [`MAX_START_AHEAD`] after `now`.
    pub fn parse(text: &str, now: jiff::Timestamp) -> Result<Start, String> {
        let at: jiff::Timestamp = match text.trim().parse::<f64>() {
            Ok(secs) if secs.is_finite() => jiff::Timestamp::from_duration(
                jiff::SignedDuration::try_from_secs_f64(secs).map_err(|e| e.to_string())?,
            )
            .map_err(|e| e.to_string())?,
            _ => text.trim().parse().map_err(|e| {
                format!("`{text}` is not a time: write RFC 3339 (`2026-12-03T15:00:00Z`) or Unix seconds ({e})")
            })?,
        };
        let ahead = now.duration_until(at);
        if !ahead.is_negative()
            && Duration::try_from(ahead).unwrap_or(Duration::MAX) > MAX_START_AHEAD
        {
            return Err(format!(
                "`{text}` is more than a day ahead: a common start is for shards launched together"
            ));
        }
        Ok(Start(at))
    }

    /// How long to wait from `now`: zero when the start has passed, with how long ago in
    /// the second value.
    pub fn wait(self, now: jiff::Timestamp) -> (Duration, Duration) {
        let ahead = now.duration_until(self.0);
        if ahead.is_negative() {
            let ago = Duration::try_from(ahead.checked_neg().unwrap_or(jiff::SignedDuration::MAX))
                .unwrap_or(Duration::MAX);
            return (Duration::ZERO, ago);
        }
        (
            Duration::try_from(ahead).unwrap_or(Duration::MAX),
            Duration::ZERO,
        )
    }
}

impl Start {
    /// The moment, in Unix seconds.
    pub fn unix_seconds(&self) -> i64 {
        self.0.as_second()
    }
}

/// Most shards one test may be split into.
pub const MAX_SEGMENTS: u32 = 10_000;

/// Shard `index` of `count`, from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Segment {
    /// This shard, from 1 to `count`.
    pub index: u32,
    /// How many shards the test is split into.
    pub count: u32,
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Segment {
    type Err = String;

    /// `K/N`, K from 1 to N.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{s}` is not a segment: write K/N, K from 1 to N (`2/4`)");
        let (k, n) = s.trim().split_once('/').ok_or_else(bad)?;
        let index: u32 = k.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        Segment::new(index, count).ok_or_else(bad)
    }
}

impl<'de> serde::Deserialize<'de> for Segment {
    /// A scenario's `segment: 2/4`, read as the flag reads it; or the `{index, count}` object
    /// reports and raw results write.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Written {
            Text(String),
            Object { index: u32, count: u32 },
        }
        match Written::deserialize(d)? {
            Written::Text(text) => text.parse().map_err(serde::de::Error::custom),
            Written::Object { index, count } => Segment::new(index, count).ok_or_else(|| {
                serde::de::Error::custom(format!("segment {index}/{count} is no shard of {count}"))
            }),
        }
    }
}

impl Segment {
    /// Shard `index` of `count`, when `1 ≤ index ≤ count ≤ MAX_SEGMENTS`.
    pub fn new(index: u32, count: u32) -> Option<Segment> {
        (index >= 1 && index <= count && count <= MAX_SEGMENTS).then_some(Segment { index, count })
    }

    /// The shard a pod of an Indexed Job of `count` completions runs: its 0-based
    /// `JOB_COMPLETION_INDEX` (`value`) plus one. The error says what is wrong with the
    /// variable.
    pub fn of_job(count: u32, value: Option<&str>) -> Result<Segment, String> {
        let Some(value) = value else {
            return Err(format!(
                "`--segments {count}` takes this process's segment from `{JOB_INDEX_VAR}`, which is not set: run it as a Kubernetes Indexed Job, or name the segment with `--segment K/{count}`"
            ));
        };
        value
            .trim()
            .parse::<u32>()
            .ok()
            .and_then(|i| Segment::new(i.checked_add(1)?, count))
            .ok_or_else(|| {
                format!(
                    "`{JOB_INDEX_VAR}={value}` is not an index from 0 to {} for `--segments {count}`",
                    count.saturating_sub(1)
                )
            })
    }

    /// This shard's share of `total`: `⌊total·K/N⌋ − ⌊total·(K−1)/N⌋`. The shares of every
    /// shard add up to `total` exactly.
    pub fn share(&self, total: u64) -> u64 {
        let upto = |k: u32| {
            let v = u128::from(total) * u128::from(k) / u128::from(self.count);
            u64::try_from(v).unwrap_or(u64::MAX)
        };
        upto(self.index) - upto(self.index - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_to_the_whole() {
        for n in 1..=13u32 {
            for total in [0u64, 1, 2, 7, 10, 99, 100, 101, 1000, 4097, u64::MAX / 3] {
                let sum: u128 = (1..=n)
                    .map(|k| u128::from(Segment::new(k, n).unwrap().share(total)))
                    .sum();
                assert_eq!(sum, u128::from(total), "{total} over {n}");
                // No shard takes more than one above another.
                let shares: Vec<u64> = (1..=n)
                    .map(|k| Segment::new(k, n).unwrap().share(total))
                    .collect();
                let (lo, hi) = (shares.iter().min().unwrap(), shares.iter().max().unwrap());
                assert!(hi - lo <= 1, "{shares:?}");
            }
        }
    }

    #[test]
    fn segments_are_read_as_users_write_them() {
        assert_eq!("2/4".parse(), Ok(Segment { index: 2, count: 4 }));
        assert_eq!(" 1 / 1 ".parse(), Ok(Segment { index: 1, count: 1 }));
        for bad in ["0/4", "5/4", "4", "a/b", "1/0", "", "1/20000"] {
            assert!(bad.parse::<Segment>().is_err(), "{bad}");
        }
        assert_eq!(
            Segment::of_job(4, Some("0")),
            Ok(Segment { index: 1, count: 4 })
        );
        assert_eq!(
            Segment::of_job(4, Some("3")),
            Ok(Segment { index: 4, count: 4 })
        );
        assert!(
            Segment::of_job(4, Some("4"))
                .unwrap_err()
                .contains("from 0 to 3")
        );
        assert!(
            Segment::of_job(4, None)
                .unwrap_err()
                .contains(JOB_INDEX_VAR)
        );
    }

    #[test]
    fn a_common_start_is_read_as_rfc_3339_or_unix_seconds() {
        let now: jiff::Timestamp = "2026-12-03T15:00:00Z".parse().unwrap();
        let wait_for_start = |text: &str, now| Start::parse(text, now).map(|start| start.wait(now));
        assert_eq!(
            wait_for_start("2026-12-03T15:00:30Z", now),
            Ok((Duration::from_secs(30), Duration::ZERO))
        );
        let unix = now.as_second() + 5;
        assert_eq!(
            wait_for_start(&unix.to_string(), now),
            Ok((Duration::from_secs(5), Duration::ZERO))
        );
        assert_eq!(
            wait_for_start("2026-12-03T14:59:58Z", now),
            Ok((Duration::ZERO, Duration::from_secs(2)))
        );
        assert!(wait_for_start("2026-12-05T15:00:00Z", now).is_err());
        assert!(
            wait_for_start("soon", now)
                .unwrap_err()
                .contains("RFC 3339")
        );
    }
}
