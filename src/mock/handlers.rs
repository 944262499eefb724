//! The simulator's HTTP face: the axum routes, `/v1/models`, and one handler per generation
//! endpoint that admits the request, then answers JSON, a plain dict, an SSE stream or a 429
//! with the profile's headers.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::bodies::{self, Usage};
use super::counters::{Admission, Shared, lock};
use super::{Defect, Profile};
use crate::endpoint::Endpoint;
use crate::headers::emit::{self, Budget, Header};

pub(super) fn router(shared: Arc<Shared>) -> Router {
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
            // The release each profile reproduces, by the version table: 1.101.6 drops the
            // counters on streams and on plain dicts; the fixed one runs the callback on a
            // release where plain dicts keep them.
            let version = if profile == Profile::LitellmV3 {
                "1.101.6-ratecheck-mock"
            } else {
                "1.106.12-ratecheck-mock"
            };
            out.push((crate::headers::LITELLM_VERSION.into(), version.into()));
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

/// `max_tokens` from which a request is a long generation, answered over `--slow`.
const LONG_TOKENS: u64 = 200;

/// One of a key's concurrency slots, given back when the answer ends (its body dropped), or
/// only when the window ends for a request that keeps it (`--defect slot-kept`).
struct SlotGuard {
    shared: Arc<Shared>,
    key: String,
    keep: bool,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        if !self.keep {
            self.shared.release_slot(&self.key);
            return;
        }
        let (shared, key) = (self.shared.clone(), std::mem::take(&mut self.key));
        let window = shared.cfg.window;
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                tokio::time::sleep(window).await;
                shared.release_slot(&key);
            });
        }
    }
}

/// LiteLLM's slot gauge: `x-ratelimit-api_key-{remaining,limit}-max_parallel_requests`, on the
/// responses that carry its descriptors, when the key has a concurrency limit.
fn parallel_headers(profile: Profile, kind: Kind, in_use: Option<(u64, u64)>) -> Vec<Header> {
    let carries =
        profile == Profile::LitellmFixed || (profile == Profile::LitellmV3 && kind == Kind::Object);
    match in_use {
        Some((used, n)) if carries => vec![
            (
                "x-ratelimit-api_key-remaining-max_parallel_requests".into(),
                n.saturating_sub(used).to_string(),
            ),
            (
                "x-ratelimit-api_key-limit-max_parallel_requests".into(),
                n.to_string(),
            ),
        ],
        _ => Vec::new(),
    }
}

