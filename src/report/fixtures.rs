//! Fixed recorded data for the reporter snapshots: a LiteLLM-like gateway that drops its
//! counters on streams, a run with a failed check and a stopped scenario, a short load run with
//! one 429. Every time and version in them is fixed, so a snapshot changes only with the layout.

use std::time::Duration;

use crate::endpoint::{Endpoint, Mode, Variant};
use crate::http::{Exchange, Shape, StreamInfo, TimelineEvent};
use crate::load::backoff::HintSource;
use crate::load::{LoadOptions, LoadReport, MixEntry, Record};
use crate::probe::{ProbeReport, SCHEMA_VERSION, TOOL, analyze};
use crate::run::{Check, RunReport, ScenarioReport, StepReport};
use crate::triage::Triage;
use crate::verdict::{Abort, Exit, Failure, FailureKind};

/// The target every fixture names.
pub const TARGET: &str = "http://127.0.0.1:4000/";

fn variant(endpoint: Endpoint, mode: Mode) -> Variant {
    Variant { endpoint, mode }
}

fn exchange(seq: u32, v: Variant, shape: Shape, headers: &[(&str, &str)]) -> Exchange {
    let mut ex = Exchange::recorded(v, 200, shape, headers);
    ex.seq = seq;
    ex.time_to_headers_ms = Some(12.0 + f64::from(seq));
    ex.total_ms = 40.0 + f64::from(seq);
    if shape == Shape::Sse {
        ex.time_to_first_event_ms = Some(20.0);
        ex.stream = Some(StreamInfo {
            events: 3,
            end: Some("[DONE]".into()),
            usage: true,
            error_event: None,
            timeline: (0..3)
                .map(|i| TimelineEvent {
                    at_ms: 20.0 + 5.0 * f64::from(i),
                    event: "message".into(),
                    bytes: 60 + 10 * usize::try_from(i).unwrap_or(0),
                })
                .collect(),
            tokens: None,
            of_kind: 2,
            ..StreamInfo::default()
        });
    }
    ex
}

/// Three responses of LiteLLM's v3 limiter: counters on both non-streaming ones, none on the
/// stream between them.
pub fn exchanges() -> Vec<Exchange> {
    let control = [
        ("x-litellm-version", "1.106.12"),
        ("x-litellm-key-rpm-limit", "100"),
    ];
    let counters = |remaining: &'static str| {
        let mut h = control.to_vec();
        h.extend([
            ("content-type", "application/json"),
            ("x-ratelimit-api_key-limit-requests", "100"),
            ("x-ratelimit-api_key-remaining-requests", remaining),
        ]);
        h
    };
    let mut stream = control.to_vec();
    stream.push(("content-type", "text/event-stream"));
    vec![
        exchange(
            1,
            variant(Endpoint::Chat, Mode::NonStreaming),
            Shape::JsonObject,
            &counters("99"),
        ),
        exchange(
            2,
            variant(Endpoint::Chat, Mode::Streaming),
            Shape::Sse,
            &stream,
        ),
        exchange(
            3,
            variant(Endpoint::Completions, Mode::NonStreaming),
            Shape::JsonObject,
            &counters("97"),
        ),
    ]
}

/// The probe report on [`exchanges`], analysed by the real rules.
pub fn probe_report() -> ProbeReport {
    let exchanges = exchanges();
    let a = analyze::analyze(&exchanges, analyze::CounterMode::Auto);
    ProbeReport {
        evidence: None,
        schema_version: SCHEMA_VERSION,
        tool: TOOL.into(),
        target: TARGET.into(),
        model: Some("gpt-test".into()),
        key: "RATECHECK_API_KEY".into(),
        proxy: None,
        rounds: 1,
        wall_ms: 123.0,
        gateway: analyze::fingerprint(&exchanges),
        outcome: Exit::Findings.into(),
        exchanges,
        findings: a.findings,
        warnings: a.warnings,
        strict: false,
        interrupted: false,
        notes: a.notes,
        unchecked: a.unchecked,
        aborted: None,
    }
}

/// The probe report on one non-streaming chat answer carrying `headers`: what the gateway and
/// upstream are named from them.
pub fn probe_report_answered_with(headers: &[(&str, &str)]) -> ProbeReport {
    let mut with_type = headers.to_vec();
    with_type.push(("content-type", "application/json"));
    let exchanges = vec![exchange(
        1,
        variant(Endpoint::Chat, Mode::NonStreaming),
        Shape::JsonObject,
        &with_type,
    )];
    let mut report = probe_report();
    report.gateway = analyze::fingerprint(&exchanges);
    report.exchanges = exchanges;
    report.findings.clear();
    report.warnings.clear();
    report.notes.clear();
    report.outcome = Exit::Ok.into();
    report
}

