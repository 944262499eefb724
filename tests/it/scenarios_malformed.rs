//! Malformed scenarios: each gives one located error line (`file:line:col: message`) and exit
//! 2, from `validate` and from `run`, before anything is sent.

use crate::support::{closed_port, ratecheck};

/// (name, scenario text, expected `line:col`, start of the expected message).
const CASES: &[(&str, &str, &str, &str)] = &[
    (
        "01-unknown-key",
        "steps:\n  - probe:\n      endpoint: [chat]\n",
        "3:7",
        "unknown field `endpoint`, expected one of name, endpoints, r",
    ),
    (
        "02-wrong-type-bool",
        "steps:\n  - request:\n      stream: maybe\n",
        "3:15",
        "expected `true` or `false`",
    ),
    (
        "03-unknown-step",
        "steps:\n  - probee: {}\n",
        "2:5",
        "unknown variant `probee`, expected one of probe, request, ex",
    ),
    (
        "04-bad-yaml",
        "target: [http://x\nsteps: []\n",
        "1:9",
        "expected a single text value here",
    ),
    (
        "05-undefined-var",
        "steps:\n  - request:\n      name: uses ${NOT_DEFINED_ANYWHERE}\n",
        "3:18",
        "undefined variable `NOT_DEFINED_ANYWHERE` in `name`",
    ),
    (
        "06-empty-steps",
        "steps: []\n",
        "1:8",
        "`steps` is empty: give at least one step",
    ),
    (
        "07-empty-file",
        "",
        "1:1",
        "the scenario is empty: it needs at least `steps:`",
    ),
    (
        "08-unknown-endpoint",
        "steps:\n  - request:\n      endpoint: chats\n",
        "3:17",
        "unknown variant `chats`, expected one of chat, chat/completi",
    ),
    (
        "09-bad-duration",
        "defaults:\n  timeout: soon\nsteps:\n  - probe: {}\n",
        "2:12",
        "`soon` is not a duration",
    ),
    (
        "10-bad-header-rule",
        "steps:\n  - request:\n      expect:\n        headers:\n          retry-after: presnt\n",
        "5:24",
        "unknown header rule `presnt` (did you mean `present`?); writ",
    ),
    (
        "11-bad-regex",
        "steps:\n  - request:\n      expect:\n        headers:\n          x-a: {matches: \"(unclosed\"}\n",
        "5:26",
        "`(unclosed` is not a regular expression",
    ),
    (
        "12-zero-repeat",
        "steps:\n  - repeat:\n      times: 0\n      steps:\n        - probe: {}\n",
        "3:14",
        "`repeat.times` must be at least 1",
    ),
    (
        "13-wrong-type-status",
        "steps:\n  - request:\n      expect:\n        status: two-hundred\n",
        "4:17",
        "expected a whole number from 0 to 65535",
    ),
    (
        "14-loop-over-nothing",
        "steps:\n  - for_each:\n      steps:\n        - request: {}\n",
        "2:5",
        "`for_each` needs `endpoints`, `shapes` or `models` to loop o",
    ),
    (
        "15-var-before-capture",
        "steps:\n  - request:\n      expect: {headers: {x-a: {equals: \"${later}\"}}}\n  - request:\n      capture: {later: x-a}\n",
        "3:41",
        "undefined variable `later` in `equals`",
    ),
    (
        "16-unknown-top-key",
        "stepz:\n  - probe: {}\n",
        "1:1",
        "unknown field `stepz`, expected one of name, description, ta",
    ),
    (
        "17-bad-indent",
        "steps:\n  - request:\n      endpoint: chat\n    stream: true\n",
        "4:5",
        "a step is a mapping with one key (`- request",
    ),
    (
        "18-empty-loop-list",
        "steps:\n  - for_each:\n      shapes: []\n      steps:\n        - request: {}\n",
        "3:15",
        "`for_each.shapes` is empty",
    ),
    (
        "19-negative-count",
        "steps:\n  - exhaust:\n      max_requests: -3\n",
        "3:21",
        "expected a whole number from 0 to 4294967295",
    ),
    (
        "20-unclosed-var",
        "steps:\n  - request:\n      body: {model: \"${unterminated\"}\n",
        "3:22",
        "in `body`",
    ),
    (
        "21-tab-indent",
        "steps:\n\t- probe: {}\n",
        "2:2",
        "tabs disallowed within this context (block indentation)",
    ),
    (
        "22-duplicate-key",
        "target: http://x\ntarget: http://y\nsteps:\n  - probe: {}\n",
        "2:1",
        "key `target` is given twice",
    ),
    (
        "23-load-without-rate",
        "steps:\n  - load:\n      duration: 5s\n",
        "2:5",
        "`load` needs `rate` (open loop) or `concurrency` (closed loop)",
    ),
    (
        "24-bad-threshold",
        "steps:\n  - load:\n      rate: 5\n      expect:\n        fail_if: [p99>3]\n",
        "5:19",
        "`p99` is not a metric (did you mean `p99_ms`?)",
    ),
    (
        "25-bad-pace",
        "steps:\n  - load:\n      rate: 5\n      pace: header\n",
        "4:13",
        "unknown variant `header`, expected one of none, headers (did you mean `headers`?)",
    ),
    (
        "26-huge-repeat",
        "steps:\n  - repeat:\n      times: 4000000000\n      steps:\n        - repeat:\n            times: 4000000000\n            steps:\n              - request: {}\n",
        "2:3",
        "the steps unroll to 16000000000000000000 requests-bearing steps; at most 100000",
    ),
    (
        "27-zero-max-time",
        "defaults:\n  max_time: 0s\nsteps:\n  - probe: {}\n",
        "2:13",
        "`defaults.max_time` must be more than zero",
    ),
    (
        "28-load-key-out-of-range",
        "steps:\n  - load:\n      rate: 5\n      retry_budget: 11\n",
        "2:5",
        "`load.retry_budget` must be from 0 to 10",
    ),
];

