//! `load` against the simulator through the binary: the streaming drop found under load, a
//! clean run on the fixed profile, backoff on real 429s, thresholds, Ctrl-C.

use std::time::Duration;

use ratecheck::mock::{MockConfig, MockServer, Profile};

use crate::support::{assert_valid, finding_kinds, ratecheck};

async fn sim(profile: Profile, rpm: u64, window: Duration) -> MockServer {
    MockServer::start(
        MockConfig {
            profile,
            rpm,
            window,
            chunk_delay: Duration::from_millis(1),
            ..MockConfig::default()
        },
        0,
    )
    .await
    .unwrap()
}

async fn load_json(url: &str, extra: &[&str]) -> (i32, serde_json::Value, String) {
    let mut args = vec!["load", url, "--format", "json"];
    args.extend_from_slice(extra);
    let r = ratecheck(
        &args,
        &[("RATECHECK_API_KEY", "sk-load-test-key-0000000000")],
    )
    .await;
    let json = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("load JSON: {e}\n{}\n{}", r.stdout, r.stderr));
    validate(&json);
    (r.code, json, r.stderr)
}

/// Every load report the tests read is checked against the published schema.
fn validate(report: &serde_json::Value) {
    assert_valid(include_str!("../../docs/load-report.schema.json"), report);
}

fn kinds(report: &serde_json::Value) -> Vec<String> {
    finding_kinds(report)
}

#[tokio::test]
async fn litellm_v3_streams_carry_no_counters_under_load_and_fixed_does() {
    let args = [
        "--rate",
        "40",
        "--duration",
        "2s",
        "--stream-fraction",
        "0.5",
    ];
    let html = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("ratecheck-load-{}.html", std::process::id()));
    let html_arg = html.display().to_string();
    let v3 = sim(Profile::LitellmV3, 100_000, Duration::from_mins(1)).await;
    let mut with_html = args.to_vec();
    with_html.extend(["--report-html", html_arg.as_str()]);
    let (code, report, stderr) = load_json(&v3.url(), &with_html).await;
    assert_eq!(code, 1, "{stderr}");
    let k = kinds(&report);
    assert!(
        k.contains(&"litellm_v3_streaming_drop".to_string()),
        "{k:?}"
    );
    let shape = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "litellm_v3_streaming_drop")
        .unwrap();
    // One finding per defect: the tally under load is added to the named drop.
    let msg = shape["message"].as_str().unwrap();
    assert!(
        msg.contains("under load, streaming chat/completions: 0 of "),
        "{msg}"
    );
    assert!(
        msg.contains("carried `x-ratelimit-api_key-remaining-requests`"),
        "{msg}"
    );
    assert_eq!(report["requests"]["logical"], 80);
    assert_eq!(report["requests"]["failed"], 0);
    v3.shutdown().await;

    // The HTML report: three charts drawn inline, nothing fetched, the silent shape named.
    let page = std::fs::read_to_string(&html).unwrap();
    assert_eq!(page.matches("<svg").count(), 3, "{page}");
    assert!(page.matches("<polyline").count() >= 6);
    assert!(!page.contains("src=") && !page.contains("href=") && !page.contains("<script"));
    assert!(page.contains("No line for: streaming chat/completions"));
    assert!(
        page.contains("\nnon-streaming chat/completions\n</text>"),
        "the legend names the shape that carries the counter"
    );
    assert!(page.contains("litellm_v3_streaming_drop"));

    let fixed = sim(Profile::LitellmFixed, 100_000, Duration::from_mins(1)).await;
    let (code, report, stderr) = load_json(&fixed.url(), &args).await;
    assert_eq!(code, 0, "{stderr}\n{report:#}");
    assert!(kinds(&report).is_empty());
    for s in report["shapes"].as_array().unwrap() {
        let n = s["responses"].as_u64().unwrap();
        assert_eq!(
            s["carried"]["x-ratelimit-api_key-remaining-requests"], n,
            "{s}"
        );
    }
    fixed.shutdown().await;
}

