//! `--fail-if 'p99_ms>2000'`: k6-style thresholds on a finished load report. An expression
//! that holds fails the run (exit 1).

use std::fmt;

use serde::Serialize;

/// Metrics a threshold can name.
pub const METRICS: [&str; 13] = [
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "p999_ms",
    "max_ms",
    "mean_ms",
    "ttft_p50_ms",
    "ttft_p99_ms",
    "error_rate",
    "throttle_rate",
    "retry_rate",
    "achieved_rps",
    "findings",
];

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Op {
    /// `<`
    #[serde(rename = "<")]
    Lt,
    /// `<=`
    #[serde(rename = "<=")]
    Le,
    /// `>`
    #[serde(rename = ">")]
    Gt,
    /// `>=`
    #[serde(rename = ">=")]
    Ge,
    /// `==`
    #[serde(rename = "==")]
    Eq,
    /// `!=`
    #[serde(rename = "!=")]
    Ne,
}

impl Op {
    fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Op::Lt => a < b,
            Op::Le => a <= b,
            Op::Gt => a > b,
            Op::Ge => a >= b,
            Op::Eq => (a - b).abs() < 1e-9,
            Op::Ne => (a - b).abs() >= 1e-9,
        }
    }
}

/// A parsed `--fail-if` expression.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Condition {
    /// The expression as written.
    pub expr: String,
    /// The metric.
    pub metric: String,
    /// The comparison.
    pub op: Op,
    /// The bound.
    pub value: f64,
}

/// A threshold and how it went.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Threshold {
    /// The condition.
    #[serde(flatten)]
    pub condition: Condition,
    /// The metric's value in this run.
    pub actual: f64,
    /// Whether the condition held, failing the run.
    pub failed: bool,
}

/// Why an expression cannot be used.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses `metric OP number`, e.g. `p99_ms>2000` or `error_rate >= 0.01`.
pub fn parse(expr: &str) -> Result<Condition, ParseError> {
    let text: String = expr.chars().filter(|c| !c.is_whitespace()).collect();
    let ops = [
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("==", Op::Eq),
        ("!=", Op::Ne),
        ("<", Op::Lt),
        (">", Op::Gt),
    ];
    let Some((at, sym, op)) = ops
        .iter()
        .filter_map(|(sym, op)| text.find(sym).map(|i| (i, *sym, *op)))
        .min_by_key(|(i, sym, _)| (*i, std::cmp::Reverse(sym.len())))
    else {
        return Err(ParseError(format!(
            "`{expr}` has no comparison: write e.g. `p99_ms>2000` or `error_rate>0.01`"
        )));
    };
    let metric = &text[..at];
    let value = &text[at + sym.len()..];
    if !METRICS.contains(&metric) {
        let hint = crate::suggest::suggest(metric, &METRICS)
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        return Err(ParseError(format!(
            "`{metric}` is not a metric{hint}; one of {}",
            METRICS.join(", ")
        )));
    }
    let value: f64 = value
        .parse()
        .map_err(|_| ParseError(format!("`{value}` in `{expr}` is not a number")))?;
    Ok(Condition {
        expr: expr.trim().to_string(),
        metric: metric.to_string(),
        op,
        value,
    })
}

impl Condition {
    /// How this condition went on a run whose metric came out at `actual`.
    pub fn judge(&self, actual: f64) -> Threshold {
        Threshold {
            condition: self.clone(),
            actual,
            failed: self.op.holds(actual, self.value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_parse() {
        let c = parse("p99_ms>2000").unwrap();
        assert_eq!(
            (c.metric.as_str(), c.op, c.value),
            ("p99_ms", Op::Gt, 2000.0)
        );
        let c = parse("error_rate >= 0.01").unwrap();
        assert_eq!((c.op, c.value), (Op::Ge, 0.01));
        assert!(
            parse("p99>2000")
                .unwrap_err()
                .0
                .contains("did you mean `p99_ms`")
        );
        assert!(parse("p99_ms").is_err());
        assert!(parse("p99_ms>fast").is_err());
    }
}
