//! Checks within one response: values that do not parse in their dialect, remaining above limit,
//! limits that are not positive, resets in the past or more than a day away.

use std::collections::{BTreeMap, BTreeSet};

use crate::headers::{Family, Parsed, RateHeader, Role};
use crate::http::Exchange;

use super::{Finding, FindingKind, join, label};

/// Malformed values (one finding per header and reason), remaining above limit, implausible resets.
pub(super) fn value_checks(exchanges: &[Exchange], out: &mut Vec<Finding>) {
    let mut malformed: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    let mut inconsistent: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut implausible: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for ex in exchanges {
        let at = label(ex.variant);
        let date = ex
            .header("date")
            .and_then(|d| httpdate::parse_http_date(d).ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64());
        for h in &ex.rate_headers {
            if let Parsed::Malformed { reason } = &h.parsed {
                let family = if h.family == Family::Provider {
                    " (upstream provider header)"
                } else {
                    ""
                };
                malformed
                    .entry((h.name.clone(), format!("{reason}{family}")))
                    .or_default()
                    .insert(at.clone());
            }
            if let Some(problem) = implausible_time(h, date) {
                implausible
                    .entry(format!("`{}: {}` {problem}", h.name, h.value))
                    .or_default()
                    .insert(at.clone());
            }
        }
        for problem in pair_problems(&ex.rate_headers) {
            inconsistent.entry(problem).or_default().insert(at.clone());
        }
    }
    for ((name, reason), at) in malformed {
        let mut f = Finding::new(
            FindingKind::MalformedValue,
            format!("`{name}` is malformed on {}: {reason}", join(&at)),
        );
        f.headers = vec![name];
        f.present_on = at.into_iter().collect();
        out.push(f);
    }
    for (problem, at) in inconsistent {
        out.push(Finding::new(
            FindingKind::InconsistentValue,
            format!("{problem} on {}", join(&at)),
        ));
    }
    for (problem, at) in implausible {
        out.push(Finding::new(
            FindingKind::ImplausibleReset,
            format!("{problem} on {}", join(&at)),
        ));
    }
}

/// A reset more than a day away, or a point in time well before the response's `Date`.
fn implausible_time(h: &RateHeader, date: Option<f64>) -> Option<String> {
    const DAY: f64 = 86_400.0;
    if !matches!(h.role, Role::Reset | Role::RetryAfter) {
        return None;
    }
    match h.parsed {
        Parsed::Seconds { value } if value > DAY * 1.01 => {
            Some(format!("asks for a wait of {value:.0} s, more than a day"))
        }
        Parsed::At { unix } => {
            let now = date.unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64())
            });
            if unix < now - 5.0 {
                Some(format!("is {:.0} s in the past", now - unix))
            } else if unix > now + DAY * 1.01 {
                Some(format!("is {:.0} s away, more than a day", unix - now))
            } else {
                None
            }
        }
        _ => None,
    }
}

/// Within one response: remaining above limit, or a limit that is not positive.
fn pair_problems(headers: &[RateHeader]) -> Vec<String> {
    let mut out = Vec::new();
    let key = |h: &RateHeader| (h.family, h.scope.clone(), h.unit.clone());
    for limit in headers.iter().filter(|h| h.role == Role::Limit) {
        let Some(l) = limit.count() else { continue };
        // Azure's -1 means "unknown"; it is not a contradiction.
        if l == 0 || l < -1 {
            out.push(format!(
                "`{}: {}` is not a positive limit",
                limit.name, limit.value
            ));
        }
        let remaining = headers
            .iter()
            .filter(|h| h.role == Role::Remaining && key(h) == key(limit));
        for r in remaining {
            if let Some(rv) = r.count()
                && l > 0
                && rv > l
            {
                out.push(format!("`{}: {rv}` is above `{}: {l}`", r.name, limit.name));
            }
            if let Some(rv) = r.count()
                && rv < -1
            {
                out.push(format!("`{}: {rv}` is negative", r.name));
            }
        }
    }
    // IETF: remaining `r` above the quota `q` of the policy with the same name.
    let items = |role| {
        headers
            .iter()
            .filter(move |h| h.role == role)
            .flat_map(|h| match &h.parsed {
                Parsed::Policies { items } => items.clone(),
                _ => Vec::new(),
            })
    };
    for status in items(Role::Status) {
        for policy in items(Role::Policy).filter(|p| p.name == status.name) {
            if status.amount > policy.amount {
                out.push(format!(
                    "`RateLimit` remaining r={} is above `RateLimit-Policy` q={} for `{}`",
                    status.amount, policy.amount, status.name
                ));
            }
        }
    }
    out
}
