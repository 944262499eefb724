//! TLS as curl does it: a self-signed certificate that `openssl req -x509` marks `CA:TRUE`,
//! trusted through `--cacert` by `probe`, `load` (its own connections) and `record` (its
//! upstream) exactly when curl trusts it; and each refusal named as a TLS failure with its
//! cause, never as an unreachable gateway.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::{TlsGateway, free_port, ratecheck, sh, tls_server, wait_until_listening};

/// A scratch directory of this test's own.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("ratecheck-tls-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `openssl req -x509` as the README and curl users run it: a self-signed certificate named
/// `NAME.pem` (key `NAME.key`) for `san`, which openssl marks `CA:TRUE`.
fn self_signed(dir: &Path, name: &str, san: &str) -> PathBuf {
    sh(
        dir,
        &format!(
            "openssl req -x509 -newkey rsa:2048 -nodes -keyout {name}.key -out {name}.pem -days 2 -subj /CN=localhost -addext subjectAltName={san}"
        ),
    );
    let text = Command::new("openssl")
        .args(["x509", "-noout", "-ext", "basicConstraints", "-in"])
        .arg(dir.join(format!("{name}.pem")))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("CA:TRUE"), "not the case under test: {text}");
    dir.join(format!("{name}.pem"))
}

/// The same, valid only from 2020-01-01 to 2020-01-02: `openssl ca -selfsign` is the one
/// openssl 3.0 command that sets both dates.
fn expired(dir: &Path) -> PathBuf {
    std::fs::write(
        dir.join("ca.cnf"),
        "[ca]\ndefault_ca = here\n[here]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\ndefault_md = sha256\npolicy = any\ncopy_extensions = none\nx509_extensions = leaf\n[any]\ncommonName = supplied\n[leaf]\nbasicConstraints = critical,CA:TRUE\nsubjectAltName = IP:127.0.0.1\n",
    )
    .unwrap();
    sh(
        dir,
        "touch index.txt && echo 01 > serial && openssl req -new -newkey rsa:2048 -nodes -keyout expired.key -out expired.csr -subj /CN=localhost && openssl ca -batch -notext -selfsign -config ca.cnf -keyfile expired.key -in expired.csr -out expired.pem -startdate 20200101000000Z -enddate 20200102000000Z",
    );
    dir.join("expired.pem")
}

/// The server's key next to its certificate.
fn key(cert: &Path) -> PathBuf {
    cert.with_extension("key")
}

/// Whether curl fetches `/v1/models` from `gw` trusting `cacert` (none: the system's roots).
fn curl_accepts(gw: &TlsGateway, cacert: Option<&Path>) -> bool {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "10", "-o", "/dev/null"]);
    if let Some(ca) = cacert {
        cmd.arg("--cacert").arg(ca);
    }
    cmd.arg(format!("https://{}/v1/models", gw.url));
    cmd.output().expect("curl").status.success()
}

/// `probe` against `gw` with `extra` flags: its exit code, its JSON report, and its stderr.
async fn probe(gw: &TlsGateway, extra: &[&str]) -> (i32, serde_json::Value, String) {
    let url = format!("https://{}", gw.url);
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
    args.extend(extra);
    let run = ratecheck(&args, &[]).await;
    let report = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout, run.stderr));
    (run.code, report, run.stderr)
}

/// `load` against `gw`, six requests on two of its own connections: its exit code and report.
async fn load(gw: &TlsGateway, extra: &[&str], dir: &Path) -> (i32, serde_json::Value) {
    let url = format!("https://{}", gw.url);
    let out = dir.join("load.json");
    let out = out.to_str().unwrap();
    let mut args = vec![
        "load",
        url.as_str(),
        "--model",
        "m",
        "--requests",
        "6",
        "-c",
        "2",
        "--format",
        "json",
        "-o",
        out,
    ];
    args.extend(extra);
    let run = ratecheck(&args, &[]).await;
    let report = serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap();
    (run.code, report)
}

/// `record` in front of `gw`, one chat request through it: what the client got (status and
/// body), and the recorder's exit code, JSON report and stderr.
async fn record(gw: &TlsGateway, extra: &[&str]) -> (u16, String, i32, serde_json::Value, String) {
    let upstream = format!("https://{}", gw.url);
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut args = vec![
        "record",
        "--upstream",
        upstream.as_str(),
        "--listen",
        listen.as_str(),
        "--duration",
        "2s",
        "--format",
        "json",
    ];
    args.extend(extra);
    let recorder = ratecheck(&args, &[]);
    let client = async {
        wait_until_listening(port, "ratecheck record").await;
        let r = reqwest::Client::new()
            .post(format!("http://{listen}/v1/chat/completions"))
            .body("{}")
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    };
    let (run, (status, body)) = tokio::join!(recorder, client);
    let report = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout, run.stderr));
    (status, body, run.code, report, run.stderr)
}

