//! Refusals not charged (BerriAI/litellm#39309): hold every one of the key's concurrency slots
//! with long generations, send one request per endpoint and shape while they run (each is
//! refused for `max_parallel_requests`), then read the requests counter once the slots are
//! back. `before − holders − 1` is right; every unit lower is a refusal charged.
//!
//! The refusals are also the 429 contract's evidence: one refusal of one limit on every
//! endpoint and shape, and how long its advice was against the time the slot really took to
//! come back.

use std::time::Instant;

use super::session::{Answer, Ask, Session};
use super::{CheckId, LimitsOptions, Outcomes, Status};
use crate::endpoint::{Mode, Variant};
use crate::verdict::{Finding, FindingKind};

/// The most slots the check holds: beyond that the key's concurrency is not "small".
const MAX_SLOTS: i64 = 16;
/// How long after the holders are sent the refusals start: long enough for the gateway to
/// admit the holders, far shorter than any long generation.
const LEAD: std::time::Duration = std::time::Duration::from_millis(600);

/// The long generation that holds a slot: a stream, read to its end.
const HOLDER: Variant = Variant {
    endpoint: crate::endpoint::Endpoint::Chat,
    mode: Mode::Streaming,
};

/// The cells and the finding of a batch: every refusal free, every one charged, or some (which
/// ones is not told apart).
fn judge(s: &Session<'_>, batch: &Batch, variants: &[Variant], out: &mut Outcomes) {
    let check = CheckId::RefusalsCharged;
    let charged = batch.charged();
    let k = i64::try_from(batch.refused.len()).unwrap_or(i64::MAX);
    let refused: Vec<Variant> = batch.refused.iter().map(|(v, _)| *v).collect();
    if charged < 0 || charged > k {
        let why = format!(
            "the counter moved by more than the requests sent explain ({}): other traffic on the key",
            batch.arithmetic()
        );
        for v in &refused {
            out.cell(check, *v, Status::Suspicious, why.clone());
        }
        out.rest_not_checked(check, variants, "not refused while the slots were held");
        return;
    }
    // A batch charged in part proves the defect but not which endpoints: on LiteLLM 1.80.0 the
    // same endpoint's refusals were seen charged in one batch and not in the next, so the
    // cells say so rather than name endpoints a second batch would not confirm.
    for v in &refused {
        let (status, detail) = if charged == 0 {
            (
                Status::Held,
                "refused for `max_parallel_requests` and not charged".to_string(),
            )
        } else if charged == k {
            (
                Status::Defect,
                "refused for `max_parallel_requests`, and charged to the requests limit"
                    .to_string(),
            )
        } else {
            (
                Status::Suspicious,
                format!(
                    "refused in a batch of {k} of which {charged} were charged to the requests limit; which endpoints were charged is not told apart"
                ),
            )
        };
        out.cell(check, *v, status, detail);
    }
    if charged > 0 {
        let litellm = s.is_litellm();
        let mut f = Finding::new(
            FindingKind::RefusalCharged,
            format!(
                "requests refused for `max_parallel_requests` were charged to the key's requests limit{}: {}: {charged} of the {k} refusals were charged",
                if litellm {
                    " (BerriAI/litellm#39309)"
                } else {
                    ""
                },
                batch.arithmetic(),
            ),
        );
        f.headers = vec![batch.header.clone()];
        f.missing_on = refused.iter().map(ToString::to_string).collect();
        f.link = litellm.then(|| "https://github.com/BerriAI/litellm/issues/39309".into());
        out.findings.push(f);
    }
    out.rest_not_checked(check, variants, "not refused while the slots were held");
}

/// Why a batch failed when a holder itself was not admitted.
const HOLDER_REFUSED: &str = "a long generation meant to hold a slot answered";

/// Why a batch failed when the key's window turned during it.
const WINDOW_RESET: &str = "the key's window reset during the check";

/// One batch: holders, refusals, the reading after.
struct Batch {
    /// Requests left before the holders (on the control just before).
    before: i64,
    /// The counter's header.
    header: String,
    /// The refusals, per variant.
    refused: Vec<(Variant, Answer)>,
    /// Answers that were not refusals and that the limiter counted (an upstream error).
    counted: i64,
    /// Holders sent.
    holders: i64,
    /// Requests left after, on the control.
    after: i64,
    /// When the control after was sent.
    after_sent: Instant,
    /// Variants sent after a long generation had ended, so into a free slot: not judged.
    late: Vec<Variant>,
}

impl Batch {
    /// Refusals charged: the fall beyond holders, counted answers and the control itself.
    fn charged(&self) -> i64 {
        (self.before - self.holders - self.counted - 1) - self.after
    }

    fn arithmetic(&self) -> String {
        let right = self.before - self.holders - self.counted - 1;
        format!(
            "`{}` read {} before; {} requests then held every slot and {} were refused; the next request read {}, where {} − {}{} − 1 = {right} is right",
            self.header,
            self.before,
            self.holders,
            self.refused.len(),
            self.after,
            self.before,
            self.holders,
            if self.counted > 0 {
                format!(" − {}", self.counted)
            } else {
                String::new()
            }
        )
    }
}