fn write_case(name: &str, text: &str) -> String {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("ratecheck-malformed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn every_malformed_scenario_gives_a_located_error_and_exit_2() {
    assert!(CASES.len() >= 15);
    for (name, text, at, message) in CASES {
        let path = write_case(name, text);
        let r = ratecheck(&["validate", &path], &[]).await;
        assert_eq!(r.code, 2, "{name}: {}", r.stderr);
        let first = r.stderr.lines().next().unwrap_or_default();
        let want = format!("ratecheck: error: {path}:{at}: {message}");
        assert!(
            first.starts_with(&want),
            "{name}:\n got  {first}\n want {want}"
        );
        assert!(r.stdout.is_empty(), "{name}: {}", r.stdout);
        // The offending line is shown under the error, unless the file is empty.
        if !text.is_empty() {
            let line: usize = at.split(':').next().unwrap().parse().unwrap();
            let source_line = text.lines().nth(line - 1).unwrap();
            assert!(
                r.stderr.contains(source_line.trim()),
                "{name}: {}",
                r.stderr
            );
        }
    }
}

#[tokio::test]
async fn run_refuses_malformed_scenarios_before_sending() {
    // The target is a closed port: a run that sent anything would exit 3, not 2.
    let port = closed_port().await;
    let target = format!("http://127.0.0.1:{port}");
    for (name, text, at, _) in CASES.iter().take(5) {
        let path = write_case(name, text);
        let r = ratecheck(&["run", &path, "--target", &target], &[]).await;
        assert_eq!(r.code, 2, "{name}: {}", r.stderr);
        assert!(
            r.stderr.contains(&format!("{path}:{at}: ")),
            "{name}: {}",
            r.stderr
        );
    }
}

/// `--max-time 0` is refused by `run` as by `probe`, in the same words, before any scenario
/// is read or anything sent; the scenario's `max_time: 0` is refused located in its file.
#[tokio::test]
async fn run_refuses_a_zero_max_time_as_probe_does() {
    let port = closed_port().await;
    let target = format!("http://127.0.0.1:{port}");
    let probe = ratecheck(&["probe", &target, "--max-time", "0"], &[]).await;
    let path = write_case("zero-max-time-flag", "steps:\n  - probe: {}\n");
    let run = ratecheck(&["run", &path, "--target", &target, "--max-time", "0"], &[]).await;
    for r in [&probe, &run] {
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert_eq!(
            r.stderr.lines().next().unwrap_or_default(),
            "ratecheck: error: `--max-time` must be more than zero"
        );
    }
    let path = write_case("zero-max-time-key", CASES[26].1);
    let run = ratecheck(&["run", &path, "--target", &target], &[]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "{path}:2:13: `defaults.max_time` must be more than zero"
        )),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn suggestions_name_the_nearest_key() {
    let path = write_case("typo", "steps:\n  - request:\n      streem: true\n");
    let r = ratecheck(&["validate", &path], &[]).await;
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("(did you mean `stream`?)"),
        "{}",
        r.stderr
    );
}

