//! `ratecheck analyze` offline: on the committed captures of real LiteLLM 1.106.12 traffic
//! (`tests/evidence/`, written by `evidence_e2e.rs` with the key replaced), each its verdict;
//! and on evidence that is broken, hostile or huge: each unreadable part is named by file and
//! line (and HAR entry), the exit is 2, what could be read is still judged, nothing panics, and
//! no secret the evidence carries reaches any output.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::support::{Run, ratecheck};

fn dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("ratecheck-evidence-bad-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write(name: &str, bytes: &[u8]) -> String {
    let path = dir().join(name);
    std::fs::write(&path, bytes).unwrap();
    path.display().to_string()
}

async fn analyze(args: &[&str]) -> Run {
    let mut all = vec!["analyze"];
    all.extend_from_slice(args);
    ratecheck(&all, &[]).await
}

/// One HAR entry: a LiteLLM-shaped chat answer, streamed or not.
fn entry(stream: bool, remaining: u32) -> serde_json::Value {
    let (mime, text, extra) = if stream {
        (
            "text/event-stream",
            "data: {\"object\":\"chat.completion.chunk\",\"choices\":[]}\n\ndata: [DONE]\n\n",
            vec![],
        )
    } else {
        (
            "application/json",
            "{\"object\":\"chat.completion\",\"choices\":[]}",
            vec![
                serde_json::json!({"name": "x-ratelimit-api_key-remaining-requests", "value": remaining.to_string()}),
                serde_json::json!({"name": "x-ratelimit-api_key-limit-requests", "value": "1000"}),
            ],
        )
    };
    let mut headers = vec![
        serde_json::json!({"name": "content-type", "value": mime}),
        serde_json::json!({"name": "x-litellm-version", "value": "1.106.12"}),
    ];
    headers.extend(extra);
    serde_json::json!({
        "startedDateTime": "2026-12-01T12:00:00.000Z",
        "time": 12.5,
        "request": {"method": "POST", "url": "https://gw.example.com/v1/chat/completions",
                    "headers": [], "postData": {"text": format!("{{\"stream\":{stream}}}")}},
        "response": {"status": 200, "headers": headers, "content": {"text": text}},
        "timings": {"send": 0, "wait": 10, "receive": 2.5}
    })
}

fn har(entries: &[serde_json::Value]) -> String {
    serde_json::to_string_pretty(&serde_json::json!({"log": {"entries": entries}})).unwrap()
}

/// Real `curl -i`, `curl -v` and HAR evidence of LiteLLM 1.106.12 as released and with the
/// workaround callback: the drop on every stream of the released proxy, nothing on the fixed.
#[tokio::test]
async fn committed_litellm_evidence_gives_each_its_verdict() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/evidence/litellm-1.106.12");
    for (name, code, kinds) in [
        ("released", 1, vec!["litellm_v3_streaming_drop"]),
        ("fixed", 0, vec![]),
    ] {
        for file in ["curl-i.txt", "curl-v.txt", "capture.har"] {
            let path = root.join(format!("{name}-{file}")).display().to_string();
            let run = analyze(&[&path, "--format", "json"]).await;
            let report: serde_json::Value = serde_json::from_str(&run.stdout)
                .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout, run.stderr));
            assert_eq!(run.code, code, "{path}: {}\n{report:#}", run.stderr);
            assert_eq!(crate::support::finding_kinds(&report), kinds, "{path}");
            assert_eq!(report["exchanges"].as_array().unwrap().len(), 9, "{path}");
            // Every body was read: streams judged by their events, not only their headers.
            assert!(
                !report["notes"].to_string().contains("no body"),
                "{path}: {report:#}"
            );
        }
    }
}