#[tokio::test]
async fn real_429s_pause_dispatch_for_the_advised_wait() {
    // 10 requests per 1 s fixed window (the Anthropic profile; OpenAI's replenishes), asked
    // for 40/s: every refusal says `retry-after: 1`.
    let server = sim(Profile::Anthropic, 10, Duration::from_secs(1)).await;
    let (code, report, stderr) =
        load_json(&server.url(), &["--rate", "40", "--duration", "3s"]).await;
    assert!(code == 0 || code == 1, "{stderr}");
    let sched = &report["schedule"];
    assert!(sched["held_by_pause"].as_u64().unwrap() > 40, "{report:#}");
    assert!(
        report["hints"]["retry_after_seconds"].as_u64().unwrap() >= 1,
        "{report:#}"
    );
    // Accepted per second stays at the limit; the 429s are a small share of what was asked.
    let throttled: u64 = report["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["throttled"].as_u64().unwrap())
        .sum();
    assert!(throttled <= 12, "{throttled} refusals: {report:#}");
    assert_eq!(
        report["latency"]["from_intended"]["count"],
        report["requests"]["succeeded"]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn failed_threshold_exits_1() {
    let server = sim(Profile::LitellmFixed, 100_000, Duration::from_mins(1)).await;
    let (code, report, _) = load_json(
        &server.url(),
        &[
            "--requests",
            "20",
            "--concurrency",
            "2",
            "--fail-if",
            "p50_ms<100000",
            "--fail-if",
            "error_rate>0.5",
        ],
    )
    .await;
    assert_eq!(code, 1);
    let t = report["thresholds"].as_array().unwrap();
    assert_eq!(t[0]["failed"], true);
    assert_eq!(t[1]["failed"], false);
    let r = ratecheck(
        &["load", &server.url(), "--rate", "5", "--fail-if", "p99>3"],
        &[],
    )
    .await;
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("did you mean `p99_ms`"), "{}", r.stderr);
    server.shutdown().await;
}

#[tokio::test]
async fn ctrl_c_stops_cleanly_and_still_writes_the_report() {
    let server = sim(Profile::LitellmV3, 100_000, Duration::from_mins(1)).await;
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("ratecheck-interrupt-{}.json", std::process::id()));
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_ratecheck"))
        .args([
            "load",
            &server.url(),
            "--rate",
            "20",
            "--duration",
            "60s",
            "--stream-fraction",
            "0.5",
            "--format",
            "json",
            "-o",
            &out.display().to_string(),
        ])
        .env("RATECHECK_API_KEY", "sk-interrupt-test-0000000000")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let started = std::time::Instant::now();
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("interrupted"), "{stderr}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    validate(&report);
    assert_eq!(report["interrupted"], true);
    let sent = report["requests"]["logical"].as_u64().unwrap();
    assert!((20..=40).contains(&sent), "{sent}");
    // The partial run already shows the streaming drop.
    assert!(kinds(&report).contains(&"litellm_v3_streaming_drop".to_string()));
    assert_eq!(output.status.code(), Some(1));
    server.shutdown().await;
}

#[tokio::test]
async fn header_pacing_avoids_429s_and_keeps_the_throughput() {
    // 20 requests per 2 s window, asked for 40/s for 6 s: three windows, 60 requests possible.
    let (plain, paced) = tokio::join!(
        sim(Profile::Openai, 20, Duration::from_secs(2)),
        sim(Profile::Openai, 20, Duration::from_secs(2))
    );
    let args = ["--rate", "40", "--duration", "6s"];
    let (_, without, _) = load_json(&plain.url(), &args).await;
    let mut with_pace = args.to_vec();
    with_pace.extend(["--pace", "headers"]);
    let (_, with, _) = load_json(&paced.url(), &with_pace).await;
    let throttled = |r: &serde_json::Value| r["errors"]["gateway_throttle"].as_u64().unwrap_or(0);
    assert!(throttled(&without) >= 1, "{without:#}");
    assert_eq!(throttled(&with), 0, "{with:#}");
    assert!(
        with["schedule"]["held_by_pace"].as_u64().unwrap() > 100,
        "{with:#}"
    );
    // Throughput kept: within a window of what the unpaced run got through.
    let ok = |r: &serde_json::Value| r["requests"]["succeeded"].as_u64().unwrap();
    assert!(
        ok(&with) + 20 >= ok(&without),
        "{} vs {}",
        ok(&with),
        ok(&without)
    );
    plain.shutdown().await;
    paced.shutdown().await;
}

/// An outage is not a green run: when more requests fail than `--max-error-rate` allows
/// (throttles aside), the run fails with a finding that says how many and how, and with the
/// exit of the commonest failure: 5 for server errors.
#[tokio::test]
async fn a_failing_gateway_fails_the_run() {
    let url = crate::support::faulty_server(crate::support::Fault::EchoEverything).await;
    // Chat answers, completions answers 500: half of the attempts fail.
    let args = [
        "--model",
        "m",
        "--endpoints",
        "chat,completions",
        "--requests",
        "40",
        "--concurrency",
        "2",
        "--max-retries",
        "0",
    ];
    let (code, report, stderr) = load_json(&url, &args).await;
    assert_eq!(code, 5, "{stderr}\n{report:#}");
    assert_eq!(report["outcome"]["status"], "server_error", "{report:#}");
    let f = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "failed_requests")
        .unwrap_or_else(|| panic!("{report:#}"));
    // The mix picks endpoints at random in equal shares: about half fail.
    let message = f["message"].as_str().unwrap();
    assert!(message.contains("failed (server error (5xx) "), "{f:#}");
    let failed = report["errors"]["server_error"].as_u64().unwrap();
    assert!((12..=28).contains(&failed), "{report:#}");
    let mut lenient = args.to_vec();
    lenient.extend(["--max-error-rate", "0.6"]);
    let (code, report, _) = load_json(&url, &lenient).await;
    assert_eq!(code, 0, "{report:#}");
}

