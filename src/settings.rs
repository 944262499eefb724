//! Every setting a flag or a scenario key gives, declared once: which commands take the flag,
//! the scenario key that says the same thing (or why there is none), the default, and the rule
//! its value must keep.
//!
//! Both readers consult this table. clap's range checks come from [`Setting::ranged`], `config`
//! reads duration flags with [`Setting::duration`], the load engine's spec checks its values
//! (from flags or a `load` step) with [`Rule::check_number`], and the scenario lint checks keys
//! with the same [`Rule`] where it can locate them, so `--max-time 0` and `max_time: 0` are
//! refused by one rule in one message. The tests walk clap's command tree: a flag missing from [`ALL`], a
//! scenario key the reader rejects, or a README table out of step with [`markdown`] fails them.

use std::time::Duration;

use crate::config::CliError;

/// Where else a setting can be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// The scenario key, as a path from the file's top (`defaults.max_time`) or from a step
    /// (`load.backoff_base`); `example` is a value the reader accepts, for the tests.
    Scenario {
        /// Dotted path: a top-level section, or a step kind then its keys.
        path: &'static str,
        /// A YAML value the key takes.
        example: &'static str,
    },
    /// Only on the command line, and why.
    CliOnly(&'static str),
}

/// What a value must be. The message completes "`--flag` …" and "`key` …" alike.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    /// Whatever the type takes.
    Any,
    /// More than zero: a zero duration or rate would mean "never" or "nothing".
    AboveZero,
    /// A whole number from the first to the second, inclusive.
    Within(i64, i64),
    /// A share from 0 to 1.
    Share,
    /// A number from 0 to this bound.
    UpTo(f64),
}

impl Rule {
    /// What is wrong with `value`, if anything.
    pub fn check_number(self, value: f64) -> Option<String> {
        let ok = match self {
            Rule::Any => true,
            Rule::AboveZero => value.is_finite() && value > 0.0,
            Rule::Within(lo, hi) => value >= lo as f64 && value <= hi as f64,
            Rule::Share => (0.0..=1.0).contains(&value),
            Rule::UpTo(hi) => (0.0..=hi).contains(&value),
        };
        (!ok).then(|| self.problem())
    }

    /// What is wrong with `value`, if anything.
    pub fn check_duration(self, value: Duration) -> Option<String> {
        self.check_number(value.as_secs_f64())
    }

    /// What the rule asks, as the end of a sentence.
    pub fn problem(self) -> String {
        match self {
            Rule::Any => "is not a value it takes".into(),
            Rule::AboveZero => "must be more than zero".into(),
            Rule::Within(lo, i64::MAX) => format!("must be at least {lo}"),
            Rule::Within(lo, hi) => format!("must be from {lo} to {hi}"),
            Rule::Share => "is a share from 0 to 1".into(),
            Rule::UpTo(hi) => format!("must be from 0 to {hi}"),
        }
    }

    /// The rule as the README's settings table shows it.
    fn shown(self) -> String {
        match self {
            Rule::Any => String::new(),
            Rule::AboveZero => "> 0".into(),
            Rule::Within(lo, i64::MAX) => format!("≥ {lo}"),
            Rule::Within(lo, hi) => format!("{lo}–{hi}"),
            Rule::Share => "0–1".into(),
            Rule::UpTo(hi) => format!("0–{hi}"),
        }
    }
}

/// One flag of one or more commands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Setting {
    /// The subcommands that take it (`""` for the top-level command).
    pub commands: &'static [&'static str],
    /// clap's id of the argument (the field's name).
    pub id: &'static str,
    /// Its scenario key, or why it has none.
    pub key: Key,
    /// The default as a user would type it; empty when there is none or it is found at run
    /// time (the first model the gateway lists).
    pub default: &'static str,
    /// What its value must be.
    pub rule: Rule,
}

impl Setting {
    /// The flag as typed: `--max-time`.
    pub fn flag(&self) -> String {
        format!("--{}", self.id.replace('_', "-"))
    }

