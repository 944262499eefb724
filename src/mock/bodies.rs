//! Response bodies the simulator sends: JSON objects and SSE frames for each endpoint.
//!
//! The stream frames follow the real wire formats (`sse.md` in the project's references):
//! OpenAI chat and completions end in `data: [DONE]` with an optional usage chunk before it,
//! the Responses API uses typed events ending in `response.completed`, and Anthropic Messages
//! run from `message_start` to `message_stop`.

use serde_json::{Value, json};

use crate::endpoint::Endpoint;

/// The words of every simulated answer.
pub const WORDS: [&str; 4] = ["rate", "limits", "are", "fine"];

/// Token counts for one simulated request.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    /// Tokens in the prompt.
    pub prompt: u64,
    /// Tokens generated.
    pub completion: u64,
}

fn text() -> String {
    WORDS.join(" ")
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The non-streaming body for an endpoint.
pub fn json_body(endpoint: Endpoint, model: &str, id: u64, usage: Usage) -> Value {
    let total = usage.prompt + usage.completion;
    match endpoint {
        Endpoint::Chat => json!({
            "id": format!("chatcmpl-mock-{id}"), "object": "chat.completion", "created": now(),
            "model": model,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text()}}],
            "usage": {"prompt_tokens": usage.prompt, "completion_tokens": usage.completion, "total_tokens": total},
        }),
        Endpoint::Completions => json!({
            "id": format!("cmpl-mock-{id}"), "object": "text_completion", "created": now(),
            "model": model,
            "choices": [{"index": 0, "finish_reason": "stop", "text": text(), "logprobs": null}],
            "usage": {"prompt_tokens": usage.prompt, "completion_tokens": usage.completion, "total_tokens": total},
        }),
        Endpoint::Responses => response_object(model, id, usage, "completed"),
        Endpoint::Messages => json!({
            "id": format!("msg_mock_{id}"), "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": text()}],
            "stop_reason": "end_turn", "stop_sequence": null,
            "usage": {"input_tokens": usage.prompt, "output_tokens": usage.completion},
        }),
        Endpoint::Embeddings => json!({
            "object": "list", "model": model,
            "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2, 0.3]}],
            "usage": {"prompt_tokens": usage.prompt, "total_tokens": usage.prompt},
        }),
    }
}

fn response_object(model: &str, id: u64, usage: Usage, status: &str) -> Value {
    json!({
        "id": format!("resp_mock_{id}"), "object": "response", "created_at": now(),
        "status": status, "model": model,
        "output": [{"type": "message", "id": format!("msg_mock_{id}"), "role": "assistant",
                    "content": [{"type": "output_text", "text": text(), "annotations": []}]}],
        "usage": {"input_tokens": usage.prompt, "output_tokens": usage.completion,
                  "total_tokens": usage.prompt + usage.completion},
    })
}

fn data(v: &Value) -> String {
    format!("data: {v}\n\n")
}

fn named(event: &str, v: &Value) -> String {
    format!("event: {event}\ndata: {v}\n\n")
}

/// The SSE frames of a stream, one string per network write.
pub fn sse_frames(
    endpoint: Endpoint,
    model: &str,
    id: u64,
    usage: Usage,
    include_usage: bool,
) -> Vec<String> {
    let created = now();
    let mut frames = Vec::new();
    let usage_json = json!({"prompt_tokens": usage.prompt, "completion_tokens": usage.completion,
                            "total_tokens": usage.prompt + usage.completion});
    match endpoint {
        Endpoint::Chat => {
            let chunk = |delta: Value, finish: Value| {
                json!({"id": format!("chatcmpl-mock-{id}"), "object": "chat.completion.chunk",
                       "created": created, "model": model,
                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
            };
            frames.push(data(&chunk(
                json!({"role": "assistant", "content": ""}),
                Value::Null,
            )));
            for (i, w) in WORDS.iter().enumerate() {
                let piece = if i + 1 < WORDS.len() {
                    format!("{w} ")
                } else {
                    (*w).to_string()
                };
                frames.push(data(&chunk(json!({"content": piece}), Value::Null)));
            }
            frames.push(data(&chunk(json!({}), json!("stop"))));
            if include_usage {
                frames.push(data(&json!({"id": format!("chatcmpl-mock-{id}"),
                    "object": "chat.completion.chunk", "created": created, "model": model,
                    "choices": [], "usage": usage_json})));
            }
            frames.push("data: [DONE]\n\n".into());
        }
        Endpoint::Completions => {
            for (i, w) in WORDS.iter().enumerate() {
                let last = i + 1 == WORDS.len();
                frames.push(data(&json!({"id": format!("cmpl-mock-{id}"), "object": "text_completion",
                    "created": created, "model": model,
                    "choices": [{"index": 0, "text": if last { (*w).to_string() } else { format!("{w} ") },
                                 "finish_reason": if last { json!("stop") } else { Value::Null }}]})));
            }
            if include_usage {
                frames.push(data(
                    &json!({"id": format!("cmpl-mock-{id}"), "object": "text_completion",
                    "created": created, "model": model, "choices": [], "usage": usage_json}),
                ));
            }
            frames.push("data: [DONE]\n\n".into());
        }
        Endpoint::Responses => {
            let created_ev = json!({"type": "response.created",
                "response": response_object(model, id, usage, "in_progress")});
            frames.push(named("response.created", &created_ev));
            for w in WORDS {
                frames.push(named(
                    "response.output_text.delta",
                    &json!({"type": "response.output_text.delta", "output_index": 0,
                            "content_index": 0, "delta": format!("{w} ")}),
                ));
            }
            frames.push(named(
                "response.completed",
                &json!({"type": "response.completed",
                        "response": response_object(model, id, usage, "completed")}),
            ));
        }
        Endpoint::Messages => {
            frames.push(named(
                "message_start",
                &json!({"type": "message_start",
                "message": {"id": format!("msg_mock_{id}"), "type": "message", "role": "assistant",
                            "model": model, "content": [], "stop_reason": null,
                            "usage": {"input_tokens": usage.prompt, "output_tokens": 0}}}),
            ));
            frames.push(named(
                "content_block_start",
                &json!({"type": "content_block_start", "index": 0,
                        "content_block": {"type": "text", "text": ""}}),
            ));
            frames.push(named("ping", &json!({"type": "ping"})));
            for w in WORDS {
                frames.push(named(
                    "content_block_delta",
                    &json!({"type": "content_block_delta", "index": 0,
                            "delta": {"type": "text_delta", "text": format!("{w} ")}}),
                ));
            }
            frames.push(named(
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": 0}),
            ));
            frames.push(named(
                "message_delta",
                &json!({"type": "message_delta",
                        "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                        "usage": {"output_tokens": usage.completion}}),
            ));
            frames.push(named("message_stop", &json!({"type": "message_stop"})));
        }
        Endpoint::Embeddings => {}
    }
    frames
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stream_ends_with_its_terminal_event() {
        let u = Usage {
            prompt: 3,
            completion: 4,
        };
        let last = |e| sse_frames(e, "m", 1, u, true).last().cloned().unwrap();
        assert_eq!(last(Endpoint::Chat), "data: [DONE]\n\n");
        assert_eq!(last(Endpoint::Completions), "data: [DONE]\n\n");
        assert!(last(Endpoint::Responses).starts_with("event: response.completed"));
        assert!(last(Endpoint::Messages).starts_with("event: message_stop"));
    }
}
