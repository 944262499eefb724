//! The proof on a real LiteLLM proxy: `litellm[proxy]==1.106.12`, installed by
//! `tests/litellm/setup.sh`, started on 127.0.0.1 with keys that carry rpm/tpm limits and a
//! model that needs no upstream (`tests/litellm/`).
//!
//! Two proxies: as released (`config.yaml`), where ratecheck must exit 1 and name the missing
//! `x-ratelimit-api_key-*` headers on every streaming endpoint, and with the documented
//! workaround callback (`config-fixed.yaml`), where it must exit 0.
//!
//! Run alone: `tests/litellm/setup.sh && cargo test --test it litellm_e2e`.
//! The executable comes from `RATECHECK_LITELLM`, else the setup script's default location.
//! Set `RATECHECK_SKIP_LITELLM=1` to skip on a machine without Python (CI never does).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{finding_kinds, ratecheck};

pub(crate) const COUNTERS: [&str; 4] = [
    "x-ratelimit-api_key-limit-requests",
    "x-ratelimit-api_key-limit-tokens",
    "x-ratelimit-api_key-remaining-requests",
    "x-ratelimit-api_key-remaining-tokens",
];

pub(crate) const STREAMS: [&str; 4] = [
    "streaming chat/completions",
    "streaming completions",
    "streaming messages",
    "streaming responses",
];

pub(crate) fn litellm_bin() -> Option<PathBuf> {
    if std::env::var("RATECHECK_SKIP_LITELLM").is_ok_and(|v| v == "1") {
        return None;
    }
    let bin =
        std::env::var("RATECHECK_LITELLM").map_or_else(|_| release_path("1.106.12"), PathBuf::from);
    assert!(
        bin.exists(),
        "LiteLLM is not installed at {}: run tests/litellm/setup.sh (or set RATECHECK_SKIP_LITELLM=1)",
        bin.display()
    );
    Some(bin)
}

/// Where `tests/litellm/setup.sh` installs `release`'s `litellm` executable.
pub(crate) fn release_path(release: &str) -> PathBuf {
    let home = std::env::var("RATECHECK_LITELLM_HOME").map_or_else(
        |_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/ratecheck"),
        PathBuf::from,
    );
    home.join(format!("litellm-{release}/bin/litellm"))
}

/// `release`'s executable, or `None` when the LiteLLM tests are skipped.
pub(crate) fn release_bin(release: &str) -> Option<PathBuf> {
    if std::env::var("RATECHECK_SKIP_LITELLM").is_ok_and(|v| v == "1") {
        return None;
    }
    let bin = release_path(release);
    assert!(
        bin.exists(),
        "LiteLLM {release} is not installed at {}: run tests/litellm/setup.sh (or set RATECHECK_SKIP_LITELLM=1)",
        bin.display()
    );
    Some(bin)
}

/// A process (a proxy, an upstream), killed with its process group when dropped.
pub(crate) struct Proxy {
    pub(crate) child: Child,
    pub(crate) url: String,
    pub(crate) log: PathBuf,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let pgid = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-s", "TERM", "--", &pgid])
            .status();
        std::thread::sleep(Duration::from_millis(300));
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &pgid])
            .status();
        let _ = self.child.wait();
    }
}

async fn start_proxy(bin: &PathBuf, config: &str, port: u16) -> Proxy {
    start_proxy_with(bin, config, port, &[]).await
}

