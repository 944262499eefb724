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
