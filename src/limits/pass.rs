//! One request per endpoint and shape, each between two control readings: the fall of
//! `remaining-tokens` across it against the `usage` it reported (tokens charged as used), and
//! the `max_parallel_requests` slots free after it (slots returned).
//!
//! A control is non-streaming chat; what one control costs was measured by the first two, so
//! the fall between the control before and the control after, less one control, is what the
//! request in between was charged. Streams, whose answers carry no header on LiteLLM, are
//! measured the same way. The requests counter must fall by exactly the requests sent, which
//! rules out other traffic on the key. `tokens` judges the charges, `slots` the slots.

use super::session::{Answer, Ask, Session};
use super::slots::{Kept, SlotVerdict, judge_slots, slot_verdict};
use super::tokens::{Charge, Charged, judge_tokens};
use super::{CheckId, LimitType, LimitsOptions, Outcomes, Status};
use crate::endpoint::Variant;

// One step per variant, in time order: control, variant, control, verdicts; split, the readings it compares would travel between helpers.
#[allow(clippy::too_many_lines)]
pub(super) async fn run(
    s: &mut Session<'_>,
    opts: &LimitsOptions,
    variants: &[Variant],
    chat_charge: Option<i64>,
    out: &mut Outcomes,
) {
    let n = s.limits.max_parallel;
    let last = s
        .last
        .as_ref()
        .map(|a| a.reading.clone())
        .unwrap_or_default();
    let slots_header = last.parallel.is_some();
    let tokens =
        opts.runs(CheckId::TokensCharged) && last.tokens.is_some() && chat_charge.is_some();
    let slots = opts.runs(CheckId::SlotsReturned) && n.is_some_and(|n| (1..=16).contains(&n));
    if !tokens {
        let why = if !opts.runs(CheckId::TokensCharged) {
            "not asked for (`--checks`)"
        } else if last.tokens.is_none() {
            "the gateway shows no exact-window counter of tokens (the key has no tpm limit, or the gateway does not say)"
        } else {
            "the first two requests did not tell what one control is charged (other traffic on the key?)"
        };
        out.rest_not_checked(CheckId::TokensCharged, variants, why);
    }
    if !slots {
        let why = if !opts.runs(CheckId::SlotsReturned) {
            "not asked for (`--checks`)".to_string()
        } else if let Some(n) = n {
            format!("the key allows {n} requests in flight: too many slots to fill (at most 16)")
        } else {
            "the key has no max_parallel_requests: the gateway advertises none (pass `--max-parallel N` if the key has one)".to_string()
        };
        out.rest_not_checked(CheckId::SlotsReturned, variants, &why);
    }
    if !tokens && !slots {
        return;
    }
    let n = n.unwrap_or(1);
    // Without the slots header a kept slot shows only when every slot is kept: N requests of
    // the variant, then the control.
    let m: i64 = if slots && !slots_header { n } else { 1 };
    let chat_charge = chat_charge.unwrap_or(0);
    let mut charges: Vec<Charge> = Vec::new();
    let mut kept: Vec<Kept> = Vec::new();
    // A variant measured across a window's reset is measured once more.
    let mut queue: std::collections::VecDeque<(Variant, bool)> =
        variants.iter().map(|v| (*v, false)).collect();
    while let Some((v, again)) = queue.pop_front() {
        if s.over() {
            break;
        }
        let Some(before) = fresh_control(s).await else {
            break;
        };
        let used_before = before.reading.slots_left().map(|free| n - 1 - free);
        let mut answers: Vec<Answer> = Vec::new();
        let mut retried = false;
        while i64::try_from(answers.len()).unwrap_or(i64::MAX) < m {
            let Some(a) = s.send(v, Ask::Short, "variant").await else {
                break;
            };
            if a.parallel_refusal() && !retried && answers.is_empty() {
                // An earlier request's slot is still taken: wait for it, then try again.
                retried = true;
                if s.wait_until_admitted("the key's slots are free again")
                    .await
                    .is_none()
                {
                    break;
                }
                continue;
            }
            let stop = !a.ok();
            answers.push(a);
            if stop {
                break;
            }
        }
        if s.over() {
            break;
        }
        let Some(last_answer) = answers.last() else {
            continue;
        };
        if last_answer.not_offered() {
            for check in [CheckId::TokensCharged, CheckId::SlotsReturned] {
                if !out.decided(check, v) {
                    out.cell(
                        check,
                        v,
                        Status::NotChecked,
                        "endpoint not offered (404)".into(),
                    );
                }
            }
            continue;
        }
        if !last_answer.ok() {
            let why = format!("it answered {}", last_answer.status_text());
            if last_answer
                .refusal
                .as_ref()
                .is_some_and(|r| matches!(r.limit, LimitType::Tokens | LimitType::Requests))
            {
                s.notes.push(format!(
                    "the key's quota ran out during the per-endpoint checks ({v} answered {}); the rest were not checked",
                    last_answer.status_text()
                ));
                break;
            }
            for check in [CheckId::TokensCharged, CheckId::SlotsReturned] {
                if !out.decided(check, v) {
                    out.cell(check, v, Status::NotChecked, why.clone());
                }
            }
            continue;
        }
        let usage = answers.iter().find_map(|a| a.ex.usage);
        let Some(after) = s.control().await else {
            break;
        };
        // Slots: free ones after, against free ones before.
        let mut admitted_after = None;
        if slots {
            let outcome = slot_verdict(s, &before, &after, used_before, n, m).await;
            admitted_after = outcome.admitted;
            match outcome.verdict {
                SlotVerdict::Returned(detail) => {
                    out.cell(CheckId::SlotsReturned, v, Status::Held, detail);
                }
                SlotVerdict::Kept(evidence) => {
                    out.cell(CheckId::SlotsReturned, v, Status::Defect, evidence.clone());
                    kept.retain(|k| k.variant != v);
                    kept.push(Kept {
                        variant: v,
                        evidence,
                    });
                }
                SlotVerdict::Unknown(why) => {
                    out.cell(CheckId::SlotsReturned, v, Status::NotChecked, why);
                }
            }
        }
        // Tokens: read on the control after, or on the first one admitted after a wait for
        // slots (the refused controls in between may have been charged a request each).
        let after = admitted_after.unwrap_or(after);
        if tokens && after.ok() {
            let fell = |a: &Answer, b: &Answer, f: fn(&super::Reading) -> Option<i64>| {
                f(&a.reading).zip(f(&b.reading)).map(|(x, y)| x - y)
            };
            let refused_polls = i64::try_from(
                s.log
                    .iter()
                    .filter(|l| l.seq > before.ex.seq && l.seq < after.ex.seq)
                    .filter(|l| l.purpose == "control" && l.refusal.is_some())
                    .count(),
            )
            .unwrap_or(0);
            let requests = fell(&before, &after, super::Reading::requests_left);
            let tokens_fell = fell(&before, &after, super::Reading::tokens_left);
            match (requests, tokens_fell) {
                (Some(r), Some(t)) if (m + 1..=m + 1 + refused_polls).contains(&r) => {
                    let charge = (t - chat_charge) / m;
                    charges.retain(|c| c.variant != v);
                    charges.push(Charge {
                        variant: v,
                        tokens: charge,
                        usage,
                        class: Charged::of(charge, usage),
                    });
                }
                (Some(r), _) if r < 0 && !again => queue.push_back((v, true)),
                (Some(r), _) if r < 0 => out.cell(
                    CheckId::TokensCharged,
                    v,
                    Status::NotChecked,
                    "the key's window reset between the two readings, twice".into(),
                ),
                (Some(r), _) => out.cell(
                    CheckId::TokensCharged,
                    v,
                    Status::NotChecked,
                    format!(
                        "the requests counter fell by {r} where {} requests were sent: other traffic on the key",
                        m + 1
                    ),
                ),
                _ => out.cell(
                    CheckId::TokensCharged,
                    v,
                    Status::NotChecked,
                    "the control after showed no counters".into(),
                ),
            }
        } else if tokens {
            out.cell(
                CheckId::TokensCharged,
                v,
                Status::NotChecked,
                format!("the control after it answered {}", after.status_text()),
            );
        }
    }
    judge_tokens(s, &charges, chat_charge, out);
    judge_slots(s, &kept, n, out);
}

/// A control reading just before the next step: the last request, when it was one; a fresh
/// one otherwise, waiting for the key's slots if an earlier request kept them.
async fn fresh_control(s: &mut Session<'_>) -> Option<Answer> {
    let c = s.latest_control().await?;
    if c.ok() {
        return Some(c);
    }
    if c.parallel_refusal() {
        return s
            .wait_until_admitted("the key's slots are free again")
            .await
            .map(|(a, _)| a);
    }
    s.notes.push(format!(
        "the control answered {}: the per-endpoint checks stopped there",
        c.status_text()
    ));
    None
}
