//! The simulator as a fleet: instances on one shared store count one limit, as LiteLLM pods on
//! one Redis do, until the fleet is split (a Redis loss) and each counts alone.

use std::time::Duration;

use ratecheck::mock::{MockConfig, MockFleet};

/// A `fleet --format json` report, valid against `docs/fleet-report.schema.json`.
pub(crate) fn fleet_json(run: &crate::support::Run) -> serde_json::Value {
    let report: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout, run.stderr));
    crate::support::assert_valid(include_str!("../../docs/fleet-report.schema.json"), &report);
    report
}

/// `remaining` after one non-streaming chat request with `key` to `url`.
async fn remaining(client: &reqwest::Client, url: &str, key: &str) -> (u16, Option<u64>) {
    let r = client
        .post(format!("{url}/v1/chat/completions"))
        .bearer_auth(key)
        .json(&serde_json::json!({"model": "mock-model", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    let value = r
        .headers()
        .get("x-ratelimit-api_key-remaining-requests")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (r.status().as_u16(), value)
}

#[tokio::test]
async fn a_fleet_shares_one_limit_until_it_splits() {
    let cfg = MockConfig {
        rpm: 4,
        window: Duration::from_mins(1),
        ..MockConfig::default()
    };
    ratecheck::http::install_crypto_provider();
    let fleet = MockFleet::start(&cfg, 2, 0).await.unwrap();
    let [a, b] = <[String; 2]>::try_from(fleet.urls()).unwrap();
    let client = reqwest::Client::new();
    // Shared: one descending sequence across both instances, and the fifth request refused.
    let mut seen = Vec::new();
    for url in [&a, &b, &a, &b, &a] {
        seen.push(remaining(&client, url, "sk-fleet-1").await);
    }
    assert_eq!(
        seen,
        vec![
            (200, Some(3)),
            (200, Some(2)),
            (200, Some(1)),
            (200, Some(0)),
            (429, None)
        ],
    );
    // Split: each instance counts alone, from zero: the same key is admitted again on both.
    fleet.split();
    let split: Vec<_> = [&a, &b, &a, &b]
        .into_iter()
        .map(|u| remaining(&client, u, "sk-fleet-1"))
        .collect();
    let mut got = Vec::new();
    for f in split {
        got.push(f.await);
    }
    assert_eq!(
        got,
        vec![
            (200, Some(3)),
            (200, Some(3)),
            (200, Some(2)),
            (200, Some(2))
        ]
    );
    // Rejoined: the shared count is where it was, exhausted.
    fleet.rejoin();
    assert_eq!(remaining(&client, &b, "sk-fleet-1").await.0, 429);
    fleet.shutdown().await;
}

/// `ratecheck mock --instances 2 --port 0 --split-after 1s` prints every instance's URL and
/// says when it split.
#[tokio::test]
async fn mock_instances_print_their_urls_and_the_split() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ratecheck"))
        .args([
            "mock",
            "--instances",
            "2",
            "--port",
            "0",
            "--split-after",
            "1s",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let lines = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let done = line.contains("split:");
            lines.push(line);
            if done {
                break;
            }
        }
        lines
    });
    let lines = tokio::time::timeout(Duration::from_secs(10), lines)
        .await
        .expect("the split within 10 s")
        .unwrap();
    // Stopped by its PID, whatever the assertions below say.
    child.kill().unwrap();
    child.wait().unwrap();
    let text = lines.join("\n");
    assert!(text.starts_with("ratecheck mock: 2 instances"), "{text}");
    assert_eq!(
        text.matches("listening on http://127.0.0.1:").count(),
        2,
        "{text}"
    );
    assert!(
        text.contains("1.0 s: split: each instance now counts alone"),
        "{text}"
    );
}

/// `ratecheck fleet` on the simulator's fleet: one shared store is exit 0 with the refusals on
/// every instance; split, exit 1 with the split counters and the over-admission named; never
/// more than the limit and two requests per instance.
#[tokio::test]
async fn fleet_check_tells_a_shared_store_from_a_split_one() {
    let cfg = MockConfig {
        rpm: 5,
        window: Duration::from_mins(1),
        ..MockConfig::default()
    };
    for split in [false, true] {
        let fleet = MockFleet::start(&cfg, 2, 0).await.unwrap();
        if split {
            fleet.split();
        }
        let mut args = vec!["fleet".to_string()];
        args.extend(fleet.urls());
        args.extend(["--format".into(), "json".into()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let key = format!("sk-fleet-check-{split}");
        let run = crate::support::ratecheck(&args, &[("RATECHECK_API_KEY", &key)]).await;
        let report = fleet_json(&run);
        let kinds = crate::support::finding_kinds(&report);
        let answers = report["answers"].as_array().unwrap();
        assert!(answers.len() <= 5 + 2 * 2, "{report:#}");
        assert!(!run.stdout.contains(&key) && !run.stderr.contains(&key));
        assert!(
            run.stderr.contains("at most 100 requests"),
            "{}",
            run.stderr
        );
        if split {
            assert_eq!(run.code, 1, "{report:#}");
            assert_eq!(
                kinds,
                vec!["fleet_split_counters", "fleet_over_admission"],
                "{report:#}"
            );
        } else {
            assert_eq!(run.code, 0, "{report:#}");
            assert!(kinds.is_empty(), "{report:#}");
            // Refused on both instances once the one limit ran out.
            for instance in [1, 2] {
                assert!(
                    answers
                        .iter()
                        .any(|a| a["instance"] == instance && a["status"] == 429),
                    "{report:#}"
                );
            }
        }
        fleet.shutdown().await;
    }
}

/// The states a watch report says the fleet went through, with when.
fn changes(report: &serde_json::Value) -> Vec<(String, f64)> {
    report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["state"].as_str().unwrap().to_string(),
                c["at_ms"].as_f64().unwrap(),
            )
        })
        .collect()
}

