//! The `wasmpod` binary: exit codes, what it prints where (container output
//! on stdout, events and notes on stderr), invalid input, the status file,
//! CRI log files, crash-loop events, the compile cache, `validate` and
//! reading the pod from standard input.
//!
//! Each test has its own temporary directory (pod files, `--run-dir`,
//! `--status-file`); runs share one compile cache under the target dir, so
//! nothing leaks into `/tmp/wasmpod` or `~/.cache` (see `cli/harness.rs`, which
//! `examples.rs` uses too).

mod closed_output;
mod harness;
mod log;
mod run_dir;
mod signals;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub(crate) use harness::*;

use crate::support::wasmpod_bin;

/// A pod `p` whose spec body starts on line 6.
fn pod(spec: &str) -> String {
    format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n{spec}")
}

/// A pod whose one container `app` (line 8) runs `sh -c script`.
fn app(policy: &str, script: &str) -> String {
    pod(&format!(
        "  restartPolicy: {policy}\n  containers:\n  - name: app\n    image: busybox\n    command: ['sh', '-c', '{script}']\n"
    ))
}

/// The rest of a container printing `SHOULD NOT RUN` (2 lines).
const RUNS: &str = "    image: busybox\n    command: ['echo', 'SHOULD NOT RUN']\n";

// ---------------------------------------------------------------- exit codes

#[test]
fn succeeding_pod_exits_0_with_prefixed_padded_output() {
    let ws = Workspace::new();
    let yaml = pod(
        "  restartPolicy: Never\n  initContainers:\n  - name: init\n    image: busybox\n    command: ['echo', 'hello from wasm']\n  containers:\n  - name: app\n    image: busybox\n    command: ['echo', 'second']\n",
    );
    let ran = ws.run_yaml(&yaml, &[]);
    ran.assert_code(0);
    assert_eq!(
        ran.stdout, "init | hello from wasm\napp  | second\n",
        "{ran}"
    );
    assert!(ran.notes().contains(&"pod p Succeeded"), "{ran}");
    let prefixed = ran.stderr.lines().all(|l| l.starts_with("wasmpod: "));
    assert!(prefixed, "every stderr line is prefixed\n{ran}");
    assert!(
        !ran.stdout.contains('\x1b') && !ran.stderr.contains('\x1b'),
        "{ran}"
    );
    assert_eq!(ws.status()["status"]["phase"], "Succeeded");
    // `--color always` colours the prefixes.
    let ran = ws.run_yaml(&yaml, &["--color", "always"]);
    assert!(ran.stdout.starts_with("\x1b["), "{ran}");
}

#[test]
fn failing_pod_exits_1_and_prints_its_events() {
    let ws = Workspace::new();
    let ran = ws.run_yaml(&app("Never", "echo bye; exit 3"), &[]);
    ran.assert_code(1);
    assert_eq!(ran.lines_of("app"), ["bye"], "{ran}");
    let started = ran.event_position("app", "Started");
    assert!(started < ran.event_position("app", "Exited"), "{ran}");
    let exited = ran.events_of("app", "Exited");
    assert_eq!(
        exited,
        ["Container app exited with code 3 (Error)"],
        "{ran}"
    );
    assert!(ran.notes().contains(&"pod p Failed"), "{ran}");
    let status = ws.status();
    assert_eq!(status["status"]["phase"], "Failed");
    let app = &container_status(&status, "app")["state"]["terminated"];
    assert_eq!(
        (app["exitCode"].as_i64(), app["reason"].as_str()),
        (Some(3), Some("Error"))
    );
}

#[test]
fn quiet_hides_events_but_not_output() {
    let ws = Workspace::new();
    let ran = ws.run_yaml(&app("Never", "echo still printed"), &["-q"]);
    ran.assert_code(0);
    assert_eq!(ran.lines_of("app"), ["still printed"], "{ran}");
    assert!(ran.events().is_empty(), "-q prints no events\n{ran}");
    assert!(ran.notes().contains(&"pod p Succeeded"), "{ran}");
}

