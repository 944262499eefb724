//! `ratecheck analyze` on evidence made from real traffic: real `curl` against the real LiteLLM
//! 1.106.12 proxy as released and with the workaround callback, every endpoint and shape the
//! probe sends. From each exchange (curl's `-v` trace, its `-D` head, its body and its `-w`
//! timings) three files are written — what `curl -i` prints, what `curl -v` prints, and a HAR
//! 1.2 — and each must give the probe's own verdict on the same proxy, without the key in any
//! output.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use ratecheck::endpoint::Endpoint;

use crate::litellm_e2e::{key, litellm_bin, probe_json, released_and_fixed};
use crate::support::{finding_kinds, ratecheck};

/// One real exchange, as curl saw it.
struct Captured {
    url: String,
    body_sent: String,
    verbose: String,
    head: String,
    body: String,
    /// Seconds to the first byte and to the end (`-w '%{json}'`).
    ttfb: f64,
    total: f64,
}

fn curl(url: &str, key: &str, body: &str, dir: &Path, n: usize) -> Captured {
    let head = dir.join(format!("head-{n}"));
    let out = dir.join(format!("body-{n}"));
    let auth = format!("Authorization: Bearer {key}");
    let api_key = format!("x-api-key: {key}");
    let run = Command::new("curl")
        .args(["-sS", "-v", "--max-time", "60", "-H", &auth, "-H", &api_key])
        .args(["-H", "content-type: application/json", "-d", body])
        .arg("-D")
        .arg(&head)
        .arg("-o")
        .arg(&out)
        .args(["-w", "%{json}", url])
        .output()
        .expect("curl (Debian's curl package)");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let timing: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    Captured {
        url: url.to_string(),
        body_sent: body.to_string(),
        verbose: String::from_utf8_lossy(&run.stderr).into_owned(),
        head: std::fs::read_to_string(&head).unwrap(),
        body: std::fs::read_to_string(&out).unwrap(),
        ttfb: timing["time_starttransfer"].as_f64().unwrap_or(0.0),
        total: timing["time_total"].as_f64().unwrap_or(0.0),
    }
}

/// Every endpoint and shape the probe sends, through real curl, in the probe's order.
fn capture(base: &str, key: &str, dir: &Path) -> Vec<Captured> {
    let mut out = Vec::new();
    for e in Endpoint::ALL {
        let shapes: &[bool] = if e.streams() {
            &[false, true]
        } else {
            &[false]
        };
        for stream in shapes {
            let body = e.body("ratecheck-model", *stream).to_string();
            out.push(curl(
                &format!("{base}{}", e.path()),
                key,
                &body,
                dir,
                out.len(),
            ));
        }
    }
    out
}

/// What `curl -i` prints for each exchange: the head, then the body.
fn curl_i(all: &[Captured]) -> String {
    all.iter().fold(String::new(), |mut out, c| {
        let _ = writeln!(out, "{}{}", c.head, c.body);
        out
    })
}

/// What `curl -v` prints with the body on the same terminal: the trace, then the body.
fn curl_v(all: &[Captured]) -> String {
    all.iter().fold(String::new(), |mut out, c| {
        let _ = writeln!(out, "{}{}", c.verbose, c.body);
        out
    })
}

/// A HAR 1.2 of the same exchanges, as a browser's devtools export it.
fn har(all: &[Captured]) -> String {
    let entries: Vec<serde_json::Value> = all
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut lines = c.head.lines().map(|l| l.trim_end_matches('\r'));
            let status_line = lines.next().unwrap();
            let status: u16 = status_line.split_whitespace().nth(1).unwrap().parse().unwrap();
            let headers: Vec<serde_json::Value> = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(n, v)| serde_json::json!({"name": n, "value": v.trim()}))
                .collect();
            let mime = headers
                .iter()
                .find(|h| h["name"].as_str().unwrap().eq_ignore_ascii_case("content-type"))
                .map_or("", |h| h["value"].as_str().unwrap())
                .to_string();
            serde_json::json!({
                "startedDateTime": format!("2026-12-01T12:00:{:02}.000Z", i),
                "time": c.total * 1000.0,
                "request": {
                    "method": "POST", "url": c.url, "httpVersion": "HTTP/1.1",
                    "cookies": [], "queryString": [], "headersSize": -1, "bodySize": c.body_sent.len(),
                    "headers": [
                        {"name": "Authorization", "value": "Bearer KEY"},
                        {"name": "content-type", "value": "application/json"}
                    ],
                    "postData": {"mimeType": "application/json", "text": c.body_sent}
                },
                "response": {
                    "status": status, "statusText": "", "httpVersion": "HTTP/1.1",
                    "cookies": [], "headers": headers, "redirectURL": "",
                    "headersSize": -1, "bodySize": c.body.len(),
                    "content": {"size": c.body.len(), "mimeType": mime, "text": c.body}
                },
                "cache": {},
                "timings": {"blocked": -1, "dns": -1, "connect": -1, "send": 0,
                             "wait": c.ttfb * 1000.0, "receive": (c.total - c.ttfb) * 1000.0}
            })
        })
        .collect();
    serde_json::to_string_pretty(&serde_json::json!({
        "log": {"version": "1.2", "creator": {"name": "ratecheck tests", "version": "1"}, "entries": entries}
    }))
    .unwrap()
}

