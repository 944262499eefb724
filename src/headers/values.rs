//! Parsers for the value formats that rate-limit headers use.
//!
//! Each dialect has its own units (see `headers/mod.rs`): a Go duration at OpenAI,
//! RFC 3339 at Anthropic, delay-seconds or an HTTP-date in `Retry-After`, structured
//! fields in the IETF draft. These functions are pure and return a reason string on
//! failure so that a malformed value becomes a finding rather than an error.

use std::collections::BTreeMap;

use jiff::Timestamp;

/// A header value as text shows it: whole up to 80 bytes, else its first 60 characters and its
/// length. A 64 KiB value must not become a 64 KiB table cell or error message.
pub fn shown(value: &str) -> std::borrow::Cow<'_, str> {
    if value.len() <= 80 {
        return value.into();
    }
    let head: String = value.chars().take(60).collect();
    format!("{head}… ({} bytes)", value.len()).into()
}

/// Parses a Go `time.Duration.String()` value (`6m0s`, `2m59.56s`, `20ms`, `0`) into seconds.
///
/// Accepts the units `h`, `m`, `s`, `ms`, `us`, `µs` (U+00B5), `μs` (U+03BC) and `ns`, each with an
/// optional fraction. A bare `0` is allowed, as Go prints it.
pub fn parse_go_duration(text: &str) -> Result<f64, String> {
    let s = text.trim();
    if s == "0" {
        return Ok(0.0);
    }
    if let Some(rest) = s.strip_prefix('-') {
        return match crate::duration::units(rest) {
            Ok(_) => Err(format!("`{}` is negative", shown(s))),
            Err(e) => Err(e),
        };
    }
    crate::duration::units(s).map_err(|e| e.replace("is not a duration", "is not a Go duration"))
}

/// Formats seconds the way Go's `time.Duration.String()` does, e.g. `6m0s`, `1.5s`, `20ms`.
pub fn format_go_duration(seconds: f64) -> String {
    if seconds <= 0.0 {
        return "0s".into();
    }
    if seconds < 1.0 {
        let ms = seconds * 1000.0;
        return format!("{}ms", trim_float(ms));
    }
    let whole = seconds.trunc() as u64;
    let frac = seconds - seconds.trunc();
    let (h, m, s) = (whole / 3600, (whole % 3600) / 60, whole % 60);
    let secs = trim_float(s as f64 + frac);
    match (h, m) {
        (0, 0) => format!("{secs}s"),
        (0, m) => format!("{m}m{secs}s"),
        (h, m) => format!("{h}h{m}m{secs}s"),
    }
}

fn trim_float(v: f64) -> String {
    let text = format!("{v:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_string()
}

/// Parses a count header (`limit`, `remaining`). `-1` is kept: Azure uses it for "unknown".
pub fn parse_count(text: &str) -> Result<i64, String> {
    let s = text.trim();
    s.parse::<i64>().map_err(|_| {
        if s.parse::<f64>().is_ok() {
            format!("`{}` is not a whole number", shown(s))
        } else {
            format!("`{}` is not a number", shown(s))
        }
    })
}

/// What a bare-number reset value was read as.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NumericReset {
    /// Seconds from now (Azure, Cerebras, IETF legacy).
    DeltaSeconds(f64),
    /// A Unix time in seconds (GitHub convention).
    EpochSeconds(f64),
    /// A Unix time in milliseconds (OpenRouter).
    EpochMillis(f64),
}

/// Reads a bare-number reset with the usual heuristic: `> 1e12` is epoch ms, `> 1e9` epoch s,
/// otherwise delta seconds.
pub fn parse_numeric_reset(text: &str) -> Result<NumericReset, String> {
    let s = text.trim();
    let v: f64 = s
        .parse()
        .map_err(|_| format!("`{}` is not a number of seconds", shown(s)))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("`{}` is not a non-negative number", shown(s)));
    }
    Ok(if v > 1e12 {
        NumericReset::EpochMillis(v)
    } else if v > 1e9 {
        NumericReset::EpochSeconds(v)
    } else {
        NumericReset::DeltaSeconds(v)
    })
}

/// Parses an RFC 3339 timestamp (Anthropic resets).
pub fn parse_rfc3339(text: &str) -> Result<Timestamp, String> {
    text.trim()
        .parse::<Timestamp>()
        .map_err(|_| format!("`{}` is not an RFC 3339 timestamp", text.trim()))
}