#[tokio::test]
async fn a_truncated_har_is_located_and_exits_2() {
    let text = har(&[entry(false, 9), entry(true, 0)]);
    let cut = &text[..text.len() / 2];
    let file = write("truncated.har", cut.as_bytes());
    let run = analyze(&[&file]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    let lines = cut.lines().count();
    assert!(
        run.stderr.contains(&format!("{file}:{lines}:"))
            && run.stderr.contains("not a readable HAR"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn one_bad_entry_is_named_and_the_others_are_judged() {
    let mut entries = vec![entry(false, 9), entry(true, 0), entry(false, 7)];
    entries[2]["response"]
        .as_object_mut()
        .unwrap()
        .remove("status");
    let file = write("one-bad.har", har(&entries).as_bytes());
    let run = analyze(&[&file, "--format", "json"]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("(entries[2])") && run.stderr.contains("missing field `status`"),
        "{}",
        run.stderr
    );
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        report["exchanges"].as_array().unwrap().len(),
        2,
        "{report:#}"
    );
    // The two that were read still show the drop.
    assert_eq!(
        crate::support::finding_kinds(&report),
        vec!["litellm_v3_streaming_drop"],
        "{report:#}"
    );
    assert_eq!(report["outcome"]["exit_code"], 2);
}

#[tokio::test]
async fn binary_garbage_is_not_text() {
    let mut bytes = b"HTTP/1.1 200 OK\r\n".to_vec();
    bytes.extend((0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    let file = write("garbage.bin", &bytes);
    let run = analyze(&[&file]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("is not text"), "{}", run.stderr);
}

#[tokio::test]
async fn a_50_mb_body_is_refused_in_bounded_time() {
    let big = "x".repeat(50 * 1024 * 1024);
    let mut e = entry(false, 9);
    e["response"]["content"]["text"] = serde_json::Value::String(big.clone());
    let file = write("big.har", har(&[entry(false, 8), e]).as_bytes());
    let started = Instant::now();
    let run = analyze(&[&file]).await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("(entries[1])") && run.stderr.contains("above the 16 MiB"),
        "{}",
        run.stderr
    );
    let dump = format!("HTTP/1.1 200 OK\ncontent-type: application/json\n\n{big}\n");
    let file = write("big.txt", dump.as_bytes());
    let run = analyze(&[&file]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("{file}:1:")) && run.stderr.contains("over the 16 MiB"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn curl_dumps_with_broken_lines_are_located() {
    let dump = "HTTP/1.1 200 OK\ncontent-type: application/json\nthis line lost its colon\n\n{\"object\":\"chat.completion\"}\nHTTP/1.1 abc Oops\n";
    let file = write("broken.txt", dump.as_bytes());
    let run = analyze(&[&file]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "{file}:3: `this line lost its colon` is not a header line"
        )) && run
            .stderr
            .contains(&format!("{file}:6: `abc` is not an HTTP status")),
        "{}",
        run.stderr
    );
    let file = write("prose.txt", b"the gateway is slow today, please help\n");
    let run = analyze(&[&file]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("has no HTTP status line"),
        "{}",
        run.stderr
    );
    let run = analyze(&["/nonexistent/evidence.har"]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("cannot be read"), "{}", run.stderr);
}

/// A probe report written today and read back: the same verdict.
#[tokio::test]
async fn a_probe_report_is_judged_again() {
    let server = ratecheck::mock::MockServer::start(
        ratecheck::mock::MockConfig {
            chunk_delay: Duration::from_millis(1),
            ..ratecheck::mock::MockConfig::default()
        },
        0,
    )
    .await
    .unwrap();
    let url = server.url();
    let json = dir().join("probe.json").display().to_string();
    let probe = ratecheck(
        &["probe", &url, "--format", "json", "-o", &json],
        &[("RATECHECK_API_KEY", "sk-rejudge-key-0000000000")],
    )
    .await;
    let again = analyze(&[&json, "--format", "json", "--counters", "auto"]).await;
    let a: serde_json::Value = serde_json::from_str(&probe.stdout).unwrap();
    let b: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(again.code, probe.code, "{}", again.stderr);
    assert_eq!(a["findings"], b["findings"], "{b:#}");
    assert_eq!(b["evidence"][0], json.as_str());
    server.shutdown().await;
}

/// Secrets anywhere a HAR can carry them — request credentials, cookies, the URL's password
/// and query, a key in the request body, an error body echoing the key — stay out of every
/// format, the written report and stderr.
#[tokio::test]
async fn secrets_in_the_evidence_never_reach_an_output() {
    const KEY: &str = "gw-planted-evidence-7c6b5a";
    const COOKIE: &str = "sess-planted-3d2e1f";
    const PASSWORD: &str = "pw-planted-evidence-9a8b";
    const QUERY: &str = "q-planted-evidence-4f5e";
    let mut e = entry(false, 9);
    e["request"]["url"] = serde_json::Value::String(format!(
        "https://alice:{PASSWORD}@gw.example.com/v1/chat/completions?key={QUERY}"
    ));
    e["request"]["headers"] = serde_json::json!([
        {"name": "Authorization", "value": format!("Bearer {KEY}")},
        {"name": "x-api-key", "value": KEY},
        {"name": "Cookie", "value": format!("session={COOKIE}")}
    ]);
    e["request"]["postData"]["text"] =
        serde_json::Value::String(format!("{{\"api_key\":\"{KEY}\"}}"));
    let mut refused = entry(false, 0);
    refused["response"]["status"] = serde_json::json!(401);
    refused["response"]["content"]["text"] = serde_json::Value::String(format!(
        "{{\"error\":{{\"message\":\"bad key {KEY} for session {COOKIE}\",\"type\":\"auth\"}}}}"
    ));
    refused["response"]["headers"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"name": "set-cookie", "value": format!("session={COOKIE}")}));
    let file = write("secrets.har", har(&[e, entry(true, 0), refused]).as_bytes());
    for format in ["table", "json", "markdown"] {
        let out = dir()
            .join(format!("secrets.{format}"))
            .display()
            .to_string();
        let run = analyze(&[&file, "--format", format, "-o", &out]).await;
        let written = std::fs::read_to_string(&out).unwrap();
        for (what, text) in [
            ("stdout", &run.stdout),
            ("stderr", &run.stderr),
            ("-o", &written),
        ] {
            for planted in [KEY, COOKIE, PASSWORD, QUERY] {
                assert!(
                    !text.contains(planted),
                    "{format} {what} leaks {planted}:\n{text}"
                );
            }
        }
        assert!(run.stdout.contains("gw.example.com"), "{}", run.stdout);
    }
}

/// `triage --from`: the support bundle from a customer's HAR, no request sent, the key out.
#[tokio::test]
async fn a_bundle_is_written_from_evidence() {
    let mut e = entry(false, 9);
    e["request"]["headers"] =
        serde_json::json!([{"name": "Authorization", "value": "Bearer gw-bundle-key-5e4d3c"}]);
    let file = write("bundle.har", har(&[e, entry(true, 0)]).as_bytes());
    let out = dir().join("bundle.md").display().to_string();
    let run = ratecheck(&["triage", "--from", &file, "--out", &out], &[]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let bundle = std::fs::read_to_string(&out).unwrap();
    for needle in [
        "# ratecheck triage: `https://gw.example.com/`",
        "- evidence: `",
        "litellm_v3_streaming_drop",
        "Not checked: the bundle was written from evidence",
    ] {
        assert!(bundle.contains(needle), "no `{needle}` in:\n{bundle}");
    }
    assert!(!bundle.contains("gw-bundle-key-5e4d3c") && !run.stdout.contains("gw-bundle-key"));
    assert!(
        run.stdout.contains("triage bundle written to"),
        "{}",
        run.stdout
    );
}

/// `record` listens on loopback only unless told otherwise, and a gateway that is down gives
/// the client a 502 that says so, and the operator the same line with a hint.
#[tokio::test]
async fn record_refuses_remote_listening_and_names_a_dead_upstream() {
    ratecheck::http::install_crypto_provider();
    for listen in ["0.0.0.0:0", "[::]:0"] {
        let run = ratecheck(
            &[
                "record",
                "--upstream",
                "http://127.0.0.1:9",
                "--listen",
                listen,
            ],
            &[],
        )
        .await;
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(
            run.stderr.contains("refusing to listen on") && run.stderr.contains("--allow-remote"),
            "{}",
            run.stderr
        );
    }
    let run = ratecheck(
        &[
            "record",
            "--upstream",
            "http://127.0.0.1:9",
            "--listen",
            "here",
        ],
        &[],
    )
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);

    let port = crate::support::free_port();
    let listen = format!("127.0.0.1:{port}");
    let dead = crate::support::free_port();
    let upstream = format!("http://127.0.0.1:{dead}");
    let args = [
        "record",
        "--upstream",
        &upstream,
        "--listen",
        &listen,
        "--duration",
        "2s",
    ];
    let recorder = ratecheck(&args, &[]);
    let client = async {
        crate::support::wait_until_listening(port, "ratecheck record").await;
        let r = reqwest::Client::new()
            .post(format!("http://{listen}/v1/chat/completions"))
            .body("{}")
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    };
    let (run, (status, body)) = tokio::join!(recorder, client);
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("did not answer"), "{body}");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("loopback only")
            && run.stderr.contains("→ 502 from the recorder")
            && run.stderr.contains("Connection refused"),
        "{}",
        run.stderr
    );
}

