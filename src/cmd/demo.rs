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
use crate::limits::{CheckId, LimitsOptions, LimitsReport};
use crate::mock::{Defect, MockConfig, MockServer, Profile};
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
    .map_err(|e| CliError::runtime(format!("could not start the simulator on 127.0.0.1: {e}")))?;
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

/// `ratecheck limits` on a simulator with `defects` (a window of 4 s, so that kept slots come
/// back soon), with a key that has max_parallel 2 and a second key for the concurrency check.
pub async fn limits_on(defects: &[Defect]) -> Result<LimitsReport, CliError> {
    let server = MockServer::start(
        MockConfig {
            profile: Profile::LitellmFixed,
            chunk_delay: Duration::from_millis(2),
            slow: Duration::from_millis(1500),
            window: Duration::from_secs(4),
            defects: defects.to_vec(),
            ..MockConfig::default()
        },
        0,
    )
    .await
    .map_err(|e| CliError::runtime(format!("could not start the simulator on 127.0.0.1: {e}")))?;
    let key = |k: &str| ConnectSpec {
        timeout: Duration::from_secs(10),
        api_key: Some(k.into()),
        ..ConnectSpec::default()
    };
    let main = config::build_client(&server.url(), key("sk-rc-100-5000-p2-demo"))?;
    let second = config::build_client(&server.url(), key("sk-rc-1000-300-demo"))?;
    let opts = LimitsOptions {
        model: "mock-model".into(),
        embedding_model: "mock-model".into(),
        endpoints: crate::endpoint::Endpoint::ALL.to_vec(),
        checks: CheckId::ALL.to_vec(),
        max_requests: 200,
        max_wait: Duration::from_secs(20),
        max_parallel: None,
        settle: Duration::from_millis(300),
        hold_tokens: 400,
        strict: false,
        stop: crate::stop::Stop::on_ctrl_c(),
        waiting: crate::wait::Waiting::default(),
    };
    let report = crate::limits::run(&main, Some(&second), &opts, &mut |_| {}).await;
    server.shutdown().await;
    Ok(report)
}

/// `demo --limits DEFECT`: the defect found on the first simulator, nothing on the second.
async fn limits_demo(
    defect: Defect,
    args: &DemoArgs,
    color: bool,
    out: &mut dyn Write,
) -> Result<Ended, CliError> {
    use crate::report::limits::render;
    let broken = limits_on(&[defect]).await?;
    let healthy = limits_on(&[]).await?;
    let found = !broken.findings.is_empty();
    let clean = healthy.findings.is_empty() && healthy.outcome.exit_code == 0;
    let name = clap::ValueEnum::to_possible_value(&defect)
        .map_or_else(String::new, |v| v.get_name().to_string());
    let text = if args.format == Format::Json {
        crate::report::json(&serde_json::json!({"defect": name, "with_defect": broken,
            "healthy": healthy, "defect_found": found, "healthy_clean": clean}))
    } else {
        format!(
            "# 1. the simulator's limiter with `--defect {name}`\n\n{}\n# 2. the same limiter, healthy\n\n{}\n# summary\n{name}: exit {} — {}\nhealthy: exit {} — {}\n",
            render(&broken, args.format, color),
            render(&healthy, args.format, color),
            broken.outcome.exit_code,
            if found {
                broken
                    .findings
                    .iter()
                    .map(|f| f.kind.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            } else {
                "the defect was NOT found".into()
            },
            healthy.outcome.exit_code,
            if clean {
                "no finding"
            } else {
                "findings remain"
            }
        )
    };
    write_out(out, &text)?;
    Ok(Ended::with(verdict::decide([], !(found && clean))))
}

/// Runs the demo; exit 0 when the drop is found on `litellm-v3` and absent on `litellm-fixed`.
pub async fn run(args: &DemoArgs, color: bool, out: &mut dyn Write) -> Result<Ended, CliError> {
    if let Some(defect) = args.limits {
        return limits_demo(defect, args, color, out).await;
    }
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
        let dict = broken
            .findings
            .iter()
            .any(|f| f.kind == FindingKind::LitellmV3PlainDictDrop);
        t.push_str(&format!(
            "litellm-v3:    exit {} — {}\n",
            broken.outcome.exit_code,
            match (found, dict) {
                (true, true) =>
                    "streaming and plain-dict header drops found (BerriAI/litellm#27748)",
                (true, false) => "streaming header drop found (BerriAI/litellm#27748)",
                _ => "the drop was NOT found",
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
