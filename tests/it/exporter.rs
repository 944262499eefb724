//! `ratecheck exporter`: a real Prometheus (Debian's, `tests/prometheus/setup.sh`) scraping it
//! over the simulator, the shipped deploy/prometheus/ files through promtool, what a scrape
//! costs the gateway, and bad input: unknown modules and targets, a hanging target, a
//! malformed configuration, planted secrets.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ratecheck::mock::{MockConfig, MockFleet, MockServer, Profile};

use crate::support::{Fault, faulty_server, free_port, ratecheck, wait_until_listening};

const KEY: &str = "sk-exporter-test-5ecret-0123456789abcdef";
const TENANT: &str = "tenant-token-9f8e7d6c5b4a";

/// A process this test started, killed by its PID when the test ends.
struct Proc {
    child: Child,
    stderr: Arc<Mutex<String>>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

/// A temporary folder of this test's own.
fn temp_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("ratecheck-exporter-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Starts `ratecheck exporter ARGS` on a free loopback port; returns it and its base URL.
fn exporter(args: &[&str], env: &[(&str, &str)]) -> (Proc, String) {
    // The test's own HTTP client needs it.
    ratecheck::http::install_crypto_provider();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ratecheck"));
    cmd.args(["exporter", "--listen", "127.0.0.1:0"]).args(args);
    for var in ["RATECHECK_API_KEY", "LITELLM_API_KEY", "OPENAI_API_KEY"] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start ratecheck exporter");
    let stderr = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let pipe = child.stderr.take().unwrap();
    let kept = stderr.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if let Some(at) = line.find("listening on http://") {
                let addr = line[at + "listening on ".len()..]
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                let _ = tx.send(addr);
            }
            kept.lock().unwrap().push_str(&line);
            kept.lock().unwrap().push('\n');
        }
    });
    let proc = Proc { child, stderr };
    let url = rx
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("the exporter did not start:\n{}", proc.stderr()));
    (proc, url)
}

