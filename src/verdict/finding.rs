//! Findings: what the evidence proves or suggests, and [`FindingKind::info`], the one
//! exhaustive table of each kind's name, class, level and likely cause.

use serde::Serialize;

/// The kind of a finding; serialised as its stable [`name`](FindingKind::name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FindingKind {
    /// LiteLLM's v3 limiter dropped its counters on streaming responses (#27748).
    LitellmV3StreamingDrop,
    /// LiteLLM's v3 limiter dropped its counters on plain-dict responses (#27748).
    LitellmV3PlainDictDrop,
    /// A rate-limit header present on one response shape is missing on another.
    MissingOnShape,
    /// A value does not parse in its dialect.
    MalformedValue,
    /// Values contradict each other (remaining above limit, limit not positive).
    InconsistentValue,
    /// A reset or wait is in the past or absurdly far away.
    ImplausibleReset,
    /// A remaining counter does not fall by one per request.
    CounterMismatch,
    /// An endpoint answered with an error status.
    EndpointError,
    /// A stream or body was cut, stalled or unreadable.
    BrokenResponse,
    /// A stream carried an error event.
    InStreamError,
    /// Under load: a 429 arrived while the advertised `remaining` was still well above zero.
    EarlyThrottle,
    /// Under load: more requests were accepted in one window than the advertised limit.
    OverAdmission,
    /// Under load: retries sent after the advertised wait were refused again.
    WaitTooShort,
    /// Under load: 429s that say nothing about when to retry.
    NoRetryHint,
    /// No response carried any rate-limit header: nothing to pace on.
    NoRateLimitHeaders,
    /// The model or router behind a gateway failed (an upstream 404 or 5xx, a cooldown 429):
    /// not the gateway's own limiter.
    UpstreamError,
    /// An API call was answered with a redirect, which clients would follow with their key.
    Redirected,
    /// Under load: more requests failed (throttles aside) than `--max-error-rate` allows.
    FailedRequests,
    /// A fleet: instances count the same key separately (one counter value seen on two).
    FleetSplitCounters,
    /// A fleet: more requests admitted in one window, across instances, than the limit.
    FleetOverAdmission,
    /// A fleet: instances advertise different limits for the same key.
    FleetLimitMismatch,
    /// A fleet: one instance kept refusing after the window reset while another admitted.
    FleetStaleRefusal,
    /// Requests refused for concurrency were charged to the requests limit.
    RefusalCharged,
    /// A 429 of the key's own limiter says nothing about when to retry, where another
    /// endpoint's 429 for the same limit does.
    RetryAdviceMissing,
    /// A 429 advises a wait far longer than the limit takes to clear.
    RetryAdviceTooLong,
    /// An endpoint's tokens are not charged (or only in part) where chat's are.
    TokensNotCharged,
    /// A concurrency slot stays taken after a completed request.
    SlotKept,
    /// Concurrent requests were admitted past a limit by more than one request.
    ConcurrentOverAdmission,
}

/// How strong the evidence is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// The evidence proves a defect: exit 1.
    Finding,
    /// Suspicious but not proof: shown prominently, exit 0 unless `--strict`.
    Warning,
}

/// Splits checks' results into proven findings and warnings, each in its checks' order.
pub fn by_level(all: Vec<Finding>) -> (Vec<Finding>, Vec<Finding>) {
    all.into_iter().partition(Finding::is_finding)
}

/// The expectation a kind of finding breaks, as scenario `expect:` gates name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindingClass {
    /// Headers differ between response shapes (`same_across_shapes`).
    Shape,
    /// Values do not parse, agree or move as they should (`consistent_values`).
    Value,
    /// Requests did not get complete, successful responses (`no_errors`).
    Error,
    /// What the gateway did under load contradicts its headers (load steps' `no_findings`).
    Load,
    /// A fleet's instances do not enforce one limit together (fleet steps' `no_findings`).
    Fleet,
    /// The limiter does not do what its headers say (limits steps' `no_findings`).
    Limits,
}

/// What there is to know about one kind of finding.
#[derive(Debug, Clone, Copy)]
pub struct KindInfo {
    /// The stable name used in JSON reports and scenario output.
    pub name: &'static str,
    /// The expectation it breaks.
    pub class: FindingClass,
    /// Whether a load run judges it from sampled responses: per-response checks still hold
    /// under concurrency, checks of counters over time need sequential sends.
    pub sampled_under_load: bool,
    /// Why it usually happens, and where to look (the triage bundle's "likely cause").
    pub cause: &'static str,
    /// The level of a finding of this kind when its check has the whole evidence; checks
    /// lower it to a warning where the evidence falls short (see the README's "What ratecheck
    /// accuses").
    pub level: Level,
}

