//! Limits under concurrency (BerriAI/litellm#18730): as many identical requests at once as the
//! key's tokens limit should admit, plus two. A limiter that checks, then charges, lets one
//! request through beyond the limit; admitting more is a finding, with the arithmetic. Then one
//! request per endpoint and shape on the spent key, for the 429 contract.
//!
//! The concurrent requests need a key whose `max_parallel_requests` does not cap them: the main
//! key when it has none, else the second key (`--concurrency-key-env` / `-file`).

use std::time::Instant;

use futures_util::future::join_all;

use super::session::{Answer, Ask, Session};
use super::{CONTROL, CheckId, KeyLimits, LimitType, LimitsOptions, Outcomes, Reading, Status};
use crate::endpoint::Variant;
use crate::http::Client;
use crate::verdict::{Finding, FindingKind};

/// The most requests sent at once.
const MAX_AT_ONCE: i64 = 64;

/// How one limit held under concurrency.
enum Held {
    Yes(String),
    Defect(String, Finding),
    No(String),
}

pub(super) async fn run(
    s: &mut Session<'_>,
    second: Option<&Client>,
    opts: &LimitsOptions,
    variants: &[Variant],
    chat_charge: Option<i64>,
    out: &mut Outcomes,
) {
    let others = "checked on non-streaming chat only: one concurrent check spends the key's window";
    for &v in variants.iter().filter(|v| **v != CONTROL) {
        out.cell(CheckId::Concurrency, v, Status::NotChecked, others.into());
    }
    // The key: the second one when given, else the main key if nothing caps its concurrency.
    let Some((client, key, reading, parallel)) = choose_key(s, second, out).await else {
        return;
    };
    let client = &client;
    if !opts.runs(CheckId::Concurrency) {
        out.cell(
            CheckId::Concurrency,
            CONTROL,
            Status::NotChecked,
            "not asked for (`--checks`)".into(),
        );
        contract_probes(s, client, key, variants).await;
        return;
    }
    let tokens = tokens_held(s, client, key, &reading, parallel, chat_charge, variants).await;
    let requests = match &tokens {
        Held::Yes(_) | Held::Defect(..) => {
            Held::No("the tokens check spent the key's window first".into())
        }
        Held::No(_) => {
            let r = if s.over() {
                None
            } else {
                control_on(s, client, key).await
            };
            match r {
                Some(a) if a.ok() => {
                    requests_held(s, client, key, &a.reading, parallel, variants).await
                }
                Some(a) => Held::No(format!("the control answered {}", a.status_text())),
                None => Held::No("the run stopped".into()),
            }
        }
    };
    let mut status = Status::NotChecked;
    let mut parts = Vec::new();
    for (what, held) in [("tokens", tokens), ("requests", requests)] {
        match held {
            Held::Yes(d) => {
                if status == Status::NotChecked {
                    status = Status::Held;
                }
                parts.push(format!("{what}: {d}"));
            }
            Held::Defect(d, f) => {
                status = Status::Defect;
                parts.push(format!("{what}: {d}"));
                out.findings.push(f);
            }
            Held::No(why) => parts.push(format!("{what} not checked: {why}")),
        }
    }
    if key == "concurrency" {
        parts.push("on the concurrency key".into());
    }
    out.cell(CheckId::Concurrency, CONTROL, status, parts.join("; "));
    if opts.runs(CheckId::RetryAdvice) {
        contract_probes(s, client, key, variants).await;
    }
}

/// The key the concurrent requests go on, its counters and its `max_parallel_requests`.
async fn choose_key(
    s: &mut Session<'_>,
    second: Option<&Client>,
    out: &mut Outcomes,
) -> Option<(Client, &'static str, Reading, Option<i64>)> {
    let Some(c2) = second else {
        let a = control(s).await?;
        return Some((s.client.clone(), "main", a.reading, s.limits.max_parallel));
    };
    let a = s
        .send_on(c2, "concurrency", CONTROL, Ask::Short, "control")
        .await?;
    if !a.ok() {
        let why = format!(
            "the concurrency key's first request answered {}",
            a.status_text()
        );
        out.cell(CheckId::Concurrency, CONTROL, Status::NotChecked, why);
        return None;
    }
    let limits = KeyLimits {
        requests: a.reading.requests.as_ref().and_then(|c| c.limit),
        tokens: a.reading.tokens.as_ref().and_then(|c| c.limit),
        max_parallel: a.reading.parallel.as_ref().and_then(|c| c.limit),
        max_parallel_from: a.reading.parallel.as_ref().map(|_| "header".into()),
    };
    let p = limits.max_parallel;
    out.second_limits = Some(limits);
    Some((c2.clone(), "concurrency", a.reading, p))
}