/// A parsed `Retry-After` value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RetryAfter {
    /// `delay-seconds` (possibly fractional: non-standard but seen, and accepted by openai-python).
    Seconds { seconds: f64, fractional: bool },
    /// An HTTP-date, as seconds since the Unix epoch.
    Date(std::time::SystemTime),
}

/// Parses `Retry-After` per RFC 9110 §10.2.3: delay-seconds, or an HTTP-date in any of the three forms.
pub fn parse_retry_after(text: &str) -> Result<RetryAfter, String> {
    let s = text.trim();
    if let Ok(n) = s.parse::<u64>() {
        return Ok(RetryAfter::Seconds {
            seconds: n as f64,
            fractional: false,
        });
    }
    if let Ok(f) = s.parse::<f64>() {
        if f.is_finite() && f >= 0.0 {
            return Ok(RetryAfter::Seconds {
                seconds: f,
                fractional: true,
            });
        }
        return Err(if f.is_finite() {
            format!("`{}` is a negative delay", shown(s))
        } else {
            format!("`{}` is not a number of seconds", shown(s))
        });
    }
    httpdate::parse_http_date(s)
        .map(RetryAfter::Date)
        .map_err(|_| format!("`{}` is neither delay-seconds nor an HTTP-date", shown(s)))
}

/// Parses `retry-after-ms` (OpenAI, Azure): a float number of milliseconds.
pub fn parse_retry_after_ms(text: &str) -> Result<f64, String> {
    let s = text.trim();
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!(
            "`{}` is not a non-negative number of milliseconds",
            shown(s)
        )),
    }
}

/// One item of an IETF `RateLimit` or `RateLimit-Policy` list: its name and integer parameters.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IetfItem {
    /// The policy name (an sf-String, or a Token as older drafts send).
    pub name: String,
    /// Integer parameters (`q`, `w`, `r`, `t`), by key.
    pub ints: BTreeMap<String, i64>,
    /// String or token parameters (`qu`), by key.
    pub strings: BTreeMap<String, String>,
}

/// Parses an IETF structured-field list (`"default";r=50;t=30`) and checks that the required
/// parameter (`q` for a policy, `r` for `RateLimit`) is a non-negative Integer on every item.
pub fn parse_ietf_list(text: &str, required: &str) -> Result<Vec<IetfItem>, String> {
    use sfv::{BareItem, ListEntry, Parser};
    let list = Parser::new(text)
        .parse::<sfv::List>()
        .map_err(|e| format!("`{text}` is not a structured-field list: {e}"))?;
    if list.is_empty() {
        return Err("empty list".into());
    }
    let mut out = Vec::new();
    for entry in list {
        let ListEntry::Item(item) = entry else {
            return Err(format!(
                "`{text}` holds an inner list where a policy item belongs"
            ));
        };
        let name = match &item.bare_item {
            BareItem::String(s) => s.as_str().to_string(),
            BareItem::Token(t) => t.as_str().to_string(),
            other => {
                return Err(format!(
                    "policy name `{other:?}` is neither a String nor a Token"
                ));
            }
        };
        let mut parsed = IetfItem {
            name,
            ..IetfItem::default()
        };
        for (key, value) in &item.params {
            match value {
                BareItem::Integer(i) => {
                    parsed.ints.insert(key.as_str().to_string(), i64::from(*i));
                }
                BareItem::String(s) => {
                    parsed
                        .strings
                        .insert(key.as_str().to_string(), s.as_str().to_string());
                }
                BareItem::Token(t) => {
                    parsed
                        .strings
                        .insert(key.as_str().to_string(), t.as_str().to_string());
                }
                _ => {}
            }
        }
        for key in [required, "q", "r", "t", "w"] {
            let present_other = item.params.get(key).is_some() && !parsed.ints.contains_key(key);
            if present_other {
                return Err(format!(
                    "parameter `{key}` of `{}` is not an Integer",
                    parsed.name
                ));
            }
        }
        match parsed.ints.get(required) {
            None => {
                return Err(format!(
                    "item `{}` lacks the required `{required}` parameter",
                    parsed.name
                ));
            }
            Some(v) if *v < 0 => {
                return Err(format!("`{required}` of `{}` is negative", parsed.name));
            }
            Some(_) => {}
        }
        out.push(parsed);
    }
    Ok(out)
}

