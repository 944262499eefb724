//! Every shipped scenario in `scenarios/` against the simulator profile it is written for, with
//! its verdict asserted; reports validated against their schemas (JUnit against the common
//! Jenkins/Surefire `junit-10.xsd`, installed by `tests/junit/setup.sh`); the baseline gate.

use std::path::PathBuf;
use std::time::Duration;

use ratecheck::mock::{MockConfig, MockServer, Profile};

use crate::support::{Run, assert_valid, finding_kinds, ratecheck};

fn scenario(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(format!("{name}.yaml"))
        .display()
        .to_string()
}

async fn sim(profile: Profile, rpm: u64, window: Duration) -> MockServer {
    let cfg = MockConfig {
        profile,
        rpm,
        window,
        chunk_delay: Duration::from_millis(2),
        ..MockConfig::default()
    };
    MockServer::start(cfg, 0).await.unwrap()
}

async fn run(name: &str, server: &MockServer, extra: &[&str]) -> Run {
    let file = scenario(name);
    let url = server.url();
    let mut args = vec!["run", file.as_str(), "--target", url.as_str()];
    args.extend_from_slice(extra);
    ratecheck(&args, &[("LITELLM_API_KEY", "sk-scenario-test-key-000000")]).await
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("ratecheck-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn validate_json(report: &serde_json::Value) {
    assert_valid(include_str!("../../docs/run-report.schema.json"), report);
}

/// Validates a JUnit file with `xmlschema` against junit-10.xsd, both installed by
/// `tests/junit/setup.sh` (`RATECHECK_JUNIT_PYTHON` and `RATECHECK_JUNIT_XSD`, else where the
/// script puts them, as for the LiteLLM releases).
fn validate_junit(path: &std::path::Path) {
    let dir = std::env::var("RATECHECK_JUNIT_DIR").map_or_else(
        |_| {
            std::path::PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".cache/ratecheck/junit")
        },
        std::path::PathBuf::from,
    );
    let python = std::env::var("RATECHECK_JUNIT_PYTHON")
        .map_or_else(|_| dir.join("venv/bin/python"), std::path::PathBuf::from);
    let xsd = std::env::var("RATECHECK_JUNIT_XSD")
        .map_or_else(|_| dir.join("junit-10.xsd"), std::path::PathBuf::from);
    assert!(
        python.exists() && xsd.exists(),
        "the JUnit validator is not installed at {}: run tests/junit/setup.sh (tests/run-all.sh does)",
        dir.display()
    );
    let xsd = xsd.display().to_string();
    let out = std::process::Command::new(python)
        .args([
            "-c",
            "import sys, xmlschema; xmlschema.XMLSchema(sys.argv[1]).validate(sys.argv[2])",
            &xsd,
            &path.display().to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "JUnit report does not validate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn litellm_v3_scenario_fails_with_the_named_finding_and_valid_reports() {
    let server = sim(Profile::LitellmV3, 1000, Duration::from_mins(1)).await;
    let (junit, json, md) = (tmp("v3.xml"), tmp("v3.json"), tmp("v3.md"));
    let r = run(
        "litellm-v3-streaming-headers",
        &server,
        &[
            "--report-junit",
            &junit.display().to_string(),
            "--report-json",
            &json.display().to_string(),
            "--report-markdown",
            &md.display().to_string(),
        ],
    )
    .await;
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("litellm_v3_streaming_drop"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("✗ streaming chat/completions carries `litellm`")
    );
    // The non-streaming request steps pass, the streaming ones fail with expected vs actual.
    assert!(
        r.stdout
            .contains("PASS 2.1.1 request: counters on non-streaming chat/completions")
    );
    assert!(r.stdout.contains(
        "✗ header `x-ratelimit-*-remaining-requests` is an integer ≥ 0: expected an integer ≥ 0, got absent"
    ));

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    validate_json(&report);
    assert_eq!(report["outcome"]["exit_code"], 1);
    let kinds = finding_kinds(&report["scenarios"][0]["steps"][0]);
    assert!(
        kinds.iter().any(|k| k == "litellm_v3_streaming_drop"),
        "{kinds:?}"
    );

    validate_junit(&junit);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<failure type=\"expectation\""));
    assert!(xml.contains("testcase name=\"streaming chat/completions carries `litellm`\""));
    let markdown = std::fs::read_to_string(&md).unwrap();
    assert!(markdown.contains("| **FAIL** |"));

    // `--format json` prints the same document on stdout, and nothing else.
    let r = run(
        "litellm-v3-streaming-headers",
        &server,
        &["--format", "json"],
    )
    .await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    let printed: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    validate_json(&printed);
    assert_eq!(printed["outcome"]["status"], "findings");
    let r = run(
        "litellm-v3-streaming-headers",
        &server,
        &["--format", "markdown"],
    )
    .await;
    assert!(r.stdout.starts_with("## ratecheck run"), "{}", r.stdout);
    server.shutdown().await;
}

