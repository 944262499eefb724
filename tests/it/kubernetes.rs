//! `deploy/kubernetes/`: every manifest valid against the Kubernetes API's own schemas, strictly
//! (unknown fields refused), on the oldest and newest releases it is written for, and as
//! kustomize renders it; broken copies refused. Then the Jobs' contract, run here: the load
//! Job's command, arguments and environment as written, started once per index as the Indexed
//! Job starts its pods, against the simulator, then the merge Job's, on the files they left.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use ratecheck::mock::{MockConfig, MockServer, Profile};

use crate::support::assert_valid;

/// The releases the manifests are checked against: 1.33, where `backoffLimitPerIndex` is
/// stable, and the newest that the pinned `kubernetes-validate` (tests/kubernetes/setup.sh)
/// carries.
const KUBERNETES: [&str; 2] = ["1.33", "1.37"];

/// The Secret's value planted in the pods: shaped like a provider key, so that it would be
/// recognised anywhere it leaked.
const KEY: &str = "sk-kubernetes-contract-0123456789abcdef";

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes")
}

/// A fresh directory for this test process.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "ratecheck-kubernetes-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn yaml(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `kubernetes-validate`, installed by `tests/kubernetes/setup.sh`
/// (`RATECHECK_KUBERNETES_VALIDATE`, else where the script puts it).
fn validator() -> PathBuf {
    let bin = std::env::var("RATECHECK_KUBERNETES_VALIDATE").map_or_else(
        |_| {
            let dir = std::env::var("RATECHECK_KUBERNETES_DIR").map_or_else(
                |_| {
                    PathBuf::from(std::env::var("HOME").unwrap_or_default())
                        .join(".cache/ratecheck/kubernetes")
                },
                PathBuf::from,
            );
            dir.join("venv/bin/kubernetes-validate")
        },
        PathBuf::from,
    );
    assert!(
        bin.exists(),
        "kubernetes-validate is not installed at {}: run tests/kubernetes/setup.sh (tests/run-all.sh does)",
        bin.display()
    );
    bin
}

/// What `kubernetes-validate --strict` says of `files` against `version`: the resources that
/// passed (`kind/name`), and every other line it printed, with its exit code.
fn validate(files: &[PathBuf], version: &str) -> (Vec<String>, Vec<String>, i32) {
    let out = Command::new(validator())
        .args(["--strict", "--kubernetes-version", version])
        .args(files)
        .output()
        .unwrap();
    let mut passed = Vec::new();
    let mut other = Vec::new();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let resource = line
            .strip_prefix("INFO ")
            .and_then(|rest| rest.split_once(" passed for resource "))
            .and_then(|(_, rest)| rest.split_once(" against version "))
            .map(|(resource, _)| resource.to_string());
        match resource {
            Some(r) => passed.push(r),
            None => other.push(line.to_string()),
        }
    }
    (passed, other, out.status.code().unwrap_or(-1))
}

fn kustomize(dir: &Path) -> Output {
    Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("kubectl (its built-in kustomize renders deploy/kubernetes/): see tests/kubernetes/setup.sh")
}

/// Every YAML file under `deploy/kubernetes/`, by name.
fn yaml_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(deploy())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| PathBuf::from(e.file_name()))
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x.eq_ignore_ascii_case("yaml") || x.eq_ignore_ascii_case("yml"))
        })
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    files.sort();
    files
}