fn step(position: &str, kind: &'static str, name: &str, checks: Vec<Check>) -> StepReport {
    StepReport {
        position: position.into(),
        kind,
        name: name.into(),
        checks,
        exchanges: Vec::new(),
        findings: Vec::new(),
        warnings: Vec::new(),
        notes: Vec::new(),
        stopped: None,
        wall_ms: 50.0,
    }
}

/// A run of two scenarios: one with a passed and a failed step, one stopped by a refused
/// connection after its first step.
pub fn run_report() -> RunReport {
    let mut request = step(
        "1",
        "request",
        "non-streaming chat/completions request",
        vec![
            Check::new("status is 2xx", true, "2xx", "200"),
            Check::new(
                "header `x-ratelimit-*-remaining-requests` is present",
                true,
                "present",
                "x-ratelimit-api_key-remaining-requests: 99",
            ),
        ],
    );
    request.exchanges = exchanges()[..1].to_vec();
    let mut stream = step(
        "2",
        "request",
        "streaming chat/completions request",
        vec![Check::new(
            "header `x-ratelimit-*-remaining-requests` is present",
            false,
            "present",
            "absent",
        )],
    );
    stream.exchanges = exchanges()[1..2].to_vec();
    stream.notes.push("the stream | ended with `[DONE]`".into());
    let first = ScenarioReport {
        name: "litellm-v3-streaming-headers".into(),
        file: "scenarios/litellm-v3-streaming-headers.yaml".into(),
        description: Some("Counters on every response shape.".into()),
        target: TARGET.into(),
        model: Some("gpt-test".into()),
        steps: vec![request, stream],
        aborted: None,
        skipped_steps: 0,
        interrupted: false,
        wall_ms: 100.0,
    };
    let refused = Failure {
        kind: FailureKind::Connect,
        message: "could not connect to 127.0.0.1:4001: Connection refused (os error 111)".into(),
    };
    let second = ScenarioReport {
        name: "second <gateway>".into(),
        file: "second.yaml".into(),
        description: None,
        target: "http://127.0.0.1:4001/".into(),
        model: Some("gpt-test".into()),
        steps: vec![step(
            "1",
            "request",
            "non-streaming chat/completions request",
            vec![Check::new(
                "a complete response arrives",
                false,
                "a complete response",
                refused.message.clone(),
            )],
        )],
        aborted: Some(Abort::new(refused, "http://127.0.0.1:4001/")),
        skipped_steps: 2,
        interrupted: false,
        wall_ms: 5.0,
    };
    let mut report = RunReport::new(vec![first, second], None, std::time::Instant::now());
    report.wall_ms = 105.0;
    report
}

/// The triage bundle's data: the probe above, no 429 contract.
pub fn triage() -> Triage {
    Triage {
        probe: probe_report(),
        contract: None,
        per_endpoint: None,
    }
}

fn attempt(at_ms: u64, ex: Exchange) -> Record {
    Record::attempt(Duration::from_millis(at_ms), ex, false, false, 1)
}

fn done(success: bool, latency_ms: f64) -> Record {
    Record::Done {
        success,
        latency_ms,
        queued_ms: 0.5,
        retries: 0,
        waited_ms: 0.0,
    }
}

/// A short open-loop run, half streamed: counters on every non-streaming response, none on
/// streams, and one 429 that advised `retry-after: 1`. Call under tokio's paused clock.
pub fn load_report() -> LoadReport {
    let (opts, records) = load_run();
    crate::load::report_from(&opts, TARGET, records)
}

/// The same run split over three shards, merged from shards 1 and 2 only: shard 3's raw
/// result is missing. Call under tokio's paused clock.
pub fn merged_load_report() -> LoadReport {
    let (whole, records) = load_run();
    let mut inputs = Vec::new();
    for k in 1..=2u32 {
        let mut opts = whole.clone();
        crate::load::Segment::new(k, 3)
            .and_then(|s| opts.split(s).ok())
            .expect("7 requests split three ways");
        opts.test_id = "5f1c0e2a9b7d4c38".into();
        let mine: Vec<Record> = records
            .chunks(2)
            .enumerate()
            .filter(|(i, _)| i % 2 == (k as usize - 1))
            .flat_map(|(_, r)| r.iter().cloned())
            .collect();
        inputs.push(crate::load::merge::Input {
            name: format!("shard-{k}.json"),
            raw: crate::load::raw_from(&opts, TARGET, mine),
        });
    }
    crate::load::merge::merge(inputs, Vec::new())
        .expect("two shards of one test")
        .report()
}

