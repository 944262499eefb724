//! Three real LiteLLM releases, each with its own verdict: 1.90.0 (the plain-dict era), 1.106.12
//! and 1.110.2 (the newest that boots), installed by `tests/litellm/setup.sh` (what each was
//! measured to send is in `tests/litellm/MEASURED.md`).
//!
//! On each: the streaming drop, and the plain-dict drop only where the release has it; the
//! release's known defects named; counters that fall by one per request; requests the limiter
//! counted that then failed in the model (a 500, a 404), which must not be read as another
//! client on the key; and the legacy limiter in front of an upstream that sends its own
//! `x-ratelimit-*`, whose values stand on streams where the proxy's were.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::litellm_e2e::{
    COUNTERS, Proxy, STREAMS, key, probe_json, release_bin, start_proxy_with, two_free_ports,
};

const RELEASES: [&str; 3] = ["1.90.0", "1.106.12", "1.110.2"];

fn kinds(list: &serde_json::Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap().to_string())
        .collect()
}

/// Every `x-ratelimit-api_key-remaining-requests` in send order, with its request number.
fn remaining(report: &serde_json::Value) -> Vec<(i64, i64)> {
    report["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|ex| {
            let h = ex["rate_headers"]
                .as_array()?
                .iter()
                .find(|h| h["name"] == "x-ratelimit-api_key-remaining-requests")?;
            Some((ex["seq"].as_i64()?, h["value"].as_str()?.parse().ok()?))
        })
        .collect()
}

/// One release on `config-failing.yaml`: the shipped limiter, plus models that fail after
/// admission.
async fn release_verdict(release: &'static str) {
    let Some(bin) = release_bin(release) else {
        return;
    };
    let (port, _) = two_free_ports();
    let proxy = start_proxy_with(&bin, "config-failing.yaml", port, &[]).await;

    shipped_verdict(release, &proxy.url).await;
    failed_requests_still_count(release, &proxy.url).await;
    model_404_is_upstream(release, &proxy.url).await;
    drop(proxy);
}

