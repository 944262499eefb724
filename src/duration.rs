//! Durations as people write them on the command line and in scenarios: `30s`, `500ms`,
//! `1m30s`, `1.5s`, or a bare number of seconds.
//!
//! The unit grammar is Go's (`h`, `m`, `s`, `ms`, `us`/`µs`, `ns`, each with an optional
//! fraction), which OpenAI's reset headers use too; `headers::values` reads those with
//! [`units`], and adds the dialect's own rules. humantime was considered and not taken: it
//! refuses fractions such as `1.5s`, which users write.

use std::time::Duration;

/// The longest duration accepted, in seconds: anything above is a typo, and would overflow
/// [`Duration`] arithmetic further on.
const MAX_SECONDS: f64 = 1e9;

/// Seconds in a sequence of `<decimal><unit>` pairs (`2m59.56s`, `20ms`); no sign, no spaces.
pub fn units(text: &str) -> Result<f64, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    let mut rest = s;
    let mut total = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("`{s}` has a number without a unit"))?;
        if num_len == 0 {
            return Err(format!(
                "`{s}` is not a duration (expected a number before the unit)"
            ));
        }
        let number: f64 = rest[..num_len]
            .parse()
            .map_err(|_| format!("`{s}` has a malformed number"))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1e-6,
            "ns" => 1e-9,
            other => return Err(format!("`{s}` has an unknown unit `{other}`")),
        };
        total += number * factor;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// A user-written duration: a bare number of seconds, or [`units`]. Refuses negative,
/// non-finite and absurdly long values.
pub fn parse(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let seconds = t
        .parse::<f64>()
        .ok()
        .or_else(|| units(t).ok())
        .filter(|s| s.is_finite() && *s >= 0.0 && *s < MAX_SECONDS)
        .ok_or_else(|| format!("`{text}` is not a duration: write `30s`, `500ms` or `1m30s`"))?;
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
// Exact values by construction: sums of binary fractions and whole seconds.
#[allow(clippy::float_cmp)]
mod tests {
    use super::*;

    #[test]
    fn user_durations() {
        assert_eq!(parse("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse("1.5s").unwrap(), Duration::from_millis(1500));
        assert!(parse("soon").is_err());
        assert!(parse("-1").is_err());
        assert!(parse("1e300").is_err());
        assert!(parse("NaN").is_err());
    }

    #[test]
    fn unit_sequences_need_units() {
        assert_eq!(units("1h2m3s").unwrap(), 3723.0);
        assert!(units("5").is_err());
        assert!(units("5d").is_err());
    }
}
