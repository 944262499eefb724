//! Checks over time: a remaining-requests counter must fall by exactly one per request the
//! gateway admitted (streams included), and token counters must move at all.

use std::collections::BTreeMap;

use crate::headers::{Family, Role};
use crate::http::Exchange;

use super::{Finding, FindingKind};

/// `remaining` request counters must fall by one per request the gateway admitted.
pub(super) fn counter_checks(
    exchanges: &[Exchange],
    out: &mut Vec<Finding>,
    notes: &mut Vec<String>,
) {
    // Observations per header name: (seq, value), in send order.
    let mut series: BTreeMap<String, Vec<(u32, i64)>> = BTreeMap::new();
    for ex in exchanges.iter().filter(|e| e.shape.is_success()) {
        for h in &ex.rate_headers {
            let counted = h.role == Role::Remaining
                && h.family.compared_across_shapes()
                && h.family != Family::Anthropic;
            if let (true, Some(v)) = (counted, h.count())
                && v >= 0
            {
                series.entry(h.name.clone()).or_default().push((ex.seq, v));
            }
        }
    }
    let admitted = |from: u32, to: u32| -> i64 {
        let n = exchanges
            .iter()
            .filter(|e| e.seq > from && e.seq <= to && e.shape.is_success())
            .count();
        i64::try_from(n).unwrap_or(i64::MAX)
    };
    let mut replenished = 0;
    for (name, points) in series {
        if points.len() < 2 {
            continue;
        }
        let is_requests = name.contains("requests") && !name.contains("max_parallel");
        let mut never_moved = true;
        for pair in points.windows(2) {
            let ((s0, v0), (s1, v1)) = (pair[0], pair[1]);
            if v1 != v0 {
                never_moved = false;
            }
            if !is_requests {
                continue;
            }
            let expected = admitted(s0, s1);
            let fell = v0 - v1;
            if v1 > v0 {
                replenished += 1;
            } else if fell > expected {
                out.push(Finding::new(
                    FindingKind::CounterMismatch,
                    format!(
                        "`{name}` fell by {fell} from request {s0} to {s1}, but {expected} request(s) were sent: another client shares this key, or the gateway counts a request more than once"
                    ),
                ));
            } else if fell == 0 && expected > 0 {
                out.push(Finding::new(
                    FindingKind::CounterMismatch,
                    format!(
                        "`{name}` stayed at {v0} from request {s0} to {s1} although {expected} request(s) were admitted in between"
                    ),
                ));
            }
        }
        if never_moved && !is_requests && points.len() >= 3 {
            out.push(Finding::new(
                FindingKind::CounterMismatch,
                format!(
                    "`{name}` never moved across {} responses: the gateway may not be counting",
                    points.len()
                ),
            ));
        }
    }
    if replenished > 0 {
        notes.push(format!(
            "remaining counters rose {replenished} time(s) between requests: a window reset or replenishment"
        ));
    }
}