/// As released: exit 1, one finding per defect of this release, its known defects named,
/// counters that fall by one per request.
async fn shipped_verdict(release: &str, url: &str) {
    // As released: exit 1, one finding per defect of this release, nothing else.
    let (code, report, stderr) = probe_json(url, &key(1000, 1_000_000), &["--repeat", "2"]).await;
    assert_eq!(code, 1, "{release}: {stderr}\n{report:#}");
    assert_eq!(report["gateway"]["version"], release, "{report:#}");
    let found = kinds(&report["findings"]);
    let plain_dict_era = release == "1.90.0";
    let want: Vec<&str> = if plain_dict_era {
        vec!["litellm_v3_streaming_drop", "litellm_v3_plain_dict_drop"]
    } else {
        vec!["litellm_v3_streaming_drop"]
    };
    assert_eq!(found, want, "{release}: {report:#}");
    let streaming = &report["findings"][0];
    assert_eq!(
        streaming["headers"],
        serde_json::json!(COUNTERS),
        "{release}"
    );
    let mut missing: Vec<&str> = streaming["missing_on"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    missing.sort_unstable();
    assert_eq!(missing, STREAMS, "{release}");
    if plain_dict_era {
        assert_eq!(
            report["findings"][1]["missing_on"],
            serde_json::json!(["non-streaming messages"]),
            "{release}"
        );
    }
    assert!(
        !kinds(&report["warnings"]).contains(&"counter_mismatch".to_string()),
        "{release}: {report:#}"
    );
    // The release's known defects, and whether this probe saw them.
    let notes: Vec<&str> = report["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    let known = |what: &str| {
        notes.iter().any(|n| {
            n.starts_with(&format!("LiteLLM {release} has a known defect")) && n.contains(what)
        })
    };
    assert!(known("every streaming response"), "{release}: {notes:?}");
    assert_eq!(known("plain-dict"), plain_dict_era, "{release}: {notes:?}");
    // LiteLLM counts every request, streams included: one per request between two readings.
    let points = remaining(&report);
    assert!(points.len() >= 8, "{release}: {points:?}");
    for pair in points.windows(2) {
        let ((s0, v0), (s1, v1)) = (pair[0], pair[1]);
        assert_eq!(v0 - v1, s1 - s0, "{release}: {points:?}");
    }
}

/// Requests that fail in the model after admission still use quota: chat and completions
/// answer 500 here, embeddings succeed. Between the two embeddings the counter falls by
/// five, for one success: every request the gateway answered counted. (Responses and
/// messages are left out: 1.90.0 answers a failing model's stream there with a 200 and
/// three events that never end, a broken response of its own.)
async fn failed_requests_still_count(release: &str, url: &str) {
    let (code, report, stderr) = probe_json(
        url,
        &key(1000, 1_000_000),
        &[
            "--repeat",
            "2",
            "--endpoints",
            "chat,completions,embeddings",
            "--model",
            "ratecheck-failing",
            "--embedding-model",
            "ratecheck-model",
        ],
    )
    .await;
    assert_eq!(code, 0, "{release}: {stderr}\n{report:#}");
    assert!(
        report["findings"].as_array().unwrap().is_empty(),
        "{release}: {report:#}"
    );
    let warned = kinds(&report["warnings"]);
    assert!(
        !warned.contains(&"counter_mismatch".to_string()),
        "{release}: {report:#}"
    );
    assert!(
        warned.iter().all(|k| k == "upstream_error"),
        "{release}: {warned:?}"
    );
    assert!(!warned.is_empty(), "{release}: {report:#}");
    let points = remaining(&report);
    assert_eq!(points.len(), 2, "{release}: {points:?}");
    assert_eq!(points[0].1 - points[1].1, 5, "{release}: {points:?}");
}

/// A model that answers 404 behind the gateway: the endpoint is offered, its model failed.
async fn model_404_is_upstream(release: &str, url: &str) {
    let (_, report, _) = probe_json(
        url,
        &key(1000, 1_000_000),
        &["--endpoints", "chat", "--model", "ratecheck-failing-404"],
    )
    .await;
    let shapes: Vec<&str> = report["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["shape"].as_str().unwrap())
        .collect();
    assert!(!shapes.contains(&"not_offered"), "{release}: {report:#}");
    assert!(
        kinds(&report["warnings"]).contains(&"upstream_error".to_string()),
        "{release}: {report:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_release_gets_its_own_verdict_and_failed_requests_still_count() {
    ratecheck::http::install_crypto_provider();
    tokio::join!(
        release_verdict(RELEASES[0]),
        release_verdict(RELEASES[1]),
        release_verdict(RELEASES[2])
    );
}

/// Starts `tests/litellm/upstream.py` on `port` with the release's own Python.
fn start_upstream(bin: &Path, port: u16) -> Proxy {
    start_script(bin, "upstream.py", port)
}

/// Starts `tests/litellm/SCRIPT PORT` with the release's own Python.
pub(crate) fn start_script(bin: &Path, script: &str, port: u16) -> Proxy {
    use std::os::unix::process::CommandExt;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/litellm");
    let python = bin.with_file_name("python");
    let log = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("ratecheck-{script}-{port}.log"));
    let file = std::fs::File::create(&log).unwrap();
    let child = Command::new(python)
        .arg(dir.join(script))
        .arg(port.to_string())
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .process_group(0)
        .spawn()
        .expect("start the upstream script");
    Proxy {
        child,
        url: format!("http://127.0.0.1:{port}"),
        log,
    }
}

/// The legacy limiter counts in clock minutes: a probe that straddles a minute's turn sees a
/// response without the proxy's headers. Wait out the last seconds of a minute first.
async fn away_from_a_minute_boundary() {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 60;
    if secs >= 45 {
        tokio::time::sleep(Duration::from_secs(61 - secs)).await;
    }
}

async fn legacy_behind_upstream(release: &'static str) {
    let Some(bin) = release_bin(release) else {
        return;
    };
    let (up_port, proxy_port) = two_free_ports();
    let upstream = start_upstream(&bin, up_port);
    let base = format!("{}/v1", upstream.url);
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::get(format!("{base}/models")).await.is_err() {
        assert!(Instant::now() < deadline, "upstream.py did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let proxy = start_proxy_with(
        &bin,
        "config-legacy-upstream.yaml",
        proxy_port,
        &[
            ("RATECHECK_UPSTREAM_BASE", base.as_str()),
            ("LEGACY_MULTI_INSTANCE_RATE_LIMITING", "true"),
        ],
    )
    .await;
    away_from_a_minute_boundary().await;
    let (code, report, stderr) = probe_json(
        &proxy.url,
        &key(500, 100_000),
        &[
            "--endpoints",
            "chat",
            "--model",
            "upstream-model",
            "--repeat",
            "2",
        ],
    )
    .await;
    // The proxy's own counters (limit 500) are missing on the stream, where the upstream's
    // (limit 10000, equal to their `llm_provider-` twins) stand in their names.
    assert_eq!(code, 1, "{release}: {stderr}\n{report:#}");
    assert_eq!(
        kinds(&report["findings"]),
        ["litellm_v3_streaming_drop"],
        "{release}: {report:#}"
    );
    let f = &report["findings"][0];
    assert_eq!(
        f["headers"],
        serde_json::json!([
            "x-ratelimit-limit-requests",
            "x-ratelimit-limit-tokens",
            "x-ratelimit-remaining-requests",
            "x-ratelimit-remaining-tokens"
        ]),
        "{release}: {report:#}"
    );
    assert_eq!(
        f["missing_on"],
        serde_json::json!(["streaming chat/completions"])
    );
    // The upstream's values on the stream are not read as the proxy's counter jumping.
    assert!(
        !kinds(&report["warnings"]).contains(&"counter_mismatch".to_string()),
        "{release}: {report:#}"
    );
    let stream = report["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["variant"]["mode"] == "streaming")
        .unwrap();
    let twin = stream["rate_headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "x-ratelimit-limit-requests")
        .unwrap();
    assert_eq!(twin["value"], "10000");
    assert_eq!(twin["passthrough"], true);
    drop(proxy);
    drop(upstream);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_limiter_behind_an_upstream_with_its_own_headers() {
    ratecheck::http::install_crypto_provider();
    tokio::join!(
        legacy_behind_upstream(RELEASES[0]),
        legacy_behind_upstream(RELEASES[1]),
        legacy_behind_upstream(RELEASES[2])
    );
}
