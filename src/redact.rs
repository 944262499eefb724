//! Keeping secrets out of every output.
//!
//! Reports are meant to be pasted into tickets, so every header value, body excerpt, event and
//! URL passes through a [`Redactor`] before it is stored in a result: one path for every output.
//! It removes the API key wherever it came from (environment, file, an `authorization` or
//! `x-api-key` header given with `-H`, a header marked secret), the URL's user and password and
//! every query value, each also in its base64 and URL-encoded forms; the values of
//! credential-bearing headers; and anything shaped like a provider key. It also escapes control
//! characters, so a gateway cannot move the cursor, clear the screen or set a terminal title
//! through a report.

use base64::Engine as _;

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

/// The secrets among `headers`: the values of credential headers and of those named in
/// `secret_headers`, the credential word of each (`Bearer <token>`, `Basic <b64>`), and each
/// cookie's value.
pub fn secret_values(headers: &[(String, String)], secret_headers: &[String]) -> Vec<String> {
    let mut secrets = Vec::new();
    for (name, value) in headers {
        let secret = SECRET_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name))
            || secret_headers.iter().any(|h| h.eq_ignore_ascii_case(name));
        if secret {
            secrets.push(value.clone());
            if let Some(token) = value.split_whitespace().nth(1) {
                secrets.push(token.to_string());
            }
            if name.eq_ignore_ascii_case("cookie") || name.eq_ignore_ascii_case("set-cookie") {
                // Each cookie's value on its own: a body may echo a session without its name.
                secrets.extend(
                    value
                        .split(';')
                        .filter_map(|c| c.split_once('='))
                        .map(|(_, v)| v.trim().to_string()),
                );
            }
        }
    }
    secrets
}

/// Removes known secrets and key-shaped strings from text.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// A redactor for these secrets, each also in its base64 and URL-encoded forms (values
    /// shorter than four characters are ignored: replacing them would garble reports).
    pub fn new<I, S>(secrets: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut all: Vec<String> = Vec::new();
        for s in secrets
            .into_iter()
            .map(Into::into)
            .filter(|s: &String| s.len() >= 4)
        {
            let b64 = base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
            let encoded = url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            for form in [s, b64, encoded] {
                if !all.contains(&form) {
                    all.push(form);
                }
            }
        }
        // Longest first, so a secret is never half-replaced by a shorter one inside it.
        all.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Redactor { secrets: all }
    }

    /// This redactor, knowing `more` secrets too (in the same forms as [`Redactor::new`]).
    #[must_use]
    pub fn with_secrets<I: IntoIterator<Item = String>>(self, more: I) -> Self {
        let more: Vec<String> = more.into_iter().collect();
        if more.is_empty() {
            return self;
        }
        let mut all = Redactor::new(more).secrets;
        all.extend(self.secrets);
        all.dedup();
        all.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Redactor { secrets: all }
    }

    /// The redactor for one target: the key, the secret headers given with `-H` (credential
    /// names, and any in `secret_headers`), the URL's user info and query values.
    pub fn for_target(
        base: &reqwest::Url,
        api_key: Option<&str>,
        headers: &[(String, String)],
        secret_headers: &[String],
    ) -> Self {
        let mut secrets: Vec<String> = api_key.map(str::to_string).into_iter().collect();
        secrets.extend(secret_values(headers, secret_headers));
        let user = base.username();
        if let Some(password) = base.password() {
            secrets.push(password.to_string());
            secrets.push(format!("{user}:{password}"));
        }
        if !user.is_empty() {
            secrets.push(user.to_string());
        }
        secrets.extend(base.query_pairs().map(|(_, v)| v.into_owned()));
        Redactor::new(secrets)
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
        if self.clean(value) {
            return value.into();
        }
        self.text(value).into()
    }

    /// Whether `text` holds nothing to redact or escape.
    fn clean(&self, text: &str) -> bool {
        !text.contains("sk-")
            && !has_escaped(text)
            && !self.secrets.iter().any(|s| text.contains(s.as_str()))
    }

    /// Redacts free text: known secrets, then anything that looks like an API key; control
    /// characters escaped.
    pub fn text(&self, text: &str) -> String {
        // Most values hold neither a secret nor a key shape: one copy, no scanning twice.
        if self.clean(text) {
            return text.to_string();
        }
        let mut out = escape_controls(text);
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

/// Control characters other than newline and tab: shown as `\x1b`, never sent to a terminal.
fn is_escaped(c: char) -> bool {
    c.is_control() && c != '\n' && c != '\t'
}

/// Whether `text` holds a character [`is_escaped`] would escape. Control characters are
/// U+0000–U+001F, U+007F and U+0080–U+009F (UTF-8 `C2 80`–`C2 9F`): a byte scan rules most
/// text out without decoding it.
fn has_escaped(text: &str) -> bool {
    text.bytes().any(|b| b < 0x20 || b == 0x7f || b == 0xc2) && text.chars().any(is_escaped)
}

/// `text` from a file the user wrote (a scenario line quoted in an error) with the values of
/// credential headers and `Bearer`/`Basic` tokens masked: a located error must not carry a
/// token typed into the file into a CI log. Key-shaped strings go as in [`Redactor::text`].
pub fn credentials_in_source(text: &str) -> String {
    use std::sync::LazyLock;
    static HEADER: LazyLock<regex::Regex> = LazyLock::new(|| {
        let names = SECRET_HEADERS.join("|");
        // A quoted value runs to its quote; a bare one to the end of its flow item.
        regex::Regex::new(&format!(
            r#"(?i)\b((?:{names})["']?\s*[:=]\s*)(?:(["'])[^"'\n]+|[^"'\s,}}\]][^"',}}\]\n]*)"#
        ))
        .expect("a valid pattern")
    });
    static TOKEN: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r#"(?i)\b(bearer|basic)\s+[^\s"',}\]]+"#).expect("a valid pattern")
    });
    let masked = HEADER.replace_all(text, "${1}${2}[redacted]");
    let masked = TOKEN.replace_all(&masked, "${1} [redacted]");
    Redactor::default().text(&masked)
}

