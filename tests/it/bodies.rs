//! The real world's bodies: every response body in `tests/corpus/bodies/` (one real answer each,
//! recorded by a public SDK or instrumentation test suite, its source cited in the file) served
//! over loopback HTTP — streams event by event as they were recorded — and probed.
//!
//! A healthy answer must pass the shape contract: OpenRouter's keep-alive comments, Anthropic's
//! `ping`, usage-only chunks with empty `choices`, Azure's filter-results chunk, streams with no
//! `[DONE]`, CRLF framing, `data:` before `event:`. The two recorded streams that carry a
//! provider's error after status 200 give the in-stream error and an unchecked streaming shape,
//! and nothing else.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use axum::routing::{get, post};
use ratecheck::endpoint::Endpoint;
use ratecheck::mock::bodies::{Usage, json_body, sse_frames};

use crate::support::ratecheck;

/// One recorded body and what it answered.
#[derive(Debug, Clone)]
struct Recorded {
    file: String,
    endpoint: Endpoint,
    stream: bool,
    source: String,
    body: Vec<u8>,
}

fn recorded() -> Vec<Recorded> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/bodies");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| {
            let bytes = std::fs::read(path).unwrap();
            let at = bytes
                .windows(2)
                .position(|w| w == b"\n\n")
                .expect("a header, a blank line, the body");
            let head = String::from_utf8_lossy(&bytes[..at]).into_owned();
            let field = |name: &str| {
                head.lines()
                    .find_map(|l| l.strip_prefix(&format!("# {name}: ")))
                    .unwrap_or_default()
                    .trim()
                    .to_string()
            };
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            let endpoint = match field("endpoint").as_str() {
                "chat" => Endpoint::Chat,
                "completions" => Endpoint::Completions,
                "responses" => Endpoint::Responses,
                "messages" => Endpoint::Messages,
                "embeddings" => Endpoint::Embeddings,
                other => panic!("{file}: endpoint {other}"),
            };
            Recorded {
                endpoint,
                stream: field("mode") == "stream",
                source: field("source"),
                body: bytes[at + 2..].to_vec(),
                file,
            }
        })
        .collect()
}

/// The body cut where its events end (after each blank line, LF or CRLF), as a server flushes
/// a stream event by event.
fn frames(body: &[u8]) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < body.len() {
        let end = if body[i..].starts_with(b"\r\n\r\n") {
            Some(i + 4)
        } else if body[i..].starts_with(b"\n\n") {
            Some(i + 2)
        } else {
            None
        };
        match end {
            Some(e) => {
                out.push(Bytes::copy_from_slice(&body[start..e]));
                start = e;
                i = e;
            }
            None => i += 1,
        }
    }
    if start < body.len() {
        out.push(Bytes::copy_from_slice(&body[start..]));
    }
    out
}

async fn models() -> Response {
    Response::builder()
        .header("content-type", "application/json")
        .body(Body::from(
            r#"{"object":"list","data":[{"id":"m","object":"model"}]}"#,
        ))
        .unwrap()
}

/// The recorded body where its endpoint and mode are asked for; the simulator's answer to the
/// other mode.
async fn answer(State(r): State<Arc<Recorded>>, uri: Uri, body: Bytes) -> Response {
    let endpoint = Endpoint::ALL
        .into_iter()
        .find(|e| uri.path() == e.path())
        .unwrap_or(Endpoint::Chat);
    let stream = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["stream"].as_bool())
        .unwrap_or(false);
    let usage = Usage {
        prompt: 5,
        completion: 4,
    };
    let mine = endpoint == r.endpoint && stream == r.stream;
    let (ctype, frames) = match (mine, stream) {
        (true, true) => ("text/event-stream", frames(&r.body)),
        (true, false) => ("application/json", vec![Bytes::from(r.body.clone())]),
        (false, true) => (
            "text/event-stream",
            sse_frames(endpoint, "m", 1, usage, true)
                .into_iter()
                .map(Bytes::from)
                .collect(),
        ),
        (false, false) => (
            "application/json",
            vec![Bytes::from(json_body(endpoint, "m", 1, usage).to_string())],
        ),
    };
    let body = futures_util::stream::unfold(frames.into_iter(), |mut it| async move {
        let frame = it.next()?;
        tokio::time::sleep(Duration::from_millis(1)).await;
        Some((Ok::<_, std::io::Error>(frame), it))
    });
    Response::builder()
        .header("content-type", ctype)
        .body(Body::from_stream(body))
        .unwrap()
}

async fn serve(r: Recorded) -> (String, tokio::task::JoinHandle<()>) {
    let mut app = Router::new().route("/v1/models", get(models));
    for e in Endpoint::ALL {
        app = app.route(e.path(), post(answer));
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app.with_state(Arc::new(r))).await;
    });
    (url, task)
}

#[test]
fn the_bodies_are_real_and_cited() {
    let all = recorded();
    assert!(all.len() >= 40, "{} bodies", all.len());
    for r in &all {
        assert!(
            r.source.starts_with("https://github.com/"),
            "{}: no source",
            r.file
        );
    }
    for e in Endpoint::ALL {
        assert!(all.iter().any(|r| r.endpoint == e), "no body for {e:?}");
    }
}

#[tokio::test]
async fn every_recorded_body_passes_the_shape_contract() {
    let mut wrong = Vec::new();
    for r in recorded() {
        let (url, task) = serve(r.clone()).await;
        let run = ratecheck(
            &[
                "probe",
                &url,
                "--model",
                "m",
                "--endpoints",
                r.endpoint.name(),
                "--format",
                "json",
            ],
            &[],
        )
        .await;
        task.abort();
        let report: serde_json::Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("{}: {e}: {}\n{}", r.file, run.stdout, run.stderr));
        let said: Vec<String> = ["findings", "warnings"]
            .iter()
            .flat_map(|k| report[k].as_array().unwrap().iter())
            .filter(|f| f["kind"] != "no_rate_limit_headers")
            .map(|f| format!("{}: {}", f["kind"], f["message"]))
            .collect();
        let unchecked = report["unchecked"].as_array().unwrap().len();
        let error = r.file.contains("ERROR");
        // A stream that ended on an error delivered no answer: the streaming shape went
        // unchecked, which the headline says and `--strict` fails.
        let ok = if error {
            run.code == 0
                && said.len() == 1
                && said[0].starts_with("\"in_stream_error\"")
                && unchecked == 1
        } else {
            run.code == 0 && said.is_empty() && unchecked == 0
        };
        if !ok {
            wrong.push(format!(
                "{} ({}): exit {}, {said:?}, {unchecked} unchecked",
                r.file, r.source, run.code
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
