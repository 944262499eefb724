//! A lane: one HTTP/1.1 connection, driven directly, for load workers.
//!
//! The general client (reqwest over hyper) pays on every request for a shared pool, redirects,
//! proxies, a header map, a task for the connection and channels between it and the caller; a
//! load worker that always sends the same few requests to the same host needs none of it. A
//! lane encodes each request once per endpoint and body, writes it, reads the head with
//! `httparse` (the parser hyper uses) straight into the [`Exchange`], and hands the body, framed
//! by its length or its chunks, to the same [`Client::finish`] the probe uses: exchanges look the
//! same whichever way they were sent. It keeps its connection alive, and opens a new one when
//! the server closed it; a request that found its reused connection already closed (before a
//! byte of answer) is sent once more on a fresh one, as browsers do, since the server never
//! read it. `https://` targets, and targets the environment routes through a proxy (the general
//! client honours `HTTP_PROXY` and `NO_PROXY`), use the general client.

use std::io;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use reqwest::header::{HeaderName, HeaderValue};
use rustls::pki_types::ServerName;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::h1::{Decoded, Framing, HeadError, Parsed, parse_head};
use super::tls::{Wire, lane_config};
use super::{Client, Exchange, Request, ms, show_duration};
use crate::endpoint::Endpoint;
use crate::verdict::{Failure, FailureKind};

/// The largest response head read: far above any gateway's, a bound on a server that never
/// ends its head.
const MAX_HEAD: usize = 1 << 20;

/// Bytes asked of the socket per read.
const READ_SIZE: usize = 16 << 10;

/// After the body's end was read (a stream's `[DONE]`), how much of the framing that follows
/// (the last chunk, trailers) is waited for so the connection can be reused.
const DRAIN: std::time::Duration = std::time::Duration::from_millis(200);

/// One connection's worth of a load worker.
#[derive(Debug)]
pub struct Lane {
    to: Arc<To>,
    conn: tokio::sync::Mutex<Conn>,
}

/// What every lane to one target shares.
#[derive(Debug)]
struct To {
    client: Client,
    addr: String,
    /// On `https://`: the TLS client and the name the certificate must be for.
    tls: Option<(Arc<rustls::ClientConfig>, ServerName<'static>)>,
    /// Per endpoint: the request line and every header but the length, built once.
    heads: Vec<(Endpoint, Vec<u8>)>,
}

/// The connection and what it keeps between requests.
#[derive(Debug, Default)]
struct Conn {
    stream: Option<Wire>,
    /// What was read and not yet consumed.
    buf: BytesMut,
    /// How the body being read is framed, and how far it got.
    framing: Framing,
    /// Whether the connection may carry another request once this body is read.
    keep_alive: bool,
    /// Requests already encoded, by endpoint and body: load sends the same few over and over.
    encoded: Vec<(Endpoint, Bytes, Bytes)>,
    /// An exchange is under way; still set at the next one's start when the last was abandoned
    /// (a run cut off), whose half-read answer must not be taken for the next one's.
    busy: bool,
}

impl Lane {
    /// A lane to `client`'s target, or `None` when it is not plain `http://`.
    pub fn new(client: &Client) -> Option<Lane> {
        let base = &client.base;
        if client.proxy().is_some() {
            return None;
        }
        let host = base.host_str()?;
        let tls = match base.scheme() {
            "http" => None,
            "https" => {
                // `[::1]` in a URL, `::1` in a certificate.
                let name = host.trim_start_matches('[').trim_end_matches(']');
                let name = ServerName::try_from(name.to_string()).ok()?;
                Some((lane_config(&client.settings)?, name))
            }
            _ => return None,
        };
        let port = base.port_or_known_default()?;
        let authority = match base.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        let base_path = base.path().trim_end_matches('/');
        // A query on the base (Azure's `api-version`, say) goes on every request, as the
        // general client sends it.
        let query = base.query().map(|q| format!("?{q}")).unwrap_or_default();
        let mut heads = Vec::new();
        for e in Endpoint::ALL {
            let path = format!("{base_path}{}{query}", e.path());
            // The path was a valid URL's: it has no bytes that break a request line.
            if path
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
            {
                return None;
            }
            let mut head = format!(
                "POST {path} HTTP/1.1\r\nhost: {authority}\r\ncontent-type: application/json\r\nuser-agent: ratecheck/{}\r\n",
                env!("CARGO_PKG_VERSION")
            )
            .into_bytes();
            for (name, value) in &client.request_headers(Some(e)) {
                head.extend_from_slice(name.as_str().as_bytes());
                head.extend_from_slice(b": ");
                head.extend_from_slice(value.as_bytes());
                head.extend_from_slice(b"\r\n");
            }
            heads.push((e, head));
        }
        Some(Lane {
            to: Arc::new(To {
                client: client.clone(),
                addr: format!("{host}:{port}"),
                tls,
                heads,
            }),
            conn: tokio::sync::Mutex::new(Conn::default()),
        })
    }

