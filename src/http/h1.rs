//! HTTP/1.1 responses as a lane reads them: the head parsed with `httparse` and captured into
//! the exchange, and the body's framing (a length, chunks, or the close) decoded from what is
//! buffered.

use bytes::{Buf, Bytes, BytesMut};

use super::base::MAX_HEADERS;
use super::{Client, Exchange};

/// Header lines parsed on the stack before a head with more is parsed again on the heap.
const STACK_HEADERS: usize = 64;

/// How a response body ends.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    /// This many bytes are left.
    Length(u64),
    /// Chunked: the next thing is a chunk-size line.
    ChunkSize,
    /// Chunked: this many bytes of the current chunk are left.
    ChunkData(u64),
    /// Chunked: the line end after a chunk's data.
    ChunkEnd,
    /// Chunked: the trailer section after the last chunk.
    Trailers,
    /// Until the server closes the connection.
    Close,
    /// The body has been read to its end.
    #[default]
    Done,
}

/// One step of decoding what is buffered.
pub(super) enum Decoded {
    Data(Bytes),
    End,
    More,
}

/// Why no response head came back.
pub(super) enum HeadError {
    /// The connection failed or closed; `answered` when any byte of a response had come.
    Io { cause: String, answered: bool },
    /// The bytes are not an HTTP/1.x response head.
    Invalid(String),
}

impl Framing {
    /// Takes what it can of the body out of `buf`.
    pub(super) fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, &'static str> {
        loop {
            match *self {
                Framing::Done => return Ok(Decoded::End),
                Framing::Length(0) => *self = Framing::Done,
                Framing::Length(left) | Framing::ChunkData(left) => {
                    if buf.is_empty() {
                        return Ok(Decoded::More);
                    }
                    let n = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                    let left = left - n as u64;
                    *self = match *self {
                        Framing::Length(_) => Framing::Length(left),
                        _ if left == 0 => Framing::ChunkEnd,
                        _ => Framing::ChunkData(left),
                    };
                    return Ok(Decoded::Data(buf.split_to(n).freeze()));
                }
                Framing::Close => {
                    if buf.is_empty() {
                        return Ok(Decoded::More);
                    }
                    return Ok(Decoded::Data(buf.split().freeze()));
                }
                Framing::ChunkSize => match httparse::parse_chunk_size(buf) {
                    Ok(httparse::Status::Complete((used, size))) => {
                        buf.advance(used);
                        *self = if size == 0 {
                            Framing::Trailers
                        } else {
                            Framing::ChunkData(size)
                        };
                    }
                    Ok(httparse::Status::Partial) if buf.len() < 1024 => {
                        return Ok(Decoded::More);
                    }
                    _ => return Err("a chunk size line that is not one"),
                },
                Framing::ChunkEnd => {
                    if buf.starts_with(b"\r\n") {
                        buf.advance(2);
                    } else if buf.starts_with(b"\n") {
                        buf.advance(1);
                    } else if buf.is_empty() || buf[..] == b"\r"[..] {
                        return Ok(Decoded::More);
                    } else {
                        return Err("a chunk longer than its size");
                    }
                    *self = Framing::ChunkSize;
                }
                Framing::Trailers => match memchr::memchr(b'\n', buf) {
                    // The blank line that ends the trailers (usually right away).
                    Some(at) if at == 0 || (at == 1 && buf[0] == b'\r') => {
                        buf.advance(at + 1);
                        *self = Framing::Done;
                    }
                    // A trailer field: not read.
                    Some(at) => buf.advance(at + 1),
                    None if buf.len() < 64 << 10 => return Ok(Decoded::More),
                    None => return Err("trailers without an end"),
                },
            }
        }
    }
}

/// What the bytes read so far hold.
pub(super) enum Parsed {
    /// Not the whole head yet.
    Partial,
    /// An interim (1xx) response of this length, to skip.
    Interim(usize),
    /// The final head, its length, how its body is framed and whether the connection stays.
    Head {
        len: usize,
        framing: Framing,
        keep_alive: bool,
    },
}

