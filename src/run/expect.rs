//! Expectations evaluated against recorded exchanges: pure functions, one [`Check`] each.

use std::collections::BTreeMap;

use super::Check;
use crate::headers::{self, Family, Parsed};
use crate::http::Exchange;
use crate::probe::ProbeReport;
use crate::scenario::vars::Vars;
use crate::scenario::{HeaderRule, ProbeExpect, StreamExpect};
use crate::verdict::{Finding, FindingClass};

/// Whether `name` matches `pattern`, where `*` matches any run of characters (ASCII
/// case-insensitive, as header names are).
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p = pattern.to_ascii_lowercase();
    let n = name.to_ascii_lowercase();
    let parts: Vec<&str> = p.split('*').collect();
    if parts.len() == 1 {
        return p == n;
    }
    let mut rest = n.as_str();
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

/// One check per rule field, for each header pattern.
pub fn header_checks(
    ex: &Exchange,
    rules: &BTreeMap<String, HeaderRule>,
    vars: &Vars,
) -> Vec<Check> {
    let mut checks = Vec::new();
    for (pattern, rule) in rules {
        let found: Vec<&(String, String)> = ex
            .headers
            .iter()
            .filter(|(n, _)| glob_match(pattern, n))
            .collect();
        let seen = if found.is_empty() {
            "absent".to_string()
        } else {
            shown(&found)
        };
        match rule.present {
            Some(true) => checks.push(Check::new(
                format!("header `{pattern}` is present"),
                !found.is_empty(),
                "present",
                seen.clone(),
            )),
            Some(false) => checks.push(Check::new(
                format!("header `{pattern}` is absent"),
                found.is_empty(),
                "absent",
                seen.clone(),
            )),
            None => {}
        }
        if let Some(want) = &rule.equals {
            let want = vars.expand(want).unwrap_or_else(|e| e);
            checks.push(Check::new(
                format!("header `{pattern}` equals `{want}`"),
                !found.is_empty() && found.iter().all(|(_, v)| *v == want),
                want.clone(),
                seen.clone(),
            ));
        }
        if let Some(re) = &rule.matches {
            checks.push(Check::new(
                format!("header `{pattern}` matches `{}`", re.0.as_str()),
                !found.is_empty() && found.iter().all(|(_, v)| re.0.is_match(v)),
                format!("a match for `{}`", re.0.as_str()),
                seen.clone(),
            ));
        }
        if let Some(range) = &rule.integer {
            let ok = !found.is_empty()
                && found
                    .iter()
                    .all(|(_, v)| v.trim().parse::<i64>().is_ok_and(|n| range.contains(n)));
            checks.push(Check::new(
                format!("header `{pattern}` is {range}"),
                ok,
                range.to_string(),
                seen.clone(),
            ));
        }
        if let Some(want) = rule.parses {
            checks.push(parses_check(pattern, &found, want));
        }
    }
    checks
}