    /// Another lane to the same target, with its own connection (opened when first used).
    #[must_use]
    pub fn sibling(&self) -> Lane {
        Lane {
            to: self.to.clone(),
            conn: tokio::sync::Mutex::new(Conn::default()),
        }
    }

    async fn connect(&self) -> Result<Wire, Failure> {
        let timeout = self.to.client.settings.timeout;
        let addr = &self.to.addr;
        let connecting = async {
            let tcp = TcpStream::connect(addr).await.map_err(|e| Failure {
                kind: FailureKind::Connect,
                message: format!("could not connect to {addr}: {e}"),
            })?;
            let _ = tcp.set_nodelay(true);
            let Some((config, name)) = &self.to.tls else {
                return Ok(Wire::Plain(tcp));
            };
            match TlsConnector::from(config.clone())
                .connect(name.clone(), tcp)
                .await
            {
                Ok(tls) => Ok(Wire::Tls(Box::new(tls))),
                Err(e) => Err(super::handshake::failure(&e, self.to.client.peer(addr))
                    .unwrap_or_else(|| Failure {
                        kind: FailureKind::Connect,
                        message: format!(
                            "the TLS handshake with {addr} failed: {}",
                            super::base::root_cause(&e)
                        ),
                    })),
            }
        };
        match tokio::time::timeout(timeout, connecting).await {
            Err(_) => Err(Failure {
                kind: FailureKind::Timeout,
                message: format!("no connection to {addr} within {}", show_duration(timeout)),
            }),
            Ok(result) => result,
        }
    }

