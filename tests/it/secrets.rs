//! The API key never appears in any output format, even when the gateway echoes it back.

use ratecheck::mock::{MockConfig, MockServer, Profile};

use crate::support::{Fault, faulty_server, ratecheck};

const KEY: &str = "sk-ratecheck-test-5ecret-0123456789abcdef";

#[tokio::test]
async fn key_never_leaks_in_any_format() {
    let base = faulty_server(Fault::EchoCredentials).await;
    // The key also travels in the URL's user info and query, as careless users do.
    let url = base.replace("http://", &format!("http://user:{KEY}@")) + &format!("/v1?key={KEY}");
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("ratecheck-secrets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for format in ["table", "json", "markdown"] {
        let file = dir.join(format!("report.{format}"));
        let file_arg = file.to_string_lossy().to_string();
        let run = ratecheck(
            &[
                "probe", &url, "--model", "m", "--format", format, "-o", &file_arg, "--repeat", "2",
            ],
            &[("RATECHECK_API_KEY", KEY)],
        )
        .await;
        let written = std::fs::read_to_string(&file).unwrap();
        for (what, text) in [
            ("stdout", &run.stdout),
            ("stderr", &run.stderr),
            ("file", &written),
        ] {
            assert!(
                !text.contains(KEY),
                "{format} {what} leaks the key:\n{text}"
            );
            assert!(
                !text.contains("5ecret"),
                "{format} {what} leaks part of the key"
            );
        }
        // The echo was seen and redacted, not dropped silently.
        if format == "json" {
            assert!(run.stdout.contains("[redacted]"), "{}", run.stdout);
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn key_from_a_file_is_used_and_not_shown() {
    let server = MockServer::start(
        MockConfig {
            profile: Profile::LitellmFixed,
            require_key: Some(KEY.into()),
            ..MockConfig::default()
        },
        0,
    )
    .await
    .unwrap();
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("ratecheck-key-{}", std::process::id()));
    std::fs::write(&path, format!("{KEY}\n")).unwrap();
    let p = path.to_string_lossy().to_string();
    let run = ratecheck(
        &[
            "probe",
            &server.url(),
            "--api-key-file",
            &p,
            "--format",
            "json",
        ],
        &[],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stdout.contains(KEY));
    // Without the key the simulator refuses: authentication failure, exit 3.
    let run = ratecheck(&["probe", &server.url()], &[]).await;
    assert_eq!(run.code, 3);
    std::fs::remove_file(&path).ok();
    server.shutdown().await;
}

#[tokio::test]
async fn triage_bundle_has_no_secret() {
    // A gateway that echoes the key in headers, cookies and bodies; the key also in the URL's
    // user info and query, and in the environment.
    let base = faulty_server(Fault::EchoCredentials).await;
    let url =
        base.replace("http://", &format!("http://user:{KEY}@")) + &format!("/v1?api_key={KEY}");
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("ratecheck-triage-{}.md", std::process::id()));
    let o = out.display().to_string();
    let run = ratecheck(
        &[
            "triage",
            &url,
            "--model",
            "m",
            "--out",
            &o,
            "--exhaust-max",
            "3",
            "--repeat",
            "1",
        ],
        &[("LITELLM_API_KEY", KEY)],
    )
    .await;
    let bundle = std::fs::read_to_string(&out).unwrap();
    for (what, text) in [
        ("stdout", &run.stdout),
        ("stderr", &run.stderr),
        ("bundle", &bundle),
    ] {
        assert!(!text.contains(KEY), "{what} leaks the key:\n{text}");
        assert!(
            !text.contains("5ecret"),
            "{what} leaks part of the key:\n{text}"
        );
    }
    // The echoed credentials were seen and redacted, and the bundle is complete.
    assert!(bundle.contains("[redacted]"), "{bundle}");
    assert!(bundle.contains("## 429 contract"));
    assert!(
        bundle.contains("the limit was not reached: all 3 requests were accepted"),
        "{bundle}"
    );
    std::fs::remove_file(&out).ok();
}

#[tokio::test]
async fn run_reports_have_no_secret() {
    let base = faulty_server(Fault::EchoCredentials).await;
    let url = base.replace("http://", &format!("http://user:{KEY}@")) + &format!("/v1?key={KEY}");
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("ratecheck-run-secrets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // The scenario compares a header with the key itself: the comparison must not print it.
    let scenario = dir.join("leak.yaml");
    std::fs::write(
        &scenario,
        "steps:\n  - request:\n      stream: true\n      headers: {x-token: \"${RATECHECK_API_KEY}\"}\n      expect:\n        headers:\n          x-echo-auth: {equals: \"Bearer ${RATECHECK_API_KEY}\"}\n  - probe: {endpoints: [chat]}\n",
    )
    .unwrap();
    let files: Vec<String> = ["r.xml", "r.json", "r.md", "base.json"]
        .iter()
        .map(|f| dir.join(f).display().to_string())
        .collect();
    let run = ratecheck(
        &[
            "run",
            &scenario.display().to_string(),
            "--target",
            &url,
            "--model",
            "m",
            "--report-junit",
            &files[0],
            "--report-json",
            &files[1],
            "--report-markdown",
            &files[2],
            "--save-baseline",
            &files[3],
        ],
        &[("RATECHECK_API_KEY", KEY)],
    )
    .await;
    assert!(run.stdout.contains("[redacted]"), "{}", run.stdout);
    let mut texts = vec![
        ("stdout".to_string(), run.stdout),
        ("stderr".to_string(), run.stderr),
    ];
    for f in &files {
        texts.push((f.clone(), std::fs::read_to_string(f).unwrap()));
    }
    for (what, text) in texts {
        assert!(!text.contains(KEY), "{what} leaks the key:\n{text}");
        assert!(
            !text.contains("5ecret"),
            "{what} leaks part of the key:\n{text}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn load_reports_have_no_secret() {
    let base = faulty_server(Fault::EchoCredentials).await;
    let url = base.replace("http://", &format!("http://user:{KEY}@")) + &format!("/v1?key={KEY}");
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("ratecheck-load-secrets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let html = dir.join("load.html").display().to_string();
    let json = dir.join("load.json").display().to_string();
    for (mode, value) in [("--concurrency", "1"), ("--rate", "20")] {
        let run = ratecheck(
            &[
                "load",
                &url,
                "--model",
                "m",
                mode,
                value,
                "--requests",
                "5",
                "--format",
                "json",
                "-o",
                &json,
                "--report-html",
                &html,
            ],
            &[("RATECHECK_API_KEY", KEY)],
        )
        .await;
        assert!(
            run.stdout.contains("\"logical\": 5"),
            "{mode}: {}\n{}",
            run.stdout,
            run.stderr
        );
        for (what, text) in [
            ("stdout", run.stdout.clone()),
            ("stderr", run.stderr.clone()),
            ("json", std::fs::read_to_string(&json).unwrap()),
            ("html", std::fs::read_to_string(&html).unwrap()),
        ] {
            assert!(!text.contains(KEY), "{mode} {what} leaks the key:\n{text}");
            assert!(
                !text.contains("5ecret"),
                "{mode} {what} leaks part of the key"
            );
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

const BEARER: &str = "tok-plantedbearer-9f8e7d";
const TENANT: &str = "tenant-planted-4c3b2a";
const PASSWORD: &str = "pw-planted-1a2b3c";
const QUERY: &str = "q-planted-5d6e7f";
/// A key that is not shaped like a provider's (`sk-…`): only knowing it redacts it.
const ENV_KEY: &str = "gw-plantedenvkey-3e4f5a";

/// The gateway's URL with a password and a query secret in it.
fn planted_url(base: &str) -> String {
    base.replace("http://", &format!("http://alice:{PASSWORD}@")) + &format!("/v1?key={QUERY}")
}

/// No planted secret, in any form a gateway echoes it, and no raw escape in any output; no
/// raw HTML or link in a Markdown one.
fn assert_nothing_planted(outputs: &[(String, String)]) {
    let basic = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("alice:{PASSWORD}"))
    };
    for (what, text) in outputs {
        for planted in [BEARER, TENANT, PASSWORD, QUERY, ENV_KEY, basic.as_str()] {
            assert!(!text.contains(planted), "{what} leaks {planted}:\n{text}");
        }
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{7}'),
            "{what} carries a raw escape:\n{text}"
        );
        if what.ends_with("markdown") || what.ends_with("bundle") {
            // Inside fenced blocks nothing renders; every line there starts with a header name.
            let rendered: String = text.split("```").step_by(2).collect::<Vec<_>>().join("");
            assert!(
                !rendered.contains("<script") && !rendered.contains("<b>"),
                "{what} carries raw HTML:\n{text}"
            );
            // An escaped bracket (`\\]`) is text; an unescaped `](` would be a link.
            assert!(
                !text.replace("\\]", "").contains("](javascript:"),
                "{what} carries a link:\n{text}"
            );
        }
    }
}

/// Secrets the user puts anywhere — a bearer token given with `-H` and no key in the
/// environment, a header marked secret, the URL's password, a query value — are redacted in
/// every form a gateway can echo them (as given, in a `Basic` header's base64), in every
/// format of `probe`, `fleet` and `triage`; and nothing the gateway sends reaches a terminal as an
/// escape sequence, or a Markdown report as HTML or a link.
#[tokio::test]
async fn every_planted_secret_stays_out_and_hostile_text_stays_inert() {
    let base = faulty_server(Fault::EchoEverything).await;
    let url = planted_url(&base);
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("ratecheck-planted-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let auth = format!("Authorization: Bearer {BEARER}");
    let tenant = format!("X-Tenant: {TENANT}");
    let common = [
        "--model",
        "m",
        "-H",
        &auth,
        "-H",
        &tenant,
        "--secret-header",
        "x-tenant",
    ];
    let mut outputs: Vec<(String, String)> = Vec::new();
    for format in ["table", "json", "markdown"] {
        let file = dir.join(format!("probe.{format}"));
        let file_arg = file.to_string_lossy().to_string();
        let mut args = vec!["probe", url.as_str(), "--format", format, "-o", &file_arg];
        args.extend(common);
        let run = ratecheck(&args, &[]).await;
        outputs.push((format!("probe stdout, {format}"), run.stdout));
        outputs.push((format!("probe stderr ({format})"), run.stderr));
        outputs.push((
            format!("probe -o, {format}"),
            std::fs::read_to_string(&file).unwrap_or_default(),
        ));
    }
    for format in ["table", "json", "markdown"] {
        let file = dir.join(format!("fleet.{format}"));
        let file_arg = file.to_string_lossy().to_string();
        let mut args = vec![
            "fleet",
            url.as_str(),
            url.as_str(),
            "--via",
            url.as_str(),
            "--format",
            format,
            "-o",
            &file_arg,
        ];
        args.extend(common);
        let run = ratecheck(&args, &[]).await;
        outputs.push((format!("fleet stdout, {format}"), run.stdout));
        outputs.push((format!("fleet stderr ({format})"), run.stderr));
        outputs.push((
            format!("fleet -o, {format}"),
            std::fs::read_to_string(&file).unwrap_or_default(),
        ));
    }
    let bundle = dir.join("triage.md");
    let bundle_arg = bundle.to_string_lossy().to_string();
    let mut args = vec![
        "triage",
        url.as_str(),
        "--out",
        &bundle_arg,
        "--skip-429",
        "--repeat",
        "1",
    ];
    args.extend(common);
    let run = ratecheck(&args, &[]).await;
    outputs.push(("triage stdout".into(), run.stdout));
    outputs.push(("triage stderr".into(), run.stderr));
    let md = std::fs::read_to_string(&bundle).unwrap_or_default();
    assert!(md.contains("## Probe"), "no bundle written: {md}");
    outputs.push(("triage bundle".into(), md));
    assert_nothing_planted(&outputs);
    // The user is told that credentials on the command line are not private.
    assert!(
        outputs[1]
            .1
            .contains("warning: a credential was given on the command line"),
        "{}",
        outputs[1].1
    );
    // The echoes were seen, and shown redacted and escaped.
    let json = &outputs[3].1;
    assert!(
        json.contains("[redacted]") && json.contains("\\\\x1b"),
        "{json}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// The same secrets through `run` and `load`, in every format and report file they write: a
/// key from a named variable (not shaped like a provider key), a bearer token and a header marked
/// secret given with `-H`, a scenario header that expands a secret variable, the URL's password
/// and a query value, against a gateway that echoes every request header and line back.
#[tokio::test]
async fn every_planted_secret_stays_out_of_run_and_load() {
    let base = faulty_server(Fault::EchoEverything).await;
    let url = planted_url(&base);
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("ratecheck-planted-run-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let scenario = dir.join("planted.yaml");
    std::fs::write(
        &scenario,
        "name: planted\ntarget: http://127.0.0.1:1\nsteps:\n  - probe: {endpoints: [chat]}\n  - request:\n      stream: true\n      headers: {x-tenant: \"${PLANTED_TENANT}\"}\n      expect:\n        headers:\n          x-echo-x-tenant: {equals: \"${PLANTED_TENANT}x\"}\n",
    )
    .unwrap();
    let scenario = scenario.display().to_string();
    let auth = format!("Authorization: Bearer {BEARER}");
    let env = [("PLANTED_KEY", ENV_KEY), ("PLANTED_TENANT", TENANT)];
    let common = [
        "--model",
        "m",
        "--api-key-env",
        "PLANTED_KEY",
        "-H",
        &auth,
        "--secret-header",
        "x-tenant",
    ];
    let file = |name: &str| dir.join(name).display().to_string();
    let mut outputs: Vec<(String, String)> = Vec::new();
    for format in ["table", "json", "markdown"] {
        let reports = [
            file("r.xml"),
            file("r.json"),
            file("r.md"),
            file("base.json"),
        ];
        let mut args = vec!["run", scenario.as_str(), "--target", url.as_str()];
        args.extend(["--format", format, "--report-junit", &reports[0]]);
        args.extend([
            "--report-json",
            &reports[1],
            "--report-markdown",
            &reports[2],
        ]);
        args.extend(["--save-baseline", &reports[3]]);
        args.extend(common);
        let run = ratecheck(&args, &env).await;
        assert!(
            run.code <= 1,
            "run {format}: {}\n{}",
            run.stdout,
            run.stderr
        );
        outputs.push((format!("run {format} stdout"), run.stdout));
        outputs.push((format!("run {format} stderr"), run.stderr));
        for (name, path) in ["junit", "json", "markdown", "baseline"]
            .iter()
            .zip(&reports)
        {
            let text = std::fs::read_to_string(path).unwrap();
            outputs.push((format!("run {format} --report {name}"), text));
        }
        let out = file(&format!("load.{format}"));
        let html = file("load.html");
        let mut args = vec!["load", url.as_str(), "--requests", "6", "-c", "2"];
        args.extend(["--stream-fraction", "0.5", "--format", format, "-o", &out]);
        args.extend(["--report-html", &html]);
        args.extend(common);
        let load = ratecheck(&args, &env).await;
        outputs.push((format!("load {format} stdout"), load.stdout));
        outputs.push((format!("load {format} stderr"), load.stderr));
        outputs.push((
            format!("load {format} -o"),
            std::fs::read_to_string(&out).unwrap(),
        ));
        outputs.push(("load html".into(), std::fs::read_to_string(&html).unwrap()));
    }
    // The echoes were seen (the request step's comparison failed on a redacted value).
    let json = &outputs
        .iter()
        .find(|(w, _)| w == "run json stdout")
        .unwrap()
        .1;
    assert!(json.contains("[redacted]"), "{json}");
    assert_nothing_planted(&outputs);
    std::fs::remove_dir_all(&dir).ok();
}