#[tokio::test]
async fn litellm_fixed_passes_every_litellm_scenario() {
    let server = sim(Profile::LitellmFixed, 1000, Duration::from_mins(1)).await;
    let junit = tmp("fixed.xml");
    for name in ["litellm-v3-streaming-headers", "litellm-plain-dict-headers"] {
        let r = run(
            name,
            &server,
            &["--report-junit", &junit.display().to_string()],
        )
        .await;
        assert_eq!(r.code, 0, "{name}: {}\n{}", r.stdout, r.stderr);
        assert!(r.stdout.contains("0 failed; exit 0 (ok)"), "{}", r.stdout);
        validate_junit(&junit);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn plain_dict_scenario_fails_on_litellm_v3() {
    let server = sim(Profile::LitellmV3, 1000, Duration::from_mins(1)).await;
    let r = run("litellm-plain-dict-headers", &server, &[]).await;
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout
            .contains("PASS 1.1.1 request: counters on non-streaming chat/completions")
    );
    assert!(
        r.stdout
            .contains("FAIL 1.2.1 request: counters on non-streaming messages")
    );
    server.shutdown().await;
}

#[tokio::test]
async fn dialect_scenarios_pass_on_their_profiles() {
    for (profile, name) in [
        (Profile::Openai, "openai-compatible-contract"),
        (Profile::Anthropic, "anthropic-contract"),
    ] {
        let server = sim(profile, 1000, Duration::from_mins(1)).await;
        let r = run(name, &server, &[]).await;
        assert_eq!(r.code, 0, "{name}: {}\n{}", r.stdout, r.stderr);
        server.shutdown().await;
    }
    // And they fail where their dialect is not spoken.
    let server = sim(Profile::LitellmFixed, 1000, Duration::from_mins(1)).await;
    let r = run("anthropic-contract", &server, &[]).await;
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("carries `anthropic`"));
    server.shutdown().await;
}

#[tokio::test]
async fn contract_429_passes_with_the_measured_wait_on_every_profile() {
    for profile in [
        Profile::LitellmV3,
        Profile::Openai,
        Profile::Anthropic,
        Profile::Ietf,
    ] {
        let server = sim(profile, 3, Duration::from_secs(1)).await;
        let json = tmp(&format!("429-{profile}.json"));
        let r = run(
            "rate-limit-429-contract",
            &server,
            &["--report-json", &json.display().to_string()],
        )
        .await;
        assert_eq!(r.code, 0, "{profile}: {}\n{}", r.stdout, r.stderr);
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        validate_json(&report);
        let notes = report["scenarios"][0]["steps"][0]["notes"].to_string();
        assert!(
            notes.contains("3 requests accepted, then request 4 refused with 429"),
            "{notes}"
        );
        assert!(
            notes.contains("advertised wait accuracy: accepted"),
            "{notes}"
        );
        server.shutdown().await;
    }
}

