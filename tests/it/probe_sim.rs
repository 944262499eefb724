//! `probe` against the built-in simulator: every profile, in-process and through the binary.

use std::time::Duration;

use ratecheck::endpoint::{Endpoint, Mode};
use ratecheck::http::{Client, ConnectSpec, Shape, normalize_base};
use ratecheck::mock::{MockConfig, MockServer, Profile};
use ratecheck::probe::{ProbeOptions, ProbeReport, probe};
use ratecheck::verdict::FindingKind;

use crate::support::{assert_valid, ratecheck};

const COUNTERS: [&str; 4] = [
    "x-ratelimit-api_key-limit-requests",
    "x-ratelimit-api_key-limit-tokens",
    "x-ratelimit-api_key-remaining-requests",
    "x-ratelimit-api_key-remaining-tokens",
];

fn mock(profile: Profile) -> MockConfig {
    MockConfig {
        profile,
        chunk_delay: Duration::from_millis(2),
        ..MockConfig::default()
    }
}

async fn probe_with(cfg: MockConfig, opts: ProbeOptions) -> (ProbeReport, MockServer) {
    let server = MockServer::start(cfg, 0).await.unwrap();
    let client = Client::new(
        normalize_base(&server.url()).unwrap(),
        ConnectSpec {
            timeout: Duration::from_secs(10),
            api_key: Some("sk-test-key".into()),
            ..ConnectSpec::default()
        },
    )
    .unwrap();
    let report = probe(&client, &opts, &mut |_| {}).await;
    (report, server)
}