impl FindingKind {
    /// Everything about this kind, from one exhaustive table.
    // One row per kind reads better as one table than split across functions.
    #[allow(clippy::too_many_lines)]
    pub fn info(self) -> KindInfo {
        use FindingClass::{Error, Fleet, Limits, Load, Shape, Value};
        let (name, class, sampled_under_load, cause, level) = match self {
            FindingKind::LitellmV3StreamingDrop => (
                "litellm_v3_streaming_drop",
                Shape,
                true,
                "LiteLLM's v3 parallel_request_limiter computes these headers in a post-call hook, which runs after a streaming response has already sent its headers. The fix (PR #27747) was closed unmerged; the callback in ratecheck's README (`async_post_call_response_headers_hook`) restores them.",
                Level::Finding,
            ),
            FindingKind::LitellmV3PlainDictDrop => (
                "litellm_v3_plain_dict_drop",
                Shape,
                true,
                "Responses that LiteLLM builds as plain dicts (e.g. /v1/messages) skip the code path that attaches the v3 limiter's headers to response objects.",
                Level::Finding,
            ),
            FindingKind::MissingOnShape => (
                "missing_on_shape",
                Shape,
                false,
                "The gateway adds this header on some code paths only. Streaming responses often flush their headers before the post-processing that would add it.",
                Level::Finding,
            ),
            FindingKind::MalformedValue => (
                "malformed_value",
                Value,
                true,
                "The value is not in its dialect's format; SDKs that parse it will fail or ignore it. Check the gateway's header-writing code or its configuration of header names.",
                Level::Finding,
            ),
            FindingKind::InconsistentValue => (
                "inconsistent_value",
                Value,
                true,
                "Remaining above limit, or a limit that is not positive: counters from different scopes (key, team, model) are mixed, or the limit is misconfigured.",
                Level::Finding,
            ),
            FindingKind::ImplausibleReset => (
                "implausible_reset",
                Value,
                true,
                "A reset in the past or absurdly far away: usually a unit mix-up (milliseconds for seconds) or an epoch timestamp sent where a delta is expected.",
                Level::Warning,
            ),
            FindingKind::CounterMismatch => (
                "counter_mismatch",
                Value,
                false,
                "The counter does not fall by one per request: other traffic on the same key, a counter not updated on some response shapes, or one counter per worker instead of a shared one.",
                Level::Finding,
            ),
            FindingKind::EndpointError => (
                "endpoint_error",
                Error,
                false,
                "The endpoint answered an error status: the model is not configured for it, the key may not use it, or the limit was reached during the probe.",
                Level::Warning,
            ),
            FindingKind::BrokenResponse => (
                "broken_response",
                Error,
                false,
                "A stream was cut or a body could not be read: a proxy timeout or buffer limit between client and gateway, or the upstream disconnecting mid-stream.",
                Level::Finding,
            ),
            FindingKind::InStreamError => (
                "in_stream_error",
                Error,
                false,
                "The gateway answered 200 and then sent an error inside the stream: the upstream failed after headers were flushed (see BerriAI/litellm#9035), so the status code cannot tell clients.",
                Level::Warning,
            ),
            FindingKind::EarlyThrottle => (
                "early_throttle",
                Load,
                false,
                "The gateway refused while its own counter said there was room: the advertised counter is per worker or per replica while the limit is enforced globally, or another counter (tokens, team, model) binds first.",
                Level::Finding,
            ),
            FindingKind::OverAdmission => (
                "over_admission",
                Load,
                false,
                "More requests got through in a window than the advertised limit: the limit is enforced per worker or replica, or the counters are eventually consistent.",
                Level::Finding,
            ),
            FindingKind::WaitTooShort => (
                "wait_too_short",
                Load,
                false,
                "The advertised wait ends before the window refills: the gateway computes Retry-After from a different clock or window than the one it enforces.",
                Level::Finding,
            ),
            FindingKind::NoRetryHint => (
                "no_retry_hint",
                Load,
                false,
                "The 429 carries no Retry-After: clients fall back to guessing, which either hammers the gateway or waits too long.",
                Level::Warning,
            ),
            FindingKind::NoRateLimitHeaders => (
                "no_rate_limit_headers",
                Shape,
                false,
                "The gateway sends no rate-limit header on any response: clients cannot pace themselves and learn the limit only from 429s. Enable the gateway's rate-limit headers, or configure limits for this key.",
                Level::Warning,
            ),
            FindingKind::Redirected => (
                "redirected",
                Error,
                false,
                "The gateway answers API calls with a redirect: a client that follows it sends its key and body elsewhere, and 301/302 turn its POST into a GET. Point clients (and ratecheck) at the final URL.",
                Level::Finding,
            ),
            FindingKind::FailedRequests => (
                "failed_requests",
                Load,
                false,
                "More requests failed than the run allows: the gateway or its upstream is down, overloaded or misconfigured for this load. Throttles (429) are not counted: they are the limiter doing its job.",
                Level::Finding,
            ),
            FindingKind::FleetSplitCounters => (
                "fleet_split_counters",
                Fleet,
                false,
                "The instances count this key separately: they do not share one store of counters, so the fleet admits about the limit per instance. LiteLLM: point every instance at the same Redis (`general_settings.coordination_redis`, or a Redis cache), check that Redis is reachable from every pod (`redis-cli client list`), and that `LITELLM_RATE_LIMIT_WINDOW_SIZE` is the same on all.",
                Level::Finding,
            ),
            FindingKind::FleetOverAdmission => (
                "fleet_over_admission",
                Fleet,
                false,
                "The fleet admitted more requests in one window than the limit it advertises: the instances do not share their counters, or fail open while Redis is unreachable. LiteLLM: a shared Redis for every instance; `general_settings.fail_closed_rate_limit_enforcement: true` refuses (503) rather than over-admit when Redis is lost.",
                Level::Finding,
            ),
            FindingKind::FleetLimitMismatch => (
                "fleet_limit_mismatch",
                Fleet,
                false,
                "The instances advertise different limits for the same key: their configurations differ (a rolling deploy half done, a pod with an old config map, different key settings). Make every instance run the same configuration.",
                Level::Finding,
            ),
            FindingKind::FleetStaleRefusal => (
                "fleet_stale_refusal",
                Fleet,
                false,
                "After the window reset, one instance kept refusing while another admitted: it answered from a stale local copy of the counter. LiteLLM keeps a local copy with the TTL of its first write (up to a window of over-refusal, never over-admission); clients retrying on another pod get through.",
                Level::Warning,
            ),
            FindingKind::RefusalCharged => (
                "refusal_charged",
                Limits,
                false,
                "The limiter counts a request against the requests limit before it checks the concurrency limit, and does not give the count back when the concurrency check refuses it. Every 429 for max_parallel_requests then shrinks the window's quota. LiteLLM v3 (BerriAI/litellm#39309): no release fixes it; keep clients' concurrency under the key's max_parallel_requests, or leave max_parallel_requests unset and rely on rpm/tpm.",
                Level::Finding,
            ),
            FindingKind::RetryAdviceMissing => (
                "retry_advice_missing",
                Limits,
                false,
                "The endpoint's error path turns the limiter's refusal into a 429 without the headers the chat path adds (retry-after, rate_limit_type, reset_at). Anthropic-style clients (Claude Code, the anthropic SDK) then retry at once, in a tight loop. LiteLLM (BerriAI/litellm#37754, open PR #37767): no release fixes it; have clients back off with jitter on any 429 from /v1/messages and /v1/completions.",
                Level::Finding,
            ),
            FindingKind::RetryAdviceTooLong => (
                "retry_advice_too_long",
                Limits,
                false,
                "The 429 advises the length of the whole window (LiteLLM's retry-after is LITELLM_RATE_LIMIT_WINDOW_SIZE, 60 s), although a concurrency slot comes back as soon as a request in flight ends: clients that obey wait far too long.",
                Level::Warning,
            ),
            FindingKind::TokensNotCharged => (
                "tokens_not_charged",
                Limits,
                false,
                "The limiter's post-call hook reads usage only from the response objects of some endpoints, so the others are charged nothing (or only their output): a tokens limit then admits far more than it says. LiteLLM (BerriAI/litellm#17706, #18671): 1.80.0 charges /v1/responses, /v1/completions and /v1/embeddings nothing; 1.106.12 and later charge them (the legacy limiter still leaves /v1/responses uncharged). Upgrade, or set rpm limits that bound those endpoints on their own.",
                Level::Finding,
            ),
            FindingKind::SlotKept => (
                "slot_kept",
                Limits,
                false,
                "The endpoint's success path never releases the max_parallel_requests slot it took (the release runs in a hook that path skips); the slot comes back only when its counter expires with the window. Clients get 429s with nothing in flight. LiteLLM 1.77.0–1.80.0 on /v1/messages and /v1/responses (BerriAI/litellm#27955, #17323); 1.106.12 releases them: upgrade.",
                Level::Finding,
            ),
            FindingKind::ConcurrentOverAdmission => (
                "concurrent_over_admission",
                Limits,
                false,
                "The limiter charges tokens after the response and checks only what was charged so far, so requests that arrive together all pass the check before any is charged. LiteLLM 1.80.0 (BerriAI/litellm#18730); releases from about 1.82 reserve tokens up front (prompt estimate plus max_tokens): upgrade, and send max_tokens so the reservation is right.",
                Level::Finding,
            ),
            FindingKind::UpstreamError => (
                "upstream_error",
                Error,
                false,
                "The gateway answered with its upstream's failure: the model is not deployed for this endpoint, the provider failed, or the router put the deployment in cooldown after a failure. The gateway's limiter still counts such requests.",
                Level::Warning,
            ),
        };
        KindInfo {
            name,
            class,
            sampled_under_load,
            cause,
            level,
        }
    }