#[tokio::test]
async fn contract_429_fails_when_the_limit_is_never_reached() {
    let server = sim(Profile::Openai, 1000, Duration::from_mins(1)).await;
    let file = tmp("never.yaml");
    std::fs::write(&file, "steps:\n  - exhaust:\n      max_requests: 5\n").unwrap();
    let url = server.url();
    let r = ratecheck(&["run", &file.display().to_string(), "--target", &url], &[]).await;
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains(
        "✗ the limit answers within 5 requests: expected a refusal, got all 5 requests were accepted"
    ));
    // With `if_not_reached: note` (the limit is unknown, as in triage), the same run passes
    // and says the contract went unchecked.
    let file = tmp("never-note.yaml");
    std::fs::write(
        &file,
        "steps:\n  - exhaust:\n      max_requests: 5\n      if_not_reached: note\n",
    )
    .unwrap();
    let path = file.display().to_string();
    let r = ratecheck(&["run", &path, "--target", &url, "--format", "json"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stdout);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let notes = report["scenarios"][0]["steps"][0]["notes"].to_string();
    assert!(notes.contains("the limit was not reached"), "{report:#}");
    server.shutdown().await;
}

#[tokio::test]
async fn baseline_recorded_on_fixed_gateway_fails_on_v3() {
    let fixed = sim(Profile::LitellmFixed, 1000, Duration::from_mins(1)).await;
    let base = tmp("baseline.json");
    let b = base.display().to_string();
    let r = run(
        "litellm-v3-streaming-headers",
        &fixed,
        &["--save-baseline", &b],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains("baseline saved to"));
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&base).unwrap()).unwrap();
    assert!(
        saved["contract"]["streaming chat/completions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h == "x-ratelimit-api_key-remaining-requests")
    );
    // The same gateway still meets its own baseline.
    let r = run("litellm-plain-dict-headers", &fixed, &["--baseline", &b]).await;
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stdout
            .contains("not exercised in this run: streaming chat/completions")
    );

    // "Upgrade" to the v3 gateway: only the baseline gate is asked about, via a scenario
    // without expectations of its own.
    let v3 = sim(Profile::LitellmV3, 1000, Duration::from_mins(1)).await;
    let file = tmp("matrix.yaml");
    std::fs::write(
        &file,
        "steps:\n  - probe:\n      endpoints: [chat]\n      expect: {same_across_shapes: false}\n",
    )
    .unwrap();
    let url = v3.url();
    let junit = tmp("baseline.xml");
    let r = ratecheck(
        &[
            "run",
            &file.display().to_string(),
            "--target",
            &url,
            "--baseline",
            &b,
            "--report-junit",
            &junit.display().to_string(),
        ],
        &[],
    )
    .await;
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains(
        "MISSING `x-ratelimit-api_key-remaining-requests` on streaming chat/completions: in the baseline, missing now"
    ));
    validate_junit(&junit);
    // The console and JUnit count the same checks: the baseline's missing headers are checks.
    let xml = std::fs::read_to_string(&junit).unwrap();
    let root = xml.lines().find(|l| l.starts_with("<testsuites")).unwrap();
    let attr = |name: &str| -> String {
        let from = root.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        root[from..].split('"').next().unwrap().to_string()
    };
    let said = format!("{} checks, {} failed (", attr("tests"), attr("failures"));
    assert!(r.stdout.contains(&said), "{said}: {}", r.stdout);
    fixed.shutdown().await;
    v3.shutdown().await;
}

