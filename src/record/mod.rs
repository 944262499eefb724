//! `ratecheck record`: a pass-through on loopback between a real client and its gateway.
//!
//! Every request is forwarded to the upstream unchanged (hop-by-hop headers aside), every
//! response relayed unchanged and at once — a stream chunk by chunk, as it arrives, with no
//! buffering and no decompression — and a copy of each exchange is kept on the side: request
//! and response headers, timings and the body up to [`MAX_BODY`](crate::evidence::MAX_BODY).
//! The copies become [`Record`]s, judged afterwards exactly as `ratecheck analyze` judges a HAR.
//! Redirects are relayed to the client, never followed: the client's credentials go only where
//! the client sends them.

mod tee;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;

use crate::evidence::{MAX_BODY, Record};

/// The most response body a whole recording copies: beyond it, exchanges are kept by their
/// headers only, and memory stays bounded however long the recording runs.
pub const RECORDING_BUDGET: usize = 256 * 1024 * 1024;

/// The most request body forwarded: LLM requests are small; a larger one is refused (413).
const MAX_REQUEST: usize = 16 * 1024 * 1024;

/// Headers that belong to one connection, not to the message: never forwarded either way.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
];

/// One finished exchange, as the live line on stderr shows it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `POST /v1/chat/completions`.
    pub request: String,
    /// The status relayed.
    pub status: u16,
    /// Milliseconds to the upstream's response head, and to the end of the body.
    pub ttfb_ms: f64,
    /// Milliseconds to the end of the body.
    pub total_ms: f64,
    /// Bytes relayed.
    pub bytes: usize,
    /// Why the upstream gave nothing to relay (the client got a 502 saying so).
    pub error: Option<String>,
    /// What the operator can do about `error`, when more is known than that the upstream did
    /// not answer (a TLS failure's remedy).
    pub hint: Option<&'static str>,
}

/// What the recorder shares between connections.
#[derive(Clone)]
struct Shared {
    client: reqwest::Client,
    upstream: reqwest::Url,
    /// Whether `--cacert` added certificates to trust, as TLS failures say.
    cacert: bool,
    records: Arc<Mutex<Vec<Record>>>,
    seen: tokio::sync::mpsc::UnboundedSender<Seen>,
    budget: Arc<std::sync::atomic::AtomicUsize>,
}

/// A running recorder.
pub struct Recorder {
    /// Where clients connect.
    pub addr: SocketAddr,
    records: Arc<Mutex<Vec<Record>>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    /// Finished exchanges as they complete, for a live line each.
    pub seen: tokio::sync::mpsc::UnboundedReceiver<Seen>,
}

impl Recorder {
    /// Binds `listen` and relays to `upstream` (a base URL: the request's path is appended to
    /// its path), trusting what the other commands trust: the platform's roots and `cacert`
    /// (PEM), or nothing checked with `insecure`.
    ///
    /// # Errors
    /// When the address cannot be bound, or the HTTP client cannot be built.
    pub async fn start(
        listen: SocketAddr,
        upstream: reqwest::Url,
        cacert: Option<&[u8]>,
        insecure: bool,
    ) -> anyhow::Result<Self> {
        crate::http::install_crypto_provider();
        let tls = crate::http::tls_client_config(cacert, insecure)?;
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            // Relayed as sent: the client decompresses what it asked to be compressed.
            .no_gzip()
            .no_brotli()
            .no_deflate()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(30))
            .user_agent(concat!("ratecheck-record/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let records = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let shared = Shared {
            client,
            upstream,
            cacert: cacert.is_some(),
            records: records.clone(),
            seen: tx,
            budget: Arc::new(std::sync::atomic::AtomicUsize::new(RECORDING_BUDGET)),
        };
        let app = axum::Router::new().fallback(relay).with_state(shared);
        let (stop, task) = crate::stop::serve(listener, app);
        Ok(Recorder {
            addr,
            records,
            shutdown: Some(stop),
            task,
            seen: rx,
        })
    }