    /// The scenario key's last part (`stream_fraction`), as the engines name a field.
    pub fn key_name(&self) -> &'static str {
        let path = self.key_path();
        path.rsplit('.').next().unwrap_or(path)
    }

    /// The scenario key's path (`defaults.max_time`), or the flag's id for command-line
    /// settings.
    fn key_path(&self) -> &'static str {
        match self.key {
            Key::Scenario { path, .. } => path,
            Key::CliOnly(_) => self.id,
        }
    }

    /// A flag's duration, parsed and checked: the one way a duration flag is read.
    pub fn duration(&self, text: &str) -> Result<Duration, CliError> {
        let d = crate::config::flag_duration(&self.flag(), text)?;
        match self.rule.check_duration(d) {
            Some(problem) => Err(CliError::usage(format!("`{}` {problem}", self.flag()))),
            None => Ok(d),
        }
    }

    /// The default, as a duration (every duration default parses; a test proves it).
    pub fn default_duration(&self) -> Duration {
        crate::duration::parse(self.default).unwrap_or_default()
    }

    /// The default, as a whole number (every numeric default parses; a test proves it).
    pub fn default_int<T: std::str::FromStr + Default>(&self) -> T {
        self.default.parse().unwrap_or_default()
    }

    /// What is wrong with a scenario's value, said of its key: "`defaults.max_time` must be
    /// more than zero", the flag's message in the scenario's words.
    pub fn scenario_problem(&self, value: f64) -> Option<String> {
        self.rule
            .check_number(value)
            .map(|p| format!("`{}` {p}", self.key_path()))
    }

    /// clap's parser for a whole-number flag: the rule's range, so clap and the scenario lint
    /// refuse the same values.
    pub fn ranged<T>(&self) -> clap::builder::RangedI64ValueParser<T>
    where
        T: TryFrom<i64> + Clone + Send + Sync + 'static,
        <T as TryFrom<i64>>::Error: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    {
        let parser = clap::builder::RangedI64ValueParser::<T>::new();
        match self.rule {
            Rule::Within(lo, hi) => parser.range(lo..=hi),
            _ => parser,
        }
    }
}

#[rustfmt::skip]
mod table;

pub use table::*;

/// The setting `command` takes as `id`, if the table lists it.
pub fn find(command: &str, id: &str) -> Option<&'static Setting> {
    ALL.iter()
        .find(|s| s.id == id && s.commands.contains(&command))
}

/// The README's settings table: one row per setting, its commands, flag, scenario key (or why
/// there is none), default and rule. Flags are spelled as clap spells them.
pub fn markdown() -> String {
    use clap::CommandFactory;
    let cli = crate::cli::Cli::command();
    let mut out = String::from(
        "| commands | flag | scenario key | default | rule |\n|---|---|---|---|---|\n",
    );
    for s in ALL {
        let command = s.commands[0];
        let owner = if command.is_empty() {
            Some(&cli)
        } else {
            cli.find_subcommand(command)
        };
        let arg = owner.and_then(|c| c.get_arguments().find(|a| a.get_id() == s.id));
        let flag = match arg {
            Some(a) => match (a.get_short(), a.get_long()) {
                (Some(c), Some(l)) => format!("`-{c}`, `--{l}`"),
                (None, Some(l)) => format!("`--{l}`"),
                _ => format!(
                    "`{}`",
                    a.get_value_names().map_or_else(
                        || s.id.to_uppercase(),
                        |v| v
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(" "),
                    )
                ),
            },
            None => format!("`{}`", s.flag()),
        };
        let commands = s
            .commands
            .iter()
            .map(|c| if c.is_empty() { "all" } else { c })
            .collect::<Vec<_>>()
            .join(", ");
        let key = match s.key {
            Key::Scenario { path, .. } => format!("`{path}`"),
            Key::CliOnly(why) => format!("none: {why}"),
        };
        let default = if s.default.is_empty() {
            String::new()
        } else {
            format!("`{}`", s.default)
        };
        out.push_str(&format!(
            "| {commands} | {flag} | {key} | {default} | {} |\n",
            s.rule.shown()
        ));
    }
    out
}

#[cfg(test)]
mod tests;