#[cfg(test)]
// Exact values by construction: sums of binary fractions and whole seconds.
#[allow(clippy::float_cmp)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_value_is_shown_short() {
        let huge = "9".repeat(65536);
        assert_eq!(shown("42"), "42");
        assert_eq!(shown(&huge), format!("{}… (65536 bytes)", "9".repeat(60)));
        let message = parse_count(&format!("x{huge}")).unwrap_err();
        assert!(message.len() < 120, "{message}");
    }

    #[test]
    fn go_durations_parse_like_go() {
        assert_eq!(parse_go_duration("6m0s").unwrap(), 360.0);
        assert!((parse_go_duration("2m59.56s").unwrap() - 179.56).abs() < 1e-9);
        assert!((parse_go_duration("20ms").unwrap() - 0.02).abs() < 1e-12);
        assert_eq!(parse_go_duration("1h2m3s").unwrap(), 3723.0);
        assert_eq!(parse_go_duration("0").unwrap(), 0.0);
        assert!((parse_go_duration("7\u{b5}s").unwrap() - 7e-6).abs() < 1e-15);
        assert!((parse_go_duration("7\u{3bc}s").unwrap() - 7e-6).abs() < 1e-15);
        assert!(parse_go_duration("60").is_err());
        assert!(parse_go_duration("abc").is_err());
        assert!(parse_go_duration("5x").is_err());
        assert!(parse_go_duration("").is_err());
        assert!(parse_go_duration("-1s").is_err());
    }

    #[test]
    fn go_durations_round_trip() {
        for v in [0.0, 0.02, 1.0, 59.5, 60.0, 360.0, 3723.0] {
            let text = format_go_duration(v);
            assert!(
                (parse_go_duration(&text).unwrap() - v).abs() < 1e-6,
                "{text}"
            );
        }
        assert_eq!(format_go_duration(360.0), "6m0s");
        assert_eq!(format_go_duration(0.02), "20ms");
    }

    #[test]
    fn counts_allow_azure_sentinel() {
        assert_eq!(parse_count("999").unwrap(), 999);
        assert_eq!(parse_count("-1").unwrap(), -1);
        assert!(parse_count("None").unwrap_err().contains("not a number"));
        assert!(parse_count("1.5").unwrap_err().contains("whole"));
    }

    #[test]
    fn numeric_resets_use_the_magnitude_heuristic() {
        assert_eq!(
            parse_numeric_reset("30").unwrap(),
            NumericReset::DeltaSeconds(30.0)
        );
        assert!(matches!(
            parse_numeric_reset("1792152901").unwrap(),
            NumericReset::EpochSeconds(_)
        ));
        assert!(matches!(
            parse_numeric_reset("1792152901000").unwrap(),
            NumericReset::EpochMillis(_)
        ));
        assert!(parse_numeric_reset("soon").is_err());
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(
            parse_retry_after("60").unwrap(),
            RetryAfter::Seconds {
                seconds: 60.0,
                fractional: false
            }
        );
        assert!(matches!(
            parse_retry_after("1.5").unwrap(),
            RetryAfter::Seconds {
                fractional: true,
                ..
            }
        ));
        assert!(matches!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT").unwrap(),
            RetryAfter::Date(_)
        ));
        assert!(matches!(
            parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT").unwrap(),
            RetryAfter::Date(_)
        ));
        assert!(parse_retry_after("later").is_err());
        assert!(parse_retry_after_ms("1500.5").is_ok());
        assert!(parse_retry_after_ms("-3").is_err());
    }

    #[test]
    fn ietf_lists() {
        let items = parse_ietf_list("\"permin\";q=50;w=60,\"perhr\";q=1000;w=3600", "q").unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].ints["q"], 1000);
        let items = parse_ietf_list("default;r=50;t=30", "r").unwrap();
        assert_eq!(items[0].name, "default");
        assert_eq!(items[0].ints["t"], 30);
        assert!(parse_ietf_list("\"default\";t=30", "r").is_err());
        assert!(parse_ietf_list("\"default\";r=\"many\"", "r").is_err());
        assert!(parse_ietf_list("((", "r").is_err());
    }

    #[test]
    fn rfc3339() {
        assert!(parse_rfc3339("2026-11-25T12:00:00Z").is_ok());
        assert!(parse_rfc3339("tomorrow").is_err());
    }
}