/// Boots `bin` with `config` on 127.0.0.1:`port`, with extra environment, and waits (bounded)
/// until it is healthy.
pub(crate) async fn start_proxy_with(
    bin: &PathBuf,
    config: &str,
    port: u16,
    env: &[(&str, &str)],
) -> Proxy {
    use std::os::unix::process::CommandExt;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/litellm");
    let log = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("ratecheck-litellm-{port}.log"));
    let log_file = std::fs::File::create(&log).unwrap();
    let master = format!("sk-master-{:032x}", rand_u128());
    let child = Command::new(bin)
        .args([
            "--config",
            config,
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--num_workers",
            "1",
        ])
        .current_dir(&dir)
        .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        .env("LITELLM_TELEMETRY", "False")
        .env("LITELLM_MASTER_KEY", master)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .envs(env.iter().copied())
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_HOST")
        .env_remove("REDIS_URL")
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file)
        .process_group(0)
        .spawn()
        .expect("start litellm");
    let mut proxy = Proxy {
        child,
        url: format!("http://127.0.0.1:{port}"),
        log,
    };
    let health = format!("{}/health/liveliness", proxy.url);
    let deadline = Instant::now() + Duration::from_mins(2);
    loop {
        // Healthy means this process answers: one that exited (a port taken after all, a crash
        // at boot) is reported with its status, never mistaken for whatever else answers there.
        if let Ok(Some(status)) = proxy.child.try_wait() {
            panic!(
                "LiteLLM on port {port} exited at boot ({status}); its log:\n{}",
                std::fs::read_to_string(&proxy.log).unwrap_or_default()
            );
        }
        if let Ok(r) = reqwest::get(&health).await
            && r.status().is_success()
        {
            return proxy;
        }
        assert!(
            Instant::now() < deadline,
            "LiteLLM did not become healthy in 120 s; its log:\n{}",
            std::fs::read_to_string(&proxy.log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The proxy as released and the proxy with the workaround callback, booted side by side.
pub(crate) async fn released_and_fixed(bin: &PathBuf) -> (Proxy, Proxy) {
    let (p1, p2) = two_free_ports();
    tokio::join!(
        start_proxy(bin, "config.yaml", p1),
        start_proxy(bin, "config-fixed.yaml", p2)
    )
}

/// Two free loopback ports, distinct from every other port this test process handed out.
pub(crate) fn two_free_ports() -> (u16, u16) {
    (crate::support::free_port(), crate::support::free_port())
}

pub(crate) fn rand_u128() -> u128 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    t.as_nanos() ^ (u128::from(std::process::id()) << 64)
}

/// A fresh key (fresh counters) with rpm/tpm limits encoded for `ratecheck_auth.py`.
pub(crate) fn key(rpm: u32, tpm: u32) -> String {
    format!("sk-rc-{rpm}-{tpm}-{:x}", rand_u128())
}

pub(crate) async fn probe_json(
    url: &str,
    key: &str,
    extra: &[&str],
) -> (i32, serde_json::Value, String) {
    let mut args = vec!["probe", url, "--format", "json", "--timeout", "60s"];
    args.extend_from_slice(extra);
    let run = ratecheck(&args, &[("RATECHECK_API_KEY", key)]).await;
    let json = serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "probe JSON: {e}\nstdout: {}\nstderr: {}",
            run.stdout, run.stderr
        )
    });
    assert!(
        !run.stdout.contains(key) && !run.stderr.contains(key),
        "the key leaked"
    );
    (run.code, json, run.stderr)
}

