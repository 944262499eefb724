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
    method: Option<String>,
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
    let lines = split_glued(text);
    let mut p = Parser {
        file,
        pending: Pending::default(),
        open: None,
        out: Read::default(),
        orphan: Vec::new(),
        orphan_for: None,
    };
    let mut i = 0;
    while i < lines.len() {
        let (n, line) = (lines[i].0, lines[i].1.as_str());
        i += 1;
        p.line(n, line, &lines, &mut i);
    }
    p.flush_orphan();
    p.close();
    let mut out = p.out;
    if out.records.is_empty() && out.errors.is_empty() {
        out.errors.push(EvidenceError {
            at: at(file, 1),
            message: "has no HTTP status line (`HTTP/1.1 200 OK`, `HTTP/2 200`): expected the output of `curl -i` or `curl -v`, a HAR, or a ratecheck JSON report".into(),
        });
    }
    out
}

fn at(file: &str, line: usize) -> Location {
    Location {
        file: file.to_string(),
        line,
        column: None,
        entry: None,
    }
}

/// The dump's lines with their numbers, `\r` dropped, and a body glued to what curl printed
/// next (a body without a final newline runs into `*   Trying …` or `HTTP/1.1 200 OK`)
/// split where the next part starts.
fn split_glued(text: &str) -> Vec<(usize, String)> {
    static GLUED: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(\*   Trying |\* Connected to |HTTP/\d(?:\.\d)? \d{3}(?: |$))")
            .expect("valid regex")
    });
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        match GLUED.find(line) {
            Some(m) if m.start() > 0 && !line.starts_with("< ") && !line.starts_with("> ") => {
                out.push((i + 1, line[..m.start()].to_string()));
                out.push((i + 1, line[m.start()..].to_string()));
            }
            _ => out.push((i + 1, line.to_string())),
        }
    }
    out
}

/// The reading of one dump.
struct Parser<'a> {
    file: &'a str,
    pending: Pending,
    open: Option<Open>,
    out: Read,
    /// Body lines `curl -v` printed after its trace said the connection was left: they belong
    /// to the record at `orphan_for`, which has no body yet.
    orphan: Vec<String>,
    orphan_for: Option<usize>,
}