#[test]
fn timeout_stops_a_pod_that_runs_forever_and_exits_124() {
    let ws = Workspace::new();
    let yaml = app("Always", "echo up; while true; do sleep 1; done");
    let ran = ws.run_yaml(&yaml, &["--timeout", "1s"]);
    ran.assert_code(124);
    // Promptly: the shell has no TERM handler, so it goes at once. The bound
    // is loose (a loaded machine), yet below the 30 s grace period.
    assert!(ran.elapsed >= Duration::from_secs(1), "{ran}");
    assert!(ran.elapsed < Duration::from_secs(25), "{ran}");
    assert_eq!(ran.lines_of("app"), ["up"], "{ran}");
    ran.assert_stderr_has("wasmpod: timeout reached: stopping");
    assert_eq!(ran.events_of("app", "Killing").len(), 1, "{ran}");
    let status = ws.status();
    let app = &container_status(&status, "app")["state"]["terminated"];
    assert_eq!(app["exitCode"], 143, "{status:#}");
}

// ------------------------------------------------------------- invalid input

#[test]
fn invalid_input_exits_2_names_field_and_line_and_runs_nothing() {
    let init_app = |init: &str| {
        pod(&format!(
            "  initContainers:\n  - name: side\n{init}  containers:\n  - name: app\n{RUNS}"
        ))
    };
    // (case, YAML, what stderr must say)
    let cases: [(&str, String, &[&str]); 10] = [
        (
            "bad indentation (line 5)",
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n   labels: {{}}\nspec:\n  containers:\n  - name: a\n{RUNS}"
            ),
            &["line 5, column 10", "mapping values are not allowed"],
        ),
        (
            "a tab",
            format!("apiVersion: v1\nkind: Pod\nspec:\n\tcontainers:\n  - name: a\n{RUNS}"),
            &[
                "line 4, column 1",
                "YAML does not allow tabs for indentation",
            ],
        ),
        (
            "no container name",
            pod(&format!(
                "  restartPolicy: Never\n  containers:\n  - stdin: false\n{RUNS}"
            )),
            &[
                "pod \"p\" is invalid",
                "spec.containers[0].name (line 8): Required value",
            ],
        ),
        (
            "duplicate names, init and app",
            pod(&format!(
                "  initContainers:\n  - name: app\n{RUNS}  containers:\n  - name: app\n{RUNS}"
            )),
            &[r#"spec.containers[0].name (line 11): Duplicate value: "app""#],
        ),
        (
            "pod restartPolicy",
            pod(&format!(
                "  restartPolicy: Sometimes\n  containers:\n  - name: app\n{RUNS}"
            )),
            &[
                r#"spec.restartPolicy (line 6): Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never""#,
            ],
        ),
        (
            "sidecar restartPolicy",
            init_app("    image: busybox\n    restartPolicy: Sometimes\n"),
            &[r#"spec.initContainers[0].restartPolicy (line 9): Unsupported value: "Sometimes""#],
        ),
        (
            "restartPolicyRules on a sidecar",
            init_app(
                "    image: busybox\n    restartPolicy: Always\n    restartPolicyRules:\n    - action: Restart\n      exitCodes: {operator: In, values: [42]}\n",
            ),
            &[
                "spec.initContainers[0].restartPolicyRules (line 10): Forbidden: may not be set for a restartable init container",
            ],
        ),
        (
            "volumeMount naming no volume",
            pod(&format!(
                "  containers:\n  - name: app\n{RUNS}    volumeMounts: [{{name: data, mountPath: /d}}]\n"
            )),
            &[r#"spec.containers[0].volumeMounts[0].name (line 10): Not found: "data""#],
        ),
        (
            "unknown field",
            pod(
                "  containers:\n  - name: app\n    image: busybox\n    comand: ['echo', 'SHOULD NOT RUN']\n",
            ),
            &[r#"spec.containers[0].comand (line 9): unknown field "comand""#],
        ),
        (
            "no Pod in the file",
            "apiVersion: v1\nkind: Endpoints\nmetadata: {name: c}\nspec: {ports: [{port: 80}]}\n"
                .into(),
            &[
                "no v1 Pod found in the file",
                "document 1 (line 1): skipped kind Endpoints",
            ],
        ),
    ];
    for (case, yaml, fragments) in cases {
        let ws = Workspace::new();
        let ran = ws.run_yaml(&yaml, &[]);
        assert_eq!(ran.code, Some(2), "{case}: exit status\n{ran}");
        for f in fragments.iter().chain(&["wasmpod: error: "]) {
            assert!(ran.stderr.contains(f), "{case}: stderr lacks {f:?}\n{ran}");
        }
        assert_eq!(ran.stdout, "", "{case}: nothing may run\n{ran}");
        assert!(ran.events().is_empty(), "{case}: nothing may start\n{ran}");
        assert!(!ws.run_dir().exists(), "{case}: no run directory\n{ran}");
        assert!(!ws.status_file().exists(), "{case}: no status file\n{ran}");
    }
}

#[test]
fn multi_document_file_runs_the_pod_and_notes_the_skipped_document() {
    let ws = Workspace::new();
    let service =
        "apiVersion: v1\nkind: Endpoints\nmetadata: {name: c}\nspec: {ports: [{port: 80}]}\n";
    let yaml = format!("{service}---\n{}", app("Never", "echo the pod ran"));
    let ran = ws.run_yaml(&yaml, &[]);
    ran.assert_code(0);
    assert_eq!(ran.lines_of("app"), ["the pod ran"], "{ran}");
    let note = "note: document 1 (line 1): skipped kind Endpoints (wasmpod reads v1 Pod, ConfigMap, Secret, Service, apps/v1 Deployment, ReplicaSet, StatefulSet, DaemonSet and batch/v1 Job)";
    assert!(ran.notes().contains(&note), "{ran}");
}

#[test]
fn unhonoured_field_is_a_warning_and_the_pod_still_runs() {
    let ws = Workspace::new();
    // (livenessProbe was the example until probes were implemented.)
    let yaml = app("Never", "echo ran anyway") + "    securityContext:\n      runAsUser: 1000\n";
    let ran = ws.run_yaml(&yaml, &[]);
    ran.assert_code(0);
    let warning = "warning: pod \"p\": spec.containers[0].securityContext.runAsUser (line 12): not honoured by wasmpod yet; ignored";
    assert!(ran.notes().contains(&warning), "{ran}");
    assert_eq!(ran.lines_of("app"), ["ran anyway"], "{ran}");
}

// -------------------------------------------------------------------- images

const MISSING_IMAGE: &str = "  containers:\n  - name: app\n    image: missing.wasm\n";

#[test]
fn missing_image_file_exits_2_and_the_status_shows_err_image_pull() {
    let ws = Workspace::new();
    let ran = ws.run_yaml(&pod(MISSING_IMAGE), &[]);
    ran.assert_code(2);
    let path = std::fs::canonicalize(ws.dir.path())
        .unwrap()
        .join("missing.wasm");
    ran.assert_stderr_has(&format!(
        "container \"app\": image file \"{}\" not found",
        path.display()
    ));
    assert_eq!(ran.stdout, "", "{ran}");
    assert!(ran.events_of("app", "Started").is_empty(), "{ran}");
    let status = ws.status();
    assert_eq!(
        (&status["kind"], &status["status"]["phase"]),
        (&"Pod".into(), &"Pending".into())
    );
    let waiting = &container_status(&status, "app")["state"]["waiting"];
    assert_eq!(waiting["reason"], "ErrImagePull", "{status:#}");
    let message = waiting["message"].as_str().unwrap_or_default();
    assert!(message.contains("missing.wasm"), "{status:#}");
}

#[test]
fn missing_image_error_names_the_cause_once() {
    let ws = Workspace::new();
    let ran = ws.run_yaml(&pod(MISSING_IMAGE), &[]);
    ran.assert_code(2);
    assert_eq!(ran.stderr.matches("not found").count(), 1, "{ran}");
}

// --------------------------------------------------------------- status file

/// `YYYY-MM-DDTHH:MM:SS` followed by `.<digits in frac>` if `frac` is given, then `Z`.
fn is_time(t: &str, frac: Option<std::ops::RangeInclusive<usize>>) -> bool {
    let (b, fraction) = (
        t.as_bytes(),
        t.get(20..t.len().saturating_sub(1)).unwrap_or(""),
    );
    let shape = b.len() >= 20
        && t.ends_with('Z')
        && b[..19].iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        });
    shape
        && match frac {
            None => b.len() == 20,
            Some(n) => {
                b[19] == b'.'
                    && n.contains(&fraction.len())
                    && fraction.bytes().all(|c| c.is_ascii_digit())
            }
        }
}

#[test]
fn status_file_holds_the_final_pod() {
    let ws = Workspace::new();
    let ran = ws.run_yaml(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: full\n  labels: {app: demo}\nspec:\n  restartPolicy: Never\n  initContainers:\n  - name: setup\n    image: busybox\n    command: ['echo', 'setting up']\n  - name: side\n    image: busybox\n    restartPolicy: Always\n    command: ['sh', '-c', 'echo side up; while true; do sleep 0.1; done']\n  containers:\n  - name: app\n    image: busybox\n    command: ['sh', '-c', 'echo working; sleep 0.5']\n",
        &[],
    );
    ran.assert_code(0);
    let pod = ws.status();
    assert_eq!(
        (&pod["apiVersion"], &pod["kind"]),
        (&"v1".into(), &"Pod".into())
    );
    assert_eq!(pod["metadata"]["name"], "full");
    assert_eq!(pod["metadata"]["labels"]["app"], "demo");
    assert_eq!(pod["spec"]["containers"][0]["name"], "app");
    assert_eq!(pod["spec"]["initContainers"][1]["restartPolicy"], "Always");
    let status = &pod["status"];
    assert_eq!(status["phase"], "Succeeded", "{pod:#}");
    let conditions = status["conditions"].as_array().expect("conditions");
    let conditions: Vec<(&str, &str)> = conditions
        .iter()
        .map(|c| (c["type"].as_str().unwrap(), c["status"].as_str().unwrap()))
        .collect();
    let types: Vec<_> = conditions.iter().map(|(t, _)| *t).collect();
    let want = [
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
        "PodScheduled",
    ];
    assert_eq!(types, want);
    for c in [
        ("Initialized", "True"),
        ("PodScheduled", "True"),
        ("Ready", "False"),
    ] {
        assert!(conditions.contains(&c), "{conditions:?}");
    }
    let names = |list: &str| -> Vec<&str> {
        let statuses = status[list]
            .as_array()
            .unwrap_or_else(|| panic!("no {list}: {pod:#}"));
        statuses
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect()
    };
    assert_eq!(names("initContainerStatuses"), ["setup", "side"]);
    assert_eq!(names("containerStatuses"), ["app"]);
    // (container, exit code, reason, ready): the sidecar is stopped after the
    // app (no TERM handler: 143, Error); a completed init container is ready.
    for (name, code, reason, ready) in [
        ("setup", 0, "Completed", true),
        ("side", 143, "Error", false),
        ("app", 0, "Completed", false),
    ] {
        let s = container_status(&pod, name);
        let t = &s["state"]["terminated"];
        assert_eq!(
            (t["exitCode"].as_i64(), t["reason"].as_str()),
            (Some(code), Some(reason)),
            "{s:#}"
        );
        for time in ["startedAt", "finishedAt"] {
            assert!(
                is_time(t[time].as_str().unwrap_or(""), None),
                "{name} {time}: {s:#}"
            );
        }
        assert!(t["startedAt"].as_str() <= t["finishedAt"].as_str(), "{s:#}");
        assert_eq!(
            (&s["restartCount"], &s["started"]),
            (&0.into(), &false.into()),
            "{s:#}"
        );
        assert_eq!(
            (&s["ready"], &s["image"]),
            (&ready.into(), &"busybox".into()),
            "{s:#}"
        );
    }
    // The init container finished before the app started.
    let time = |c: &str, t: &str| container_status(&pod, c)["state"]["terminated"][t].clone();
    assert!(
        time("setup", "finishedAt").as_str() <= time("app", "startedAt").as_str(),
        "{pod:#}"
    );
}

// ------------------------------------------------------------------ log files

/// A CRI log record checked by hand against
/// `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{1,9}Z (stdout|stderr) F .*$`: (stream, text).
#[track_caller]
fn cri_record(line: &str) -> (&str, &str) {
    let parts: Vec<&str> = line.splitn(4, ' ').collect();
    let ok = parts.len() == 4 && is_time(parts[0], Some(1..=9)) && parts[2] == "F";
    assert!(
        ok && matches!(parts[1], "stdout" | "stderr"),
        "bad CRI record {line:?}"
    );
    (parts[1], parts[3])
}

#[test]
fn container_output_is_written_to_cri_log_files() {
    let ws = Workspace::new();
    let script = "echo out 1; echo err 1 >&2; echo out 2; echo \"  spaced  \"";
    let ran = ws.run_yaml(&app("Never", script), &[]);
    ran.assert_code(0);
    let text = std::fs::read_to_string(ws.run_dir().join("logs/app/0.log")).expect("0.log");
    let records: Vec<_> = text.lines().map(cri_record).collect();
    let of = |stream: &str| -> Vec<&str> {
        records
            .iter()
            .filter(|(s, _)| *s == stream)
            .map(|(_, t)| *t)
            .collect()
    };
    assert_eq!(of("stdout"), ["out 1", "out 2", "  spaced  "], "{text}");
    assert_eq!(of("stderr"), ["err 1"], "{text}");
    assert!(text.ends_with('\n'));
    // In time order (to the second: the fraction's width varies).
    let times: Vec<&str> = text.lines().map(|l| &l[..19]).collect();
    assert!(times.is_sorted(), "{text}");
    // stderr reaches the terminal too, on stdout with the prefix.
    assert_eq!(
        ran.lines_of("app"),
        ["out 1", "err 1", "out 2", "  spaced  "],
        "{ran}"
    );
}

// ---------------------------------------------------------------- crash loops

#[test]
fn crash_loop_prints_backoff_and_timeout_exits_124() {
    let ws = Workspace::new();
    let args = ["--backoff-initial", "200ms", "--timeout", "3s"];
    let ran = ws.run_yaml(&app("Always", "echo crash; exit 1"), &args);
    ran.assert_code(124);
    let backoffs = ran.events_of("app", "BackOff");
    // format.Pod: name_namespace(uid).
    let message = "Back-off restarting failed container app in pod p_default(";
    assert!(
        backoffs.first().is_some_and(|m| m.starts_with(message)),
        "{ran}"
    );
    assert!(ran.lines_of("app").len() >= 2, "{ran}");
    let status = ws.status();
    let restarts = container_status(&status, "app")["restartCount"].as_u64();
    assert!(restarts.is_some_and(|n| n >= 1), "{status:#}");
    // Each restart writes its own log file, as the kubelet does, and as on
    // a node only the last terminated instance's file is kept beside it.
    let n = restarts.unwrap();
    let logs = ws.run_dir().join("logs/app");
    assert!(logs.join(format!("{n}.log")).is_file(), "{ran}");
    assert!(logs.join(format!("{}.log", n - 1)).is_file(), "{ran}");
    for old in 0..n.saturating_sub(1) {
        assert!(
            !logs.join(format!("{old}.log")).exists(),
            "{old}.log kept\n{ran}"
        );
    }
}

// -------------------------------------------------------------- compile cache

fn files_under(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let count = |p: PathBuf| if p.is_dir() { files_under(&p) } else { 1 };
    entries.flatten().map(|e| count(e.path())).sum()
}

#[test]
fn compile_cache_is_filled_then_reused() {
    let ws = Workspace::new();
    let cache = tempfile::tempdir().unwrap();
    let file = ws.write("pod.yaml", &app("Never", "echo cached"));
    let args = ["--cache-dir", cache.path().to_str().unwrap(), file.as_str()];
    let first = ws.run(&args);
    first.assert_code(0);
    assert!(files_under(cache.path()) > 0, "the cache is empty\n{first}");
    let second = ws.run(&args);
    second.assert_code(0);
    assert_eq!(second.lines_of("app"), ["cached"], "{second}");
    assert!(!second.stderr.contains("cache disabled"), "{second}");
}

#[test]
fn relative_cache_dir_is_used() {
    let ws = Workspace::new();
    let file = ws.write("pod.yaml", &app("Never", "echo cached"));
    let ran = ws.run(&["--cache-dir", "cache", &file]);
    ran.assert_code(0);
    assert!(!ran.stderr.contains('\x1b'), "no escape codes\n{ran}");
    assert!(files_under(&ws.dir.path().join("cache")) > 0, "{ran}");
}

// ------------------------------------------------------- validate and stdin

#[test]
fn validate_accepts_a_good_file_and_rejects_a_bad_one() {
    let ws = Workspace::new();
    let validate = |name: &str, yaml: &str| {
        let mut cmd = Command::new(wasmpod_bin());
        cmd.arg("validate").arg(ws.write(name, yaml));
        cmd.arg("--cache-dir")
            .arg(shared_cache())
            .current_dir(ws.dir.path());
        spawn(cmd, None).finish(LIMIT)
    };
    let ran = validate("good.yaml", &app("Never", "echo SHOULD NOT RUN"));
    ran.assert_code(0);
    assert_eq!(ran.stdout, "", "validate runs nothing\n{ran}");
    assert!(ran.notes().contains(&"pod \"p\" is valid"), "{ran}");

    let typo = "  containers:\n  - name: app\n    image: busybox\n    comand: [echo]\n";
    let ran = validate("bad.yaml", &pod(typo));
    ran.assert_code(2);
    ran.assert_stderr_has(r#"spec.containers[0].comand (line 9): unknown field "comand""#);

    // Images are checked too.
    let ran = validate("missing.yaml", &pod(MISSING_IMAGE));
    ran.assert_code(2);
    ran.assert_stderr_has("container \"app\": image file");
    ran.assert_stderr_has("missing.wasm\" not found");
    assert!(!ws.run_dir().exists(), "validate creates no run directory");
}

/// On a terminal, what is compiling is drawn while a pod is prepared: name, size, seconds.
#[test]
fn compile_progress_is_drawn_on_a_terminal() {
    let ws = Workspace::new();
    let file = ws.write("pod.yaml", &app("Never", "echo SHOULD NOT RUN"));
    // `script` gives the command a terminal; a fresh cache makes it compile.
    let command = format!("{} validate --cache-dir fresh-cache {file}", wasmpod_bin());
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &command, "/dev/null"])
        .current_dir(ws.dir.path());
    let ran = spawn(cmd, None).finish(LIMIT);
    ran.assert_code(0);
    let drawn = ran
        .stdout
        .split("\x1b[2K")
        .find(|part| part.starts_with("compiling "))
        .unwrap_or_else(|| panic!("no progress line\n{ran}"));
    assert!(
        drawn.contains("toolbox") && drawn.contains(" kB) "),
        "{drawn:?}"
    );
}

#[test]
fn run_dash_reads_the_pod_from_stdin() {
    let ws = Workspace::new();
    let yaml = app("Never", "echo from stdin");
    let ran = spawn(ws.run_command(&["-"]), Some(&yaml)).finish(LIMIT);
    ran.assert_code(0);
    assert_eq!(ran.lines_of("app"), ["from stdin"], "{ran}");
    // Invalid input on stdin is reported with its line, like a file.
    let bad = app("Sometimes", "echo SHOULD NOT RUN");
    let ran = spawn(ws.run_command(&["-"]), Some(&bad)).finish(LIMIT);
    ran.assert_code(2);
    ran.assert_stderr_has("spec.restartPolicy (line 6)");
    assert_eq!(ran.stdout, "", "{ran}");
}