/// The certificate `openssl req -x509 … -addext subjectAltName=IP:127.0.0.1` makes: curl
/// accepts it with `--cacert`, and so do `probe`, `load` and `record`; without `--cacert`
/// curl refuses it, and each command names a self-signed certificate, with exit 3
/// (`tls_failed`) and the flag that helps; `--insecure` accepts it.
#[tokio::test]
async fn a_self_signed_ca_certificate_is_trusted_with_cacert_as_curl_trusts_it() {
    ratecheck::http::install_crypto_provider();
    let dir = scratch("pinned");
    let cert = self_signed(&dir, "gateway", "IP:127.0.0.1");
    let gw = tls_server(&cert, &key(&cert));
    let cacert = cert.to_str().unwrap();
    assert!(curl_accepts(&gw, Some(&cert)), "curl --cacert refused it");
    assert!(!curl_accepts(&gw, None), "curl trusted it without --cacert");

    let (code, report, stderr) = probe(&gw, &["--cacert", cacert]).await;
    assert_eq!(code, 0, "{stderr}\n{report:#}");
    assert_eq!(report["exchanges"][0]["status"], 200, "{report:#}");

    let (code, report) = load(&gw, &["--cacert", cacert], &dir).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["requests"]["succeeded"], 6, "{report:#}");

    let (status, body, code, report, stderr) = record(&gw, &["--cacert", cacert]).await;
    assert_eq!(status, 200, "{body}\n{stderr}");
    assert_eq!(code, 0, "{stderr}\n{report:#}");
    assert_eq!(report["exchanges"][0]["status"], 200, "{report:#}");

    let said = "TLS: self-signed certificate";
    let (code, report, stderr) = probe(&gw, &[]).await;
    assert_eq!(code, 3, "{stderr}");
    assert_eq!(report["outcome"]["status"], "tls_failed", "{report:#}");
    assert_eq!(report["aborted"]["kind"], "tls", "{report:#}");
    assert!(
        stderr.contains(said) && stderr.contains("`--cacert FILE`"),
        "{stderr}"
    );
    assert!(!stderr.contains("could not connect"), "{stderr}");

    let (code, report) = load(&gw, &[], &dir).await;
    assert_eq!(code, 3, "{report:#}");
    assert_eq!(report["outcome"]["status"], "tls_failed", "{report:#}");
    assert!(
        report["first_errors"]["tls"]
            .as_str()
            .unwrap()
            .contains(said),
        "{report:#}"
    );

    let (status, body, code, _, stderr) = record(&gw, &[]).await;
    assert_eq!((status, code), (502, 0), "{body}\n{stderr}");
    assert!(body.contains(said), "{body}");
    assert!(
        stderr.contains(said) && stderr.contains("`--cacert FILE`"),
        "{stderr}"
    );

    // `--insecure` checks nothing, for the general client and the recorder alike.
    let (code, _, stderr) = probe(&gw, &["--insecure"]).await;
    assert_eq!(code, 0, "{stderr}");
    let (status, body, _, _, stderr) = record(&gw, &["--insecure"]).await;
    assert_eq!(status, 200, "{body}\n{stderr}");
    drop(gw);
    std::fs::remove_dir_all(&dir).ok();
}

/// Pinning a certificate trusts that certificate only, for its names and its dates: another
/// self-signed certificate in `--cacert`, a certificate for `example.com` reached at
/// 127.0.0.1, and an expired one are each refused with their own cause, through `probe` and
/// `load`'s own connections alike, where curl refuses them too.
#[tokio::test]
async fn a_pinned_certificate_is_still_checked() {
    ratecheck::http::install_crypto_provider();
    let dir = scratch("refused");
    let served = self_signed(&dir, "served", "IP:127.0.0.1");
    let other = self_signed(&dir, "other", "IP:127.0.0.1");
    let elsewhere = self_signed(&dir, "elsewhere", "DNS:example.com");
    let expired = expired(&dir);
    let cases = [
        (
            &served,
            &other,
            "TLS: self-signed certificate",
            "`--cacert` does not hold",
        ),
        (
            &elsewhere,
            &elsewhere,
            "is not valid for 127.0.0.1: it names example.com",
            "connect by a name the certificate was issued for",
        ),
        (
            &expired,
            &expired,
            "TLS: certificate expired",
            "was valid until 2020-01-02T00:00:00Z",
        ),
    ];
    for (cert, trusted, says, also) in cases {
        let gw = tls_server(cert, &key(cert));
        let trusted_arg = trusted.to_str().unwrap();
        assert!(
            !curl_accepts(&gw, Some(trusted)),
            "curl accepted {}",
            cert.display()
        );
        let (code, report, stderr) = probe(&gw, &["--cacert", trusted_arg]).await;
        assert_eq!(code, 3, "{}: {stderr}", cert.display());
        assert_eq!(report["outcome"]["status"], "tls_failed", "{report:#}");
        assert!(
            stderr.contains(says) && stderr.contains(also),
            "{}: {stderr}",
            cert.display()
        );
        let (code, report) = load(&gw, &["--cacert", trusted_arg], &dir).await;
        assert_eq!(code, 3, "{report:#}");
        assert_eq!(report["requests"]["succeeded"], 0, "{report:#}");
        assert!(
            report["first_errors"]["tls"]
                .as_str()
                .unwrap()
                .contains(says),
            "{report:#}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}
