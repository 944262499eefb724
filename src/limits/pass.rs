//! One request per endpoint and shape, each between two control readings: the fall of
//! `remaining-tokens` across it against the `usage` it reported (tokens charged as used), and
//! the `max_parallel_requests` slots free after it (slots returned).
//!
//! A control is non-streaming chat; what one control costs was measured by the first two, so
//! the fall between the control before and the control after, less one control, is what the
//! request in between was charged. Streams, whose answers carry no header on LiteLLM, are
//! measured the same way. The requests counter must fall by exactly the requests sent, which
//! rules out other traffic on the key.

use std::time::Duration;

use super::session::{Answer, Ask, Session};
use super::{CONTROL, CheckId, LimitType, LimitsOptions, Outcomes, Status};
use crate::endpoint::Variant;
use crate::http::Usage;
use crate::verdict::{Finding, FindingKind};

/// How long after a completed request a slot may still be taken before it counts as kept: a
/// gateway that releases it in a callback a moment later is not at fault.
const CONFIRM: Duration = Duration::from_secs(2);

/// What a charge was, against the usage reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Charged {
    /// Input and output tokens.
    Full,
    /// Output tokens only.
    Output,
    /// Input tokens only.
    Input,
    /// Nothing (at most one token).
    Nothing,
    /// Something else.
    Other,
}

impl Charged {
    fn of(charge: i64, usage: Option<Usage>) -> Charged {
        let near = |want: Option<u64>| {
            want.and_then(|w| i64::try_from(w).ok())
                .is_some_and(|w| (charge - w).abs() <= (w / 10).max(2))
        };
        if charge <= 1 {
            return Charged::Nothing;
        }
        let Some(u) = usage else {
            return Charged::Other;
        };
        if near(u.total()) {
            Charged::Full
        } else if near(u.output) {
            Charged::Output
        } else if near(u.input) {
            Charged::Input
        } else {
            Charged::Other
        }
    }

    fn words(self) -> &'static str {
        match self {
            Charged::Full => "input and output tokens",
            Charged::Output => "its output tokens only",
            Charged::Input => "its input tokens only",
            Charged::Nothing => "nothing",
            Charged::Other => "neither its input, its output nor their total",
        }
    }
}

/// One request's charge.
struct Charge {
    variant: Variant,
    tokens: i64,
    usage: Option<Usage>,
    class: Charged,
}

impl Charge {
    fn reported(&self) -> String {
        self.usage
            .and_then(|u| u.total())
            .map_or_else(|| "no usage".into(), |t| format!("{t} tokens"))
    }
}

/// What the slots check saw after one variant.
struct Kept {
    variant: Variant,
    evidence: String,
}

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
    if let Some(last) = &s.last
        && last.ex.seq == s.sent
    {
        return Some(last.clone());
    }
    let c = s.control().await?;
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

enum SlotVerdict {
    Returned(String),
    Kept(String),
    Unknown(String),
}

/// A slot verdict, and the first control admitted after the variant when the verdict had to
/// wait for one (its counters still show what the variant was charged).
struct SlotOutcome {
    verdict: SlotVerdict,
    admitted: Option<Answer>,
}

