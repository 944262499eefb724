//! Analysis tests on hand-made exchanges.

use super::*;
use crate::endpoint::{Endpoint, Mode, Variant};
use crate::http::{Exchange, Shape, StreamInfo};

fn ex(
    seq: u32,
    endpoint: Endpoint,
    mode: Mode,
    shape: Shape,
    headers: &[(&str, &str)],
) -> Exchange {
    Exchange {
        seq,
        time_to_headers_ms: Some(1.0),
        stream: (shape == Shape::Sse).then(StreamInfo::default),
        ..Exchange::recorded(Variant { endpoint, mode }, 200, shape, headers)
    }
}

const CONTROL: (&str, &str) = ("x-litellm-key-rpm-limit", "100");
const VERSION: (&str, &str) = ("x-litellm-version", "1.106.12");

fn run(exchanges: &[Exchange]) -> Analysis {
    analyze(exchanges, CounterMode::Auto)
}

fn kinds(list: &[Finding]) -> Vec<FindingKind> {
    list.iter().map(|f| f.kind).collect()
}

#[test]
fn litellm_drop_is_one_finding_with_its_headers() {
    let exchanges = vec![
        ex(
            1,
            Endpoint::Chat,
            Mode::NonStreaming,
            Shape::JsonObject,
            &[
                CONTROL,
                ("x-ratelimit-api_key-remaining-requests", "99"),
                ("x-ratelimit-api_key-limit-requests", "100"),
            ],
        ),
        ex(2, Endpoint::Chat, Mode::Streaming, Shape::Sse, &[CONTROL]),
        ex(
            3,
            Endpoint::Completions,
            Mode::NonStreaming,
            Shape::JsonObject,
            &[
                CONTROL,
                ("x-ratelimit-api_key-remaining-requests", "97"),
                ("x-ratelimit-api_key-limit-requests", "100"),
            ],
        ),
    ];
    let a = run(&exchanges);
    assert_eq!(
        kinds(&a.findings),
        vec![FindingKind::LitellmV3StreamingDrop]
    );
    let drop = &a.findings[0];
    assert!(drop.message.contains("BerriAI/litellm#27748"));
    assert_eq!(
        drop.headers,
        vec![
            "x-ratelimit-api_key-limit-requests",
            "x-ratelimit-api_key-remaining-requests"
        ]
    );
    assert_eq!(drop.missing_on, vec!["streaming chat/completions"]);
    assert_eq!(
        drop.present_on,
        vec![
            "non-streaming chat/completions",
            "non-streaming completions"
        ]
    );
    // 99 → 97 across two admitted requests (the stream counted too): consistent.
    assert!(a.warnings.is_empty(), "{:?}", a.warnings);
}

#[test]
fn headers_on_every_shape_are_clean() {
    let h = [CONTROL, ("x-ratelimit-api_key-remaining-requests", "9")];
    let h2 = [CONTROL, ("x-ratelimit-api_key-remaining-requests", "8")];
    let exchanges = vec![
        ex(1, Endpoint::Chat, Mode::NonStreaming, Shape::JsonObject, &h),
        ex(2, Endpoint::Chat, Mode::Streaming, Shape::Sse, &h2),
    ];
    let a = run(&exchanges);
    assert!(a.findings.is_empty(), "{:?}", a.findings);
    assert!(a.warnings.is_empty(), "{:?}", a.warnings);
}

