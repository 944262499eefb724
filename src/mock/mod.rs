//! `ratecheck mock`: a rate-limited OpenAI/LiteLLM-compatible simulator on 127.0.0.1.
//!
//! It is product code: users run it for demos and to try scenarios, and the test suite runs it
//! on port 0. It keeps real per-key request and token counters over a fixed window, answers 429
//! when a key is over its limit, streams SSE frame by frame with real gaps, and writes its
//! rate-limit headers through `headers::emit`, the same model the checker reads with. Profiles
//! choose the dialect and whether the LiteLLM v3 streaming drop is reproduced.

pub mod bodies;
pub mod fault;

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::endpoint::Endpoint;
use crate::headers::emit::{self, Budget, Header};
use bodies::Usage;

/// Which gateway the simulator imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Profile {
    /// LiteLLM's v3 limiter as released: counters on non-streaming JSON only.
    #[value(name = "litellm-v3")]
    LitellmV3,
    /// LiteLLM with the headers on every response shape (the fix, or the workaround).
    #[value(name = "litellm-fixed")]
    LitellmFixed,
    /// OpenAI: bare `x-ratelimit-*` with Go-duration resets on every shape.
    Openai,
    /// Anthropic: `anthropic-ratelimit-*` with RFC 3339 resets.
    Anthropic,
    /// IETF draft `RateLimit` / `RateLimit-Policy`.
    Ietf,
}

impl Profile {
    /// The profile's name as typed on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Profile::LitellmV3 => "litellm-v3",
            Profile::LitellmFixed => "litellm-fixed",
            Profile::Openai => "openai",
            Profile::Anthropic => "anthropic",
            Profile::Ietf => "ietf",
        }
    }

    fn is_litellm(self) -> bool {
        matches!(self, Profile::LitellmV3 | Profile::LitellmFixed)
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Simulator settings.
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// Dialect and behaviour.
    pub profile: Profile,
    /// Requests allowed per key per window.
    pub rpm: u64,
    /// Tokens allowed per key per window.
    pub tpm: u64,
    /// Window length.
    pub window: Duration,
    /// Pause between two SSE frames.
    pub chunk_delay: Duration,
    /// The model `GET /v1/models` lists.
    pub model: String,
    /// When set, only this key is accepted; others get 401.
    pub require_key: Option<String>,
    /// Endpoints served; the others answer 404, as on a gateway that does not offer them.
    pub endpoints: Vec<Endpoint>,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            profile: Profile::LitellmV3,
            rpm: 1000,
            tpm: 1_000_000,
            window: Duration::from_mins(1),
            chunk_delay: Duration::from_millis(10),
            model: "mock-model".into(),
            require_key: None,
            endpoints: Endpoint::ALL.to_vec(),
        }
    }
}

/// One request the simulator received, for tests and demos.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// Request path.
    pub path: String,
    /// Whether a stream was asked for.
    pub stream: bool,
    /// The status answered.
    pub status: u16,
}

/// One key's usage: a fixed window (LiteLLM, Anthropic, IETF profiles), or a bucket that
/// replenishes continuously at the limit's rate (the OpenAI profile, as OpenAI documents).
#[derive(Debug, Default, Clone, Copy)]
struct Window {
    started: Option<Instant>,
    requests: f64,
    tokens: f64,
}

struct Shared {
    cfg: MockConfig,
    windows: Mutex<HashMap<String, Window>>,
    log: Mutex<Vec<Recorded>>,
    next_id: Mutex<u64>,
}

/// A running simulator.
pub struct MockServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl MockServer {
    /// Binds `127.0.0.1:port` (0 picks a free port) and starts serving.
    pub async fn start(cfg: MockConfig, port: u16) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            cfg,
            windows: Mutex::new(HashMap::new()),
            log: Mutex::new(Vec::new()),
            next_id: Mutex::new(0),
        });
        let app = router(shared.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(MockServer {
            addr,
            shared,
            shutdown: Some(tx),
            task,
        })
    }

    /// The base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Requests received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared.log).clone()
    }

    /// Stops accepting, lets open responses finish, and waits.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }

    /// Serves until the task is stopped (used by `ratecheck mock`).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// A poisoned lock only means a handler panicked mid-update; the counters are still usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn router(shared: Arc<Shared>) -> Router {
    let mut app = Router::new()
        .route("/health/liveliness", get(|| async { "I'm alive!" }))
        .route("/v1/models", get(models))
        .route("/models", get(models));
    for endpoint in shared.cfg.endpoints.clone() {
        let handler = move |state: State<Arc<Shared>>, headers: HeaderMap, body: Bytes| {
            std::future::ready(generate(state, endpoint, &headers, &body))
        };
        app = app
            .route(endpoint.path(), post(handler))
            .route(endpoint.path().trim_start_matches("/v1"), post(handler));
    }
    app.with_state(shared)
}

