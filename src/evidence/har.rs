//! HAR 1.2 (`.har`): the HTTP Archive browsers' developer tools and debugging proxies export.
//!
//! Only what the analysis needs is read — each entry's request (method, URL, headers, body),
//! response (status, headers, content as text or base64) and timings — and everything else is
//! ignored, so HARs from Chrome, Firefox, Charles or mitmproxy all read. Entries are read one
//! by one: a malformed entry is an error at its own line, and the others are still analysed.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{EvidenceError, Location, MAX_BODY, Read, Record, position, within};

#[derive(Deserialize)]
struct Doc<'a> {
    #[serde(borrow)]
    log: Log<'a>,
}

#[derive(Deserialize)]
struct Log<'a> {
    #[serde(borrow)]
    entries: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    started_date_time: Option<String>,
    time: Option<f64>,
    request: Request,
    response: Response,
    timings: Option<Timings>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Request {
    method: Option<String>,
    url: String,
    #[serde(default)]
    headers: Vec<Header>,
    post_data: Option<PostData>,
}

#[derive(Deserialize)]
struct PostData {
    text: Option<String>,
}

#[derive(Deserialize)]
struct Response {
    status: u16,
    #[serde(default)]
    headers: Vec<Header>,
    content: Option<Content>,
}

#[derive(Deserialize)]
struct Content {
    text: Option<String>,
    encoding: Option<String>,
}

#[derive(Deserialize)]
struct Header {
    name: String,
    value: String,
}

/// HAR timings: milliseconds, -1 where not applicable (`ssl` is inside `connect`).
#[derive(Deserialize, Default)]
struct Timings {
    blocked: Option<f64>,
    dns: Option<f64>,
    connect: Option<f64>,
    send: Option<f64>,
    wait: Option<f64>,
}

impl Timings {
    /// Send to the response head: everything before the first byte.
    fn to_headers(&self) -> Option<f64> {
        let parts = [self.blocked, self.dns, self.connect, self.send, self.wait];
        let known: Vec<f64> = parts
            .iter()
            .flatten()
            .copied()
            .filter(|t| *t >= 0.0)
            .collect();
        self.wait.is_some().then(|| known.iter().sum())
    }
}

/// Reads a HAR's entries.
pub(super) fn read(file: &str, text: &str) -> Read {
    let mut out = Read::default();
    let doc: Doc = match serde_json::from_str(text) {
        Ok(d) => d,
        Err(e) => {
            out.errors.push(EvidenceError {
                at: Location {
                    file: file.to_string(),
                    line: e.line().max(1),
                    column: Some(e.column().max(1)),
                    entry: None,
                },
                message: format!("not a readable HAR: {e}"),
            });
            return out;
        }
    };
    let mut dated: Vec<(Option<jiff::Timestamp>, Record)> = Vec::new();
    for (i, raw) in doc.log.entries.iter().enumerate() {
        let (line, col) = position(text, raw);
        let at = |l: usize, c: usize| Location {
            file: file.to_string(),
            line: l,
            column: Some(c),
            entry: Some(i),
        };
        let entry: Entry = match serde_json::from_str(raw.get()) {
            Ok(e) => e,
            Err(e) => {
                let (l, c) = within((line, col), &e);
                out.errors.push(EvidenceError {
                    at: at(l, c),
                    message: format!("entry {i} is not a HAR entry: {e}"),
                });
                continue;
            }
        };
        match record(entry, at(line, col)) {
            Ok(r) => dated.push(r),
            Err(e) => out.errors.push(e),
        }
    }
    // In the order they were sent: counters are read in send order.
    dated.sort_by_key(|(t, _)| *t);
    out.records = dated.into_iter().map(|(_, r)| r).collect();
    out
}