/// `fleet --watch` while the simulator's store splits (a Redis loss) and rejoins: one counter,
/// split, one counter again, each dated within a few requests of when it happened.
#[tokio::test]
async fn a_watch_dates_the_split_and_the_recovery() {
    let cfg = MockConfig {
        rpm: 1000,
        window: Duration::from_mins(1),
        ..MockConfig::default()
    };
    let fleet = std::sync::Arc::new(MockFleet::start(&cfg, 2, 0).await.unwrap());
    let mut args = vec!["fleet".to_string()];
    args.extend(fleet.urls());
    args.extend(
        ["--watch", "3s", "--every", "50ms", "--format", "json"]
            .iter()
            .map(ToString::to_string),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let started = std::time::Instant::now();
    let outage = {
        let fleet = fleet.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            fleet.split();
            let split_at = started.elapsed();
            tokio::time::sleep(Duration::from_secs(1)).await;
            fleet.rejoin();
            split_at
        })
    };
    let run = crate::support::ratecheck(&args, &[("RATECHECK_API_KEY", "sk-watch-1")]).await;
    let split_at = outage.await.unwrap().as_secs_f64() * 1000.0;
    let report = fleet_json(&run);
    assert_eq!(run.code, 1, "{report:#}");
    assert_eq!(
        crate::support::finding_kinds(&report),
        vec!["fleet_split_counters"],
        "{report:#}"
    );
    let changes = changes(&report);
    let states: Vec<&str> = changes.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        states,
        ["one_counter", "split", "one_counter"],
        "{report:#}"
    );
    // The watch starts after the process does: its clock runs behind the test's.
    assert!(
        changes[1].1 <= split_at + 300.0 && changes[1].1 >= split_at - 500.0,
        "split at {split_at:.0} ms in the test, reported at {:.0} ms: {report:#}",
        changes[1].1
    );
    assert!(changes[2].1 > changes[1].1 + 700.0, "{report:#}");
    // Live, on stderr, as they happen.
    assert_eq!(run.stderr.matches(": split: ").count(), 1, "{}", run.stderr);
    assert!(report["answers"].as_array().unwrap().len() <= 60);
    std::sync::Arc::into_inner(fleet).unwrap().shutdown().await;
}

/// `--via`: the load balancer takes its turn; on one store its answers follow the same counter
/// (exit 0), and the instances are refused as it is.
#[tokio::test]
async fn answers_through_the_load_balancer_follow_the_same_counter() {
    let cfg = MockConfig {
        rpm: 6,
        window: Duration::from_mins(1),
        ..MockConfig::default()
    };
    let fleet = MockFleet::start(&cfg, 3, 0).await.unwrap();
    let urls = fleet.urls();
    // The third instance stands in for the load balancer: it shares the store.
    let args = [
        "fleet", &urls[0], &urls[1], "--via", &urls[2], "--format", "json",
    ];
    let run = crate::support::ratecheck(&args, &[("RATECHECK_API_KEY", "sk-via-1")]).await;
    let report = fleet_json(&run);
    assert_eq!(run.code, 0, "{report:#}");
    let answers = report["answers"].as_array().unwrap();
    assert!(answers.len() <= 6 + 2 * 3, "{report:#}");
    assert_eq!(
        answers.iter().filter(|a| a["status"] == 200).count(),
        6,
        "{report:#}"
    );
    assert!(
        answers
            .iter()
            .any(|a| a["instance"] == 0 && a["status"] == 200),
        "{report:#}"
    );
    assert!(report["via"].as_str().is_some(), "{report:#}");
    fleet.shutdown().await;
}

