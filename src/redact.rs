//! Keeping secrets out of every output.
//!
//! Reports are meant to be pasted into tickets, so every header value and URL passes through a
//! [`Redactor`] before it is stored in a result. It removes the API key wherever it appears, the
//! values of credential-bearing headers, and anything shaped like a provider key.

/// What replaces a secret.
pub const REDACTED: &str = "[redacted]";

/// Header names whose values are always credentials.
const SECRET_HEADERS: [&str; 7] = [
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "api-key",
    "cookie",
    "set-cookie",
    "x-goog-api-key",
];

/// Removes known secrets and key-shaped strings from text.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// A redactor for these secrets (empty ones are ignored).
    pub fn new<I, S>(secrets: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let secrets = secrets
            .into_iter()
            .map(Into::into)
            .filter(|s: &String| s.len() >= 4)
            .collect();
        Redactor { secrets }
    }

    /// Redacts a header value; credential headers lose their value entirely.
    pub fn header(&self, name: &str, value: &str) -> String {
        self.header_cow(name, value).into_owned()
    }

    /// As [`Redactor::header`], borrowing the value when there is nothing to redact.
    pub fn header_cow<'a>(&self, name: &str, value: &'a str) -> std::borrow::Cow<'a, str> {
        if SECRET_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name)) {
            return REDACTED.into();
        }
        if !value.contains("sk-") && !self.secrets.iter().any(|s| value.contains(s.as_str())) {
            return value.into();
        }
        self.text(value).into()
    }

    /// Redacts free text: known secrets, then anything that looks like an API key.
    pub fn text(&self, text: &str) -> String {
        // Most values hold neither a secret nor a key shape: one copy, no scanning twice.
        if !text.contains("sk-") && !self.secrets.iter().any(|s| text.contains(s.as_str())) {
            return text.to_string();
        }
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), REDACTED);
            }
        }
        redact_key_shapes(&out)
    }

    /// A URL safe to show: no user info, no query string (keys travel there too).
    pub fn url(&self, url: &reqwest::Url) -> String {
        let mut u = url.clone();
        let _ = u.set_username("");
        let _ = u.set_password(None);
        if u.query().is_some() {
            u.set_query(Some(REDACTED));
        }
        self.text(u.as_str())
    }
}

/// Key prefixes used by OpenAI, Anthropic, LiteLLM and others (`sk-…`, `sk-ant-…`).
fn redact_key_shapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = find_key_start(rest) {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        let len = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .unwrap_or(tail.len());
        // Short tokens such as `sk-1` in prose are left alone: real keys are long.
        if len >= 20 {
            out.push_str(REDACTED);
        } else {
            out.push_str(&tail[..len]);
        }
        rest = &tail[len..];
    }
    out.push_str(rest);
    out
}

fn find_key_start(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    (0..bytes.len().saturating_sub(2)).find(|&i| {
        bytes[i..].starts_with(b"sk-")
            && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'-'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_key_shapes_go() {
        let r = Redactor::new(["hunter2-secret"]);
        assert_eq!(r.text("a hunter2-secret b"), "a [redacted] b");
        assert_eq!(r.header("Authorization", "Bearer x"), REDACTED);
        assert_eq!(r.header("Set-Cookie", "a=b"), REDACTED);
        assert_eq!(
            r.text("key sk-proj-abcdefghijklmnopqrstuvwxyz0123 ok"),
            "key [redacted] ok"
        );
        assert_eq!(r.text("task-1 and sk-1"), "task-1 and sk-1");
        assert_eq!(r.header("x-ratelimit-api_key-remaining-requests", "9"), "9");
    }

    #[test]
    fn urls_lose_credentials() {
        let r = Redactor::default();
        let u = reqwest::Url::parse("http://user:pw@host:4000/v1?key=abc").unwrap();
        let shown = r.url(&u);
        assert!(!shown.contains("pw") && !shown.contains("abc") && !shown.contains("user"));
    }
}