fn record(e: Entry, at: Location) -> Result<(Option<jiff::Timestamp>, Record), EvidenceError> {
    let body = match e.response.content {
        Some(Content {
            text: Some(text), ..
        }) if text.is_empty() => None,
        Some(Content {
            text: Some(text),
            encoding,
        }) => {
            let bytes = if encoding.as_deref() == Some("base64") {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD
                    .decode(text.trim())
                    .map_err(|err| EvidenceError {
                        at: at.clone(),
                        message: format!("the response content is marked base64 but is not: {err}"),
                    })?
            } else {
                text.into_bytes()
            };
            Some(bytes)
        }
        _ => None,
    };
    if let Some(b) = &body
        && b.len() > MAX_BODY
    {
        return Err(EvidenceError {
            at,
            message: format!(
                "the response body is {:.1} MiB, above the {} MiB ratecheck reads from evidence: entry left out",
                b.len() as f64 / 1_048_576.0,
                MAX_BODY / 1_048_576
            ),
        });
    }
    let headers = |hs: Vec<Header>| -> Vec<(String, String)> {
        hs.into_iter()
            .filter(|h| !h.name.starts_with(':'))
            .map(|h| (h.name.to_ascii_lowercase(), h.value))
            .collect()
    };
    let timings = e.timings.unwrap_or_default();
    let started = e
        .started_date_time
        .as_deref()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok());
    Ok((
        started,
        Record {
            at: Some(at),
            method: e.request.method,
            url: Some(e.request.url),
            request_headers: headers(e.request.headers),
            request_body: e.request.post_data.and_then(|p| p.text),
            status: e.response.status,
            headers: headers(e.response.headers),
            body,
            time_to_headers_ms: timings.to_headers(),
            total_ms: e.time.filter(|t| *t >= 0.0),
            recorded: None,
            #[allow(clippy::cast_precision_loss)] // milliseconds since 1970 fit an f64 exactly
            started_ms: started.map_or(0.0, |t| t.as_millisecond() as f64),
            client_left: false,
        },
    ))
}

/// The records as a HAR 1.2 document, every secret `redactor` knows removed: credential
/// headers emptied, query values and URL passwords dropped, bodies redacted — fit for a ticket.
pub fn write(records: &[Record], redactor: &crate::redact::Redactor) -> String {
    let headers = |hs: &[(String, String)]| -> Vec<serde_json::Value> {
        hs.iter()
            .map(|(n, v)| serde_json::json!({"name": n, "value": redactor.header(n, v)}))
            .collect()
    };
    let entries: Vec<serde_json::Value> = records
        .iter()
        .map(|r| {
            #[allow(clippy::cast_possible_truncation)] // milliseconds since 1970
            let started = jiff::Timestamp::from_millisecond(r.started_ms as i64)
                .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
            let url = r
                .url
                .as_deref()
                .and_then(|u| reqwest::Url::parse(u).ok())
                .map_or_else(String::new, |u| redactor.url(&u));
            let text = r
                .body
                .as_deref()
                .map(|b| redactor.text(&String::from_utf8_lossy(b)));
            let mime = r
                .headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
                .map_or("", |(_, v)| v.as_str());
            let total = r.total_ms.unwrap_or(0.0);
            let wait = r.time_to_headers_ms.unwrap_or(0.0);
            serde_json::json!({
                "startedDateTime": started.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
                "time": total,
                "request": {
                    "method": r.method.as_deref().unwrap_or("POST"),
                    "url": url,
                    "httpVersion": "HTTP/1.1",
                    "cookies": [],
                    "headers": headers(&r.request_headers),
                    "queryString": [],
                    "postData": r.request_body.as_deref().map(|b| serde_json::json!({
                        "mimeType": "application/json",
                        "text": redactor.text(b)
                    })),
                    "headersSize": -1,
                    "bodySize": r.request_body.as_deref().map_or(0, str::len)
                },
                "response": {
                    "status": r.status,
                    "statusText": "",
                    "httpVersion": "HTTP/1.1",
                    "cookies": [],
                    "headers": headers(&r.headers),
                    "content": {
                        "size": r.body.as_deref().map_or(0, <[u8]>::len),
                        "mimeType": mime,
                        "text": text
                    },
                    "redirectURL": "",
                    "headersSize": -1,
                    "bodySize": -1
                },
                "cache": {},
                "timings": {"send": 0, "wait": wait, "receive": (total - wait).max(0.0)}
            })
        })
        .collect();
    let doc = serde_json::json!({
        "log": {
            "version": "1.2",
            "creator": {"name": "ratecheck", "version": env!("CARGO_PKG_VERSION")},
            "entries": entries
        }
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}
