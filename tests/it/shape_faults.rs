//! The shape-contract fault matrix: a gateway whose headers look healthy but whose answers are
//! not its endpoints' — noise, a stream to a request for JSON, a stream with no event, bytes
//! that are not UTF-8, an object without its endpoint's fields — on every endpoint, through
//! `probe`, `run`, `triage`, `load` and `analyze` (of what real curl received). No command may
//! be green on any row.

use std::io::Write as _;
use std::process::Command;
use std::time::Duration;

use ratecheck::endpoint::Endpoint;

use crate::support::{Fault, faulty_server, ratecheck};

/// One row: the fault, the requests it breaks (non-streaming, streaming), and whether the
/// streams' breakage is only a warning (data that is not UTF-8, decoded as the standard says).
struct Row {
    fault: Fault,
    json_broken: bool,
    streams_broken: bool,
    streams_warned: bool,
}

const ROWS: [Row; 5] = [
    Row {
        fault: Fault::RandomBytes,
        json_broken: true,
        streams_broken: true,
        streams_warned: false,
    },
    Row {
        fault: Fault::StreamForJson,
        json_broken: true,
        streams_broken: false,
        streams_warned: false,
    },
    Row {
        fault: Fault::EmptyStream,
        json_broken: false,
        streams_broken: true,
        streams_warned: false,
    },
    Row {
        fault: Fault::InvalidUtf8,
        json_broken: true,
        streams_broken: false,
        streams_warned: true,
    },
    Row {
        fault: Fault::WrongObject,
        json_broken: true,
        streams_broken: true,
        streams_warned: false,
    },
];

const BOUNDS: [&str; 4] = ["--timeout", "3s", "--max-time", "5s"];

/// A scenario probing every endpoint.
const SCENARIO: &str = "name: shapes
target: http://127.0.0.1:1
defaults:
  model: m
steps:
  - probe:
      name: every endpoint on both shapes
";

/// Whether the request for `endpoint` in this mode is broken by the row's fault.
fn broken(row: &Row, stream: bool) -> bool {
    if stream {
        row.streams_broken
    } else {
        row.json_broken
    }
}

/// The report's nine exchanges, each failing the shape contract exactly when the row breaks
/// its mode.
fn broken_where_due<'a>(
    row: &Row,
    report: &'a serde_json::Value,
    name: &str,
) -> &'a Vec<serde_json::Value> {
    let exchanges = report["exchanges"].as_array().unwrap();
    assert_eq!(exchanges.len(), 9, "{name}: {report:#}");
    for ex in exchanges {
        let stream = ex["variant"]["mode"] == "streaming";
        let failed = ex["failure"]["kind"] == "shape_contract";
        assert_eq!(failed, broken(row, stream), "{name}: {ex:#}");
    }
    exchanges
}

/// The probe's verdict: exit 5, the shape contract named on exactly the broken requests, the
/// warning on the streams whose data is not UTF-8.
async fn probe(row: &Row, url: &str) {
    let mut args = vec!["probe", url, "--model", "m", "--format", "json"];
    args.extend(BOUNDS);
    let out = ratecheck(&args, &[]).await;
    let name = format!("{:?}", row.fault);
    assert_eq!(out.code, 5, "{name}: {}\n{}", out.stdout, out.stderr);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    crate::support::assert_valid(include_str!("../../docs/probe-report.schema.json"), &report);
    let exchanges = broken_where_due(row, &report, &name);
    let findings = report["findings"].as_array().unwrap();
    let broken_count = findings
        .iter()
        .filter(|f| f["kind"] == "broken_response")
        .count();
    let want = exchanges
        .iter()
        .filter(|ex| broken(row, ex["variant"]["mode"] == "streaming"))
        .count();
    assert_eq!(broken_count, want, "{name}: {findings:#?}");
    let warned = report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["message"].as_str().unwrap().contains("not UTF-8"))
        .count();
    assert_eq!(warned, if row.streams_warned { 4 } else { 0 }, "{name}");
}

