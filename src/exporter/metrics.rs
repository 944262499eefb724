//! What one scrape answers: a probe's or a fleet check's report as gauges in the Prometheus
//! text exposition format, encoded by `prometheus-client`.
//!
//! The series are built as plain data first ([`Metric`]), sorted, then handed to the encoder as
//! one collector, so an answer is deterministic and its reviewed snapshot stays stable. Every
//! label value comes from a bounded set: finding kinds and levels from the verdict vocabulary,
//! endpoints and shapes from the probe matrix, header names only from the rate-limit headers
//! the dialect readers recognised (or the module declared), lowercase, at most
//! [`MAX_HEADER_NAME`] characters and [`MAX_HEADERS`] of them. No body text, no header value,
//! no target and no key is ever a label.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::endpoint::Mode;
use crate::fleet::FleetReport;
use crate::headers::{RateHeader, Role};
use crate::http::Exchange;
use crate::probe::ProbeReport;
use crate::verdict::{Exit, Finding, FindingKind, Level};

/// The longest header name used as a label value; longer names are left out.
pub const MAX_HEADER_NAME: usize = 64;

/// The most distinct header names one answer labels: a gateway that invents descriptors per
/// request cannot grow the series without bound.
pub const MAX_HEADERS: usize = 32;

/// The content type of every answer: the Prometheus text format, version 0.0.4.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// One metric family: its name, help and series (labels, value).
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// The metric's name.
    pub name: &'static str,
    /// Its help text.
    pub help: &'static str,
    /// Every series, sorted by labels.
    pub series: Vec<(Vec<(&'static str, String)>, f64)>,
}

impl Metric {
    fn one(name: &'static str, help: &'static str, value: f64) -> Self {
        Metric {
            name,
            help,
            series: vec![(Vec::new(), value)],
        }
    }
}

/// What a scrape ran into, as the answer reports it.
#[derive(Debug, Clone, Copy)]
pub enum Probed<'a> {
    /// A probe module's report.
    Probe(&'a ProbeReport),
    /// A fleet module's report.
    Fleet(&'a FleetReport),
    /// The check ended without a report: the scrape's deadline passed (a timeout), or it
    /// could not start (no model to use, no client). Nothing to report but its exit.
    Failed(Exit),
}

/// The exit the same check gives on the command line.
fn exit_of(probed: Probed<'_>) -> Exit {
    match probed {
        Probed::Probe(r) => r.exit(),
        Probed::Fleet(r) => r.exit(),
        Probed::Failed(exit) => exit,
    }
}

/// Whether the check ran to its verdict, findings or not.
pub fn succeeded(probed: Probed<'_>) -> bool {
    matches!(exit_of(probed), Exit::Ok | Exit::Findings)
}

/// The series of one scrape's answer, `took` being the check's wall time.
pub fn series(probed: Probed<'_>, took: Duration) -> Vec<Metric> {
    let exit = exit_of(probed);
    let success = succeeded(probed);
    let mut out = vec![
        Metric::one(
            "ratecheck_probe_success",
            "Whether the check ran to its verdict (1), or could not (0: unreachable, refused key, timeout, broken answers)",
            f64::from(u8::from(success)),
        ),
        Metric::one(
            "ratecheck_probe_duration_seconds",
            "How long the check took",
            took.as_secs_f64(),
        ),
        Metric::one(
            "ratecheck_probe_exit_code",
            "The exit code the same check gives on the command line (0 ok, 1 findings, 3 unreachable or refused, 4 timeout, 5 broken answers)",
            f64::from(exit.code()),
        ),
    ];
    let (requests, findings, warnings): (usize, &[Finding], &[Finding]) = match probed {
        Probed::Probe(r) => (r.exchanges.len(), &r.findings, &r.warnings),
        Probed::Fleet(r) => (r.answers.len(), &r.findings, &r.warnings),
        Probed::Failed(_) => (0, &[], &[]),
    };
    out.push(Metric::one(
        "ratecheck_probe_requests",
        "Requests the check sent to the target (model discovery aside)",
        requests as f64,
    ));
    out.push(findings_metric(findings.iter().chain(warnings)));
    match probed {
        Probed::Probe(r) => out.extend(probe_series(&r.exchanges)),
        Probed::Fleet(r) => out.extend(fleet_series(r)),
        Probed::Failed(_) => {}
    }
    out
}

/// `ratecheck_findings{kind,level}`: one series per kind and level, found or not, so an alert
/// compares a count rather than the absence of a series.
fn findings_metric<'a>(found: impl Iterator<Item = &'a Finding>) -> Metric {
    let mut counts = BTreeMap::<(FindingKind, Level), u32>::new();
    for f in found {
        *counts.entry((f.kind, f.level)).or_default() += 1;
    }
    let mut series = Vec::new();
    for kind in FindingKind::all() {
        for level in [Level::Finding, Level::Warning] {
            let n = counts.get(&(kind, level)).copied().unwrap_or(0);
            series.push((
                vec![
                    ("kind", kind.name().to_string()),
                    ("level", level_name(level).to_string()),
                ],
                f64::from(n),
            ));
        }
    }
    Metric {
        name: "ratecheck_findings",
        help: "Findings of the check by kind and level (finding: proven; warning: suspected)",
        series,
    }
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Finding => "finding",
        Level::Warning => "warning",
    }
}

/// The label a response shape asked for goes by.
pub fn shape_label(mode: Mode) -> &'static str {
    match mode {
        Mode::NonStreaming => "non_stream",
        Mode::Streaming => "stream",
    }
}

