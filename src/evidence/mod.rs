//! Evidence from real traffic: HAR files, `curl -i` / `curl -v` output and ratecheck's own
//! reports, read into [`Record`]s (one response each, with where it was in the file), then
//! into the [`Exchange`]s the probe's analysis judges.
//!
//! Reading never stops at the first bad entry: each file gives what it could read and an
//! [`EvidenceError`] per part it could not, located by line (and HAR entry). Secrets in the
//! evidence — request credentials, cookies, URL passwords and query values — are collected
//! before anything is shown, so the redactor removes them from every output.

mod curl;
pub mod har;
mod recorded;

use std::fmt;
use std::path::Path;

use crate::endpoint::{Endpoint, Mode, Variant};
use crate::http::{Client, Exchange};

/// The most body ratecheck reads from one piece of evidence: a stream is judged by its events,
/// and a longer body is a paste gone wrong, not a response to analyse.
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// Where a record, or an error, is in the evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file, as given.
    pub file: String,
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1, when known.
    pub column: Option<usize>,
    /// The HAR entry (from 0), for HAR files.
    pub entry: Option<usize>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)?;
        if let Some(c) = self.column {
            write!(f, ":{c}")?;
        }
        if let Some(e) = self.entry {
            write!(f, " (entries[{e}])")?;
        }
        Ok(())
    }
}

/// A part of the evidence that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceError {
    /// Where.
    pub at: Location,
    /// What is wrong, and what would be readable.
    pub message: String,
}

impl fmt::Display for EvidenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.message)
    }
}

/// One response as the evidence shows it, with the request that asked for it where known.
#[derive(Debug, Clone, Default)]
pub struct Record {
    /// Where it is in the evidence.
    pub at: Option<Location>,
    /// The request's method, where the evidence shows it.
    pub method: Option<String>,
    /// The request's URL (absolute, or a path when only that is known).
    pub url: Option<String>,
    /// The request's headers (read for their secrets, never shown).
    pub request_headers: Vec<(String, String)>,
    /// The request's body (read for `"stream": true` and its secrets, never shown).
    pub request_body: Option<String>,
    /// The response status.
    pub status: u16,
    /// The response headers, in order.
    pub headers: Vec<(String, String)>,
    /// The response body; `None` when the evidence left it out.
    pub body: Option<Vec<u8>>,
    /// Milliseconds from send to the response head, when the evidence timed it.
    pub time_to_headers_ms: Option<f64>,
    /// Milliseconds from send to the end of the body, when timed.
    pub total_ms: Option<f64>,
    /// An exchange ratecheck recorded before (its own reports): re-judged with today's rules.
    pub recorded: Option<Exchange>,
    /// When the request started, in milliseconds since the epoch, where known (`record`).
    pub started_ms: f64,
    /// The client went away before the body ended (`record`): an unfinished stream is the
    /// client's doing, not the gateway's.
    pub client_left: bool,
}

/// What one file gave.
#[derive(Debug, Default)]
pub struct Read {
    /// The responses read, in the order they happened.
    pub records: Vec<Record>,
    /// The parts that could not be read.
    pub errors: Vec<EvidenceError>,
}

/// Reads one evidence file, whatever its kind: a HAR, one of ratecheck's JSON reports, or the
/// output of `curl -i` / `curl -v`.
pub fn read(path: &Path) -> Read {
    let file = path.display().to_string();
    match std::fs::read(path) {
        Ok(bytes) => parse(&file, &bytes),
        Err(e) => Read {
            records: Vec::new(),
            errors: vec![EvidenceError {
                at: Location {
                    file,
                    line: 1,
                    column: None,
                    entry: None,
                },
                message: format!("cannot be read: {e}"),
            }],
        },
    }
}