/// `run`, `triage` and `load` on the same gateway: never green, each saying why.
async fn other_commands(row: &Row, url: &str, scratch: &std::path::Path) {
    let name = format!("{:?}", row.fault);
    let scenario = scratch.join("shapes.yaml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let bundle = scratch.join("triage.md");
    let mut run = vec!["run", scenario.to_str().unwrap(), "--target", url];
    run.extend(BOUNDS);
    let out = ratecheck(&run, &[]).await;
    assert_eq!(out.code, 5, "{name} run: {}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("broken_response"),
        "{name}: {}",
        out.stdout
    );

    let mut triage = vec!["triage", url, "--model", "m", "--exhaust-max", "3"];
    triage.extend(["--out", bundle.to_str().unwrap()]);
    triage.extend(BOUNDS);
    let out = ratecheck(&triage, &[]).await;
    assert_eq!(out.code, 5, "{name} triage: {}\n{}", out.stdout, out.stderr);
    let md = std::fs::read_to_string(&bundle).unwrap();
    assert!(md.contains("broken_response"), "{name}: {md}");

    let mut load = vec!["load", url, "--model", "m", "--requests", "12", "-c", "2"];
    load.extend(["--max-retries", "0", "--stream-fraction", "0.5"]);
    load.extend(["--endpoints", "chat,messages,embeddings"]);
    load.extend(BOUNDS);
    let out = ratecheck(&load, &[]).await;
    let all = format!("{}{}", out.stdout, out.stderr);
    assert_ne!(out.code, 0, "{name} load: {all}");
    assert!(all.contains("bad body"), "{name} load: {all}");
}

/// Real curl's `-i` output for one POST, run off the runtime that serves the fault.
async fn curl(target: &str, body: &str) -> std::process::Output {
    let (target, body) = (target.to_string(), body.to_string());
    tokio::task::spawn_blocking(move || {
        Command::new("curl")
            .args(["-sS", "-i", "--max-time", "10", &target])
            .args(["-H", "content-type: application/json", "-d", &body])
            .output()
            .expect("curl (Debian's curl package)")
    })
    .await
    .unwrap()
}

/// What `curl -i` printed for every endpoint and shape, after the command line a user pastes
/// with it; then `ratecheck analyze` of that file.
async fn analyze(row: &Row, url: &str, scratch: &std::path::Path) {
    let name = format!("{:?}", row.fault);
    let mut evidence = Vec::new();
    for e in Endpoint::ALL {
        let modes: &[bool] = if e.streams() {
            &[false, true]
        } else {
            &[false]
        };
        for &stream in modes {
            let target = format!("{url}{}", e.path());
            let body = e.body("m", stream).to_string();
            let out = curl(&target, &body).await;
            assert!(out.status.success(), "{name}: curl failed");
            writeln!(
                evidence,
                "$ curl -i {target} -H 'content-type: application/json' -d '{body}'"
            )
            .unwrap();
            evidence.extend_from_slice(&out.stdout);
            evidence.push(b'\n');
        }
    }
    let file = scratch.join("curl-i.txt");
    std::fs::write(&file, &evidence).unwrap();
    let out = ratecheck(
        &["analyze", file.to_str().unwrap(), "--format", "json"],
        &[],
    )
    .await;
    assert_eq!(
        out.code, 1,
        "{name} analyze: {}\n{}",
        out.stdout, out.stderr
    );
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    broken_where_due(row, &report, &format!("{name} analyze"));
    let broken_count = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "broken_response")
        .count();
    assert!(broken_count >= 4, "{name} analyze: {report:#}");
}

