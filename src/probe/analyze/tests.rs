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

#[test]
fn litellm_v3_drop_is_named_with_exact_headers() {
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
    let (findings, _) = analyze(&exchanges);
    let drop = findings
        .iter()
        .find(|f| f.kind == FindingKind::LitellmV3StreamingDrop)
        .expect("v3 drop");
    assert!(drop.message.contains("BerriAI/litellm#27748"));
    assert_eq!(drop.missing_on, vec!["streaming chat/completions"]);
    let missing = findings
        .iter()
        .find(|f| f.kind == FindingKind::MissingOnShape)
        .unwrap();
    assert_eq!(
        missing.message,
        "`x-ratelimit-api_key-limit-requests`, `x-ratelimit-api_key-remaining-requests` present on non-streaming chat/completions, non-streaming completions, missing on streaming chat/completions"
    );
    assert_eq!(missing.headers.len(), 2);
    // 99 → 97 across two admitted requests (the stream counted too): consistent.
    assert!(
        !findings
            .iter()
            .any(|f| f.kind == FindingKind::CounterMismatch)
    );
}

#[test]
fn headers_on_every_shape_are_clean() {
    let h = [CONTROL, ("x-ratelimit-api_key-remaining-requests", "9")];
    let h2 = [CONTROL, ("x-ratelimit-api_key-remaining-requests", "8")];
    let exchanges = vec![
        ex(1, Endpoint::Chat, Mode::NonStreaming, Shape::JsonObject, &h),
        ex(2, Endpoint::Chat, Mode::Streaming, Shape::Sse, &h2),
    ];
    let (findings, _) = analyze(&exchanges);
    assert!(findings.is_empty(), "{findings:?}");
}

#[test]
fn counters_that_stick_or_jump_are_found() {
    let exchanges = vec![
        ex(
            1,
            Endpoint::Chat,
            Mode::NonStreaming,
            Shape::JsonObject,
            &[("x-ratelimit-remaining-requests", "10")],
        ),
        ex(
            2,
            Endpoint::Chat,
            Mode::NonStreaming,
            Shape::JsonObject,
            &[("x-ratelimit-remaining-requests", "10")],
        ),
        ex(
            3,
            Endpoint::Chat,
            Mode::NonStreaming,
            Shape::JsonObject,
            &[("x-ratelimit-remaining-requests", "7")],
        ),
    ];
    let (findings, _) = analyze(&exchanges);
    let msgs: Vec<_> = findings.iter().map(|f| f.message.as_str()).collect();
    assert!(msgs.iter().any(|m| m.contains("stayed at 10")), "{msgs:?}");
    assert!(msgs.iter().any(|m| m.contains("fell by 3")), "{msgs:?}");
}

#[test]
fn values_are_checked() {
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
        ],
    )];
    let (findings, _) = analyze(&exchanges);
    let kinds: Vec<_> = findings.iter().map(|f| f.kind).collect();
    assert!(
        kinds.contains(&FindingKind::InconsistentValue),
        "{findings:?}"
    );
    assert!(kinds.contains(&FindingKind::MalformedValue));
    assert!(kinds.contains(&FindingKind::ImplausibleReset));
}

#[test]
fn litellm_without_limits_is_not_applicable() {
    let exchanges = vec![
        ex(
            1,
            Endpoint::Chat,
            Mode::NonStreaming,
            Shape::JsonObject,
            &[("x-litellm-version", "1.106.12")],
        ),
        ex(
            2,
            Endpoint::Chat,
            Mode::Streaming,
            Shape::Sse,
            &[("x-litellm-version", "1.106.12")],
        ),
    ];
    let (findings, notes) = analyze(&exchanges);
    assert!(findings.is_empty());
    assert!(notes[0].contains("does not apply"));
}