/// The verdict as compared: exit, finding kinds, and each finding's headers and where they
/// were missing.
fn verdict(code: i32, report: &serde_json::Value) -> (i32, Vec<String>, Vec<String>) {
    let mut missing: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| {
            let headers = f["headers"].as_array().unwrap().clone();
            let on = f["missing_on"].as_array().unwrap().clone();
            headers
                .into_iter()
                .flat_map(move |h| on.clone().into_iter().map(move |o| format!("{h} on {o}")))
        })
        .collect();
    missing.sort();
    (code, finding_kinds(report), missing)
}

async fn analyze(file: &Path, format: &str, out: &Path) -> crate::support::Run {
    let file = file.display().to_string();
    let out = out.display().to_string();
    ratecheck(&["analyze", &file, "--format", format, "-o", &out], &[]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evidence_from_real_curl_gives_the_probes_verdict() {
    let Some(bin) = litellm_bin() else { return };
    ratecheck::http::install_crypto_provider();
    let (released, fixed) = released_and_fixed(&bin).await;
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("ratecheck-evidence-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, proxy, drop) in [("released", &released, true), ("fixed", &fixed, false)] {
        let (code, report, stderr) = probe_json(&proxy.url, &key(1000, 1_000_000), &[]).await;
        let probed = verdict(code, &report);
        assert_eq!(
            probed.1.contains(&"litellm_v3_streaming_drop".to_string()),
            drop,
            "{stderr}\n{report:#}"
        );
        let secret = key(1000, 1_000_000);
        let captured = capture(&proxy.url, &secret, &dir);
        let files = [
            ("curl-i.txt", curl_i(&captured)),
            ("curl-v.txt", curl_v(&captured)),
            (
                "capture.har",
                har(&captured).replace("Bearer KEY", &format!("Bearer {secret}")),
            ),
        ];
        for (file, text) in files {
            let path = dir.join(format!("{name}-{file}"));
            std::fs::write(&path, &text).unwrap();
            let out = dir.join(format!("{name}-{file}.json"));
            let run = analyze(&path, "json", &out).await;
            let analyzed: serde_json::Value = serde_json::from_str(&run.stdout)
                .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout, run.stderr));
            crate::support::assert_valid(
                include_str!("../../docs/probe-report.schema.json"),
                &analyzed,
            );
            assert_eq!(
                verdict(run.code, &analyzed),
                probed,
                "{name} {file}: analyze differs from the probe\n{}\n{analyzed:#}",
                run.stderr
            );
            assert_eq!(
                analyzed["exchanges"].as_array().unwrap().len(),
                9,
                "{analyzed:#}"
            );
            for format in ["table", "json", "markdown"] {
                let out = dir.join(format!("{name}-{file}.{format}"));
                let run = analyze(&path, format, &out).await;
                let written = std::fs::read_to_string(&out).unwrap();
                let mut all = String::new();
                let _ = write!(all, "{}{}{written}", run.stdout, run.stderr);
                assert!(
                    !all.contains(&secret) && !all.contains(&secret[6..]),
                    "{name} {file} {format} leaks the key:\n{all}"
                );
            }
        }
    }
    drop((released, fixed));
    if std::env::var_os("RATECHECK_KEEP_EVIDENCE").is_none() {
        std::fs::remove_dir_all(&dir).ok();
    }
}
