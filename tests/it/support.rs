//! Test helpers: the `ratecheck` binary, and raw TCP servers that misbehave on purpose.
//!
//! The faulty servers speak HTTP/1.1 by hand over real sockets, so a test can hang, cut a
//! chunked stream mid-way or send garbage exactly as a broken gateway would.

use std::process::{Command, Output};

/// The result of one run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `ratecheck` with `args` and extra environment, with the key variables cleared.
pub async fn ratecheck(args: &[&str], env: &[(&str, &str)]) -> Run {
    let args: Vec<String> = args.iter().map(std::string::ToString::to_string).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let out: Output = tokio::task::spawn_blocking(move || {
        // `RATECHECK_BIN` runs the suite's checks against another build (e.g. an older release,
        // to count what it gets wrong on the same captures).
        let bin = std::env::var("RATECHECK_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_ratecheck").to_string());
        let mut cmd = Command::new(bin);
        cmd.args(&args);
        for var in [
            "RATECHECK_API_KEY",
            "LITELLM_API_KEY",
            "OPENAI_API_KEY",
            "NO_COLOR",
        ] {
            cmd.env_remove(var);
        }
        for (k, v) in &env {
            cmd.env(k, v);
        }
        cmd.output().expect("run ratecheck")
    })
    .await
    .expect("join");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub use ratecheck::mock::fault::Fault;
use ratecheck::mock::fault::FaultServer;

/// Starts `ratecheck mock --fault`'s server on 127.0.0.1:0; returns its base URL. It serves
/// until the test ends.
pub async fn faulty_server(fault: Fault) -> String {
    faulty_server_to(fault, 9).await
}

/// As `faulty_server`, with `RedirectAway` pointing at 127.0.0.1:`away`.
pub async fn faulty_server_to(fault: Fault, away: u16) -> String {
    let server = FaultServer::start(fault, 0, away).await.unwrap();
    let url = server.url();
    // Served for the rest of the test process.
    std::mem::forget(server);
    url
}

/// A loopback port with nothing listening on it.
pub async fn closed_port() -> u16 {
    free_port()
}

/// Waits (at most 10 s) until something listens on 127.0.0.1:`port`; `what` names it.
pub async fn wait_until_listening(port: u16, what: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} did not listen on {port}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A free loopback port, never handed out twice in this test process: servers that tests start
/// side by side (three LiteLLM releases at once, tinyproxy) cannot be given one port, where
/// the second would fail to bind while its health check passed against the first.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a loopback port")
            .port();
        let fresh = GIVEN
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(port);
        if fresh {
            return port;
        }
    }
}

/// Asserts that `value` validates against the JSON Schema text `schema` (one of `docs/`).
pub fn assert_valid(schema: &str, value: &serde_json::Value) {
    let schema: serde_json::Value = serde_json::from_str(schema).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

/// The `kind` of every finding in `owner["findings"]` (a probe, load or step report).
pub fn finding_kinds(owner: &serde_json::Value) -> Vec<String> {
    owner["findings"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|f| f["kind"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// An HTTPS gateway on 127.0.0.1 (`tests/tls/server.py`) serving a certificate; the server is
/// killed, by its PID, when the guard drops.
pub struct TlsGateway {
    child: std::process::Child,
    /// `127.0.0.1:PORT`.
    pub url: String,
    /// The certificate to trust for it, PEM: the CA's, or the server's own if self-signed.
    pub ca: std::path::PathBuf,
}

impl Drop for TlsGateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `script` with `sh` in `dir`, and asserts that it succeeded.
pub fn sh(dir: &std::path::Path, script: &str) {
    use std::process::{Command, Stdio};
    let ok = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok, "{script}");
}

/// A private CA, a leaf certificate for 127.0.0.1 signed by it, and an HTTPS gateway using it.
pub fn tls_gateway(dir: &std::path::Path) -> TlsGateway {
    sh(
        dir,
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=ratecheck-test-ca",
    );
    sh(
        dir,
        "openssl req -newkey rsa:2048 -nodes -keyout leaf.key -out leaf.csr -subj /CN=127.0.0.1",
    );
    sh(
        dir,
        "printf 'subjectAltName=IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\n' > ext.cnf && openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out leaf.pem -days 2 -extfile ext.cnf",
    );
    let mut gw = tls_server(&dir.join("leaf.pem"), &dir.join("leaf.key"));
    gw.ca = dir.join("ca.pem");
    gw
}

/// An HTTPS gateway serving `cert` (PEM) with `key`; `ca` is `cert` itself.
pub fn tls_server(cert: &std::path::Path, key: &std::path::Path) -> TlsGateway {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tls/server.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg(cert)
        .arg(key)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 for the TLS gateway");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().rsplit(' ').next().unwrap().to_string();
    TlsGateway {
        child,
        url: format!("127.0.0.1:{port}"),
        ca: cert.to_path_buf(),
    }
}