#[tokio::test]
async fn no_command_is_green_on_any_row_of_the_shape_fault_matrix() {
    let mut rows = tokio::task::JoinSet::new();
    for (i, row) in ROWS.iter().enumerate() {
        rows.spawn(async move {
            let url = faulty_server(row.fault).await;
            let scratch = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
                .join(format!("shape-row-{i}-{}", std::process::id()));
            std::fs::create_dir_all(&scratch).unwrap();
            let started = std::time::Instant::now();
            probe(row, &url).await;
            other_commands(row, &url, &scratch).await;
            analyze(row, &url, &scratch).await;
            assert!(started.elapsed() < Duration::from_mins(1));
            std::fs::remove_dir_all(&scratch).ok();
        });
    }
    while let Some(done) = rows.join_next().await {
        if let Err(e) = done {
            std::panic::resume_unwind(e.into_panic());
        }
    }
}

/// A stream whose only fault is data that is not UTF-8 is read as the SSE standard says and
/// warned of: the headline is not green (`!`), and `--strict` fails it. The stream as real
/// curl received it, analysed alone.
#[tokio::test]
async fn data_that_is_not_utf8_is_a_warning_that_strict_fails() {
    let url = faulty_server(Fault::InvalidUtf8).await;
    let target = format!("{url}/v1/chat/completions");
    let body = Endpoint::Chat.body("m", true).to_string();
    let out = curl(&target, &body).await;
    assert!(out.status.success(), "curl failed");
    let mut evidence =
        format!("$ curl -i {target} -H 'content-type: application/json' -d '{body}'\n")
            .into_bytes();
    evidence.extend_from_slice(&out.stdout);
    let file = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("not-utf8-stream-{}.txt", std::process::id()));
    std::fs::write(&file, &evidence).unwrap();
    let path = file.to_str().unwrap();
    let out = ratecheck(&["analyze", path, "--color", "never"], &[]).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("`data` lines of its stream are not UTF-8"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("\n! no findings, 1 warning"),
        "{}",
        out.stdout
    );
    let strict = ratecheck(&["analyze", path, "--strict"], &[]).await;
    assert_eq!(strict.code, 1, "{}", strict.stdout);
    std::fs::remove_file(&file).ok();
}

/// A gateway whose every streaming answer is a 500: the streaming contract was never checked.
/// The headline says so and is not green; `--strict` and a strict scenario fail it.
#[tokio::test]
async fn a_shape_never_seen_is_not_green_and_strict_fails_it() {
    let url = faulty_server(Fault::StreamsFail).await;
    let mut args = vec!["probe", &url, "--model", "m", "--color", "never"];
    args.extend(BOUNDS);
    let out = ratecheck(&args, &[]).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("streaming (SSE): none of the 4 streaming requests got one (500 ×4)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("\n! no findings, 4 warnings; streaming (SSE) never checked (exit 0)"),
        "{}",
        out.stdout
    );
    let strict = [&args[..], &["--strict", "--format", "json"]].concat();
    let out = ratecheck(&strict, &[]).await;
    assert_eq!(out.code, 1, "{}", out.stdout);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    crate::support::assert_valid(include_str!("../../docs/probe-report.schema.json"), &report);
    assert_eq!(
        report["unchecked"][0]["shape"], "streaming (SSE)",
        "{report:#}"
    );

    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("unchecked-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (strict, code) in [(false, 0), (true, 1)] {
        let scenario = dir.join(format!("strict-{strict}.yaml"));
        std::fs::write(&scenario, format!("{SCENARIO}strict: {strict}\n")).unwrap();
        let mut run = vec!["run", scenario.to_str().unwrap(), "--target", &url];
        run.extend(BOUNDS);
        let out = ratecheck(&run, &[]).await;
        assert_eq!(out.code, code, "strict {strict}: {}", out.stdout);
        let said = if strict {
            "every response shape asked for was seen"
        } else {
            "never checked: streaming (SSE)"
        };
        assert!(out.stdout.contains(said), "{}", out.stdout);
    }
    std::fs::remove_dir_all(&dir).ok();
}