/// The options and records of [`load_report`]'s run.
fn load_run() -> (LoadOptions, Vec<Record>) {
    let chat = variant(Endpoint::Chat, Mode::NonStreaming);
    let streamed = variant(Endpoint::Chat, Mode::Streaming);
    let opts = LoadOptions {
        mix: vec![
            MixEntry {
                variant: chat,
                weight: 0.5,
            },
            MixEntry {
                variant: streamed,
                weight: 0.5,
            },
        ],
        requests: Some(7),
        duration: None,
        ..LoadOptions::default()
    };
    let mut records = Vec::new();
    for i in 0..3u32 {
        let remaining = format!("{}", 9 - 2 * i);
        let ex = exchange(
            2 * i + 1,
            chat,
            Shape::JsonObject,
            &[
                ("x-ratelimit-limit-requests", "10"),
                ("x-ratelimit-remaining-requests", &remaining),
            ],
        );
        records.push(attempt(u64::from(200 * i), ex));
        records.push(done(true, 41.0 + f64::from(i)));
        let ex = exchange(2 * i + 2, streamed, Shape::Sse, &[]);
        records.push(attempt(u64::from(200 * i + 100), ex));
        records.push(done(true, 60.0 + f64::from(i)));
    }
    let mut refusal = Exchange::recorded(chat, 429, Shape::Error, &[("retry-after", "1")]);
    refusal.seq = 7;
    records.push(attempt(700, refusal));
    records.push(Record::Hint(HintSource::RetryAfterSeconds, false));
    records.push(done(false, 5.0));
    (opts, records)
}

const FLEET_HEADER: &str = "x-ratelimit-api_key-remaining-requests";
const FLEET_RULES: crate::fleet::Rules = crate::fleet::Rules {
    window_ms: 60_000.0,
    tolerance_ms: 2000.0,
};

/// A fleet report on two instances at 10.0.0.11 and .12 from `answers`, judged by the engine.
fn fleet_fixture(
    answers: Vec<crate::fleet::Sample>,
    changes: Vec<crate::fleet::Change>,
    via: Option<&str>,
    watch_ms: Option<f64>,
) -> crate::fleet::FleetReport {
    let v = crate::fleet::judge(FLEET_HEADER, &answers, FLEET_RULES);
    let (findings, warnings) = crate::verdict::by_level(v.findings);
    let mut report = crate::fleet::FleetReport {
        schema_version: crate::fleet::check::SCHEMA_VERSION,
        tool: "ratecheck 0.1.0".into(),
        instances: vec![
            "http://10.0.0.11:4000/".into(),
            "http://10.0.0.12:4000/".into(),
        ],
        via: via.map(String::from),
        watch_ms,
        header: Some(FLEET_HEADER.into()),
        limit: answers.iter().filter_map(|a| a.limit).max(),
        planned: u32::try_from(answers.len()).unwrap_or(0),
        wall_ms: answers.last().map_or(0.0, |a| a.at_ms + 12.0),
        answers,
        changes,
        findings,
        warnings,
        notes: v.notes,
        interrupted: false,
        aborted: None,
        outcome: Exit::Ok.into(),
    };
    report.outcome = report.exit().into();
    report
}

/// Two instances that count one key apart: 3, 3, 2, 2 at a limit of 4, judged by the engine.
pub fn fleet_report() -> crate::fleet::FleetReport {
    use crate::fleet::Sample;
    let answers: Vec<Sample> = (0..4u32)
        .map(|i| Sample {
            seq: i + 1,
            instance: (i % 2) as usize + 1,
            at_ms: f64::from(i) * 12.0,
            status: Some(200),
            remaining: Some(3 - u64::from(i / 2)),
            limit: Some(4),
            failure: None,
        })
        .collect();
    fleet_fixture(answers, Vec::new(), None, None)
}

/// A watch of two instances and their load balancer that saw the fleet split: the shared
/// counter runs down, then each instance repeats the other's values (LiteLLM after its Redis
/// stopped).
pub fn fleet_watch_report() -> crate::fleet::FleetReport {
    use crate::fleet::{Sample, Tracker, VIA};
    let values = [999u64, 998, 997, 996, 995, 994, 993, 993, 992, 992, 991];
    let answers: Vec<Sample> = values
        .iter()
        .zip(1u32..)
        .map(|(v, seq)| Sample {
            seq,
            instance: [1, 2, VIA][(seq as usize - 1) % 3],
            at_ms: f64::from(seq - 1) * 500.0,
            status: Some(200),
            remaining: Some(*v),
            limit: Some(1000),
            failure: None,
        })
        .collect();
    let mut tracker = Tracker::default();
    let mut changes = Vec::new();
    for n in 1..=answers.len() {
        if let Some(mut c) = tracker.observe(FLEET_HEADER, &answers[..n], FLEET_RULES) {
            c.time = format!("2026-12-01T23:00:{:06.3}Z", c.at_ms / 1000.0);
            changes.push(c);
        }
    }
    fleet_fixture(
        answers,
        changes,
        Some("http://litellm.internal:4000/"),
        Some(5500.0),
    )
}

