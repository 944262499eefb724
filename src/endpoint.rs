//! The OpenAI/LiteLLM-compatible endpoints ratecheck knows, and the minimal request for each.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The prompt every probe request sends: short, so a probe costs almost nothing.
pub const PROMPT: &str = "Reply with OK.";
/// `max_tokens` for probe requests.
pub const MAX_TOKENS: u64 = 16;

/// An API endpoint under `/v1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// `POST /v1/chat/completions`
    #[serde(alias = "chat/completions")]
    Chat,
    /// `POST /v1/completions`
    Completions,
    /// `POST /v1/responses`
    Responses,
    /// `POST /v1/messages` (Anthropic Messages)
    Messages,
    /// `POST /v1/embeddings`
    Embeddings,
}

impl Endpoint {
    /// All endpoints, in probe order.
    pub const ALL: [Endpoint; 5] = [
        Endpoint::Chat,
        Endpoint::Completions,
        Endpoint::Responses,
        Endpoint::Messages,
        Endpoint::Embeddings,
    ];

    /// The path below the gateway base.
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Chat => "/v1/chat/completions",
            Endpoint::Completions => "/v1/completions",
            Endpoint::Responses => "/v1/responses",
            Endpoint::Messages => "/v1/messages",
            Endpoint::Embeddings => "/v1/embeddings",
        }
    }

    /// The short name users type in `--endpoints` and see in reports.
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Chat => "chat/completions",
            Endpoint::Completions => "completions",
            Endpoint::Responses => "responses",
            Endpoint::Messages => "messages",
            Endpoint::Embeddings => "embeddings",
        }
    }

    /// Whether the endpoint has a streaming form.
    pub fn streams(self) -> bool {
        !matches!(self, Endpoint::Embeddings)
    }

    /// The minimal request body for this endpoint.
    pub fn body(self, model: &str, stream: bool) -> Value {
        let mut body = match self {
            Endpoint::Chat => json!({
                "model": model,
                "messages": [{"role": "user", "content": PROMPT}],
                "max_tokens": MAX_TOKENS,
            }),
            Endpoint::Completions => json!({
                "model": model, "prompt": PROMPT, "max_tokens": MAX_TOKENS,
            }),
            Endpoint::Responses => json!({
                "model": model, "input": PROMPT, "max_output_tokens": MAX_TOKENS,
            }),
            Endpoint::Messages => json!({
                "model": model,
                "max_tokens": MAX_TOKENS,
                "messages": [{"role": "user", "content": PROMPT}],
            }),
            Endpoint::Embeddings => json!({"model": model, "input": PROMPT}),
        };
        if stream {
            body["stream"] = json!(true);
            if matches!(self, Endpoint::Chat | Endpoint::Completions) {
                // Ask for the usage chunk, so the stream's end can be checked for it.
                body["stream_options"] = json!({"include_usage": true});
            }
        }
        body
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Endpoint {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().trim_start_matches('/').trim_start_matches("v1/");
        match s {
            "chat" | "chat/completions" => Ok(Endpoint::Chat),
            "completions" => Ok(Endpoint::Completions),
            "responses" => Ok(Endpoint::Responses),
            "messages" => Ok(Endpoint::Messages),
            "embeddings" => Ok(Endpoint::Embeddings),
            other => Err(format!(
                "unknown endpoint `{other}`; expected one of chat, completions, responses, messages, embeddings"
            )),
        }
    }
}

/// Which response form was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// `stream` absent.
    NonStreaming,
    /// `stream: true`.
    Streaming,
}

impl Mode {
    /// Human label.
    pub fn label(self) -> &'static str {
        match self {
            Mode::NonStreaming => "non-streaming",
            Mode::Streaming => "streaming",
        }
    }
}

/// One cell of the probe matrix: an endpoint asked in one mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Variant {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// Streaming or not.
    pub mode: Mode,
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.mode.label(), self.endpoint.name())
    }
}

impl FromStr for Variant {
    type Err = String;

    /// A variant's label as reports print it: `streaming chat/completions`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (mode, endpoint) = s
            .trim()
            .split_once(' ')
            .ok_or_else(|| format!("`{s}` is not a shape: write `streaming chat/completions`"))?;
        let mode = [Mode::NonStreaming, Mode::Streaming]
            .into_iter()
            .find(|m| m.label() == mode)
            .ok_or_else(|| format!("`{mode}` is neither `streaming` nor `non-streaming`"))?;
        Ok(Variant {
            endpoint: endpoint.parse()?,
            mode,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for e in Endpoint::ALL {
            assert_eq!(e.name().parse::<Endpoint>().unwrap(), e);
            assert_eq!(e.path().parse::<Endpoint>().unwrap(), e);
        }
        assert!("chatz".parse::<Endpoint>().is_err());
        for endpoint in Endpoint::ALL {
            for mode in [Mode::NonStreaming, Mode::Streaming] {
                let v = Variant { endpoint, mode };
                assert_eq!(v.to_string().parse::<Variant>(), Ok(v));
            }
        }
        assert!("sometimes chat".parse::<Variant>().is_err());
    }

    #[test]
    fn streaming_bodies_ask_for_usage() {
        let b = Endpoint::Chat.body("m", true);
        assert_eq!(b["stream"], true);
        assert_eq!(b["stream_options"]["include_usage"], true);
        assert!(Endpoint::Messages.body("m", false).get("stream").is_none());
    }
}
