//! The verdict vocabulary every command speaks: failures, findings, aborts and exits.
//!
//! Engines (`probe`, `run`, `load`, `triage`) describe what happened with these types; the exit
//! code is decided from them by [`decide`] alone, and each [`FindingKind`] carries its stable name,
//! the class of expectation it breaks and its likely cause in one exhaustive table
//! ([`FindingKind::info`]), so a new kind is a variant, its check and its text — the compiler
//! points at anything else.
//!
//! This module depends on nothing else in the crate.

use serde::Serialize;

/// How a run ended. The numeric codes are stable and documented in the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Exit {
    /// 0: every check passed.
    Ok,
    /// 1: findings: headers missing, malformed or inconsistent; a failed expectation.
    Findings,
    /// 2: usage or input error: bad flags, bad URL, unreadable file, no model to use.
    Usage,
    /// 3: target unreachable.
    Unreachable,
    /// 3 as well: the target answered 401 or 403: authentication failed.
    AuthFailed,
    /// 4: the target accepted the connection but did not answer in time.
    Timeout,
    /// 5: the target answered with a broken response: a stream cut mid-way, a garbage body.
    Protocol,
    /// 5 as well: every answer was a server error (5xx), so nothing could be checked.
    ServerError,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Findings => 1,
            Exit::Usage => 2,
            Exit::Unreachable | Exit::AuthFailed => 3,
            Exit::Timeout => 4,
            Exit::Protocol | Exit::ServerError => 5,
        }
    }

    /// A stable one-word name, used in JSON reports.
    pub fn name(self) -> &'static str {
        match self {
            Exit::Ok => "ok",
            Exit::Findings => "findings",
            Exit::Usage => "usage",
            Exit::Unreachable => "unreachable",
            Exit::AuthFailed => "auth_failed",
            Exit::Timeout => "timeout",
            Exit::Protocol => "protocol",
            Exit::ServerError => "server_error",
        }
    }

    /// The more severe of two exits: a run that could not start outranks one that could not
    /// finish, which outranks one that finished and found things.
    #[must_use]
    pub fn worst(self, other: Exit) -> Exit {
        let rank = |e: Exit| match e {
            Exit::Ok => 0,
            Exit::Findings => 1,
            Exit::Protocol | Exit::ServerError => 2,
            Exit::Timeout => 3,
            Exit::Unreachable | Exit::AuthFailed => 4,
            Exit::Usage => 5,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

/// The one place an exit is decided: the worst of what stopped or spoiled the run, and
/// [`Exit::Findings`] when anything was found or an expectation failed.
pub fn decide(faults: impl IntoIterator<Item = Exit>, found: bool) -> Exit {
    let start = if found { Exit::Findings } else { Exit::Ok };
    faults.into_iter().fold(start, Exit::worst)
}

/// The verdict as a code and a word, as reports carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// Process exit code (see the README's exit-code table).
    pub exit_code: u8,
    /// `ok`, `findings`, `usage`, `unreachable`, `timeout` or `protocol`.
    pub status: &'static str,
}

impl From<Exit> for Outcome {
    fn from(exit: Exit) -> Self {
        Outcome {
            exit_code: exit.code(),
            status: exit.name(),
        }
    }
}

/// Why an exchange did not complete normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// No TCP/TLS connection.
    Connect,
    /// The target accepted the connection but sent no headers in time, or a stream stalled.
    Timeout,
    /// The stream or body ended early or broke mid-way.
    StreamCut,
    /// The body is not what the content type promises.
    BadBody,
    /// 401 or 403.
    Auth,
    /// Every answer was a 5xx: the gateway or its upstream is failing.
    ServerError,
}

impl FailureKind {
    /// The exit a failure of this class maps to.
    pub fn exit(self) -> Exit {
        match self {
            FailureKind::Connect => Exit::Unreachable,
            FailureKind::Auth => Exit::AuthFailed,
            FailureKind::Timeout => Exit::Timeout,
            FailureKind::StreamCut | FailureKind::BadBody => Exit::Protocol,
            FailureKind::ServerError => Exit::ServerError,
        }
    }

    /// Whether going on after this failure cannot help: the next request would meet the same
    /// refused connection, refused key or hanging target.
    pub fn stops_run(self) -> bool {
        matches!(
            self,
            FailureKind::Connect | FailureKind::Auth | FailureKind::Timeout
        )
    }