pub(super) async fn run(
    s: &mut Session<'_>,
    opts: &LimitsOptions,
    variants: &[Variant],
    out: &mut Outcomes,
) {
    let check = CheckId::RefusalsCharged;
    let Some(n) = s.limits.max_parallel else {
        out.rest_not_checked(
            check,
            variants,
            "the key has no max_parallel_requests: the gateway advertises none (pass `--max-parallel N` if the key has one)",
        );
        return;
    };
    if !(1..=MAX_SLOTS).contains(&n) {
        out.rest_not_checked(
            check,
            variants,
            &format!("the key allows {n} requests in flight: too many slots to hold (at most {MAX_SLOTS})"),
        );
        return;
    }
    let mut first = batch(s, opts, n, variants).await;
    if first
        .as_ref()
        .is_err_and(|why| why.starts_with(HOLDER_REFUSED) || why == WINDOW_RESET)
        && !s.over()
    {
        // A slot freed a moment late, or a window that turned: once more, a second later.
        s.pause(std::time::Duration::from_secs(1)).await;
        first = batch(s, opts, n, variants).await;
    }
    let batch = match first {
        Ok(b) => b,
        Err(why) => {
            out.rest_not_checked(check, variants, &why);
            return;
        }
    };
    advice_too_long(&batch, out);
    if !opts.runs(check) {
        // The refusals were for the 429 contract only.
        out.rest_not_checked(check, variants, "not asked for (`--checks`)");
        return;
    }
    for v in &batch.late {
        out.cell(
            check,
            *v,
            Status::NotChecked,
            "sent after the long generations that held the slots had ended: answers too fast to hold a slot that long (raise `--hold-tokens`)".into(),
        );
    }
    judge(s, &batch, variants, out);
}

/// The requests counter just before the holders, with every slot free: the last request when
/// it was a control, else a fresh one; a slot a request just gave back may take a moment to
/// show, so a busy slot is read again, up to three times a second apart.
async fn counter_before(s: &mut Session<'_>, n: i64) -> Result<super::read::Counter, String> {
    let mut tries = 0;
    loop {
        let c = if tries == 0 {
            s.latest_control().await
        } else {
            s.control().await
        }
        .ok_or("the run stopped")?;
        if !c.ok() {
            return Err(format!(
                "the control before the holders answered {}",
                c.status_text()
            ));
        }
        let reading = s
            .last
            .as_ref()
            .map(|a| a.reading.clone())
            .unwrap_or_default();
        let Some(counter) = reading.requests.clone() else {
            return Err("the control shows no requests counter".into());
        };
        match reading.slots_left() {
            Some(free) if free + 1 < n => {
                tries += 1;
                if tries > 2 {
                    // Taken for longer than a moment: a slot kept by an earlier request (or
                    // another client). Wait for every slot, as the check needs them all.
                    let all_free = |a: &Answer| a.reading.slots_left().is_none_or(|f| f + 1 >= n);
                    if s.wait_until("every slot of the key is free", all_free)
                        .await
                        .is_none()
                    {
                        return Err(format!(
                            "only {} of the key's {n} slots were free before the check, and they did not come back within the wait",
                            free + 1
                        ));
                    }
                    let reading = s
                        .last
                        .as_ref()
                        .map(|a| a.reading.clone())
                        .unwrap_or_default();
                    return reading
                        .requests
                        .ok_or_else(|| "the control shows no requests counter".to_string());
                }
                s.pause(std::time::Duration::from_secs(1)).await;
            }
            _ => return Ok(counter),
        }
    }
}

