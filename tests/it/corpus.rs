//! The real world's headers: every capture in `tests/corpus/` (one real response each, its public
//! source cited in the file) replayed by a loopback gateway on every endpoint and shape.
//!
//! Replayed on every shape, a healthy provider's headers must give no finding at all: a finding
//! is an accusation. Stripped from the streams only, the same headers must give exactly the
//! drop: every stripped header named, on every stream, and nothing else found.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use ratecheck::endpoint::Endpoint;
use ratecheck::mock::bodies::{Usage, json_body, sse_frames};

use crate::support::ratecheck;

/// One capture: its file, provider, source, status and headers as recorded.
#[derive(Debug, Clone)]
struct Capture {
    file: String,
    provider: String,
    source: String,
    headers: Vec<(String, String)>,
}

/// Reads every top-level `.http` capture.
fn corpus() -> Vec<Capture> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "http"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).unwrap();
            let mut c = Capture {
                file: path.file_name().unwrap().to_string_lossy().into_owned(),
                provider: String::new(),
                source: String::new(),
                headers: Vec::new(),
            };
            for line in text.lines() {
                if let Some(meta) = line.strip_prefix("# ") {
                    if let Some(p) = meta.strip_prefix("provider: ") {
                        c.provider = p.trim().into();
                    }
                    if let Some(s) = meta.strip_prefix("source: ") {
                        c.source = s.trim().into();
                    }
                } else if line.starts_with("HTTP/") || line.trim().is_empty() {
                } else if let Some((n, v)) = line.split_once(':') {
                    c.headers.push((n.trim().to_string(), v.trim().to_string()));
                }
            }
            c
        })
        .collect()
}

/// Headers the replay sets itself, to match the body it sends.
const TRANSPORT: [&str; 5] = [
    "content-type",
    "content-length",
    "transfer-encoding",
    "connection",
    "content-encoding",
];

/// A rate-limit header by its name alone, independently of ratecheck's dialect table: what a
/// person reading the capture would call one. Refusal-only flags are not sent on successes.
fn rate_limit_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n != "x-envoy-ratelimited"
        && !n.starts_with("llm_provider-")
        && [
            "ratelimit",
            "rate-limit",
            "tokenlimit",
            "call-limit",
            "call-remaining",
        ]
        .iter()
        .any(|w| n.contains(w))
}

struct Replay {
    headers: Vec<(String, String)>,
    /// Header names (lowercase) left off streaming responses.
    strip_from_streams: Vec<String>,
}

async fn models() -> Response {
    Response::builder()
        .header("content-type", "application/json")
        .body(Body::from(
            r#"{"object":"list","data":[{"id":"corpus-model","object":"model"}]}"#,
        ))
        .unwrap()
}

async fn generate(State(replay): State<Arc<Replay>>, uri: Uri, body: Bytes) -> Response {
    let endpoint = Endpoint::ALL
        .into_iter()
        .find(|e| uri.path().ends_with(e.path().trim_start_matches("/v1")))
        .unwrap_or(Endpoint::Chat);
    let stream = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["stream"].as_bool())
        .unwrap_or(false)
        && endpoint.streams();
    let usage = Usage {
        prompt: 5,
        completion: 4,
    };
    let mut builder = Response::builder().status(StatusCode::OK);
    let headers: &mut HeaderMap = builder.headers_mut().unwrap();
    for (n, v) in &replay.headers {
        if TRANSPORT.contains(&n.to_ascii_lowercase().as_str())
            || (stream && replay.strip_from_streams.contains(&n.to_ascii_lowercase()))
        {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(n.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            headers.append(name, value);
        }
    }
    if stream {
        // Real SSE, frame by frame, as a provider sends it.
        let frames = sse_frames(endpoint, "corpus-model", 1, usage, true);
        let body = futures_util::stream::unfold(frames.into_iter(), |mut it| async move {
            let frame = it.next()?;
            tokio::time::sleep(Duration::from_millis(1)).await;
            Some((Ok::<_, std::io::Error>(Bytes::from(frame)), it))
        });
        builder
            .header("content-type", "text/event-stream")
            .body(Body::from_stream(body))
            .unwrap()
    } else {
        builder
            .header("content-type", "application/json")
            .body(Body::from(
                json_body(endpoint, "corpus-model", 1, usage).to_string(),
            ))
            .unwrap()
    }
}

/// Starts a loopback gateway replaying `capture`; returns its URL and its task.
async fn replay(
    capture: &Capture,
    strip: &BTreeSet<String>,
) -> (String, tokio::task::JoinHandle<()>) {
    let state = Arc::new(Replay {
        headers: capture.headers.clone(),
        strip_from_streams: strip.iter().cloned().collect(),
    });
    let mut app = Router::new().route("/v1/models", get(models));
    for e in Endpoint::ALL {
        app = app.route(e.path(), post(generate));
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app.with_state(state)).await;
    });
    (url, task)
}

async fn probe(url: &str, extra: &[&str]) -> (i32, serde_json::Value) {
    let mut args = vec!["probe", url, "--format", "json", "--repeat", "2"];
    args.extend_from_slice(extra);
    let run = ratecheck(&args, &[]).await;
    let report = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout, run.stderr));
    (run.code, report)
}

fn kinds(list: &serde_json::Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{}: {}", f["kind"], f["message"]))
        .collect()
}

#[test]
fn the_corpus_is_real_and_cited() {
    let all = corpus();
    let providers: BTreeSet<&str> = all.iter().map(|c| c.provider.as_str()).collect();
    assert!(all.len() >= 25, "{} captures", all.len());
    assert!(providers.len() >= 12, "{providers:?}");
    for c in &all {
        assert!(c.source.starts_with("https://"), "{}: no source", c.file);
        assert!(!c.provider.is_empty(), "{}: no provider", c.file);
    }
}

