//! `${VAR}` and `${VAR:-default}` in scenario strings; `$$` writes a literal `$`.
//!
//! A name is looked up in the loop variables, then in values captured by earlier steps, then in
//! the environment. An unset name with no default is an error, found by `validate` before
//! anything is sent.

use std::collections::HashMap;

/// One `${…}` reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The variable's name.
    pub name: String,
    /// Whether a default is given (`${NAME:-default}`).
    pub has_default: bool,
}

/// Splits `text` into literal text and references, or says why it cannot.
fn scan(text: &str) -> Result<Vec<Part<'_>>, String> {
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        parts.push(Part::Text(&rest[..i]));
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            parts.push(Part::Text("$"));
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('{') {
            let end = inner
                .find('}')
                .ok_or_else(|| format!("`${{` without a closing `}}` in `{text}`"))?;
            let body = &inner[..end];
            let (name, default) = match body.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (body, None),
            };
            let valid = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(format!(
                    "`${{{body}}}` is not a variable: names are letters, digits and `_`"
                ));
            }
            parts.push(Part::Var { name, default });
            rest = &inner[end + 1..];
        } else {
            parts.push(Part::Text("$"));
            rest = after;
        }
    }
    parts.push(Part::Text(rest));
    Ok(parts)
}

enum Part<'a> {
    Text(&'a str),
    Var {
        name: &'a str,
        default: Option<&'a str>,
    },
}

/// The references in `text`, in order.
pub fn references(text: &str) -> Result<Vec<Reference>, String> {
    Ok(scan(text)?
        .into_iter()
        .filter_map(|p| match p {
            Part::Var { name, default } => Some(Reference {
                name: name.to_string(),
                has_default: default.is_some(),
            }),
            Part::Text(_) => None,
        })
        .collect())
}

/// Variables in scope while a scenario runs.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    /// Loop variables (`endpoint`, `shape`, `model`, `iteration`), innermost last.
    pub loops: Vec<HashMap<String, String>>,
    /// Values captured by earlier steps.
    pub captured: HashMap<String, String>,
}

impl Vars {
    /// The value of `name`, if anything defines it.
    pub fn get(&self, name: &str) -> Option<String> {
        self.loops
            .iter()
            .rev()
            .find_map(|m| m.get(name).cloned())
            .or_else(|| self.captured.get(name).cloned())
            .or_else(|| std::env::var(name).ok())
    }

    /// `text` with every reference replaced.
    pub fn expand(&self, text: &str) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        for part in scan(text)? {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Var { name, default } => match (self.get(name), default) {
                    (Some(v), _) => out.push_str(&v),
                    (None, Some(d)) => out.push_str(d),
                    (None, None) => {
                        return Err(format!(
                            "variable `{name}` is not set (write `${{{name}:-default}}` to give a default)"
                        ));
                    }
                },
            }
        }
        Ok(out)
    }

    /// Every string leaf of a JSON value, expanded.
    pub fn expand_json(&self, v: &serde_json::Value) -> Result<serde_json::Value, String> {
        use serde_json::Value;
        Ok(match v {
            Value::String(s) => Value::String(self.expand(s)?),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|i| self.expand_json(i))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), self.expand_json(v)?)))
                    .collect::<Result<_, String>>()?,
            ),
            other => other.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_defaults_captures_and_escapes() {
        let mut vars = Vars::default();
        vars.captured.insert("left".into(), "41".into());
        assert_eq!(vars.expand("n=${left}").unwrap(), "n=41");
        assert_eq!(
            vars.expand("${RATECHECK_TEST_UNSET_VAR:-http://x}")
                .unwrap(),
            "http://x"
        );
        assert_eq!(vars.expand("$$5 and $x").unwrap(), "$5 and $x");
        assert!(vars.expand("${RATECHECK_TEST_UNSET_VAR}").is_err());
        assert!(vars.expand("${open").is_err());
        assert!(references("${1bad}").is_err());
        assert_eq!(
            references("${a}-${b:-c}").unwrap(),
            vec![
                Reference {
                    name: "a".into(),
                    has_default: false
                },
                Reference {
                    name: "b".into(),
                    has_default: true
                }
            ]
        );
    }
}
