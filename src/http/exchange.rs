//! What one request is and what became of it: [`Request`] in, [`Exchange`] out — status, every
//! header, the body's [`Shape`], the stream's events and end, timings and the failure if any.
//! Plain data: the probe and load judge it, reporters print it.

use std::borrow::Cow;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::base::show_duration;
use crate::endpoint::Variant;
use crate::headers::RateHeader;
use crate::verdict::{Failure, FailureKind};

/// How a response body was shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// An OpenAI-style JSON object (`"object": "chat.completion"`, `"list"`, `"response"`, …).
    JsonObject,
    /// JSON without an OpenAI `object` field (e.g. an Anthropic message), or JSON where a stream
    /// was asked for: LiteLLM's "plain dict" responses.
    PlainDict,
    /// A `text/event-stream` body.
    Sse,
    /// An error status (other than 404/405).
    Error,
    /// 404 or 405: the target does not offer this endpoint.
    NotOffered,
    /// A success status whose body is neither JSON nor SSE.
    Invalid,
    /// No response at all (connect failure or timeout before headers).
    None,
}

impl Shape {
    /// Human label.
    pub fn label(self) -> &'static str {
        match self {
            Shape::JsonObject => "JSON object",
            Shape::PlainDict => "plain dict",
            Shape::Sse => "SSE stream",
            Shape::Error => "error",
            Shape::NotOffered => "not offered",
            Shape::Invalid => "invalid body",
            Shape::None => "no response",
        }
    }

    /// A successful response whose headers take part in the comparison.
    pub fn is_success(self) -> bool {
        matches!(self, Shape::JsonObject | Shape::PlainDict | Shape::Sse)
    }
}

/// The failure of a request whose response head did not come back in time.
pub fn no_headers(variant: Variant, timeout: Duration) -> Failure {
    Failure {
        kind: FailureKind::Timeout,
        message: format!(
            "no response headers from `POST {}` within {}",
            variant.endpoint.path(),
            show_duration(timeout)
        ),
    }
}

/// What a stream carried.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamInfo {
    /// Events dispatched (comments and keep-alives excluded).
    pub events: u32,
    /// The terminal marker seen: `[DONE]`, `message_stop`, `response.completed`, …
    pub end: Option<String>,
    /// Whether a usage report arrived in the stream.
    pub usage: bool,
    /// The first in-stream error event, if any.
    pub error_event: Option<String>,
    /// When each of the first events arrived, for the stream timeline in triage reports.
    pub timeline: Vec<TimelineEvent>,
    /// Events of the endpoint's own kind (chunks with `choices`, `response.*` events,
    /// Anthropic's message events): a stream with none carried no answer.
    #[serde(default)]
    pub of_kind: u32,
    /// A chunk's choice carried a `finish_reason`: the generation ended, so a chat or
    /// completion stream that then closes cleanly is whole, with or without `[DONE]`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub finished: bool,
    /// Events whose data is not a JSON object (nor `[DONE]`): no client of these APIs can
    /// read them.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub not_json: u32,
    /// Lines that are no SSE field (neither a comment nor `event`, `data`, `id`, `retry`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub foreign_lines: u32,
    /// Lines other than `data` holding bytes that are not text (invalid UTF-8, control
    /// characters).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub binary_lines: u32,
    /// The token counts the stream reported, merged over its events.
    #[serde(skip)]
    pub tokens: Option<Usage>,
}

/// Most events kept in a stream's timeline: enough to see its pace, bounded for long streams.
pub const TIMELINE_EVENTS: usize = 32;

/// One SSE event in a stream's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEvent {
    /// Milliseconds from send.
    pub at_ms: f64,
    /// The event name (`message` when the stream names none); the names the APIs use are
    /// not copied for every event of every stream.
    pub event: Cow<'static, str>,
    /// Bytes of `data`.
    pub bytes: usize,
}

/// Event names OpenAI's, Anthropic's and the Responses API's streams use, kept without a copy.
const EVENT_NAMES: &[&str] = &[
    "message",
    "ping",
    "error",
    "message_start",
    "message_delta",
    "message_stop",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.output_item.done",
    "response.content_part.added",
    "response.content_part.done",
    "response.output_text.delta",
    "response.output_text.done",
    "response.completed",
    "response.failed",
    "response.incomplete",
];

impl TimelineEvent {
    /// The timeline's name for an event named `name` (empty: unnamed); any other name goes
    /// through `redact` first, since a stream may name its events anything.
    pub fn name(name: &str, redact: impl FnOnce(&str) -> String) -> Cow<'static, str> {
        if name.is_empty() {
            return Cow::Borrowed("message");
        }
        match EVENT_NAMES.iter().find(|known| **known == name) {
            Some(known) => Cow::Borrowed(known),
            None => Cow::Owned(redact(name)),
        }
    }
}

