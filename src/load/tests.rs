//! The worker loop against an in-memory target on tokio's paused clock: every wait is exact,
//! and a minute of backoff takes no real time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::backoff::{Backoff, Policy};
use super::{Arrival, LoadOptions, LoadReport, Transport, run};
use crate::endpoint::{Endpoint, Mode, Variant};
use crate::headers::classify;
use crate::http::{Exchange, Request, Shape};

/// Response headers, as name and value.
type Headers = Vec<(String, String)>;

/// Status, headers and latency of one answer.
type Answer = (u16, Headers, Duration);

/// An in-memory target: `answer(n)` gives the status, headers and latency of call `n` (from 0).
#[derive(Clone)]
struct Fake {
    calls: Arc<Mutex<Vec<Instant>>>,
    answer: Arc<dyn Fn(usize) -> Answer + Send + Sync>,
}

impl Fake {
    fn new(answer: impl Fn(usize) -> Answer + Send + Sync + 'static) -> Self {
        Fake {
            calls: Arc::new(Mutex::new(Vec::new())),
            answer: Arc::new(answer),
        }
    }

    fn times(&self) -> Vec<Instant> {
        self.calls.lock().unwrap().clone()
    }
}

impl Transport for Fake {
    fn lane(&self) -> Self {
        self.clone()
    }

    fn deliver(&self, req: Request) -> impl std::future::Future<Output = Exchange> + Send {
        let n = {
            let mut c = self.calls.lock().unwrap();
            c.push(Instant::now());
            c.len() - 1
        };
        let (status, headers, latency) = (self.answer)(n);
        async move {
            tokio::time::sleep(latency).await;
            Exchange {
                status: Some(status),
                shape: if status < 300 {
                    Shape::JsonObject
                } else {
                    Shape::Error
                },
                content_type: Some("application/json".into()),
                rate_headers: headers.iter().filter_map(|(n, v)| classify(n, v)).collect(),
                headers,
                time_to_headers_ms: Some(latency.as_secs_f64() * 1000.0),
                total_ms: latency.as_secs_f64() * 1000.0,
                error_type: (status >= 400).then(|| "rate_limit_error".into()),
                ..Exchange::empty(req.variant, 1, req.seq)
            }
        }
    }
}