#[test]
fn kubernetes_manifests_are_valid_against_the_api_schema() {
    let kustomization = yaml(&deploy().join("kustomization.yaml"));
    let mut resources: Vec<String> = kustomization["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect();
    resources.sort();
    // No manifest escapes the check: every file is the kustomization or one of its resources.
    let mut files = yaml_files();
    files.retain(|f| f != "kustomization.yaml");
    assert_eq!(
        files, resources,
        "deploy/kubernetes/ against its kustomization"
    );
    let paths: Vec<PathBuf> = resources.iter().map(|r| deploy().join(r)).collect();

    // As rendered: the image named, the shard count copied into the load Job.
    let rendered = kustomize(&deploy());
    assert!(
        rendered.status.success(),
        "kubectl kustomize: {}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    let dir = scratch("schema");
    let rendered_path = dir.join("rendered.yaml");
    std::fs::write(&rendered_path, &rendered.stdout).unwrap();

    for version in KUBERNETES {
        for (what, files, expected) in [
            ("the manifests", paths.clone(), paths.len()),
            (
                "the rendered kustomization",
                vec![rendered_path.clone()],
                paths.len(),
            ),
        ] {
            let (passed, other, code) = validate(&files, version);
            assert!(
                code == 0 && other.is_empty() && passed.len() == expected,
                "{what} against Kubernetes {version}: exit {code}, passed {passed:?}, said {other:#?}"
            );
        }
    }

    // A wrong manifest is refused: an unknown field, a wrong type, a misspelt key deep in a
    // container, each named.
    let job = std::fs::read_to_string(deploy().join("load-job.yaml")).unwrap();
    for (broken, named) in [
        (
            job.replace(
                "completionMode: Indexed",
                "completionz: 4\n  completionMode: Indexed",
            ),
            "'completionz' was unexpected",
        ),
        (
            job.replace("backoffLimitPerIndex: 0", "backoffLimitPerIndex: \"0\""),
            "spec.backoffLimitPerIndex: '0' is not of type 'integer'",
        ),
        (
            job.replace("secretKeyRef:", "secretKeyReff:"),
            "'secretKeyReff' was unexpected",
        ),
    ] {
        assert_ne!(
            broken, job,
            "the manifest no longer has what is broken here"
        );
        let path = dir.join("broken-job.yaml");
        std::fs::write(&path, &broken).unwrap();
        let (passed, other, code) = validate(&[path], KUBERNETES[0]);
        assert!(
            code != 0 && passed.is_empty() && other.iter().any(|l| l.contains(named)),
            "a broken Job passed: exit {code}, {other:#?}"
        );
    }

    // And so is a wrong kustomization: kustomize reads it strictly.
    let copy = dir.join("kustomize");
    std::fs::create_dir_all(&copy).unwrap();
    for f in yaml_files() {
        std::fs::copy(deploy().join(&f), copy.join(&f)).unwrap();
    }
    let k = std::fs::read_to_string(copy.join("kustomization.yaml")).unwrap();
    std::fs::write(
        copy.join("kustomization.yaml"),
        format!("{k}resourcez: []\n"),
    )
    .unwrap();
    let out = kustomize(&copy);
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("resourcez"),
        "a broken kustomization rendered: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A container of a Job's pod template, as written.
struct Container {
    command: Vec<String>,
    env: Vec<serde_json::Value>,
    env_from: Vec<serde_json::Value>,
    mounts: Vec<(String, String)>,
}

/// The only container of `job`'s pods.
fn container(job: &serde_json::Value) -> Container {
    let containers = job["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    assert_eq!(containers.len(), 1, "one container per pod");
    let c = &containers[0];
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    let mut command = strings(&c["command"]);
    assert!(
        !command.is_empty(),
        "the command is written in the manifest, not left to the image"
    );
    command.extend(strings(&c["args"]));
    let list = |v: &serde_json::Value| v.as_array().cloned().unwrap_or_default();
    Container {
        command,
        env: list(&c["env"]),
        env_from: list(&c["envFrom"]),
        mounts: list(&c["volumeMounts"])
            .iter()
            .map(|m| {
                (
                    m["name"].as_str().unwrap().to_string(),
                    m["mountPath"].as_str().unwrap().to_string(),
                )
            })
            .collect(),
    }
}

/// What the cluster holds for the pods: ConfigMaps and Secrets by name, then key.
struct Cluster {
    config_maps: BTreeMap<String, BTreeMap<String, String>>,
    secrets: BTreeMap<String, BTreeMap<String, String>>,
}

/// `$(NAME)` replaced by `NAME`'s value where it is defined, `$$` read as `$`, anything else
/// left as written: Kubernetes' expansion of a container's command, arguments and env values.
fn expand(text: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(reference) = after
            .strip_prefix('(')
            .and_then(|r| r.find(')').map(|end| (&r[..end], &r[end + 1..])))
            .filter(|(name, _)| env.contains_key(*name))
        {
            out.push_str(&env[reference.0]);
            rest = reference.1;
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The environment of pod `index` of a Job's container, as the kubelet builds it: `envFrom`
/// first, then `env` in order (a later entry overrides, and may refer to an earlier one), and
/// the `JOB_COMPLETION_INDEX` an Indexed Job's controller sets where the manifest does not.
fn pod_env(c: &Container, cluster: &Cluster, index: Option<u32>) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    if let Some(i) = index {
        env.insert("JOB_COMPLETION_INDEX".to_string(), i.to_string());
    }
    for from in &c.env_from {
        let name = from["configMapRef"]["name"]
            .as_str()
            .unwrap_or_else(|| panic!("envFrom: only configMapRef is expected here: {from}"));
        env.extend(cluster.config_maps[name].clone());
    }
    for e in &c.env {
        let name = e["name"].as_str().unwrap().to_string();
        let value = if let Some(v) = e["value"].as_str() {
            expand(v, &env)
        } else {
            let from = &e["valueFrom"];
            let lookup = |store: &BTreeMap<String, BTreeMap<String, String>>,
                          r: &serde_json::Value| {
                let (source, key) = (r["name"].as_str().unwrap(), r["key"].as_str().unwrap());
                store
                    .get(source)
                    .and_then(|s| s.get(key))
                    .unwrap_or_else(|| {
                        panic!("`{name}` refers to {source}/{key}, which is not there")
                    })
                    .clone()
            };
            if from["secretKeyRef"].is_object() {
                lookup(&cluster.secrets, &from["secretKeyRef"])
            } else if from["configMapKeyRef"].is_object() {
                lookup(&cluster.config_maps, &from["configMapKeyRef"])
            } else {
                let path = from["fieldRef"]["fieldPath"].as_str().unwrap();
                assert_eq!(
                    path, "metadata.annotations['batch.kubernetes.io/job-completion-index']",
                    "`{name}`: the only pod field used"
                );
                index
                    .expect("a completion index in an Indexed Job")
                    .to_string()
            }
        };
        env.insert(name, value);
    }
    env
}

/// The command of a container, ready to run here: expanded, each volume's mount path mapped to
/// the local directory standing for it, the environment the pod's and no other (`ratecheck` on
/// the PATH).
fn command(
    c: &Container,
    env: &BTreeMap<String, String>,
    volumes: &BTreeMap<String, PathBuf>,
) -> Command {
    let args: Vec<String> = c
        .command
        .iter()
        .map(|a| {
            let mut a = expand(a, env);
            for (volume, at) in &c.mounts {
                a = a.replace(at.as_str(), &volumes[volume].display().to_string());
            }
            a
        })
        .collect();
    let bin = PathBuf::from(
        std::env::var("RATECHECK_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_ratecheck").to_string()),
    );
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new(&args[0]);
    cmd.args(&args[1..])
        .env_clear()
        .env("PATH", path)
        .envs(env)
        .stdin(Stdio::null());
    cmd
}

/// Starts `cmd` at once; its output when it has ended.
fn start(mut cmd: Command) -> impl Future<Output = Output> {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    async move {
        tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
            .await
            .unwrap()
    }
}

fn said(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The manifests the contract reads.
struct Manifests {
    load_job: serde_json::Value,
    merge_job: serde_json::Value,
    claim: serde_json::Value,
    /// The ConfigMap `ratecheck-load`: the test's settings.
    settings: BTreeMap<String, String>,
}

fn manifests() -> Manifests {
    let config = yaml(&deploy().join("config.yaml"));
    Manifests {
        load_job: yaml(&deploy().join("load-job.yaml")),
        merge_job: yaml(&deploy().join("merge-job.yaml")),
        claim: yaml(&deploy().join("results.yaml")),
        settings: config["data"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect(),
    }
}

#[test]
fn kubernetes_jobs_are_wired_for_one_split_test() {
    let m = manifests();
    let spec = &m.load_job["spec"];
    let segments: u32 = m.settings["SEGMENTS"].parse().unwrap();
    assert_eq!(spec["completionMode"], "Indexed");
    assert_eq!(spec["completions"], segments, "completions = SEGMENTS");
    assert_eq!(spec["parallelism"], segments, "every shard at once");
    assert_eq!(
        spec["backoffLimitPerIndex"], 0,
        "a failed shard is not run again"
    );
    assert!(
        spec["backoffLimit"].is_null(),
        "one shard's failure does not end the others"
    );
    assert_eq!(
        m.merge_job["spec"]["suspend"], true,
        "held until the load has ended"
    );
    assert_eq!(m.merge_job["spec"]["backoffLimit"], 0);
    for job in [&m.load_job, &m.merge_job] {
        let pod = &job["spec"]["template"]["spec"];
        assert_eq!(pod["restartPolicy"], "Never");
        assert_eq!(
            pod["volumes"][0]["persistentVolumeClaim"]["claimName"],
            m.claim["metadata"]["name"]
        );
    }
    assert_eq!(m.claim["spec"]["accessModes"][0], "ReadWriteMany");

    // The key only from the Secret; the per-run values are the ones run.sh writes.
    let load = container(&m.load_job);
    let merge = container(&m.merge_job);
    assert!(
        m.settings.keys().all(|k| !k.contains("KEY")),
        "{:?}",
        m.settings
    );
    assert!(
        load.command
            .iter()
            .all(|a| !a.to_lowercase().contains("key"))
    );
    let run_sh = std::fs::read_to_string(deploy().join("run.sh")).unwrap();
    for c in [&load, &merge] {
        for e in &c.env {
            let name = e["name"].as_str().unwrap();
            let secret = &e["valueFrom"]["secretKeyRef"];
            assert_eq!(name == "RATECHECK_API_KEY", secret.is_object(), "{e}");
            if secret.is_object() {
                assert_eq!(secret["name"], "ratecheck-key");
                assert_eq!(secret["key"], "api-key");
            }
            let per_run = &e["valueFrom"]["configMapKeyRef"];
            if per_run["name"] == "ratecheck-run" {
                let key = per_run["key"].as_str().unwrap();
                assert!(run_sh.contains(&format!("--from-literal={key}=")), "{key}");
            }
        }
    }
}

/// The cluster, here: the ConfigMaps as written but for `overrides`, the per-run ConfigMap as
/// run.sh writes it, and the Secret planted.
fn local_cluster(
    settings: &BTreeMap<String, String>,
    overrides: &[(&str, String)],
    start: i64,
    test_id: &str,
) -> Cluster {
    let mut load = settings.clone();
    for (k, v) in overrides {
        load.insert((*k).to_string(), v.clone());
    }
    Cluster {
        config_maps: BTreeMap::from([
            ("ratecheck-load".to_string(), load),
            (
                "ratecheck-run".to_string(),
                BTreeMap::from([
                    ("START_AT".to_string(), start.to_string()),
                    ("TEST_ID".to_string(), test_id.to_string()),
                ]),
            ),
        ]),
        secrets: BTreeMap::from([(
            "ratecheck-key".to_string(),
            BTreeMap::from([("api-key".to_string(), KEY.to_string())]),
        )]),
    }
}

/// The load Job's pods, one process per completion index, started together; their logs.
/// Each must end well, having begun at the common start.
async fn run_load_job(
    load: &Container,
    cluster: &Cluster,
    volumes: &BTreeMap<String, PathBuf>,
    segments: u32,
) -> String {
    let pods: Vec<_> = (0..segments)
        .map(|i| start(command(load, &pod_env(load, cluster, Some(i)), volumes)))
        .collect();
    let mut logs = String::new();
    for (i, pod) in pods.into_iter().enumerate() {
        let out = pod.await;
        assert_eq!(
            out.status.code(),
            Some(0),
            "shard index {i}: {}",
            said(&out)
        );
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("start time passed"),
            "shard index {i} began late: {}",
            said(&out)
        );
        logs.push_str(&said(&out));
    }
    logs
}

#[tokio::test]
async fn kubernetes_jobs_contract_runs_locally() {
    let m = manifests();
    let (load, merge) = (container(&m.load_job), container(&m.merge_job));
    let segments: u32 = m.settings["SEGMENTS"].parse().unwrap();

    // The simulator for the gateway, a directory for the volume, a short test at the rate
    // written, starting in 3 s.
    let sim = MockServer::start(
        MockConfig {
            profile: Profile::LitellmFixed,
            rpm: 1_000_000,
            window: Duration::from_mins(1),
            chunk_delay: Duration::from_millis(1),
            ..MockConfig::default()
        },
        0,
    )
    .await
    .unwrap();
    let results = scratch("results");
    let volumes = BTreeMap::from([("results".to_string(), results.clone())]);
    let rate: f64 = m.settings["RATE"].parse().unwrap();
    let whole = (rate * 2.0).round() as u64;
    let test_id = format!("contract-{}", std::process::id());
    let cluster = local_cluster(
        &m.settings,
        &[("TARGET", sim.url()), ("DURATION", "2s".to_string())],
        jiff::Timestamp::now().as_second() + 3,
        &test_id,
    );

    // The load Job: one process per index, side by side.
    let started = std::time::Instant::now();
    let logs = run_load_job(&load, &cluster, &volumes, segments).await;
    let shards: Vec<PathBuf> = (0..segments)
        .map(|i| results.join(format!("{test_id}-shard-{i}.json")))
        .collect();
    for s in &shards {
        assert!(s.exists(), "{} was not written:\n{logs}", s.display());
    }

    // The merge Job, on what they left: one report, the whole test's requests.
    let merge_env = pod_env(&merge, &cluster, None);
    let out = start(command(&merge, &merge_env, &volumes)).await;
    assert_eq!(out.status.code(), Some(0), "merge: {}", said(&out));
    let report_path = results.join(format!("{test_id}-report.json"));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
    assert_valid(include_str!("../../docs/load-report.schema.json"), &report);
    assert_eq!(report["shards"]["test_id"], test_id.as_str(), "{report:#}");
    assert_eq!(report["shards"]["count"], segments);
    assert_eq!(
        report["shards"]["merged"].as_array().unwrap().len(),
        segments as usize
    );
    assert_eq!(report["shards"]["problems"], serde_json::json!([]));
    assert_eq!(report["requests"]["logical"], whole, "{report:#}");
    assert_eq!(report["requests"]["failed"], 0, "{report:#}");
    // The log: the table, for whoever reads `kubectl logs`.
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        log.contains(&format!(
            "merged: {segments} of {segments} shards of test {test_id}"
        )),
        "{log}"
    );
    for file in shards.iter().chain([&report_path]) {
        let text = std::fs::read_to_string(file).unwrap();
        assert!(!text.contains(KEY), "the key in {}", file.display());
    }
    assert!(
        !logs.contains(KEY) && !said(&out).contains(KEY),
        "the key in a log"
    );

    // A shard that left nothing: the merge names it and fails.
    std::fs::remove_file(&shards[1]).unwrap();
    let out = start(command(&merge, &merge_env, &volumes)).await;
    assert_eq!(
        out.status.code(),
        Some(2),
        "merge without a shard: {}",
        said(&out)
    );
    let missing = format!("shard 2/{segments} is missing");
    for (what, text) in [("log", &out.stdout), ("error", &out.stderr)] {
        let text = String::from_utf8_lossy(text);
        assert!(
            text.contains(&missing),
            "the {what} names the missing shard: {text}"
        );
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
    assert!(
        report["shards"]["problems"][0]
            .as_str()
            .unwrap()
            .contains(&missing),
        "{report:#}"
    );
    sim.shutdown().await;
    eprintln!(
        "{segments} shards and two merges in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
