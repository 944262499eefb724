//! The exposition on fixed reports: reviewed snapshots, and the bounds on label values.

use std::time::Duration;

use super::{MAX_HEADER_NAME, MAX_HEADERS, Probed, encode, series};
use crate::endpoint::{Endpoint, Mode, Variant};
use crate::http::{Exchange, Shape};
use crate::report::fixtures;
use crate::verdict::Exit;

const TOOK: Duration = Duration::from_millis(123);

#[test]
fn a_probe_that_found_the_streaming_drop() {
    let report = fixtures::probe_report();
    insta::assert_snapshot!(encode(series(Probed::Probe(&report), TOOK)));
}

#[test]
fn a_fleet_check() {
    let report = fixtures::fleet_report();
    insta::assert_snapshot!(encode(series(Probed::Fleet(&report), TOOK)));
}

#[test]
fn a_check_past_its_deadline() {
    let text = encode(series(Probed::Failed(Exit::Timeout), TOOK));
    assert!(text.contains("ratecheck_probe_success 0"), "{text}");
    assert!(text.contains("ratecheck_probe_exit_code 4"), "{text}");
    assert!(!text.contains("ratecheck_header_present"), "{text}");
}

#[test]
fn header_labels_are_bounded_whatever_the_gateway_sends() {
    // A gateway that invents a descriptor per answer, one with a very long name, and a value
    // that would make a terrible label.
    let long = format!("x-ratelimit-{}-remaining-requests", "d".repeat(200));
    let mut headers: Vec<(String, String)> = (0..100)
        .map(|i| {
            (
                format!("x-ratelimit-d{i:03}-remaining-requests"),
                "5".to_string(),
            )
        })
        .collect();
    headers.push((long.clone(), "5".into()));
    headers.push((
        "x-ratelimit-api_key-remaining-tokens".into(),
        "9\"} evil{a=\"b".into(),
    ));
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let ex = Exchange::recorded(
        Variant {
            endpoint: Endpoint::Chat,
            mode: Mode::NonStreaming,
        },
        200,
        Shape::JsonObject,
        &pairs,
    );
    let mut report = fixtures::probe_report();
    report.exchanges = vec![ex];
    let metrics = series(Probed::Probe(&report), TOOK);
    let present = metrics
        .iter()
        .find(|m| m.name == "ratecheck_header_present")
        .unwrap();
    assert_eq!(present.series.len(), MAX_HEADERS);
    for m in &metrics {
        for (labels, _) in &m.series {
            for (_, v) in labels {
                assert!(v.len() <= MAX_HEADER_NAME, "{v}");
                assert!(!v.contains('"') && !v.contains('{'), "{v}");
            }
        }
    }
    let text = encode(metrics);
    assert!(!text.contains(&long) && !text.contains("evil"), "{text}");
}