fn h(pairs: &[(&str, &str)]) -> Headers {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn opts(arrival: Arrival) -> LoadOptions {
    LoadOptions {
        arrival,
        duration: None,
        requests: Some(1),
        mix: vec![super::MixEntry {
            variant: Variant {
                endpoint: Endpoint::Chat,
                mode: Mode::NonStreaming,
            },
            weight: 1.0,
        }],
        ..LoadOptions::default()
    }
}

async fn go(fake: &Fake, o: LoadOptions) -> LoadReport {
    run(
        fake.clone(),
        o,
        "fake".into(),
        std::future::pending(),
        &mut |_| {},
    )
    .await
    .report()
}

#[tokio::test(start_paused = true)]
async fn backoff_waits_exactly_what_each_hint_kind_says() {
    let now_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let date = httpdate::fmt_http_date(
        std::time::UNIX_EPOCH + Duration::from_secs_f64(now_unix.ceil() + 12.0),
    );
    // (headers of the refusal, shortest and longest acceptable wait)
    let cases: Vec<(Headers, Duration, Duration)> = vec![
        (
            h(&[("retry-after-ms", "1500"), ("retry-after", "9")]),
            Duration::from_millis(1500),
            Duration::from_millis(1500),
        ),
        (
            h(&[("retry-after", "7")]),
            Duration::from_secs(7),
            Duration::from_secs(7),
        ),
        (
            h(&[("retry-after", &date)]),
            Duration::from_secs(11),
            Duration::from_secs(13),
        ),
        (
            h(&[("ratelimit", "\"default\";r=0;t=9")]),
            Duration::from_secs(9),
            Duration::from_secs(9),
        ),
        (
            h(&[
                ("x-ratelimit-remaining-requests", "0"),
                ("x-ratelimit-reset-requests", "6s"),
            ]),
            Duration::from_secs(6),
            Duration::from_secs(6),
        ),
    ];
    for (headers, lo, hi) in cases {
        let first = headers.clone();
        let fake = Fake::new(move |n| {
            if n == 0 {
                (429, first.clone(), Duration::from_millis(20))
            } else {
                (200, Vec::new(), Duration::from_millis(20))
            }
        });
        let report = go(&fake, opts(Arrival::Closed { concurrency: 1 })).await;
        let t = fake.times();
        assert_eq!(t.len(), 2, "{headers:?}");
        // The retry goes out the advised time after the refusal arrived (20 ms after its send).
        let gap = (t[1] - t[0])
            .checked_sub(Duration::from_millis(20))
            .unwrap();
        assert!(gap >= lo && gap <= hi, "{headers:?}: waited {gap:?}");
        assert_eq!(report.requests.succeeded, 1);
        assert_eq!(report.requests.retries, 1);
        assert_eq!(report.truth.retries_after_hint_accepted, 1);
    }
}

#[tokio::test(start_paused = true)]
async fn absurd_hints_are_clamped_and_reported() {
    let fake = Fake::new(|n| {
        if n == 0 {
            (
                429,
                h(&[("retry-after", "86400")]),
                Duration::from_millis(5),
            )
        } else {
            (200, Vec::new(), Duration::from_millis(5))
        }
    });
    let mut o = opts(Arrival::Closed { concurrency: 1 });
    o.backoff.max_hint = Duration::from_secs(30);
    let report = go(&fake, o).await;
    // A day's advice beyond the 30 s allowed is not waited for: the request ends throttled at
    // once, no retry, and the advice is reported.
    assert_eq!(fake.times().len(), 1);
    assert_eq!(report.requests.failed, 1);
    assert_eq!(report.requests.retries, 0);
    assert_eq!(report.clamped_hints, 1);
}

#[tokio::test(start_paused = true)]
async fn retry_budget_stops_amplification() {
    // A target that fails everything: without a budget, 3 retries would quadruple the load.
    let fake = Fake::new(|_| (503, Vec::new(), Duration::from_millis(10)));
    let mut o = opts(Arrival::Constant { rate: 50.0 });
    o.requests = None;
    o.duration = Some(Duration::from_secs(20));
    o.backoff = Backoff {
        base: Duration::from_millis(50),
        cap: Duration::from_millis(200),
        ..Backoff::default()
    };
    let report = go(&fake, o).await;
    let r = &report.requests;
    assert_eq!(r.logical, 1000, "{r:?}");
    // 20 % of the last 10 s of requests plus a floor of 10 per 10 s.
    assert!(r.retries <= 200 + 30, "{r:?}");
    assert!(r.retries >= 150, "{r:?}");
    assert!(r.budget_exhausted > 700, "{r:?}");
    assert_eq!(r.attempts, r.logical + r.retries);
}

#[tokio::test(start_paused = true)]
async fn one_refusal_pauses_every_worker() {
    let fake = Fake::new(|n| {
        if n == 0 {
            (429, h(&[("retry-after", "5")]), Duration::from_millis(10))
        } else {
            (200, Vec::new(), Duration::from_millis(100))
        }
    });
    let start = Instant::now();
    let mut o = opts(Arrival::Closed { concurrency: 4 });
    o.requests = Some(20);
    let report = go(&fake, o).await;
    let t = fake.times();
    let refused_at = t[0] + Duration::from_millis(10);
    // The other three workers were already in flight; nothing new starts until the pause ends.
    let during: Vec<_> = t[4..]
        .iter()
        .filter(|s| **s < refused_at + Duration::from_secs(5))
        .collect();
    assert!(
        during.is_empty(),
        "sends during the pause at {:?}",
        during.iter().map(|s| **s - start).collect::<Vec<_>>()
    );
    assert_eq!(report.requests.succeeded, 20);
}

#[tokio::test(start_paused = true)]
async fn refusals_never_enter_success_latency() {
    // Slow refusals, fast successes, no retries: the success percentiles see only successes.
    let fake = Fake::new(|n| {
        if n % 2 == 0 {
            (429, h(&[("retry-after", "0")]), Duration::from_secs(3))
        } else {
            (200, Vec::new(), Duration::from_millis(40))
        }
    });
    let mut o = opts(Arrival::Constant { rate: 10.0 });
    o.requests = Some(100);
    o.duration = None;
    o.backoff.policy = Policy::None;
    let report = go(&fake, o).await;
    assert_eq!(report.requests.succeeded, 50);
    assert_eq!(report.latency.from_intended.count, 50);
    assert!(
        report.latency.from_intended.max < 50.0,
        "{:?}",
        report.latency.from_intended
    );
    assert_eq!(report.latency.service.count, 50);
    assert_eq!(report.requests.retries, 0);
}

#[tokio::test(start_paused = true)]
async fn open_loop_latency_counts_from_the_intended_time() {
    // One request stalls 2 s; the constant-rate schedule keeps sending, so nothing queues,
    // and with a cap of 1 in flight the slots during the stall are dropped and counted.
    let fake = Fake::new(|n| {
        let latency = if n == 0 {
            Duration::from_secs(2)
        } else {
            Duration::from_millis(10)
        };
        (200, Vec::new(), latency)
    });
    let mut o = opts(Arrival::Constant { rate: 10.0 });
    o.requests = None;
    o.duration = Some(Duration::from_secs(5));
    o.max_in_flight = 1;
    let report = go(&fake, o).await;
    // Slots at 0.1 … 1.9 s (and perhaps the one at 2.0 s, the instant the stall ends).
    let dropped = report.schedule.dropped_at_cap;
    assert!((19..=20).contains(&dropped), "{:?}", report.schedule);
    assert_eq!(report.requests.logical + dropped, 50);
    assert!((report.latency.from_intended.max - 2000.0).abs() < 5.0);
}

/// Options for engine tests: a fast, short run against the in-memory target.
impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            arrival: Arrival::Constant { rate: 10.0 },
            max_in_flight: 256,
            duration: Some(Duration::from_secs(10)),
            grace: super::spec::DEFAULT_GRACE,
            requests: None,
            mix: vec![super::MixEntry {
                variant: Variant {
                    endpoint: Endpoint::Chat,
                    mode: Mode::NonStreaming,
                },
                weight: 1.0,
            }],
            model: "mock-model".into(),
            embedding_model: "mock-model".into(),
            max_tokens: 16,
            prompt_chars: 16,
            backoff: Backoff::default(),
            budget_percent: 0.2,
            budget_floor: 10,
            pace: super::Pace::None,
            fail_if: Vec::new(),
            strict: false,
            max_error_rate: 0.05,
            seed: 1,
            segment: None,
            first_send: Duration::ZERO,
            whole: None,
            test_id: String::new(),
        }
    }
}

