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
    captures_in("tests/corpus")
}

/// Reads every `.http` capture in `dir` (relative to the crate).
fn captures_in(dir: &str) -> Vec<Capture> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
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

/// Who each capture shows answered, as `probe` names it: the gateway (`Kong 3.11…` named by
/// its own headers, `server: …` named by the `server` header alone, `-` unnamed) and the
/// upstream (`OpenAI` named by its own headers, `; server: …` the `server` header passed
/// through beside it, `server: …` that header alone, `-` none seen).
#[rustfmt::skip]
const IDENTITY: &[(&str, &str, &str)] = &[
    ("anthropic-messages-2024-openllmetry.http", "server: cloudflare", "Anthropic"),
    ("anthropic-messages-no-requests-bucket-openllmetry.http", "server: cloudflare", "Anthropic"),
    ("anthropic-messages-retry-after-on-200-crewai.http", "server: cloudflare", "Anthropic"),
    ("anthropic-messages-stream-llm-anthropic.http", "server: cloudflare", "Anthropic"),
    ("anthropic-messages-stream-no-headers-langchaingo.http", "server: cloudflare", "Anthropic"),
    // Anthropic's OpenAI-compatible endpoint sends nothing of Anthropic's own.
    ("anthropic-openai-compat-mirascope.http", "server: cloudflare", "-"),
    // Azure OpenAI answers through Microsoft's own API Management.
    ("azure-openai-chat-openllmetry.http", "Azure API Management", "Azure OpenAI"),
    ("azure-openai-chat-remaining-only-openllmetry.http", "Azure API Management", "Azure OpenAI"),
    ("azure-openai-chat-stream-openllmetry.http", "Azure API Management", "Azure OpenAI"),
    ("cerebras-chat-docs-example.http", "-", "Cerebras"),
    ("cohere-chat-stream-openllmetry.http", "Envoy", "-"),
    ("cohere-generate-trial-limits-langchaingo.http", "Envoy", "Cohere"),
    ("deepseek-chat-stream-openllmetry.http", "server: CW", "DeepSeek"),
    // The issue's paste kept no header of Envoy Gateway's own.
    ("envoy-gateway-global-ratelimit-4292.http", "-", "-"),
    ("exa-search-crewai.http", "server: cloudflare", "-"),
    ("gemini-generatecontent-crewai.http", "server: scaffolding on HTTPServer2", "Google"),
    ("github-rest-remaining-zero-pygithub.http", "server: GitHub.com", "GitHub"),
    ("github-rest-repo-get-pygithub.http", "server: github.com", "GitHub"),
    ("groq-chat-openllmetry.http", "server: cloudflare", "-"),
    ("groq-chat-stream-openllmetry.http", "server: cloudflare", "Groq"),
    ("huggingface-hub-model-info-pydantic-ai.http", "-", "-"),
    ("huggingface-router-chat-langchaingo.http", "Hugging Face router", "hyperbolic; server: cloudflare"),
    ("kong-ai-rate-limiting-advanced-openai-partly-used.http", "Kong AI Gateway 3.11.0.2-enterprise-edition", "OpenAI; server: cloudflare"),
    ("kong-ai-rate-limiting-advanced-openai.http", "Kong AI Gateway 3.11.0.2-enterprise-edition", "OpenAI; server: cloudflare"),
    ("kong-ai-semantic-cache-hit.http", "Kong 3.11.0.2-enterprise-edition", "-"),
    ("kong-ai-semantic-cache-miss-openai.http", "Kong AI Gateway 3.11.0.2-enterprise-edition", "OpenAI; server: cloudflare"),
    ("kong-rate-limiting-plugin-httpbin.http", "Kong 3.11.0.2-enterprise-edition", "server: gunicorn"),
    // The Mirascope router passes OpenAI's headers through and adds none of its own.
    ("mirascope-router-openai-responses-stream.http", "server: cloudflare", "OpenAI"),
    ("mirascope-router-openai-stream.http", "server: cloudflare", "OpenAI"),
    ("mistral-chat-curl-client-ts-169.http", "-", "Mistral"),
    // Mistral's API answers through Kong.
    ("mistral-chat-openllmetry.http", "Kong", "Mistral; server: cloudflare"),
    ("mistral-chat-stream-openllmetry.http", "Kong", "Mistral; server: cloudflare"),
    ("mistral-chat-stream-ratelimitbysize-openinference.http", "Kong", "Mistral; server: cloudflare"),
    ("ollama-api-show-crewai.http", "-", "-"),
    ("ollama-chat-stream-langchaingo.http", "-", "-"),
    ("openai-chat-input-images-crewai.http", "server: cloudflare", "OpenAI"),
    ("openai-chat-no-ratelimit-headers-community.http", "server: cloudflare", "OpenAI"),
    ("openai-chat-project-requests-crewai.http", "server: cloudflare", "OpenAI"),
    ("openai-chat-stream-langchaingo.http", "server: cloudflare", "OpenAI"),
    ("openai-chat-stream-project-tokens-crewai.http", "server: cloudflare", "OpenAI"),
    ("openai-chat-usage-based-community.http", "-", "OpenAI"),
    ("openai-completions-usage-based-plda-server.http", "server: cloudflare", "OpenAI"),
    ("openai-responses-llm.http", "server: cloudflare", "OpenAI"),
    ("openai-responses-mirascope.http", "server: cloudflare", "OpenAI"),
    ("openai-responses-stream-llm.http", "server: cloudflare", "OpenAI"),
    ("openai-responses-stream-no-ratelimit-mirascope.http", "server: cloudflare", "OpenAI"),
    ("openai-responses-web-search-no-ratelimit-mirascope.http", "server: cloudflare", "OpenAI"),
    ("openrouter-chat-stream-langchaingo.http", "server: cloudflare", "-"),
    ("perplexity-chat-stream-langchaingo.http", "server: cloudflare", "-"),
    // The cassette kept OpenAI's headers and no `x-portkey-*` one: Portkey cannot be named.
    ("portkey-prompt-completion-openinference.http", "server: cloudflare", "OpenAI"),
    ("replicate-model-version-openllmetry.http", "server: cloudflare", "-"),
    ("together-chat-2025-mirascope.http", "server: cloudflare", "Together AI"),
    ("together-chat-openllmetry.http", "server: cloudflare", "Together AI"),
    ("vllm-chat-openllmetry.http", "server: uvicorn", "-"),
    ("vllm-chat-stream-openllmetry.http", "server: uvicorn", "-"),
    ("refusals/gemini-generatecontent-429-crewai.http", "server: scaffolding on HTTPServer2", "Google"),
    ("refusals/github-rest-rate-limit-exceeded-pygithub.http", "server: GitHub.com", "GitHub"),
    ("refusals/kong-ai-rate-limiting-advanced-429.http", "Kong AI Gateway 3.11.0.2-enterprise-edition", "-"),
    ("refusals/kong-rate-limiting-plugin-429.http", "Kong 3.11.0.2-enterprise-edition", "-"),
    ("refusals/openrouter-chat-429-langchaingo.http", "server: cloudflare", "-"),
];

