//! `ratecheck limits` against the built-in simulator: the healthy limiter raises nothing, each
//! `--defect` is found exactly, every check's "not checked" path says why, the key never
//! leaks, Ctrl-C keeps the partial report and a gateway that dies mid-run is named.

use std::time::Duration;

use ratecheck::mock::{Defect, MockConfig, MockServer, Profile};

use crate::support::{assert_valid, finding_kinds, ratecheck};

/// A fresh key with its limits in it (the simulator reads `sk-rc-<rpm>-<tpm>[-p<N>]-…`).
fn key(rpm: u32, tpm: u32, parallel: Option<u32>) -> String {
    let suffix = format!("{:x}", rand_u64());
    match parallel {
        Some(p) => format!("sk-rc-{rpm}-{tpm}-p{p}-{suffix}"),
        None => format!("sk-rc-{rpm}-{tpm}-{suffix}"),
    }
}

fn rand_u64() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    (t.as_nanos() as u64) ^ u64::from(std::process::id()).rotate_left(32)
}

fn mock(defects: &[Defect]) -> MockConfig {
    MockConfig {
        profile: Profile::LitellmFixed,
        chunk_delay: Duration::from_millis(1),
        slow: Duration::from_millis(1500),
        defects: defects.to_vec(),
        ..MockConfig::default()
    }
}

/// Runs `limits` with a main key (rpm 100, tpm 5000, max_parallel 2) and a concurrency key
/// (tpm 300); the JSON report, schema-checked, and the run.
async fn limits(url: &str, extra: &[&str]) -> (i32, serde_json::Value, String) {
    let (main, second) = (key(100, 5000, Some(2)), key(1000, 300, None));
    limits_with(url, &main, Some(&second), extra).await
}

async fn limits_with(
    url: &str,
    main: &str,
    second: Option<&str>,
    extra: &[&str],
) -> (i32, serde_json::Value, String) {
    let mut args = vec!["limits", url, "--format", "json", "--max-wait", "20s"];
    let mut env = vec![("RATECHECK_API_KEY", main)];
    if let Some(k) = second {
        args.extend(["--concurrency-key-env", "SECOND_KEY"]);
        env.push(("SECOND_KEY", k));
    }
    args.extend_from_slice(extra);
    let run = ratecheck(&args, &env).await;
    for k in [Some(main), second].into_iter().flatten() {
        assert!(
            !run.stdout.contains(k) && !run.stderr.contains(k),
            "a key leaked"
        );
    }
    let json: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", run.stdout, run.stderr));
    assert_valid(include_str!("../../docs/limits-report.schema.json"), &json);
    (run.code, json, run.stderr)
}

