//! `ratecheck demo`: the bug and its fix, on the built-in simulator, in one command.
//!
//! Starts two simulators on free loopback ports (`litellm-v3`, then `litellm-fixed`), probes
//! each with the same client a user would point at a gateway, and says whether the drop was
//! found on the first and absent on the second. Needs no network.

use std::io::Write;
use std::time::Duration;

use crate::config::CliError;
use crate::exit::Exit;
use crate::http::{Client, ClientSettings, normalize_base};
use crate::mock::{MockConfig, MockServer, Profile};
use crate::probe::analyze::FindingKind;
use crate::probe::{ProbeOptions, ProbeReport, probe};
use crate::report::{self, Format};

/// Probes one simulator profile and returns its report.
pub async fn probe_profile(profile: Profile) -> Result<ProbeReport, CliError> {
    let server = MockServer::start(
        MockConfig {
            profile,
            chunk_delay: Duration::from_millis(5),
            ..MockConfig::default()
        },
        0,
    )
    .await
    .map_err(|e| CliError::usage(format!("could not start the simulator on 127.0.0.1: {e}")))?;
    let base = normalize_base(&server.url()).map_err(CliError::usage)?;
    let client = Client::new(
        base,
        ClientSettings {
            timeout: Duration::from_secs(10),
            insecure: false,
            extra_headers: Vec::new(),
            api_key: Some("sk-demo-key".into()),
        },
    )
    .map_err(|e| CliError::usage(format!("could not set up the HTTP client: {e:#}")))?;
    let report = probe(&client, &ProbeOptions::default(), &mut |_| {}).await;
    server.shutdown().await;
    Ok(report)
}

/// Runs the demo; exit 0 when the drop is found on `litellm-v3` and absent on `litellm-fixed`.
pub async fn run(format: Format, color: bool, out: &mut dyn Write) -> Result<Exit, CliError> {
    let mut write = |text: &str| {
        out.write_all(text.as_bytes())
            .map_err(|e| CliError::usage(format!("could not write the output: {e}")))
    };
    let broken = probe_profile(Profile::LitellmV3).await?;
    let fixed = probe_profile(Profile::LitellmFixed).await?;
    let found = broken
        .findings
        .iter()
        .any(|f| f.kind == FindingKind::LitellmV3StreamingDrop);
    let clean = fixed.findings.is_empty() && fixed.outcome.exit_code == 0;
    if format == Format::Json {
        let both = serde_json::json!({"litellm-v3": broken, "litellm-fixed": fixed,
                                      "drop_found": found, "fix_verified": clean});
        write(&format!(
            "{}\n",
            serde_json::to_string_pretty(&both).unwrap_or_default()
        ))?;
    } else {
        write("# 1. simulator profile `litellm-v3`: LiteLLM's v3 limiter as released\n\n")?;
        write(&report::render(&broken, format, color))?;
        write(
            "\n# 2. simulator profile `litellm-fixed`: the same gateway with the headers restored\n\n",
        )?;
        write(&report::render(&fixed, format, color))?;
        write("\n# summary\n")?;
        write(&format!(
            "litellm-v3:    exit {} — {}\n",
            broken.outcome.exit_code,
            if found {
                "streaming header drop found (BerriAI/litellm#27748)"
            } else {
                "the drop was NOT found"
            }
        ))?;
        write(&format!(
            "litellm-fixed: exit {} — {}\n",
            fixed.outcome.exit_code,
            if clean {
                "rate-limit headers on every response shape: fix verified"
            } else {
                "findings remain"
            }
        ))?;
    }
    Ok(if found && clean {
        Exit::Ok
    } else {
        Exit::Findings
    })
}
