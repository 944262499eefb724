//! Reading a scenario file: YAML errors and unknown keys become one located line, with the
//! offending source line under it and a "did you mean" where a near name exists.

use std::fmt;
use std::path::Path;

use super::{Loaded, Scenario, lint};
use crate::suggest::suggest;

/// A scenario that cannot be used, located in its file.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioError {
    /// The file, as given.
    pub file: String,
    /// Line, from 1 (0 when the error is about the file as a whole).
    pub line: u64,
    /// Column, from 1.
    pub column: u64,
    /// What is wrong, in one line.
    pub message: String,
    /// The offending source line, when there is one, with its secrets redacted.
    pub snippet: Option<String>,
    /// The column in `snippet` under which the caret goes: redaction shortens the line, so
    /// it differs from `column` (which stays the file's, for editors) when a secret comes
    /// before it.
    pub caret: u64,
}

impl ScenarioError {
    /// An error at a position in `source`.
    pub fn at(file: &str, source: &str, line: u64, column: u64, message: &str) -> Self {
        let raw = usize::try_from(line)
            .ok()
            .and_then(|l| l.checked_sub(1))
            .and_then(|l| source.lines().nth(l))
            .map(str::trim_end);
        // The caret's column on the redacted line: the redacted text before the column.
        let caret = raw.map_or(column, |text| {
            let before: String = text
                .chars()
                .take(usize::try_from(column.saturating_sub(1)).unwrap_or(0))
                .collect();
            let shown = crate::redact::credentials_in_source(&before);
            u64::try_from(shown.chars().count()).unwrap_or(u64::MAX) + 1
        });
        ScenarioError {
            file: file.to_string(),
            line,
            column: column.max(1),
            message: crate::redact::credentials_in_source(message),
            snippet: raw.map(crate::redact::credentials_in_source),
            caret: caret.max(1),
        }
    }

    /// The source line and a caret under the column, for terminals.
    pub fn excerpt(&self) -> Option<String> {
        let text = self.snippet.as_ref()?;
        let width = self.line.to_string().len();
        let pad = usize::try_from(self.caret.saturating_sub(1)).unwrap_or(0);
        // Tabs keep their width so the caret stays under the right character.
        let lead: String = text
            .chars()
            .take(pad)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        Some(format!(
            "{:>width$} | {text}\n{:>width$} | {lead}^",
            self.line, ""
        ))
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )
        }
    }
}

impl std::error::Error for ScenarioError {}

/// Reads and checks a scenario file; `target_given` means `--target` replaces its `target`.
pub fn read(path: &Path, target_given: bool) -> Result<Loaded, ScenarioError> {
    let file = path.display().to_string();
    let source = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        file: file.clone(),
        line: 0,
        column: 0,
        message: format!("cannot read the scenario: {e}"),
        snippet: None,
        caret: 0,
    })?;
    parse(path, source, target_given)
}

/// Parses and checks scenario text that came from `path`.
pub fn parse(path: &Path, source: String, target_given: bool) -> Result<Loaded, ScenarioError> {
    let file = path.display().to_string();
    if source.trim().is_empty() {
        return Err(ScenarioError::at(
            &file,
            &source,
            1,
            1,
            "the scenario is empty: it needs at least `steps:`",
        ));
    }
    let scenario: Scenario = from_yaml(&file, &source)?;
    let loaded = Loaded {
        path: path.to_path_buf(),
        source,
        scenario,
    };
    lint::check(&loaded, target_given)?;
    Ok(loaded)
}

/// YAML text from `file` read into `T`, its errors located and worded as a scenario's are:
/// the scenario format and the files that share its vocabulary (the exporter's modules) read
/// alike.
pub fn from_yaml<T: serde::de::DeserializeOwned>(
    file: &str,
    source: &str,
) -> Result<T, ScenarioError> {
    serde_saphyr::from_str(source).map_err(|e| {
        let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
        ScenarioError::at(file, source, line, column, &explain(&e))
    })
}

/// serde-saphyr's message without its own location suffix, with a suggestion added for
/// unknown keys and names.
fn explain(e: &serde_saphyr::Error) -> String {
    let text = e.without_snippet().to_string();
    let text = match text.rfind(" at line ") {
        Some(i) if text[i..].contains(", column ") => text[..i].to_string(),
        _ => text,
    };
    let text = text.lines().next().unwrap_or_default().to_string();
    // Plain words for the parser's terse messages about scalars and structure.
    let plain = match text.as_str() {
        "invalid boolean" => Some("expected `true` or `false`".to_string()),
        "invalid u16" => Some("expected a whole number from 0 to 65535".to_string()),
        "invalid u32" => Some("expected a whole number from 0 to 4294967295".to_string()),
        "invalid i64" => Some("expected a whole number".to_string()),
        "expected string scalar" => Some("expected a single text value here".to_string()),
        "expected end of mapping after enum variant value" => Some(
            "a step is a mapping with one key (`- request: {...}`): is this line indented under the wrong step?"
                .to_string(),
        ),
        t if t.starts_with("duplicate mapping key: ") => Some(format!(
            "key `{}` is given twice",
            t.trim_start_matches("duplicate mapping key: ")
                .split(',')
                .next()
                .unwrap_or_default()
        )),
        _ => None,
    };
    if let Some(p) = plain {
        return p;
    }
    for what in ["unknown field `", "unknown variant `"] {
        if let Some(rest) = text.strip_prefix(what)
            && let Some((name, tail)) = rest.split_once('`')
        {
            let expected: Vec<&str> = tail
                .trim_start_matches(", ")
                .trim_start_matches("expected one of ")
                .trim_start_matches("expected ")
                .split(", ")
                .map(|s| s.trim().trim_matches('`'))
                .filter(|s| !s.is_empty())
                .collect();
            if let Some(best) = suggest(name, &expected) {
                return format!("{text} (did you mean `{best}`?)");
            }
        }
    }
    text
}