/// Whether the variant's slot came back: the control after finds as many slots free as the
/// control before (the header), or is admitted at all (N requests of the variant, no header).
async fn slot_verdict(
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
    {
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
}

// One table of charge classes against chat's, then the one finding that names every endpoint.
#[allow(clippy::too_many_lines)]
fn judge_tokens(s: &mut Session<'_>, charges: &[Charge], chat_charge: i64, out: &mut Outcomes) {
    let check = CheckId::TokensCharged;
    let reference = charges.iter().find(|c| c.variant == CONTROL);
    let header = s
        .last
        .as_ref()
        .and_then(|a| a.reading.tokens.as_ref())
        .map(|c| c.header.clone())
        .unwrap_or_default();
    let mut defects: Vec<(&Charge, String)> = Vec::new();
    for c in charges {
        let said = format!(
            "charged {} for a call that reported {} ({})",
            c.tokens,
            c.reported(),
            c.class.words()
        );
        if c.variant == CONTROL {
            match c.class {
                Charged::Full => out.cell(check, c.variant, Status::Held, said),
                Charged::Output | Charged::Input => {
                    s.notes.push(format!(
                        "non-streaming chat is charged {}: {} of {} (LiteLLM's `general_settings.token_rate_limit_type` chooses input, output or total; BerriAI/litellm#17664)",
                        c.class.words(),
                        c.tokens,
                        c.reported()
                    ));
                    out.cell(check, c.variant, Status::Held, said);
                }
                Charged::Nothing => out.cell(
                    check,
                    c.variant,
                    Status::Suspicious,
                    format!("{said}: the key's tokens limit counts nothing here"),
                ),
                Charged::Other => out.cell(check, c.variant, Status::Suspicious, said),
            }
            continue;
        }
        let Some(r) = reference else {
            out.cell(
                check,
                c.variant,
                Status::Suspicious,
                format!("{said}; non-streaming chat was not measured to compare with"),
            );
            continue;
        };
        let chat = format!(
            "the same call on non-streaming chat was charged {} ({})",
            r.tokens,
            r.class.words()
        );
        let defect = match (c.class, r.class) {
            (Charged::Nothing, Charged::Full | Charged::Output | Charged::Input)
            | (Charged::Output | Charged::Input, Charged::Full) => true,
            // No usage to compare with: only nothing against a charged chat is proof.
            (Charged::Other, _) if c.usage.is_none() => c.tokens <= 1 && chat_charge >= 5,
            _ => false,
        };
        if defect {
            out.cell(
                check,
                c.variant,
                Status::Defect,
                format!("{said}, where {chat}"),
            );
            defects.push((c, said));
        } else if c.class == r.class || c.class == Charged::Full {
            out.cell(check, c.variant, Status::Held, said);
        } else {
            out.cell(
                check,
                c.variant,
                Status::Suspicious,
                format!("{said}, where {chat}"),
            );
            let mut w = Finding::new(
                FindingKind::TokensNotCharged,
                format!(
                    "tokens charged unlike chat on {}: {said}, where {chat}",
                    c.variant
                ),
            )
            .warning();
            w.headers = vec![header.clone()];
            w.missing_on = vec![c.variant.to_string()];
            out.findings.push(w);
        }
    }
    if let Some(r) = reference.filter(|r| r.class == Charged::Nothing) {
        let mut w = Finding::new(
            FindingKind::TokensNotCharged,
            format!(
                "tokens are not charged even on non-streaming chat: `{header}` fell by {} for a call that reported {}; the key's tokens limit counts nothing",
                r.tokens,
                r.reported()
            ),
        )
        .warning();
        w.headers = vec![header.clone()];
        out.findings.push(w);
    }
    if defects.is_empty() {
        return;
    }
    let r = reference.map(|r| (r.tokens, r.reported(), r.class.words()));
    let litellm = s.is_litellm();
    let mut f = Finding::new(
        FindingKind::TokensNotCharged,
        format!(
            "tokens are not charged as used on {}{}: {}{}",
            defects
                .iter()
                .map(|(c, _)| c.variant.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            if litellm {
                " (BerriAI/litellm#17706, #18671)"
            } else {
                ""
            },
            defects
                .iter()
                .map(|(c, said)| format!("{} {said}", c.variant))
                .collect::<Vec<_>>()
                .join("; "),
            r.map_or_else(String::new, |(t, u, w)| format!(
                "; the same call on non-streaming chat was charged {t} for {u} ({w}), read on `{header}` between identical requests"
            ))
        ),
    );
    f.headers = vec![header];
    f.missing_on = defects.iter().map(|(c, _)| c.variant.to_string()).collect();
    f.present_on = charges
        .iter()
        .filter(|c| !defects.iter().any(|(d, _)| d.variant == c.variant))
        .map(|c| c.variant.to_string())
        .collect();
    f.link = litellm.then(|| "https://github.com/BerriAI/litellm/issues/17706".into());
    out.findings.push(f);
}

fn judge_slots(s: &Session<'_>, kept: &[Kept], n: i64, out: &mut Outcomes) {
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