async fn models(State(shared): State<Arc<Shared>>) -> Response {
    json_response(
        StatusCode::OK,
        &json!({"object": "list", "data": [{"id": shared.cfg.model, "object": "model", "owned_by": "ratecheck"}]}),
        Vec::new(),
    )
}

fn json_response(status: StatusCode, body: &Value, headers: Vec<Header>) -> Response {
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    append_headers(h, headers);
    resp
}

/// Adds headers built by `headers::emit`; every name and value there is valid ASCII, so none is
/// skipped in practice.
fn append_headers(map: &mut HeaderMap, headers: Vec<Header>) {
    for (name, value) in headers {
        if let (Ok(n), Ok(v)) = (
            axum::http::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            map.append(n, v);
        }
    }
}

fn key_of(headers: &HeaderMap) -> Option<String> {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim_start_matches("Bearer ").trim().to_string());
    bearer.or_else(|| {
        headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    })
}

/// A rough token estimate: four characters a token, as LiteLLM's pre-call reservation does.
fn prompt_tokens(body: &Value) -> u64 {
    let text = ["messages", "prompt", "input"]
        .iter()
        .map(|k| body[*k].to_string())
        .collect::<String>();
    (text.len() as u64).div_ceil(4).max(1)
}

enum Admission {
    Allowed(Budget),
    Refused { budget: Budget, unit: &'static str },
}

impl Shared {
    fn admit(&self, key: &str, tokens: u64) -> Admission {
        let cfg = &self.cfg;
        let now = Instant::now();
        let mut windows = lock(&self.windows);
        let w = windows.entry(key.to_string()).or_default();
        let secs = cfg.window.as_secs_f64().max(1e-3);
        let (rpm, tpm) = (cfg.rpm as f64, cfg.tpm as f64);
        let replenishing = cfg.profile == Profile::Openai;
        if replenishing {
            // Usage drains at the limit's rate: at 5,000 RPM `remaining` stays near the limit.
            if let Some(then) = w.started {
                let elapsed = now.duration_since(then).as_secs_f64();
                w.requests = (w.requests - elapsed * rpm / secs).max(0.0);
                w.tokens = (w.tokens - elapsed * tpm / secs).max(0.0);
            }
            w.started = Some(now);
        } else if w
            .started
            .is_none_or(|s| now.duration_since(s) >= cfg.window)
        {
            *w = Window {
                started: Some(now),
                requests: 0.0,
                tokens: 0.0,
            };
        }
        let started = w.started.unwrap_or(now);
        let window_left = cfg.window.saturating_sub(now.duration_since(started));
        let refill = |used: f64, per_window: f64| {
            Duration::from_secs_f64((used / (per_window / secs).max(1e-9)).clamp(0.0, 1e6))
        };
        let budget = |w: &Window| {
            let (reset_in, retry_in) = if replenishing {
                // Full again, and one request's worth back.
                (
                    refill(w.requests, rpm),
                    refill((w.requests + 1.0 - rpm).max(0.0), rpm),
                )
            } else {
                (window_left, window_left)
            };
            Budget {
                limit_requests: cfg.rpm,
                remaining_requests: (rpm - w.requests).floor().max(0.0) as u64,
                limit_tokens: cfg.tpm,
                remaining_tokens: (tpm - w.tokens).floor().max(0.0) as u64,
                reset_in,
                retry_in,
                window: cfg.window,
                now: SystemTime::now(),
            }
        };
        if w.requests + 1.0 > rpm + 1e-9 {
            return Admission::Refused {
                budget: budget(w),
                unit: "requests",
            };
        }
        if w.tokens + tokens as f64 > tpm + 1e-9 {
            return Admission::Refused {
                budget: budget(w),
                unit: "tokens",
            };
        }
        w.requests += 1.0;
        w.tokens += tokens as f64;
        Admission::Allowed(budget(w))
    }

    fn record(&self, endpoint: Endpoint, stream: bool, status: u16) {
        lock(&self.log).push(Recorded {
            path: endpoint.path().into(),
            stream,
            status,
        });
    }
}

/// The response kinds a profile may treat differently.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Object,
    PlainDict,
    Stream,
}

