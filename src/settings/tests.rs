//! The table against what it describes: clap's command tree, the scenario reader, the README.

use std::path::Path;

use clap::CommandFactory;

use super::{ALL, Key, Rule, Setting, find, markdown};
use crate::cli::Cli;
use crate::verdict::Exit;

/// Every (command, argument id) clap knows, `""` for the top-level command.
fn clap_args() -> Vec<(String, String)> {
    let cli = Cli::command();
    let mut out: Vec<(String, String)> = cli
        .get_arguments()
        .map(|a| (String::new(), a.get_id().to_string()))
        .collect();
    for sub in cli.get_subcommands() {
        for a in sub.get_arguments() {
            out.push((sub.get_name().to_string(), a.get_id().to_string()));
        }
    }
    out.retain(|(_, id)| id != "help" && id != "version");
    out
}

#[test]
fn every_flag_has_a_scenario_key_or_a_reason() {
    let mut missing = Vec::new();
    for (command, id) in clap_args() {
        match find(&command, &id) {
            None => missing.push(format!("{command} {id}")),
            Some(Setting {
                key: Key::CliOnly(why),
                ..
            }) => assert!(!why.trim().is_empty(), "{command} {id}: an empty reason"),
            Some(_) => {}
        }
    }
    assert!(
        missing.is_empty(),
        "flags with neither a scenario key nor a command-line-only reason in src/settings/table.rs: {missing:?}"
    );
}

#[test]
fn the_table_lists_only_flags_that_exist_once() {
    let args = clap_args();
    let mut seen = std::collections::HashSet::new();
    for s in ALL {
        for c in s.commands {
            assert!(
                args.iter().any(|(cmd, id)| cmd == c && id == s.id),
                "the table lists `{c} {}`, which clap does not know",
                s.id
            );
            assert!(seen.insert((*c, s.id)), "`{c} {}` is listed twice", s.id);
        }
    }
}

/// A scenario that sets `path` to `value`, with whatever else its step needs to be read.
fn scenario_with(path: &str, value: &str) -> String {
    let parts: Vec<&str> = path.split('.').collect();
    let nest = |parts: &[&str], indent: usize| -> String {
        let mut text = String::new();
        for (i, p) in parts.iter().enumerate() {
            let pad = " ".repeat(indent + 2 * i);
            if i + 1 == parts.len() {
                text.push_str(&format!("{pad}{p}: {value}\n"));
            } else {
                text.push_str(&format!("{pad}{p}:\n"));
            }
        }
        text
    };
    let step = |kind: &str, needs: &[(&str, &str)]| -> String {
        let mut text = format!("steps:\n  - {kind}:\n");
        for (k, v) in needs {
            if *k != parts[1] && !(kind == "load" && parts[1] == "concurrency" && *k == "rate") {
                text.push_str(&format!("      {k}: {v}\n"));
            }
        }
        text + &nest(&parts[1..], 6)
    };
    let body = match parts[0] {
        "defaults" | "auth" | "strict" | "target" => nest(&parts, 0) + "steps:\n  - probe: {}\n",
        "load" => step("load", &[("rate", "1")]),
        "fleet" => {
            let watch = if parts[1] == "every" {
                vec![("watch", "10s")]
            } else {
                vec![]
            };
            let mut needs = vec![("instances", "[\"http://a:1\", \"http://b:1\"]")];
            needs.extend(watch);
            step("fleet", &needs)
        }
        kind => step(kind, &[]),
    };
    if parts[0] == "target" {
        body
    } else {
        format!("target: http://127.0.0.1:9\n{body}")
    }
}

fn parse(text: &str) -> Result<crate::scenario::Loaded, crate::scenario::ScenarioError> {
    crate::scenario::parse(Path::new("s.yaml"), text.to_string(), false)
}

#[test]
fn every_scenario_key_is_read() {
    for s in ALL {
        let Key::Scenario { path, example } = s.key else {
            continue;
        };
        let text = scenario_with(path, example);
        if let Err(e) = parse(&text) {
            panic!("`{path}` ({}): the reader refused it: {e}\n{text}", s.id);
        }
    }
}

#[test]
fn defaults_read_as_their_flags_say() {
    let cli = Cli::command();
    assert_eq!(
        super::TIMEOUT.default_duration(),
        crate::http::DEFAULT_TIMEOUT
    );
    assert_eq!(
        super::MAX_TIME.default_duration(),
        crate::http::DEFAULT_MAX_TIME
    );
    for s in ALL.iter().filter(|s| matches!(s.key, Key::Scenario { .. })) {
        for c in s.commands.iter().filter(|c| !c.is_empty()) {
            let Some(arg) = cli
                .find_subcommand(c)
                .and_then(|sub| sub.get_arguments().find(|a| a.get_id() == s.id))
            else {
                continue;
            };
            let clap_default: Vec<String> = arg
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect();
            if let [d] = clap_default.as_slice()
                && !arg.is_positional()
                && d != "false"
            {
                assert_eq!(
                    d, s.default,
                    "`{c} {}`: clap's default is not the table's",
                    s.id
                );
            }
        }
        if s.rule == Rule::AboveZero && s.default.ends_with('s') {
            assert!(
                s.rule.check_duration(s.default_duration()).is_none(),
                "{}: the default breaks its own rule",
                s.id
            );
        }
    }
}

