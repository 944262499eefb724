//! Bad input and broken targets: a one-line error naming the cause, the right exit code, the
//! results gathered so far still reported, and never a panic.

use std::time::Duration;

use crate::support::{Fault, closed_port, faulty_server, ratecheck, tls_gateway};

/// `ratecheck probe URL --model m EXTRA…`: the faulty servers list no models.
async fn probe_faulty(url: &str, extra: &[&str]) -> crate::support::Run {
    let mut args = vec!["probe", url, "--model", "m"];
    args.extend_from_slice(extra);
    ratecheck(&args, &[]).await
}

fn assert_clean(stderr: &str) {
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.starts_with("ratecheck: error: "), "{stderr}");
    assert!(
        stderr.lines().count() <= 2,
        "one error line and at most a hint: {stderr}"
    );
}

#[tokio::test]
async fn malformed_url_is_a_usage_error() {
    for url in ["localhost:4000", "ftp://host", "http://", "not a url"] {
        let run = ratecheck(&["probe", url], &[]).await;
        assert_eq!(run.code, 2, "{url}: {}", run.stderr);
        assert_clean(&run.stderr);
        assert!(
            run.stderr.contains(url.split(':').next().unwrap()),
            "{}",
            run.stderr
        );
    }
    // An endpoint URL pasted from a log: the base it belongs to, before anything is sent.
    let run = ratecheck(&["probe", "http://127.0.0.1:9/v1/chat/completions"], &[]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_clean(&run.stderr);
    assert!(
        run.stderr
            .contains("pass its base URL, `http://127.0.0.1:9/`"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn bad_flags_are_usage_errors() {
    let url = "http://127.0.0.1:9";
    for (args, needle) in [
        (vec!["probe", url, "-H", "no-colon"], "is not a header"),
        (vec!["probe", url, "--timeout", "soon"], "--timeout"),
        // Absurd numbers are refused, not turned into a panicking duration.
        (vec!["probe", url, "--timeout", "1e300"], "--timeout"),
        (
            vec!["load", url, "--rate", "5", "--duration", "1e300"],
            "--duration",
        ),
        (vec!["load", url, "--rate=-3"], "--rate"),
        (vec!["load", url, "--rate", "nan"], "--rate"),
        (vec!["load", url], "say how to send"),
        (vec!["load", url, "--concurrency", "0"], "at least 1"),
        (
            vec!["load", url, "--rate", "5", "--stream-fraction", "2"],
            "--stream-fraction",
        ),
        (
            vec!["load", url, "--rate", "5", "--fail-if", "p99_ms"],
            "no comparison",
        ),
        (
            vec!["probe", url, "--endpoints", "chat,bogus"],
            "unknown endpoint `bogus`",
        ),
        (
            vec!["probe", url, "--api-key-env", "RATECHECK_TEST_UNSET_VAR"],
            "not set",
        ),
        (
            vec!["probe", url, "--api-key-file", "/nonexistent/key"],
            "cannot read the API key file",
        ),
        (
            vec!["probe", url, "--max-time", "0"],
            "`--max-time` must be more than zero",
        ),
    ] {
        let run = ratecheck(&args, &[]).await;
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert_clean(&run.stderr);
        assert!(run.stderr.contains(needle), "{args:?}: {}", run.stderr);
    }
}

/// Each kind of error has its exit code: a flag the user got wrong 2; a file this machine cannot
/// write or read although it is there, or a port it cannot bind, 6 — nothing the user typed is
/// wrong, and a CI job must not read it as one.
#[tokio::test]
async fn each_error_kind_has_its_exit_code() {
    let url = "http://127.0.0.1:9";
    let scenario = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/openai-compatible-contract.yaml"
    );
    let dir = std::env::temp_dir();
    let folder = dir.to_str().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = format!("127.0.0.1:{}", taken.local_addr().unwrap().port());
    for (args, code, needle) in [
        // Usage: the command line is wrong.
        (vec!["probe", url, "--timeout", "soon"], 2, "--timeout"),
        (
            vec!["probe", url, "--api-key-file", "/nonexistent/key"],
            2,
            "cannot read the API key file",
        ),
        // I/O: reports are checked before anything is sent, not after the work is done.
        (
            vec!["probe", url, "-o", "/nonexistent-dir/x.json"],
            6,
            "does not exist",
        ),
        (
            vec!["triage", url, "--out", "/nonexistent/dir/bundle.md"],
            6,
            "does not exist",
        ),
        (
            vec!["triage", url, "--output", "/nonexistent/dir/bundle.md"],
            6,
            "does not exist",
        ),
        (
            vec![
                "load",
                url,
                "--rate",
                "5",
                "--report-html",
                "/nonexistent/dir/r.html",
            ],
            6,
            "does not exist",
        ),
        (
            vec![
                "run",
                scenario,
                "--target",
                url,
                "-o",
                "/nonexistent/dir/r.json",
            ],
            6,
            "does not exist",
        ),
        (
            vec!["run", scenario, "--target", url, "--report-junit", folder],
            6,
            "it is a folder",
        ),
        // A key file that is there and cannot be read as a file.
        (
            vec!["probe", url, "--api-key-file", folder],
            6,
            "cannot read the API key file",
        ),
        // Runtime: this machine cannot do what was asked.
        (
            vec!["record", "--upstream", url, "--listen", taken.as_str()],
            6,
            "cannot listen",
        ),
    ] {
        let run = ratecheck(&args, &[]).await;
        assert_eq!(run.code, code, "{args:?}: {}", run.stderr);
        assert_clean(&run.stderr);
        assert!(run.stderr.contains(needle), "{args:?}: {}", run.stderr);
    }
}

#[tokio::test]
async fn unreachable_port_exits_3() {
    let port = closed_port().await;
    let url = format!("http://127.0.0.1:{port}");
    let run = ratecheck(&["probe", &url], &[]).await;
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_clean(&run.stderr);
    assert!(run.stderr.contains("could not connect"), "{}", run.stderr);
    assert!(
        run.stderr.to_lowercase().contains("refused"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn hanging_server_times_out_with_exit_4() {
    let url = faulty_server(Fault::Hang).await;
    let run = probe_faulty(&url, &["--timeout", "500ms"]).await;
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert_clean(&run.stderr);
    assert!(run.stderr.contains("no response headers"), "{}", run.stderr);
    assert!(run.stderr.contains("within 500ms"), "{}", run.stderr);
    // The partial report is still printed, and the error is said once, on stderr.
    assert!(run.stdout.contains("stopped early"), "{}", run.stdout);
    assert_eq!(run.stderr.matches("no response headers").count(), 1);

    // load gives up once the first attempts all time out with nothing succeeded, instead of
    // waiting out every request's timeout and retries (20 × 4 × 1 s / 4 workers = 20 s).
    let started = std::time::Instant::now();
    let load = ratecheck(
        &[
            "load",
            &url,
            "--model",
            "m",
            "--requests",
            "20",
            "--concurrency",
            "4",
            "--timeout",
            "1s",
        ],
        &[],
    )
    .await;
    assert_eq!(load.code, 4, "{}\n{}", load.stdout, load.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(load.stdout.contains("0 succeeded"), "{}", load.stdout);
}

#[tokio::test]
async fn stream_cut_midway_exits_5_and_keeps_results() {
    let url = faulty_server(Fault::CutStream).await;
    let run = probe_faulty(&url, &["--endpoints", "chat", "--format", "json"]).await;
    assert_eq!(run.code, 5, "{}", run.stderr);
    assert_clean(&run.stderr);
    assert!(run.stderr.contains("stream"), "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let exchanges = json["exchanges"].as_array().unwrap();
    assert_eq!(
        exchanges.len(),
        2,
        "both requests were still made and reported"
    );
    assert_eq!(exchanges[1]["failure"]["kind"], "stream_cut");
    assert_eq!(exchanges[1]["stream"]["events"], 1);
    assert_eq!(json["outcome"]["status"], "protocol");
}

#[tokio::test]
async fn stream_that_stalls_times_out_with_exit_4() {
    let url = faulty_server(Fault::StallStream).await;
    let run = probe_faulty(&url, &["--endpoints", "chat", "--timeout", "500ms"]).await;
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert_clean(&run.stderr);
    assert!(
        run.stderr.contains("stalled after 1 event:"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("SSE stream"), "{}", run.stdout);
}

#[tokio::test]
async fn garbage_body_exits_5() {
    let url = faulty_server(Fault::Garbage).await;
    let run = probe_faulty(&url, &["--endpoints", "chat"]).await;
    assert_eq!(run.code, 5, "{}", run.stderr);
    assert_clean(&run.stderr);
    assert!(
        run.stderr.contains("neither JSON nor SSE"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn refused_key_exits_3_with_a_hint() {
    let url = faulty_server(Fault::Unauthorized).await;
    let run = ratecheck(&["probe", &url], &[("RATECHECK_API_KEY", "sk-wrong")]).await;
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_clean(&run.stderr);
    assert!(run.stderr.contains("401"), "{}", run.stderr);
    // Its own verdict, and a hint that knows which key was refused.
    assert!(
        run.stderr
            .contains("the gateway refused the key from RATECHECK_API_KEY"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("auth_failed (exit 3)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("key from RATECHECK_API_KEY"),
        "{}",
        run.stdout
    );
    // With no key at all, the hint says so.
    let run = ratecheck(&["probe", &url, "--model", "m"], &[]).await;
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("no API key was sent"), "{}", run.stderr);
}

/// A gateway that redirects its API calls: the redirect is reported with its target, and the
/// key and body never go to another origin — with or without `--follow-redirects`.
#[tokio::test]
async fn redirects_are_reported_and_never_carry_the_key_away() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let elsewhere = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = elsewhere.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((_sock, _)) = elsewhere.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    let url = crate::support::faulty_server_to(Fault::RedirectAway, port).await;
    for follow in [false, true] {
        let mut args = vec![
            "probe",
            url.as_str(),
            "--model",
            "m",
            "--endpoints",
            "chat",
            "--format",
            "json",
        ];
        if follow {
            args.push("--follow-redirects");
        }
        let run = ratecheck(
            &args,
            &[("RATECHECK_API_KEY", "sk-redirect-test-key-0123456789")],
        )
        .await;
        assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
        let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let f = &report["findings"][0];
        assert_eq!(f["kind"], "redirected", "{report:#}");
        let message = f["message"].as_str().unwrap();
        assert!(
            message.contains(&format!(
                "redirect to http://127.0.0.1:{port}/v1/chat/completions"
            )),
            "{message}"
        );
        assert!(!message.contains("token=abc"), "{message}");
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the other origin was contacted"
    );

    // Same origin, 307: followed only when asked, with the method and body kept.
    let url = faulty_server(Fault::RedirectHere).await;
    let plain = ratecheck(&["probe", &url, "--model", "m", "--endpoints", "chat"], &[]).await;
    assert_eq!(plain.code, 1, "{}", plain.stdout);
    let followed = ratecheck(
        &[
            "probe",
            &url,
            "--model",
            "m",
            "--endpoints",
            "chat",
            "--follow-redirects",
            "--format",
            "json",
        ],
        &[],
    )
    .await;
    let report: serde_json::Value = serde_json::from_str(&followed.stdout).unwrap();
    assert_eq!(report["exchanges"][0]["status"], 200, "{report:#}");
    assert_eq!(report["exchanges"][0]["shape"], "json_object", "{report:#}");
}

/// Every stream is bounded as a whole: one that trickles a valid event every 200 ms forever
/// ends at `--max-time`, named as such (exit 4); one complete to `[DONE]` on a connection the
/// server then holds open is complete (exit 0), not stalled.
#[tokio::test]
async fn streams_are_bounded_and_end_at_their_terminal_event() {
    let url = faulty_server(Fault::Trickle).await;
    let started = std::time::Instant::now();
    let run = ratecheck(
        &[
            "probe",
            &url,
            "--model",
            "m",
            "--endpoints",
            "chat",
            "--max-time",
            "1s",
            "--timeout",
            "5s",
            "--format",
            "json",
        ],
        &[],
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(run.code, 4, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("`--max-time`"), "{}", run.stderr);

    let url = faulty_server(Fault::OpenAfterDone).await;
    let started = std::time::Instant::now();
    let run = ratecheck(
        &[
            "probe",
            &url,
            "--model",
            "m",
            "--endpoints",
            "chat",
            "--timeout",
            "3s",
            "--format",
            "json",
        ],
        &[],
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let stream = &report["exchanges"][1];
    assert_eq!(stream["stream"]["end"], "[DONE]", "{report:#}");
    assert!(stream["failure"].is_null(), "{report:#}");
}

/// Completions and the manual page come from the same definitions as `--help`.
#[tokio::test]
async fn completions_and_the_manual_page() {
    for shell in ["bash", "zsh", "fish"] {
        let run = ratecheck(&["completions", shell], &[]).await;
        assert_eq!(run.code, 0, "{shell}: {}", run.stderr);
        assert!(run.stdout.contains("max-time"), "{shell}");
    }
    let run = ratecheck(&["man"], &[]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with(".ie") || run.stdout.contains(".TH ratecheck"),
        "{}",
        run.stdout
    );
}

/// A compressed body is read as what it is, not as mojibake.
#[tokio::test]
async fn compressed_bodies_are_decoded() {
    let url = faulty_server(Fault::Gzip).await;
    let run = ratecheck(
        &[
            "probe",
            &url,
            "--model",
            "m",
            "--endpoints",
            "embeddings",
            "--format",
            "json",
        ],
        &[],
    )
    .await;
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["exchanges"][0]["shape"], "json_object", "{report:#}");
}

/// Runs the binary with `args`, interrupts it after `after`, and returns how long it took to
/// end once interrupted, its exit code and stderr.
async fn interrupt(args: &[&str], after: Duration) -> (Duration, i32, String) {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_ratecheck"))
        .args(args)
        .env_remove("RATECHECK_API_KEY")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(after).await;
    let started = std::time::Instant::now();
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    (
        started.elapsed(),
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Ctrl-C in the middle of a trickling stream: `probe`, `fleet`, `run` and `triage` stop within 2 s and
/// still write every report they were asked for, marked interrupted.
#[tokio::test]
async fn ctrl_c_leaves_every_requested_report() {
    let url = faulty_server(Fault::Trickle).await;
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("ratecheck-ctrl-c-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = |name: &str| dir.join(name).display().to_string();
    let slow = [
        "--model",
        "m",
        "--endpoints",
        "chat",
        "--timeout",
        "30s",
        "--max-time",
        "60s",
    ];

    let json = file("probe.json");
    let mut args = vec!["probe", url.as_str(), "--format", "json", "-o", &json];
    args.extend(slow);
    let (took, _, stderr) = interrupt(&args, Duration::from_millis(800)).await;
    assert!(took < Duration::from_secs(2), "probe took {took:?}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["interrupted"], true, "{report:#}");

    let fleet = file("fleet.json");
    let args = [
        "fleet",
        &url,
        &url,
        "--model",
        "m",
        "--format",
        "json",
        "-o",
        &fleet,
        "--timeout",
        "30s",
        "--max-time",
        "60s",
    ];
    let (took, _, stderr) = interrupt(&args, Duration::from_millis(800)).await;
    assert!(took < Duration::from_secs(2), "fleet took {took:?}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&fleet).unwrap()).unwrap();
    assert_eq!(report["interrupted"], true, "{report:#}");
    crate::support::assert_valid(include_str!("../../docs/fleet-report.schema.json"), &report);

    let bundle = file("triage.md");
    let mut args = vec!["triage", url.as_str(), "--out", &bundle, "--repeat", "1"];
    args.extend(slow);
    let (took, _, stderr) = interrupt(&args, Duration::from_millis(800)).await;
    assert!(took < Duration::from_secs(2), "triage took {took:?}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(
        std::fs::read_to_string(&bundle)
            .unwrap()
            .contains("## Probe")
    );

    let scenario = dir.join("s.yaml");
    std::fs::write(
        &scenario,
        "steps:\n  - request: {endpoint: chat, stream: true}\n  - probe: {}\n",
    )
    .unwrap();
    let (junit, run_json) = (file("run.xml"), file("run.json"));
    let scenario_arg = scenario.display().to_string();
    let args = [
        "run",
        &scenario_arg,
        "--target",
        &url,
        "--model",
        "m",
        "--max-time",
        "60s",
        "--report-junit",
        &junit,
        "--report-json",
        &run_json,
    ];
    let (took, _, stderr) = interrupt(&args, Duration::from_millis(800)).await;
    assert!(took < Duration::from_secs(2), "run took {took:?}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&run_json).unwrap()).unwrap();
    assert_eq!(report["scenarios"][0]["interrupted"], true, "{report:#}");
    assert!(
        std::fs::read_to_string(&junit)
            .unwrap()
            .contains("<testsuites")
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// TLS faults each get a message that names the cause and the flag that helps: an unknown CA
/// (`--cacert`, which then works), plain HTTP to a TLS port, TLS to a plain port.
#[tokio::test]
async fn tls_faults_say_what_helps() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("ratecheck-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let gw = tls_gateway(&dir);
    let https = format!("https://{}", gw.url);
    let ca = gw.ca.display().to_string();
    every_command_says(&https, &[], 3, "`--cacert FILE`", &dir).await;
    every_command_says(&https, &["--cacert", &ca], 0, "", &dir).await;
    // Load's lanes speak TLS themselves: every request of a longer run succeeds, the server
    // closing each connection after its answer (HTTP/1.0) or not.
    let report = dir.join("tls-load.json");
    let run = ratecheck(
        &[
            "load",
            &https,
            "--cacert",
            &ca,
            "--model",
            "m",
            "--requests",
            "40",
            "-c",
            "4",
            "--format",
            "json",
            "-o",
            report.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(report["requests"]["succeeded"], 40, "{report:#}");
    assert_eq!(
        report["shapes"][0]["carried"]["x-ratelimit-remaining-requests"], 40,
        "{report:#}"
    );
    let http = format!("http://{}", gw.url);
    // This TLS server resets a plain-HTTP request: a reset is a broken response (5), named.
    every_command_says(&http, &[], 5, "use https://", &dir).await;
    let server = ratecheck::mock::MockServer::start(ratecheck::mock::MockConfig::default(), 0)
        .await
        .unwrap();
    let mock = server.url().replace("http://", "https://");
    every_command_says(&mock, &[], 3, "use http://", &dir).await;
    server.shutdown().await;
    drop(gw);
    std::fs::remove_dir_all(&dir).ok();
}

/// `probe`, `run`, `triage` and `load` against `url` with `extra` flags: each exits `exit`
/// within 25 s and says `says` (on stderr, or in load's report).
async fn every_command_says(
    url: &str,
    extra: &[&str],
    exit: i32,
    says: &str,
    scratch: &std::path::Path,
) {
    let scenario = scratch.join("tls.yaml");
    std::fs::write(&scenario, FAULT_SCENARIO).unwrap();
    let scenario = scenario.to_str().unwrap();
    let bundle = scratch.join("tls-triage.md");
    let bundle = bundle.to_str().unwrap();
    let chat = ["--model", "m", "--endpoints", "chat"];
    let commands: [Vec<&str>; 4] = [
        [&["probe", url][..], &chat].concat(),
        vec!["run", scenario, "--target", url],
        [
            &["triage", url, "--exhaust-max", "3", "--out", bundle][..],
            &chat,
        ]
        .concat(),
        vec!["load", url, "--model", "m", "--requests", "4", "-c", "2"],
    ];
    for mut args in commands {
        args.extend(extra);
        let started = std::time::Instant::now();
        let out = ratecheck(&args, &[]).await;
        assert!(started.elapsed() < Duration::from_secs(25), "{args:?}");
        // The simulator's LiteLLM profile has the streaming drop: a finding, not a fault.
        let code = if exit == 0 && args[0] != "load" {
            out.code.min(1)
        } else {
            out.code
        };
        assert_eq!(code, exit, "{args:?}: {}\n{}", out.stdout, out.stderr);
        let all = format!("{}{}", out.stdout, out.stderr);
        assert!(all.contains(says), "{args:?}: {all}");
    }
}

/// One row of the README's fault table: what `probe`, `run` and `triage` exit with and say
/// (on stderr; on stdout for findings), and what `load` exits with and says.
struct Row {
    fault: Option<Fault>,
    exit: i32,
    says: &'static str,
    load_exit: i32,
    load_says: &'static str,
}

const fn row(
    fault: Option<Fault>,
    exit: i32,
    says: &'static str,
    load_exit: i32,
    load_says: &'static str,
) -> Row {
    Row {
        fault,
        exit,
        says,
        load_exit,
        load_says,
    }
}

/// The README's fault table, row by row (`None` is a refused connection).
const ROWS: &[Row] = &[
    row(None, 3, "could not connect", 3, "connect"),
    row(
        Some(Fault::Reset),
        5,
        "Connection reset by peer",
        5,
        "failed_requests",
    ),
    row(Some(Fault::SlowFirstByte), 0, "", 0, "4 succeeded"),
    row(
        Some(Fault::ServerError),
        5,
        "every request answered a server error (500 ×",
        5,
        "server error (5xx) 4",
    ),
    row(
        Some(Fault::BadGateway),
        5,
        "every request answered a server error (502 ×",
        5,
        "server error (5xx) 4",
    ),
    row(
        Some(Fault::Unavailable),
        5,
        "every request answered a server error (503 ×",
        5,
        "unavailable (503) 4",
    ),
    row(
        Some(Fault::UnavailableForLimit),
        5,
        "every request answered a server error (503 ×",
        5,
        "unavailable (503) 4",
    ),
    row(
        Some(Fault::Unauthorized),
        3,
        "answered 401",
        3,
        "authentication (401/403)",
    ),
    row(
        Some(Fault::Hang),
        4,
        "no response headers",
        4,
        "the target looks down",
    ),
    row(
        Some(Fault::StallStream),
        4,
        "stalled after 1 event",
        4,
        "timeout",
    ),
    row(
        Some(Fault::Trickle),
        4,
        "was still going after 5s (`--max-time`)",
        4,
        "timeout",
    ),
    row(
        Some(Fault::CutStream),
        5,
        "broke after 1 event",
        5,
        "cut stream",
    ),
    row(
        Some(Fault::Garbage),
        5,
        "neither JSON nor SSE",
        5,
        "bad body",
    ),
    row(Some(Fault::LongLine), 5, "more than 16 MiB", 5, "bad body"),
    row(Some(Fault::OpenAfterDone), 0, "", 0, "4 succeeded"),
    row(Some(Fault::Gzip), 0, "", 5, "bad body"),
    row(
        Some(Fault::RedirectAway),
        1,
        "redirected",
        1,
        "redirect (3xx), not followed 4",
    ),
    row(
        Some(Fault::RedirectHere),
        1,
        "redirected",
        1,
        "redirect (3xx), not followed 4",
    ),
];

/// A scenario for the `run` leg: a probe of chat, then one streaming request.
const FAULT_SCENARIO: &str = "name: faults
target: http://127.0.0.1:1
defaults:
  model: m
steps:
  - probe:
      name: chat on both shapes
      endpoints: [chat]
  - request:
      name: a stream
      endpoint: chat
      stream: true
";

/// The connection flags every leg gets: the bounds the rows are timed against.
const BOUNDS: [&str; 4] = ["--timeout", "3s", "--max-time", "5s"];

/// The probe's JSON report for a row: valid, its status and its 503 warning as the row says.
fn probe_report_fits(row: &Row, stdout: &str) {
    let report: serde_json::Value = serde_json::from_str(stdout).unwrap();
    crate::support::assert_valid(include_str!("../../docs/probe-report.schema.json"), &report);
    if row
        .says
        .starts_with("every request answered a server error")
    {
        assert_eq!(report["outcome"]["status"], "server_error", "{report:#}");
    }
    // A 503 whose own counters say exhausted is a refusal in the wrong status: a warning.
    let warned = report["warnings"]
        .to_string()
        .contains("a rate-limit refusal should be 429");
    assert_eq!(
        warned,
        row.fault == Some(Fault::UnavailableForLimit),
        "{report:#}"
    );
}

/// Each command's run against the row's server, with the time it took.
async fn every_command(row: &Row, url: &str, scratch: &std::path::Path) {
    let name = format!("{:?}", row.fault);
    let scenario = scratch.join("faults.yaml");
    std::fs::write(&scenario, FAULT_SCENARIO).unwrap();
    let bundle = scratch.join("triage.md");
    let bundle = bundle.to_str().unwrap();
    let scenario = scenario.to_str().unwrap();
    let probe = [
        "probe",
        url,
        "--model",
        "m",
        "--endpoints",
        "chat",
        "--format",
        "json",
    ];
    let run = ["run", scenario, "--target", url];
    let triage = [
        "triage",
        url,
        "--model",
        "m",
        "--endpoints",
        "chat",
        "--exhaust-max",
        "3",
        "--out",
        bundle,
    ];
    let load = [
        "load",
        url,
        "--model",
        "m",
        "--requests",
        "4",
        "--concurrency",
        "2",
        "--max-retries",
        "0",
    ];
    let mut outputs = Vec::new();
    for args in [&probe[..], &run[..], &triage[..], &load[..]] {
        let mut args = args.to_vec();
        args.extend(BOUNDS);
        let started = std::time::Instant::now();
        let out = ratecheck(&args, &[]).await;
        let took = started.elapsed();
        // The longest bound is one `--max-time` per request; nothing waits a default out.
        assert!(
            took < Duration::from_secs(25),
            "{name} {}: {took:?}",
            args[0]
        );
        assert!(!out.stderr.contains("panicked"), "{name}: {}", out.stderr);
        outputs.push(out);
    }
    let [probe, run, triage, load] = <[crate::support::Run; 4]>::try_from(outputs).ok().unwrap();
    for (cmd, out) in [("probe", &probe), ("run", &run), ("triage", &triage)] {
        assert_eq!(
            out.code, row.exit,
            "{name} {cmd}: {}\n{}",
            out.stdout, out.stderr
        );
        // Findings are in the report: stdout, or triage's bundle.
        let said = match (row.exit, cmd) {
            (1, "triage") => &std::fs::read_to_string(bundle).unwrap(),
            (1, _) => &out.stdout,
            _ => &out.stderr,
        };
        assert!(said.contains(row.says), "{name} {cmd}: {said}");
        if row.exit >= 3 {
            // The failure that decided the exit is named once, first, on stderr.
            assert!(
                out.stderr.starts_with("ratecheck: error: "),
                "{name} {cmd}: {}",
                out.stderr
            );
        }
    }
    assert!(
        std::path::Path::new(bundle).exists(),
        "{name}: no triage bundle"
    );
    probe_report_fits(row, &probe.stdout);
    assert_eq!(
        load.code, row.load_exit,
        "{name} load: {}\n{}",
        load.stdout, load.stderr
    );
    assert!(
        load.stdout.contains(row.load_says),
        "{name} load: {}\n{}",
        load.stdout,
        load.stderr
    );
}

/// Every row of the README's fault table through `probe`, `run`, `triage` and `load`: each
/// ends within its bound with its own exit and a message naming the cause. The rows run side
/// by side (each on its own server) so the table costs about its slowest row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_in_the_readme_table_through_every_command() {
    let mut rows = tokio::task::JoinSet::new();
    for (i, row) in ROWS.iter().enumerate() {
        rows.spawn(async move {
            let url = match row.fault {
                Some(fault) => faulty_server(fault).await,
                None => format!("http://127.0.0.1:{}", closed_port().await),
            };
            let scratch = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
                .join(format!("fault-row-{i}-{}", std::process::id()));
            std::fs::create_dir_all(&scratch).unwrap();
            every_command(row, &url, &scratch).await;
            std::fs::remove_dir_all(&scratch).ok();
        });
    }
    while let Some(done) = rows.join_next().await {
        if let Err(e) = done {
            std::panic::resume_unwind(e.into_panic());
        }
    }
}

/// `ratecheck mock --fault KIND` serves the fault on the port it prints, until stopped.
#[tokio::test]
async fn mock_fault_serves_what_it_names() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ratecheck"))
        .args(["mock", "--fault", "bad-gateway", "--port", "0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let first = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap();
        line.trim().to_string()
    })
    .await
    .unwrap();
    assert!(
        first.starts_with("ratecheck mock (fault bad-gateway) listening on http://127.0.0.1:"),
        "{first}"
    );
    let url = first.rsplit(' ').next().unwrap().to_string();
    let run = probe_faulty(&url, &["--endpoints", "chat"]).await;
    // Stopped by its PID, whatever the assertions below say.
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(run.code, 5, "{}", run.stderr);
    assert!(run.stderr.contains("(502 ×2)"), "{}", run.stderr);
}

/// `load --duration` ends within its grace: streams still going then are abandoned and counted,
/// and a run in which nothing ended has measured nothing: exit 4, not a green verdict.
#[tokio::test]
async fn load_duration_ends_within_its_grace() {
    let url = faulty_server(Fault::Trickle).await;
    let started = std::time::Instant::now();
    let load = ratecheck(
        &[
            "load",
            &url,
            "--model",
            "m",
            "--duration",
            "1s",
            "--grace",
            "1s",
            "-c",
            "2",
            "--stream-fraction",
            "1",
            "--format",
            "json",
        ],
        &[],
    )
    .await;
    let took = started.elapsed();
    // 1 s of sending, 1 s of grace, and the process around them; `--max-time` is 120 s.
    assert!(took < Duration::from_secs(4), "{took:?}");
    assert_eq!(load.code, 4, "{}\n{}", load.stdout, load.stderr);
    let report: serde_json::Value = serde_json::from_str(&load.stdout).unwrap();
    crate::support::assert_valid(include_str!("../../docs/load-report.schema.json"), &report);
    assert_eq!(report["requests"]["cancelled"], 2, "{report:#}");
    assert_eq!(report["settings"]["grace_s"], 1.0);
    assert!(
        report["notes"][0]
            .as_str()
            .unwrap()
            .starts_with("no request ended within the duration and its 1 s grace"),
        "{report:#}"
    );
}
