//! The shape contract: what each endpoint's successful answer must be for a client to use it.
//!
//! Headers are only worth checking on an answer a client can read. A gateway that answers
//! noise with status 200 would otherwise pass every header check, so a success body is held
//! to its endpoint's object (a chat completion has `choices`, embeddings have `data`, a
//! Responses answer is a `response`, an Anthropic message has `content`) and a stream to its
//! endpoint's events (chunks with `choices`, `response.*` events, Anthropic's message events).
//! What real providers legitimately send is allowed: keep-alive comments, Anthropic's `ping`,
//! usage-only final chunks with empty `choices`, Azure's filter-results chunk, `[DONE]` or no
//! `[DONE]`. The facts are read while the body is parsed; this module only says what they mean.

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, SeqAccess, Visitor};

use crate::endpoint::Endpoint;

/// The visitor methods for every JSON scalar (`true`, a number, a string, `null`), each
/// answering `$value`: these readers look only at arrays and objects.
macro_rules! scalars_are {
    ($ty:ty, $value:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<$ty, E> {
            Ok($value)
        }
        fn visit_i64<E>(self, _: i64) -> Result<$ty, E> {
            Ok($value)
        }
        fn visit_u64<E>(self, _: u64) -> Result<$ty, E> {
            Ok($value)
        }
        fn visit_f64<E>(self, _: f64) -> Result<$ty, E> {
            Ok($value)
        }
        fn visit_str<E>(self, _: &str) -> Result<$ty, E> {
            Ok($value)
        }
        fn visit_unit<E>(self) -> Result<$ty, E> {
            Ok($value)
        }
    };
}

/// Whether a JSON value is an array, read without building it: an embeddings `data` or a long
/// `choices` is skipped element by element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Json {
    /// An array.
    Array,
    /// Any other value.
    Other,
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Json;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Json::Array)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Json::Other)
            }
            scalars_are!(Json, Json::Other);
        }
        d.deserialize_any(V)
    }
}

/// A top-level field that says what object a JSON answer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    /// `choices` is an array: a chat or text completion.
    Choices,
    /// `data` is an array: an embeddings list.
    Data,
    /// `output` is an array: a Responses API response.
    Output,
    /// `content` is an array: an Anthropic message.
    Content,
    /// An `error` is present, whatever its value.
    Error,
}

/// A chunk's `choices`: whether it is an array, and whether a choice in it has finished (a
/// `finish_reason` that is not null). Read without building the choices.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Choices {
    /// `choices` is an array.
    pub array: bool,
    /// A choice carries a `finish_reason`: the generation ended.
    pub finished: bool,
}

impl<'de> Deserialize<'de> for Choices {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Choices;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Choices, A::Error> {
                let mut finished = false;
                while let Some(c) = seq.next_element::<Choice>()? {
                    finished |= c.0;
                }
                Ok(Choices {
                    array: true,
                    finished,
                })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Choices, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Choices::default())
            }
            scalars_are!(Choices, Choices::default());
        }
        d.deserialize_any(V)
    }
}

/// One choice: whether its `finish_reason` is set.
struct Choice(bool);

impl<'de> Deserialize<'de> for Choice {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(field_identifier, rename_all = "snake_case")]
        enum Key {
            FinishReason,
            #[serde(other)]
            Other,
        }
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Choice;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a choice")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Choice, A::Error> {
                let mut finished = false;
                while let Some(key) = map.next_key::<Key>()? {
                    match key {
                        Key::FinishReason => {
                            finished = map.next_value::<Option<IgnoredAny>>()?.is_some();
                        }
                        Key::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(Choice(finished))
            }
            // A choice that is not an object finishes nothing; it still belongs to the array.
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Choice, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Choice(false))
            }
            scalars_are!(Choice, Choice(false));
        }
        d.deserialize_any(V)
    }
}

/// The top-level fields of a JSON answer that say what object it is.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    /// OpenAI's `object` (`chat.completion`, `list`, `response`, …).
    pub object: Option<String>,
    /// Anthropic's `type` (`message`, `error`).
    pub kind: Option<String>,
    /// Which of the telling fields are present.
    pub has: Vec<Field>,
    /// The body is a JSON object at all (not an array, a string, a number).
    pub is_map: bool,
}

/// Why a JSON success body is not its endpoint's object, in words; `None` when it is.
pub(crate) fn object_broken(endpoint: Endpoint, o: &Answer) -> Option<String> {
    if !o.is_map {
        return Some(format!(
            "is JSON but not an object, so not {}",
            expected(endpoint)
        ));
    }
    let needs = match endpoint {
        Endpoint::Chat | Endpoint::Completions => Field::Choices,
        Endpoint::Embeddings => Field::Data,
        Endpoint::Responses => Field::Output,
        Endpoint::Messages => Field::Content,
    };
    let ok = o.has.contains(&needs);
    if ok {
        return None;
    }
    let named = match (&o.object, &o.kind) {
        (Some(obj), _) => format!("an object `\"object\": \"{obj}\"`"),
        (None, Some(k)) => format!("an object `\"type\": \"{k}\"`"),
        (None, None) => "an object".to_string(),
    };
    let error = if o.has.contains(&Field::Error) {
        " (it carries an `error`: a failure answered with status 200)"
    } else {
        ""
    };
    Some(format!(
        "is {named} without {}, so not {}{error}",
        needed(endpoint),
        expected(endpoint)
    ))
}

/// What the endpoint answers, in words.
pub(crate) fn expected(endpoint: Endpoint) -> &'static str {
    match endpoint {
        Endpoint::Chat => "a chat completion",
        Endpoint::Completions => "a text completion",
        Endpoint::Responses => "a Responses API response",
        Endpoint::Messages => "an Anthropic message",
        Endpoint::Embeddings => "an embeddings list",
    }
}

