//! `curl -i` and `curl -v` output, as users paste it into tickets: one or more exchanges per
//! file, each a status line (`HTTP/1.1 200 OK`, `HTTP/2 200`), its headers, a blank line and the
//! body (JSON, or an SSE stream). `-v` adds `> ` request lines (method, path, `Host`, headers),
//! `< ` response lines and `* ` notes; a `$ curl …` command line before an exchange gives its
//! URL, its `-H` headers and its `-d` body. Informational answers (`100 Continue`, a proxy's
//! `200 Connection established`) are skipped.

use std::sync::LazyLock;

use regex::Regex;

use super::{EvidenceError, Location, MAX_BODY, Read, Record};

/// `HTTP/1.1 200 OK`, `HTTP/2 429`, `HTTP/1.0 503 Service Unavailable`.
static STATUS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^HTTP/\d(?:\.\d)?\s+(\S+)(?:\s+(.*))?$").expect("valid regex"));
/// `-H 'Name: value'`, `--header "Name: value"` in a command line.
static HEADER_FLAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?:-H|--header)\s+(?:'([^']*)'|"([^"]*)")"#).expect("valid regex")
});
/// `-d '…'`, `--data-raw "…"`, `--json '…'` in a command line.
static DATA_FLAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?:-d|--data(?:-raw|-binary)?|--json)\s+(?:'([^']*)'|"((?:[^"\\]|\\.)*)")"#)
        .expect("valid regex")
});
/// The URL of a command line.
static URL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"https?://[^\s'"]+"#).expect("valid regex"));

/// The request as far as the evidence shows it, waiting for its response.
#[derive(Default)]
struct Pending {
    url: Option<String>,
    host: Option<String>,
    path: Option<String>,
    headers: Vec<(String, String)>,
    body: Option<String>,
}

/// A response being read.
struct Open {
    line: usize,
    status: u16,
    headers: Vec<(String, String)>,
    in_body: bool,
    body: Vec<String>,
    /// `-v` marks header lines with `< `.
    verbose: bool,
}

/// Reads every exchange in a `curl -i` / `curl -v` dump.
pub(super) fn read(file: &str, text: &str) -> Read {
    let mut out = Read::default();
    let at = |line: usize| Location {
        file: file.to_string(),
        line,
        column: None,
        entry: None,
    };
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    let mut pending = Pending::default();
    let mut open: Option<Open> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let n = i + 1;
        i += 1;
        // A new command, request or status line ends the body being read.
        if let Some(cmd) = command(line) {
            close(&mut open, &mut pending, &mut out, &at);
            pending = from_command(&continued(cmd, &lines, &mut i));
            continue;
        }
        if let Some(req) = line
            .strip_prefix("> ")
            .or(if line == ">" { Some("") } else { None })
        {
            if open.as_ref().is_some_and(|o| o.in_body || !o.verbose) {
                close(&mut open, &mut pending, &mut out, &at);
            }
            request_line(req, &mut pending);
            continue;
        }
        let (verbose, rest) = match line.strip_prefix("< ") {
            Some(r) => (true, r),
            None if line == "<" => (true, ""),
            None => (false, line),
        };
        if let Some(caps) = STATUS.captures(rest) {
            if open
                .as_ref()
                .is_some_and(|o| o.in_body || o.verbose == verbose)
            {
                close(&mut open, &mut pending, &mut out, &at);
            }
            let code = caps.get(1).map_or("", |m| m.as_str());
            let reason = caps.get(2).map_or("", |m| m.as_str());
            match code.parse::<u16>() {
                Ok(s) if (100..600).contains(&s) => {
                    let informational =
                        s < 200 || reason.eq_ignore_ascii_case("connection established");
                    open = (!informational).then(|| Open {
                        line: n,
                        status: s,
                        headers: Vec::new(),
                        in_body: false,
                        body: Vec::new(),
                        verbose,
                    });
                    if informational {
                        // Its headers and blank line are skipped with it.
                        while i < lines.len() && !strip(lines[i]).is_empty() {
                            i += 1;
                        }
                        i += 1;
                    }
                }
                _ => out.errors.push(EvidenceError {
                    at: at(n),
                    message: format!("`{code}` is not an HTTP status (a number from 100 to 599)"),
                }),
            }
            continue;
        }
        let Some(o) = open.as_mut() else {
            continue;
        };
        if verbose && !o.in_body {
            head_line(o, rest, n, &mut out, &at);
        } else if line.starts_with("* ") || is_data_marker(line) {
            // `-v`'s own notes: the body, if any, is over.
            if line.starts_with("* Connection #") || line.starts_with("* Closing") {
                close(&mut open, &mut pending, &mut out, &at);
            }
        } else if !o.in_body && !o.verbose {
            head_line(o, line, n, &mut out, &at);
        } else {
            o.in_body = true;
            o.body.push(line.to_string());
        }
    }
    close(&mut open, &mut pending, &mut out, &at);
    if out.records.is_empty() && out.errors.is_empty() {
        out.errors.push(EvidenceError {
            at: at(1),
            message: "has no HTTP status line (`HTTP/1.1 200 OK`, `HTTP/2 200`): expected the output of `curl -i` or `curl -v`, a HAR, or a ratecheck JSON report".into(),
        });
    }
    out
}

