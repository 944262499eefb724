//! From a response head and body to an [`Exchange`], whichever HTTP stack delivered them:
//! headers captured, redacted and classified, the body read as JSON or as an SSE stream, the
//! shape decided, failures classified.

use std::time::Instant;

use reqwest::header::HeaderMap;
use serde_json::Value;

use super::contract::{self, Answer, Field, Json};
use super::{Client, Exchange, Shape, ms};
use crate::endpoint::Mode;
use crate::headers;
use crate::verdict::{Failure, FailureKind};
use crate::words::counted;

impl Client {
    /// Everything after the response head, whichever HTTP stack delivered it: headers captured
    /// and classified, the body read as JSON or as an SSE stream, the shape decided.
    pub(crate) async fn finish<H, S, B, E>(
        &self,
        ex: &mut Exchange,
        status: u16,
        head: &H,
        body: S,
        start: Instant,
    ) where
        H: Head + ?Sized,
        S: futures_util::Stream<Item = Result<B, E>> + Unpin,
        B: AsRef<[u8]>,
        E: std::error::Error + Send + Sync + 'static,
    {
        ex.time_to_headers_ms = Some(ms(start.elapsed()));
        self.capture_head(ex, status, head);
        self.finish_body(ex, status, body, start).await;
    }

    /// Everything after a response head already captured into `ex`: the body read as JSON or
    /// as an SSE stream, the shape decided, failures classified.
    pub(crate) async fn finish_body<S, B, E>(
        &self,
        ex: &mut Exchange,
        status: u16,
        body: S,
        start: Instant,
    ) where
        S: futures_util::Stream<Item = Result<B, E>> + Unpin,
        B: AsRef<[u8]>,
        E: std::error::Error + Send + Sync + 'static,
    {
        let variant = ex.variant;
        let stream = variant.mode == Mode::Streaming;
        let is_sse = ex.content_type.as_deref().is_some_and(is_event_stream);
        if (300..400).contains(&status) {
            // Not followed (see `redirect_policy`): the answer is the redirect itself.
            ex.shape = Shape::Error;
            let _ = self.read_body(body).await;
            let to = ex
                .header("location")
                .map_or_else(|| "no location".to_string(), |l| self.show_location(l));
            ex.error_type = Some("redirect".into());
            ex.error_excerpt = Some(format!("redirect to {to}"));
        } else if status == 404 || status == 405 {
            let text = self.read_body(body).await.unwrap_or_default();
            ex.error_type = error_type(&text).map(|t| self.redactor.text(&t));
            ex.error_excerpt = Some(self.excerpt(&text));
            // A gateway that forwards its model's 404 offers the endpoint: the model behind it
            // failed. Only a plain 404 means the endpoint is not there.
            ex.shape = if upstream_failure(ex, &text) {
                Shape::Error
            } else {
                Shape::NotOffered
            };
        } else if status >= 400 {
            ex.shape = Shape::Error;
            let text = self.read_body(body).await.unwrap_or_default();
            ex.error_excerpt = Some(self.excerpt(&text));
            ex.error_type = error_type(&text).map(|t| self.redactor.text(&t));
            if status == 401 || status == 403 {
                ex.failure = Some(Failure {
                    kind: FailureKind::Auth,
                    message: format!("`POST {}` answered {status}", variant.endpoint.path()),
                });
            }
        } else if is_sse {
            ex.shape = Shape::Sse;
            self.read_stream(body, start, ex).await;
            if ex.failure.is_none()
                && let Some(message) = stream_broken(ex, status)
            {
                ex.failure = Some(Failure {
                    kind: FailureKind::ShapeContract,
                    message,
                });
            }
        } else {
            match self.read_text(body).await {
                Ok((bytes, not_utf8)) => {
                    ex.not_utf8 = not_utf8;
                    if let Ok((object, usage)) = top_level_object(bytes.as_bytes()) {
                        ex.usage = usage;
                        ex.shape = if object.object.is_some() && !stream {
                            Shape::JsonObject
                        } else {
                            Shape::PlainDict
                        };
                        if not_utf8 > 0 {
                            ex.failure = Some(Failure {
                                kind: FailureKind::ShapeContract,
                                message: format!(
                                    "`POST {}` answered {status} with a JSON body holding {} that {} not UTF-8: JSON must be UTF-8 (RFC 8259), and a strict parser refuses it: {}",
                                    variant.endpoint.path(),
                                    counted(not_utf8, "byte sequence"),
                                    if not_utf8 == 1 { "is" } else { "are" },
                                    self.excerpt(&bytes)
                                ),
                            });
                        } else if let Some(why) = contract::object_broken(variant.endpoint, &object)
                        {
                            ex.failure = Some(Failure {
                                kind: FailureKind::ShapeContract,
                                message: format!(
                                    "`POST {}` answered {status} with a body that {why}: {}",
                                    variant.endpoint.path(),
                                    self.excerpt(&bytes)
                                ),
                            });
                        }
                    } else {
                        ex.shape = Shape::Invalid;
                        let message = self.bad_body(ex, variant, status, &bytes);
                        ex.failure = Some(Failure {
                            kind: FailureKind::BadBody,
                            message,
                        });
                    }
                }
                Err(f) => {
                    ex.shape = Shape::Invalid;
                    ex.failure = Some(f);
                }
            }
        }
        ex.total_ms = ms(start.elapsed());
    }