/// A refusal; `bare` leaves out every header of the limiter, as LiteLLM's `/v1/messages` and
/// `/v1/completions` 429s do (`--defect no-retry-after`).
fn throttled(profile: Profile, b: &Budget, unit: &str, key_hint: &str, bare: bool) -> Response {
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
            if bare {
                headers.clear();
            }
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

/// What the limiter admitted: the budget after, the slot held, the slots in use and allowed.
type Admitted = (Budget, Option<SlotGuard>, Option<(u64, u64)>);

/// The limiter: a concurrency slot, then the requests and tokens, then the charge of what the
/// call used, each with the defects asked for. The budget after, the slot held and the slots
/// in use; or the refusal to answer.
fn admit(
    shared: &Arc<Shared>,
    key: &str,
    endpoint: Endpoint,
    stream: bool,
    reserve: u64,
    usage: Usage,
) -> Result<Admitted, Box<Response>> {
    let cfg = &shared.cfg;
    let key = key.to_string();
    let bare = cfg.has(Defect::NoRetryAfter)
        && matches!(endpoint, Endpoint::Messages | Endpoint::Completions);
    // Requests in flight first, as LiteLLM's limiter checks them with the rest.
    let mut slot = None;
    let mut in_use = None;
    if let Some(n) = shared.limits(&key).max_parallel {
        let Some(used) = shared.take_slot(&key, n) else {
            if cfg.has(Defect::RefusalCharged) {
                shared.charge(&key, 1.0, 0.0);
            }
            shared.record(endpoint, stream, 429);
            // A slot comes back when a request in flight ends, not with the window: the
            // simulator advises a short wait.
            let budget = Budget {
                reset_in: std::time::Duration::from_secs(1),
                retry_in: std::time::Duration::from_secs(1),
                window: std::time::Duration::from_secs(1),
                ..shared.budget_now(&key)
            };
            return Err(Box::new(throttled(
                cfg.profile,
                &budget,
                "max_parallel_requests",
                "[key hash]",
                bare,
            )));
        };
        in_use = Some((used, n));
        slot = Some(SlotGuard {
            shared: shared.clone(),
            key: key.clone(),
            keep: cfg.has(Defect::SlotKept)
                && matches!(endpoint, Endpoint::Messages | Endpoint::Responses),
        });
    }
    let race = cfg.has(Defect::TpmRace);
    let budget = match shared.admit_as(&key, reserve, race) {
        Admission::Allowed(b) => b,
        Admission::Refused { budget, unit } => {
            if let Some(g) = slot.as_mut() {
                g.keep = false;
            }
            drop(slot);
            shared.record(endpoint, stream, 429);
            return Err(Box::new(throttled(
                cfg.profile,
                &budget,
                unit,
                "[key hash]",
                bare,
            )));
        }
    };
    // The reservation becomes what the call used (nothing, for an endpoint left uncharged);
    // with the race, the charge lands only after the answer.
    let uncharged = cfg.has(Defect::TokensUncharged)
        && matches!(
            endpoint,
            Endpoint::Completions | Endpoint::Responses | Endpoint::Embeddings
        );
    let used = if uncharged {
        0
    } else {
        usage.prompt + usage.completion
    };
    if race {
        let (later, key) = (shared.clone(), key.clone());
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(150)).await;
            later.charge(&key, 0.0, used as f64);
        });
    } else {
        shared.charge(&key, 0.0, used as f64 - reserve as f64);
    }
    Ok((budget, slot, in_use))
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
    let (budget, slot, in_use) = match admit(&shared, &key, endpoint, stream, reserve, usage) {
        Ok(admitted) => admitted,
        Err(refusal) => return *refusal,
    };
    let long = max_tokens >= LONG_TOKENS;
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
        // A long generation spreads its frames over `--slow`.
        let delay = if long {
            cfg.slow / u32::try_from(frames.len().max(1)).unwrap_or(1)
        } else {
            cfg.chunk_delay
        };
        let body = futures_util::stream::iter(frames.into_iter().enumerate())
            .then(move |(i, frame)| async move {
                if i > 0 && !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                Ok::<_, Infallible>(Bytes::from(frame))
            })
            // The slot is held until the stream ends (or the client leaves).
            .map(move |frame| {
                let _held = &slot;
                frame
            });
        let mut resp = Response::new(Body::from_stream(body));
        let h = resp.headers_mut();
        h.insert(
            "content-type",
            HeaderValue::from_static("text/event-stream; charset=utf-8"),
        );
        h.insert("cache-control", HeaderValue::from_static("no-cache"));
        append_headers(h, rate_headers(cfg.profile, Kind::Stream, &budget));
        append_headers(h, parallel_headers(cfg.profile, Kind::Stream, in_use));
        return resp;
    }
    let kind = if endpoint == Endpoint::Messages && cfg.profile.is_litellm() {
        Kind::PlainDict
    } else {
        Kind::Object
    };
    let mut headers = rate_headers(cfg.profile, kind, &budget);
    headers.extend(parallel_headers(cfg.profile, kind, in_use));
    let json = bodies::json_body(endpoint, &model, id, usage);
    if !long {
        return json_response(StatusCode::OK, &json, headers);
    }
    slow_json(json, headers, cfg.slow, slot)
}

/// A long generation's JSON answer: its body after `slow`, its slot held until then.
fn slow_json(
    json: Value,
    headers: Vec<Header>,
    slow: std::time::Duration,
    slot: Option<SlotGuard>,
) -> Response {
    let body = futures_util::stream::once(async move {
        tokio::time::sleep(slow).await;
        let _held = slot;
        Ok::<_, Infallible>(Bytes::from(json.to_string()))
    });
    let mut resp = Response::new(Body::from_stream(body));
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    append_headers(h, headers);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

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
