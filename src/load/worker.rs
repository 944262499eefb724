//! The one worker loop every logical request runs: send, classify, and on a refusal back off
//! and retry as the policy says, leaving a record of each attempt and of the request's end for
//! the collector. The state it shares with every other request is [`Shared`]'s.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::backoff::{Policy, Verdict, verdict, wait_hint};
use super::record::{Brief, Record};
use super::shared::{Shared, unix_now};
use super::transport::Transport;
use crate::endpoint::Variant;
use crate::http::ms;

/// One logical request: send, and on a refusal back off and retry as the policy says.
pub(super) async fn logical<T: Transport>(
    sh: Arc<Shared<T>>,
    intended: Instant,
    variant: Variant,
    seed: u64,
    lane: usize,
) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let seq = sh.claimed();
    let mut attempt = 0u32;
    let mut after_hint = false;
    let mut waited = Duration::ZERO;
    let mut first_send: Option<Instant> = None;
    sh.deposit(intended);
    loop {
        if !sh.wait_pause().await && attempt > 0 {
            break;
        }
        let sent = Instant::now();
        first_send.get_or_insert(sent);
        let Some((ex, in_flight, on)) = sh.attempt(variant, seq, lane).await else {
            sh.send_record(Record::Cancelled);
            return;
        };
        let done = Instant::now();
        let v = verdict(&ex);
        sh.observe(&ex, done, v == Verdict::Success);
        let backoff = &sh.opts().backoff;
        let retryable = matches!(v, Verdict::Throttled | Verdict::Transient)
            && backoff.policy != Policy::None
            && attempt < backoff.max_retries
            && !sh.stopped();
        // Read the advice before the exchange goes to the collector.
        let hint = if retryable {
            wait_hint(&ex, unix_now())
        } else {
            None
        };
        let whole = sh.needs_whole(on, &ex, v == Verdict::Success);
        let record = Record::Attempt {
            at: sent - sh.start(),
            brief: Brief::of(&ex, on),
            ex: whole.then(|| Box::new(ex)),
            retry: attempt > 0,
            after_hint,
            in_flight,
        };
        if v == Verdict::Success || !retryable {
            let end = Record::Done {
                success: v == Verdict::Success,
                latency_ms: ms(done - intended),
                queued_ms: ms(first_send.unwrap_or(sent) - intended),
                retries: attempt,
                waited_ms: ms(waited),
            };
            sh.send_end(record, end);
            return;
        }
        sh.send_record(record);
        if !sh.withdraw(done) {
            sh.send_record(Record::BudgetExhausted);
            break;
        }
        let (delay, clamped) = backoff.delay(hint, attempt, rng.f64());
        if let Some(h) = hint {
            sh.send_record(Record::Hint(h.source, clamped));
        }
        if clamped {
            // Advice beyond `--max-wait` is not waited for, by this request or any other: it
            // ends throttled, and the advice is reported.
            break;
        }
        after_hint = hint.is_some();
        let resume = done + delay;
        if v == Verdict::Throttled {
            // One refusal slows every worker, not just this one.
            sh.pause_all_until(resume);
        }
        let slept = sh.sleep_until(resume).await;
        // Only the part of the wait that passed counts: an abandoned wait is no retry.
        waited += Instant::now().saturating_duration_since(done).min(delay);
        if !slept {
            break;
        }
        attempt += 1;
    }
    sh.send_record(Record::Done {
        success: false,
        latency_ms: ms(Instant::now() - intended),
        queued_ms: ms(first_send.unwrap_or(intended) - intended),
        retries: attempt,
        waited_ms: ms(waited),
    });
}
