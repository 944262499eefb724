//! `ratecheck fleet` on real LiteLLM 1.106.12 instances: two on one real Redis (Debian's
//! `redis-server`, installed by `tests/redis/setup.sh`, started here on a free loopback port
//! without persistence and stopped by its PID) count one limit; two without Redis count apart;
//! the shipped fleet scenario says the same of both pairs; and when that Redis is stopped under a
//! `--watch`, the watch dates the split.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use crate::litellm_e2e::{Proxy, key, release_bin, start_proxy_with};
use crate::support::{finding_kinds, free_port, ratecheck};

/// A redis-server of the test's own, stopped by its PID when dropped.
struct Redis {
    child: Child,
    port: u16,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_redis() -> Redis {
    let bin = std::env::var("RATECHECK_REDIS").unwrap_or_else(|_| "redis-server".into());
    let port = free_port();
    let child = Command::new(&bin)
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{bin}: {e}: install it with tests/redis/setup.sh (tests/run-all.sh does)")
        });
    let redis = Redis { child, port };
    crate::support::wait_until_listening(port, "redis-server").await;
    redis
}

/// The shipped test config with `coordination_redis` pointing at `port`, written where the
/// test keeps its files; LiteLLM still runs in `tests/litellm`, where its modules are.
fn fleet_config(port: u16) -> String {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/litellm/config.yaml");
    let text = std::fs::read_to_string(shipped).unwrap().replace(
        "general_settings:\n",
        &format!(
            "general_settings:\n  coordination_redis:\n    host: 127.0.0.1\n    port: {port}\n"
        ),
    );
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("ratecheck-fleet-{port}.yaml"));
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

async fn fleet(proxies: &[&Proxy], rpm: u32) -> (i32, serde_json::Value, String) {
    let mut args = vec!["fleet".to_string()];
    args.extend(proxies.iter().map(|p| p.url.clone()));
    args.extend(["--format", "json", "--timeout", "60s"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = ratecheck(&args, &[("RATECHECK_API_KEY", &key(rpm, 1_000_000))]).await;
    (run.code, crate::fleet_sim::fleet_json(&run), run.stderr)
}

/// `scenarios/litellm-fleet.yaml` over `pair`, the first also its target (the load balancer):
/// the exit and the fleet step's report.
async fn fleet_scenario(pair: [&Proxy; 2], rpm: u32) -> (i32, serde_json::Value) {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/litellm-fleet.yaml")
        .display()
        .to_string();
    let key = key(rpm, 1_000_000);
    let run = ratecheck(
        &["run", &file, "--target", &pair[0].url, "--format", "json"],
        &[
            ("RATECHECK_API_KEY", &key),
            ("RATECHECK_FLEET_A", &pair[0].url),
            ("RATECHECK_FLEET_B", &pair[1].url),
        ],
    )
    .await;
    let report: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout, run.stderr));
    (run.code, report["scenarios"][0]["steps"][0].clone())
}

/// Redis stopped (SIGTERM to its PID) while `pair` runs on it, 3 s into an 8 s watch: exit 1
/// with `fleet_split_counters`, one counter then split, the split dated after the stop.
async fn watch_through_a_redis_stop(pair: [&Proxy; 2], redis: &Redis) {
    // Redis stopped (SIGTERM to its PID) while the instances run: LiteLLM fails open, each
    // instance falls back to its own memory, and the watch sees their values repeat.
    let started = Instant::now();
    let args = [
        "fleet",
        &pair[0].url,
        &pair[1].url,
        "--watch",
        "8s",
        "--every",
        "250ms",
        "--format",
        "json",
        "--timeout",
        "30s",
    ];
    let key = key(1000, 100_000_000);
    let env = [("RATECHECK_API_KEY", key.as_str())];
    let watch = ratecheck(&args, &env);
    let stop_redis = async {
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        let status = Command::new("kill")
            .args(["-TERM", &redis.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        started.elapsed().as_secs_f64() * 1000.0
    };
    let (run, stopped_at) = tokio::join!(watch, stop_redis);
    eprintln!(
        "watch with Redis stopped at {:.1} s: {:.1} s",
        stopped_at / 1000.0,
        started.elapsed().as_secs_f64()
    );
    let report = crate::fleet_sim::fleet_json(&run);
    assert_eq!(run.code, 1, "{}\n{report:#}", run.stderr);
    assert_eq!(
        finding_kinds(&report),
        vec!["fleet_split_counters"],
        "{report:#}"
    );
    let changes: Vec<(&str, f64)> = report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["state"].as_str().unwrap(), c["at_ms"].as_f64().unwrap()))
        .collect();
    assert_eq!(
        changes.iter().map(|c| c.0).collect::<Vec<_>>(),
        ["one_counter", "split"],
        "{report:#}"
    );
    // The watch's clock starts a little after the test's: the split is dated after Redis
    // stopped, within a few requests.
    let split_at = changes[1].1;
    assert!(
        split_at > stopped_at - 1000.0 && split_at < stopped_at + 2000.0,
        "Redis stopped at {stopped_at:.0} ms, split reported at {split_at:.0} ms: {report:#}"
    );
}

#[tokio::test]
async fn a_fleet_on_redis_counts_once_and_one_without_counts_twice() {
    let Some(bin) = release_bin("1.106.12") else {
        return;
    };
    ratecheck::http::install_crypto_provider();
    let redis = start_redis().await;
    let shared = fleet_config(redis.port);
    let ports: Vec<u16> = (0..4).map(|_| free_port()).collect();
    let started = Instant::now();
    let (a, b, c, d) = tokio::join!(
        start_proxy_with(&bin, &shared, ports[0], &[]),
        start_proxy_with(&bin, &shared, ports[1], &[]),
        start_proxy_with(&bin, "config.yaml", ports[2], &[]),
        start_proxy_with(&bin, "config.yaml", ports[3], &[]),
    );
    eprintln!(
        "four LiteLLM instances healthy in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let (code, report, stderr) = fleet(&[&a, &b], 5).await;
    eprintln!(
        "fleet check on Redis: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(code, 0, "{stderr}\n{report:#}");
    assert!(finding_kinds(&report).is_empty(), "{report:#}");
    let answers = report["answers"].as_array().unwrap();
    assert!(answers.len() <= 5 + 2 * 2, "{report:#}");
    let admitted = answers.iter().filter(|x| x["status"] == 200).count();
    assert_eq!(admitted, 5, "one limit across both instances: {report:#}");

    let (code, report, stderr) = fleet(&[&c, &d], 5).await;
    assert_eq!(code, 1, "{stderr}\n{report:#}");
    assert_eq!(
        finding_kinds(&report),
        vec!["fleet_split_counters", "fleet_over_admission"],
        "{report:#}"
    );

    // The shipped scenario says the same of both pairs.
    for (pair, code, kinds) in [
        ([&a, &b], 0, vec![]),
        (
            [&c, &d],
            1,
            vec!["fleet_split_counters", "fleet_over_admission"],
        ),
    ] {
        let (got, step) = fleet_scenario(pair, 5).await;
        assert_eq!(got, code, "{step:#}");
        assert_eq!(finding_kinds(&step), kinds, "{step:#}");
    }

    watch_through_a_redis_stop([&a, &b], &redis).await;
    drop((a, b, c, d));
    drop(redis);
}