    /// The response head into `ex`: status, headers captured, redacted and classified, the
    /// content type. Whether the body is an SSE stream.
    pub(crate) fn capture_head<H: Head + ?Sized>(
        &self,
        ex: &mut Exchange,
        status: u16,
        head: &H,
    ) -> bool {
        ex.status = Some(status);
        let mut lower = [0u8; 64];
        head.each_header(&mut |name, value| {
            let name = lowercase(name, &mut lower);
            // Lean clients (load) keep the rate-limit headers parsed, and only the few other
            // headers the analysis reads; nothing else is copied.
            let keep = !self.lean
                || matches!(
                    &*name,
                    "content-type" | "date" | "server" | "x-litellm-version" | "location"
                );
            // HTTP's own headers are no dialect's: not read through every dialect on every
            // answer, nor copied when nothing keeps them.
            let plain = PLAIN_HEADERS.contains(&&*name);
            if plain && !keep {
                return;
            }
            let raw = String::from_utf8_lossy(value);
            let shown = self.redactor.header_cow(&name, &raw);
            let rate = (!plain)
                .then(|| headers::classify(&name, &shown))
                .flatten()
                .or_else(|| {
                    self.settings
                        .rate_headers
                        .iter()
                        .any(|d| d.eq_ignore_ascii_case(&name))
                        .then(|| headers::declared(&name, &shown))
                });
            if let Some(h) = rate {
                ex.rate_headers.push(h);
            }
            if keep {
                ex.headers.push((name.into_owned(), shown.into_owned()));
            }
        });
        headers::mark_passthrough(&mut ex.rate_headers);
        ex.content_type = ex.header("content-type").map(str::to_string);
        ex.content_type.as_deref().is_some_and(is_event_stream)
    }

    /// A response known only by its head (evidence whose body was left out): the shape from
    /// the status and the content type, no body read.
    pub(crate) fn head_only<H: Head + ?Sized>(&self, ex: &mut Exchange, status: u16, head: &H) {
        let is_sse = self.capture_head(ex, status, head);
        let json = ex
            .content_type
            .as_deref()
            .is_some_and(|c| c.to_ascii_lowercase().contains("json"));
        if is_sse && (200..300).contains(&status) && ex.variant.mode == Mode::NonStreaming {
            ex.failure = Some(Failure {
                kind: FailureKind::ShapeContract,
                message: stream_for_json(ex, status),
            });
        }
        ex.shape = match status {
            404 | 405 => Shape::NotOffered,
            s if s >= 300 => Shape::Error,
            _ if is_sse => Shape::Sse,
            // LiteLLM's `/v1/messages` answers an Anthropic message, never an OpenAI object;
            // JSON asked for as a stream is its other plain dict.
            _ if json
                && (ex.variant.endpoint == crate::endpoint::Endpoint::Messages
                    || ex.variant.mode == Mode::Streaming) =>
            {
                Shape::PlainDict
            }
            _ if json => Shape::JsonObject,
            _ => Shape::Invalid,
        };
    }

    /// Why a success body is unreadable. A body still encoded means the connection did not
    /// ask for compression (load's direct lanes send no `Accept-Encoding`): say so, not "garbage".
    fn bad_body(
        &self,
        ex: &Exchange,
        variant: crate::endpoint::Variant,
        status: u16,
        bytes: &str,
    ) -> String {
        let encoding = ex
            .header("content-encoding")
            .filter(|v| !v.eq_ignore_ascii_case("identity"));
        match encoding {
            Some(enc) => format!(
                "`POST {}` answered {status} with a `{enc}`-encoded body although the request did not ask for one (no `Accept-Encoding`): not decoded",
                variant.endpoint.path()
            ),
            None => format!(
                "`POST {}` answered {status} with a body that is neither JSON nor SSE: {}",
                variant.endpoint.path(),
                self.excerpt(bytes)
            ),
        }
    }
}

