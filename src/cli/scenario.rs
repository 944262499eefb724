//! Arguments of the scenario commands: `run`, `validate`.

use std::path::PathBuf;

use clap::Args;

use super::ConnectArgs;
use crate::report::Format;

/// `ratecheck run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario files (YAML).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Gateway base URL, replacing each scenario's `target`.
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,

    /// Model, replacing each scenario's `defaults.model`.
    #[arg(long)]
    pub model: Option<String>,

    /// Warnings fail the run too, as `strict: true` in a scenario does.
    #[arg(long)]
    pub strict: bool,

    /// Output format on standard output: the step-by-step summary as the run goes (`table`),
    /// or the whole report at the end.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Also write the whole report to this file (format from `--format`), as every command's
    /// `-o` does; `--report-*` write further formats beside it.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Write a JUnit XML report (one testcase per expectation).
    #[arg(long, value_name = "FILE")]
    pub report_junit: Option<PathBuf>,

    /// Write the JSON report (schema: docs/run-report.schema.json).
    #[arg(long, value_name = "FILE")]
    pub report_json: Option<PathBuf>,

    /// Write a Markdown report.
    #[arg(long, value_name = "FILE")]
    pub report_markdown: Option<PathBuf>,

    /// Record which rate-limit headers each endpoint × shape carried into this file.
    #[arg(long, value_name = "FILE")]
    pub save_baseline: Option<PathBuf>,

    /// Fail when a header recorded in this baseline is missing now.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,

    /// The connection: each flag replaces the scenario's `auth` or `defaults` key of the same
    /// name; `-H`, `--rate-header` and `--secret-header` add to the scenario's.
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// `ratecheck validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Scenario files (YAML).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Check as if `--target` were given to `run` (the scenarios' `target` is not needed).
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
}