/// A header name fit to be a label value: lowercase, of header characters, not too long.
fn label_name(name: &str) -> Option<String> {
    let name = name.to_ascii_lowercase();
    let fits = !name.is_empty()
        && name.len() <= MAX_HEADER_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    fits.then_some(name)
}

/// The rate-limit header names worth a series: the gateway's own (not passed through from
/// upstream, not informational) on successful answers, the first [`MAX_HEADERS`] in order of
/// name.
fn header_names<'a>(answered: impl Iterator<Item = &'a Exchange>) -> BTreeSet<String> {
    answered
        .flat_map(|e| e.rate_headers.iter())
        .filter(|h| h.compared())
        .filter_map(|h| label_name(&h.name))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .take(MAX_HEADERS)
        .collect()
}

fn answered(e: &Exchange) -> bool {
    e.failure.is_none() && e.status.is_some_and(|s| (200..300).contains(&s))
}

/// Series of a probe's exchanges: which header each endpoint and shape carried, and what the
/// last answers said.
fn probe_series(exchanges: &[Exchange]) -> Vec<Metric> {
    let names = header_names(exchanges.iter().filter(|e| answered(e)));
    // Only cells that were answered say anything about headers: a refused or failed request
    // carries no evidence of a drop.
    let mut present = BTreeMap::<(String, &'static str, String), bool>::new();
    for e in exchanges.iter().filter(|e| answered(e)) {
        for name in &names {
            let has = e
                .rate_headers
                .iter()
                .any(|h| h.name.eq_ignore_ascii_case(name));
            let cell = present
                .entry((
                    e.variant.endpoint.name().to_string(),
                    shape_label(e.variant.mode),
                    name.clone(),
                ))
                .or_default();
            *cell |= has;
        }
    }
    let header_present = Metric {
        name: "ratecheck_header_present",
        help: "Whether a rate-limit header came with an endpoint's answers in one shape (stream or non_stream)",
        series: present
            .into_iter()
            .map(|((endpoint, shape, header), has)| {
                (
                    vec![
                        ("endpoint", endpoint),
                        ("shape", shape.to_string()),
                        ("header", header),
                    ],
                    f64::from(u8::from(has)),
                )
            })
            .collect(),
    };
    let mut out = vec![
        Metric::one(
            "ratecheck_rate_limit_headers",
            "Distinct rate-limit headers seen on the check's successful answers",
            names.len() as f64,
        ),
        header_present,
    ];
    out.extend(last_values(exchanges, &names));
    out
}

/// `ratecheck_rate_limit_remaining{header}` and `ratecheck_rate_limit_limit{header}`: the last
/// count each header carried.
fn last_values(exchanges: &[Exchange], names: &BTreeSet<String>) -> Vec<Metric> {
    let mut remaining = BTreeMap::<String, i64>::new();
    let mut limit = BTreeMap::<String, i64>::new();
    for h in exchanges.iter().flat_map(|e| e.rate_headers.iter()) {
        let (Some(name), Some(count)) = (label_name(&h.name), RateHeader::count(h)) else {
            continue;
        };
        if !names.contains(&name) {
            continue;
        }
        match h.role {
            Role::Remaining => {
                remaining.insert(name, count);
            }
            Role::Limit => {
                limit.insert(name, count);
            }
            _ => {}
        }
    }
    let by_header = |m: BTreeMap<String, i64>| {
        m.into_iter()
            .map(|(h, v)| (vec![("header", h)], v as f64))
            .collect()
    };
    vec![
        Metric {
            name: "ratecheck_rate_limit_remaining",
            help: "The last remaining count each rate-limit header carried",
            series: by_header(remaining),
        },
        Metric {
            name: "ratecheck_rate_limit_limit",
            help: "The last limit each rate-limit header carried",
            series: by_header(limit),
        },
    ]
}

/// Series of a fleet check: whether the instances count apart, and what they advertised.
fn fleet_series(r: &FleetReport) -> Vec<Metric> {
    let split = r
        .findings
        .iter()
        .any(|f| f.kind == FindingKind::FleetSplitCounters);
    let mut out = vec![
        Metric::one(
            "ratecheck_fleet_split",
            "Whether the fleet's instances count one key apart (1), or one counter was followed across them (0)",
            f64::from(u8::from(split)),
        ),
        Metric::one(
            "ratecheck_fleet_instances",
            "Instances the fleet check sent to (the load balancer aside)",
            r.instances.len() as f64,
        ),
        Metric::one(
            "ratecheck_fleet_followed",
            "Whether an exact-window counter was found to follow across the instances",
            f64::from(u8::from(r.header.is_some())),
        ),
    ];
    if let Some(limit) = r.limit {
        out.push(Metric::one(
            "ratecheck_fleet_limit",
            "The limit the first answer advertised",
            limit as f64,
        ));
    }
    out
}

/// The series as one collector, so the encoder writes them in the order given.
#[derive(Debug)]
struct Answer(Vec<Metric>);

impl Collector for Answer {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for m in &self.0 {
            let mut family = encoder.encode_descriptor(m.name, m.help, None, MetricType::Gauge)?;
            for (labels, value) in &m.series {
                let labels: Vec<(&str, &str)> =
                    labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
                ConstGauge::new(*value).encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

/// The series in the Prometheus text exposition format.
pub fn encode(metrics: Vec<Metric>) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Answer(metrics)));
    let mut text = String::new();
    // Writing into a String does not fail.
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &registry);
    text
}

#[cfg(test)]
mod tests;