/// The gateway and upstream of a probe report's `gateway`, written as in [`IDENTITY`].
fn identity(gateway: &serde_json::Value) -> (String, String) {
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    let shown = match (gateway["named_by"].as_str(), gateway["version"].as_str()) {
        (Some("headers"), Some(v)) => format!("{} {v}", text(&gateway["name"])),
        (Some("headers"), None) => text(&gateway["name"]),
        (Some("server"), _) => format!("server: {}", text(&gateway["name"])),
        _ => "-".into(),
    };
    let u = &gateway["upstream"];
    let upstream = match (u["named_by"].as_str(), u["server"].as_str()) {
        (None, _) => "-".into(),
        (Some("server"), _) => format!("server: {}", text(&u["name"])),
        (_, Some(server)) => format!("{}; server: {server}", text(&u["name"])),
        (_, None) => text(&u["name"]),
    };
    (shown, upstream)
}

/// What [`IDENTITY`] expects of the capture `file` (`refusals/…` for a refusal).
fn expected_identity(file: &str) -> (String, String) {
    let (_, gateway, upstream) = IDENTITY
        .iter()
        .find(|(f, _, _)| *f == file)
        .unwrap_or_else(|| panic!("{file}: no expected identity in IDENTITY"));
    ((*gateway).to_string(), (*upstream).to_string())
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
    /// Headers of another capture sent instead on some endpoints: a gateway in front of
    /// two providers.
    by_endpoint: Vec<(Endpoint, Vec<(String, String)>)>,
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
    let own = replay
        .by_endpoint
        .iter()
        .find(|(e, _)| *e == endpoint)
        .map_or(&replay.headers, |(_, h)| h);
    for (n, v) in own {
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
    replay_split(capture, &[], strip).await
}

/// As [`replay`], with the headers of other captures on the endpoints named.
async fn replay_split(
    capture: &Capture,
    others: &[(Endpoint, &Capture)],
    strip: &BTreeSet<String>,
) -> (String, tokio::task::JoinHandle<()>) {
    let state = Arc::new(Replay {
        headers: capture.headers.clone(),
        by_endpoint: others
            .iter()
            .map(|(e, c)| (*e, c.headers.clone()))
            .collect(),
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

/// Every header the findings name.
fn named(findings: &[serde_json::Value]) -> BTreeSet<String> {
    findings
        .iter()
        .flat_map(|f| f["headers"].as_array().unwrap().iter())
        .map(|h| h.as_str().unwrap().to_string())
        .collect()
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
    let (mut accused, mut misnamed) = (Vec::new(), Vec::new());
    for c in corpus() {
        let (url, task) = replay(&c, &BTreeSet::new()).await;
        let (code, report) = probe(&url, &[]).await;
        task.abort();
        let named = identity(&report["gateway"]);
        if named != expected_identity(&c.file) {
            misnamed.push(format!("{}: named {named:?}", c.file));
        }
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
    assert!(
        misnamed.is_empty(),
        "gateways or upstreams misnamed:\n{}",
        misnamed.join("\n")
    );
}

/// Every capture, refusals included, is in [`IDENTITY`] once; each refusal, replayed, names
/// its gateway and upstream as expected (the healthy ones are checked as they are replayed
/// above).
#[tokio::test]
async fn every_capture_names_its_gateway_and_upstream() {
    let refusals = captures_in("tests/corpus/refusals");
    let mut files: Vec<String> = corpus().into_iter().map(|c| c.file).collect();
    files.extend(refusals.iter().map(|c| format!("refusals/{}", c.file)));
    let listed: Vec<String> = IDENTITY.iter().map(|(f, _, _)| (*f).to_string()).collect();
    files.sort();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(
        files, sorted,
        "IDENTITY lists exactly the corpus, once each"
    );
    let mut misnamed = Vec::new();
    for c in refusals {
        let (url, task) = replay(&c, &BTreeSet::new()).await;
        let (_, report) = probe(&url, &[]).await;
        task.abort();
        let file = format!("refusals/{}", c.file);
        let named = identity(&report["gateway"]);
        if named != expected_identity(&file) {
            misnamed.push(format!("{file}: named {named:?}"));
        }
    }
    assert!(misnamed.is_empty(), "{}", misnamed.join("\n"));
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
        let named = named(findings);
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

/// A proxy that sends chat to OpenAI and messages to Anthropic, passing each upstream's whole
/// header set through on both shapes: each endpoint is healthy, in its own provider's dialect.
/// Stripped from its own endpoint's streams, either set is named exactly, and nothing else.
#[tokio::test]
async fn two_upstreams_are_compared_each_within_its_own_dialect() {
    let all = corpus();
    let find = |f: &str| all.iter().find(|c| c.file == f).unwrap().clone();
    let openai = find("openai-chat-project-requests-crewai.http");
    let anthropic = find("anthropic-messages-2024-openllmetry.http");
    let names = |c: &Capture| -> BTreeSet<String> {
        c.headers
            .iter()
            .filter(|(n, _)| rate_limit_name(n))
            .map(|(n, _)| n.to_ascii_lowercase())
            .collect()
    };
    let only = ["--endpoints", "chat,messages"];
    let (url, task) = replay_split(
        &openai,
        &[(Endpoint::Messages, &anthropic)],
        &BTreeSet::new(),
    )
    .await;
    let (code, report) = probe(&url, &only).await;
    task.abort();
    assert_eq!(code, 0, "{:?}", kinds(&report["findings"]));
    assert!(report["findings"].as_array().unwrap().is_empty());
    for (stripped, on) in [
        (names(&openai), "streaming chat/completions"),
        (names(&anthropic), "streaming messages"),
    ] {
        let (url, task) =
            replay_split(&openai, &[(Endpoint::Messages, &anthropic)], &stripped).await;
        let (code, report) = probe(&url, &only).await;
        task.abort();
        assert_eq!(code, 1, "{:?}", kinds(&report["findings"]));
        let findings = report["findings"].as_array().unwrap();
        let named = named(findings);
        assert_eq!(named, stripped, "{:?}", kinds(&report["findings"]));
        for f in findings {
            assert_eq!(f["kind"], "missing_on_shape", "{f:#}");
            assert_eq!(f["missing_on"], serde_json::json!([on]), "{f:#}");
        }
    }
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

/// One capture as a customer would paste it: `curl -i` of a non-streaming and a streaming
/// chat call, each carrying the capture's headers. `strip` leaves some off the stream.
fn as_pasted(c: &Capture, strip: &BTreeSet<String>) -> String {
    let url = "https://gateway.example.com/v1/chat/completions";
    let mut out = String::new();
    for stream in [false, true] {
        let (mime, body) = if stream {
            (
                "text/event-stream",
                "data: {\"object\":\"chat.completion.chunk\",\"choices\":[{\"delta\":{\"content\":\"OK\"}}]}\n\ndata: [DONE]\n\n",
            )
        } else {
            (
                "application/json",
                "{\"object\":\"chat.completion\",\"choices\":[{\"message\":{\"content\":\"OK\"}}]}\n",
            )
        };
        let data = if stream {
            " -d '{\"stream\": true}'"
        } else {
            ""
        };
        out.push_str(&format!("$ curl -i {url}{data}\nHTTP/1.1 200 OK\n"));
        for (n, v) in &c.headers {
            let lower = n.to_ascii_lowercase();
            if TRANSPORT.contains(&lower.as_str()) || (stream && strip.contains(&lower)) {
                continue;
            }
            out.push_str(&format!("{n}: {v}\n"));
        }
        out.push_str(&format!("content-type: {mime}\n\n{body}"));
    }
    out
}

/// `ratecheck analyze` on every healthy capture pasted as `curl -i` output (a non-streaming and
/// a streaming call, both with the capture's headers): no finding on any; and with the
/// rate-limit headers stripped from the stream, those headers named missing on it — the
/// evidence path judges real providers' headers as the probe does.
#[tokio::test]
async fn healthy_captures_pasted_as_evidence_raise_no_finding() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("ratecheck-corpus-evidence-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (mut accused, mut missed, mut stripped_checked) = (Vec::new(), Vec::new(), 0);
    for c in corpus() {
        let file = dir.join(format!("{}.txt", c.file));
        std::fs::write(&file, as_pasted(&c, &BTreeSet::new())).unwrap();
        let path = file.display().to_string();
        let run = crate::support::ratecheck(&["analyze", &path, "--format", "json"], &[]).await;
        let report: serde_json::Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout, run.stderr));
        assert_eq!(
            report["exchanges"].as_array().unwrap().len(),
            2,
            "{}",
            c.file
        );
        if run.code != 0 || !report["findings"].as_array().unwrap().is_empty() {
            accused.push(format!(
                "{} ({}): exit {}, {:?}",
                c.file,
                c.source,
                run.code,
                kinds(&report["findings"])
            ));
        }
        let strip: BTreeSet<String> = c
            .headers
            .iter()
            .filter(|(n, _)| rate_limit_name(n))
            .map(|(n, _)| n.to_ascii_lowercase())
            .collect();
        if strip.is_empty() {
            continue;
        }
        stripped_checked += 1;
        std::fs::write(&file, as_pasted(&c, &strip)).unwrap();
        let run = crate::support::ratecheck(&["analyze", &path, "--format", "json"], &[]).await;
        let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let named: BTreeSet<String> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|f| f["headers"].as_array().cloned().unwrap_or_default())
            .filter_map(|h| h.as_str().map(str::to_string))
            .collect();
        if run.code != 1 || named != strip {
            missed.push(format!(
                "{}: exit {}, named {named:?}, stripped {strip:?}",
                c.file, run.code
            ));
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        accused.is_empty(),
        "healthy gateways accused from evidence:\n{}",
        accused.join("\n")
    );
    assert!(stripped_checked >= 38, "{stripped_checked}");
    assert!(
        missed.is_empty(),
        "stripped headers not named exactly:\n{}",
        missed.join("\n")
    );
}