/// A control reading on the main key: the last request when it was one.
async fn control(s: &mut Session<'_>) -> Option<Answer> {
    let a = s.latest_control().await?;
    a.ok().then_some(a)
}

async fn control_on(s: &mut Session<'_>, client: &Client, key: &'static str) -> Option<Answer> {
    if key == "main" {
        return s.control().await;
    }
    s.pause(s.settle).await;
    s.send_on(client, key, CONTROL, Ask::Short, "control").await
}

/// Sends `count` identical controls at once; their answers in send order.
async fn burst(s: &mut Session<'_>, client: &Client, key: &'static str, count: i64) -> Vec<Answer> {
    let count = u32::try_from(count).unwrap_or(0);
    if !s.reserve(count) {
        return Vec::new();
    }
    let first = s.sent - count + 1;
    let reqs: Vec<_> = (0..count)
        .map(|i| s.request(CONTROL, Ask::Short, first + i))
        .collect();
    let sends = reqs.iter().map(|r| async move {
        let sent = Instant::now();
        let ex = client.send(r).await;
        (ex, sent, Instant::now())
    });
    let stop = s.stop();
    let done = tokio::select! {
        d = join_all(sends) => d,
        () = stop.fired() => return Vec::new(),
    };
    done.into_iter()
        .map(|(ex, sent, ended)| s.record(client, key, "concurrent", ex, sent, ended))
        .collect()
}

fn capped(parallel: Option<i64>, at_once: i64) -> Option<String> {
    parallel.filter(|p| *p < at_once).map(|p| {
        format!(
            "the key allows {p} requests in flight (max_parallel), and passing its limit needs {at_once} at once: give a second key without max_parallel with `--concurrency-key-env VAR`"
        )
    })
}

