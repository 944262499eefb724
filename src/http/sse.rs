//! Server-sent events, parsed in linear time with bounded memory.
//!
//! The WHATWG event-stream format: lines end in CRLF, LF or a lone CR; `event:`, `data:`, `id:`
//! and `retry:` fields; `:` comments; a blank line dispatches the event. Each byte is looked at
//! once (a general-purpose parser that rescans its buffer for every chunk took 28 s on one
//! 24 MiB line), and a line longer than [`MAX_LINE`] is an error, reported, rather than memory
//! without end.

/// The longest line kept: far above any real LLM event, far below what exhausts memory.
pub const MAX_LINE: usize = 16 << 20;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    /// The `event:` field; empty when the stream named none (a `message`).
    pub event: String,
    /// The `data:` lines, joined by newlines.
    pub data: String,
}

/// Why a stream cannot be read as events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseError {
    /// A line ran past [`MAX_LINE`] bytes without ending.
    LineTooLong,
}

impl std::fmt::Display for SseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SseError::LineTooLong => write!(
                f,
                "a line of more than {} MiB without an end",
                MAX_LINE >> 20
            ),
        }
    }
}

/// The parser's state between chunks.
#[derive(Debug, Default)]
pub struct Parser {
    /// The current, unfinished line.
    line: Vec<u8>,
    /// The last byte was a CR: a LF right after it belongs to the same line end.
    after_cr: bool,
    event: String,
    data: String,
    has_data: bool,
    /// Lines that are no SSE field: neither a comment nor `event`, `data`, `id` or `retry`.
    pub foreign_lines: u32,
    /// Lines, other than `data`, holding bytes that are not text: invalid UTF-8 or control
    /// characters. No LLM stream sends them; noise does.
    pub binary_lines: u32,
    /// `data` lines whose bytes are not UTF-8: decoded with U+FFFD in their place, as the
    /// standard says, which a strict client refuses.
    pub not_utf8_data: u32,
}

impl Parser {
    /// Feeds `chunk`, appending every event it completes to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<Event>) -> Result<(), SseError> {
        let mut rest = chunk;
        while !rest.is_empty() {
            if self.after_cr {
                self.after_cr = false;
                if rest[0] == b'\n' {
                    rest = &rest[1..];
                    continue;
                }
            }
            let Some(at) = memchr::memchr2(b'\n', b'\r', rest) else {
                if self.line.len() + rest.len() > MAX_LINE {
                    return Err(SseError::LineTooLong);
                }
                self.line.extend_from_slice(rest);
                break;
            };
            if self.line.len() + at > MAX_LINE {
                return Err(SseError::LineTooLong);
            }
            self.line.extend_from_slice(&rest[..at]);
            self.after_cr = rest[at] == b'\r';
            rest = &rest[at + 1..];
            let line = std::mem::take(&mut self.line);
            self.line_done(&line, out);
            self.line = line;
            self.line.clear();
        }
        Ok(())
    }

    /// One complete line: a field, a comment, or the blank line that dispatches.
    fn line_done(&mut self, line: &[u8], out: &mut Vec<Event>) {
        if line.is_empty() {
            if self.has_data {
                out.push(Event {
                    event: std::mem::take(&mut self.event),
                    data: std::mem::take(&mut self.data),
                });
            } else {
                self.event.clear();
            }
            self.has_data = false;
            return;
        }
        if line[0] == b':' {
            if !is_text(&line[1..]) {
                self.binary_lines += 1;
            }
            return;
        }
        let (field, value) = match line.iter().position(|b| *b == b':') {
            Some(at) => {
                let v = &line[at + 1..];
                (&line[..at], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &[][..]),
        };
        if !matches!(field, b"event" | b"data" | b"id" | b"retry") {
            self.foreign_lines += 1;
            if !is_text(line) {
                self.binary_lines += 1;
            }
            return;
        }
        let value = String::from_utf8_lossy(value);
        if matches!(value, std::borrow::Cow::Owned(_)) {
            if field == b"data" {
                self.not_utf8_data += 1;
            } else {
                self.binary_lines += 1;
            }
        }
        match field {
            b"event" => self.event = value.into_owned(),
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                } else {
                    // The last event's buffer left with it: one allocation of the right size
                    // instead of a string grown from nothing, on every event.
                    self.data.reserve_exact(value.len());
                }
                self.data.push_str(&value);
                self.has_data = true;
            }
            // `id` and `retry` steer reconnection, which a checker does not do.
            _ => {}
        }
    }
}

/// Whether `bytes` are text: UTF-8 with no control character but the tab.
fn is_text(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_ok_and(|t| !t.chars().any(|c| c.is_control() && c != '\t'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(chunks: &[&[u8]]) -> Vec<Event> {
        let mut p = Parser::default();
        let mut out = Vec::new();
        for c in chunks {
            p.push(c, &mut out).unwrap();
        }
        out
    }

    #[test]
    fn every_line_ending_and_split() {
        let want = vec![
            Event {
                event: String::new(),
                data: "a".into(),
            },
            Event {
                event: "done".into(),
                data: "b\nc".into(),
            },
        ];
        for text in [
            "data: a\n\nevent: done\ndata: b\ndata: c\n\n",
            "data: a\r\n\r\nevent: done\r\ndata: b\r\ndata: c\r\n\r\n",
            "data: a\r\revent: done\rdata: b\rdata: c\r\r",
            ": keep-alive\ndata: a\n\nevent: done\ndata:b\ndata: c\n\n",
        ] {
            assert_eq!(parse(&[text.as_bytes()]), want, "{text:?}");
            // Split anywhere, even between CR and LF.
            let bytes = text.as_bytes();
            for at in 0..bytes.len() {
                assert_eq!(
                    parse(&[&bytes[..at], &bytes[at..]]),
                    want,
                    "{text:?} at {at}"
                );
            }
        }
    }

    #[test]
    fn lines_that_are_not_fields_or_not_text_are_counted() {
        let mut p = Parser::default();
        let mut out = Vec::new();
        let mut bytes = b": keep-alive\nhello\n\x00\xff\xfe junk\ndata: caf\xc3\n\n".to_vec();
        bytes.extend_from_slice(b"event: x\xffy\ndata: {}\n\ndata: [DONE]\n\n");
        p.push(&bytes, &mut out).unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].data, "caf\u{fffd}");
        assert_eq!(p.foreign_lines, 2);
        assert_eq!(p.binary_lines, 2);
        assert_eq!(p.not_utf8_data, 1);
    }

    #[test]
    fn an_endless_line_is_an_error_not_memory() {
        let mut p = Parser::default();
        let mut out = Vec::new();
        let chunk = vec![b'x'; 1 << 20];
        let mut failed = false;
        for _ in 0..20 {
            if p.push(&chunk, &mut out).is_err() {
                failed = true;
                break;
            }
        }
        assert!(failed);
    }
}
