//! Through a real proxy: Debian's tinyproxy (installed by `tests/proxy/setup.sh`), started on
//! a free loopback port with a configuration of the test's own, logging every request it
//! forwards. `HTTP_PROXY`, `HTTPS_PROXY` and `NO_PROXY` are honoured by every command, the
//! report names the proxy (never its credentials), and a proxy that is down is named as such.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use ratecheck::mock::{MockConfig, MockServer};

use crate::support::{closed_port, ratecheck, tls_gateway};

/// A tinyproxy instance and the log it writes; killed by its PID when dropped.
struct Tinyproxy {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Tinyproxy {
    async fn start(dir: &Path) -> Tinyproxy {
        let bin = std::env::var("RATECHECK_TINYPROXY").unwrap_or_else(|_| "tinyproxy".into());
        let port = closed_port().await;
        let log = dir.join("tinyproxy.log");
        let conf = dir.join("tinyproxy.conf");
        // No `ConnectPort` line: CONNECT is allowed to any port (the TLS gateway's is random).
        let mut f = std::fs::File::create(&conf).unwrap();
        writeln!(
            f,
            "Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 64\nAllow 127.0.0.1\nLogLevel Info\nLogFile \"{}\"",
            log.display()
        )
        .unwrap();
        let child = Command::new(&bin)
            .arg("-d")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{bin}: {e}: install Debian's tinyproxy with tests/proxy/setup.sh (tests/run-all.sh does)")
            });
        let proxy = Tinyproxy { child, port, log };
        crate::support::wait_until_listening(port, "tinyproxy").await;
        proxy
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Log lines of requests it forwarded (`Request (file descriptor N): POST http://…`) and
    /// tunnels it opened (`CONNECT 127.0.0.1:PORT`).
    fn forwarded(&self, what: &str) -> usize {
        std::fs::File::open(&self.log).map_or(0, |f| {
            std::io::BufReader::new(f)
                .lines()
                .map_while(Result::ok)
                .filter(|l| l.contains("Request (file descriptor") && l.contains(what))
                .count()
        })
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("ratecheck-proxy-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `HTTP_PROXY` routes probe and load (closed and open loop) through tinyproxy, each request
/// forwarded, with the same verdicts as direct; `NO_PROXY` sends them directly; the report
/// names the proxy without the credentials in its URL.
#[tokio::test]
async fn http_proxy_and_no_proxy_are_honoured_by_every_command() {
    let dir = scratch("http");
    let proxy = Tinyproxy::start(&dir).await;
    let sim = MockServer::start(MockConfig::default(), 0).await.unwrap();
    let url = sim.url();
    let chat = format!("POST {}/v1/chat/completions", url.trim_end_matches('/'));
    let with_user = proxy.url().replace("http://", "http://ops:pr0xy-passw0rd@");
    let via = [("HTTP_PROXY", with_user.as_str())];

    let probe = ratecheck(
        &["probe", &url, "--endpoints", "chat", "--format", "json"],
        &via,
    )
    .await;
    // The simulator's default profile is LiteLLM's: the drop is found through the proxy too.
    assert_eq!(probe.code, 1, "{}", probe.stderr);
    let report: serde_json::Value = serde_json::from_str(&probe.stdout).unwrap();
    crate::support::assert_valid(include_str!("../../docs/probe-report.schema.json"), &report);
    assert_eq!(report["proxy"], proxy.url(), "{report:#}");
    assert!(
        crate::support::finding_kinds(&report).contains(&"litellm_v3_streaming_drop".to_string())
    );
    assert_eq!(
        proxy.forwarded(&chat),
        2,
        "both chat requests went through the proxy"
    );
    let table = ratecheck(&["probe", &url, "--endpoints", "chat"], &via).await;
    assert!(
        table
            .stdout
            .lines()
            .next()
            .unwrap()
            .ends_with(&format!(", via proxy {})", proxy.url())),
        "{}",
        table.stdout
    );
    for out in [&probe, &table] {
        assert!(!out.stdout.contains("pr0xy-passw0rd") && !out.stderr.contains("pr0xy-passw0rd"));
    }

    // Load through a proxy uses connections that the proxy may close after each answer.
    for mode in [["--concurrency", "4"], ["--rate", "40"]] {
        let before = proxy.forwarded(&chat);
        let load = ratecheck(
            &[
                "load",
                &url,
                "--requests",
                "40",
                mode[0],
                mode[1],
                "--format",
                "json",
            ],
            &via,
        )
        .await;
        let report: serde_json::Value = serde_json::from_str(&load.stdout).unwrap();
        assert_eq!(report["requests"]["succeeded"], 40, "{mode:?}: {report:#}");
        assert_eq!(report["requests"]["failed"], 0, "{mode:?}: {report:#}");
        assert_eq!(proxy.forwarded(&chat) - before, 40, "{mode:?}");
    }

    let before = proxy.forwarded(&chat);
    let direct = ratecheck(
        &["probe", &url, "--endpoints", "chat", "--format", "json"],
        &[("HTTP_PROXY", &proxy.url()), ("NO_PROXY", "127.0.0.1")],
    )
    .await;
    assert_eq!(direct.code, 1, "{}", direct.stderr);
    let report: serde_json::Value = serde_json::from_str(&direct.stdout).unwrap();
    assert_eq!(report["proxy"], serde_json::Value::Null);
    assert_eq!(
        proxy.forwarded(&chat),
        before,
        "NO_PROXY: nothing through the proxy"
    );
    sim.shutdown().await;
    drop(proxy);
    std::fs::remove_dir_all(&dir).ok();
}

/// `HTTPS_PROXY`: an `https://` gateway is reached through a CONNECT tunnel, its certificate
/// still checked end to end (`--cacert`).
#[tokio::test]
async fn https_proxy_tunnels_and_the_certificate_is_still_checked() {
    let dir = scratch("https");
    let proxy = Tinyproxy::start(&dir).await;
    let gw = tls_gateway(&dir);
    let https = format!("https://{}", gw.url);
    let ca = gw.ca.display().to_string();
    let via = [("HTTPS_PROXY", proxy.url())];
    let via: Vec<(&str, &str)> = via.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let args = [
        "probe",
        https.as_str(),
        "--model",
        "m",
        "--endpoints",
        "chat",
    ];
    let untrusted = ratecheck(&args, &via).await;
    assert_eq!(untrusted.code, 3, "{}", untrusted.stderr);
    assert!(
        untrusted.stderr.contains("`--cacert FILE`"),
        "{}",
        untrusted.stderr
    );
    let mut trusted = args.to_vec();
    trusted.extend(["--cacert", ca.as_str(), "--format", "json"]);
    let run = ratecheck(&trusted, &via).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["proxy"], proxy.url(), "{report:#}");
    assert!(proxy.forwarded(&format!("CONNECT {}", gw.url)) >= 1);
    drop(gw);
    drop(proxy);
    std::fs::remove_dir_all(&dir).ok();
}

/// A proxy that is not running is named, with the way around it, in every command; its
/// credentials appear nowhere.
#[tokio::test]
async fn a_proxy_that_is_down_is_named() {
    let sim = MockServer::start(MockConfig::default(), 0).await.unwrap();
    let url = sim.url();
    let down = format!(
        "http://ops:pr0xy-passw0rd@127.0.0.1:{}",
        closed_port().await
    );
    let via = [("HTTP_PROXY", down.as_str())];
    let scenario = scratch("down").join("probe.yaml");
    std::fs::write(
        &scenario,
        "name: through a proxy\ntarget: http://127.0.0.1:1\nsteps:\n  - probe: {endpoints: [chat]}\n",
    )
    .unwrap();
    let scenario = scenario.to_str().unwrap();
    for args in [
        vec!["probe", url.as_str(), "--model", "m"],
        vec!["run", scenario, "--target", url.as_str(), "--model", "m"],
        vec![
            "load",
            url.as_str(),
            "--model",
            "m",
            "--requests",
            "4",
            "-c",
            "2",
        ],
    ] {
        let out = ratecheck(&args, &via).await;
        assert_eq!(out.code, 3, "{args:?}: {}\n{}", out.stdout, out.stderr);
        let all = format!("{}{}", out.stdout, out.stderr);
        assert!(
            all.contains("through the proxy http://127.0.0.1:"),
            "{args:?}: {all}"
        );
        assert!(
            !all.contains("pr0xy-passw0rd") && !all.contains("ops:"),
            "{args:?}: {all}"
        );
        if args[0] != "load" {
            assert!(
                out.stderr.contains("`NO_PROXY`"),
                "{args:?}: {}",
                out.stderr
            );
        }
    }
    sim.shutdown().await;
}
