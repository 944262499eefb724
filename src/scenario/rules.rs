//! Value types of the scenario format that parse themselves: durations, regexes, integer
//! ranges, header rules and stream rules.
//!
//! Each one fails inside its own `Deserialize`, so serde-saphyr reports the failure at the
//! offending value rather than at the enclosing step.

use std::fmt;
use std::time::Duration;

use serde::de::{self, MapAccess, Visitor, value::MapAccessDeserializer};
use serde::{Deserialize, Deserializer};

/// A duration written `30s`, `500ms`, `1m30s`, or a number of seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        crate::duration::parse(&text)
            .map(Dur)
            .map_err(de::Error::custom)
    }
}

/// A regular expression, compiled when the scenario is read.
#[derive(Debug, Clone)]
pub struct Pattern(pub regex::Regex);

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        regex::Regex::new(&text).map(Pattern).map_err(|e| {
            // The regex crate's message spans several lines; the first says what is wrong.
            let why = e.to_string();
            let why = why.lines().last().unwrap_or_default().trim().to_string();
            de::Error::custom(format!("`{text}` is not a regular expression: {why}"))
        })
    }
}

/// An inclusive integer range; either end may be open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntRange {
    /// Smallest allowed value.
    pub min: Option<i64>,
    /// Largest allowed value.
    pub max: Option<i64>,
}

impl IntRange {
    /// Whether `v` lies in the range.
    pub fn contains(&self, v: i64) -> bool {
        self.min.is_none_or(|m| v >= m) && self.max.is_none_or(|m| v <= m)
    }
}

impl fmt::Display for IntRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.min, self.max) {
            (Some(a), Some(b)) => write!(f, "an integer in {a}..={b}"),
            (Some(a), None) => write!(f, "an integer ≥ {a}"),
            (None, Some(b)) => write!(f, "an integer ≤ {b}"),
            (None, None) => f.write_str("an integer"),
        }
    }
}

/// What must hold for one response header. Written either as `present` / `absent` / `parses`,
/// or as a mapping of the fields below, all of which must hold.
#[derive(Debug, Clone, Default)]
pub struct HeaderRule {
    /// `true`: the header is sent; `false`: it is not.
    pub present: Option<bool>,
    /// The value equals this text (`${VAR}` expands, e.g. a captured value).
    pub equals: Option<String>,
    /// The value matches this regular expression.
    pub matches: Option<Pattern>,
    /// The value is an integer in this range.
    pub integer: Option<IntRange>,
    /// The value parses in its rate-limit dialect.
    pub parses: Option<bool>,
}

/// Parses a header rule from its short or its long form.
fn header_rule<'de, D: Deserializer<'de>>(d: D) -> Result<HeaderRule, D::Error> {
    struct RuleVisitor;

    impl<'de> Visitor<'de> for RuleVisitor {
        type Value = HeaderRule;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("`present`, `absent`, `parses`, or a mapping of rules")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<HeaderRule, E> {
            let mut rule = HeaderRule::default();
            match v {
                "present" => rule.present = Some(true),
                "absent" => rule.present = Some(false),
                "parses" => {
                    rule.present = Some(true);
                    rule.parses = Some(true);
                }
                other => {
                    let hint = crate::suggest::suggest(other, &["present", "absent", "parses"])
                        .map(|s| format!(" (did you mean `{s}`?)"))
                        .unwrap_or_default();
                    return Err(E::custom(format!(
                        "unknown header rule `{other}`{hint}; write `present`, `absent`, `parses`, or a mapping such as `{{integer: {{min: 0}}}}`"
                    )));
                }
            }
            Ok(rule)
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<HeaderRule, A::Error> {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Long {
                present: Option<bool>,
                equals: Option<String>,
                matches: Option<Pattern>,
                integer: Option<IntRange>,
                parses: Option<bool>,
            }
            let l = Long::deserialize(MapAccessDeserializer::new(map))?;
            Ok(HeaderRule {
                present: l.present,
                equals: l.equals,
                matches: l.matches,
                integer: l.integer,
                parses: l.parses,
            })
        }
    }

    d.deserialize_any(RuleVisitor)
}

impl<'de> Deserialize<'de> for HeaderRule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        header_rule(d)
    }
}

/// What must hold for an SSE stream.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamExpect {
    /// The terminal marker: `"[DONE]"`, `message_stop`, `response.completed`, or `any`.
    pub end: Option<String>,
    /// A usage report arrives in the stream (`true`) or does not (`false`).
    pub usage: Option<bool>,
    /// An in-stream error event is (`true`) or is not (`false`) sent. Default: not checked.
    pub error_event: Option<bool>,
    /// How many events the stream carries.
    pub events: Option<IntRange>,
}

/// A `fail_if` threshold, parsed when the scenario is read.
#[derive(Debug, Clone)]
pub struct FailIf(pub crate::load::threshold::Condition);

impl<'de> Deserialize<'de> for FailIf {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        crate::load::threshold::parse(&text)
            .map(FailIf)
            .map_err(|e| de::Error::custom(e.0))
    }
}
