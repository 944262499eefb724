//! `exhaust`: send until the limit answers, check the refusal against the 429 contract, then
//! wait as advised and check that the next request gets through.
//!
//! The contract: status 429 (a 503 makes clients treat throttling as an outage), a parseable
//! `retry-after-ms` or `retry-after`, a JSON error body, and a wait that is long enough. The
//! measured time to the first accepted request is reported next to the advertised wait.

use std::time::{Duration, Instant};

use super::ctx::Ctx;
use super::expect::header_checks;
use super::{Check, StepReport};
use crate::endpoint::Variant;
use crate::headers::{Family, Parsed};
use crate::http::{Exchange, show_duration};
use crate::load::backoff::retry_after_hint;
use crate::scenario::{ExhaustStep, IfNotReached};

/// Requests sent before giving up on reaching the limit, unless the step says otherwise.
const MAX_REQUESTS: u32 = 200;
/// Tries after the refusal before the recovery check gives up: polling a throttling gateway
/// every quarter second for a minute and a half would be a load test of its own.
const MAX_RECOVERY_TRIES: u32 = 12;

/// Longest advertised wait honoured, unless the step says otherwise.
const MAX_WAIT: Duration = Duration::from_secs(90);

/// The wait a refusal advertises, in precedence order: `retry-after-ms`, then `retry-after`.
/// `Err` carries why a header that is present does not parse.
pub fn advertised_wait(ex: &Exchange) -> Result<Option<(String, Duration)>, String> {
    let mut headers: Vec<_> = ex
        .rate_headers
        .iter()
        .filter(|h| h.family == Family::RetryAfter)
        .collect();
    // `retry-after-ms` is the more precise of the two when both are sent.
    headers.sort_by_key(|h| !h.name.ends_with("-ms"));
    let Some(h) = headers.first() else {
        return Ok(None);
    };
    let now = jiff::Timestamp::now().as_millisecond() as f64 / 1000.0;
    match retry_after_hint(h, now) {
        Some(hint) => Ok(Some((format!("{}: {}", h.name, h.value), hint.wait))),
        None => match &h.parsed {
            Parsed::Malformed { reason } => Err(format!("{}: {}: {reason}", h.name, h.value)),
            _ => Err(format!("{}: {}: not a wait", h.name, h.value)),
        },
    }
}

/// How sending until the limit answered ended.
enum Reached {
    /// The `n`-th request after `accepted` ones was refused, at that instant.
    Refused(Box<Exchange>, Instant, u32),
    /// Every request was accepted.
    Never(u32),
    /// A failure that stops the run; its exchange is in the report.
    Stopped,
    /// An answer that is neither an acceptance nor a refusal, after `accepted` ones.
    Failed(Box<Exchange>, u32),
}

/// Sends until a request is not accepted, keeping only the last accepted exchange: its
/// counters are what the refusal follows.
async fn send_until_refused(
    ctx: &mut Ctx<'_>,
    variant: Variant,
    model: &str,
    max: u32,
    report: &mut StepReport,
) -> Reached {
    let mut accepted = 0u32;
    for _ in 0..max {
        let req = ctx.build(variant, model, None, &[], &mut report.checks);
        let ex = ctx.client.send(&req).await;
        let at = Instant::now();
        if ex.failure.as_ref().is_some_and(|f| f.kind.stops_run()) {
            report.exchanges.push(ex);
            return Reached::Stopped;
        }
        match ex.status {
            Some(s) if (200..300).contains(&s) => {
                accepted += 1;
                report
                    .exchanges
                    .retain(|e| e.status.is_some_and(|s| s >= 300));
                report.exchanges.push(ex);
            }
            // Only a limiter's answers are refusals; a 500, a 418 or a redirect is something
            // else, and the contract cannot be judged on it.
            Some(429 | 503) => return Reached::Refused(Box::new(ex), at, accepted),
            _ => return Reached::Failed(Box::new(ex), accepted),
        }
    }
    Reached::Never(accepted)
}

/// The 429 contract's checks on the refusal; returns the wait it advertised, if it parses.
fn judge_refusal(
    ctx: &Ctx<'_>,
    x: &ExhaustStep,
    refused: Exchange,
    accepted: u32,
    max: u32,
    report: &mut StepReport,
) -> Option<Duration> {
    let status = refused.status.unwrap_or_default();
    report.notes.push(format!(
        "{accepted} requests accepted, then request {} refused with {status}",
        accepted + 1
    ));
    report.checks.push(Check::new(
        format!("the limit answers within {max} requests"),
        true,
        "a refusal",
        format!("request {} refused", accepted + 1),
    ));
    let want = x.expect.status;
    report.checks.push(Check::new(
        format!("the refusal's status is {want}"),
        status == want,
        want.to_string(),
        if status == 503 && want == 429 {
            "503: clients treat it as an outage, not as a limit".to_string()
        } else {
            status.to_string()
        },
    ));
    let wait = advertised_wait(&refused);
    if x.expect.retry_after {
        let (ok, actual) = match &wait {
            Ok(Some((h, _))) => (true, h.clone()),
            Ok(None) => (
                false,
                "neither `retry-after` nor `retry-after-ms`".to_string(),
            ),
            Err(why) => (false, format!("does not parse: {why}")),
        };
        report.checks.push(Check::new(
            "the refusal says when to retry",
            ok,
            "`retry-after-ms` or `retry-after` that parses",
            actual,
        ));
    }
    if x.expect.error_body {
        report.checks.push(Check::new(
            "the refusal's body is a JSON error object",
            refused.error_type.is_some(),
            "{\"error\": {…}}",
            match &refused.error_type {
                Some(t) => format!("error of type `{t}`"),
                None => refused
                    .error_excerpt
                    .clone()
                    .unwrap_or_else(|| "no body".into()),
            },
        ));
    }
    report
        .checks
        .extend(header_checks(&refused, &x.expect.headers, &ctx.vars));
    let carried: Vec<String> = refused
        .rate_headers
        .iter()
        .map(|h| h.name.clone())
        .collect();
    report.notes.push(if carried.is_empty() {
        "the refusal carries no rate-limit header".to_string()
    } else {
        format!("the refusal carries: {}", carried.join(", "))
    });
    report.exchanges.push(refused);
    wait.ok().flatten().map(|(_, d)| d)
}