/// A test split over four processes sends, shard by shard, exactly its share: the shards'
/// requests add up to the whole, each reports its segment, and `--segments N` takes the shard
/// from `JOB_COMPLETION_INDEX` as a Kubernetes Indexed Job sets it.
#[tokio::test]
async fn four_segments_send_exactly_the_whole_test() {
    let server = sim(Profile::LitellmFixed, 100_000, Duration::from_mins(1)).await;
    let url = server.url();
    let whole = [
        "--model",
        "m",
        "--requests",
        "402",
        "-c",
        "6",
        "--max-retries",
        "0",
    ];
    let mut sent = 0;
    let mut shares = Vec::new();
    for k in 1..=4 {
        let segment = format!("{k}/4");
        let args = [&whole[..], &["--segment", &segment]].concat();
        let (code, report, stderr) = load_json(&url, &args).await;
        assert_eq!(code, 0, "{stderr}\n{report:#}");
        assert_eq!(report["settings"]["segment"]["index"], k, "{report:#}");
        assert_eq!(report["settings"]["segment"]["count"], 4);
        let logical = report["requests"]["logical"].as_u64().unwrap();
        shares.push(logical);
        sent += logical;
    }
    // 402 over 4: ⌊402·k/4⌋ − ⌊402·(k−1)/4⌋.
    assert_eq!(shares, [100, 101, 100, 101]);
    assert_eq!(sent, 402);
    let (code, whole_run, _) = load_json(&url, &whole).await;
    assert_eq!(code, 0);
    assert_eq!(whole_run["requests"]["logical"].as_u64().unwrap(), sent);

    // The pod's index, from 0: shard 3 of 4.
    let mut args = vec!["load", url.as_str(), "--format", "json"];
    args.extend(whole);
    args.extend(["--segments", "4"]);
    let r = ratecheck(&args, &[("JOB_COMPLETION_INDEX", "2")]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["settings"]["segment"]["index"], 3, "{report:#}");
    assert_eq!(report["requests"]["logical"], 100);
    // Without the variable, or with an index out of range: a usage error naming it.
    for env in [vec![], vec![("JOB_COMPLETION_INDEX", "4")]] {
        let r = ratecheck(&args, &env).await;
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(r.stderr.contains("JOB_COMPLETION_INDEX"), "{}", r.stderr);
    }
    // A shard left with no worker is refused before anything is sent.
    let r = ratecheck(
        &[
            "load",
            &url,
            "--model",
            "m",
            "-c",
            "2",
            "--requests",
            "8",
            "--segment",
            "1/4",
        ],
        &[],
    )
    .await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("would run no worker"), "{}", r.stderr);
    server.shutdown().await;
}