    /// The request on the wire: from the cache when load sends it again, else encoded now.
    fn wire(&self, conn: &mut Conn, req: &Request) -> Option<Bytes> {
        let endpoint = req.variant.endpoint;
        let cacheable = req.headers.is_empty() && req.raw_body.is_some();
        if cacheable
            && let Some((_, _, wire)) = conn
                .encoded
                .iter()
                .find(|(e, b, _)| *e == endpoint && Some(b) == req.raw_body.as_ref())
        {
            return Some(wire.clone());
        }
        let body = match &req.raw_body {
            Some(b) => b.clone(),
            None => Bytes::from(serde_json::to_vec(&req.body).ok()?),
        };
        let (_, head) = self.to.heads.iter().find(|(e, _)| *e == endpoint)?;
        let mut out = Vec::with_capacity(head.len() + body.len() + 64);
        if req.headers.is_empty() {
            out.extend_from_slice(head);
        } else {
            // A request's own headers replace the lane's of the same name.
            let extra: Vec<(HeaderName, HeaderValue)> = req
                .headers
                .iter()
                .filter_map(|(n, v)| {
                    Some((
                        HeaderName::from_bytes(n.as_bytes()).ok()?,
                        HeaderValue::from_str(v).ok()?,
                    ))
                })
                .collect();
            let mut lines = head.split_inclusive(|b| *b == b'\n');
            if let Some(request_line) = lines.next() {
                out.extend_from_slice(request_line);
            }
            for line in lines {
                let name = line.split(|b| *b == b':').next().unwrap_or_default();
                if !extra
                    .iter()
                    .any(|(n, _)| n.as_str().as_bytes().eq_ignore_ascii_case(name))
                {
                    out.extend_from_slice(line);
                }
            }
            for (n, v) in &extra {
                out.extend_from_slice(n.as_str().as_bytes());
                out.extend_from_slice(b": ");
                out.extend_from_slice(v.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
        }
        out.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
        out.extend_from_slice(&body);
        let wire = Bytes::from(out);
        if cacheable && conn.encoded.len() < 16 {
            conn.encoded.push((endpoint, body, wire.clone()));
        }
        Some(wire)
    }

    /// Sends one request on this lane's connection and reads the response to its end.
    pub async fn send(&self, req: &Request) -> Exchange {
        let variant = req.variant;
        let mut ex = Exchange::empty(variant, req.round, req.seq);
        let start = Instant::now();
        let mut guard = self.conn.lock().await;
        let conn = &mut *guard;
        if conn.busy {
            conn.stream = None;
        }
        conn.busy = true;
        let Some(wire) = self.wire(conn, req) else {
            ex.failure = Some(Failure {
                kind: FailureKind::BadBody,
                message: "the request could not be built".into(),
            });
            return ex;
        };
        let timeout = self.to.client.settings.timeout;
        loop {
            let reused = conn.stream.is_some();
            if !reused {
                match self.connect().await {
                    Ok(s) => conn.stream = Some(s),
                    Err(f) => {
                        conn.busy = false;
                        ex.failure = Some(f);
                        ex.total_ms = ms(start.elapsed());
                        return ex;
                    }
                }
            }
            conn.buf.clear();
            let head =
                tokio::time::timeout(timeout, conn.exchange_head(&wire, &self.to.client, &mut ex));
            let failure = match head.await {
                Ok(Ok(())) => break,
                Err(_) => super::no_headers(variant, timeout),
                // The server closed the idle connection before it read this request.
                Ok(Err(HeadError::Io {
                    answered: false, ..
                })) if reused => {
                    conn.stream = None;
                    continue;
                }
                Ok(Err(HeadError::Io { cause, .. })) => self.failed(&cause),
                Ok(Err(HeadError::Invalid(why))) => self.failed(&why),
            };
            conn.stream = None;
            conn.busy = false;
            ex.failure = Some(failure);
            ex.total_ms = ms(start.elapsed());
            return ex;
        }
        ex.time_to_headers_ms = Some(ms(start.elapsed()));
        let status = ex.status.unwrap_or_default();
        {
            let body = std::pin::pin!(futures_util::stream::unfold(&mut *conn, |c| async move {
                c.next_chunk().await.map(|chunk| (chunk, c))
            }));
            self.to
                .client
                .finish_body(&mut ex, status, body, start)
                .await;
        }
        // A reader that stopped at the stream's end marker leaves the last chunk unread: read
        // it, briefly, so the connection can carry the next request.
        if conn.framing != Framing::Done {
            let _ = tokio::time::timeout(DRAIN, async {
                while let Some(Ok(_)) = conn.next_chunk().await {}
            })
            .await;
        }
        if conn.framing != Framing::Done || !conn.keep_alive || !conn.buf.is_empty() {
            conn.stream = None;
        }
        conn.busy = false;
        ex
    }

    /// A connection that failed mid-exchange, in the general client's words.
    fn failed(&self, cause: &str) -> Failure {
        // A TLS port that gets plain HTTP often resets, or answers with a TLS alert.
        let advice = if cause.contains("reset") || cause.contains("not an HTTP") {
            " (if the port speaks TLS, use https://)"
        } else {
            ""
        };
        Failure {
            kind: FailureKind::StreamCut,
            message: self.to.client.redactor().text(&format!(
                "the connection to {} failed: {cause}{advice}",
                self.to.addr
            )),
        }
    }
}

impl Conn {
    /// Writes the request and reads the response head into `ex`; the body's framing is set.
    async fn exchange_head(
        &mut self,
        wire: &[u8],
        client: &Client,
        ex: &mut Exchange,
    ) -> Result<(), HeadError> {
        let io_error = |e: &io::Error, answered| HeadError::Io {
            cause: e.to_string(),
            answered,
        };
        let Some(stream) = self.stream.as_mut() else {
            return Err(HeadError::Io {
                cause: "not connected".into(),
                answered: false,
            });
        };
        stream
            .write_all(wire)
            .await
            .map_err(|e| io_error(&e, false))?;
        loop {
            if !self.buf.is_empty() {
                match parse_head(&self.buf, client, ex)? {
                    Parsed::Partial => {}
                    Parsed::Interim(len) => {
                        self.buf.advance(len);
                        continue;
                    }
                    Parsed::Head {
                        len,
                        framing,
                        keep_alive,
                    } => {
                        self.buf.advance(len);
                        self.framing = framing;
                        self.keep_alive = keep_alive;
                        return Ok(());
                    }
                }
                if self.buf.len() > MAX_HEAD {
                    return Err(HeadError::Invalid(format!(
                        "the response head is larger than {} KiB: not read",
                        MAX_HEAD >> 10
                    )));
                }
            }
            let answered = !self.buf.is_empty();
            match stream.fill(&mut self.buf, READ_SIZE).await {
                Ok(0) => {
                    return Err(HeadError::Io {
                        cause: "the server closed the connection before it answered".into(),
                        answered,
                    });
                }
                Ok(_) => {}
                Err(e) => return Err(io_error(&e, answered)),
            }
        }
    }

    /// The next piece of the body, `None` at its end.
    async fn next_chunk(&mut self) -> Option<io::Result<Bytes>> {
        loop {
            match self.framing.decode(&mut self.buf) {
                Ok(Decoded::Data(b)) => return Some(Ok(b)),
                Ok(Decoded::End) => return None,
                Ok(Decoded::More) => {}
                Err(why) => {
                    self.keep_alive = false;
                    return Some(Err(io::Error::new(io::ErrorKind::InvalidData, why)));
                }
            }
            let stream = self.stream.as_mut()?;
            match stream.fill(&mut self.buf, READ_SIZE).await {
                Ok(0) if self.framing == Framing::Close => {
                    self.framing = Framing::Done;
                    return None;
                }
                Ok(0) => {
                    self.keep_alive = false;
                    return Some(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the server closed the connection before the body ended",
                    )));
                }
                Ok(_) => {}
                Err(e) => {
                    self.keep_alive = false;
                    return Some(Err(e));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_targets_get_lanes() {
        crate::http::install_crypto_provider();
        let lane = |url: &str, insecure: bool| {
            let spec = crate::http::ConnectSpec {
                insecure,
                ..crate::http::ConnectSpec::default()
            };
            let client = Client::new(crate::http::normalize_base(url).unwrap(), spec).unwrap();
            Lane::new(&client).is_some()
        };
        assert!(lane("https://127.0.0.1:8443", false));
        assert!(lane("https://[::1]:8443", true));
        assert!(lane("http://gateway.example:4000/v1", false));
    }
}