pub(crate) fn names(ex: &serde_json::Value) -> Vec<String> {
    ex["rate_headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_litellm_drops_headers_on_streams_and_the_workaround_restores_them() {
    let Some(bin) = litellm_bin() else { return };
    ratecheck::http::install_crypto_provider();
    let (released, fixed) = released_and_fixed(&bin).await;

    // As released: exit 1, the drop named, the exact counters missing on every stream.
    let (code, report, stderr) = probe_json(&released.url, &key(1000, 1_000_000), &[]).await;
    assert_eq!(code, 1, "{stderr}\n{report:#}");
    assert_eq!(report["gateway"]["name"], "LiteLLM");
    assert_eq!(report["gateway"]["version"], "1.106.12");
    assert_eq!(report["model"], "ratecheck-model");
    let drop = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "litellm_v3_streaming_drop")
        .unwrap_or_else(|| panic!("no v3 drop finding: {report:#}"));
    let mut missing: Vec<String> = drop["missing_on"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().into())
        .collect();
    missing.sort();
    assert_eq!(missing, STREAMS);
    // One finding per defect: the drop names its headers, and no twin repeats it.
    assert_eq!(drop["headers"], serde_json::json!(COUNTERS));
    assert_eq!(drop["level"], "finding");
    assert_eq!(
        report["findings"].as_array().unwrap().len(),
        1,
        "{report:#}"
    );
    for ex in report["exchanges"].as_array().unwrap() {
        let variant = format!("{} {}", ex["variant"]["mode"], ex["variant"]["endpoint"]);
        let have = names(ex);
        let has_all = COUNTERS.iter().all(|c| have.contains(&c.to_string()));
        assert_eq!(ex["status"], 200, "{variant}: {ex:#}");
        if ex["variant"]["mode"] == "streaming" {
            assert_eq!(ex["shape"], "sse", "{variant}");
            assert!(
                !COUNTERS.iter().any(|c| have.contains(&c.to_string())),
                "{variant}: {have:?}"
            );
            assert!(
                have.contains(&"x-litellm-key-rpm-limit".to_string()),
                "{variant}"
            );
            assert!(
                ex["stream"]["end"].is_string(),
                "{variant}: stream read to its end"
            );
        } else {
            assert!(has_all, "{variant}: {have:?}");
        }
    }
    // No counter inconsistencies: remaining-requests falls by one per request, streams included.
    assert!(
        !report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "counter_mismatch"),
        "{report:#}"
    );

    // With the workaround callback: exit 0, every shape carries the counters, over two rounds.
    let (code, report, stderr) =
        probe_json(&fixed.url, &key(1000, 1_000_000), &["--repeat", "2"]).await;
    assert_eq!(code, 0, "{stderr}\n{report:#}");
    assert_eq!(report["exchanges"].as_array().unwrap().len(), 18);
    for ex in report["exchanges"].as_array().unwrap() {
        let have = names(ex);
        assert!(
            COUNTERS.iter().all(|c| have.contains(&c.to_string())),
            "{ex:#}"
        );
    }

    // A key with room for one request: LiteLLM's own 429 follows, and the probe says so.
    // On 1.106.12 the 429 from /v1/chat/completions carries `retry-after`, while the one from
    // /v1/completions carries no rate-limit header at all; both are recorded as they are.
    let (code, report, _) = probe_json(
        &released.url,
        &key(1, 1_000_000),
        &["--endpoints", "chat,completions"],
    )
    .await;
    // Being refused during the probe is a warning, not a defect of the gateway: exit 0.
    assert_eq!(code, 0, "{report:#}");
    let exchanges = report["exchanges"].as_array().unwrap();
    let statuses: Vec<i64> = exchanges
        .iter()
        .map(|e| e["status"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, [200, 429, 429, 429], "{report:#}");
    let chat_429 = names(&exchanges[1]);
    for h in ["retry-after", "rate_limit_type", "reset_at"] {
        assert!(
            chat_429.contains(&h.to_string()),
            "{h} on the chat 429: {chat_429:?}"
        );
    }
    assert!(!names(&exchanges[2]).contains(&"retry-after".to_string()));
    assert!(report["warnings"].as_array().unwrap().iter().any(|f| {
        f["kind"] == "endpoint_error"
            && f["message"]
                .as_str()
                .unwrap()
                .contains("rate limited during the probe (429)")
    }));
}

