//! Test helpers: the `ratecheck` binary, and raw TCP servers that misbehave on purpose.
//!
//! The faulty servers speak HTTP/1.1 by hand over real sockets, so a test can hang, cut a
//! chunked stream mid-way or send garbage exactly as a broken gateway would.

use std::process::{Command, Output};
use tokio::net::TcpListener;

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
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
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
