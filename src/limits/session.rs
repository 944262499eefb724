//! One run's sending: the bodies, the budget, the log, the control reading, the waits for the
//! key's limits to clear, and what stops the run (Ctrl-C, a gateway that fails).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::read::{Reading, Refusal};
use super::{CONTROL, KeyLimits, LimitType, LimitsOptions, Sent};
use crate::endpoint::{Endpoint, Mode, Variant};
use crate::http::{Client, Exchange, Request, ms};
use crate::verdict::{Abort, Failure, FailureKind};

/// The prompt of every short request: long enough that its input tokens are plainly more
/// than its output tokens (about 60 of them), so a limiter that charges only one of the two
/// is told apart from one that charges both.
const PROMPT: &str = "Reply with OK. This request comes from ratecheck, which measures how a \
gateway's rate limiter charges requests and tokens: the same text is sent to every endpoint, so \
that each call reports the same usage and every difference in what the limiter charges is the \
limiter's own.";
/// `max_tokens` of a short request.
const SHORT_TOKENS: u64 = 16;
/// A long generation, to hold a concurrency slot while it runs.
const LONG_PROMPT: &str = "Count from 1 to 400, one number per line, and nothing else.";

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ask {
    /// A short answer: every control, variant, concurrent and contract request.
    Short,
    /// A long generation: the requests that hold the key's slots.
    Long,
}

/// The body of `variant` for `ask`.
pub(super) fn body(variant: Variant, model: &str, ask: Ask, hold_tokens: u64) -> Value {
    let stream = variant.mode == Mode::Streaming;
    let mut b = variant.endpoint.body(model, stream);
    let (prompt, max) = match ask {
        Ask::Short => (PROMPT, SHORT_TOKENS),
        Ask::Long => (LONG_PROMPT, hold_tokens),
    };
    match variant.endpoint {
        Endpoint::Chat | Endpoint::Messages => {
            b["messages"] = json!([{"role": "user", "content": prompt}]);
            b["max_tokens"] = json!(max);
        }
        Endpoint::Completions => {
            b["prompt"] = json!(prompt);
            b["max_tokens"] = json!(max);
        }
        Endpoint::Responses => {
            b["input"] = json!(prompt);
            b["max_output_tokens"] = json!(max);
        }
        Endpoint::Embeddings => b["input"] = json!(prompt),
    }
    b
}

/// An exchange and when it was sent and ended.
#[derive(Debug, Clone)]
pub(super) struct Answer {
    pub ex: Exchange,
    pub sent: Instant,
    pub ended: Instant,
    pub reading: Reading,
    pub refusal: Option<Refusal>,
}

impl Answer {
    pub fn ok(&self) -> bool {
        self.ex.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// A refusal by the gateway's own limiter for concurrency (or one that names no limit).
    pub fn parallel_refusal(&self) -> bool {
        self.refusal.as_ref().is_some_and(|r| {
            r.origin == super::Origin::Own
                && matches!(r.limit, LimitType::MaxParallelRequests | LimitType::Unnamed)
        })
    }

    pub fn not_offered(&self) -> bool {
        self.ex.shape == crate::http::Shape::NotOffered
    }

    /// "200", "429 (max_parallel_requests)", "no answer".
    pub fn status_text(&self) -> String {
        match (self.ex.status, &self.refusal) {
            (Some(s), Some(r)) => format!("{s} ({})", r.limit.name()),
            (Some(s), None) => s.to_string(),
            (None, _) => "no answer".into(),
        }
    }
}

/// A sender bound to one key.
pub(super) struct Session<'a> {
    pub client: &'a Client,
    model: String,
    embedding_model: String,
    hold_tokens: u64,
    pub settle: Duration,
    max: u32,
    pub sent: u32,
    start: Instant,
    stop: crate::stop::Stop,
    waiting: crate::wait::Waiting,
    max_wait: Duration,
    pub waits: u32,
    pub waited: Duration,
    pub log: Vec<Sent>,
    /// Every refusal met, with its endpoint and shape and the key it came on.
    pub refusals: Vec<(Variant, &'static str, Refusal)>,
    pub aborted: Option<Abort>,
    /// Why no check can be made with this key, when discovery found so.
    pub unusable: Option<String>,
    pub gateway: Option<String>,
    pub limits: KeyLimits,
    pub notes: Vec<String>,
    /// The last control reading and when it ended.
    pub last: Option<Answer>,
}

impl<'a> Session<'a> {
    pub fn new(client: &'a Client, opts: &LimitsOptions) -> Self {
        Session {
            client,
            model: opts.model.clone(),
            embedding_model: opts.embedding_model.clone(),
            hold_tokens: opts.hold_tokens,
            settle: opts.settle,
            max: opts.max_requests,
            sent: 0,
            start: Instant::now(),
            stop: opts.stop.clone(),
            waiting: opts.waiting.clone(),
            max_wait: opts.max_wait,
            waits: 0,
            waited: Duration::ZERO,
            log: Vec::new(),
            refusals: Vec::new(),
            aborted: None,
            unusable: None,
            gateway: None,
            limits: KeyLimits::default(),
            notes: Vec::new(),
            last: None,
        }
    }