impl Parser<'_> {
    fn line(&mut self, n: usize, line: &str, lines: &[(usize, String)], i: &mut usize) {
        // A new command, request or status line ends the body being read.
        if let Some(cmd) = command(line) {
            self.flush_orphan();
            self.close();
            self.pending = from_command(&continued(cmd, lines, i));
            return;
        }
        if let Some(req) = line
            .strip_prefix("> ")
            .or(if line == ">" { Some("") } else { None })
        {
            self.flush_orphan();
            if self.open.as_ref().is_some_and(|o| o.in_body || !o.verbose) {
                self.close();
            }
            request_line(req, &mut self.pending);
            return;
        }
        let (verbose, rest) = match line.strip_prefix("< ") {
            Some(r) => (true, r),
            None if line == "<" => (true, ""),
            None => (false, line),
        };
        if let Some(caps) = STATUS.captures(rest) {
            self.flush_orphan();
            self.status(n, &caps, verbose, lines, i);
            return;
        }
        let Some(o) = self.open.as_mut() else {
            if self.orphan_for.is_some() && !line.starts_with("* ") && !is_data_marker(line) {
                self.orphan.push(line.to_string());
            } else {
                self.flush_orphan();
            }
            return;
        };
        if verbose && !o.in_body {
            head_line(o, rest, n, &mut self.out, self.file);
        } else if line.starts_with("* ") || is_data_marker(line) {
            // `-v`'s own notes: the body, if any, is over.
            if line.starts_with("* Connection #") || line.starts_with("* Closing") {
                self.close();
                let last = self.out.records.len().checked_sub(1);
                self.orphan_for = last.filter(|l| self.out.records[*l].body.is_none());
            }
        } else if !o.in_body && !o.verbose {
            head_line(o, line, n, &mut self.out, self.file);
        } else {
            o.in_body = true;
            o.body.push(line.to_string());
        }
    }

    /// A status line: a new response, or an informational one skipped with its headers.
    fn status(
        &mut self,
        n: usize,
        caps: &regex::Captures<'_>,
        verbose: bool,
        lines: &[(usize, String)],
        i: &mut usize,
    ) {
        if self
            .open
            .as_ref()
            .is_some_and(|o| o.in_body || o.verbose == verbose)
        {
            self.close();
        }
        let code = caps.get(1).map_or("", |m| m.as_str());
        let reason = caps.get(2).map_or("", |m| m.as_str());
        match code.parse::<u16>() {
            Ok(s) if (100..600).contains(&s) => {
                let informational =
                    s < 200 || reason.eq_ignore_ascii_case("connection established");
                if informational {
                    // Its headers and blank line are skipped with it.
                    while *i < lines.len() && !strip(&lines[*i].1).is_empty() {
                        *i += 1;
                    }
                    *i += 1;
                    return;
                }
                self.open = Some(Open {
                    line: n,
                    status: s,
                    headers: Vec::new(),
                    in_body: false,
                    body: Vec::new(),
                    verbose,
                });
            }
            _ => self.out.errors.push(EvidenceError {
                at: at(self.file, n),
                message: format!("`{code}` is not an HTTP status (a number from 100 to 599)"),
            }),
        }
    }

    /// Gives the lines printed after a `-v` trace to the record they belong to.
    fn flush_orphan(&mut self) {
        let Some(idx) = self.orphan_for.take() else {
            return;
        };
        let lines = std::mem::take(&mut self.orphan);
        if let Some(r) = self.out.records.get_mut(idx)
            && let Some(body) = body_of(lines, &r.headers)
        {
            r.body = Some(body);
        }
    }

    fn close(&mut self) {
        close(&mut self.open, &mut self.pending, &mut self.out, self.file);
    }
}

/// A command line with its `\` continuations joined; `i` moves past them.
fn continued(cmd: &str, lines: &[(usize, String)], i: &mut usize) -> String {
    let mut joined = cmd.to_string();
    while joined.ends_with('\\') && *i < lines.len() {
        joined.pop();
        joined.push(' ');
        joined.push_str(lines[*i].1.trim());
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
fn head_line(o: &mut Open, line: &str, n: usize, out: &mut Read, file: &str) {
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
            at: at(file, n),
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
        (Some(method), Some(path), Some(v)) if v.starts_with("HTTP/") => {
            p.method = Some(method.to_string());
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

/// A body's lines as bytes: trailing blank lines dropped, and an SSE body ended by the blank
/// line that dispatches its last event (a paste tends to lose it).
fn body_of(mut lines: Vec<String>, headers: &[(String, String)]) -> Option<Vec<u8>> {
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    if lines.is_empty() {
        return None;
    }
    let sse = headers
        .iter()
        .any(|(n, v)| n == "content-type" && v.to_ascii_lowercase().contains("text/event-stream"));
    let mut text = lines.join("\n");
    text.push_str(if sse { "\n\n" } else { "\n" });
    Some(text.into_bytes())
}

/// Ends the response being read, if any, as a record.
fn close(open: &mut Option<Open>, pending: &mut Pending, out: &mut Read, file: &str) {
    let Some(o) = open.take() else { return };
    let p = std::mem::take(pending);
    let body = body_of(o.body, &o.headers);
    if body.as_ref().is_some_and(|b| b.len() > MAX_BODY) {
        out.errors.push(EvidenceError {
            at: at(file, o.line),
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
        at: Some(at(file, o.line)),
        method: p.method,
        url,
        request_headers: p.headers,
        request_body: p.body,
        status: o.status,
        headers: o.headers,
        body,
        ..Record::default()
    });
}
