//! Reading a response body to its end: a bounded JSON body, or an SSE stream event by event.
//!
//! Both readers allow `timeout` between two chunks rather than for the whole body, because an
//! LLM stream may rightly run long but must not go silent; a stall, a cut and a parse error each
//! become their own [`Failure`].

use std::time::Instant;

use futures_util::StreamExt;
use serde_json::Value;

use super::base::{ms, root_cause, show_duration};
use super::contract::{self, Choices, Json};
use super::{Client, Exchange, StreamInfo, TIMELINE_EVENTS, TimelineEvent, sse};
use crate::endpoint::Endpoint;
use crate::redact::Redactor;
use crate::verdict::{Failure, FailureKind};
use crate::words::counted;

/// The largest non-stream body read, so a runaway response cannot exhaust memory.
const MAX_BODY: usize = 8 << 20;

impl Client {
    pub(super) async fn read_body<S, B, E>(&self, chunks: S) -> Result<String, Failure>
    where
        S: futures_util::Stream<Item = Result<B, E>> + Unpin,
        B: AsRef<[u8]>,
        E: std::error::Error + 'static,
    {
        self.read_text(chunks).await.map(|(text, _)| text)
    }

    /// The body as text, and how many byte sequences in it were not UTF-8 (each decoded as
    /// U+FFFD, so that an excerpt can still be shown).
    pub(super) async fn read_text<S, B, E>(&self, mut chunks: S) -> Result<(String, u32), Failure>
    where
        S: futures_util::Stream<Item = Result<B, E>> + Unpin,
        B: AsRef<[u8]>,
        E: std::error::Error + 'static,
    {
        // One deadline for the whole body: JSON bodies are small, and one timer per request
        // instead of one per chunk keeps the timer wheel out of the hot path under load.
        let read = async {
            let mut body: Vec<u8> = Vec::new();
            while let Some(chunk) = chunks.next().await {
                match chunk {
                    Ok(chunk) => {
                        let chunk = chunk.as_ref();
                        if body.len() + chunk.len() > MAX_BODY {
                            break;
                        }
                        body.extend_from_slice(chunk);
                    }
                    Err(e) => {
                        return Err(Failure {
                            kind: FailureKind::StreamCut,
                            message: format!(
                                "the body was cut after {} bytes: {}",
                                body.len(),
                                root_cause(&e)
                            ),
                        });
                    }
                }
            }
            Ok(match String::from_utf8(body) {
                Ok(text) => (text, 0),
                Err(e) => {
                    let bad = e
                        .as_bytes()
                        .utf8_chunks()
                        .filter(|c| !c.invalid().is_empty())
                        .count();
                    (
                        String::from_utf8_lossy(e.as_bytes()).into_owned(),
                        u32::try_from(bad).unwrap_or(u32::MAX),
                    )
                }
            })
        };
        match tokio::time::timeout(self.settings.timeout, read).await {
            Ok(result) => result,
            Err(_) => Err(Failure {
                kind: FailureKind::Timeout,
                message: format!(
                    "the body stalled: not complete after {}",
                    show_duration(self.settings.timeout)
                ),
            }),
        }
    }