/// Runs a scenario file against `url` with `key`, returning the exit code, stdout and the JSON
/// report.
async fn run_scenario(file: &str, url: &str, key: &str) -> (i32, String, serde_json::Value) {
    let json = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "ratecheck-e2e-{}-{:x}.json",
        std::process::id(),
        rand_u128()
    ));
    let run = ratecheck(
        &[
            "run",
            file,
            "--target",
            url,
            "--timeout",
            "60s",
            "--report-json",
            &json.display().to_string(),
        ],
        &[("LITELLM_API_KEY", key)],
    )
    .await;
    assert!(
        !run.stdout.contains(key) && !run.stderr.contains(key),
        "the key leaked"
    );
    let text = std::fs::read_to_string(&json).unwrap_or_default();
    assert!(!text.contains(key), "the key leaked into the report");
    let report = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("run JSON: {e}\n{}\n{}", run.stdout, run.stderr));
    (run.code, run.stdout, report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipped_litellm_scenario_gives_the_probes_verdict_on_real_litellm() {
    let Some(bin) = litellm_bin() else { return };
    ratecheck::http::install_crypto_provider();
    let (released, fixed) = released_and_fixed(&bin).await;
    let scenario = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/litellm-v3-streaming-headers.yaml")
        .display()
        .to_string();

    // As released: exit 1 like the probe, with the same named finding, and the non-streaming
    // request steps passing while the streaming ones fail.
    let (code, stdout, report) =
        run_scenario(&scenario, &released.url, &key(1000, 1_000_000)).await;
    assert_eq!(code, 1, "{stdout}");
    let steps = report["scenarios"][0]["steps"].as_array().unwrap();
    let kinds = finding_kinds(&steps[0]);
    assert!(
        kinds.iter().any(|k| k == "litellm_v3_streaming_drop"),
        "{kinds:?}"
    );
    assert!(!kinds.iter().any(|k| k == "counter_mismatch"), "{kinds:?}");
    for step in &steps[1..] {
        let streaming = step["name"].as_str().unwrap().contains(" streaming ");
        let all_passed = step["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["passed"] == true);
        assert_eq!(all_passed, !streaming, "{step:#}");
    }

    // With the workaround callback: exit 0, like the probe.
    let (code, stdout, _) = run_scenario(&scenario, &fixed.url, &key(1000, 1_000_000)).await;
    assert_eq!(code, 0, "{stdout}");

    // The 429 contract on LiteLLM's own refusals (without the 60 s recovery wait): the chat
    // refusal keeps it; the completions refusal carries no `retry-after` on 1.106.12.
    let file = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("ratecheck-e2e-429-{}.yaml", std::process::id()));
    std::fs::write(
        &file,
        "steps:\n  - for_each:\n      endpoints: [chat, completions]\n      steps:\n        - exhaust:\n            max_requests: 10\n            recover: false\n",
    )
    .unwrap();
    let (code, stdout, report) = run_scenario(
        &file.display().to_string(),
        &released.url,
        &key(2, 1_000_000),
    )
    .await;
    assert_eq!(code, 1, "{stdout}");
    let steps = report["scenarios"][0]["steps"].as_array().unwrap();
    let failed = |i: usize| -> Vec<String> {
        steps[i]["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["passed"] == false)
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(failed(0).is_empty(), "chat: {:?}\n{stdout}", failed(0));
    assert_eq!(
        steps[0]["notes"][0],
        "2 requests accepted, then request 3 refused with 429"
    );
    assert_eq!(failed(1), ["the refusal says when to retry"], "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_load_on_real_litellm_matches_the_probe_and_backs_off_per_retry_after() {
    let Some(bin) = litellm_bin() else { return };
    ratecheck::http::install_crypto_provider();
    let (port, _) = two_free_ports();
    let proxy = start_proxy(&bin, "config.yaml", port).await;

    let (_, probe, _) =
        probe_json(&proxy.url, &key(1000, 1_000_000), &["--endpoints", "chat"]).await;
    let probe_kinds = finding_kinds(&probe);

    // 8 requests a minute, asked for 4 a second for 4 s, half of them streamed.
    let k = key(8, 1_000_000);
    let run = ratecheck(
        &[
            "load",
            &proxy.url,
            "--rate",
            "4",
            "--duration",
            "4s",
            "--stream-fraction",
            "0.5",
            "--format",
            "json",
            "--timeout",
            "60s",
        ],
        &[("RATECHECK_API_KEY", k.as_str())],
    )
    .await;
    assert!(
        !run.stdout.contains(&k) && !run.stderr.contains(&k),
        "the key leaked"
    );
    let report: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("load JSON: {e}\n{}\n{}", run.stdout, run.stderr));
    assert_eq!(run.code, 1, "{report:#}");
    let kinds = finding_kinds(&report);
    // The same named drop as the probe, and nothing the probe did not see but the load
    // findings about LiteLLM's own refusals.
    let want = "litellm_v3_streaming_drop".to_string();
    assert!(probe_kinds.contains(&want), "probe: {probe_kinds:?}");
    assert!(kinds.contains(&want), "load: {kinds:?}\n{report:#}");
    assert!(!kinds.contains(&"early_throttle".to_string()), "{report:#}");
    // LiteLLM answers the 9th request with 429 and `retry-after: 60`: the run honours it, so
    // everything after the first refusal is held, not sent.
    assert_eq!(report["requests"]["succeeded"], 8, "{report:#}");
    assert!(
        report["hints"]["retry_after_seconds"].as_u64().unwrap() >= 1,
        "{report:#}"
    );
    assert!(
        report["schedule"]["held_by_pause"].as_u64().unwrap() >= 4,
        "{report:#}"
    );
    let first = report["truth"]["first_429"]["at_ms"].as_f64().unwrap();
    let after: u64 = report["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .filter(|(i, _)| (*i as f64) * 1000.0 > first + 1000.0)
        .map(|(_, s)| s["sent"].as_u64().unwrap())
        .sum();
    assert_eq!(after, 0, "sent during the advised wait: {report:#}");
    assert_eq!(report["latency"]["from_intended"]["count"], 8);
}