/// Most successes reach the collector as a brief, without their exchange: the header tally
/// must still count every response exactly, when a lane's headers change mid-run too.
#[tokio::test(start_paused = true)]
async fn header_tallies_stay_exact_when_exchanges_travel_as_briefs() {
    let fake = Fake::new(|n| {
        let mut headers = vec![("x-ratelimit-remaining-requests", "9")];
        // Calls 0–39 also carry the token counter; later calls drop it, then 60–69 bring it back.
        if n < 40 || (60..70).contains(&n) {
            headers.push(("x-ratelimit-remaining-tokens", "90"));
        }
        (200, h(&headers), Duration::from_millis(5))
    });
    let mut o = opts(Arrival::Closed { concurrency: 4 });
    o.requests = Some(100);
    let r = go(&fake, o).await;
    assert_eq!(r.requests.succeeded, 100);
    let carried = &r.shapes[0].carried;
    assert_eq!(r.shapes[0].responses, 100, "{carried:?}");
    assert_eq!(
        carried["x-ratelimit-remaining-requests"], 100,
        "{carried:?}"
    );
    assert_eq!(carried["x-ratelimit-remaining-tokens"], 50, "{carried:?}");
}

/// The same traffic folded by one collector, and split over four shards whose raw results
/// travel as JSON and are merged: the reports agree exactly — counts, every percentile (the
/// histograms add without loss), header tallies, timeline, findings and exit.
#[tokio::test(start_paused = true)]
async fn four_merged_shards_report_what_one_process_reports() {
    use super::merge::{Input, merge};
    use super::raw::Raw;
    use super::record::Record;
    let chat = Variant {
        endpoint: Endpoint::Chat,
        mode: Mode::NonStreaming,
    };
    let streamed = Variant {
        endpoint: Endpoint::Chat,
        mode: Mode::Streaming,
    };
    let mut rng = fastrand::Rng::with_seed(7);
    let records: Vec<Vec<Record>> = (0..2000u32)
        .map(|i| {
            let v = if i % 3 == 0 { streamed } else { chat };
            let ms = 5.0 + rng.f64() * 400.0 + f64::from(i % 7) * 30.0;
            let at = Duration::from_millis(u64::from(i) * 5);
            let (status, headers): (u16, Vec<(&str, &str)>) = if i % 50 == 49 {
                (429, vec![("retry-after", "1")])
            } else if v == chat {
                (200, vec![("x-ratelimit-remaining-tokens", "900")])
            } else {
                (200, vec![])
            };
            let mut ex = Exchange::recorded(
                v,
                status,
                if status == 200 {
                    Shape::JsonObject
                } else {
                    Shape::Error
                },
                &headers,
            );
            ex.total_ms = ms;
            ex.time_to_headers_ms = Some(ms / 2.0);
            vec![
                Record::attempt(at, ex, false, false, 1),
                Record::Done {
                    success: status == 200,
                    latency_ms: ms + 1.0,
                    queued_ms: 0.5,
                    retries: 0,
                    waited_ms: 0.0,
                },
            ]
        })
        .collect();
    let whole = LoadOptions {
        requests: Some(2000),
        duration: None,
        fail_if: vec![super::threshold::parse("p99_ms>100").unwrap()],
        ..LoadOptions::default()
    };
    let one = super::report_from(
        &whole,
        "http://gw/",
        records.iter().flatten().cloned().collect(),
    );
    let mut inputs = Vec::new();
    for k in 1..=4u32 {
        let mut o = whole.clone();
        o.split(super::Segment::new(k, 4).unwrap()).unwrap();
        o.test_id = "t1".into();
        let mine: Vec<Record> = records
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 4 == (k as usize - 1))
            .flat_map(|(_, r)| r.iter().cloned())
            .collect();
        let raw = super::raw_from(&o, "http://gw/", mine);
        let back = Raw::read(&raw.to_json(), "shard.json").unwrap();
        inputs.push(Input {
            name: format!("shard-{k}.json"),
            raw: back,
        });
    }
    let merged = merge(inputs, Vec::new()).unwrap().report();
    assert_eq!(merged.requests, one.requests);
    assert_eq!(merged.errors, one.errors);
    assert_eq!(merged.latency, one.latency);
    assert_eq!(merged.shapes, one.shapes);
    assert_eq!(merged.settings.arrival, one.settings.arrival);
    assert_eq!(merged.settings.requests, Some(2000));
    let sent = |r: &LoadReport| r.timeline.iter().map(|s| s.sent).collect::<Vec<_>>();
    assert_eq!(sent(&merged), sent(&one));
    let kinds = |r: &LoadReport| {
        r.findings
            .iter()
            .chain(&r.warnings)
            .map(|f| f.kind)
            .collect::<Vec<_>>()
    };
    assert!(!kinds(&one).is_empty(), "{:?}", one.findings);
    assert_eq!(kinds(&merged), kinds(&one));
    assert_eq!(merged.thresholds, one.thresholds);
    assert_eq!(merged.outcome, one.outcome);
    let shards = merged.shards.as_ref().unwrap();
    assert_eq!(shards.merged, ["1/4", "2/4", "3/4", "4/4"]);
    assert!(shards.problems.is_empty(), "{:?}", shards.problems);
}