#[tokio::test]
async fn a_scenario_without_target_asks_for_one() {
    let path = write_case("no-target", "steps:\n  - probe: {}\n");
    let r = ratecheck(&["run", &path], &[]).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("no target: write `target: URL` in the scenario or pass `--target URL`")
    );
}

#[tokio::test]
async fn an_unreachable_target_exits_3_and_still_reports() {
    let port = closed_port().await;
    let path = write_case("unreachable", "steps:\n  - request: {}\n  - probe: {}\n");
    let target = format!("http://127.0.0.1:{port}");
    let json = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("ratecheck-unreachable-{}.json", std::process::id()));
    let r = ratecheck(
        &[
            "run",
            &path,
            "--target",
            &target,
            "--model",
            "m",
            "--report-json",
            &json.display().to_string(),
        ],
        &[],
    )
    .await;
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("STOPPED after step 1"), "{}", r.stdout);
    // What stopped it is said once on stderr (stdout shows the failed check).
    assert_eq!(
        r.stderr.matches("could not connect").count(),
        1,
        "{}",
        r.stderr
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["scenarios"][0]["skipped_steps"], 1);
    assert_eq!(report["outcome"]["status"], "unreachable");
}

#[tokio::test]
async fn the_readme_scenario_example_is_valid() {
    let readme = include_str!("../../README.md");
    let from = readme.find("## Scenario format").unwrap();
    let start = readme[from..].find("```yaml\n").unwrap() + from + "```yaml\n".len();
    let end = readme[start..].find("```").unwrap() + start;
    let path = write_case("readme-example", &readme[start..end]);
    let r = ratecheck(&["validate", &path], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("ok (my-gateway-contract, 13 steps once loops are unrolled)")
    );
}

/// A located error quotes the offending line, but never a token typed into the file: the
/// values of credential headers and `Bearer` tokens are masked in `validate` and `run` alike.
#[tokio::test]
async fn a_located_error_does_not_quote_a_credential() {
    const TOKEN: &str = "tok-typed-into-the-file-5f4e3d";
    let cases = [
        format!(
            "target: http://127.0.0.1:1\nauth:\n  header: \"Authorization: Bearer {TOKEN}\"\nsteps: []\n"
        ),
        format!(
            "target: http://127.0.0.1:1\nsteps:\n  - request:\n      headers: {{x-api-key: {TOKEN}}}\n      stream: maybe\n"
        ),
        format!(
            "target: http://127.0.0.1:1\nsteps:\n  - request:\n      headers: {{x-tenant: \"Bearer {TOKEN}\"}}\n      strem: true\n"
        ),
    ];
    for (i, text) in cases.iter().enumerate() {
        let path = write_case(&format!("credential-{i}"), text);
        for cmd in ["validate", "run"] {
            let r = ratecheck(&[cmd, &path], &[]).await;
            assert_eq!(r.code, 2, "{cmd} {i}: {}", r.stderr);
            assert!(r.stderr.contains(" | "), "the line is quoted: {}", r.stderr);
            assert!(
                !r.stderr.contains(TOKEN),
                "{cmd} {i} quotes the token: {}",
                r.stderr
            );
        }
    }
}

/// The caret stays under what is wrong on the line as shown, with a secret before it
/// redacted, while `file:line:col` still names the column in the file.
#[tokio::test]
async fn the_caret_points_into_the_redacted_line() {
    let text = "target: http://127.0.0.1:1\ndefaults:\n  headers: {Authorization: \"Bearer sk-abcdefghijklmnopqrstuvwxyz0123456789\", X-Other: \"${NOPE_VAR}\"}\nsteps: []\n";
    let path = write_case("caret-after-secret", text);
    let r = ratecheck(&["validate", &path], &[]).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    let raw = text.lines().nth(2).unwrap();
    let column = raw.find("${NOPE_VAR}").unwrap() + 1;
    assert!(
        r.stderr
            .contains(&format!(":3:{column}: undefined variable `NOPE_VAR`")),
        "{}",
        r.stderr
    );
    let mut lines = r.stderr.lines().skip_while(|l| !l.starts_with("3 | "));
    let shown = lines.next().unwrap().trim_start_matches("3 | ");
    let caret = lines.next().unwrap().trim_start_matches("  | ");
    assert!(shown.contains("[redacted]"), "{shown}");
    assert_eq!(&shown[caret.len() - 1..], "${NOPE_VAR}\"}", "{}", r.stderr);
}
