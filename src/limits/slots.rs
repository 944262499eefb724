//! Slots returned: whether a completed request gives its `max_parallel_requests` slot back,
//! read on the control after it (the slots header, confirmed a moment later), or waited for
//! when every slot stays taken; one finding names every endpoint that keeps them.

use std::time::Duration;

use super::session::{Answer, Session};
use super::{CheckId, Outcomes, Status};
use crate::endpoint::Variant;
use crate::verdict::{Finding, FindingKind};

/// How long after a completed request a slot may still be taken before it counts as kept: a
/// gateway that releases it in a callback a moment later is not at fault.
const CONFIRM: Duration = Duration::from_secs(2);

/// What the slots check saw after one variant.
pub(super) struct Kept {
    pub(super) variant: Variant,
    pub(super) evidence: String,
}

pub(super) enum SlotVerdict {
    Returned(String),
    Kept(String),
    Unknown(String),
}

/// A slot verdict, and the first control admitted after the variant when the verdict had to
/// wait for one (its counters still show what the variant was charged).
pub(super) struct SlotOutcome {
    pub(super) verdict: SlotVerdict,
    pub(super) admitted: Option<Answer>,
}

/// Whether the variant's slot came back: the control after finds as many slots free as the
/// control before (the header), or is admitted at all (N requests of the variant, no header).
pub(super) async fn slot_verdict(
    s: &mut Session<'_>,
    before: &Answer,
    after: &Answer,
    used_before: Option<i64>,
    n: i64,
    m: i64,
) -> SlotOutcome {
    let ended = before.ended;
    if after.ok() {
        let verdict = slot_after_admitted(s, after, ended, used_before, n, m).await;
        return SlotOutcome {
            verdict,
            admitted: None,
        };
    }
    if !after.parallel_refusal() {
        return SlotOutcome {
            verdict: SlotVerdict::Unknown(format!(
                "the control after it answered {}",
                after.status_text()
            )),
            admitted: None,
        };
    }
    // Every slot is taken, with nothing of ours in flight.
    let refused_at = after.ended;
    let requests = if m == 1 {
        "one request read to its end".to_string()
    } else {
        format!("{m} requests read to their end")
    };
    match s
        .wait_until_admitted("the key's slots are free again")
        .await
    {
        Some((back, took)) => {
            let verdict = if took >= CONFIRM {
                SlotVerdict::Kept(format!(
                    "after {requests}, the control was refused for `max_parallel_requests` with no request of ours in flight; the slots came back {:.0} s later",
                    back.sent.duration_since(refused_at).as_secs_f64()
                ))
            } else {
                SlotVerdict::Returned(format!(
                    "the slot came back {:.1} s after the request ended",
                    back.sent.duration_since(ended).as_secs_f64()
                ))
            };
            SlotOutcome {
                verdict,
                admitted: Some(back),
            }
        }
        None => SlotOutcome {
            verdict: SlotVerdict::Kept(format!(
                "after {requests}, the control was refused for `max_parallel_requests` with no request of ours in flight, and still was at the end of the wait"
            )),
            admitted: None,
        },
    }
}

/// The slot verdict when the control after the variant was admitted: its slots header against
/// the one before, confirmed a moment later when a slot is missing.
async fn slot_after_admitted(
    s: &mut Session<'_>,
    after: &Answer,
    ended: std::time::Instant,
    used_before: Option<i64>,
    n: i64,
    m: i64,
) -> SlotVerdict {
    match (used_before, after.reading.slots_left()) {
        (Some(used), Some(free)) => {
            let used_after = n - 1 - free;
            if used_after <= used {
                return SlotVerdict::Returned(format!(
                    "{} of {n} slots free after it, as before",
                    n - used_after
                ));
            }
            // One more slot taken than before: still so a moment later?
            s.pause(CONFIRM).await;
            let Some(again) = s.control().await else {
                return SlotVerdict::Unknown("the run stopped".into());
            };
            let still = again
                .reading
                .slots_left()
                .map(|f| n - 1 - f)
                .is_some_and(|u| u > used)
                || again.parallel_refusal();
            if still {
                SlotVerdict::Kept(format!(
                    "after one request read to its end, the control found {} of {n} slots free where {} were, and still {:.1} s later, with no request of ours in flight",
                    n - used_after,
                    n - used,
                    again.sent.duration_since(ended).as_secs_f64()
                ))
            } else {
                SlotVerdict::Returned(format!(
                    "the slot came back {:.1} s after the request ended",
                    again.sent.duration_since(ended).as_secs_f64()
                ))
            }
        }
        _ => SlotVerdict::Returned(format!(
            "{m} requests in a row, then the control was admitted"
        )),
    }
}

pub(super) fn judge_slots(s: &Session<'_>, kept: &[Kept], n: i64, out: &mut Outcomes) {
    if kept.is_empty() {
        return;
    }
    let litellm = s.is_litellm();
    let mut f = Finding::new(
        FindingKind::SlotKept,
        format!(
            "a `max_parallel_requests` slot stays taken after a completed request on {}{} (the key allows {n}): {}. Clients get 429s with nothing in flight until the slot expires",
            kept.iter()
                .map(|k| k.variant.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            if litellm {
                " (BerriAI/litellm#27955, #17323)"
            } else {
                ""
            },
            kept.iter()
                .map(|k| format!("{}: {}", k.variant, k.evidence))
                .collect::<Vec<_>>()
                .join("; ")
        ),
    );
    f.missing_on = kept.iter().map(|k| k.variant.to_string()).collect();
    f.present_on = out
        .cells
        .iter()
        .filter(|c| c.check == CheckId::SlotsReturned && c.status == Status::Held)
        .map(|c| c.variant.to_string())
        .collect();
    f.link = litellm.then(|| "https://github.com/BerriAI/litellm/issues/27955".into());
    out.findings.push(f);
}