/// A HAR whose bodies were left out (a sanitized export, a proxy that kept only headers): the
/// shapes come from `content-type` and the request's `stream`, the drop is still named, and
/// the report says how it read them. An HTTP/2 `curl -i` paste reads the same.
#[tokio::test]
async fn bodiless_hars_and_http2_dumps_are_read() {
    let mut entries = vec![entry(false, 9), entry(true, 0)];
    for e in &mut entries {
        e["response"]["content"] = serde_json::json!({"size": 120, "mimeType": "application/json"});
    }
    let file = write("bodiless.har", har(&entries).as_bytes());
    let run = analyze(&[&file, "--format", "json"]).await;
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(run.code, 1, "{}\n{report:#}", run.stderr);
    assert_eq!(
        crate::support::finding_kinds(&report),
        vec!["litellm_v3_streaming_drop"]
    );
    assert_eq!(report["exchanges"][1]["shape"], "sse", "{report:#}");
    assert!(
        report["notes"]
            .to_string()
            .contains("2 responses have no body"),
        "{report:#}"
    );

    let dump = "HTTP/2 200 \r\ncontent-type: application/json\r\nx-litellm-version: 1.106.12\r\nx-ratelimit-api_key-remaining-requests: 9\r\nx-ratelimit-api_key-limit-requests: 10\r\n\r\n{\"object\":\"chat.completion\",\"choices\":[]}\r\nHTTP/2 200 \r\ncontent-type: text/event-stream\r\nx-litellm-version: 1.106.12\r\n\r\ndata: {\"object\":\"chat.completion.chunk\",\"choices\":[]}\r\n\r\ndata: [DONE]\r\n";
    let file = write("http2.txt", dump.as_bytes());
    let run = analyze(&[&file, "--format", "json"]).await;
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(run.code, 1, "{}\n{report:#}", run.stderr);
    assert_eq!(
        crate::support::finding_kinds(&report),
        vec!["litellm_v3_streaming_drop"]
    );
    assert_eq!(
        report["exchanges"][1]["stream"]["end"], "[DONE]",
        "{report:#}"
    );
}