fn needed(endpoint: Endpoint) -> &'static str {
    match endpoint {
        Endpoint::Chat | Endpoint::Completions => "`choices`",
        Endpoint::Embeddings => "`data`",
        Endpoint::Responses => "`output`",
        Endpoint::Messages => "`content`",
    }
}

/// The endpoint's stream, in words.
pub(crate) fn stream_name(endpoint: Endpoint) -> &'static str {
    match endpoint {
        Endpoint::Chat => "a chat completion stream",
        Endpoint::Completions => "a completion stream",
        Endpoint::Responses => "a Responses stream",
        Endpoint::Messages => "an Anthropic message stream",
        Endpoint::Embeddings => "an embeddings stream",
    }
}

/// The events a stream of this endpoint is made of, in words.
pub(crate) fn expected_events(endpoint: Endpoint) -> &'static str {
    match endpoint {
        Endpoint::Chat => "chat completion chunk (an event with `choices`)",
        Endpoint::Completions => "completion chunk (an event with `choices`)",
        Endpoint::Responses => "Responses event (`response.*`)",
        Endpoint::Messages => {
            "Anthropic message event (`message_start`, `content_block_*`, `message_delta`, `message_stop`)"
        }
        Endpoint::Embeddings => "embeddings event (an event with `data`)",
    }
}

/// Whether one stream event belongs to the endpoint's stream. `kind` is the event's `type`
/// (or its `event:` name); `choices` and `data` say whether those fields are present.
pub(crate) fn event_of(
    endpoint: Endpoint,
    kind: &str,
    object: Option<&str>,
    choices: bool,
    data: bool,
) -> bool {
    match endpoint {
        Endpoint::Chat => choices || object.is_some_and(|o| o.starts_with("chat.completion")),
        Endpoint::Completions => choices || object == Some("text_completion"),
        Endpoint::Responses => kind.starts_with("response."),
        Endpoint::Messages => matches!(
            kind,
            "message_start"
                | "content_block_start"
                | "content_block_delta"
                | "content_block_stop"
                | "message_delta"
                | "message_stop"
        ),
        Endpoint::Embeddings => data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Answer {
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        let Some(map) = v.as_object() else {
            return Answer::default();
        };
        let text = |k: &str| map.get(k).and_then(|v| v.as_str()).map(str::to_string);
        let arr = |k: &str| map.get(k).is_some_and(serde_json::Value::is_array);
        let mut has = Vec::new();
        for (k, f) in [
            ("choices", Field::Choices),
            ("data", Field::Data),
            ("output", Field::Output),
            ("content", Field::Content),
        ] {
            if arr(k) {
                has.push(f);
            }
        }
        if map.contains_key("error") {
            has.push(Field::Error);
        }
        Answer {
            object: text("object"),
            kind: text("type"),
            has,
            is_map: true,
        }
    }

    #[test]
    fn each_endpoint_needs_its_object() {
        let chat = r#"{"object":"chat.completion","choices":[{"message":{"content":"hi"}}]}"#;
        assert_eq!(object_broken(Endpoint::Chat, &read(chat)), None);
        let emb = r#"{"object":"list","data":[{"embedding":[0.1,0.2]}]}"#;
        assert_eq!(object_broken(Endpoint::Embeddings, &read(emb)), None);
        let resp = r#"{"object":"response","status":"completed","output":[]}"#;
        assert_eq!(object_broken(Endpoint::Responses, &read(resp)), None);
        let msg = r#"{"type":"message","content":[{"type":"text","text":"hi"}]}"#;
        assert_eq!(object_broken(Endpoint::Messages, &read(msg)), None);

        let bare = object_broken(Endpoint::Chat, &read(r#"{"object":"chat.completion"}"#));
        assert!(bare.unwrap().contains("without `choices`"));
        let err = object_broken(Endpoint::Embeddings, &read(r#"{"error":{"message":"x"}}"#));
        assert!(err.unwrap().contains("status 200"));
        let arr = object_broken(Endpoint::Messages, &read("[1,2]"));
        assert!(arr.unwrap().contains("not an object"));
        // A chat completion is not an embeddings list.
        assert!(object_broken(Endpoint::Embeddings, &read(chat)).is_some());
    }

    #[test]
    fn a_finished_choice_is_seen_without_building_the_choices() {
        let read = |t: &str| serde_json::from_str::<Choices>(t).unwrap();
        let done = r#"[{"index":0,"delta":{},"finish_reason":"stop","logprobs":null}]"#;
        assert_eq!(
            read(done),
            Choices {
                array: true,
                finished: true
            }
        );
        let going = r#"[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]"#;
        assert!(!read(going).finished);
        assert!(read("[]").array);
        assert!(!read("[1, \"x\", [2]]").finished);
        assert!(!read("null").array);
    }

    #[test]
    fn legitimate_events_belong_to_their_stream() {
        // A usage-only final chunk has an empty `choices`.
        assert!(event_of(Endpoint::Chat, "", None, true, false));
        assert!(event_of(
            Endpoint::Chat,
            "",
            Some("chat.completion.chunk"),
            false,
            false
        ));
        assert!(event_of(
            Endpoint::Responses,
            "response.created",
            None,
            false,
            false
        ));
        assert!(event_of(
            Endpoint::Messages,
            "message_start",
            None,
            false,
            false
        ));
        // Anthropic's keep-alive is not a message event, nor an error one.
        assert!(!event_of(Endpoint::Messages, "ping", None, false, false));
        assert!(!event_of(Endpoint::Chat, "", None, false, false));
    }
}