    pub fn elapsed_ms(&self) -> f64 {
        ms(self.start.elapsed())
    }

    /// Whether the gateway named itself LiteLLM: findings then name LiteLLM's issues.
    pub fn is_litellm(&self) -> bool {
        self.gateway
            .as_deref()
            .is_some_and(|g| g.starts_with("LiteLLM"))
    }

    /// The run's Ctrl-C signal.
    pub fn stop(&self) -> crate::stop::Stop {
        self.stop.clone()
    }

    pub fn stopped(&self) -> bool {
        self.stop.is_set()
    }

    /// Whether the budget is spent.
    pub fn spent(&self) -> bool {
        self.sent >= self.max
    }

    /// Requests left in the budget.
    pub fn left(&self) -> u32 {
        self.max.saturating_sub(self.sent)
    }

    /// Whether the run must stop: interrupted, aborted or out of budget.
    pub fn over(&self) -> bool {
        self.stopped() || self.aborted.is_some() || self.spent()
    }

    /// The request for `variant` and `ask`, numbered as the next one sent.
    pub fn request(&self, variant: Variant, ask: Ask, seq: u32) -> Request {
        let model = if variant.endpoint == Endpoint::Embeddings {
            &self.embedding_model
        } else {
            &self.model
        };
        Request {
            variant,
            body: body(variant, model, ask, self.hold_tokens),
            headers: Vec::new(),
            raw_body: None,
            round: 1,
            seq,
        }
    }

    /// Reserves `n` requests of the budget; `false` (and nothing reserved) when they do not fit.
    pub fn reserve(&mut self, n: u32) -> bool {
        if self.sent + n > self.max {
            return false;
        }
        self.sent += n;
        true
    }

    /// Records an answer sent with a reserved number: the log, the refusal list, and the
    /// failure that stops the run.
    pub fn record(
        &mut self,
        client: &Client,
        key: &'static str,
        purpose: &'static str,
        ex: Exchange,
        sent: Instant,
        ended: Instant,
    ) -> Answer {
        let reading = Reading::of(&ex);
        let refusal = Refusal::of(&ex);
        if let Some(r) = &refusal {
            self.refusals.push((ex.variant, key, r.clone()));
        }
        if self.gateway.is_none() {
            let gw = crate::probe::analyze::fingerprint(std::slice::from_ref(&ex));
            self.gateway = gw.name.map(|n| match gw.version {
                Some(v) => format!("{n} {v}"),
                None => n,
            });
        }
        self.log.push(Sent {
            seq: ex.seq,
            key,
            purpose,
            variant: ex.variant,
            at_ms: ms(sent.duration_since(self.start)),
            total_ms: ex.total_ms,
            status: ex.status,
            reading: reading.clone(),
            refusal: refusal.clone(),
            usage_total: ex.usage.and_then(|u| u.total()),
            failure: ex.failure.as_ref().map(|f| f.message.clone()),
        });
        if let Some(f) = &ex.failure
            && f.kind.stops_run()
            && self.aborted.is_none()
        {
            self.aborted = Some(client.abort(f.clone()));
        }
        Answer {
            ex,
            sent,
            ended,
            reading,
            refusal,
        }
    }

    /// Sends one request on the main key, within the budget; `None` when the budget is spent or
    /// the run is over.
    pub async fn send(
        &mut self,
        variant: Variant,
        ask: Ask,
        purpose: &'static str,
    ) -> Option<Answer> {
        let client = self.client;
        self.send_on(client, "main", variant, ask, purpose).await
    }

    /// Sends one request with `client`.
    pub async fn send_on(
        &mut self,
        client: &Client,
        key: &'static str,
        variant: Variant,
        ask: Ask,
        purpose: &'static str,
    ) -> Option<Answer> {
        if self.stopped() || self.aborted.is_some() || !self.reserve(1) {
            return None;
        }
        let req = self.request(variant, ask, self.sent);
        let sent = Instant::now();
        let ex = tokio::select! {
            ex = client.send(&req) => ex,
            () = self.stop.fired() => return None,
        };
        let ended = Instant::now();
        Some(self.record(client, key, purpose, ex, sent, ended))
    }

    /// A control reading after the settle pause: non-streaming chat.
    pub async fn control(&mut self) -> Option<Answer> {
        self.pause(self.settle).await;
        let a = self.send(CONTROL, Ask::Short, "control").await?;
        if a.ok() {
            self.last = Some(a.clone());
        }
        Some(a)
    }

    /// A control reading just before the next step: the last request when it was an admitted
    /// control, else a fresh control (which may be refused).
    pub async fn latest_control(&mut self) -> Option<Answer> {
        if let Some(last) = &self.last
            && last.ex.seq == self.sent
        {
            return Some(last.clone());
        }
        self.control().await
    }

    /// Sleeps, unless Ctrl-C comes first.
    pub async fn pause(&self, d: Duration) {
        if d.is_zero() {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(d) => {}
            () = self.stop.fired() => {}
        }
    }