/// The shipped `scenarios/litellm-fleet.yaml` on the simulator's fleet: on one store it passes
/// (exit 0, the run report valid against its schema); split, its step fails on the split
/// counters and the over-admission (exit 1), as `ratecheck fleet` would say.
#[tokio::test]
async fn the_shipped_fleet_scenario_passes_on_one_store_and_fails_split() {
    let cfg = MockConfig {
        rpm: 5,
        window: Duration::from_mins(1),
        ..MockConfig::default()
    };
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/litellm-fleet.yaml")
        .display()
        .to_string();
    for split in [false, true] {
        let fleet = MockFleet::start(&cfg, 3, 0).await.unwrap();
        if split {
            fleet.split();
        }
        let urls = fleet.urls();
        let key = format!("sk-fleet-scenario-{split}");
        let run = crate::support::ratecheck(
            &["run", &file, "--target", &urls[2], "--format", "json"],
            &[
                ("RATECHECK_API_KEY", &key),
                ("RATECHECK_FLEET_A", &urls[0]),
                ("RATECHECK_FLEET_B", &urls[1]),
            ],
        )
        .await;
        let report: serde_json::Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout, run.stderr));
        crate::support::assert_valid(include_str!("../../docs/run-report.schema.json"), &report);
        let step = &report["scenarios"][0]["steps"][0];
        assert_eq!(step["kind"], "fleet", "{report:#}");
        assert!(!run.stdout.contains(&key) && !run.stderr.contains(&key));
        if split {
            assert_eq!(run.code, 1, "{report:#}");
            assert_eq!(
                crate::support::finding_kinds(step),
                vec!["fleet_split_counters", "fleet_over_admission"],
                "{report:#}"
            );
            assert_eq!(step["checks"][0]["passed"], false, "{report:#}");
        } else {
            assert_eq!(run.code, 0, "{report:#}");
            assert_eq!(step["checks"][0]["passed"], true, "{report:#}");
        }
        fleet.shutdown().await;
    }
}

/// A `fleet` step with one instance is refused before anything is sent, at its line.
#[tokio::test]
async fn a_fleet_step_with_one_instance_is_refused_at_its_line() {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("ratecheck-fleet-one.yaml");
    std::fs::write(
        &path,
        "target: http://127.0.0.1:9\nsteps:\n  - fleet:\n      instances: [http://127.0.0.1:9]\n",
    )
    .unwrap();
    let run = crate::support::ratecheck(&["validate", &path.display().to_string()], &[]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("ratecheck-fleet-one.yaml:4:18:")
            && run
                .stderr
                .contains("`fleet.instances` needs two base URLs or more"),
        "{}",
        run.stderr
    );
}

/// `fleet --watch` on an rpm-10 key paces itself from the advertised limit: half of it per
/// window (one request every 12 s), so a bounded watch is never refused by its own pacing and
/// says the pace it chose; `--every` still overrides it, and a quick one spends the key.
#[tokio::test]
async fn a_watch_paces_itself_from_the_advertised_limit() {
    let cfg = MockConfig {
        rpm: 10,
        window: Duration::from_mins(1),
        ..MockConfig::default()
    };
    let fleet = MockFleet::start(&cfg, 2, 0).await.unwrap();
    let watch = |key: &'static str, extra: &[&str]| {
        let mut args = vec!["fleet".to_string()];
        args.extend(fleet.urls());
        args.extend(
            ["--watch", "13s", "--format", "json"]
                .iter()
                .chain(extra)
                .map(ToString::to_string),
        );
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            crate::support::ratecheck(&args, &[("RATECHECK_API_KEY", key)]).await
        }
    };
    let (paced, quick) = tokio::join!(
        watch("sk-pace-1", &[]),
        watch("sk-pace-2", &["--every", "500ms"])
    );
    let refused = |report: &serde_json::Value| {
        report["answers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["status"] == 429)
            .count()
    };
    let report = fleet_json(&paced);
    assert_eq!(refused(&report), 0, "{report:#}");
    assert_eq!(report["answers"].as_array().unwrap().len(), 2, "{report:#}");
    let notes = report["notes"].to_string();
    assert!(
        notes.contains(
            "paced one request every 12 s: half the advertised limit of 10 per 60 s window"
        ),
        "{notes}"
    );
    assert!(
        paced
            .stderr
            .contains("paced from the first answer's advertised limit"),
        "{}",
        paced.stderr
    );
    let report = fleet_json(&quick);
    assert!(refused(&report) > 0, "{report:#}");
    assert!(
        report["notes"].to_string().contains("(`--every`)"),
        "{report:#}"
    );
    fleet.shutdown().await;
}
