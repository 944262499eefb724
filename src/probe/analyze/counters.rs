//! Checks over time: how `remaining` request counters move between requests, judged by what
//! their limiter is ([`Semantics`]).
//!
//! An exact fixed window (LiteLLM's limiters) counts every request it admitted, failed ones
//! included, before the upstream call: between two observations the counter must fall by at
//! least the successes and at most every request the gateway answered with anything but a
//! refusal or an auth error. A fall below that is proof of uncounted requests, unless a new
//! window could explain it; a fall above it points at other traffic on the key, a warning.
//! Replenishing, shared and token-cost counters prove nothing by their motion: a counter at
//! 5,000 RPM that does not move between two requests 100 ms apart is what such limiters do.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::headers::{RateHeader, Role, Semantics};
use crate::http::Exchange;

use super::{Finding, FindingKind, is_litellm};

/// How the counter checks read `remaining` counters: by the semantics table, or as the user says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum CounterMode {
    /// Each dialect by its limiter's semantics (README: "What ratecheck accuses").
    #[default]
    Auto,
    /// Every request counter as an exact fixed window.
    Exact,
    /// Every counter as approximate: only impossible motion is reported.
    Approximate,
    /// No counter checks.
    Off,
}

/// One observation of a counter: the request it came with, its value, the limit of the same
/// dimension on that response.
#[derive(Debug, Clone, Copy)]
struct Point {
    seq: u32,
    value: i64,
    limit: Option<i64>,
}

/// Whether `h` counts requests (not tokens, not parallel slots).
fn counts_requests(h: &RateHeader) -> bool {
    match h.unit.as_deref() {
        Some(u) => u == "requests" || u == "project-requests",
        None => h.name.contains("request") || h.name.contains("-req-"),
    }
}

/// Counter findings and notes over `exchanges` in send order.
pub(super) fn counter_checks(
    exchanges: &[Exchange],
    mode: CounterMode,
    out: &mut Vec<Finding>,
    notes: &mut Vec<String>,
) {
    if mode == CounterMode::Off {
        return;
    }
    let litellm = is_litellm(exchanges);
    let mut series: BTreeMap<String, (Semantics, Vec<Point>)> = BTreeMap::new();
    for ex in exchanges.iter().filter(|e| e.shape.is_success()) {
        // A counter sent twice with two values has no one value to follow (warned of apart).
        let ambiguous = super::values::conflicting(&ex.rate_headers);
        for h in ex.rate_headers.iter().filter(|h| {
            h.role == Role::Remaining
                && h.compared()
                && h.family.judged()
                && counts_requests(h)
                && !ambiguous.contains_key(h.name.as_str())
        }) {
            let Some(value) = h.count().filter(|v| *v >= 0) else {
                continue;
            };
            let limit = ex
                .rate_headers
                .iter()
                .find(|l| l.role == Role::Limit && l.dimension() == h.dimension())
                .and_then(RateHeader::count);
            let semantics = match mode {
                CounterMode::Exact => Semantics::ExactWindow,
                CounterMode::Approximate => Semantics::Replenishing,
                CounterMode::Auto | CounterMode::Off => Semantics::of(h, litellm),
            };
            series
                .entry(h.name.clone())
                .or_insert_with(|| (semantics, Vec::new()))
                .1
                .push(Point {
                    seq: ex.seq,
                    value,
                    limit,
                });
        }
    }
    let mut windows = 0;
    for (name, (semantics, points)) in &series {
        for pair in points.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if b.value > a.value {
                windows += 1;
                continue;
            }
            let between = Between::of(exchanges, a.seq, b.seq);
            let fall = a.value - b.value;
            match semantics {
                Semantics::ExactWindow => exact(name, a, b, fall, &between, out),
                _ => {
                    if fall > between.sent {
                        out.push(
                            Finding::new(
                                FindingKind::CounterMismatch,
                                format!(
                                    "`{name}` fell by {fall} from request {} to {}, more than the {} request(s) sent: another client shares this quota",
                                    a.seq, b.seq, between.sent
                                ),
                            )
                            .warning(),
                        );
                    }
                }
            }
        }
    }
    if windows > 0 {
        notes.push(format!(
            "remaining counters rose {windows} time(s) between requests: a window reset or replenishment"
        ));
    }
}

/// What happened between two observations, as the limiter could have counted it.
struct Between {
    /// Complete successful responses: counted by any limiter that admitted them.
    successes: i64,
    /// Requests answered with anything but a refusal (429) or an auth error: what a limiter
    /// that counts at admission may have counted (a 404 or 500 from the model included).
    answered: i64,
    /// Requests sent at all.
    sent: i64,
}

impl Between {
    fn of(exchanges: &[Exchange], from: u32, to: u32) -> Self {
        let span = || exchanges.iter().filter(|e| e.seq > from && e.seq <= to);
        let n = |it: usize| i64::try_from(it).unwrap_or(i64::MAX);
        Between {
            successes: n(span().filter(|e| e.shape.is_success()).count()),
            answered: n(span()
                .filter(|e| e.status.is_some_and(|s| !matches!(s, 401 | 403 | 429)))
                .count()),
            sent: n(span().count()),
        }
    }
}

/// The bounds of an exact window: successes ≤ fall ≤ answered.
fn exact(name: &str, a: Point, b: Point, fall: i64, between: &Between, out: &mut Vec<Finding>) {
    if fall < between.successes {
        // A new window that opened in between would show a value this high: not proof.
        let fresh = b
            .limit
            .is_some_and(|l| b.value >= l.saturating_sub(between.answered));
        if fresh {
            return;
        }
        let what = if fall == 0 {
            format!("stayed at {}", a.value)
        } else {
            format!("fell by only {fall}")
        };
        out.push(Finding::new(
            FindingKind::CounterMismatch,
            format!(
                "`{name}` {what} from request {} to {} although {} request(s) were admitted in between: the limiter counts every admitted request, so these went uncounted",
                a.seq, b.seq, between.successes
            ),
        ));
    } else if fall > between.answered {
        out.push(
            Finding::new(
                FindingKind::CounterMismatch,
                format!(
                    "`{name}` fell by {fall} from request {} to {}, but only {} request(s) reached the gateway: another client shares this key, or a request was counted twice",
                    a.seq, b.seq, between.answered
                ),
            )
            .warning(),
        );
    }
}