/// A run report's exchanges (`run --report-json`) are evidence too: the shipped LiteLLM
/// scenario's run on the `litellm-v3` simulator, judged again, shows both drops.
#[tokio::test]
async fn a_run_report_is_judged_again() {
    let server = ratecheck::mock::MockServer::start(
        ratecheck::mock::MockConfig {
            chunk_delay: Duration::from_millis(1),
            ..ratecheck::mock::MockConfig::default()
        },
        0,
    )
    .await
    .unwrap();
    let url = server.url();
    let scenario = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/litellm-v3-streaming-headers.yaml")
        .display()
        .to_string();
    let json = dir().join("run.json").display().to_string();
    let run = ratecheck(
        &["run", &scenario, "--target", &url, "--report-json", &json],
        &[("RATECHECK_API_KEY", "sk-rejudge-run-0000000000")],
    )
    .await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let again = analyze(&[&json, "--format", "json"]).await;
    let report: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(again.code, 1, "{}", again.stderr);
    // The simulator's `litellm-v3` profile drops them on plain dicts too, as 1.77–1.101 did.
    assert_eq!(
        crate::support::finding_kinds(&report),
        vec!["litellm_v3_streaming_drop", "litellm_v3_plain_dict_drop"],
        "{report:#}"
    );
    assert!(report["exchanges"].as_array().unwrap().len() > 9);
    server.shutdown().await;
}