/// Holds every slot with `n` long generations, sends `variants` while they run, reads the
/// counter after. `Err` says why the check cannot be made.
// The batch is one sequence in time (counter, holders, refusals, holders joined, counter); split, its timing would be spread over helpers.
#[allow(clippy::too_many_lines)]
async fn batch(
    s: &mut Session<'_>,
    opts: &LimitsOptions,
    n: i64,
    variants: &[Variant],
) -> Result<Batch, String> {
    let slots = u32::try_from(n).unwrap_or(u32::MAX);
    let need = slots + u32::try_from(variants.len()).unwrap_or(u32::MAX) + 2;
    if s.left() < need {
        return Err(format!(
            "the budget left ({} requests, `--max-requests`) is less than the {need} the check needs",
            s.left()
        ));
    }
    let counter = counter_before(s, n).await?;
    // The control's own slot may come back a moment after its answer (LiteLLM's legacy limiter
    // frees it in a callback): let it, before every slot is asked for.
    s.pause(s.settle).await;
    // The holders: long streams, read to their end on tasks of their own.
    let mut holders = Vec::new();
    for _ in 0..slots {
        if !s.reserve(1) {
            break;
        }
        let req = s.request(HOLDER, Ask::Long, s.sent);
        let client = s.client.clone();
        holders.push(tokio::spawn(async move {
            let sent = Instant::now();
            let ex = client.send(&req).await;
            (ex, sent, Instant::now())
        }));
    }
    s.pause(LEAD).await;
    let mut answers = Vec::new();
    for v in variants {
        match s.send(*v, Ask::Short, "refusal").await {
            Some(a) => answers.push((*v, a)),
            None => break,
        }
    }
    let mut held = Vec::new();
    let stop = s.stop();
    for h in holders {
        // The holders end within `--max-time`; Ctrl-C ends the wait sooner.
        let joined = tokio::select! {
            j = h => j.ok(),
            () = stop.fired() => None,
        };
        if let Some((ex, sent, ended)) = joined {
            let client = s.client;
            held.push(s.record(client, "main", "holder", ex, sent, ended));
        }
    }
    if s.over() {
        return Err("the run stopped".into());
    }
    if let Some(h) = held.iter().find(|h| !h.ok()) {
        return Err(
            if h.refusal
                .as_ref()
                .is_some_and(|r| r.limit == super::LimitType::Tokens)
            {
                format!(
                    "the long generations meant to hold the slots were refused for tokens: the key's tokens limit leaves no room for {} output tokens (lower `--hold-tokens`, or use a key with a larger tpm)",
                    opts.hold_tokens
                )
            } else {
                format!(
                    "a long generation meant to hold a slot answered {}",
                    h.status_text()
                )
            },
        );
    }
    let first_end = held.iter().map(|h| h.ended).min();
    // A request sent after the first long generation ended met a free slot: its admission is
    // an ordinary one (counted below), and it is not judged. One admitted while every slot was
    // held says the limit is not enforced there.
    let sent_late = |a: &Answer| first_end.is_some_and(|end| a.sent >= end);
    let late: Vec<Variant> = answers
        .iter()
        .filter(|(_, a)| a.ok() && sent_late(a))
        .map(|(v, _)| *v)
        .collect();
    let admitted_held: Vec<Variant> = answers
        .iter()
        .filter(|(_, a)| a.ok() && !sent_late(a))
        .map(|(v, _)| *v)
        .collect();
    if !late.is_empty() && answers.iter().all(|(_, a)| a.refusal.is_none()) {
        let took = first_end.map_or(0.0, |end| end.duration_since(held[0].sent).as_secs_f64());
        return Err(format!(
            "answers too fast to hold a slot: the long generations ended after {took:.1} s, before the refusals were answered (raise `--hold-tokens`, or use a model that answers more slowly)"
        ));
    }
    if !admitted_held.is_empty() {
        s.notes.push(format!(
            "admitted while {n} long generations held the key's {n} slots: {} (the key's max_parallel_requests is not enforced there)",
            admitted_held
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let after = match s.control().await {
        Some(a) if a.ok() => a,
        Some(a) if a.parallel_refusal() => {
            // The holders' slots are still taken: wait for them, as any client would.
            match s
                .wait_until_admitted("the key's slots are free again")
                .await
            {
                Some((a, _)) => a,
                None => return Err("the slots did not come back after the holders ended".into()),
            }
        }
        Some(a) => {
            return Err(format!(
                "the control after the holders answered {}",
                a.status_text()
            ));
        }
        None => return Err("the run stopped".into()),
    };
    let Some(after_left) = after.reading.requests_left() else {
        return Err("the control after shows no requests counter".into());
    };
    if after_left > counter.remaining {
        return Err(WINDOW_RESET.into());
    }
    let mut refused = Vec::new();
    let mut counted = i64::try_from(late.len() + admitted_held.len()).unwrap_or(0);
    for (v, a) in answers {
        if a.refusal.is_some() {
            refused.push((v, a));
        } else if !a.ok() && !a.not_offered() && a.ex.status.is_some() {
            counted += 1;
        }
    }
    if refused.is_empty() {
        return Err("no request was refused while the slots were held".into());
    }
    Ok(Batch {
        before: counter.remaining,
        header: counter.header,
        refused,
        counted,
        holders: i64::try_from(held.len()).unwrap_or(0),
        after: after_left,
        after_sent: after.sent,
        late,
    })
}

/// A `max_parallel_requests` refusal whose advice is far longer than the time the slot took to
/// come back: clients that obey it wait for nothing.
fn advice_too_long(b: &Batch, out: &mut Outcomes) {
    for (v, a) in &b.refused {
        let Some(r) = &a.refusal else { continue };
        if r.limit != super::LimitType::MaxParallelRequests {
            continue;
        }
        let Some(advised) = r.advice_ms else { continue };
        let actual = b.after_sent.duration_since(a.ended).as_secs_f64() * 1000.0;
        if advised >= 4.0 * actual && advised - actual >= 10_000.0 {
            out.too_long.push((*v, advised, actual));
        }
    }
}
