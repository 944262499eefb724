//! A lane: one HTTP/1.1 connection driven by hyper directly, for load workers on `http://`.
//!
//! The general client (reqwest) pays for a shared pool, redirects, proxies and URL handling on
//! every request; a load worker that always talks to the same host needs none of it. A lane
//! keeps one keep-alive connection, reconnects when the server closes it, and hands the
//! response to the same [`Client::finish`] the probe uses, so exchanges look the same whichever
//! way they were sent. `https://` targets, and targets the environment routes through a
//! proxy (the general client honours `HTTP_PROXY` and `NO_PROXY`), use the general client.

use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyDataStream, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use reqwest::header::{CONTENT_TYPE, HOST, HeaderName, HeaderValue, USER_AGENT};

use crate::endpoint::Endpoint;

use super::base::root_cause;
use super::{Client, Exchange, Request, ms, show_duration};
use crate::verdict::{Failure, FailureKind};

/// What every request to one endpoint starts with: its path and its headers.
#[derive(Debug, Clone)]
struct Prepared {
    endpoint: Endpoint,
    uri: hyper::Uri,
    headers: Vec<(HeaderName, HeaderValue)>,
}

/// One connection's worth of a load worker.
#[derive(Debug)]
pub struct Lane {
    client: Client,
    addr: String,
    /// Per endpoint: the request path and every header, built once.
    prepared: Vec<Prepared>,
    conn: tokio::sync::Mutex<Option<SendRequest<Full<Bytes>>>>,
}

impl Lane {
    /// A lane to `client`'s target, or `None` when it is not plain `http://`.
    pub fn new(client: &Client) -> Option<Lane> {
        let base = &client.base;
        if base.scheme() != "http" || client.proxy().is_some() {
            return None;
        }
        let host = base.host_str()?;
        let port = base.port_or_known_default()?;
        let authority = match base.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        let host = HeaderValue::from_str(&authority).ok()?;
        let base_path = base.path().trim_end_matches('/').to_string();
        let mut prepared = Vec::new();
        for e in Endpoint::ALL {
            // A query on the base (Azure's `api-version`, say) goes on every request, as the
            // general client sends it.
            let query = base.query().map(|q| format!("?{q}")).unwrap_or_default();
            let uri: hyper::Uri = format!("{base_path}{}{query}", e.path()).parse().ok()?;
            let mut headers = vec![
                (HOST, host.clone()),
                (CONTENT_TYPE, HeaderValue::from_static("application/json")),
                (
                    USER_AGENT,
                    HeaderValue::from_static(concat!("ratecheck/", env!("CARGO_PKG_VERSION"))),
                ),
            ];
            for (name, value) in &client.request_headers(Some(e)) {
                headers.push((name.clone(), value.clone()));
            }
            prepared.push(Prepared {
                endpoint: e,
                uri,
                headers,
            });
        }
        Some(Lane {
            client: client.clone(),
            addr: format!("{host_str}:{port}", host_str = base.host_str()?),
            prepared,
            conn: tokio::sync::Mutex::new(None),
        })
    }

    /// Another lane to the same target, with its own connection.
    #[must_use]
    pub fn sibling(&self) -> Lane {
        Lane {
            client: self.client.clone(),
            addr: self.addr.clone(),
            prepared: self.prepared.clone(),
            conn: tokio::sync::Mutex::new(None),
        }
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, Failure> {
        let timeout = self.client.settings.timeout;
        let failed = |why: String| Failure {
            kind: FailureKind::Connect,
            message: format!("could not connect to {}: {why}", self.addr),
        };
        let stream =
            match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&self.addr)).await {
                Err(_) => {
                    return Err(Failure {
                        kind: FailureKind::Timeout,
                        message: format!(
                            "no connection to {} within {}",
                            self.addr,
                            show_duration(timeout)
                        ),
                    });
                }
                Ok(Err(e)) => return Err(failed(e.to_string())),
                Ok(Ok(s)) => s,
            };
        let _ = stream.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::Builder::new()
            .max_headers(super::base::MAX_HEADERS)
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| failed(root_cause(&e)))?;
        tokio::spawn(async move {
            // Ends when the server closes the connection or the lane is dropped.
            let _ = conn.await;
        });
        Ok(sender)
    }

    /// Sends one request on this lane's connection and reads the response to its end.
    pub async fn send(&self, req: &Request) -> Exchange {
        let variant = req.variant;
        let mut ex = Exchange::empty(variant, req.round, req.seq);
        let start = Instant::now();
        let body = match &req.raw_body {
            Some(b) => b.clone(),
            None => Bytes::from(serde_json::to_vec(&req.body).unwrap_or_default()),
        };
        let Some(prepared) = self
            .prepared
            .iter()
            .find(|p| p.endpoint == variant.endpoint)
        else {
            return ex;
        };
        let mut builder = hyper::Request::post(prepared.uri.clone());
        if let Some(h) = builder.headers_mut() {
            for (name, value) in &prepared.headers {
                h.insert(name.clone(), value.clone());
            }
            for (name, value) in &req.headers {
                if let (Ok(n), Ok(v)) = (
                    HeaderName::from_bytes(name.as_bytes()),
                    HeaderValue::from_str(value),
                ) {
                    h.insert(n, v);
                }
            }
        }
        let Ok(request) = builder.body(Full::new(body)) else {
            ex.failure = Some(Failure {
                kind: FailureKind::BadBody,
                message: "the request could not be built".into(),
            });
            return ex;
        };
        let timeout = self.client.settings.timeout;
        let pending = {
            let mut conn = self.conn.lock().await;
            // A connection the server closed (or never opened) is replaced once.
            let ready = match conn.as_mut() {
                Some(s) if !s.is_closed() => s.ready().await.is_ok(),
                _ => false,
            };
            if !ready {
                match self.connect().await {
                    Ok(s) => *conn = Some(s),
                    Err(f) => {
                        ex.failure = Some(f);
                        ex.total_ms = ms(start.elapsed());
                        return ex;
                    }
                }
            }
            match conn.as_mut() {
                Some(s) => s.send_request(request),
                None => return ex,
            }
        };
        let resp = match tokio::time::timeout(timeout, pending).await {
            Err(_) => {
                ex.failure = Some(super::no_headers(variant, timeout));
                ex.total_ms = ms(start.elapsed());
                return ex;
            }
            Ok(Err(e)) => {
                let cause = root_cause(&e);
                // As the general client says: a TLS port that gets plain HTTP often resets.
                let advice = if cause.contains("reset") {
                    " (if the port speaks TLS, use https://)"
                } else {
                    ""
                };
                ex.failure = Some(Failure {
                    kind: FailureKind::StreamCut,
                    message: self.client.redactor().text(&format!(
                        "the connection to {} failed: {cause}{advice}",
                        self.addr
                    )),
                });
                ex.total_ms = ms(start.elapsed());
                return ex;
            }
            Ok(Ok(r)) => r,
        };
        let (head, body) = resp.into_parts();
        self.client
            .finish(
                &mut ex,
                head.status.as_u16(),
                &head.headers,
                BodyDataStream::new(body),
                start,
            )
            .await;
        ex
    }
}
