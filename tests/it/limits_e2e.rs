//! `ratecheck limits` on real LiteLLM releases, each in front of `tests/litellm/limits_upstream.py`
//! (an OpenAI-compatible upstream on loopback that reports a known usage and answers long
//! generations slowly), with limits from a custom-auth key (`ratecheck_auth.py`).
//!
//! Each release gets exactly its defects of the version table: 1.80.0 all five, 1.106.12 and
//! 1.110.2 the charged refusals (BerriAI/litellm#39309) and the missing `retry-after` on
//! messages and completions (#37754); the legacy limiter is not accused of #39309. Windows are
//! 20 s (`LITELLM_RATE_LIMIT_WINDOW_SIZE`) so that slots a release keeps come back sooner.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::litellm_e2e::{Proxy, rand_u128, release_bin, start_proxy_with, two_free_ports};
use crate::litellm_releases::start_script;
use crate::support::{assert_valid, finding_kinds, ratecheck};

/// The window every proxy here counts in.
const WINDOW: &str = "20";

/// Starts `limits_upstream.py` on `port` with the release's own Python, and waits for it.
async fn start_upstream(bin: &Path, port: u16) -> Proxy {
    let up = start_script(bin, "limits_upstream.py", port);
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::get(format!("{}/v1/models", up.url)).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "limits_upstream.py did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    up
}

/// One release (with `env`): the finding kinds `limits` reports, and the report.
async fn limits_on(
    release: &str,
    env: &[(&str, &str)],
    extra: &[&str],
) -> Option<serde_json::Value> {
    let bin = release_bin(release)?;
    let (up_port, port) = two_free_ports();
    let upstream = start_upstream(&bin, up_port).await;
    let base = format!("{}/v1", upstream.url);
    let mut proxy_env = vec![
        ("RATECHECK_UPSTREAM_BASE", base.as_str()),
        ("LITELLM_RATE_LIMIT_WINDOW_SIZE", WINDOW),
    ];
    proxy_env.extend_from_slice(env);
    let proxy = start_proxy_with(&bin, "config-limits.yaml", port, &proxy_env).await;
    let main = format!("sk-rc-100-5000-p2-{:x}", rand_u128());
    let second = format!("sk-rc-1000-300-{:x}", rand_u128());
    let mut args = vec![
        "limits",
        proxy.url.as_str(),
        "--concurrency-key-env",
        "SECOND_KEY",
        "--format",
        "json",
        "--max-wait",
        "40s",
    ];
    args.extend_from_slice(extra);
    let started = Instant::now();
    let run = ratecheck(
        &args,
        &[("RATECHECK_API_KEY", &main), ("SECOND_KEY", &second)],
    )
    .await;
    for k in [&main, &second] {
        assert!(
            !run.stdout.contains(k.as_str()) && !run.stderr.contains(k.as_str()),
            "a key leaked"
        );
    }
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "{release}: {e}\n{}\n{}\nproxy log: {}",
            run.stdout,
            run.stderr,
            std::fs::read_to_string(&proxy.log).unwrap_or_default()
        )
    });
    assert_valid(
        include_str!("../../docs/limits-report.schema.json"),
        &report,
    );
    eprintln!(
        "limits on LiteLLM {release}{}: exit {}, {} requests in {:.1} s ({:.1} s waiting): {:?}",
        if env.is_empty() {
            ""
        } else {
            " (legacy limiter)"
        },
        run.code,
        report["requests"].as_array().map_or(0, Vec::len),
        started.elapsed().as_secs_f64(),
        report["waited_ms"].as_f64().unwrap_or(0.0) / 1000.0,
        finding_kinds(&report)
    );
    // Within the budget it said before the first request.
    assert!(
        run.stderr
            .starts_with("ratecheck limits: at most 200 requests"),
        "{}",
        run.stderr
    );
    assert!(report["requests"].as_array().unwrap().len() <= 200);
    drop(proxy);
    drop(upstream);
    Some(report)
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn cell(report: &serde_json::Value, check: &str, endpoint: &str, mode: &str) -> String {
    report["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["check"] == check
                && c["variant"]["endpoint"] == endpoint
                && c["variant"]["mode"] == mode
        })
        .map(|c| c["status"].as_str().unwrap().to_string())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_release_gets_exactly_its_limiter_defects() {
    ratecheck::http::install_crypto_provider();
    let legacy = [("LEGACY_MULTI_INSTANCE_RATE_LIMITING", "true")];
    let (old, current, newest, legacy) = tokio::join!(
        limits_on("1.80.0", &[], &[]),
        limits_on("1.106.12", &[], &[]),
        limits_on("1.110.2", &[], &[]),
        // The legacy limiter advertises no max_parallel_requests: say it.
        limits_on("1.106.12", &legacy, &["--max-parallel", "2"]),
    );
    let (Some(old), Some(current), Some(newest), Some(legacy)) = (old, current, newest, legacy)
    else {
        return;
    };
    assert_eq!(
        sorted(finding_kinds(&old)),
        [
            "concurrent_over_admission",
            "refusal_charged",
            "retry_advice_missing",
            "slot_kept",
            "tokens_not_charged"
        ],
        "1.80.0: {old:#}"
    );
    // 1.80.0's evidence: the kept slots on messages and responses, chat's returned; tokens
    // uncharged on non-streaming completions and embeddings, where chat is charged.
    for (endpoint, mode) in [("messages", "non_streaming"), ("responses", "streaming")] {
        assert_eq!(
            cell(&old, "slots_returned", endpoint, mode),
            "defect",
            "{old:#}"
        );
    }
    assert_eq!(
        cell(&old, "slots_returned", "chat", "non_streaming"),
        "held"
    );
    for endpoint in ["completions", "embeddings"] {
        assert_eq!(
            cell(&old, "tokens_charged", endpoint, "non_streaming"),
            "defect",
            "{old:#}"
        );
    }
    for (release, r) in [("1.106.12", &current), ("1.110.2", &newest)] {
        current_release(release, r);
    }
    // The legacy limiter does not charge refusals.
    assert!(
        !finding_kinds(&legacy).contains(&"refusal_charged".to_string()),
        "legacy: {legacy:#}"
    );
    assert_eq!(
        cell(&legacy, "refusals_charged", "chat", "non_streaming"),
        "held",
        "{legacy:#}"
    );
}

/// 1.106.12 and 1.110.2: every refusal charged, no retry-after on messages and completions,
/// and nothing else.
fn current_release(release: &str, r: &serde_json::Value) {
    assert_eq!(
        sorted(finding_kinds(r)),
        ["refusal_charged", "retry_advice_missing"],
        "{release}: {r:#}"
    );
    let charged = &r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "refusal_charged")
        .unwrap()["message"];
    assert!(
        charged
            .as_str()
            .unwrap()
            .contains("9 of the 9 refusals were charged"),
        "{charged}"
    );
    let missing = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "retry_advice_missing")
        .unwrap();
    assert_eq!(
        sorted(
            missing["missing_on"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m.as_str().unwrap().to_string())
                .collect()
        ),
        [
            "non-streaming completions",
            "non-streaming messages",
            "streaming completions",
            "streaming messages"
        ],
        "{release}"
    );
    for check in ["tokens_charged", "slots_returned"] {
        assert!(
            r["cells"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["check"] == check)
                .all(|c| c["status"] == "held"),
            "{release} {check}: {r:#}"
        );
    }
    assert_eq!(
        cell(r, "concurrency", "chat", "non_streaming"),
        "held",
        "{release}"
    );
}
