//! The simulator as a fleet: instances on one shared store count one limit, as LiteLLM pods on
//! one Redis do, until the fleet is split (a Redis loss) and each counts alone.

use std::time::Duration;

use ratecheck::mock::{MockConfig, MockFleet};

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
        let report: serde_json::Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout, run.stderr));
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