/// A limits run on a LiteLLM key with max_parallel 2, over chat and messages: every refusal
/// charged, messages' 429 silent, the concurrency check not possible on this key.
pub fn limits_report() -> crate::limits::LimitsReport {
    use crate::limits::{Budget, Cell, CheckId, KeyLimits, LimitsReport, Status};
    use crate::verdict::{Finding, FindingKind, Outcome};
    let v = |endpoint, mode| Variant { endpoint, mode };
    let variants = [
        v(Endpoint::Chat, Mode::NonStreaming),
        v(Endpoint::Chat, Mode::Streaming),
        v(Endpoint::Messages, Mode::NonStreaming),
    ];
    let mut cells = Vec::new();
    for check in CheckId::ALL {
        for (i, variant) in variants.iter().enumerate() {
            let (status, detail) = match (check, i) {
                (CheckId::RetryAdvice, 2) => (
                    Status::Defect,
                    "429 (max_parallel_requests) carries no `retry-after`, `retry-after-ms` or reset, where another endpoint's 429 for the same limit does",
                ),
                (CheckId::RetryAdvice, _) => (Status::Held, "429 carries `retry-after: 60`"),
                (CheckId::RefusalsCharged, _) => (
                    Status::Defect,
                    "refused for `max_parallel_requests`, and charged to the requests limit",
                ),
                (CheckId::TokensCharged, _) => (
                    Status::Held,
                    "charged 73 for a call that reported 73 tokens (input and output tokens)",
                ),
                (CheckId::SlotsReturned, _) => {
                    (Status::Held, "2 of 2 slots free after it, as before")
                }
                (CheckId::Concurrency, 0) => (
                    Status::NotChecked,
                    "tokens not checked: the key allows 2 requests in flight (max_parallel), and passing its limit needs 71 at once: give a second key without max_parallel with `--concurrency-key-env VAR`; requests not checked: 89 requests left: more than 64 to send at once (use a key with a smaller rpm)",
                ),
                (CheckId::Concurrency, _) => (
                    Status::NotChecked,
                    "checked on non-streaming chat only: one concurrent check spends the key's window",
                ),
            };
            cells.push(Cell {
                check,
                variant: *variant,
                status,
                detail: detail.into(),
            });
        }
    }
    let mut charged = Finding::new(
        FindingKind::RefusalCharged,
        "requests refused for `max_parallel_requests` were charged to the key's requests limit (BerriAI/litellm#39309): `x-ratelimit-api_key-remaining-requests` read 98 before; 2 requests then held every slot and 3 were refused; the next request read 92, where 98 − 2 − 1 = 95 is right: 3 of the 3 refusals were charged".into(),
    );
    charged.link = Some("https://github.com/BerriAI/litellm/issues/39309".into());
    let silent = Finding::new(
        FindingKind::RetryAdviceMissing,
        "429s from the key's own limiter on non-streaming messages (max_parallel_requests) say nothing about when to retry (no `retry-after`, `retry-after-ms` or reset) (BerriAI/litellm#37754), while the same limit's 429 on non-streaming chat/completions, streaming chat/completions does (non-streaming chat/completions's carries `retry-after: 60`); clients that pace on it retry at once".into(),
    );
    LimitsReport {
        schema_version: crate::limits::SCHEMA_VERSION,
        tool: TOOL.into(),
        target: "http://127.0.0.1:4000/".into(),
        gateway: Some("LiteLLM 1.106.12".into()),
        model: "mock-model".into(),
        limits: KeyLimits {
            requests: Some(100),
            tokens: Some(5000),
            max_parallel: Some(2),
            max_parallel_from: Some("header".into()),
        },
        concurrency_key_limits: None,
        budget: Budget {
            max_requests: 200,
            max_wait_ms: 90_000.0,
            max_waits: 6,
        },
        cells,
        findings: vec![charged, silent],
        warnings: Vec::new(),
        notes: vec!["non-streaming chat is charged input and output tokens".into()],
        requests: Vec::new(),
        waited_ms: 0.0,
        strict: false,
        interrupted: false,
        aborted: None,
        wall_ms: 4210.0,
        outcome: Outcome::from(Exit::Findings),
    }
}