/// `text` with every control character (but newline and tab) written as `\xNN` / `\u{NNNN}`.
pub fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_escaped(c) {
            let n = u32::from(c);
            if n < 0x100 {
                out.push_str(&format!("\\x{n:02x}"));
            } else {
                out.push_str(&format!("\\u{{{n:04x}}}"));
            }
        } else {
            out.push(c);
        }
    }
    out
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
    fn credentials_typed_into_a_file_are_masked() {
        for (line, want) in [
            (
                r#"  header: "Authorization: Bearer tok-1234567""#,
                r#"  header: "Authorization: [redacted]""#,
            ),
            (
                "      headers: {x-api-key: abc-secret-99}",
                "      headers: {x-api-key: [redacted]}",
            ),
            (
                r#"      headers: {x-tenant: "Basic dXNlcjpwYXNz"}"#,
                r#"      headers: {x-tenant: "Basic [redacted]"}"#,
            ),
            ("  stream: maybe", "  stream: maybe"),
        ] {
            assert_eq!(credentials_in_source(line), want);
        }
    }

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
    fn every_form_of_every_secret_goes() {
        let base = reqwest::Url::parse("http://user:pa55word@host:4000/v1?key=q-secret-1").unwrap();
        let r = Redactor::for_target(
            &base,
            None,
            &[
                ("Authorization".into(), "Bearer tok-abcdef".into()),
                ("X-Tenant-Token".into(), "tenant-secret".into()),
            ],
            &["x-tenant-token".into()],
        );
        for planted in [
            "tok-abcdef",
            "pa55word",
            "q-secret-1",
            "tenant-secret",
            "dXNlcjpwYTU1d29yZA==", // base64 of user:pa55word, as a Basic header echoes it
        ] {
            let shown = r.text(&format!("echo: {planted}!"));
            assert!(!shown.contains(planted), "{planted}: {shown}");
        }
        assert_eq!(
            r.text("\u{1b}]0;title\u{7}\u{1b}[2J"),
            "\\x1b]0;title\\x07\\x1b[2J"
        );
        assert_eq!(r.header("x-note", "a\u{1b}[31mred"), "a\\x1b[31mred");
    }

    #[test]
    fn urls_lose_credentials() {
        let r = Redactor::default();
        let u = reqwest::Url::parse("http://user:pw@host:4000/v1?key=abc").unwrap();
        let shown = r.url(&u);
        assert!(!shown.contains("pw") && !shown.contains("abc") && !shown.contains("user"));
    }
}