#[tokio::test]
async fn healthy_captures_replayed_on_every_shape_raise_no_finding() {
    let mut accused = Vec::new();
    for c in corpus() {
        let (url, task) = replay(&c, &BTreeSet::new()).await;
        let (code, report) = probe(&url, &[]).await;
        task.abort();
        if code != 0 || !report["findings"].as_array().unwrap().is_empty() {
            accused.push(format!(
                "{} ({}): exit {code}, {:?}",
                c.file,
                c.source,
                kinds(&report["findings"])
            ));
        }
    }
    assert!(
        accused.is_empty(),
        "healthy gateways accused:\n{}",
        accused.join("\n")
    );
}

/// The checks this issue added, on the same healthy captures: `ratecheck fleet` over two
/// instances replaying one capture raises no fleet finding (the dialects of these providers do
/// not document an exact window, so their counters are not followed), and no capture carries a
/// rate-limit header twice with two values.
#[tokio::test]
async fn healthy_captures_raise_no_fleet_finding_and_no_duplicate_warning() {
    let mut accused = Vec::new();
    for c in corpus() {
        let (a, task_a) = replay(&c, &BTreeSet::new()).await;
        let (b, task_b) = replay(&c, &BTreeSet::new()).await;
        let run = ratecheck(
            &[
                "fleet",
                &a,
                &b,
                "--model",
                "m",
                "--max-requests",
                "6",
                "--format",
                "json",
            ],
            &[],
        )
        .await;
        let (code, probed) = probe(&a, &[]).await;
        task_a.abort();
        task_b.abort();
        let report: serde_json::Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("{}: {e}: {}\n{}", c.file, run.stdout, run.stderr));
        let fleet: Vec<String> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .chain(report["warnings"].as_array().unwrap())
            .map(|f| format!("{}: {}", f["kind"], f["message"]))
            .collect();
        if run.code != 0 || !fleet.is_empty() {
            accused.push(format!(
                "{} ({}): fleet exit {}, {fleet:?}",
                c.file, c.source, run.code
            ));
        }
        let twice = probed["warnings"]
            .to_string()
            .contains("on one response with different values");
        if code != 0 || twice {
            accused.push(format!(
                "{} ({}): probe exit {code}, sent twice: {twice}",
                c.file, c.source
            ));
        }
    }
    assert!(
        accused.is_empty(),
        "healthy gateways accused:\n{}",
        accused.join("\n")
    );
}

#[tokio::test]
async fn captures_stripped_from_streams_are_caught_exactly() {
    let mut wrong = Vec::new();
    let mut checked = 0;
    for c in corpus() {
        let stripped: BTreeSet<String> = c
            .headers
            .iter()
            .filter(|(n, _)| rate_limit_name(n))
            .map(|(n, _)| n.to_ascii_lowercase())
            .collect();
        if stripped.is_empty() {
            continue;
        }
        checked += 1;
        let (url, task) = replay(&c, &stripped).await;
        let (code, report) = probe(&url, &[]).await;
        task.abort();
        let findings = report["findings"].as_array().unwrap();
        let named: BTreeSet<String> = findings
            .iter()
            .flat_map(|f| f["headers"].as_array().unwrap().iter())
            .map(|h| h.as_str().unwrap().to_string())
            .collect();
        let streams: BTreeSet<&str> = [
            "streaming chat/completions",
            "streaming completions",
            "streaming responses",
            "streaming messages",
        ]
        .into();
        let on_streams = findings.iter().all(|f| {
            f["kind"] == "missing_on_shape"
                && f["missing_on"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| m.as_str().unwrap())
                    .collect::<BTreeSet<_>>()
                    == streams
        });
        if code != 1 || named != stripped || !on_streams {
            wrong.push(format!(
                "{}: exit {code}; stripped {stripped:?}; named {named:?}; {:?}",
                c.file,
                kinds(&report["findings"])
            ));
        }
    }
    assert!(checked >= 25, "{checked} captures carry rate-limit headers");
    assert!(
        wrong.is_empty(),
        "drops not caught exactly:\n{}",
        wrong.join("\n")
    );
}

/// Azure API Management's `llm-token-limit` policy lets the operator name its headers: unknown
/// to any dialect, they are compared once declared, and only then.
#[tokio::test]
async fn operator_named_headers_are_compared_once_declared() {
    let apim = Capture {
        file: "azure-apim-llm-token-limit".into(),
        provider: "azure-apim".into(),
        source: "https://learn.microsoft.com/azure/api-management/llm-token-limit-policy".into(),
        headers: vec![
            ("remaining-tokens".into(), "9000".into()),
            ("consumed-tokens".into(), "120".into()),
        ],
    };
    let stripped: BTreeSet<String> = ["remaining-tokens".to_string()].into();
    let (url, task) = replay(&apim, &stripped).await;
    let (code, report) = probe(&url, &[]).await;
    assert_eq!(code, 0, "{report:#}");
    let warnings = kinds(&report["warnings"]);
    assert!(
        warnings.iter().any(|w| w.contains("no_rate_limit_headers")),
        "{warnings:?}"
    );
    let (code, report) = probe(&url, &["--rate-header", "remaining-tokens"]).await;
    task.abort();
    assert_eq!(code, 1, "{report:#}");
    let f = &report["findings"][0];
    assert_eq!(f["kind"], "missing_on_shape");
    assert_eq!(f["headers"], serde_json::json!(["remaining-tokens"]));
}