/// `--start-at` holds the run until the common start of a split test's shards; a start that
/// has passed sends at once and says so; a time that is no time is a usage error.
#[tokio::test]
async fn shards_wait_for_their_common_start() {
    let server = sim(Profile::LitellmFixed, 100_000, Duration::from_mins(1)).await;
    let url = server.url();
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let at = format!("{:.3}", unix + 2.0);
    let run = ["--model", "m", "--requests", "4", "-c", "2"];
    let started = std::time::Instant::now();
    let (code, report, stderr) = load_json(&url, &[&run[..], &["--start-at", &at]].concat()).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(started.elapsed() >= Duration::from_millis(1900));
    assert_eq!(report["requests"]["logical"], 4);
    let (code, _, stderr) = load_json(
        &url,
        &[&run[..], &["--start-at", "2020-01-01T00:00:00Z"]].concat(),
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("the start time passed"), "{stderr}");
    let r = ratecheck(
        &[
            "load",
            "http://127.0.0.1:1",
            "-c",
            "2",
            "--start-at",
            "soon",
        ],
        &[],
    )
    .await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("`--start-at`"), "{}", r.stderr);
    server.shutdown().await;
}

/// The Indexed Job's contract in miniature: four shards started together write raw results,
/// and `merge` makes of them the report one process makes of the same test — every request
/// counted once, the same findings, the same exit. A shard missing, a file from another test
/// or a damaged file is named, and the merge fails.
#[tokio::test]
async fn four_shards_merge_into_the_report_of_one_process() {
    let server = sim(Profile::LitellmV3, 100_000, Duration::from_mins(1)).await;
    let url = server.url();
    let dir = std::env::temp_dir().join(format!(
        "ratecheck-merge-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let whole = [
        "--model",
        "m",
        "--rate",
        "200",
        "--requests",
        "400",
        "--stream-fraction",
        "0.5",
    ];
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let at = format!("{:.3}", unix + 2.0);
    for r in four_shards(&url, &whole, &at, &dir).await {
        assert_eq!(r.code, 1, "{}", r.stderr);
    }
    let (one_code, one, _) = load_json(&url, &whole).await;
    let files: Vec<String> = (1..=4)
        .map(|k| dir.join(format!("shard-{k}.json")).display().to_string())
        .collect();
    let (code, merged, stderr) = merge_json(&files).await;
    assert_eq!(code, one_code, "{stderr}\n{merged:#}");
    assert_eq!(kinds(&merged), kinds(&one), "{merged:#}");
    assert_eq!(merged["requests"]["logical"], 400);
    assert_eq!(merged["requests"]["logical"], one["requests"]["logical"]);
    assert_eq!(merged["settings"]["arrival"]["rate"], 200.0);
    assert!(merged["settings"].get("segment").is_none(), "{merged:#}");
    assert_eq!(merged["shards"]["count"], 4);
    assert_eq!(merged["shards"]["problems"], serde_json::json!([]));
    let successes = merged["latency"]["from_intended"]["count"]
        .as_u64()
        .unwrap();
    assert_eq!(successes, 400);

    // Shard 3 missing: named, and the merge fails with the usage code.
    let three: Vec<String> = files
        .iter()
        .filter(|f| !f.ends_with("shard-3.json"))
        .cloned()
        .collect();
    let (code, merged, stderr) = merge_json(&three).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("shard 3/4 is missing"), "{stderr}");
    assert_eq!(merged["requests"]["logical"], 300);

    // A run of another test, and a damaged file: each named, left out, the merge failed.
    let other = dir.join("other.json").display().to_string();
    let r = two_requests(&url, &other).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let damaged = dir.join("damaged.json");
    std::fs::write(
        &damaged,
        "{\"format\": \"ratecheck-load-raw\",\n  \"version\": 1,\n  oops",
    )
    .unwrap();
    let mut with_strays = files.clone();
    with_strays.push(other.clone());
    with_strays.push(damaged.display().to_string());
    let (code, merged, stderr) = merge_json(&with_strays).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("other.json is from another test"),
        "{stderr}"
    );
    assert!(stderr.contains("damaged.json:3:3"), "{stderr}");
    assert_eq!(merged["requests"]["logical"], 400);

    let _ = std::fs::remove_dir_all(&dir);
    server.shutdown().await;
}

