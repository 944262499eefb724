//! `ratecheck record` between the official openai Python SDK (from the LiteLLM venv) and the
//! real LiteLLM 1.106.12 proxy: the SDK's results are the same through the recorder as direct,
//! and the report names exactly the headers the SDK did not get on its stream. The time to the
//! first token through the recorder and direct is printed (median of 20 streams each).

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::litellm_e2e::{key, litellm_bin, start_proxy_with};
use crate::support::{finding_kinds, free_port};

/// The SDK's view of `base` (see `tests/record/sdk.py`).
async fn sdk(python: &std::path::Path, base: &str, key: &str, ttft: u32) -> serde_json::Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/record/sdk.py");
    let (python, base, key) = (python.to_path_buf(), base.to_string(), key.to_string());
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .arg(&base)
            .arg(ttft.to_string())
            .env("OPENAI_API_KEY", &key)
            .env("NO_PROXY", "127.0.0.1,localhost")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn names(v: &serde_json::Value) -> Vec<String> {
    let mut n: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    n.sort();
    n
}

fn median(v: &serde_json::Value) -> f64 {
    let mut xs: Vec<f64> = v
        .as_array()
        .unwrap()
        .iter()
        .filter_map(serde_json::Value::as_f64)
        .collect();
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(f64::NAN)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_sees_the_same_through_the_recorder_and_the_report_names_what_it_missed() {
    let Some(bin) = litellm_bin() else { return };
    ratecheck::http::install_crypto_provider();
    let python = bin.with_file_name("python");
    let proxy = start_proxy_with(&bin, "config.yaml", free_port(), &[]).await;
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("ratecheck-record-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (report, har) = (dir.join("report.json"), dir.join("recorded.har"));
    let mut recorder = Command::new(env!("CARGO_BIN_EXE_ratecheck"))
        .args([
            "record",
            "--upstream",
            &proxy.url,
            "--listen",
            "127.0.0.1:0",
        ])
        .args(["--duration", "120s", "--format", "json", "-o"])
        .arg(&report)
        .arg("--save")
        .arg(&har)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(recorder.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    let here = first
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_string();
    let rest = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        s
    });

    let k = key(1000, 10_000_000);
    let direct = sdk(&python, &format!("{}/v1", proxy.url), &k, 20).await;
    let through = sdk(&python, &format!("{here}/v1"), &k, 20).await;
    eprintln!(
        "time to first token, median of 20 streams: direct {:.2} ms, through the recorder {:.2} ms",
        median(&direct["ttft_ms"]),
        median(&through["ttft_ms"])
    );
    for shape in ["non_stream", "stream"] {
        for field in ["text", "finish_reason", "model", "chunks"] {
            assert_eq!(
                direct[shape][field], through[shape][field],
                "{shape}.{field}"
            );
        }
        assert_eq!(
            names(&direct[shape]["headers"]),
            names(&through[shape]["headers"])
        );
    }
    // What the SDK did not get on its stream.
    let missed: Vec<String> = names(&through["non_stream"]["headers"])
        .into_iter()
        .filter(|h| through["stream"]["headers"].get(h).is_none())
        .collect();
    assert!(!missed.is_empty(), "{through:#}");

    let _ = Command::new("kill")
        .args(["-INT", &recorder.id().to_string()])
        .status();
    let status = tokio::task::spawn_blocking(move || recorder.wait().unwrap())
        .await
        .unwrap();
    let log = rest.join().unwrap();
    assert_eq!(status.code(), Some(1), "{log}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    crate::support::assert_valid(include_str!("../../docs/probe-report.schema.json"), &report);
    assert_eq!(
        finding_kinds(&report),
        vec!["litellm_v3_streaming_drop"],
        "{report:#}"
    );
    let mut named: Vec<String> = report["findings"][0]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().to_string())
        .collect();
    named.sort();
    assert_eq!(
        named, missed,
        "the report names what the SDK missed: {report:#}"
    );
    let saved = std::fs::read_to_string(&har).unwrap();
    assert!(
        !saved.contains(&k) && !log.contains(&k) && !report.to_string().contains(&k),
        "the key leaked"
    );
    assert_eq!(report["exchanges"].as_array().unwrap().len(), 22, "{log}");
    tokio::time::sleep(Duration::from_millis(10)).await;
    drop(proxy);
    std::fs::remove_dir_all(&dir).ok();
}