/// A command line with its `\` continuations joined; `i` moves past them.
fn continued(cmd: &str, lines: &[&str], i: &mut usize) -> String {
    let mut joined = cmd.to_string();
    while joined.ends_with('\\') && *i < lines.len() {
        joined.pop();
        joined.push(' ');
        joined.push_str(lines[*i].trim());
        *i += 1;
    }
    joined
}

/// The `< ` prefix of a verbose line, gone.
fn strip(line: &str) -> &str {
    line.strip_prefix("< ")
        .unwrap_or(if line == "<" { "" } else { line })
}

/// `{ [5 bytes data]`, `} [12 bytes data]`: curl's progress markers when the body went elsewhere.
fn is_data_marker(line: &str) -> bool {
    (line.starts_with("{ [") || line.starts_with("} [")) && line.ends_with("data]")
}

/// A header line of the response being read, or the blank line that ends them.
fn head_line(o: &mut Open, line: &str, n: usize, out: &mut Read, at: &impl Fn(usize) -> Location) {
    if line.trim().is_empty() {
        o.in_body = true;
        return;
    }
    match line.split_once(':') {
        Some((name, value)) if !name.is_empty() && !name.contains(char::is_whitespace) => {
            o.headers
                .push((name.to_ascii_lowercase(), value.trim().to_string()));
        }
        _ => out.errors.push(EvidenceError {
            at: at(n),
            message: format!(
                "`{}` is not a header line (`name: value`): is a line of the paste missing?",
                crate::redact::credentials_in_source(&excerpt(line))
            ),
        }),
    }
}

fn excerpt(line: &str) -> String {
    let cut: String = line.chars().take(60).collect();
    if cut.len() < line.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

/// A `$ curl …` (or `curl …`) command line, without its prompt.
fn command(line: &str) -> Option<&str> {
    let t = line.trim_start();
    let t = t
        .strip_prefix("$ ")
        .or_else(|| t.strip_prefix("% "))
        .unwrap_or(t);
    (t.starts_with("curl ")).then_some(t)
}

fn from_command(cmd: &str) -> Pending {
    let headers = HEADER_FLAG
        .captures_iter(cmd)
        .filter_map(|c| c.get(1).or_else(|| c.get(2)))
        .filter_map(|m| m.as_str().split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let body = DATA_FLAG
        .captures(cmd)
        .and_then(|c| c.get(1).or_else(|| c.get(2)))
        .map(|m| m.as_str().replace("\\\"", "\""));
    Pending {
        url: URL.find(cmd).map(|m| m.as_str().to_string()),
        headers,
        body,
        ..Pending::default()
    }
}

/// A `> ` line of `curl -v`: the request line, a header, or the blank line after them.
fn request_line(req: &str, p: &mut Pending) {
    let mut words = req.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some(_method), Some(path), Some(v)) if v.starts_with("HTTP/") => {
            p.path = Some(path.to_string());
        }
        _ => {
            if let Some((n, v)) = req.split_once(':') {
                let n = n.trim().to_ascii_lowercase();
                if n == "host" {
                    p.host = Some(v.trim().to_string());
                }
                p.headers.push((n, v.trim().to_string()));
            }
        }
    }
}

/// Ends the response being read, if any, as a record.
fn close(
    open: &mut Option<Open>,
    pending: &mut Pending,
    out: &mut Read,
    at: &impl Fn(usize) -> Location,
) {
    let Some(o) = open.take() else { return };
    let p = std::mem::take(pending);
    let mut body: Vec<String> = o.body;
    while body.last().is_some_and(|l| l.trim().is_empty()) {
        body.pop();
    }
    let sse = o
        .headers
        .iter()
        .any(|(n, v)| n == "content-type" && v.to_ascii_lowercase().contains("text/event-stream"));
    let body = (!body.is_empty()).then(|| {
        let mut text = body.join("\n");
        // A stream's last event is dispatched by the blank line a paste tends to lose.
        text.push_str(if sse { "\n\n" } else { "\n" });
        text.into_bytes()
    });
    if body.as_ref().is_some_and(|b| b.len() > MAX_BODY) {
        out.errors.push(EvidenceError {
            at: at(o.line),
            message: format!(
                "the body after this status line is over the {} MiB ratecheck reads from evidence: exchange left out",
                MAX_BODY / 1_048_576
            ),
        });
        return;
    }
    let url = p.url.or_else(|| match (&p.host, &p.path) {
        (Some(h), Some(path)) => Some(format!("http://{h}{path}")),
        (None, Some(path)) => Some(path.clone()),
        _ => None,
    });
    out.records.push(Record {
        at: Some(at(o.line)),
        url,
        request_headers: p.headers,
        request_body: p.body,
        status: o.status,
        headers: o.headers,
        body,
        ..Record::default()
    });
}