/// `--raw -`: the raw result on standard output, the report on standard error.
#[tokio::test]
async fn a_raw_result_goes_to_standard_output() {
    let server = sim(Profile::LitellmFixed, 100_000, Duration::from_mins(1)).await;
    let url = server.url();
    let r = two_requests(&url, "-").await;
    let raw: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(raw["format"], "ratecheck-load-raw");
    assert!(r.stderr.contains("ratecheck load"), "{}", r.stderr);
    server.shutdown().await;
}

/// Runs shards 1/4 to 4/4 of `whole` at once, starting together at `at`, each writing its raw
/// result to `dir/shard-K.json`.
async fn four_shards(
    url: &str,
    whole: &[&'static str],
    at: &str,
    dir: &std::path::Path,
) -> Vec<crate::support::Run> {
    let mut shards = tokio::task::JoinSet::new();
    for k in 1..=4 {
        let (url, at, whole) = (url.to_string(), at.to_string(), whole.to_vec());
        let raw = dir.join(format!("shard-{k}.json")).display().to_string();
        shards.spawn(async move {
            let segment = format!("{k}/4");
            let mut args = vec!["load", url.as_str(), "--format", "json"];
            args.extend(whole);
            args.extend(["--segment", &segment, "--start-at", &at, "--raw", &raw]);
            ratecheck(
                &args,
                &[("RATECHECK_API_KEY", "sk-load-test-key-0000000000")],
            )
            .await
        });
    }
    let mut runs = Vec::new();
    while let Some(r) = shards.join_next().await {
        runs.push(r.unwrap());
    }
    runs
}

/// `ratecheck merge --format json FILES`: its exit, its report (checked against the schema)
/// and its standard error.
async fn merge_json(files: &[String]) -> (i32, serde_json::Value, String) {
    let mut args = vec!["merge", "--format", "json"];
    args.extend(files.iter().map(String::as_str));
    let r = ratecheck(&args, &[]).await;
    let json: serde_json::Value = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("merge JSON: {e}\n{}\n{}", r.stdout, r.stderr));
    validate(&json);
    (r.code, json, r.stderr)
}

/// A small run of two requests, its raw result written to `raw`.
async fn two_requests(url: &str, raw: &str) -> crate::support::Run {
    ratecheck(
        &[
            "load",
            url,
            "--model",
            "m",
            "-c",
            "1",
            "--requests",
            "2",
            "--raw",
            raw,
        ],
        &[],
    )
    .await
}