/// `name: value; name: value` of the headers found.
fn shown(found: &[&(String, String)]) -> String {
    found
        .iter()
        .map(|(n, v)| format!("{n}: {v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Whether every header matching `pattern` parses in its dialect (or, with `want` false, that
/// one does not).
fn parses_check(pattern: &str, found: &[&(String, String)], want: bool) -> Check {
    let verdicts: Vec<String> = found
        .iter()
        .map(|(n, v)| match headers::classify(n, v) {
            None => format!("{n}: not a rate-limit header ratecheck knows"),
            Some(h) => match h.parsed {
                Parsed::Malformed { reason } => format!("{n}: malformed: {reason}"),
                _ => String::new(),
            },
        })
        .filter(|s| !s.is_empty())
        .collect();
    let parses = !found.is_empty() && verdicts.is_empty();
    Check::new(
        format!("header `{pattern}` parses in its dialect"),
        parses == want,
        if want { "parses" } else { "does not parse" },
        if found.is_empty() {
            "absent".to_string()
        } else if verdicts.is_empty() {
            format!("parses ({})", shown(found))
        } else {
            verdicts.join("; ")
        },
    )
}

/// Checks on an SSE stream's end, usage report, error events and length.
pub fn stream_checks(ex: &Exchange, rules: &StreamExpect) -> Vec<Check> {
    let Some(info) = &ex.stream else {
        return vec![Check::new(
            "the response is an SSE stream",
            false,
            "text/event-stream",
            format!(
                "{} ({})",
                ex.shape.label(),
                ex.content_type.as_deref().unwrap_or("no content-type")
            ),
        )];
    };
    let mut checks = Vec::new();
    if let Some(end) = &rules.end {
        let seen = info
            .end
            .clone()
            .unwrap_or_else(|| "no terminal event".into());
        let ok = match end.as_str() {
            "any" => info.end.is_some(),
            want => info.end.as_deref() == Some(want),
        };
        checks.push(Check::new(
            format!("the stream ends with `{end}`"),
            ok,
            end.clone(),
            seen,
        ));
    }
    if let Some(want) = rules.usage {
        checks.push(Check::new(
            if want {
                "the stream reports usage"
            } else {
                "the stream reports no usage"
            },
            info.usage == want,
            if want {
                "a usage chunk"
            } else {
                "no usage chunk"
            },
            if info.usage {
                "a usage chunk"
            } else {
                "no usage chunk"
            },
        ));
    }
    if let Some(want) = rules.error_event {
        checks.push(Check::new(
            if want {
                "the stream carries an error event"
            } else {
                "the stream carries no error event"
            },
            info.error_event.is_some() == want,
            if want {
                "an error event"
            } else {
                "no error event"
            },
            info.error_event
                .clone()
                .unwrap_or_else(|| "no error event".into()),
        ));
    }
    if let Some(range) = &rules.events {
        checks.push(Check::new(
            format!("the stream's event count is {range}"),
            range.contains(i64::from(info.events)),
            range.to_string(),
            info.events.to_string(),
        ));
    }
    checks
}

/// The families a `require` keyword names; `None`: the item is a header name or pattern.
fn families(item: &str) -> Option<&'static [Family]> {
    Some(match item {
        "litellm" => &[Family::LitellmDescriptor],
        "litellm-key-limits" => &[Family::LitellmKeyLimit],
        "openai" => &[Family::Openai],
        "x-ratelimit" => &[
            Family::Openai,
            Family::LitellmDescriptor,
            Family::XRatelimitOther,
        ],
        "anthropic" => &[Family::Anthropic],
        "ietf" => &[Family::Ietf],
        "ietf-legacy" => &[Family::IetfLegacy],
        "retry-after" => &[Family::RetryAfter],
        _ => return None,
    })
}

/// Checks of a `probe` step: required headers per response shape, then one check per class of
/// finding, whose `actual` names each finding (`litellm_v3_streaming_drop: …`).
pub fn probe_checks(report: &ProbeReport, expect: &ProbeExpect) -> Vec<Check> {
    let mut checks = Vec::new();
    for item in &expect.require {
        for variant in report.variants() {
            let exchanges: Vec<&Exchange> = report
                .exchanges
                .iter()
                .filter(|e| e.variant == variant && e.shape.is_success())
                .collect();
            if exchanges.is_empty() {
                continue;
            }
            let carries = |e: &Exchange| match families(item) {
                Some(fams) => e.rate_headers.iter().any(|h| fams.contains(&h.family)),
                None => e.headers.iter().any(|(n, _)| glob_match(item, n)),
            };
            let missing: Vec<String> = exchanges
                .iter()
                .filter(|e| !carries(e))
                .map(|e| format!("round {}", e.round))
                .collect();
            checks.push(Check::new(
                format!("{variant} carries `{item}`"),
                missing.is_empty(),
                format!("`{item}` on every {variant} response"),
                if missing.is_empty() {
                    format!("present on {} of {}", exchanges.len(), exchanges.len())
                } else {
                    format!(
                        "missing on {} of {} ({})",
                        missing.len(),
                        exchanges.len(),
                        missing.join(", ")
                    )
                },
            ));
        }
    }
    let classes = [
        (
            expect.same_across_shapes,
            "rate-limit headers are the same on every response shape",
            "no header present on one shape and missing on another",
            FindingClass::Shape,
        ),
        (
            expect.consistent_values,
            "rate-limit values parse, agree and move as requests are sent",
            "no malformed, inconsistent or implausible value; counters fall by one per request",
            FindingClass::Value,
        ),
        (
            expect.no_errors,
            "every probe request gets a complete, successful response",
            "no error status, cut stream or in-stream error",
            FindingClass::Error,
        ),
    ];
    for (wanted, name, expected, class) in classes {
        if !wanted {
            continue;
        }
        // Warnings fail the check only in strict scenarios; otherwise they are the step's notes.
        let strict = report.strict;
        let found: Vec<String> = report
            .findings
            .iter()
            .chain(report.warnings.iter().filter(|_| strict))
            .filter(|f| f.kind.class() == class)
            .map(Finding::summary)
            .collect();
        checks.push(Check::new(
            name,
            found.is_empty(),
            expected,
            if found.is_empty() {
                "none found".to_string()
            } else {
                found.join(" | ")
            },
        ));
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs_match_header_names() {
        assert!(glob_match(
            "x-ratelimit-*-remaining-requests",
            "x-ratelimit-api_key-remaining-requests"
        ));
        assert!(glob_match("X-RateLimit-*", "x-ratelimit-limit-requests"));
        assert!(glob_match("retry-after", "retry-after"));
        assert!(!glob_match("retry-after", "retry-after-ms"));
        assert!(glob_match("*-ms", "retry-after-ms"));
        assert!(!glob_match("x-*-tokens", "x-ratelimit-limit-requests"));
    }
}