    pub(super) async fn read_stream<S, B, E>(&self, mut body: S, start: Instant, ex: &mut Exchange)
    where
        S: futures_util::Stream<Item = Result<B, E>> + Unpin,
        B: AsRef<[u8]>,
        E: std::error::Error + Send + Sync + 'static,
    {
        let mut info = StreamInfo::default();
        let mut parser = sse::Parser::default();
        let mut events: Vec<sse::Event> = Vec::new();
        let path = ex.variant.endpoint.path();
        // The whole exchange is bounded too: a stream that trickles a valid event now and then
        // forever must still end.
        let deadline = start + self.settings.max_time;
        let idle = self.settings.timeout;
        let mut last = Instant::now();
        let timer =
            tokio::time::sleep_until(tokio::time::Instant::from_std((last + idle).min(deadline)));
        tokio::pin!(timer);
        'read: loop {
            for event in events.drain(..) {
                if info.events == 0 {
                    ex.time_to_first_event_ms = Some(ms(start.elapsed()));
                }
                info.events += 1;
                if info.timeline.len() < TIMELINE_EVENTS {
                    info.timeline.push(TimelineEvent {
                        at_ms: ms(start.elapsed()),
                        event: TimelineEvent::name(&event.event, |n| self.redactor.text(n)),
                        bytes: event.data.len(),
                    });
                }
                note_event(
                    &mut info,
                    ex.variant.endpoint,
                    &event.event,
                    &event.data,
                    &self.redactor,
                );
                // The terminal event ends the stream: what the server does with the
                // connection afterwards (holds it open, resets it) is not the stream's.
                if info.end.is_some() {
                    break 'read;
                }
            }
            // One timer for the whole stream, moved on only when it fires: a timeout per chunk
            // would register and cancel a timer for every event.
            let item = tokio::select! {
                biased;
                item = body.next() => item,
                () = &mut timer => {
                    let now = Instant::now();
                    let due = (last + idle).min(deadline);
                    if now < due {
                        timer.as_mut().reset(tokio::time::Instant::from_std(due));
                        continue;
                    }
                    ex.failure = Some(self.stream_timeout(path, info.events, now >= deadline));
                    break;
                }
            };
            last = Instant::now();
            match item {
                // A chat or completion stream whose choice has finished is whole when the body
                // ends cleanly: `[DONE]` is OpenAI's habit, not every provider's (Perplexity
                // closes after the finish chunk). A stream that carried an error event ends
                // there, and is judged by that event.
                None if info.finished || info.error_event.is_some() => break,
                None => {
                    ex.failure = Some(Failure {
                        kind: FailureKind::StreamCut,
                        message: format!(
                            "the stream from `POST {path}` ended after {} without `[DONE]`, `message_stop` or `response.completed`",
                            counted(info.events, "event")
                        ),
                    });
                    break;
                }
                Some(Err(e)) => {
                    ex.failure = Some(Failure {
                        kind: FailureKind::StreamCut,
                        message: format!(
                            "the stream from `POST {path}` broke after {}: {}",
                            counted(info.events, "event"),
                            self.redactor.text(&root_cause(&e))
                        ),
                    });
                    break;
                }
                Some(Ok(chunk)) => {
                    if let Err(e) = parser.push(chunk.as_ref(), &mut events) {
                        ex.failure = Some(Failure {
                            kind: FailureKind::BadBody,
                            message: format!(
                                "the stream from `POST {path}` sent {e} after {}: not read further",
                                counted(info.events, "event")
                            ),
                        });
                        break;
                    }
                }
            }
        }
        info.foreign_lines = parser.foreign_lines;
        info.binary_lines = parser.binary_lines;
        ex.not_utf8 = parser.not_utf8_data;
        ex.usage = info.tokens;
        ex.stream = Some(info);
    }

    /// A stream that went quiet for the idle timeout, or ran past `--max-time` (`over`).
    fn stream_timeout(&self, path: &str, events: u32, over: bool) -> Failure {
        let message = if over {
            format!(
                "the stream from `POST {path}` was still going after {} (`--max-time`), {} read: cut off there",
                show_duration(self.settings.max_time),
                counted(events, "event")
            )
        } else {
            format!(
                "the stream from `POST {path}` stalled after {}: no data for {}",
                counted(events, "event"),
                show_duration(self.settings.timeout)
            )
        };
        Failure {
            kind: FailureKind::Timeout,
            message,
        }
    }

    pub(super) fn excerpt(&self, text: &str) -> String {
        let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let cut: String = one_line.chars().take(200).collect();
        self.redactor.text(&cut)
    }
}