/// A value the rule refuses.
fn bad(rule: Rule) -> Option<String> {
    match rule {
        Rule::Any => None,
        Rule::AboveZero => Some("0".into()),
        Rule::Within(lo, i64::MAX) => Some((lo - 1).to_string()),
        Rule::Within(_, hi) => Some((hi + 1).to_string()),
        Rule::Share => Some("2".into()),
        Rule::UpTo(hi) => Some((hi + 1.0).to_string()),
    }
}

/// What `ratecheck COMMAND … --flag VALUE` ends with, run in-process against a port nothing
/// listens on: a usage error means the value was refused before anything was sent.
async fn flag_run(command: &str, s: &Setting, value: &str, scenario: &Path) -> (Exit, String) {
    use clap::Parser;
    let url = "http://127.0.0.1:9";
    let mut argv: Vec<String> = vec!["ratecheck".into(), command.into()];
    let rest: Vec<&str> = match command {
        "run" => vec![scenario.to_str().unwrap()],
        "load" if s.id == "rate" => vec![url, "-n", "1"],
        "load" => vec![url, "--rate", "1", "-n", "1"],
        "fleet" if s.id == "every" => vec![url, url, "--watch", "1s"],
        "fleet" => vec![url, url],
        _ => vec![url],
    };
    argv.extend(rest.iter().map(ToString::to_string));
    argv.push(s.flag());
    argv.push(value.into());
    match Cli::try_parse_from(&argv) {
        Err(e) => (Exit::Usage, e.to_string()),
        Ok(cli) => {
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let exit = crate::run(cli, &mut out, &mut err).await;
            (exit, String::from_utf8_lossy(&err).into_owned())
        }
    }
}

/// Every rule is kept by both readers, in the same words: a flag's bad value is a usage error
/// before anything is sent, the same value under the scenario key a located error.
#[tokio::test]
async fn flags_and_keys_refuse_the_same_values() {
    let dir = std::env::temp_dir().join(format!("ratecheck-settings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let scenario = dir.join("s.yaml");
    std::fs::write(
        &scenario,
        "target: http://127.0.0.1:9\nsteps:\n  - probe: {}\n",
    )
    .unwrap();
    for s in ALL {
        let Some(value) = bad(s.rule) else { continue };
        for command in s.commands {
            let (exit, err) = flag_run(command, s, &value, &scenario).await;
            assert_eq!(exit, Exit::Usage, "{command} {} {value}: {err}", s.flag());
            assert!(
                err.contains(&s.flag()),
                "{command} {} {value}: {err}",
                s.flag()
            );
        }
        if let Key::Scenario { path, .. } = s.key {
            let text = scenario_with(path, &value);
            let e = parse(&text).expect_err(&format!("`{path}: {value}` was accepted"));
            assert!(
                e.message
                    .contains(&format!("`{path}` {}", s.rule.problem())),
                "`{path}: {value}`: {e}"
            );
            assert!(e.line > 1, "`{path}: {value}` is not located: {e}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn max_time_zero_is_one_message_for_flag_and_key() {
    let flag = super::MAX_TIME.duration("0s").unwrap_err();
    assert_eq!(flag.message, "`--max-time` must be more than zero");
    let e = parse(&scenario_with("defaults.max_time", "0s")).unwrap_err();
    assert_eq!(e.message, "`defaults.max_time` must be more than zero");
    assert_eq!((e.line, e.column), (3, 13), "{e}");
}

/// The README's table is this module's: regenerate it with `RATECHECK_BLESS=1 cargo test --lib
/// settings`.
#[test]
fn the_readme_table_is_the_registry() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let readme = std::fs::read_to_string(path).unwrap();
    let (begin, end) = ("<!-- settings:begin -->\n", "<!-- settings:end -->");
    let start = readme.find(begin).expect("the README has a settings table") + begin.len();
    let stop = readme[start..].find(end).expect("the table ends") + start;
    let table = markdown();
    if readme[start..stop] != table {
        if std::env::var_os("RATECHECK_BLESS").is_some() {
            let text = format!("{}{table}{}", &readme[..start], &readme[stop..]);
            std::fs::write(path, text).unwrap();
        } else {
            panic!(
                "README.md's settings table is not src/settings.rs's; run `RATECHECK_BLESS=1 cargo test --lib settings` to rewrite it"
            );
        }
    }
}
