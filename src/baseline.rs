//! The header contract: which rate-limit headers each endpoint × shape carried, saved from one
//! run and compared with a later one. Record on the old gateway version, check on the new: a
//! header that disappears fails the run, a new one is a note.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::http::Exchange;
use crate::probe::TOOL;

/// Layout version of baseline files.
pub const SCHEMA_VERSION: u32 = 1;

/// A saved header contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Layout version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// The tool that wrote it.
    pub tool: String,
    /// The targets it was recorded on, redacted.
    pub targets: Vec<String>,
    /// Per `"{shape} {endpoint}"` (e.g. `streaming chat/completions`): the rate-limit header
    /// names seen on its successful responses.
    pub contract: BTreeMap<String, BTreeSet<String>>,
}

/// One header on one endpoint × shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// `streaming chat/completions`, …
    pub variant: String,
    /// The header name.
    pub header: String,
}

/// A run compared with a baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// The baseline file.
    pub file: String,
    /// Headers in the baseline that this run did not see: regressions.
    pub missing: Vec<Entry>,
    /// Headers this run saw that the baseline did not have.
    pub new: Vec<Entry>,
    /// Endpoint × shape pairs in the baseline that this run did not exercise.
    pub not_exercised: Vec<String>,
}

/// The contract a run observed: every successful exchange's compared rate-limit headers, per
/// endpoint × shape, on `targets`.
pub fn record<'a>(
    exchanges: impl IntoIterator<Item = &'a Exchange>,
    targets: impl IntoIterator<Item = String>,
) -> Baseline {
    let mut contract: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for ex in exchanges.into_iter().filter(|e| e.shape.is_success()) {
        let names = contract.entry(ex.variant.to_string()).or_default();
        names.extend(
            ex.rate_headers
                .iter()
                .filter(|h| h.compared())
                .map(|h| h.name.clone()),
        );
    }
    let targets: BTreeSet<String> = targets.into_iter().collect();
    Baseline {
        schema_version: SCHEMA_VERSION,
        tool: TOOL.to_string(),
        targets: targets.into_iter().collect(),
        contract,
    }
}

/// Compares what a run observed (`now`, from [`record`]) with a saved baseline.
pub fn compare(base: &Baseline, now: &Baseline, file: &str) -> Comparison {
    let mut cmp = Comparison {
        file: file.to_string(),
        missing: Vec::new(),
        new: Vec::new(),
        not_exercised: Vec::new(),
    };
    for (variant, headers) in &base.contract {
        let Some(seen) = now.contract.get(variant) else {
            cmp.not_exercised.push(variant.clone());
            continue;
        };
        for h in headers.difference(seen) {
            cmp.missing.push(Entry {
                variant: variant.clone(),
                header: h.clone(),
            });
        }
    }
    for (variant, seen) in &now.contract {
        let before = base.contract.get(variant);
        for h in seen {
            if before.is_none_or(|b| !b.contains(h)) {
                cmp.new.push(Entry {
                    variant: variant.clone(),
                    header: h.clone(),
                });
            }
        }
    }
    cmp
}

/// Reads a baseline file.
pub fn read(path: &Path) -> Result<Baseline, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the baseline `{}`: {e}", path.display()))?;
    let base: Baseline = serde_json::from_str(&text).map_err(|e| {
        format!(
            "`{}` is not a ratecheck baseline: {e} (write one with `--save-baseline`)",
            path.display()
        )
    })?;
    if base.schema_version != SCHEMA_VERSION {
        return Err(format!(
            "`{}` has baseline layout {}, this ratecheck reads {SCHEMA_VERSION}",
            path.display(),
            base.schema_version
        ));
    }
    Ok(base)
}