fn statuses(report: &serde_json::Value, check: &str) -> Vec<(String, String)> {
    report["cells"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["check"] == check)
        .map(|c| {
            (
                format!(
                    "{} {}",
                    c["variant"]["mode"].as_str().unwrap(),
                    c["variant"]["endpoint"].as_str().unwrap()
                ),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn all(report: &serde_json::Value, check: &str, status: &str) -> bool {
    statuses(report, check).iter().all(|(_, s)| s == status)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_healthy_limiter_raises_nothing_and_says_its_budget_first() {
    let server = MockServer::start(mock(&[]), 0).await.unwrap();
    let (code, r, stderr) = limits(&server.url(), &["--model", "mock-model"]).await;
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(finding_kinds(&r), Vec::<String>::new(), "{r:#}");
    assert_eq!(r["warnings"], serde_json::json!([]), "{r:#}");
    for check in [
        "retry_advice",
        "refusals_charged",
        "tokens_charged",
        "slots_returned",
    ] {
        assert!(all(&r, check, "held"), "{check}: {:?}", statuses(&r, check));
    }
    assert_eq!(
        statuses(&r, "concurrency")[0],
        ("non_streaming chat".into(), "held".into())
    );
    assert!(
        stderr.starts_with("ratecheck limits: at most 200 requests"),
        "{stderr}"
    );
    assert!(r["requests"].as_array().unwrap().len() <= 200);
    assert_eq!(r["waited_ms"], 0.0);
    server.shutdown().await;
}

/// Each defect alone: exactly its finding, on exactly the endpoints it affects.
#[tokio::test(flavor = "multi_thread")]
async fn each_defect_is_found_exactly() {
    let cases: [(Defect, &str, &str, &[&str]); 4] = [
        (
            Defect::RefusalCharged,
            "refusal_charged",
            "refusals_charged",
            &["chat", "completions", "responses", "messages", "embeddings"],
        ),
        (
            Defect::NoRetryAfter,
            "retry_advice_missing",
            "retry_advice",
            &["completions", "messages"],
        ),
        (
            Defect::TokensUncharged,
            "tokens_not_charged",
            "tokens_charged",
            &["completions", "responses", "embeddings"],
        ),
        (
            Defect::TpmRace,
            "concurrent_over_admission",
            "concurrency",
            &["chat"],
        ),
    ];
    let servers = futures_util::future::join_all(
        cases
            .iter()
            .map(|(d, ..)| async move { MockServer::start(mock(&[*d]), 0).await.unwrap() }),
    )
    .await;
    let runs = futures_util::future::join_all(
        servers
            .iter()
            .map(|s| async move { limits(&s.url(), &["--model", "mock-model"]).await }),
    )
    .await;
    for ((defect, kind, check, endpoints), (code, r, _)) in cases.iter().zip(runs) {
        assert_eq!(code, 1, "{defect:?}: {r:#}");
        assert_eq!(
            finding_kinds(&r),
            vec![kind.to_string()],
            "{defect:?}: {r:#}"
        );
        for (variant, status) in statuses(&r, check) {
            let endpoint = variant.split(' ').nth(1).unwrap();
            // The concurrency check runs on non-streaming chat only.
            let runs_here = *check != "concurrency" || variant == "non_streaming chat";
            let want = if endpoints.contains(&endpoint) && runs_here {
                "defect"
            } else if *check == "concurrency" {
                "not_checked"
            } else {
                "held"
            };
            assert_eq!(status, want, "{defect:?}: {variant}: {r:#}");
        }
        let link = r["findings"][0]["link"].as_str().unwrap_or_default();
        assert!(
            link.starts_with("https://github.com/BerriAI/litellm/issues/"),
            "{link}"
        );
    }
    for s in servers {
        s.shutdown().await;
    }
}

/// A slot kept after a completed call shows on every messages and responses shape; the run
/// waits for the slots (the window) and says how long.
#[tokio::test(flavor = "multi_thread")]
async fn a_kept_slot_is_found_and_waited_out() {
    let cfg = MockConfig {
        window: Duration::from_secs(4),
        ..mock(&[Defect::SlotKept])
    };
    let server = MockServer::start(cfg, 0).await.unwrap();
    let (code, r, _) = limits(
        &server.url(),
        &["--model", "mock-model", "--checks", "slots_returned"],
    )
    .await;
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(finding_kinds(&r), ["slot_kept"], "{r:#}");
    for (variant, status) in statuses(&r, "slots_returned") {
        let kept = variant.ends_with("responses") || variant.ends_with("messages");
        assert_eq!(
            status,
            if kept { "defect" } else { "held" },
            "{variant}: {r:#}"
        );
    }
    assert!(r["waited_ms"].as_f64().unwrap() > 0.0);
    server.shutdown().await;
}

/// What cannot be checked says why: no max_parallel on the key, a tokens limit too large to
/// pass at once, answers too fast to hold a slot.
#[tokio::test(flavor = "multi_thread")]
async fn checks_that_cannot_be_made_say_why() {
    let server = MockServer::start(mock(&[]), 0).await.unwrap();
    let reason = |r: &serde_json::Value, check: &str| -> String {
        r["cells"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| {
                c["check"] == check
                    && c["variant"]["endpoint"] == "chat"
                    && c["variant"]["mode"] == "non_streaming"
            })
            .map(|c| {
                format!(
                    "{} {}",
                    c["status"].as_str().unwrap(),
                    c["detail"].as_str().unwrap()
                )
            })
            .unwrap()
    };
    // No max_parallel, and a tokens limit of ten million: no slot to hold, none to pass.
    let main = key(100, 10_000_000, None);
    let (code, r, _) = limits_with(&server.url(), &main, None, &["--model", "mock-model"]).await;
    assert_eq!(code, 0, "{r:#}");
    for check in ["refusals_charged", "slots_returned"] {
        let why = reason(&r, check);
        assert!(
            why.starts_with("not_checked") && why.contains("no max_parallel_requests"),
            "{why}"
        );
    }
    let why = reason(&r, "concurrency");
    assert!(
        why.starts_with("not_checked") && why.contains("more than 64"),
        "{why}"
    );
    assert!(all(&r, "tokens_charged", "held"), "{r:#}");
    server.shutdown().await;

    // Answers too fast to hold a slot.
    let cfg = MockConfig {
        slow: Duration::ZERO,
        ..mock(&[])
    };
    let server = MockServer::start(cfg, 0).await.unwrap();
    let (code, r, _) = limits(
        &server.url(),
        &["--model", "mock-model", "--checks", "refusals_charged"],
    )
    .await;
    assert_eq!(code, 0, "{r:#}");
    let why = reason(&r, "refusals_charged");
    assert!(why.contains("answers too fast to hold a slot"), "{why}");
    // Checks not asked for say so.
    assert!(reason(&r, "tokens_charged").contains("not asked for"));
    server.shutdown().await;
}

/// Every format carries the verdict and no key.
#[tokio::test(flavor = "multi_thread")]
async fn every_format_renders_without_the_key() {
    let server = MockServer::start(mock(&[Defect::RefusalCharged]), 0)
        .await
        .unwrap();
    let dir = std::env::temp_dir().join(format!("ratecheck-limits-{}", rand_u64()));
    std::fs::create_dir_all(&dir).unwrap();
    for format in ["table", "markdown"] {
        let main = key(100, 5000, Some(2));
        let out = dir.join(format!("report.{format}"));
        let run = ratecheck(
            &[
                "limits",
                &server.url(),
                "--model",
                "mock-model",
                "--checks",
                "refusals_charged,retry_advice",
                "--format",
                format,
                "-o",
                out.to_str().unwrap(),
            ],
            &[("RATECHECK_API_KEY", &main)],
        )
        .await;
        assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
        let file = std::fs::read_to_string(&out).unwrap();
        for text in [&run.stdout, &run.stderr, &file] {
            assert!(!text.contains(&main), "the key leaked in {format}");
        }
        assert!(file.contains("refusal_charged"), "{file}");
        assert!(file.contains("BerriAI/litellm#39309"), "{file}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    server.shutdown().await;
}

/// Ctrl-C writes the partial report; a gateway that dies mid-run ends it with its failure.
#[tokio::test(flavor = "multi_thread")]
async fn interrupted_and_dead_gateways_keep_the_report() {
    use std::process::{Command, Stdio};
    let server = MockServer::start(
        MockConfig {
            slow: Duration::from_secs(5),
            ..mock(&[])
        },
        0,
    )
    .await
    .unwrap();
    let dir = std::env::temp_dir().join(format!("ratecheck-limits-int-{}", rand_u64()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("partial.json");
    let child = Command::new(env!("CARGO_BIN_EXE_ratecheck"))
        .args([
            "limits",
            &server.url(),
            "--model",
            "mock-model",
            "--format",
            "json",
            "-o",
            out.to_str().unwrap(),
        ])
        .env("RATECHECK_API_KEY", key(100, 5000, Some(2)))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let started = std::time::Instant::now();
    let done = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "Ctrl-C took too long"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(report["interrupted"], true, "{report:#}");
    assert!(
        String::from_utf8_lossy(&done.stderr).contains("interrupted"),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    server.shutdown().await;

    // A gateway that stops answering mid-run: the run ends with the connection failure named.
    let server = MockServer::start(mock(&[]), 0).await.unwrap();
    let url = server.url();
    let run = tokio::spawn(async move {
        ratecheck(
            &["limits", &url, "--model", "mock-model", "--format", "json"],
            &[("RATECHECK_API_KEY", &key(100, 5000, Some(2)))],
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(800)).await;
    server.shutdown().await;
    let run = run.await.unwrap();
    assert!(matches!(run.code, 3 | 5), "{}\n{}", run.code, run.stderr);
    assert!(run.stderr.contains("ratecheck: error:"), "{}", run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(report["aborted"].is_object(), "{report:#}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The shipped scenario: green on the healthy simulator, red on one with a defect, with the
/// finding in the run report.
#[tokio::test(flavor = "multi_thread")]
async fn the_shipped_scenario_gates_on_the_limiter() {
    let healthy = MockServer::start(mock(&[]), 0).await.unwrap();
    let broken = MockServer::start(mock(&[Defect::NoRetryAfter]), 0)
        .await
        .unwrap();
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/litellm-limits.yaml");
    let dir = std::env::temp_dir().join(format!("ratecheck-limits-run-{}", rand_u64()));
    std::fs::create_dir_all(&dir).unwrap();
    for (server, want) in [(&healthy, 0), (&broken, 1)] {
        let (main, second) = (key(100, 5000, Some(2)), key(1000, 300, None));
        let json = dir.join(format!("run-{want}.json"));
        let run = ratecheck(
            &["run", scenario, "--report-json", json.to_str().unwrap()],
            &[
                ("RATECHECK_TARGET", &server.url()),
                ("RATECHECK_MODEL", "mock-model"),
                ("RATECHECK_API_KEY", &main),
                ("RATECHECK_CONCURRENCY_KEY", &second),
            ],
        )
        .await;
        assert_eq!(run.code, want, "{}\n{}", run.stdout, run.stderr);
        let report = std::fs::read_to_string(&json).unwrap();
        for k in [&main, &second] {
            assert!(
                !report.contains(k.as_str()) && !run.stdout.contains(k.as_str()),
                "a key leaked"
            );
        }
        assert_valid(
            include_str!("../../docs/run-report.schema.json"),
            &serde_json::from_str(&report).unwrap(),
        );
        assert_eq!(
            report.contains("retry_advice_missing"),
            want == 1,
            "{report}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    healthy.shutdown().await;
    broken.shutdown().await;
}

/// `triage` adds the 429 contract of every endpoint and shape to the bundle.
#[tokio::test(flavor = "multi_thread")]
async fn triage_bundles_the_429_contract_per_endpoint() {
    let cfg = MockConfig {
        window: Duration::from_secs(3),
        ..mock(&[Defect::NoRetryAfter])
    };
    let server = MockServer::start(cfg, 0).await.unwrap();
    let main = key(22, 100_000, Some(2));
    let run = ratecheck(
        &["triage", &server.url(), "--model", "mock-model"],
        &[("RATECHECK_API_KEY", &main)],
    )
    .await;
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(!run.stdout.contains(&main), "the key leaked");
    let section = run
        .stdout
        .split("## 429 contract per endpoint")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .unwrap_or_else(|| panic!("{}", run.stdout));
    assert!(
        section.contains("| non-streaming messages | DEFECT |"),
        "{section}"
    );
    assert!(
        section.contains("| non-streaming chat/completions | held |"),
        "{section}"
    );
    assert!(section.contains("retry_advice_missing"), "{section}");
    server.shutdown().await;
}

/// `demo --limits DEFECT`: the defect on the first simulator, nothing on the healthy one.
#[tokio::test(flavor = "multi_thread")]
async fn the_demo_shows_a_limiter_defect_and_a_healthy_limiter() {
    let run = ratecheck(&["demo", "--limits", "no-retry-after"], &[]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(
            "no-retry-after: exit 1 — retry_advice_missing\nhealthy: exit 0 — no finding"
        ),
        "{}",
        run.stdout
    );
}

/// A gateway whose counters are not exact windows (OpenAI's replenish): nothing can be
/// checked, the verdict says so, and `--strict` fails it rather than call it green.
#[tokio::test(flavor = "multi_thread")]
async fn nothing_checked_is_not_green() {
    let server = MockServer::start(
        MockConfig {
            profile: Profile::Openai,
            ..mock(&[])
        },
        0,
    )
    .await
    .unwrap();
    let main = key(100, 5000, Some(2));
    let (code, r, _) = limits_with(&server.url(), &main, None, &["--model", "mock-model"]).await;
    assert_eq!(code, 0, "{r:#}");
    assert!(
        r["cells"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] == "not_checked")
    );
    let run = ratecheck(
        &["limits", &server.url(), "--model", "mock-model", "--strict"],
        &[("RATECHECK_API_KEY", &main)],
    )
    .await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout.contains("nothing could be checked"),
        "{}",
        run.stdout
    );
    server.shutdown().await;
}