    /// What the user can do about a failure of this class at `target`.
    pub fn hint(self, target: &str) -> String {
        match self {
            FailureKind::Connect => format!(
                "is the gateway running at {target}? Check the host, the port and http vs https"
            ),
            FailureKind::Auth => "the gateway refused the key: set it in `RATECHECK_API_KEY` (or `LITELLM_API_KEY`, `OPENAI_API_KEY`), or name its variable with `--api-key-env VAR`".into(),
            FailureKind::Timeout => {
                "the target accepted the connection but did not answer; raise `--timeout` or check the gateway's upstream".into()
            }
            FailureKind::StreamCut | FailureKind::BadBody => {
                "the target is not speaking the OpenAI-compatible API at this URL".into()
            }
            FailureKind::ServerError => "the gateway or its upstream is failing, so no header could be checked: see its logs, and try again when it answers 2xx (a 503 with `retry-after` asks for exactly that)".into(),
        }
    }
}

/// A failure with its one-line description.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    /// The class, which decides the exit code.
    pub kind: FailureKind,
    /// What happened, in one line.
    pub message: String,
}

/// Why a run stopped before sending everything.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Abort {
    /// The failure that stopped it.
    #[serde(flatten)]
    pub failure: Failure,
    /// What the user can do about it.
    pub hint: String,
    /// The exit it maps to: the failure's, or [`Exit::Usage`] when the user must say more.
    #[serde(skip)]
    pub exit: Exit,
}

impl Abort {
    /// A run stopped by `failure` at `target`, with the hint for its class.
    pub fn new(failure: Failure, target: &str) -> Self {
        Abort {
            hint: failure.kind.hint(target),
            exit: failure.kind.exit(),
            failure,
        }
    }

    /// A run that cannot start until the user names what it could not find (a model).
    pub fn needs_input(message: String, hint: &str) -> Self {
        Abort {
            failure: Failure {
                kind: FailureKind::BadBody,
                message,
            },
            hint: hint.to_string(),
            exit: Exit::Usage,
        }
    }
}

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
        use FindingClass::{Error, Load, Shape, Value};
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
            ImplausibleReset, InStreamError, InconsistentValue, LitellmV3PlainDictDrop,
            LitellmV3StreamingDrop, MalformedValue, MissingOnShape, NoRateLimitHeaders,
            NoRetryHint, OverAdmission, Redirected, UpstreamError, WaitTooShort,
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
                FailedRequests => None,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_and_ordered() {
        let all = [
            Exit::Ok,
            Exit::Findings,
            Exit::Usage,
            Exit::Unreachable,
            Exit::Timeout,
            Exit::Protocol,
        ];
        for (i, e) in all.iter().enumerate() {
            assert_eq!(usize::from(e.code()), i);
        }
        assert_eq!(Exit::AuthFailed.code(), 3);
        assert_eq!(Exit::Findings.worst(Exit::Protocol), Exit::Protocol);
        assert_eq!(Exit::Unreachable.worst(Exit::Findings), Exit::Unreachable);
        assert_eq!(decide([], false), Exit::Ok);
        assert_eq!(decide([], true), Exit::Findings);
        assert_eq!(decide([Exit::Timeout, Exit::Protocol], true), Exit::Timeout);
    }

    /// Every schema that names finding kinds names exactly these.
    #[test]
    fn schemas_list_every_kind() {
        let kinds: std::collections::BTreeSet<&str> = FindingKind::all()
            .into_iter()
            .map(FindingKind::name)
            .collect();
        assert_eq!(
            kinds.len(),
            FindingKind::all().len(),
            "a kind is listed twice"
        );
        for schema in ["probe", "run", "load"] {
            let path = format!(
                "{}/docs/{schema}-report.schema.json",
                env!("CARGO_MANIFEST_DIR")
            );
            let text = std::fs::read_to_string(&path).unwrap();
            let json: serde_json::Value = serde_json::from_str(&text).unwrap();
            let mut enums = Vec::new();
            collect_kind_enums(&json, &mut enums);
            for e in enums {
                assert_eq!(e, kinds, "{path}");
            }
        }
    }

    fn collect_kind_enums<'a>(
        v: &'a serde_json::Value,
        out: &mut Vec<std::collections::BTreeSet<&'a str>>,
    ) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(serde_json::Value::Array(items)) = m.get("enum")
                    && items.iter().any(|i| i == "missing_on_shape")
                {
                    out.push(items.iter().filter_map(|i| i.as_str()).collect());
                }
                m.values().for_each(|x| collect_kind_enums(x, out));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| collect_kind_enums(x, out)),
            _ => {}
        }
    }
}