/// One scrape: status and body.
async fn scrape(base: &str, target: &str, module: &str, timeout: Option<&str>) -> (u16, String) {
    let url = url::Url::parse_with_params(
        &format!("{base}/probe"),
        [("target", target), ("module", module)],
    )
    .unwrap();
    let mut req = reqwest::Client::new().get(url);
    if let Some(t) = timeout {
        req = req.header("X-Prometheus-Scrape-Timeout-Seconds", t);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The value of the series `line` starts (`name{labels}` as written), if the answer has it.
fn value(answer: &str, series: &str) -> Option<f64> {
    answer
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// A program of Debian's prometheus package, installed by tests/prometheus/setup.sh.
fn prometheus_tool(name: &str) -> PathBuf {
    let bin = match name {
        "prometheus" => std::env::var("RATECHECK_PROMETHEUS").ok(),
        _ => None,
    }
    .map_or_else(|| PathBuf::from("/usr/bin").join(name), PathBuf::from);
    assert!(
        bin.exists(),
        "{} is missing: run tests/prometheus/setup.sh",
        bin.display()
    );
    bin
}

/// `promtool check metrics` on an answer.
fn promtool_accepts(answer: &str) {
    let mut child = Command::new(prometheus_tool("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), answer.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics refused:\n{}{}\n{answer}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn sim(profile: Profile) -> MockConfig {
    MockConfig {
        profile,
        chunk_delay: Duration::from_millis(2),
        ..MockConfig::default()
    }
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

#[test]
fn the_shipped_prometheus_files_pass_promtool() {
    let promtool = prometheus_tool("promtool");
    for args in [
        vec!["check", "config", "deploy/prometheus/prometheus.yml"],
        vec!["test", "rules", "deploy/prometheus/rules_test.yml"],
    ] {
        let out = Command::new(&promtool)
            .args(&args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The example configuration is one the exporter reads.
    ratecheck::exporter::file::read(&repo("deploy/prometheus/exporter.yaml")).unwrap();
}

/// Waits (at most 60 s) until Prometheus's `query` gives a result `ok` accepts.
async fn prometheus_until(
    base: &str,
    path: &str,
    query: &[(&str, &str)],
    ok: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_mins(1);
    loop {
        let url = url::Url::parse_with_params(&format!("{base}{path}"), query).unwrap();
        let got: serde_json::Value = match reqwest::get(url).await {
            Ok(r) => r.json().await.unwrap_or_default(),
            Err(_) => serde_json::Value::Null,
        };
        if ok(&got) {
            return got;
        }
        assert!(Instant::now() < deadline, "{path} {query:?}: {got:#}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_sees_the_drop_and_fires_on_v3_only() {
    let v3 = MockServer::start(sim(Profile::LitellmV3), 0).await.unwrap();
    let fixed = MockServer::start(sim(Profile::LitellmFixed), 0)
        .await
        .unwrap();
    let (_exporter, base) = exporter(
        &["--target", &v3.url(), "--target", &fixed.url()],
        &[("RATECHECK_API_KEY", KEY)],
    );
    let dir = temp_dir("prometheus");
    let port = free_port();
    let exporter_addr = base.trim_start_matches("http://");
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global: {{scrape_interval: 2s, scrape_timeout: 2s, evaluation_interval: 1s}}
rule_files: [{rules}]
scrape_configs:
  - job_name: ratecheck-probe
    metrics_path: /probe
    params: {{module: [probe]}}
    static_configs: [{{targets: ['{v3}', '{fixed}']}}]
    relabel_configs:
      - {{source_labels: [__address__], target_label: __param_target}}
      - {{source_labels: [__param_target], target_label: instance}}
      - {{source_labels: [__param_module], target_label: module}}
      - {{target_label: __address__, replacement: '{exporter_addr}'}}
",
            rules = repo("deploy/prometheus/rules.yml").display(),
            v3 = v3.url(),
            fixed = fixed.url(),
        ),
    )
    .unwrap();
    let child = Command::new(prometheus_tool("prometheus"))
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    let _prometheus = Proc {
        child,
        stderr: Arc::default(),
    };
    wait_until_listening(port, "prometheus").await;
    let prom = format!("http://127.0.0.1:{port}");
    // The counter on streaming chat completions, by target.
    let query = "ratecheck_header_present{endpoint=\"chat/completions\",shape=\"stream\",header=\"x-ratelimit-api_key-remaining-requests\"}";
    let got = prometheus_until(&prom, "/api/v1/query", &[("query", query)], |v| {
        v["data"]["result"].as_array().is_some_and(|r| r.len() == 2)
    })
    .await;
    let by_instance = |url: String| {
        got["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["metric"]["instance"] == url.as_str())
            .map(|s| s["value"][1].as_str().unwrap().to_string())
    };
    assert_eq!(by_instance(v3.url()).as_deref(), Some("0"), "{got:#}");
    assert_eq!(by_instance(fixed.url()).as_deref(), Some("1"), "{got:#}");
    // The shipped alert fires for v3, and only for v3.
    let alerts = prometheus_until(&prom, "/api/v1/alerts", &[], |v| {
        v["data"]["alerts"].as_array().is_some_and(|a| {
            a.iter().any(|x| {
                x["labels"]["alertname"] == "RateLimitHeadersDroppedOnStreams"
                    && x["state"] == "firing"
            })
        })
    })
    .await;
    let firing: Vec<&str> = alerts["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["labels"]["alertname"] == "RateLimitHeadersDroppedOnStreams")
        .filter_map(|x| x["labels"]["instance"].as_str())
        .collect();
    assert_eq!(firing, [v3.url()], "{alerts:#}");
    // Every answer Prometheus took is one promtool accepts.
    for target in [v3.url(), fixed.url()] {
        promtool_accepts(&scrape(&base, &target, "probe", None).await.1);
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_module_tells_a_split_fleet_from_a_shared_one() {
    let cfg = MockConfig {
        rpm: 10,
        ..MockConfig::default()
    };
    let shared = MockFleet::start(&cfg, 2, 0).await.unwrap();
    let split = MockFleet::start(&cfg, 2, 0).await.unwrap();
    split.split();
    let dir = temp_dir("fleet");
    let list = |urls: Vec<String>| format!("[{}]", urls.join(", "));
    let config = dir.join("exporter.yaml");
    std::fs::write(
        &config,
        format!(
            "modules:\n  shared:\n    fleet: {{instances: {}}}\n    defaults: {{model: mock-model}}\n  split:\n    fleet: {{instances: {}}}\n    defaults: {{model: mock-model}}\n",
            list(shared.urls()),
            list(split.urls()),
        ),
    )
    .unwrap();
    let (_exporter, base) = exporter(
        &["--config", &config.to_string_lossy()],
        &[("RATECHECK_API_KEY", KEY)],
    );
    for (module, fleet, expected) in [("shared", &shared, 0.0), ("split", &split, 1.0)] {
        let (status, answer) = scrape(&base, &fleet.urls()[0], module, None).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(
            value(&answer, "ratecheck_probe_success"),
            Some(1.0),
            "{answer}"
        );
        assert_eq!(
            value(&answer, "ratecheck_fleet_split"),
            Some(expected),
            "{module}: {answer}"
        );
        promtool_accepts(&answer);
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_costs_the_gateway_what_one_probe_costs() {
    // `ratecheck probe` with the default selection, counted at the simulator.
    let alone = MockServer::start(sim(Profile::LitellmV3), 0).await.unwrap();
    let run = ratecheck(&["probe", &alone.url()], &[("RATECHECK_API_KEY", KEY)]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let by_probe = alone.requests().len();
    // One scrape of the built-in module: the same.
    let target = MockServer::start(sim(Profile::LitellmV3), 0).await.unwrap();
    let (_exporter, base) = exporter(&["--target", &target.url()], &[("RATECHECK_API_KEY", KEY)]);
    let (_, answer) = scrape(&base, &target.url(), "probe", None).await;
    assert_eq!(
        value(&answer, "ratecheck_probe_requests"),
        Some(9.0),
        "{answer}"
    );
    assert_eq!(target.requests().len(), by_probe);
    assert_eq!(by_probe, 9);
    // Five scrapes at once, as replicas and retries send them: one check, its answer shared.
    let joined = MockServer::start(sim(Profile::LitellmV3), 0).await.unwrap();
    let (_exporter, base) = exporter(&["--target", &joined.url()], &[("RATECHECK_API_KEY", KEY)]);
    let url = joined.url();
    let scrapes = (0..5).map(|_| scrape(&base, &url, "probe", None));
    for (status, answer) in futures_util::future::join_all(scrapes).await {
        assert_eq!(status, 200);
        assert_eq!(
            value(&answer, "ratecheck_probe_success"),
            Some(1.0),
            "{answer}"
        );
    }
    assert_eq!(joined.requests().len(), by_probe);
    let own = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        value(&own, "ratecheck_exporter_scrapes_total{module=\"probe\"}"),
        Some(5.0),
        "{own}"
    );
    assert_eq!(
        value(&own, "ratecheck_exporter_checks_total{module=\"probe\"}"),
        Some(1.0),
        "{own}"
    );
    promtool_accepts(&own);
}

/// A loopback listener that counts the connections made to it and answers none.
async fn counting_target() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = seen.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(socket);
        }
    });
    (url, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_modules_and_targets_are_refused_before_anything_is_sent() {
    let (allowed, allowed_seen) = counting_target().await;
    let (other, other_seen) = counting_target().await;
    let (exporter, base) = exporter(&["--target", &allowed], &[("RATECHECK_API_KEY", KEY)]);
    let (status, body) = scrape(&base, &allowed, "nope", None).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("unknown module `nope`"), "{body}");
    let (status, body) = scrape(&base, &other, "probe", None).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("nothing was sent"), "{body}");
    let (status, _) = scrape(&base, "not a url", "probe", None).await;
    assert_eq!(status, 400);
    // A target given with credentials is still not another target's twin, and nothing
    // reaches either listener.
    let sneaky = allowed.replace("http://", &format!("http://user:{KEY}@")) + "/elsewhere";
    let (status, body) = scrape(&base, &sneaky, "probe", None).await;
    assert_eq!(status, 403, "{body}");
    assert!(!body.contains(KEY), "{body}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(allowed_seen.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert_eq!(other_seen.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert!(!exporter.stderr().contains(KEY));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_target_is_answered_within_the_scrape_timeout() {
    let hang = faulty_server(Fault::Hang).await;
    let (_exporter, base) = exporter(&["--target", &hang], &[("RATECHECK_API_KEY", KEY)]);
    let start = Instant::now();
    let (status, answer) = scrape(&base, &hang, "probe", Some("2")).await;
    let took = start.elapsed();
    assert_eq!(status, 200, "{answer}");
    assert!(took < Duration::from_secs(4), "answered after {took:?}");
    assert_eq!(
        value(&answer, "ratecheck_probe_success"),
        Some(0.0),
        "{answer}"
    );
    assert_eq!(
        value(&answer, "ratecheck_probe_exit_code"),
        Some(4.0),
        "{answer}"
    );
    promtool_accepts(&answer);
}

#[tokio::test]
async fn a_malformed_configuration_is_located_at_start() {
    let dir = temp_dir("malformed");
    let config = dir.join("exporter.yaml");
    let path = config.to_string_lossy().to_string();
    for (yaml, expected) in [
        (
            "targets: [http://127.0.0.1:4000]\nmodules:\n  probe:\n    probe: {endpoint: [chat]}\n",
            "4:13: unknown field `endpoint`, expected one of endpoints, repeat (did you mean `endpoints`?)",
        ),
        (
            "modules:\n  both:\n    probe: {}\n    fleet: {instances: [http://a:1, http://b:1]}\n",
            "3:5: module `both` must say one check",
        ),
        (
            "modules:\n  one:\n    fleet:\n      instances: [http://a:1]\n",
            "4:18: `instances` needs every instance's own base URL, at least two",
        ),
        (
            "targets: [localhost:4000]\nmodules: {p: {probe: {}}}\n",
            "1:11: ",
        ),
    ] {
        std::fs::write(&config, yaml).unwrap();
        let run = ratecheck(
            &["exporter", "--listen", "127.0.0.1:0", "--config", &path],
            &[],
        )
        .await;
        assert_eq!(run.code, 2, "{yaml}: {}", run.stderr);
        assert!(
            run.stderr.contains(&format!("{path}:{expected}")),
            "{yaml}: {}",
            run.stderr
        );
    }
    // Remote listening needs saying so.
    let run = ratecheck(
        &[
            "exporter",
            "--listen",
            "0.0.0.0:0",
            "--target",
            "http://127.0.0.1:1",
        ],
        &[],
    )
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--allow-remote"), "{}", run.stderr);
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_in_the_configuration_and_the_answers_stay_out_of_every_output() {
    let echo = faulty_server(Fault::EchoEverything).await;
    let creds = faulty_server(Fault::EchoCredentials).await;
    // The key in the URL's user info and query, a secret header from the environment.
    let with_password =
        |u: &str| u.replace("http://", &format!("http://user:{KEY}@")) + &format!("/v1?key={KEY}");
    let dir = temp_dir("secrets");
    let config = dir.join("exporter.yaml");
    std::fs::write(
        &config,
        format!(
            "targets: ['{}', '{}']\nmodules:\n  probe:\n    probe: {{endpoints: [chat, messages]}}\n    auth: {{env: EXPORTER_KEY}}\n    defaults:\n      model: m\n      headers: {{X-Tenant-Token: '${{TENANT_TOKEN}}'}}\n      secret_headers: [x-tenant-token]\n",
            with_password(&echo),
            with_password(&creds),
        ),
    )
    .unwrap();
    let (exporter, base) = exporter(
        &["--config", &config.to_string_lossy()],
        &[("EXPORTER_KEY", KEY), ("TENANT_TOKEN", TENANT)],
    );
    let mut outputs = Vec::new();
    for target in [with_password(&echo), with_password(&creds)] {
        let (status, answer) = scrape(&base, &target, "probe", None).await;
        assert_eq!(status, 200, "{answer}");
        promtool_accepts(&answer);
        outputs.push(answer);
    }
    outputs.push(
        reqwest::get(format!("{base}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    outputs.push(
        reqwest::get(format!("{base}/"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    outputs.push(exporter.stderr());
    for text in &outputs {
        for secret in [KEY, "5ecret", TENANT] {
            assert!(!text.contains(secret), "{secret} leaks:\n{text}");
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}