#[tokio::test]
async fn litellm_v3_drop_is_found_with_exact_headers() {
    let (report, server) = probe_with(mock(Profile::LitellmV3), ProbeOptions::default()).await;
    assert_eq!(report.outcome.exit_code, 1, "{:#?}", report.findings);
    assert_eq!(report.exchanges.len(), 9);

    let drop = report
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::LitellmV3StreamingDrop)
        .expect("the v3 streaming drop is named");
    assert!(drop.message.contains("BerriAI/litellm#27748"));
    let mut missing = drop.missing_on.clone();
    missing.sort();
    assert_eq!(
        missing,
        [
            "streaming chat/completions",
            "streaming completions",
            "streaming messages",
            "streaming responses"
        ]
    );

    // One finding per defect: the drop names its headers and where they were present; no
    // `missing_on_shape` twin repeats it.
    let drop = report
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::LitellmV3StreamingDrop)
        .unwrap();
    assert_eq!(drop.headers, COUNTERS);
    assert!(
        drop.message
            .starts_with("LiteLLM streaming header drop (BerriAI/litellm#27748): the limiter's `x-ratelimit-api_key-limit-requests`, "),
        "{}",
        drop.message
    );
    assert_eq!(
        drop.present_on,
        [
            "non-streaming chat/completions",
            "non-streaming completions",
            "non-streaming responses",
            "non-streaming embeddings"
        ]
    );
    assert!(
        !report
            .findings
            .iter()
            .any(|f| f.kind == FindingKind::MissingOnShape),
        "{:?}",
        report.findings
    );
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.kind == FindingKind::LitellmV3PlainDictDrop
                && f.missing_on == ["non-streaming messages"])
    );

    // The evidence: counters on non-streaming JSON objects, none on any stream.
    for ex in &report.exchanges {
        let has = COUNTERS.iter().all(|n| ex.rate_header(n).is_some());
        match (ex.variant.mode, ex.shape) {
            (Mode::NonStreaming, Shape::JsonObject) => assert!(has, "{}", ex.variant),
            (_, Shape::Sse) => {
                assert!(!has, "{}", ex.variant);
                assert!(ex.rate_header("x-litellm-key-rpm-limit").is_some());
                let stream = ex.stream.as_ref().unwrap();
                assert!(stream.end.is_some() && stream.events > 3, "{stream:?}");
                assert!(ex.time_to_first_event_ms.is_some());
            }
            (Mode::NonStreaming, Shape::PlainDict) => {
                assert_eq!(ex.variant.endpoint, Endpoint::Messages);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // Streams are counted too: remaining falls by one per request, no counter finding.
    assert!(
        !report
            .findings
            .iter()
            .any(|f| f.kind == FindingKind::CounterMismatch)
    );
    let streams = server.requests().iter().filter(|r| r.stream).count();
    assert_eq!(streams, 4);
    server.shutdown().await;
}

#[tokio::test]
async fn litellm_fixed_passes_and_counters_fall_over_rounds() {
    let opts = ProbeOptions {
        repeat: 3,
        ..ProbeOptions::default()
    };
    let (report, server) = probe_with(mock(Profile::LitellmFixed), opts).await;
    assert_eq!(report.outcome.exit_code, 0, "{:#?}", report.findings);
    assert!(report.findings.is_empty());
    assert_eq!(report.exchanges.len(), 27);
    let remaining: Vec<i64> = report
        .exchanges
        .iter()
        .map(|e| {
            e.rate_header("x-ratelimit-api_key-remaining-requests")
                .unwrap()
                .count()
                .unwrap()
        })
        .collect();
    let expected: Vec<i64> = (0..27).map(|i| 999 - i).collect();
    assert_eq!(remaining, expected);
    server.shutdown().await;
}

#[tokio::test]
async fn dialect_profiles_pass_with_their_own_headers() {
    for (profile, header) in [
        (Profile::Openai, "x-ratelimit-reset-requests"),
        (Profile::Anthropic, "anthropic-ratelimit-requests-reset"),
        (Profile::Ietf, "ratelimit"),
    ] {
        let (report, server) = probe_with(mock(profile), ProbeOptions::default()).await;
        assert_eq!(
            report.outcome.exit_code, 0,
            "{profile}: {:#?}",
            report.findings
        );
        for ex in &report.exchanges {
            assert!(ex.shape.is_success(), "{profile} {}", ex.variant);
            assert!(ex.rate_header(header).is_some(), "{profile} {}", ex.variant);
        }
        server.shutdown().await;
    }
}

/// The OpenAI profile replenishes as OpenAI does: at 600,000 RPM the counter stands still at
/// 599,999 between requests ("stayed at 4999 from request 1 to 2" was the first version's false
/// alarm on real OpenAI). Read by its semantics, that proves nothing, over three rounds.
#[tokio::test]
async fn replenishing_counters_are_judged_by_their_semantics() {
    let cfg = MockConfig {
        rpm: 600_000,
        ..mock(Profile::Openai)
    };
    let opts = ProbeOptions {
        repeat: 3,
        ..ProbeOptions::default()
    };
    let (report, server) = probe_with(cfg, opts).await;
    assert_eq!(report.outcome.exit_code, 0, "{:#?}", report.findings);
    assert!(report.warnings.is_empty(), "{:#?}", report.warnings);
    let stood_still = report
        .exchanges
        .iter()
        .filter_map(|e| e.rate_header("x-ratelimit-remaining-requests"))
        .all(|h| h.value == "599999");
    assert!(stood_still, "the counter replenishes between requests");
    server.shutdown().await;
}

#[tokio::test]
async fn throttled_probe_reports_the_429() {
    let cfg = MockConfig {
        rpm: 3,
        ..mock(Profile::Openai)
    };
    let (report, server) = probe_with(cfg, ProbeOptions::default()).await;
    // Being refused during the probe is not a defect of the gateway: a warning, exit 0.
    assert_eq!(report.outcome.exit_code, 0, "{:?}", report.findings);
    let throttled: Vec<_> = report
        .exchanges
        .iter()
        .filter(|e| e.status == Some(429))
        .collect();
    assert_eq!(throttled.len(), 6);
    assert!(throttled[0].rate_header("retry-after").is_some());
    assert!(
        report
            .warnings
            .iter()
            .any(|f| f.kind == FindingKind::EndpointError
                && f.message.contains("rate limited during the probe (429)"))
    );
    server.shutdown().await;
}

#[tokio::test]
async fn endpoints_not_offered_are_not_failures() {
    let cfg = MockConfig {
        endpoints: vec![Endpoint::Chat, Endpoint::Embeddings],
        ..mock(Profile::LitellmFixed)
    };
    let (report, server) = probe_with(cfg, ProbeOptions::default()).await;
    assert_eq!(report.outcome.exit_code, 0, "{:#?}", report.findings);
    let not_offered = report
        .exchanges
        .iter()
        .filter(|e| e.shape == Shape::NotOffered)
        .count();
    assert_eq!(not_offered, 6);
    server.shutdown().await;
}

#[tokio::test]
async fn binary_reports_in_every_format() {
    let server = MockServer::start(mock(Profile::LitellmV3), 0)
        .await
        .unwrap();
    let url = format!("{}/v1", server.url());

    let run = ratecheck(&["probe", &url, "--format", "json"], &[]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_valid(include_str!("../../docs/probe-report.schema.json"), &json);
    assert_eq!(json["outcome"]["exit_code"], 1);
    assert_eq!(json["findings"][0]["kind"], "litellm_v3_streaming_drop");

    let run = ratecheck(&["probe", &url, "--format", "markdown"], &[]).await;
    assert_eq!(run.code, 1);
    assert!(
        run.stdout
            .contains("| `x-ratelimit-api_key-remaining-requests` |")
    );
    assert!(run.stdout.contains("**MISSING**"));
    assert!(run.stdout.contains("litellm_v3_streaming_drop"));

    let run = ratecheck(&["probe", &url, "--endpoints", "chat"], &[]).await;
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("MISSING"));
    assert!(
        run.stdout
            .contains("x-ratelimit-api_key-remaining-requests")
    );
    assert!(
        run.stdout.contains("✗ 1 finding (exit 1) — 2 requests"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("\u{1b}["), "no colour off a TTY");
    server.shutdown().await;

    let fixed = MockServer::start(mock(Profile::LitellmFixed), 0)
        .await
        .unwrap();
    let run = ratecheck(&["probe", &fixed.url()], &[]).await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(run.stdout.contains("✓ no findings (exit 0)"));
    fixed.shutdown().await;
}

#[tokio::test]
async fn demo_finds_the_drop_and_verifies_the_fix() {
    let run = ratecheck(&["demo"], &[]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("litellm-v3:    exit 1 — streaming and plain-dict header drops found")
    );
    assert!(run.stdout.contains("litellm-fixed: exit 0"));
}