impl Client {
    /// A redirect's target, shown without credentials or query, resolved against the base.
    fn show_location(&self, location: &str) -> String {
        match self.base.join(location) {
            Ok(url) => self.redactor.url(&url),
            Err(_) => self.redactor.text(location),
        }
    }
}

/// Why a stream that ended normally is not the endpoint's answer, with the evidence; `None`
/// when it is. A stream that carried an error event is judged by that event instead.
fn stream_broken(ex: &Exchange, status: u16) -> Option<String> {
    let path = ex.variant.endpoint.path();
    let s = ex.stream.as_ref()?;
    if ex.variant.mode == Mode::NonStreaming {
        return Some(stream_for_json(ex, status));
    }
    if s.error_event.is_some() {
        return None;
    }
    let mut wrong = Vec::new();
    if s.of_kind == 0 {
        let end = s
            .end
            .as_deref()
            .map_or_else(String::new, |e| format!(", ending `{e}`"));
        wrong.push(format!(
            "no {} among its {}{end}",
            contract::expected_events(ex.variant.endpoint),
            counted(s.events, "event")
        ));
    }
    if s.binary_lines > 0 {
        wrong.push(format!(
            "{} of bytes that are not text (not UTF-8, or control characters)",
            counted(s.binary_lines, "line")
        ));
    }
    if s.foreign_lines > 0 {
        wrong.push(format!(
            "{} that {} no SSE field",
            counted(s.foreign_lines, "line"),
            if s.foreign_lines == 1 { "is" } else { "are" }
        ));
    }
    if s.not_json > 0 {
        wrong.push(format!(
            "{} whose data is not a JSON object",
            counted(s.not_json, "event")
        ));
    }
    // Lines that are no field are ignored by the standard: alone, beside the endpoint's
    // events, they break nothing a client reads.
    let broken = s.of_kind == 0 || s.binary_lines > 0 || s.not_json > 0;
    broken.then(|| {
        format!(
            "the stream from `POST {path}` (status {status}) is not {}: {}",
            contract::stream_name(ex.variant.endpoint),
            wrong.join("; ")
        )
    })
}

/// A request sent without `stream` answered with an event stream.
fn stream_for_json(ex: &Exchange, status: u16) -> String {
    let events = ex.stream.as_ref().map_or_else(String::new, |s| {
        format!(" of {}", counted(s.events, "event"))
    });
    format!(
        "`POST {}` was asked for JSON (no `stream`) and answered {status} with a `text/event-stream`{events}: a client expecting {} cannot read it",
        ex.variant.endpoint.path(),
        contract::expected(ex.variant.endpoint)
    )
}

/// Whether a content type is `text/event-stream`, in any case, with or without parameters.
fn is_event_stream(content_type: &str) -> bool {
    const SSE: &[u8] = b"text/event-stream";
    content_type
        .as_bytes()
        .windows(SSE.len())
        .any(|w| w.eq_ignore_ascii_case(SSE))
}

/// A response head's header lines, however the HTTP stack delivered them: a [`HeaderMap`]
/// (reqwest, evidence) or the lines `httparse` read (load lanes), which keeps a lane from
/// building a map per response only to walk it once.
pub(crate) trait Head {
    /// Calls `f` with each header's name (in any case) and raw value, in arrival order.
    fn each_header(&self, f: &mut dyn FnMut(&str, &[u8]));
}

impl Head for HeaderMap {
    fn each_header(&self, f: &mut dyn FnMut(&str, &[u8])) {
        for (name, value) in self {
            f(name.as_str(), value.as_bytes());
        }
    }
}

impl Head for [httparse::Header<'_>] {
    fn each_header(&self, f: &mut dyn FnMut(&str, &[u8])) {
        for h in self {
            f(h.name, h.value);
        }
    }
}

/// Headers of HTTP itself, which no rate-limit dialect reads (a unit test holds every
/// dialect to that).
const PLAIN_HEADERS: [&str; 12] = [
    "content-type",
    "content-length",
    "date",
    "server",
    "connection",
    "transfer-encoding",
    "keep-alive",
    "cache-control",
    "vary",
    "content-encoding",
    "etag",
    "x-content-type-options",
];

