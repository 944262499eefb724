//! `ratecheck demo`: the bug and its fix, on the built-in simulator, in one command.
//!
//! Starts two simulators on free loopback ports (`litellm-v3`, then `litellm-fixed`), probes
//! each with the same client a user would point at a gateway, and says whether the drop was
//! found on the first and absent on the second. Needs no network.

use std::io::Write;
use std::time::Duration;

use super::{Ended, write_out};
use crate::cli::DemoArgs;
use crate::config::{self, CliError};
use crate::http::ConnectSpec;
use crate::mock::{MockConfig, MockServer, Profile};
use crate::probe::{ProbeOptions, ProbeReport, probe};
use crate::report::Format;
use crate::report::probe::render;
use crate::verdict::{self, FindingKind};

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
    let client = config::build_client(
        &server.url(),
        ConnectSpec {
            timeout: Duration::from_secs(10),
            api_key: Some("sk-demo-key".into()),
            ..ConnectSpec::default()
        },
    )?;
    let report = probe(&client, &ProbeOptions::default(), &mut |_| {}).await;
    server.shutdown().await;
    Ok(report)
}

/// Runs the demo; exit 0 when the drop is found on `litellm-v3` and absent on `litellm-fixed`.
pub async fn run(args: &DemoArgs, color: bool, out: &mut dyn Write) -> Result<Ended, CliError> {
    let broken = probe_profile(Profile::LitellmV3).await?;
    let fixed = probe_profile(Profile::LitellmFixed).await?;
    let found = broken
        .findings
        .iter()
        .any(|f| f.kind == FindingKind::LitellmV3StreamingDrop);
    let clean = fixed.findings.is_empty() && fixed.outcome.exit_code == 0;
    let format = args.format;
    let text = if format == Format::Json {
        let both = serde_json::json!({"litellm-v3": broken, "litellm-fixed": fixed,
                                      "drop_found": found, "fix_verified": clean});
        crate::report::json(&both)
    } else {
        let mut t = String::from(
            "# 1. simulator profile `litellm-v3`: LiteLLM's v3 limiter as released\n\n",
        );
        t.push_str(&render(&broken, format, color));
        t.push_str(
            "\n# 2. simulator profile `litellm-fixed`: the same gateway with the headers restored\n\n",
        );
        t.push_str(&render(&fixed, format, color));
        t.push_str("\n# summary\n");
        t.push_str(&format!(
            "litellm-v3:    exit {} — {}\n",
            broken.outcome.exit_code,
            if found {
                "streaming header drop found (BerriAI/litellm#27748)"
            } else {
                "the drop was NOT found"
            }
        ));
        t.push_str(&format!(
            "litellm-fixed: exit {} — {}\n",
            fixed.outcome.exit_code,
            if clean {
                "rate-limit headers on every response shape: fix verified"
            } else {
                "findings remain"
            }
        ));
        t
    };
    write_out(out, &text)?;
    // The demo's own verdict: it fails when the simulator did not show the drop and its fix.
    Ok(Ended::with(verdict::decide([], !(found && clean))))
}