fn counter_series(values: &[&'static str], litellm: bool) -> Vec<Exchange> {
    values
        .iter()
        .zip(1u32..)
        .map(|(v, seq)| {
            let mut h = vec![
                ("x-ratelimit-remaining-requests", *v),
                ("x-ratelimit-limit-requests", "5000"),
            ];
            if litellm {
                h.push(VERSION);
            }
            ex(
                seq,
                Endpoint::Chat,
                Mode::NonStreaming,
                Shape::JsonObject,
                &h,
            )
        })
        .collect()
}

#[test]
fn an_exact_window_that_does_not_count_is_a_finding() {
    let a = run(&counter_series(&["4990", "4990", "4989"], true));
    assert_eq!(kinds(&a.findings), vec![FindingKind::CounterMismatch]);
    assert!(
        a.findings[0].message.contains("stayed at 4990"),
        "{:?}",
        a.findings
    );
}

#[test]
fn replenishing_counters_prove_nothing_by_standing_still() {
    // OpenAI at 5,000 RPM: two requests 100 ms apart leave the counter where it was.
    let a = run(&counter_series(&["4999", "4999", "4999"], false));
    assert!(a.findings.is_empty(), "{:?}", a.findings);
    assert!(a.warnings.is_empty(), "{:?}", a.warnings);
    // A fall larger than everything sent: other traffic on the organisation, a warning.
    let a = run(&counter_series(&["4999", "4900"], false));
    assert!(a.findings.is_empty());
    assert_eq!(kinds(&a.warnings), vec![FindingKind::CounterMismatch]);
    // Forced exact, the same standstill is a finding.
    let a = analyze(
        &counter_series(&["4990", "4990"], false),
        CounterMode::Exact,
    );
    assert_eq!(kinds(&a.findings), vec![FindingKind::CounterMismatch]);
    assert!(
        analyze(&counter_series(&["4990", "4990"], true), CounterMode::Off)
            .findings
            .is_empty()
    );
}

#[test]
fn requests_that_failed_after_admission_still_count() {
    // LiteLLM counts at admission: the 500 between two successes used quota too.
    let mut exchanges = counter_series(&["97", "95"], true);
    exchanges[1].seq = 3;
    let mut failed = Exchange::recorded(
        Variant {
            endpoint: Endpoint::Chat,
            mode: Mode::NonStreaming,
        },
        500,
        Shape::Error,
        &[VERSION],
    );
    failed.seq = 2;
    failed.error_excerpt = Some("litellm.InternalServerError: model failed".into());
    exchanges.insert(1, failed);
    let a = run(&exchanges);
    assert!(
        !kinds(&a.findings).contains(&FindingKind::CounterMismatch),
        "{:?}",
        a.findings
    );
    assert!(!kinds(&a.warnings).contains(&FindingKind::CounterMismatch));
    assert!(kinds(&a.warnings).contains(&FindingKind::UpstreamError));
}

#[test]
fn values_are_judged_in_their_dialect_and_dimension() {
    let exchanges = vec![ex(
        1,
        Endpoint::Chat,
        Mode::NonStreaming,
        Shape::JsonObject,
        &[
            ("x-ratelimit-limit-requests", "10"),
            ("x-ratelimit-remaining-requests", "11"),
            ("x-ratelimit-reset-requests", "soon"),
            ("x-ratelimit-reset-tokens", "48h0m0s"),
            // Different dimensions: a token budget is not above a request limit.
            ("x-ratelimit-limit-req-minute", "60"),
            ("x-ratelimit-remaining-tokens-minute", "500000"),
        ],
    )];
    let a = run(&exchanges);
    assert_eq!(
        kinds(&a.findings),
        vec![FindingKind::MalformedValue, FindingKind::InconsistentValue],
        "{:?}",
        a.findings
    );
    assert_eq!(kinds(&a.warnings), vec![FindingKind::ImplausibleReset]);
}

#[test]
fn undocumented_dimensions_and_flags_are_not_accused() {
    // Together has been seen sending remaining 19 above limit 10, and a boolean flag.
    let exchanges = vec![ex(
        1,
        Endpoint::Chat,
        Mode::NonStreaming,
        Shape::JsonObject,
        &[
            ("x-ratelimit", "false"),
            ("x-ratelimit-limit", "10"),
            ("x-ratelimit-remaining", "19"),
            ("x-ratelimit-over-limit", "no"),
            ("x-ratelimit-reset-tokens_usage_based", "9ms"),
        ],
    )];
    let a = run(&exchanges);
    assert!(a.findings.is_empty(), "{:?}", a.findings);
    assert_eq!(kinds(&a.warnings), vec![FindingKind::InconsistentValue]);
}

#[test]
fn a_passed_through_upstream_header_is_not_the_gateways_own() {
    // LiteLLM's legacy limiter in front of an upstream with its own headers: on the stream the
    // upstream's values (equal to their `llm_provider-` twins) stand where the proxy's were.
    let own = [
        VERSION,
        ("x-ratelimit-limit-requests", "500"),
        ("x-ratelimit-remaining-requests", "499"),
        ("llm_provider-x-ratelimit-limit-requests", "10000"),
    ];
    let upstream = [
        VERSION,
        ("x-ratelimit-limit-requests", "10000"),
        ("llm_provider-x-ratelimit-limit-requests", "10000"),
    ];
    let exchanges = vec![
        ex(
            1,
            Endpoint::Chat,
            Mode::NonStreaming,
            Shape::JsonObject,
            &own,
        ),
        ex(2, Endpoint::Chat, Mode::Streaming, Shape::Sse, &upstream),
    ];
    let a = run(&exchanges);
    assert_eq!(
        kinds(&a.findings),
        vec![FindingKind::LitellmV3StreamingDrop],
        "{:?}",
        a.findings
    );
    assert_eq!(
        a.findings[0].headers,
        vec![
            "x-ratelimit-limit-requests",
            "x-ratelimit-remaining-requests"
        ]
    );
}

#[test]
fn no_rate_limit_header_anywhere_is_a_warning_in_words() {
    let exchanges = vec![
        ex(
            1,
            Endpoint::Chat,
            Mode::NonStreaming,
            Shape::JsonObject,
            &[("server", "vllm")],
        ),
        ex(
            2,
            Endpoint::Chat,
            Mode::Streaming,
            Shape::Sse,
            &[("server", "vllm")],
        ),
    ];
    let a = run(&exchanges);
    assert!(a.findings.is_empty());
    assert_eq!(kinds(&a.warnings), vec![FindingKind::NoRateLimitHeaders]);
    assert!(
        a.warnings[0]
            .message
            .contains("clients cannot pace themselves")
    );
}

#[test]
fn litellm_without_limits_is_not_applicable() {
    let exchanges = vec![
        ex(
            1,
            Endpoint::Chat,
            Mode::NonStreaming,
            Shape::JsonObject,
            &[VERSION],
        ),
        ex(2, Endpoint::Chat, Mode::Streaming, Shape::Sse, &[VERSION]),
    ];
    let a = run(&exchanges);
    assert!(a.findings.is_empty());
    assert!(a.warnings.is_empty());
    assert!(a.notes[0].contains("does not apply"), "{:?}", a.notes);
    // The release's known defects are named.
    assert!(
        a.notes
            .iter()
            .any(|n| n.contains("LiteLLM 1.106.12 has a known defect"))
    );
}

#[test]
fn router_cooldown_is_not_a_quota_problem() {
    let mut cooled = Exchange::recorded(
        Variant {
            endpoint: Endpoint::Chat,
            mode: Mode::NonStreaming,
        },
        429,
        Shape::Error,
        &[VERSION],
    );
    cooled.error_excerpt = Some(
        "No deployments available for selected model, Try again in 5 seconds. cooldown_list=[...]"
            .into(),
    );
    let a = run(&[cooled]);
    assert_eq!(kinds(&a.warnings), vec![FindingKind::UpstreamError]);
    assert!(!a.warnings[0].message.contains("more room"));
}

/// One counter sent twice with two values on each response (LiteLLM's own and a proxy's): a
/// warning naming both values, and no counter finding built on either.
#[test]
fn a_counter_sent_twice_with_two_values_is_a_warning_not_a_count() {
    let exchanges: Vec<Exchange> = (1..=3)
        .map(|seq| {
            ex(
                seq,
                Endpoint::Chat,
                Mode::NonStreaming,
                Shape::JsonObject,
                &[
                    CONTROL,
                    VERSION,
                    ("x-ratelimit-api_key-remaining-requests", "5"),
                    ("x-ratelimit-api_key-remaining-requests", "90"),
                    ("x-ratelimit-api_key-limit-requests", "100"),
                ],
            )
        })
        .collect();
    let a = run(&exchanges);
    assert!(a.findings.is_empty(), "{:?}", a.findings);
    assert_eq!(kinds(&a.warnings), vec![FindingKind::InconsistentValue]);
    assert!(
        a.warnings[0]
            .message
            .contains("sent 2 times on one response with different values (5, 90)"),
        "{:?}",
        a.warnings
    );
}

/// A gateway in front of two providers: chat answers with OpenAI's set, messages with
/// Anthropic's, each on both shapes.
fn two_upstreams(strip_chat_stream: bool, strip_messages_stream: bool) -> Vec<Exchange> {
    let openai: &[(&str, &str)] = &[
        ("x-ratelimit-limit-requests", "500"),
        ("x-ratelimit-remaining-requests", "499"),
        ("x-ratelimit-reset-requests", "120ms"),
    ];
    let anthropic: &[(&str, &str)] = &[
        ("anthropic-ratelimit-requests-limit", "50"),
        ("anthropic-ratelimit-requests-remaining", "49"),
        ("anthropic-ratelimit-tokens-limit", "8000"),
    ];
    let none: &[(&str, &str)] = &[];
    vec![
        ex(
            1,
            Endpoint::Chat,
            Mode::NonStreaming,
            Shape::JsonObject,
            openai,
        ),
        ex(
            2,
            Endpoint::Chat,
            Mode::Streaming,
            Shape::Sse,
            if strip_chat_stream { none } else { openai },
        ),
        ex(
            3,
            Endpoint::Messages,
            Mode::NonStreaming,
            Shape::PlainDict,
            anthropic,
        ),
        ex(
            4,
            Endpoint::Messages,
            Mode::Streaming,
            Shape::Sse,
            if strip_messages_stream {
                none
            } else {
                anthropic
            },
        ),
    ]
}

#[test]
fn headers_of_two_upstreams_are_compared_each_within_its_dialect() {
    let a = analyze(&two_upstreams(false, false), CounterMode::Off);
    assert!(a.findings.is_empty(), "{:#?}", a.findings);
    assert!(a.warnings.is_empty(), "{:#?}", a.warnings);
    assert!(
        a.notes.iter().any(|n| n.contains("different providers")),
        "{:#?}",
        a.notes
    );
    for (chat, messages) in [(true, false), (false, true)] {
        let a = analyze(&two_upstreams(chat, messages), CounterMode::Off);
        assert_eq!(kinds(&a.findings), [FindingKind::MissingOnShape], "{a:#?}");
        let f = &a.findings[0];
        let (want, on) = if chat {
            (
                vec![
                    "x-ratelimit-limit-requests",
                    "x-ratelimit-remaining-requests",
                    "x-ratelimit-reset-requests",
                ],
                "streaming chat/completions",
            )
        } else {
            (
                vec![
                    "anthropic-ratelimit-requests-limit",
                    "anthropic-ratelimit-requests-remaining",
                    "anthropic-ratelimit-tokens-limit",
                ],
                "streaming messages",
            )
        };
        assert_eq!(f.headers, want, "{f:#?}");
        assert_eq!(f.missing_on, [on], "{f:#?}");
    }
}

#[test]
fn an_upstream_set_on_one_endpoint_and_nothing_on_another_is_only_suspicious() {
    let openai: &[(&str, &str)] = &[("x-ratelimit-remaining-requests", "499")];
    let exchanges = vec![
        ex(
            1,
            Endpoint::Chat,
            Mode::NonStreaming,
            Shape::JsonObject,
            openai,
        ),
        ex(2, Endpoint::Chat, Mode::Streaming, Shape::Sse, openai),
        ex(
            3,
            Endpoint::Embeddings,
            Mode::NonStreaming,
            Shape::JsonObject,
            &[],
        ),
    ];
    let a = analyze(&exchanges, CounterMode::Off);
    assert!(a.findings.is_empty(), "{:#?}", a.findings);
    assert_eq!(kinds(&a.warnings), [FindingKind::MissingOnShape], "{a:#?}");
    assert_eq!(a.warnings[0].missing_on, ["embeddings"]);
    // The gateway's own limiter headers still belong everywhere: LiteLLM's are a finding.
    let own: &[(&str, &str)] = &[CONTROL, ("x-ratelimit-api_key-remaining-requests", "99")];
    let exchanges = vec![
        ex(
            1,
            Endpoint::Chat,
            Mode::NonStreaming,
            Shape::JsonObject,
            own,
        ),
        ex(
            2,
            Endpoint::Messages,
            Mode::NonStreaming,
            Shape::PlainDict,
            &[CONTROL],
        ),
    ];
    let a = analyze(&exchanges, CounterMode::Off);
    assert_eq!(
        kinds(&a.findings),
        [FindingKind::LitellmV3PlainDictDrop],
        "{a:#?}"
    );
}

#[test]
fn a_stream_that_ended_on_an_error_event_leaves_its_shape_unchecked() {
    let mut stream = ex(2, Endpoint::Chat, Mode::Streaming, Shape::Sse, &[]);
    stream.stream = Some(StreamInfo {
        events: 3,
        of_kind: 2,
        error_event: Some("{\"error\":{\"message\":\"boom\"}}".into()),
        ..StreamInfo::default()
    });
    let json = ex(
        1,
        Endpoint::Chat,
        Mode::NonStreaming,
        Shape::JsonObject,
        &[],
    );
    let a = analyze(&[json, stream], CounterMode::Off);
    assert_eq!(a.unchecked.len(), 1, "{a:#?}");
    assert_eq!(a.unchecked[0].shape, "streaming (SSE)");
    assert!(
        a.unchecked[0]
            .why
            .contains("an error event in the stream ×1"),
        "{a:#?}"
    );
}