/// Parses the head in `buf`; the final one is captured into `ex`.
pub(super) fn parse_head(
    buf: &[u8],
    client: &Client,
    ex: &mut Exchange,
) -> Result<Parsed, HeadError> {
    let mut stack = [httparse::EMPTY_HEADER; STACK_HEADERS];
    let mut resp = httparse::Response::new(&mut stack);
    match resp.parse(buf) {
        Ok(status) => head_of(status, &resp, client, ex),
        Err(httparse::Error::TooManyHeaders) => {
            let mut heap = vec![httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut resp = httparse::Response::new(&mut heap);
            match resp.parse(buf) {
                Ok(status) => head_of(status, &resp, client, ex),
                Err(httparse::Error::TooManyHeaders) => Err(HeadError::Invalid(format!(
                    "the response head is too large (more than {MAX_HEADERS} headers): not read"
                ))),
                Err(e) => Err(not_http(e)),
            }
        }
        Err(e) => Err(not_http(e)),
    }
}

fn not_http(e: httparse::Error) -> HeadError {
    HeadError::Invalid(format!("the answer is not an HTTP/1.x response ({e})"))
}

fn head_of(
    status: httparse::Status<usize>,
    resp: &httparse::Response<'_, '_>,
    client: &Client,
    ex: &mut Exchange,
) -> Result<Parsed, HeadError> {
    let httparse::Status::Complete(len) = status else {
        return Ok(Parsed::Partial);
    };
    let code = resp.code.unwrap_or_default();
    if (100..200).contains(&code) && code != 101 {
        return Ok(Parsed::Interim(len));
    }
    let mut chunked = false;
    let mut length: Option<u64> = None;
    let mut close = resp.version == Some(0);
    for h in &*resp.headers {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            // Chunked is the last coding when it is there at all.
            chunked = h
                .value
                .rsplit(|b| *b == b',')
                .next()
                .is_some_and(|c| c.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if h.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok());
            match (n, length) {
                (Some(n), None) => length = Some(n),
                (Some(n), Some(m)) if n == m => {}
                _ => {
                    return Err(HeadError::Invalid(
                        "the answer's content-length is not one number".into(),
                    ));
                }
            }
        } else if h.name.eq_ignore_ascii_case("connection") {
            let v = h.value;
            if v.eq_ignore_ascii_case(b"close") {
                close = true;
            } else if v.eq_ignore_ascii_case(b"keep-alive") && resp.version == Some(0) {
                close = false;
            }
        }
    }
    let framing = if matches!(code, 204 | 304) {
        Framing::Length(0)
    } else if chunked {
        Framing::ChunkSize
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        close = true;
        Framing::Close
    };
    client.capture_head(ex, code, &*resp.headers);
    Ok(Parsed::Head {
        len,
        framing,
        keep_alive: !close,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(framing: Framing, wire: &[u8], split: usize) -> Result<Vec<u8>, &'static str> {
        let mut f = framing;
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for piece in [&wire[..split], &wire[split..]] {
            buf.extend_from_slice(piece);
            loop {
                match f.decode(&mut buf)? {
                    Decoded::Data(b) => out.extend_from_slice(&b),
                    Decoded::End => return Ok(out),
                    Decoded::More => break,
                }
            }
        }
        Err("unfinished")
    }

    #[test]
    fn chunked_bodies_decode_however_they_are_split() {
        let wire = b"5\r\nhello\r\n1;ext=1\r\n \r\n6\r\nworld!\r\n0\r\nx-trailer: 1\r\n\r\n";
        for at in 0..wire.len() {
            assert_eq!(
                decode_all(Framing::ChunkSize, wire, at).as_deref(),
                Ok(&b"hello world!"[..]),
                "split at {at}"
            );
        }
    }

    #[test]
    fn lengths_and_bad_chunks() {
        assert_eq!(
            decode_all(Framing::Length(3), b"abc", 1).as_deref(),
            Ok(&b"abc"[..])
        );
        assert_eq!(
            decode_all(Framing::Length(0), b"", 0).as_deref(),
            Ok(&b""[..])
        );
        assert!(decode_all(Framing::ChunkSize, b"zz\r\n", 4).is_err());
        assert!(decode_all(Framing::ChunkSize, b"2\r\nabc\r\n", 8).is_err());
    }
}