/// A stream longer than the 16 MiB the recorder keeps is relayed whole, and judged by its
/// headers — never as a copy cut short that would read as a broken stream.
#[tokio::test]
async fn record_relays_a_17_mib_stream_whole_and_does_not_call_it_cut() {
    use axum::response::IntoResponse;
    ratecheck::http::install_crypto_provider();
    let chunk = format!(
        "data: {{\"object\":\"chat.completion.chunk\",\"choices\":[{{\"delta\":{{\"content\":\"{}\"}}}}]}}\n\n",
        "x".repeat(1000)
    );
    let events = 17 * 1024 * 1024 / chunk.len() + 1;
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move || {
            let chunk = chunk.clone();
            async move {
                let mut body = chunk.repeat(events);
                body.push_str("data: [DONE]\n\n");
                ([("content-type", "text/event-stream")], body).into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let port = crate::support::free_port();
    let listen = format!("127.0.0.1:{port}");
    let args = [
        "record",
        "--upstream",
        &upstream,
        "--listen",
        &listen,
        "--duration",
        "4s",
        "--format",
        "json",
    ];
    let recorder = ratecheck(&args, &[]);
    let client = async {
        crate::support::wait_until_listening(port, "ratecheck record").await;
        reqwest::Client::new()
            .post(format!("http://{listen}/v1/chat/completions"))
            .body("{\"stream\":true}")
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
    };
    let (run, body) = tokio::join!(recorder, client);
    server.abort();
    assert!(body.len() > 17 * 1024 * 1024 && body.ends_with(b"data: [DONE]\n\n"));
    let report: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout, run.stderr));
    assert_eq!(run.code, 0, "{}\n{report:#}", run.stderr);
    assert!(
        crate::support::finding_kinds(&report).is_empty(),
        "{report:#}"
    );
    assert!(
        report["notes"]
            .to_string()
            .contains("too large to keep a copy of"),
        "{report:#}"
    );
}

/// A paste that stops mid-stream proves nothing about the gateway: the stream without its end
/// is a warning (exit 0; 1 with `--strict`), while the drop it shows is still a finding.
#[tokio::test]
async fn a_paste_cut_mid_stream_is_a_warning_not_an_accusation() {
    let dump = "HTTP/1.1 200 OK\ncontent-type: text/event-stream\nx-ratelimit-remaining-requests: 99\nx-ratelimit-limit-requests: 100\n\ndata: {\"object\":\"chat.completion.chunk\",\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\ndata: {\"object\":\"chat.comp\n";
    let file = write("cut-paste.txt", dump.as_bytes());
    let run = analyze(&[&file, "--format", "json"]).await;
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(run.code, 0, "{}\n{report:#}", run.stderr);
    let warnings: Vec<&str> = report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["kind"].as_str().unwrap())
        .collect();
    assert_eq!(warnings, ["broken_response"], "{report:#}");
    assert!(
        report["warnings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("the evidence may stop short"),
        "{report:#}"
    );
    let strict = analyze(&[&file, "--strict"]).await;
    assert_eq!(strict.code, 1, "{}", strict.stdout);
}

/// A browser's HAR with calls to two gateways: only the one most calls went to is judged, so
/// one host's stream is never compared with another's JSON; the other is named in a note.
#[tokio::test]
async fn calls_to_another_gateway_are_left_aside() {
    let mut healthy_stream = entry(true, 0);
    healthy_stream["response"]["headers"]
        .as_array_mut()
        .unwrap()
        .extend([
            serde_json::json!({"name": "x-ratelimit-api_key-remaining-requests", "value": "8"}),
            serde_json::json!({"name": "x-ratelimit-api_key-limit-requests", "value": "1000"}),
        ]);
    let mut elsewhere = entry(true, 0);
    elsewhere["request"]["url"] =
        serde_json::Value::String("https://other.example.net/v1/chat/completions".into());
    let file = write(
        "two-gateways.har",
        har(&[entry(false, 9), healthy_stream, elsewhere]).as_bytes(),
    );
    let run = analyze(&[&file, "--format", "json"]).await;
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(run.code, 0, "{}\n{report:#}", run.stderr);
    assert!(
        crate::support::finding_kinds(&report).is_empty(),
        "{report:#}"
    );
    assert_eq!(report["exchanges"].as_array().unwrap().len(), 2);
    assert!(
        report["notes"]
            .to_string()
            .contains("1 exchange with other gateways left aside (https://other.example.net/)"),
        "{report:#}"
    );
}