    /// Waits, polling with the control every few seconds, until a control is admitted: the
    /// key's slots or quota came back. Counts as one of the run's waits; `None` when the wait
    /// is not allowed any more, or ran out.
    pub async fn wait_until_admitted(&mut self, why: &str) -> Option<(Answer, Duration)> {
        self.wait_until(why, |_| true).await
    }

    /// The same, until an admitted control also satisfies `done` (every slot free, say).
    pub async fn wait_until(
        &mut self,
        why: &str,
        done: impl Fn(&Answer) -> bool,
    ) -> Option<(Answer, Duration)> {
        if self.waits >= super::MAX_WAITS {
            self.notes.push(format!(
                "did not wait for {why}: the run's {} waits were used",
                super::MAX_WAITS
            ));
            return None;
        }
        self.waits += 1;
        let began = Instant::now();
        let deadline = began + self.max_wait;
        let mut every = Duration::from_secs(2);
        loop {
            let next = (Instant::now() + every).min(deadline);
            self.waiting
                .start(next, &format!("checking again whether {why}"));
            self.pause(next.saturating_duration_since(Instant::now()))
                .await;
            self.waiting.end();
            if self.over() {
                self.waited += began.elapsed();
                return None;
            }
            let a = self.send(CONTROL, Ask::Short, "control").await?;
            if a.ok() {
                self.last = Some(a.clone());
            }
            if a.ok() && done(&a) {
                let took = began.elapsed();
                self.waited += took;
                return Some((a, took));
            }
            if Instant::now() >= deadline || !(a.ok() || a.refusal.is_some()) {
                self.waited += began.elapsed();
                self.notes.push(format!(
                    "{why}: still refused after {:.0} s (`--max-wait`)",
                    began.elapsed().as_secs_f64()
                ));
                return None;
            }
            every = (every * 2).min(Duration::from_secs(8));
        }
    }

    /// The first two controls: the key's limits, the counters to follow, and what one control
    /// is charged in tokens (`None` inside when tokens are not counted). `None` when no check
    /// can be made; `unusable` or `aborted` says why.
    pub async fn discover(&mut self, opts: &LimitsOptions) -> Option<Option<i64>> {
        let first = self.send(CONTROL, Ask::Short, "control").await?;
        if self.aborted.is_some() {
            return None;
        }
        if let Some(f) = first.ex.failure.clone()
            && !first.ok()
        {
            self.aborted = Some(self.client.abort(f));
            return None;
        }
        if first.not_offered() {
            self.unusable = Some(
                "the gateway does not offer non-streaming chat, on which every counter is read"
                    .into(),
            );
            return None;
        }
        if !first.ok() {
            let status = first.status_text();
            self.unusable = Some(if first.refusal.is_some() {
                format!(
                    "the key was refused before the checks began ({status}): wait for its window to pass, or use a fresh test key"
                )
            } else {
                format!(
                    "the first request answered {status}, so the key's limits could not be read"
                )
            });
            if !first.ok() && first.ex.status.is_some_and(|s| s >= 500) {
                self.aborted = Some(self.client.abort(Failure {
                    kind: FailureKind::ServerError,
                    message: format!(
                        "`POST /v1/chat/completions` answered {status}: nothing could be checked"
                    ),
                }));
            }
            return None;
        }
        let r = &first.reading;
        self.limits = KeyLimits {
            requests: r.requests.as_ref().and_then(|c| c.limit),
            tokens: r.tokens.as_ref().and_then(|c| c.limit),
            max_parallel: r
                .parallel
                .as_ref()
                .and_then(|c| c.limit)
                .or(opts.max_parallel),
            max_parallel_from: if r.parallel.as_ref().and_then(|c| c.limit).is_some() {
                Some("header".into())
            } else {
                opts.max_parallel.map(|_| "--max-parallel".into())
            },
        };
        self.last = Some(first.clone());
        if r.requests.is_none() {
            self.unusable = Some(
                "the gateway shows no exact-window counter of requests (LiteLLM's `x-ratelimit-{descriptor}-remaining-requests`): what its limiter charges cannot be read. Use a key with `rpm_limit` and `tpm_limit`".into(),
            );
            return None;
        }
        let mut first = first;
        let mut second = self.control().await?;
        if second.ok() && second.reading.requests_left() > first.reading.requests_left() {
            // The window reset in between: measure the pair again.
            first = second;
            second = self.control().await?;
        }
        if !second.ok() {
            self.unusable = Some(format!(
                "the second request answered {}: the key has too little quota left for the checks",
                second.status_text()
            ));
            return None;
        }
        let fell = |a: Option<i64>, b: Option<i64>| a.zip(b).map(|(a, b)| a - b);
        let requests_fell = fell(
            first.reading.requests_left(),
            second.reading.requests_left(),
        );
        if requests_fell != Some(1) {
            self.notes.push(format!(
                "between the first two requests the requests counter moved by {} where 1 was sent: other traffic on the key, or a window that reset; the counter checks read each step on its own",
                requests_fell.map_or_else(|| "?".into(), |n| n.to_string())
            ));
        }
        let tokens = fell(first.reading.tokens_left(), second.reading.tokens_left())
            .filter(|_| requests_fell == Some(1));
        Some(tokens)
    }
}