/// `name` in lower case, in `buf` when it is short enough and not lower case already: header
/// names arrive as the server wrote them (`Content-Type`), and are compared lowercased.
fn lowercase<'a>(name: &'a str, buf: &'a mut [u8; 64]) -> std::borrow::Cow<'a, str> {
    if !name.bytes().any(|b| b.is_ascii_uppercase()) {
        return name.into();
    }
    if name.len() > buf.len() {
        return name.to_ascii_lowercase().into();
    }
    let out = &mut buf[..name.len()];
    out.copy_from_slice(name.as_bytes());
    out.make_ascii_lowercase();
    // Lowercasing ASCII letters keeps UTF-8 valid; the fallback is never taken.
    std::str::from_utf8(out).map_or_else(|_| name.to_ascii_lowercase().into(), Into::into)
}

/// Whether an error answer is the gateway forwarding its upstream's failure: a JSON error from
/// LiteLLM (its `x-litellm-*` headers are on the response), or a message naming a provider
/// exception (`litellm.NotFoundError: … Hosted_vllmException`).
fn upstream_failure(ex: &Exchange, text: &str) -> bool {
    let litellm = ex.headers.iter().any(|(n, _)| n.starts_with("x-litellm-"))
        || ex
            .rate_headers
            .iter()
            .any(|h| h.name.starts_with("x-litellm-"));
    (litellm && error_type(text).is_some()) || text.contains("Exception")
}

/// What object a JSON body is (the fields that say so, see [`contract`]) and the tokens its
/// `usage` reports, without building the whole document: only those fields are kept, and
/// arrays are skipped rather than built. `Err` when the body is not JSON at all.
fn top_level_object(bytes: &[u8]) -> Result<(Answer, Option<super::Usage>), serde_json::Error> {
    #[derive(serde::Deserialize)]
    struct Top {
        object: Option<Value>,
        #[serde(rename = "type")]
        kind: Option<Value>,
        usage: Option<Value>,
        choices: Option<Json>,
        data: Option<Json>,
        output: Option<Json>,
        content: Option<Json>,
        error: Option<serde::de::IgnoredAny>,
    }
    let text = |v: Option<Value>| match v {
        Some(Value::String(s)) => Some(s),
        _ => None,
    };
    match serde_json::from_slice::<Top>(bytes) {
        Ok(top) => {
            let mut has = Vec::new();
            for (value, field) in [
                (top.choices, Field::Choices),
                (top.data, Field::Data),
                (top.output, Field::Output),
                (top.content, Field::Content),
            ] {
                if value == Some(Json::Array) {
                    has.push(field);
                }
            }
            if top.error.is_some() {
                has.push(Field::Error);
            }
            Ok((
                Answer {
                    object: text(top.object),
                    kind: text(top.kind),
                    has,
                    is_map: true,
                },
                top.usage.as_ref().and_then(super::Usage::from_json),
            ))
        }
        // Valid JSON that is not an object (an array, a string) is still JSON.
        Err(_) => serde_json::from_slice::<Value>(bytes).map(|_| (Answer::default(), None)),
    }
}

/// The `type` of a JSON error body: OpenAI's `{"error": {"type": …}}`, Anthropic's
/// `{"type": "error", "error": {"type": …}}`, a bare `{"error": "…"}`, or an RFC 9457 problem
/// document (`{"type": …, "title": …, "status": …}`).
fn error_type(text: &str) -> Option<String> {
    let v: Value = serde_json::from_str(text).ok()?;
    let Some(err) = v.get("error") else {
        let problem =
            v.get("status").is_some() && (v.get("title").is_some() || v.get("type").is_some());
        return problem.then(|| "problem+json".to_string());
    };
    let named = |e: &Value, key: &str| match e.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    Some(
        named(err, "type")
            .or_else(|| named(err, "code"))
            .unwrap_or_else(|| "error".into()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_dialect_reads_http_own_headers() {
        let values = [
            "1",
            "0",
            "60",
            "1s",
            "true",
            "text/event-stream",
            "Wed, 21 Oct 2026 07:28:00 GMT",
        ];
        for name in PLAIN_HEADERS {
            for value in values {
                assert!(
                    headers::classify(name, value).is_none(),
                    "{name}: {value} is read as a rate-limit header"
                );
            }
        }
    }
}
