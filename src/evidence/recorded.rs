//! ratecheck's own JSON reports as evidence: a probe report's `exchanges[]`, a run report's
//! steps' `exchanges[]`. Old evidence re-judged with today's rules: the rate-limit headers are
//! classified again from the recorded (already redacted) headers.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{EvidenceError, Location, Read, Record, position, within};
use crate::http::Exchange;

#[derive(Deserialize)]
struct Report<'a> {
    #[serde(borrow, default)]
    exchanges: Vec<&'a RawValue>,
    #[serde(borrow, default)]
    scenarios: Vec<Scenario<'a>>,
}

#[derive(Deserialize)]
struct Scenario<'a> {
    #[serde(borrow, default)]
    steps: Vec<Step<'a>>,
}

#[derive(Deserialize)]
struct Step<'a> {
    #[serde(borrow, default)]
    exchanges: Vec<&'a RawValue>,
}

/// Reads the exchanges of a probe or run report.
pub(super) fn read(file: &str, text: &str) -> Read {
    let mut out = Read::default();
    let at = |(line, column): (usize, usize)| Location {
        file: file.to_string(),
        line,
        column: Some(column),
        entry: None,
    };
    let report: Report = match serde_json::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            out.errors.push(EvidenceError {
                at: at((e.line().max(1), e.column().max(1))),
                message: format!("not a HAR (no `log`) nor a ratecheck probe or run report: {e}"),
            });
            return out;
        }
    };
    let raws: Vec<&RawValue> = report
        .exchanges
        .into_iter()
        .chain(
            report
                .scenarios
                .into_iter()
                .flat_map(|s| s.steps)
                .flat_map(|s| s.exchanges),
        )
        .collect();
    if raws.is_empty() {
        out.errors.push(EvidenceError {
            at: at((1, 1)),
            message: "has no `exchanges`: expected a HAR (`log.entries`), or a ratecheck probe or run report (`--format json`)".into(),
        });
    }
    for raw in raws {
        let start = position(text, raw);
        match serde_json::from_str::<Exchange>(raw.get()) {
            Ok(ex) => out.records.push(Record {
                at: Some(at(start)),
                status: ex.status.unwrap_or(0),
                recorded: Some(ex),
                ..Record::default()
            }),
            Err(e) => out.errors.push(EvidenceError {
                at: at(within(start, &e)),
                message: format!("not an exchange of a ratecheck report: {e}"),
            }),
        }
    }
    out
}