    /// Stops accepting, lets exchanges in flight finish for up to `grace`, and returns every
    /// exchange recorded, in the order they started.
    pub async fn stop(mut self, grace: Duration) -> Vec<Record> {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        if tokio::time::timeout(grace, &mut self.task).await.is_err() {
            self.task.abort();
        }
        // A stream still open when the grace ran out is kept as far as it went.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut records = std::mem::take(
            &mut *self
                .records
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        records.sort_by(|a, b| {
            a.started_ms
                .partial_cmp(&b.started_ms)
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        records
    }
}

/// The upstream URL for a request path: the upstream's own path, then the request's.
fn target(upstream: &reqwest::Url, path_and_query: &str) -> Option<reqwest::Url> {
    let base = upstream.as_str().trim_end_matches('/');
    reqwest::Url::parse(&format!("{base}{path_and_query}")).ok()
}

fn forwarded(name: &str) -> bool {
    !HOP_BY_HOP.iter().any(|h| h.eq_ignore_ascii_case(name))
}

fn error(status: u16, message: &str) -> Response {
    let body = serde_json::json!({"error": {"message": message, "type": "ratecheck_record"}});
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap_or_default()
}

/// Forwards one request and relays its response as it comes, keeping a copy.
async fn relay(State(s): State<Shared>, req: Request) -> Response {
    let started_ms = ms_since_epoch();
    let (parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", axum::http::uri::PathAndQuery::as_str)
        .to_string();
    let Some(url) = target(&s.upstream, &path) else {
        return error(
            400,
            "ratecheck record: this request's path cannot be joined to the upstream",
        );
    };
    let Ok(body) = axum::body::to_bytes(body, MAX_REQUEST).await else {
        return error(
            413,
            "ratecheck record: request body over 16 MiB, not forwarded",
        );
    };
    let mut out = s.client.request(parts.method.clone(), url.clone());
    let mut request_headers = Vec::new();
    for (name, value) in &parts.headers {
        if forwarded(name.as_str()) && name != axum::http::header::CONTENT_LENGTH {
            out = out.header(name, value);
        }
        request_headers.push((
            name.as_str().to_string(),
            String::from_utf8_lossy(value.as_bytes()).into_owned(),
        ));
    }
    let sent = Instant::now();
    let request = format!("{} {}", parts.method, parts.uri.path());
    let resp = match out.body(body.clone()).send().await {
        Ok(r) => r,
        Err(e) => {
            let (why, hint) = unanswered(&url, &request_headers, &e, s.cacert);
            let _ = s.seen.send(Seen {
                request,
                status: 502,
                ttfb_ms: crate::http::ms(sent.elapsed()),
                total_ms: crate::http::ms(sent.elapsed()),
                bytes: 0,
                error: Some(why.clone()),
                hint,
            });
            return error(502, &format!("ratecheck record: {why}"));
        }
    };
    let ttfb_ms = crate::http::ms(sent.elapsed());
    let status = resp.status().as_u16();
    let mut builder = Response::builder().status(status);
    let mut headers = Vec::new();
    for (name, value) in resp.headers() {
        if forwarded(name.as_str()) {
            builder = builder.header(name, value);
        }
        headers.push((
            name.as_str().to_string(),
            String::from_utf8_lossy(value.as_bytes()).into_owned(),
        ));
    }
    let record = Record {
        at: None,
        method: Some(parts.method.to_string()),
        url: Some(url.to_string()),
        request_headers,
        request_body: Some(String::from_utf8_lossy(&body[..body.len().min(MAX_BODY)]).into_owned()),
        status,
        headers,
        body: None,
        time_to_headers_ms: Some(ttfb_ms),
        total_ms: None,
        recorded: None,
        started_ms,
        client_left: false,
    };
    let stream = tee::Tee::new(
        resp.bytes_stream(),
        record,
        sent,
        request,
        s.records,
        s.seen,
        s.budget,
    );
    builder.body(Body::from_stream(stream)).unwrap_or_else(|_| {
        error(
            502,
            "ratecheck record: the upstream's head could not be relayed",
        )
    })
}

/// Why the upstream gave no answer: its address and the innermost cause (`Connection refused`),
/// or what its TLS failed on and what to do about it, without the request's secrets.
fn unanswered(
    url: &reqwest::Url,
    headers: &[(String, String)],
    e: &reqwest::Error,
    cacert: bool,
) -> (String, Option<&'static str>) {
    let redactor = crate::redact::Redactor::for_target(url, None, headers, &[]);
    let addr = format!(
        "{}:{}",
        url.host_str().unwrap_or_default(),
        url.port_or_known_default().unwrap_or_default()
    );
    let peer = crate::http::TlsPeer {
        addr: &addr,
        host: url.host_str().unwrap_or_default(),
        cacert,
    };
    if let Some(f) = crate::http::tls_failure(e, peer) {
        let hint = match f.kind {
            crate::verdict::FailureKind::Tls(cause) => Some(cause.hint()),
            _ => None,
        };
        return (redactor.text(&f.message), hint);
    }
    let mut cause = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    let mut origin = url.clone();
    origin.set_path("/");
    (
        format!(
            "{} did not answer: {}",
            redactor.url(&origin),
            redactor.text(&cause)
        ),
        None,
    )
}

/// Milliseconds since the epoch: orders exchanges that started on different connections.
fn ms_since_epoch() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// A chunk as the tee sees it.
pub(crate) type Chunk = Result<Bytes, reqwest::Error>;