    /// The stable name used in JSON reports and scenario output.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// Every kind, in order. The successor match below is exhaustive, so a new kind cannot be
    /// left out of it unnoticed: the JSON schemas are checked against this list.
    pub fn all() -> Vec<FindingKind> {
        use FindingKind::{
            BrokenResponse, CounterMismatch, EarlyThrottle, EndpointError, FailedRequests,
            FleetLimitMismatch, FleetOverAdmission, FleetSplitCounters, FleetStaleRefusal,
            ImplausibleReset, InStreamError, InconsistentValue, LitellmV3PlainDictDrop,
            LitellmV3StreamingDrop, MalformedValue, MissingOnShape, NoRateLimitHeaders,
            NoRetryHint, OverAdmission, Redirected, UpstreamError, WaitTooShort,
        };
        use FindingKind::{
            ConcurrentOverAdmission, RefusalCharged, RetryAdviceMissing, RetryAdviceTooLong,
            SlotKept, TokensNotCharged,
        };
        let mut out = Vec::new();
        let mut next = Some(LitellmV3StreamingDrop);
        while let Some(kind) = next {
            out.push(kind);
            next = match kind {
                LitellmV3StreamingDrop => Some(LitellmV3PlainDictDrop),
                LitellmV3PlainDictDrop => Some(MissingOnShape),
                MissingOnShape => Some(MalformedValue),
                MalformedValue => Some(InconsistentValue),
                InconsistentValue => Some(ImplausibleReset),
                ImplausibleReset => Some(CounterMismatch),
                CounterMismatch => Some(EndpointError),
                EndpointError => Some(BrokenResponse),
                BrokenResponse => Some(InStreamError),
                InStreamError => Some(EarlyThrottle),
                EarlyThrottle => Some(OverAdmission),
                OverAdmission => Some(WaitTooShort),
                WaitTooShort => Some(NoRetryHint),
                NoRetryHint => Some(NoRateLimitHeaders),
                NoRateLimitHeaders => Some(UpstreamError),
                UpstreamError => Some(Redirected),
                Redirected => Some(FailedRequests),
                FailedRequests => Some(FleetSplitCounters),
                FleetSplitCounters => Some(FleetOverAdmission),
                FleetOverAdmission => Some(FleetLimitMismatch),
                FleetLimitMismatch => Some(FleetStaleRefusal),
                FleetStaleRefusal => Some(RefusalCharged),
                RefusalCharged => Some(RetryAdviceMissing),
                RetryAdviceMissing => Some(RetryAdviceTooLong),
                RetryAdviceTooLong => Some(TokensNotCharged),
                TokensNotCharged => Some(SlotKept),
                SlotKept => Some(ConcurrentOverAdmission),
                ConcurrentOverAdmission => None,
            };
        }
        out
    }