#[tokio::test]
async fn triage_bundle_names_the_drop_with_its_cause_and_a_stream_timeline() {
    let server = sim(Profile::LitellmV3, 40, Duration::from_secs(1)).await;
    let out = tmp("triage.md");
    let o = out.display().to_string();
    let url = server.url();
    let r = ratecheck(
        &[
            "triage",
            &url,
            "--out",
            &o,
            "--endpoints",
            "chat,completions",
        ],
        &[("LITELLM_API_KEY", "sk-triage-test-key-0000000000")],
    )
    .await;
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .starts_with(&format!("triage bundle written to {o}")),
        "{}",
        r.stdout
    );
    let md = std::fs::read_to_string(&out).unwrap();
    for want in [
        concat!("- tool: ratecheck ", env!("CARGO_PKG_VERSION")),
        "- gateway: LiteLLM 1.101.6-ratecheck-mock",
        "| `x-ratelimit-api_key-remaining-requests` |",
        "**MISSING**",
        "- `litellm_v3_streaming_drop`: LiteLLM's v3 parallel_request_limiter computes these headers in a post-call hook",
        "See https://github.com/BerriAI/litellm/issues/27748.",
        "| the refusal's status is 429 | pass | 429 | 429 |",
        "advertised wait accuracy: accepted",
        "## SSE timeline",
        "| 1 | ",
        "end `[DONE]`",
    ] {
        assert!(md.contains(want), "missing {want:?} in:\n{md}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn load_scenario_finds_the_drop_under_load_on_v3_and_passes_on_fixed() {
    let (v3, fixed) = tokio::join!(
        sim(Profile::LitellmV3, 100_000, Duration::from_mins(1)),
        sim(Profile::LitellmFixed, 100_000, Duration::from_mins(1))
    );
    let (bad, good) = tokio::join!(
        run("rate-limit-headers-under-load", &v3, &[]),
        run("rate-limit-headers-under-load", &fixed, &[])
    );
    assert_eq!(bad.code, 1, "{}", bad.stdout);
    assert!(bad.stdout.contains(
        "✗ phase 2: the rate-limit headers tell the truth under load: expected no finding, got litellm_v3_streaming_drop: x-ratelimit-api_key-limit-requests, x-ratelimit-api_key-limit-tokens, x-ratelimit-api_key-remaining-requests, x-ratelimit-api_key-remaining-tokens missing on streaming chat/completions"
    ), "{}", bad.stdout);
    assert_eq!(good.code, 0, "{}", good.stdout);
    assert!(
        good.stdout
            .contains("PASS 1 load: stepwise ramp, half streamed  (6 checks"),
        "{}",
        good.stdout
    );
    v3.shutdown().await;
    fixed.shutdown().await;
}

/// On a terminal, triage's wait before the recovery check counts down (run under `script`,
/// util-linux's pseudo-terminal); piped, nothing but the result reaches the output.
#[tokio::test]
async fn triage_counts_down_its_wait_on_a_terminal() {
    let server = sim(Profile::LitellmV3, 3, Duration::from_secs(4)).await;
    let out = tmp("countdown.md");
    let typescript = tmp("countdown.typescript");
    let cmd = format!(
        "{} triage {} --endpoints chat --repeat 1 --out {}",
        env!("CARGO_BIN_EXE_ratecheck"),
        server.url(),
        out.display()
    );
    let status = tokio::task::spawn_blocking(move || {
        std::process::Command::new("script")
            .args(["-qec", &cmd])
            .arg(&typescript)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("util-linux `script`")
    })
    .await
    .unwrap();
    assert_eq!(status.code(), Some(1), "the drop is found");
    let screen = std::fs::read_to_string(tmp("countdown.typescript")).unwrap();
    // The 4 s window's wait, second by second, down to the last one.
    for left in [
        "waiting 4 s before",
        "waiting 2 s before",
        "waiting 1 s before",
    ] {
        assert!(
            screen.contains(left),
            "{left:?} not on the terminal:\n{screen}"
        );
    }
    let piped = ratecheck(
        &[
            "triage",
            &server.url(),
            "--endpoints",
            "chat",
            "--repeat",
            "1",
            "--out",
            &out.display().to_string(),
        ],
        &[],
    )
    .await;
    assert!(!piped.stderr.contains("waiting"), "{}", piped.stderr);
    server.shutdown().await;
}
