//! Arguments of the scenario commands: `run`, `validate`.

use std::path::PathBuf;

use clap::Args;

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

    /// Name of the environment variable holding the API key (replaces the scenario's `auth`).
    #[arg(long, value_name = "VAR")]
    pub api_key_env: Option<String>,

    /// Read the API key from this file (replaces the scenario's `auth`).
    #[arg(long, value_name = "FILE", conflicts_with = "api_key_env")]
    pub api_key_file: Option<PathBuf>,

    /// Extra request header, `Name: value` (repeatable), added to the scenario's.
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,

    /// Time allowed to connect, to receive headers, and between two chunks (replaces
    /// `defaults.timeout`; default 30s).
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,

    /// Accept invalid TLS certificates.
    #[arg(long)]
    pub insecure: bool,

    /// A rate-limit header the operator named, added to the scenario's `rate_headers`
    /// (repeatable).
    #[arg(long = "rate-header", value_name = "NAME")]
    pub rate_headers: Vec<String>,

    /// A request header whose value is a secret: redacted in every output (repeatable).
    #[arg(long = "secret-header", value_name = "NAME")]
    pub secret_headers: Vec<String>,

    /// Follow 307/308 redirects to the same origin (none are followed without it).
    #[arg(long)]
    pub follow_redirects: bool,

    /// The longest one request may take, headers and whole body [default: 120s].
    #[arg(long, value_name = "DURATION")]
    pub max_time: Option<String>,

    /// Also trust the CA certificates in this PEM file.
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,

    /// Warnings fail the run too, as `strict: true` in a scenario does.
    #[arg(long)]
    pub strict: bool,

    /// Output format on standard output: the step-by-step summary as the run goes (`table`),
    /// or the whole report at the end.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

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