    /// The expectation this kind breaks.
    pub fn class(self) -> FindingClass {
        self.info().class
    }
}

impl Serialize for FindingKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// One problem, with the evidence for it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// What kind of problem.
    pub kind: FindingKind,
    /// How strong the evidence is.
    pub level: Level,
    /// The headers concerned, if any.
    pub headers: Vec<String>,
    /// One-line description.
    pub message: String,
    /// Where the header was present (`non-streaming chat/completions`, …).
    pub present_on: Vec<String>,
    /// Where it was missing.
    pub missing_on: Vec<String>,
    /// An upstream issue or documentation link.
    pub link: Option<String>,
}

impl Finding {
    /// A finding with only a kind and a message; callers add headers and places as they know
    /// them.
    pub fn new(kind: FindingKind, message: String) -> Self {
        Finding {
            kind,
            level: kind.info().level,
            headers: Vec::new(),
            message,
            present_on: Vec::new(),
            missing_on: Vec::new(),
            link: None,
        }
    }

    /// The same, as a warning: the evidence suggests the problem but does not prove it.
    #[must_use]
    pub fn warning(mut self) -> Self {
        self.level = Level::Warning;
        self
    }

    /// Whether this is proof of a defect (rather than a warning).
    pub fn is_finding(&self) -> bool {
        self.level == Level::Finding
    }

    /// The finding in a few words: which headers were missing where, or its message.
    pub fn summary(&self) -> String {
        let name = self.kind.name();
        if self.missing_on.is_empty() {
            format!("{name}: {}", self.message)
        } else if self.headers.is_empty() {
            format!("{name} on {}", self.missing_on.join(", "))
        } else {
            format!(
                "{name}: {} missing on {}",
                self.headers.join(", "),
                self.missing_on.join(", ")
            )
        }
    }
}