fn rate_headers(profile: Profile, kind: Kind, b: &Budget) -> Vec<Header> {
    let mut out = Vec::new();
    match profile {
        Profile::LitellmV3 | Profile::LitellmFixed => {
            out.push((
                crate::headers::LITELLM_VERSION.into(),
                "1.106.12-ratecheck-mock".into(),
            ));
            out.extend(emit::litellm_key_limits(b));
            // The v3 limiter writes its counters in the post-call success hook, which streams
            // never reach and plain dicts skip (BerriAI/litellm#27748).
            if profile == Profile::LitellmFixed || kind == Kind::Object {
                out.extend(emit::litellm_descriptor("api_key", b));
            }
        }
        Profile::Openai => out.extend(emit::openai(b)),
        Profile::Anthropic => out.extend(emit::anthropic(b)),
        Profile::Ietf => out.extend(emit::ietf(b)),
    }
    out
}

fn throttled(profile: Profile, b: &Budget, unit: &str, key_hint: &str) -> Response {
    let mut headers = Vec::new();
    let body;
    let mut content_type = "application/json";
    match profile {
        Profile::LitellmV3 | Profile::LitellmFixed => {
            // LiteLLM answers the window size, not the time to the next free slot.
            headers.push(emit::retry_after(b.window));
            headers.push(("rate_limit_type".into(), unit.into()));
            let reset = jiff::Timestamp::try_from(b.now + b.reset_in)
                .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap_or_default();
            headers.push(("reset_at".into(), reset.clone()));
            headers.extend(emit::litellm_key_limits(b));
            let limit = if unit == "requests" {
                b.limit_requests
            } else {
                b.limit_tokens
            };
            body = json!({"error": {
                "message": format!("Rate limit exceeded for api_key: {key_hint}. Limit type: {unit}. Current limit: {limit}, Remaining: 0. Limit resets at: {reset}"),
                "type": "throttling_error", "param": null, "code": "429"}});
        }
        Profile::Openai => {
            headers.push(emit::retry_after(b.retry_in));
            headers.push(emit::retry_after_ms(b.retry_in));
            headers.extend(emit::openai(b));
            body = json!({"error": {"message": format!("Rate limit reached for {unit}"),
                                     "type": unit, "param": null, "code": "rate_limit_exceeded"}});
        }
        Profile::Anthropic => {
            headers.push(emit::retry_after(b.reset_in));
            headers.extend(emit::anthropic(b));
            body = json!({"type": "error", "error": {"type": "rate_limit_error",
                          "message": format!("This request would exceed the rate limit for {unit}")}});
        }
        Profile::Ietf => {
            headers.push(emit::retry_after(b.reset_in));
            headers.extend(emit::ietf(b));
            content_type = "application/problem+json";
            body = json!({"type": "https://iana.org/assignments/http-problem-types#quota-exceeded",
                          "title": "Request cannot be satisfied as assigned quota has been exceeded",
                          "status": 429});
        }
    }
    let mut resp = json_response(StatusCode::TOO_MANY_REQUESTS, &body, headers);
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static(content_type));
    resp
}