/// Sends `at_once` identical controls at once, when they may be: not too many, not capped by
/// the key's concurrency, within the budget (with the contract's requests after them).
async fn fire(
    s: &mut Session<'_>,
    (client, key): (&Client, &'static str),
    at_once: i64,
    parallel: Option<i64>,
    variants: &[Variant],
) -> Result<Vec<Answer>, String> {
    if at_once > MAX_AT_ONCE {
        return Err(format!("more than {MAX_AT_ONCE} to send at once"));
    }
    if let Some(why) = capped(parallel, at_once) {
        return Err(why);
    }
    let need =
        u32::try_from(at_once).unwrap_or(u32::MAX) + u32::try_from(variants.len()).unwrap_or(0) + 1;
    if s.left() < need {
        return Err(format!(
            "the budget left ({} requests) is less than the {need} it needs",
            s.left()
        ));
    }
    let answers = burst(s, client, key, at_once).await;
    if answers.is_empty() {
        return Err("the run stopped".into());
    }
    Ok(answers)
}

/// Tokens: `remaining / c + 3` requests at once, each charged `c`.
async fn tokens_held(
    s: &mut Session<'_>,
    client: &Client,
    key: &'static str,
    reading: &Reading,
    parallel: Option<i64>,
    chat_charge: Option<i64>,
    variants: &[Variant],
) -> Held {
    let Some(left) = reading.tokens_left() else {
        return Held::No("the key shows no exact-window counter of tokens".into());
    };
    let header = reading
        .tokens
        .as_ref()
        .map(|c| c.header.clone())
        .unwrap_or_default();
    let Some(c) = chat_charge.filter(|c| *c > 1) else {
        return Held::No(
            "a chat call is charged no tokens, so no tokens limit can be passed".into(),
        );
    };
    let allowed = left / c + 1;
    // Enough beyond what may be admitted that an over-admission shows plainly.
    let at_once = allowed + 2 + allowed / 5;
    let answers = match fire(s, (client, key), at_once, parallel, variants).await {
        Ok(a) => a,
        Err(why) => {
            return Held::No(if at_once > MAX_AT_ONCE {
                format!(
                    "{left} tokens left admit {allowed} calls of {c}: {why} (use a key with a smaller tpm)"
                )
            } else {
                why
            });
        }
    };
    let admitted = i64::try_from(answers.iter().filter(|a| a.ok()).count()).unwrap_or(0);
    let refused_tokens = answers
        .iter()
        .filter(|a| {
            a.refusal
                .as_ref()
                .is_some_and(|r| r.limit == LimitType::Tokens)
        })
        .count();
    let total = admitted * c;
    let evidence = format!(
        "{admitted} of {at_once} identical calls sent at once were admitted ({refused_tokens} refused for tokens) with {left} tokens left on `{header}`: {admitted} × {c} = {total} tokens"
    );
    if total > left + c {
        let litellm = s.is_litellm();
        let mut f = Finding::new(
            FindingKind::ConcurrentOverAdmission,
            format!(
                "concurrent requests pass the tokens limit{}: {evidence}, {} over, more than the one call ({c}) a limiter that checks before it charges lets through",
                if litellm {
                    " (BerriAI/litellm#18730)"
                } else {
                    ""
                },
                total - left
            ),
        );
        f.headers = vec![header];
        f.missing_on = vec![CONTROL.to_string()];
        f.link = litellm.then(|| "https://github.com/BerriAI/litellm/issues/18730".into());
        Held::Defect(evidence, f)
    } else {
        Held::Yes(evidence)
    }
}

/// Requests: `remaining + 2` requests at once.
async fn requests_held(
    s: &mut Session<'_>,
    client: &Client,
    key: &'static str,
    reading: &Reading,
    parallel: Option<i64>,
    variants: &[Variant],
) -> Held {
    let Some(left) = reading.requests_left() else {
        return Held::No("the key shows no exact-window counter of requests".into());
    };
    let header = reading
        .requests
        .as_ref()
        .map(|c| c.header.clone())
        .unwrap_or_default();
    let at_once = left + 2;
    let answers = match fire(s, (client, key), at_once, parallel, variants).await {
        Ok(a) => a,
        Err(why) if at_once > MAX_AT_ONCE => {
            return Held::No(format!(
                "{left} requests left: {why} (use a key with a smaller rpm)"
            ));
        }
        Err(why) => return Held::No(why),
    };
    let admitted = i64::try_from(answers.iter().filter(|a| a.ok()).count()).unwrap_or(0);
    let evidence = format!(
        "{admitted} of {at_once} requests sent at once were admitted with {left} left on `{header}`"
    );
    if admitted > left + 1 {
        let mut f = Finding::new(
            FindingKind::ConcurrentOverAdmission,
            format!(
                "concurrent requests pass the requests limit: {evidence}, {} over",
                admitted - left
            ),
        );
        f.headers = vec![header];
        f.missing_on = vec![CONTROL.to_string()];
        Held::Defect(evidence, f)
    } else {
        Held::Yes(evidence)
    }
}

/// One request per endpoint and shape on a key that now refuses (its tokens or requests spent):
/// the same limit's 429 on each, for the contract.
async fn contract_probes(
    s: &mut Session<'_>,
    client: &Client,
    key: &'static str,
    variants: &[Variant],
) {
    let Some(a) = control_on(s, client, key).await else {
        return;
    };
    let spent = a
        .refusal
        .as_ref()
        .is_some_and(|r| matches!(r.limit, LimitType::Tokens | LimitType::Requests));
    if !spent {
        // Nothing spent the key: spend its requests, when few enough are left.
        let Some(left) = a.reading.requests_left() else {
            return;
        };
        let need = u32::try_from(left.max(0)).unwrap_or(u32::MAX)
            + u32::try_from(variants.len()).unwrap_or(0)
            + 1;
        if !a.ok() || need > s.left() {
            if a.ok() {
                s.notes.push(format!(
                    "the 429 contract of the requests limit was not checked: {left} requests are left, more than the budget allows (`--max-requests`)"
                ));
            }
            return;
        }
        for _ in 0..=left {
            match s.send_on(client, key, CONTROL, Ask::Short, "exhaust").await {
                Some(a) if a.ok() => {}
                _ => break,
            }
        }
    }
    for &v in variants.iter().filter(|v| **v != CONTROL) {
        if s.over() {
            break;
        }
        let _ = s.send_on(client, key, v, Ask::Short, "contract").await;
    }
}
