//! Property tests: whatever a gateway sends or a user writes, the parsers answer — a value, a
//! located error — and never panic; and what they accept they read back the same way.

use std::path::Path;

use proptest::prelude::*;
use ratecheck::headers::{self, values};

/// Header names that reach every dialect reader: known prefixes with arbitrary tails.
fn header_name() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec![
            "x-ratelimit-",
            "x-ai-ratelimit-",
            "anthropic-ratelimit-",
            "anthropic-ratelimit-unified-",
            "llm_provider-x-ratelimit-",
            "ratelimit",
            "helicone-ratelimit-",
            "retry-after",
            "x-litellm-",
            "",
        ]),
        "[a-z0-9_-]{0,24}",
    )
        .prop_map(|(p, t)| format!("{p}{t}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_header_is_classified_without_panic(name in header_name(), value in "\\PC{0,64}") {
        if let Some(h) = headers::classify(&name, &value) {
            prop_assert_eq!(h.name, name.to_ascii_lowercase());
        }
    }

    #[test]
    fn value_parsers_never_panic(text in "\\PC{0,48}") {
        let _ = values::parse_go_duration(&text);
        let _ = values::parse_numeric_reset(&text);
        let _ = values::parse_retry_after(&text);
        let _ = values::parse_retry_after_ms(&text);
        let _ = values::parse_count(&text);
        let _ = values::parse_ietf_list(&text, "r");
        let _ = values::parse_rfc3339(&text);
        if let Ok(d) = ratecheck::duration::parse(&text) {
            prop_assert!(d.as_secs_f64() < 1e9);
        }
    }

    #[test]
    fn go_durations_read_back(ms in 0u64..100_000_000) {
        let seconds = ms as f64 / 1000.0;
        let text = values::format_go_duration(seconds);
        let back = values::parse_go_duration(&text).unwrap();
        prop_assert!((back - seconds).abs() < 1e-3, "{text}: {back} vs {seconds}");
    }

    #[test]
    fn ietf_lists_read_back(r in 0i64..1_000_000_000, t in 0i64..100_000, name in "[a-z][a-z0-9]{0,8}") {
        let text = format!("\"{name}\";r={r};t={t}");
        let items = values::parse_ietf_list(&text, "r").unwrap();
        prop_assert_eq!(items.len(), 1);
        prop_assert_eq!(items[0].ints.get("r").copied(), Some(r));
        prop_assert_eq!(items[0].ints.get("t").copied(), Some(t));
    }
}

/// Scenario-shaped text: real keys and step names in a random order and nesting, so the
/// reader's error paths are walked, not only "not YAML".
fn scenario_text() -> impl Strategy<Value = String> {
    let word = prop::sample::select(vec![
        "name: x",
        "target: http://127.0.0.1:1",
        "steps:",
        "  - probe: {}",
        "  - request: {endpoint: chat, stream: true}",
        "  - exhaust: {max_requests: 0}",
        "  - load: {rate: 5, duration: 1s}",
        "  - repeat: {times: 2, steps: [{probe: {}}]}",
        "  - for_each: {endpoints: [], steps: []}",
        "    expect: {status: 200}",
        "defaults: {timeout: soon}",
        "strict: yes",
        "${UNSET_VAR}",
        "\t- bad",
        "steps: [",
        "- [",
        "  capture: {1x: y}",
        "      headers: {x-a: {integer: {min: 5, max: 1}}}",
    ]);
    prop::collection::vec(word, 0..12).prop_map(|lines| lines.join("\n"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn any_scenario_text_reads_or_says_where_it_is_wrong(text in scenario_text()) {
        match ratecheck::scenario::parse(Path::new("p.yaml"), text, true) {
            Ok(_) => {}
            Err(e) => {
                let shown = e.to_string();
                prop_assert!(shown.starts_with("p.yaml"), "{shown}");
            }
        }
    }

    #[test]
    fn arbitrary_bytes_as_a_scenario_never_panic(text in "\\PC{0,200}") {
        let _ = ratecheck::scenario::parse(Path::new("p.yaml"), text, false);
    }
}