/// Reads evidence already in memory; `file` names it in errors.
pub fn parse(file: &str, bytes: &[u8]) -> Read {
    let at = |line| Location {
        file: file.to_string(),
        line,
        column: None,
        entry: None,
    };
    let text = String::from_utf8_lossy(bytes);
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    let json = trimmed.starts_with('{') || trimmed.starts_with('[');
    // Text up to the first byte that is not UTF-8 holding a whole response head: a paste
    // whose body is not text. Bytes that are not text before that are no paste at all.
    let valid = std::str::from_utf8(bytes).map_or_else(|e| e.valid_up_to(), |_| bytes.len());
    let pasted = memchr::memmem::find(&bytes[..valid], b"HTTP/").is_some_and(|at| {
        let head = &bytes[at..valid];
        memchr::memmem::find(head, b"\n\n").is_some()
            || memchr::memmem::find(head, b"\n\r\n").is_some()
    });
    if let (std::borrow::Cow::Owned(_), false, true) = (&text, json, pasted) {
        // `curl -i` writes the body's bytes as they came: a gateway's noise is evidence, not
        // a broken file. Each sequence that is not UTF-8 is read as U+FFFD and put back as
        // one byte that is not UTF-8 either, so the body is judged as the client got it.
        let mut read = curl::read(file, &text);
        for body in read.records.iter_mut().filter_map(|r| r.body.as_mut()) {
            *body = not_utf8_again(body);
        }
        return read;
    }
    if let std::borrow::Cow::Owned(_) = text {
        let line = 1 + memchr::memchr_iter(b'\n', &bytes[..valid]).count();
        return Read {
            records: Vec::new(),
            errors: vec![EvidenceError {
                at: at(line),
                message: "is not text (not UTF-8): expected a HAR, a ratecheck JSON report, or `curl -i` / `curl -v` output".into(),
            }],
        };
    }
    if json {
        let json_kind = if text.contains("\"log\"") {
            har::read
        } else {
            recorded::read
        };
        json_kind(file, &text)
    } else {
        curl::read(file, &text)
    }
}