fn generate(
    State(shared): State<Arc<Shared>>,
    endpoint: Endpoint,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let cfg = &shared.cfg;
    let key = key_of(headers);
    if let Some(required) = &cfg.require_key
        && key.as_deref() != Some(required.as_str())
    {
        shared.record(endpoint, false, 401);
        return json_response(
            StatusCode::UNAUTHORIZED,
            &json!({"error": {"message": "Authentication Error: invalid API key", "type": "auth_error", "code": "401"}}),
            Vec::new(),
        );
    }
    let Ok(req) = serde_json::from_slice::<Value>(body) else {
        shared.record(endpoint, false, 400);
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": {"message": "request body is not JSON", "type": "invalid_request_error", "code": "400"}}),
            Vec::new(),
        );
    };
    let stream = endpoint.streams() && req["stream"].as_bool() == Some(true);
    let max_tokens = req["max_tokens"]
        .as_u64()
        .or_else(|| req["max_output_tokens"].as_u64())
        .unwrap_or(16);
    let usage = Usage {
        prompt: prompt_tokens(&req),
        completion: if endpoint == Endpoint::Embeddings {
            0
        } else {
            bodies::WORDS.len() as u64
        },
    };
    let reserve = usage.prompt
        + if endpoint == Endpoint::Embeddings {
            0
        } else {
            max_tokens
        };
    let key = key.unwrap_or_else(|| "anonymous".into());
    let budget = match shared.admit(&key, reserve) {
        Admission::Allowed(b) => b,
        Admission::Refused { budget, unit } => {
            shared.record(endpoint, stream, 429);
            return throttled(cfg.profile, &budget, unit, "[key hash]");
        }
    };
    shared.record(endpoint, stream, 200);
    let id = {
        let mut n = lock(&shared.next_id);
        *n += 1;
        *n
    };
    let model = req["model"].as_str().unwrap_or(&cfg.model).to_string();

    if stream {
        let include_usage = req["stream_options"]["include_usage"].as_bool() == Some(true);
        let frames = bodies::sse_frames(endpoint, &model, id, usage, include_usage);
        let delay = cfg.chunk_delay;
        let body = futures_util::stream::iter(frames.into_iter().enumerate()).then(
            move |(i, frame)| async move {
                if i > 0 && !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                Ok::<_, Infallible>(Bytes::from(frame))
            },
        );
        let mut resp = Response::new(Body::from_stream(body));
        let h = resp.headers_mut();
        h.insert(
            "content-type",
            HeaderValue::from_static("text/event-stream; charset=utf-8"),
        );
        h.insert("cache-control", HeaderValue::from_static("no-cache"));
        append_headers(h, rate_headers(cfg.profile, Kind::Stream, &budget));
        return resp;
    }
    let kind = if endpoint == Endpoint::Messages && cfg.profile.is_litellm() {
        Kind::PlainDict
    } else {
        Kind::Object
    };
    json_response(
        StatusCode::OK,
        &bodies::json_body(endpoint, &model, id, usage),
        rate_headers(cfg.profile, kind, &budget),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_count_and_refuse() {
        let shared = Shared {
            cfg: MockConfig {
                rpm: 2,
                tpm: 100,
                ..MockConfig::default()
            },
            windows: Mutex::new(HashMap::new()),
            log: Mutex::new(Vec::new()),
            next_id: Mutex::new(0),
        };
        let Admission::Allowed(b) = shared.admit("k", 10) else {
            panic!()
        };
        assert_eq!(b.remaining_requests, 1);
        assert_eq!(b.remaining_tokens, 90);
        assert!(matches!(
            shared.admit("k", 95),
            Admission::Refused { unit: "tokens", .. }
        ));
        assert!(matches!(shared.admit("k", 10), Admission::Allowed(_)));
        assert!(matches!(
            shared.admit("k", 1),
            Admission::Refused {
                unit: "requests",
                ..
            }
        ));
        // Another key has its own window.
        assert!(matches!(shared.admit("other", 1), Admission::Allowed(_)));
    }

    #[test]
    fn the_openai_profile_replenishes() {
        let shared = Shared {
            cfg: MockConfig {
                profile: Profile::Openai,
                rpm: 6000,
                window: Duration::from_mins(1),
                ..MockConfig::default()
            },
            windows: Mutex::new(HashMap::new()),
            log: Mutex::new(Vec::new()),
            next_id: Mutex::new(0),
        };
        let remaining = |a: Admission| match a {
            Admission::Allowed(b) => b.remaining_requests,
            Admission::Refused { .. } => panic!("refused"),
        };
        assert_eq!(remaining(shared.admit("k", 1)), 5999);
        // 100 requests a second flow back: after 50 ms the first is back.
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(remaining(shared.admit("k", 1)), 5999);
    }

    #[test]
    fn litellm_v3_drops_counters_on_streams_and_dicts() {
        let b = Budget {
            limit_requests: 10,
            remaining_requests: 9,
            limit_tokens: 100,
            remaining_tokens: 90,
            reset_in: Duration::from_secs(30),
            retry_in: Duration::from_secs(30),
            window: Duration::from_mins(1),
            now: SystemTime::now(),
        };
        let names =
            |p, k| -> Vec<String> { rate_headers(p, k, &b).into_iter().map(|(n, _)| n).collect() };
        let desc = "x-ratelimit-api_key-remaining-requests".to_string();
        assert!(names(Profile::LitellmV3, Kind::Object).contains(&desc));
        assert!(!names(Profile::LitellmV3, Kind::Stream).contains(&desc));
        assert!(!names(Profile::LitellmV3, Kind::PlainDict).contains(&desc));
        assert!(
            names(Profile::LitellmV3, Kind::Stream)
                .contains(&"x-litellm-key-rpm-limit".to_string())
        );
        assert!(names(Profile::LitellmFixed, Kind::Stream).contains(&desc));
    }
}