// Only a few fields matter; deserialising just those skips the rest of each event without
// building it, which keeps stream reading close to the cost of the bytes themselves.
#[derive(serde::Deserialize)]
struct Event<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    object: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    choices: Option<Choices>,
    #[serde(default)]
    data: Option<Json>,
    #[serde(default)]
    usage: Option<Value>,
    #[serde(default)]
    response: Option<ResponsePart>,
    /// Anthropic's `message_start` carries the input tokens in `message.usage`.
    #[serde(default)]
    message: Option<ResponsePart>,
    #[serde(default)]
    error: Option<Value>,
}
#[derive(serde::Deserialize)]
struct ResponsePart {
    #[serde(default)]
    usage: Option<Value>,
}

/// Reads what one SSE event says about the stream's end, usage and errors.
fn note_event(
    info: &mut StreamInfo,
    endpoint: Endpoint,
    event: &str,
    data: &str,
    redactor: &Redactor,
) {
    if data.trim() == "[DONE]" {
        info.end = Some("[DONE]".into());
        return;
    }
    if event == "error" && info.error_event.is_none() {
        info.error_event = Some(redactor.text(&data.chars().take(200).collect::<String>()));
    }
    let Ok(v) = serde_json::from_str::<Event<'_>>(data) else {
        if !data.trim().is_empty() {
            info.not_json += 1;
        }
        return;
    };
    let kind = v.kind.as_deref().unwrap_or(event);
    if contract::event_of(
        endpoint,
        kind,
        v.object.as_deref(),
        v.choices.is_some_and(|c| c.array),
        v.data == Some(Json::Array),
    ) {
        info.of_kind += 1;
    }
    if v.choices.is_some_and(|c| c.finished) {
        info.finished = true;
    }
    match kind {
        "message_stop" | "response.completed" | "response.failed" | "response.incomplete" => {
            info.end = Some(kind.to_string());
        }
        _ => {}
    }
    let has_usage = |u: &Option<Value>| u.as_ref().is_some_and(Value::is_object);
    if has_usage(&v.usage) || v.response.as_ref().is_some_and(|r| has_usage(&r.usage)) {
        info.usage = true;
    }
    for u in [
        v.usage.as_ref(),
        v.response.as_ref().and_then(|r| r.usage.as_ref()),
        v.message.as_ref().and_then(|r| r.usage.as_ref()),
    ]
    .into_iter()
    .flatten()
    {
        if let Some(tokens) = crate::http::Usage::from_json(u) {
            info.tokens = Some(info.tokens.map_or(tokens, |t| t.merge(tokens)));
        }
    }
    if info.error_event.is_none() {
        match &v.error {
            Some(e) if e.is_object() => info.error_event = Some(redactor.text(&e.to_string())),
            _ if kind == "error" => {
                let shown = v
                    .error
                    .as_ref()
                    .map_or("null".to_string(), Value::to_string);
                info.error_event = Some(redactor.text(&shown));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::Redactor;

    #[test]
    fn stream_ends_are_recognised() {
        let r = Redactor::default();
        let mut i = StreamInfo::default();
        note_event(&mut i, Endpoint::Chat, "message", "[DONE]", &r);
        assert_eq!(i.end.as_deref(), Some("[DONE]"));
        let mut i = StreamInfo::default();
        note_event(
            &mut i,
            Endpoint::Messages,
            "message_stop",
            "{\"type\":\"message_stop\"}",
            &r,
        );
        assert_eq!(i.end.as_deref(), Some("message_stop"));
        let mut i = StreamInfo::default();
        note_event(
            &mut i,
            Endpoint::Responses,
            "message",
            "{\"type\":\"response.completed\",\"response\":{\"usage\":{}}}",
            &r,
        );
        assert_eq!(i.end.as_deref(), Some("response.completed"));
        assert!(i.usage);
        let mut i = StreamInfo::default();
        note_event(
            &mut i,
            Endpoint::Chat,
            "message",
            "{\"error\":{\"message\":\"boom\"}}",
            &r,
        );
        assert!(i.error_event.unwrap().contains("boom"));
    }
}