/// Runs an `exhaust` step into `report`.
pub(super) async fn run(
    ctx: &mut Ctx<'_>,
    x: &ExhaustStep,
    variant: Variant,
    model: &str,
    report: &mut StepReport,
) {
    let max = x.max_requests.unwrap_or(MAX_REQUESTS);
    let max_wait = x.max_wait.map_or(MAX_WAIT, |d| d.0);
    let (refused, refused_at, accepted) = match send_until_refused(ctx, variant, model, max, report)
        .await
    {
        Reached::Refused(ex, at, accepted) => (ex, at, accepted),
        Reached::Stopped => return,
        Reached::Failed(ex, accepted) => {
            let status = ex
                .status
                .map_or_else(|| "no answer".into(), |s| s.to_string());
            report.checks.push(Check::new(
                format!("the limit answers within {max} requests"),
                false,
                "a refusal (429, or 503)",
                format!(
                    "request {} answered {status}, neither an acceptance nor a refusal",
                    accepted + 1
                ),
            ));
            report.exchanges.push(*ex);
            return;
        }
        Reached::Never(accepted) if x.if_not_reached == IfNotReached::Note => {
            report.notes.push(format!(
                    "the limit was not reached: all {accepted} requests were accepted, so the 429 contract went unchecked (raise the request cap above the key's limit — `--exhaust-max` for `triage`, `max_requests` in a scenario's `exhaust` step — or use a key with a small limit)"
                ));
            return;
        }
        Reached::Never(accepted) => {
            report.checks.push(Check::new(
                format!("the limit answers within {max} requests"),
                false,
                "a refusal",
                format!("all {accepted} requests were accepted"),
            ));
            return;
        }
    };
    let advertised = judge_refusal(ctx, x, *refused, accepted, max, report);
    if x.recover.unwrap_or(true) {
        recover(
            ctx, variant, model, advertised, max_wait, refused_at, report,
        )
        .await;
    }
}

/// Waits as advised, then sends until a request is accepted or `max_wait` has passed.
async fn recover(
    ctx: &mut Ctx<'_>,
    variant: Variant,
    model: &str,
    advertised: Option<Duration>,
    max_wait: Duration,
    refused_at: Instant,
    report: &mut StepReport,
) {
    let name = "a request sent after the advertised wait is accepted";
    if let Some(w) = advertised
        && w > max_wait
    {
        report.checks.push(Check::new(
            name,
            false,
            format!("a wait within `max_wait` ({})", show_duration(max_wait)),
            format!(
                "the advertised wait is {}: raise `max_wait` or set `recover: false`",
                show_duration(w)
            ),
        ));
        return;
    }
    // With no advice, poll from half a second, doubling: what a careful client would do.
    let first = advertised.unwrap_or(Duration::from_millis(500));
    let step = advertised.map_or(Duration::ZERO, |w| (w / 10).max(Duration::from_millis(250)));
    let mut next = refused_at + first;
    let mut backoff = Duration::from_millis(500);
    let mut tries = 0u32;
    loop {
        ctx.waiting
            .start(next, "the request that checks the limit has reset");
        tokio::time::sleep_until(next.into()).await;
        ctx.waiting.end();
        let req = ctx.build(variant, model, None, &[], &mut report.checks);
        let ex = ctx.client.send(&req).await;
        tries += 1;
        let after = refused_at.elapsed();
        let ok = ex.status.is_some_and(|s| (200..300).contains(&s));
        let transport = ex.failure.as_ref().is_some_and(|f| f.kind.stops_run());
        report.exchanges.push(ex);
        if ok {
            let actual = match advertised {
                Some(w) => format!(
                    "accepted {:.2} s after the refusal (advertised {:.2} s, try {tries})",
                    after.as_secs_f64(),
                    w.as_secs_f64()
                ),
                None => format!(
                    "accepted {:.2} s after the refusal, found by polling (no wait advertised)",
                    after.as_secs_f64()
                ),
            };
            report
                .notes
                .push(format!("advertised wait accuracy: {actual}"));
            report.checks.push(Check::new(
                name,
                tries == 1 || advertised.is_none(),
                "accepted on the first try after the advertised wait",
                actual,
            ));
            return;
        }
        if transport || after >= max_wait || tries >= MAX_RECOVERY_TRIES {
            report.checks.push(Check::new(
                name,
                false,
                "accepted on the first try after the advertised wait",
                format!(
                    "still refused {:.2} s after the refusal ({tries} tries)",
                    after.as_secs_f64()
                ),
            ));
            return;
        }
        next = if advertised.is_some() {
            Instant::now() + step
        } else {
            backoff *= 2;
            Instant::now() + backoff
        };
        // Never past the wait allowed: the last try is at its end, not a doubling beyond it.
        next = next.min(refused_at + max_wait);
    }
}
