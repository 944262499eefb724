//! Checks within one response: values that do not parse in their dialect, remaining above limit
//! within one dimension, limits that are not positive, resets in the past or more than a day
//! away.
//!
//! A value that contradicts its own dialect is a finding. What depends on a reading the tool
//! cannot be sure of is a warning: an upstream's passed-through header, remaining above limit in
//! a dialect that does not document what its counters count, a reset judged against a clock.

use std::collections::{BTreeMap, BTreeSet};

use crate::headers::{Family, Parsed, RateHeader, Role};
use crate::http::Exchange;

use super::{Finding, FindingKind, join, label};

/// Each rate-limit header one response carries more than once with different values, with
/// those values in order.
pub(super) fn conflicting(headers: &[RateHeader]) -> BTreeMap<&str, Vec<&str>> {
    let mut seen: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for h in headers {
        seen.entry(h.name.as_str())
            .or_default()
            .push(h.value.as_str());
    }
    seen.retain(|_, values| values.iter().any(|v| *v != values[0]));
    seen
}

/// Malformed values (one finding per header and reason), remaining above limit, implausible resets.
pub(super) fn value_checks(exchanges: &[Exchange], out: &mut Vec<Finding>) {
    let mut malformed: BTreeMap<(String, String, bool), BTreeSet<String>> = BTreeMap::new();
    let mut inconsistent: BTreeMap<(String, bool), BTreeSet<String>> = BTreeMap::new();
    let mut implausible: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for ex in exchanges {
        let at = label(ex.variant);
        let date = ex
            .header("date")
            .and_then(|d| httpdate::parse_http_date(d).ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64());
        for h in ex.rate_headers.iter().filter(|h| h.family.judged()) {
            if let Parsed::Malformed { reason } = &h.parsed {
                // The upstream's header, passed through, is not the gateway's to fix; and the
                // IETF fields are a draft whose syntax changed between revisions (Hugging Face
                // sends `"fixed window";"api";q=1000;w=300`): neither proves a defect.
                let upstream = h.family == Family::Provider || h.passthrough;
                let draft = matches!(h.family, Family::Ietf | Family::IetfLegacy);
                let family = if upstream {
                    " (upstream provider header)"
                } else if draft {
                    " (not in the current IETF draft's syntax)"
                } else {
                    ""
                };
                malformed
                    .entry((
                        h.name.clone(),
                        format!("{reason}{family}"),
                        upstream || draft,
                    ))
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
        // One header sent twice with two values (two proxies each adding theirs): a client
        // cannot tell which holds; not proof of which one is wrong.
        for (name, values) in conflicting(&ex.rate_headers) {
            let problem = format!(
                "`{name}` was sent {} times on one response with different values ({}): a client cannot tell which holds",
                values.len(),
                values.join(", ")
            );
            inconsistent
                .entry((problem, false))
                .or_default()
                .insert(at.clone());
        }
    }
    for ((name, reason, upstream), at) in malformed {
        let mut f = Finding::new(
            FindingKind::MalformedValue,
            format!("`{name}` is malformed on {}: {reason}", join(&at)),
        );
        f.headers = vec![name];
        f.present_on = at.into_iter().collect();
        out.push(if upstream { f.warning() } else { f });
    }
    for ((problem, proven), at) in inconsistent {
        let f = Finding::new(
            FindingKind::InconsistentValue,
            format!("{problem} on {}", join(&at)),
        );
        out.push(if proven { f } else { f.warning() });
    }
    for (problem, at) in implausible {
        // Judged against a clock (the response's `Date`, or ours): suspicious, not proof.
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
    // A monthly or yearly window resets up to a month or a year away.
    let longest = match h.window.as_deref() {
        Some("month") => DAY * 31.0,
        Some("year") => DAY * 366.0,
        _ => DAY,
    };
    match h.parsed {
        Parsed::Seconds { value } if value > longest * 1.01 => {
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
            } else if unix > now + longest * 1.01 {
                Some(format!("is {:.0} s away, more than a day", unix - now))
            } else {
                None
            }
        }
        _ => None,
    }
}

/// Within one response: remaining above the limit of the same dimension, a negative remaining,
/// a limit that is not positive. Each problem says whether it is proof: only in dialects that
/// document what their counters count, and never for a passed-through upstream header.
fn pair_problems(headers: &[RateHeader]) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let judged = |h: &&RateHeader| h.family.judged() && h.family != Family::Provider;
    for limit in headers
        .iter()
        .filter(judged)
        .filter(|h| h.role == Role::Limit)
    {
        let Some(l) = limit.count() else { continue };
        let proven = limit.family.documented_dimensions() && !limit.passthrough;
        // Azure's -1 means "unknown"; a zero limit may be a key that is switched off.
        if l < -1 {
            out.push((
                format!("`{}: {}` is not a positive limit", limit.name, limit.value),
                proven,
            ));
        }
        let remaining = headers
            .iter()
            .filter(judged)
            .filter(|h| h.role == Role::Remaining && h.dimension() == limit.dimension());
        for r in remaining {
            if let Some(rv) = r.count()
                && l > 0
                && rv > l
            {
                out.push((
                    format!("`{}: {rv}` is above `{}: {l}`", r.name, limit.name),
                    proven,
                ));
            }
        }
    }
    for r in headers
        .iter()
        .filter(judged)
        .filter(|h| h.role == Role::Remaining)
    {
        if let Some(rv) = r.count()
            && rv < -1
        {
            let proven = r.family.documented_dimensions() && !r.passthrough;
            out.push((format!("`{}: {rv}` is negative", r.name), proven));
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
                out.push((
                    format!(
                        "`RateLimit` remaining r={} is above `RateLimit-Policy` q={} for `{}`",
                        status.amount, policy.amount, status.name
                    ),
                    true,
                ));
            }
        }
    }
    out
}