/// One request and everything its response told. Read back from ratecheck's own reports
/// (`ratecheck analyze`), its rate-limit headers are classified again from `headers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exchange {
    /// Endpoint and mode asked for.
    pub variant: Variant,
    /// Round (from 1) with `--repeat`.
    pub round: u32,
    /// Position in send order (from 1), across rounds.
    pub seq: u32,
    /// HTTP status, if a response arrived.
    pub status: Option<u16>,
    /// How the body was shaped.
    pub shape: Shape,
    /// The response `content-type`.
    pub content_type: Option<String>,
    /// Every response header, lowercased and redacted, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The recognised rate-limit headers, parsed in their dialect.
    #[serde(skip_deserializing)]
    pub rate_headers: Vec<RateHeader>,
    /// Milliseconds from send to response headers.
    pub time_to_headers_ms: Option<f64>,
    /// Milliseconds from send to the first SSE event.
    pub time_to_first_event_ms: Option<f64>,
    /// Milliseconds from send to the end of the body.
    pub total_ms: f64,
    /// For SSE bodies: what the stream carried.
    pub stream: Option<StreamInfo>,
    /// A short, redacted excerpt of an error body.
    pub error_excerpt: Option<String>,
    /// For error statuses whose body is a JSON error object: its `type` (or `code`, or
    /// `error` when it names none). `None`: the error body is not a JSON error object.
    pub error_type: Option<String>,
    /// Why the exchange did not complete normally, if it did not.
    pub failure: Option<Failure>,
    /// The tokens the body says the call used (`usage`), when a successful body says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Byte sequences of the body (or `data` lines of the stream) that were not UTF-8,
    /// decoded as U+FFFD as the SSE standard says.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub not_utf8: u32,
}

/// For `skip_serializing_if`: counts that are zero are left out of reports.
#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The tokens a response reports in its `usage`: OpenAI's `prompt_tokens` /
/// `completion_tokens` / `total_tokens`, or the Responses and Anthropic `input_tokens` /
/// `output_tokens`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt (input) tokens.
    pub input: Option<u64>,
    /// Generated (output) tokens.
    pub output: Option<u64>,
    /// The total, as reported, or input plus output.
    pub total: Option<u64>,
}

impl Usage {
    /// Reads a JSON `usage` object; `None` when it names no count.
    pub fn from_json(v: &Value) -> Option<Usage> {
        let n = |keys: &[&str]| keys.iter().find_map(|k| v.get(*k).and_then(Value::as_u64));
        let input = n(&["prompt_tokens", "input_tokens"]);
        let output = n(&["completion_tokens", "output_tokens"]);
        let total = n(&["total_tokens"]);
        let u = Usage {
            input,
            output,
            total,
        };
        (input.is_some() || output.is_some() || total.is_some()).then_some(u)
    }

    /// The total: as reported, else input plus output.
    pub fn total(&self) -> Option<u64> {
        self.total.or(match (self.input, self.output) {
            (None, None) => None,
            (i, o) => Some(i.unwrap_or(0) + o.unwrap_or(0)),
        })
    }

    /// This usage with the counts `later` reports filled in or raised (a stream reports
    /// input tokens at its start and output tokens at its end).
    #[must_use]
    pub fn merge(self, later: Usage) -> Usage {
        let max = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        Usage {
            input: max(self.input, later.input),
            output: max(self.output, later.output),
            total: max(self.total, later.total),
        }
    }
}

impl Exchange {
    /// An exchange with nothing received yet.
    pub fn empty(variant: Variant, round: u32, seq: u32) -> Self {
        Exchange {
            variant,
            round,
            seq,
            status: None,
            shape: Shape::None,
            content_type: None,
            headers: Vec::new(),
            rate_headers: Vec::new(),
            time_to_headers_ms: None,
            time_to_first_event_ms: None,
            total_ms: 0.0,
            stream: None,
            error_excerpt: None,
            error_type: None,
            failure: None,
            usage: None,
            not_utf8: 0,
        }
    }

    /// The rate-limit header with this name, if present.
    pub fn rate_header(&self, name: &str) -> Option<&RateHeader> {
        self.rate_headers.iter().find(|h| h.name == name)
    }

    /// The value of a response header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
impl Exchange {
    /// A finished exchange with this status, shape and response headers (classified as the
    /// client would), for tests of what is computed from exchanges.
    pub(crate) fn recorded(
        variant: Variant,
        status: u16,
        shape: Shape,
        headers: &[(&str, &str)],
    ) -> Self {
        Exchange {
            status: Some(status),
            shape,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            rate_headers: crate::headers::classify_all(headers.iter().copied(), &[]),
            total_ms: 1.0,
            ..Exchange::empty(variant, 1, 1)
        }
    }
}

/// One request to send: the endpoint and shape asked for, the body, and extra headers.
#[derive(Debug, Clone)]
pub struct Request {
    /// Endpoint and mode; the mode decides how the response is read.
    pub variant: Variant,
    /// The JSON body, sent as is.
    pub body: Value,
    /// Extra headers on top of the client's.
    pub headers: Vec<(String, String)>,
    /// `body` already serialised, when the sender reuses one body for many requests.
    pub raw_body: Option<bytes::Bytes>,
    /// Round (from 1), for reports.
    pub round: u32,
    /// Position in send order (from 1), for reports.
    pub seq: u32,
}