/// `body` with each U+FFFD turned into the byte 0xFF, which is never UTF-8.
fn not_utf8_again(body: &[u8]) -> Vec<u8> {
    const REPLACEMENT: &[u8] = "\u{fffd}".as_bytes();
    let mut out = Vec::with_capacity(body.len());
    let mut rest = body;
    while let Some(at) = memchr::memmem::find(rest, REPLACEMENT) {
        out.extend_from_slice(&rest[..at]);
        out.push(0xFF);
        rest = &rest[at + REPLACEMENT.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// Line and column (from 1) where `raw`, borrowed from `text`, starts.
fn position(text: &str, raw: &serde_json::value::RawValue) -> (usize, usize) {
    let offset = (raw.get().as_ptr() as usize)
        .saturating_sub(text.as_ptr() as usize)
        .min(text.len());
    let before = &text[..offset];
    let line = 1 + before.matches('\n').count();
    let col = 1 + before
        .rfind('\n')
        .map_or(before.len(), |i| before.len() - i - 1);
    (line, col)
}

/// Where an error inside a part that starts at `start` is in the whole file.
fn within(start: (usize, usize), e: &serde_json::Error) -> (usize, usize) {
    if e.line() <= 1 {
        (start.0, start.1 + e.column().saturating_sub(1))
    } else {
        (start.0 + e.line() - 1, e.column())
    }
}

/// The endpoint a request path names: `…/chat/completions`, `…/completions`, `…/responses`,
/// `…/messages`, `…/embeddings` (any prefix: `/v1`, `/openai/deployments/x`, a gateway's own).
pub fn endpoint_of_path(path: &str) -> Option<Endpoint> {
    let path = path
        .split(['?', '#'])
        .next()
        .unwrap_or(path)
        .trim_end_matches('/');
    if path.ends_with("/chat/completions") {
        Some(Endpoint::Chat)
    } else if path.ends_with("/completions") {
        Some(Endpoint::Completions)
    } else if path.ends_with("/responses") {
        Some(Endpoint::Responses)
    } else if path.ends_with("/messages") {
        Some(Endpoint::Messages)
    } else if path.ends_with("/embeddings") {
        Some(Endpoint::Embeddings)
    } else {
        None
    }
}

/// The endpoint a response body shows, for evidence without its request (`curl -i` output):
/// the OpenAI `object`, a Responses or Anthropic stream's event names.
fn endpoint_of_body(body: &str) -> Option<Endpoint> {
    let has = |needle: &str| body.contains(needle);
    if has("\"chat.completion") {
        Some(Endpoint::Chat)
    } else if has("\"text_completion\"") {
        Some(Endpoint::Completions)
    } else if has("\"response\"") || has("response.created") || has("response.completed") {
        Some(Endpoint::Responses)
    } else if has("message_start") || has("\"type\":\"message\"") || has("\"type\": \"message\"") {
        Some(Endpoint::Messages)
    } else if has("\"embedding\"") {
        Some(Endpoint::Embeddings)
    } else {
        None
    }
}

impl Record {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The endpoint and shape asked for: from the request's path and `stream` field where the
    /// evidence has them, else from the response.
    pub fn variant(&self) -> Option<Variant> {
        if let Some(ex) = &self.recorded {
            return Some(ex.variant);
        }
        let body = self
            .body
            .as_deref()
            .map(|b| String::from_utf8_lossy(&b[..b.len().min(64 * 1024)]).into_owned());
        let endpoint = match self.url.as_deref().map(url_path) {
            Some(path) => endpoint_of_path(&path)?,
            None => endpoint_of_body(body.as_deref()?)?,
        };
        let sse = self
            .header("content-type")
            .is_some_and(|c| c.to_ascii_lowercase().contains("text/event-stream"));
        // The request says what was asked for, where the evidence has it: a stream answered
        // to a request for JSON is the gateway's fault, not a streaming request.
        let asked = match self.request_body.as_deref() {
            Some(body) => asks_for_stream(body),
            None => sse,
        };
        let mode = if asked {
            Mode::Streaming
        } else {
            Mode::NonStreaming
        };
        Some(Variant { endpoint, mode })
    }

    /// The secrets this record carries: credential headers of the request, cookies, the URL's
    /// password and query values, keys in the request body.
    pub fn secrets(&self) -> Vec<String> {
        let mut out = crate::redact::secret_values(&self.request_headers, &[]);
        out.extend(crate::redact::secret_values(&self.headers, &[]));
        if let Some(url) = self
            .url
            .as_deref()
            .and_then(|u| reqwest::Url::parse(u).ok())
        {
            out.extend(url.password().map(str::to_string));
            out.extend(url.query_pairs().map(|(_, v)| v.into_owned()));
        }
        if let Some(body) = &self.request_body
            && let Ok(serde_json::Value::Object(m)) = serde_json::from_str(body)
        {
            for (k, v) in m {
                let k = k.to_ascii_lowercase();
                if (k.contains("key") || k.contains("token") || k.contains("secret"))
                    && let serde_json::Value::String(s) = v
                {
                    out.push(s);
                }
            }
        }
        out
    }
}

/// The path of an absolute URL, or the text itself when it is already a path.
fn url_path(url: &str) -> String {
    reqwest::Url::parse(url).map_or_else(|_| url.to_string(), |u| u.path().to_string())
}

/// Whether a request body asks for a stream (`"stream": true`).
fn asks_for_stream(body: &str) -> bool {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
        v.get("stream").and_then(serde_json::Value::as_bool) == Some(true)
    } else {
        // A body cut or quoted by a shell: the field is still there to see.
        let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
        compact.contains("\"stream\":true")
    }
}

/// What the analysis is given: the exchanges, and what was left aside and why.
#[derive(Debug, Default)]
pub struct Judged {
    /// The exchanges, in the order of the evidence.
    pub exchanges: Vec<Exchange>,
    /// The base URL the evidence talked to, redacted (the first absolute URL's origin).
    pub target: Option<String>,
    /// Responses to something other than the five LLM endpoints, left out.
    pub skipped: usize,
    /// Responses whose body the evidence left out: shapes from their content type.
    pub without_body: usize,
    /// Streams the client left before they ended: not judged as cut.
    pub left_by_client: usize,
    /// Exchanges with another gateway than the one judged, left aside, and those gateways.
    pub elsewhere: usize,
    /// The other gateways' origins, redacted.
    pub other_origins: Vec<String>,
}

/// The origin (`scheme://host:port/`) a record's URL names, if it names one.
fn origin(r: &Record) -> Option<reqwest::Url> {
    let mut u = reqwest::Url::parse(r.url.as_deref()?).ok()?;
    u.set_path("/");
    u.set_query(None);
    u.set_fragment(None);
    let _ = u.set_username("");
    let _ = u.set_password(None);
    Some(u)
}

/// The origin most of the evidence's LLM calls went to (the first seen, on a tie).
/// `variants` holds each record's [`Record::variant`], in order.
fn main_origin(records: &[Record], variants: &[Option<Variant>]) -> Option<reqwest::Url> {
    let mut counts: Vec<(reqwest::Url, usize)> = Vec::new();
    let calls = records.iter().zip(variants).filter(|(_, v)| v.is_some());
    for (r, _) in calls {
        let Some(o) = origin(r) else { continue };
        match counts.iter_mut().find(|(u, _)| *u == o) {
            Some((_, n)) => *n += 1,
            None => counts.push((o, 1)),
        }
    }
    let best = counts.iter().map(|(_, n)| *n).max()?;
    counts.into_iter().find(|(_, n)| *n == best).map(|(u, _)| u)
}

/// Turns records into exchanges, as a live probe would have captured them; `rate_headers` are
/// operator-named headers (`--rate-header`).
pub async fn exchanges(records: &[Record], rate_headers: &[String]) -> Judged {
    let secrets: Vec<String> = records.iter().flat_map(Record::secrets).collect();
    // One gateway at a time: a browser's HAR may hold calls to several, and comparing one
    // host's stream with another's JSON would accuse both of a drop neither made.
    // Read once: the endpoint may come from the body, which means a look through it.
    let variants: Vec<Option<Variant>> = records.iter().map(Record::variant).collect();
    let gateway = main_origin(records, &variants);
    let base = gateway.clone();
    let mut judged = Judged::default();
    let Some(shown_base) = base
        .clone()
        .or_else(|| reqwest::Url::parse("http://evidence.invalid/").ok())
    else {
        return judged;
    };
    let Ok(client) = Client::for_evidence(shown_base, secrets, rate_headers.to_vec()) else {
        return judged;
    };
    judged.target = base.as_ref().map(|b| client.redactor().url(b));
    let mut seq = 0;
    for (r, variant) in records.iter().zip(variants) {
        if let (Some(main), Some(other)) = (&gateway, origin(r))
            && other != *main
        {
            let shown = client.redactor().url(&other);
            if !judged.other_origins.contains(&shown) {
                judged.other_origins.push(shown);
            }
            judged.elsewhere += 1;
            continue;
        }
        let answered = r.recorded.is_some() || r.status >= 100;
        let Some(variant) = variant.filter(|_| answered) else {
            judged.skipped += 1;
            continue;
        };
        seq += 1;
        let ex = if let Some(recorded) = &r.recorded {
            rejudge(&client, recorded, seq)
        } else {
            if r.body.is_none() {
                judged.without_body += 1;
            }
            let mut ex = capture(&client, r, variant, seq).await;
            if r.client_left && ex.failure.is_some() {
                judged.left_by_client += 1;
                ex.failure = None;
            }
            ex
        };
        judged.exchanges.push(ex);
    }
    judged
}

/// One record through the capture path a live response takes.
async fn capture(client: &Client, r: &Record, variant: Variant, seq: u32) -> Exchange {
    let mut ex = Exchange::empty(variant, 1, seq);
    let mut head = reqwest::header::HeaderMap::new();
    for (name, value) in &r.headers {
        if let (Ok(n), Ok(v)) = (
            reqwest::header::HeaderName::from_bytes(name.trim().as_bytes()),
            reqwest::header::HeaderValue::from_str(value.trim()),
        ) {
            head.append(n, v);
        }
    }
    match &r.body {
        Some(body) => {
            let chunks = futures_util::stream::iter([Ok::<_, std::io::Error>(body.clone())]);
            client
                .finish(&mut ex, r.status, &head, chunks, std::time::Instant::now())
                .await;
        }
        None => client.head_only(&mut ex, r.status, &head),
    }
    // The evidence's own timings, where it has them; a replay's are meaningless.
    ex.time_to_headers_ms = r.time_to_headers_ms;
    ex.time_to_first_event_ms = None;
    ex.total_ms = r.total_ms.unwrap_or(0.0);
    if let Some(s) = ex.stream.as_mut() {
        s.timeline.clear();
    }
    ex
}

/// An exchange ratecheck recorded before, with its rate-limit headers read again by today's
/// dialect table (its headers were redacted when recorded).
fn rejudge(client: &Client, recorded: &Exchange, seq: u32) -> Exchange {
    let Some(status) = recorded.status else {
        return Exchange {
            seq,
            ..recorded.clone()
        };
    };
    let mut head = reqwest::header::HeaderMap::new();
    for (name, value) in &recorded.headers {
        if let (Ok(n), Ok(v)) = (
            reqwest::header::HeaderName::from_bytes(name.as_bytes()),
            reqwest::header::HeaderValue::from_str(value),
        ) {
            head.append(n, v);
        }
    }
    let mut ex = Exchange::empty(recorded.variant, recorded.round, seq);
    client.capture_head(&mut ex, status, &head);
    Exchange {
        headers: ex.headers,
        rate_headers: ex.rate_headers,
        content_type: ex.content_type,
        seq,
        ..recorded.clone()
    }
}
