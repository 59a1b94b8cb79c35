//! Hostile manifests and odd images: path fields that climb out of the
//! container's root with `..`, a `$(VAR)` doubling chain, images that are
//! FIFOs, devices, directories or huge sparse files, and YAML built to make
//! the parsers quadratic. Each is refused before anything runs (exit 2 from
//! the CLI, an error from `create`), promptly and with its field and line,
//! and leaves nothing on the host. `fuzz.rs` mutates the examples and the
//! regression corpus (`fuzz/corpus-regressions/`).

mod fuzz;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

#[allow(unused_imports)]
use super::*;
use crate::cli::{Workspace, shared_cache};
use crate::support::{options, runtime, wasmpod_bin};

/// A `..` chain long enough to climb from any run directory to `/`.
fn climb() -> String {
    "../".repeat(40)
}

/// `path` (absolute) written as `/../../…/path`: the same host file seen from
/// any root the host joins it under.
fn escaping(path: &Path) -> String {
    format!(
        "/{}{}",
        climb(),
        path.display().to_string().trim_start_matches('/')
    )
}

/// A pod whose container `app` (line 7) runs busybox, with `extra` appended to
/// the container (indented 4) and `volumes` to the spec.
fn pod(extra: &str, volumes: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: hostile}}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: app\n    image: busybox\n    command: ['echo', 'SHOULD NOT RUN']\n{extra}{volumes}"
    )
}

/// Runs `yaml` through the CLI; asserts it is refused (exit 2) naming
/// `field` and `line`, without running anything.
#[track_caller]
fn refused_by_cli(yaml: &str, field: &str, line: usize, fragment: &str) {
    let ws = Workspace::new();
    let ran = ws.run_yaml(yaml, &[]);
    ran.assert_code(2);
    let wanted = format!("{field} (line {line}): ");
    assert!(
        ran.stderr
            .lines()
            .any(|l| l.contains(&wanted) && l.contains(fragment)),
        "want `{wanted}...{fragment}` in\n{ran}"
    );
    assert!(!ran.stdout.contains("SHOULD NOT RUN"), "{ran}");
}

/// `Runtime::create` refuses `yaml` with an error naming `field`.
async fn refused_by_create(yaml: &str, field: &str) {
    let pod: k8s_openapi::api::core::v1::Pod = serde_yaml::from_str(yaml).expect("a Pod");
    let valid = match wasmpod::ValidPod::from_pod(pod) {
        Ok(valid) => valid,
        Err(e) => {
            assert!(e.to_string().contains(field), "{e}");
            return;
        }
    };
    match runtime().create(valid, options()).await {
        Ok(handle) => panic!("pod {} should have been refused", handle.name()),
        Err(e) => assert!(e.to_string().contains(field), "{e}"),
    }
}

#[tokio::test]
async fn termination_message_path_with_dotdot_is_refused_and_creates_nothing() {
    let outside = tempfile::tempdir().expect("tempdir");
    let victim = outside.path().join("victim");
    let yaml = pod(
        &format!("    terminationMessagePath: {}\n", escaping(&victim)),
        "",
    );
    refused_by_cli(
        &yaml,
        "spec.containers[0].terminationMessagePath",
        10,
        "must not contain '..'",
    );
    refused_by_create(&yaml, "terminationMessagePath").await;
    assert!(!victim.exists(), "{} was created", victim.display());
    // Relative is refused too (it would be joined under the root as it is).
    let yaml = pod("    terminationMessagePath: dev/log\n", "");
    refused_by_cli(
        &yaml,
        "spec.containers[0].terminationMessagePath",
        10,
        "must be an absolute path",
    );
}

#[tokio::test]
async fn mount_path_with_dotdot_is_refused_and_creates_nothing() {
    let outside = tempfile::tempdir().expect("tempdir");
    let victim = outside.path().join("escaped-mount");
    let yaml = pod(
        &format!(
            "    volumeMounts:\n    - name: data\n      mountPath: {}\n",
            escaping(&victim)
        ),
        "  volumes:\n  - name: data\n    emptyDir: {}\n",
    );
    refused_by_cli(
        &yaml,
        "spec.containers[0].volumeMounts[0].mountPath",
        12,
        "must not contain '..'",
    );
    refused_by_create(&yaml, "mountPath").await;
    assert!(!victim.exists(), "{} was created", victim.display());
}

#[tokio::test]
async fn working_dir_host_path_and_sub_path_with_dotdot_are_refused() {
    let outside = tempfile::tempdir().expect("tempdir");
    let victim = outside.path().join("created-by-host-path");
    let host = format!("{}/sub/../created-by-host-path", outside.path().display());
    let yaml = pod(
        "    workingDir: /work/../../x\n    volumeMounts:\n    - name: host\n      mountPath: /host\n      subPath: a/../../b\n",
        &format!(
            "  volumes:\n  - name: host\n    hostPath:\n      path: {host}\n      type: DirectoryOrCreate\n"
        ),
    );
    refused_by_cli(
        &yaml,
        "spec.containers[0].workingDir",
        10,
        "must not contain '..'",
    );
    refused_by_cli(
        &yaml,
        "spec.containers[0].volumeMounts[0].subPath",
        14,
        "must not contain '..'",
    );
    refused_by_cli(
        &yaml,
        "spec.volumes[0].hostPath.path",
        18,
        "must not contain '..'",
    );
    refused_by_create(&yaml, "hostPath.path").await;
    assert!(!victim.exists(), "{} was created", victim.display());
}

/// Runs `wasmpod VERB FILE` in `ws` (its run directory, the shared compile
/// cache) to its end; returns its exit code, stderr and peak RSS in bytes
/// (`VmHWM` sampled under `/proc`: this child's own memory since its exec —
/// `wait4`'s `ru_maxrss` would count the test process's RSS too, since a
/// vforked child's pre-exec memory is its parent's).
fn run_measured(verb: &str, file: &str, ws: &Workspace) -> (Option<i32>, String, u64) {
    let mut cmd = Command::new(wasmpod_bin());
    cmd.arg(verb);
    if verb == "run" {
        cmd.arg("--run-dir").arg(ws.run_dir());
    }
    cmd.arg("--cache-dir").arg(shared_cache()).arg(file);
    cmd.current_dir(ws.dir.path());
    let (ran, usage) = super::watch(crate::cli::spawn(cmd, None), Duration::from_secs(180));
    (ran.code, ran.stderr, usage.peak_rss)
}

/// 40 env entries, each `$(previous)$(previous)`: 2^40 bytes if expanded.
fn doubling_pod(entries: usize) -> String {
    let mut env = String::from("    - {name: V0, value: xxxxxxxxxxxxxxxx}\n");
    for i in 1..entries {
        env.push_str(&format!(
            "    - {{name: V{i}, value: '$(V{p})$(V{p})'}}\n",
            p = i - 1
        ));
    }
    pod(&format!("    env:\n{env}"), "")
}

#[test]
fn env_expansion_bomb_is_refused_with_flat_memory() {
    let ws = Workspace::new();
    let file = ws.write("bomb.yaml", &doubling_pod(40));
    // 16 B · 2^13 = 128 KiB: V13 (line 24) is the first string over MAX_ARG_STRLEN.
    let (code, stderr, peak) = run_measured("validate", &file, &ws);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("spec.containers[0].env[13].value (line 24): Too long:")
            && stderr.contains("131072 bytes (MAX_ARG_STRLEN)"),
        "{stderr}"
    );
    // The expanded strings never exist: the process stays small (a full
    // expansion is 2^44 bytes; even V20 alone would be 16 MiB).
    assert!(peak < 64 << 20, "peak RSS {peak} bytes\n{stderr}");
    let (code, stderr, _) = run_measured("run", &file, &ws);
    assert_eq!(code, Some(2), "{stderr}");
}

#[test]
fn env_and_args_over_arg_max_together_are_refused() {
    // Twenty 120 KiB args: each fits MAX_ARG_STRLEN, together they pass 2 MiB.
    let big = "y".repeat(120 << 10);
    let mut args = String::from("    args:\n");
    for _ in 0..20 {
        args.push_str(&format!("    - {big}\n"));
    }
    let yaml = pod(
        &format!("    env: [{{name: BIG, value: {big}}}]\n{args}"),
        "",
    );
    let file = wasmpod::spec::parse(&yaml).expect("parses");
    let err = wasmpod::spec::validate(&file.pods[0]).expect_err("too long");
    let text = err.to_string();
    assert!(
        text.contains("spec.containers[0].args[16] (line 28): Too long: the container's arguments and environment together may not be more than 2097152 bytes (ARG_MAX)"),
        "{text}"
    );
}

/// A pod running `image` (absolute path).
fn image_pod(image: &Path) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: odd-image}}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: app\n    image: {}\n",
        image.display()
    )
}

/// `wasmpod validate` and `run` refuse `image` with `fragment`, promptly
/// (the harness fails a run that does not end within its limit).
#[track_caller]
fn image_refused(image: &Path, fragment: &str) {
    let ws = Workspace::new();
    let file = ws.write("pod.yaml", &image_pod(image));
    for verb in ["validate", "run"] {
        let (code, stderr, peak) = run_measured(verb, &file, &ws);
        assert_eq!(code, Some(2), "{verb}: {stderr}");
        assert!(
            stderr.contains(fragment),
            "{verb}: want {fragment:?} in {stderr}"
        );
        // /dev/zero read to the end grew at ~700 MB/s; the cap stops at 512 MiB
        // worth of metadata, so nothing is read at all.
        assert!(peak < 512 << 20, "{verb}: peak RSS {peak} bytes");
    }
}

#[test]
fn fifo_image_is_refused_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("image.wasm");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    image_refused(&fifo, "is a FIFO, not a regular file");
}

#[test]
fn device_directory_and_huge_sparse_images_are_refused() {
    image_refused(
        Path::new("/dev/zero"),
        "is a character device, not a regular file",
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let sub = dir.path().join("dir.wasm");
    std::fs::create_dir(&sub).expect("mkdir");
    image_refused(&sub, "is a directory, not a regular file");
    let sparse: PathBuf = dir.path().join("sparse.wasm");
    let f = std::fs::File::create(&sparse).expect("create");
    f.set_len(600 << 20).expect("set_len"); // sparse: no disk used
    image_refused(&sparse, "the most wasmpod reads is 536870912 bytes");
}

#[test]
fn nested_flow_yaml_and_huge_files_are_refused_by_the_cli() {
    let ws = Workspace::new();
    let brackets = format!("apiVersion: v1\nkind: Pod\nspec: {}\n", "[".repeat(200_000));
    let file = ws.write("brackets.yaml", &brackets);
    let (code, stderr, _) = run_measured("validate", &file, &ws);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("line 3, column ") && stderr.contains("nested more than 64 levels"),
        "{stderr}"
    );
    let huge = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    a: '{}'\n",
        "x".repeat(4 << 20)
    );
    let file = ws.write("huge.yaml", &huge);
    let (code, stderr, _) = run_measured("validate", &file, &ws);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("the most accepted is 3145728 bytes"),
        "{stderr}"
    );
}

#[test]
fn an_endless_manifest_file_is_read_only_up_to_the_size_limit() {
    // /dev/zero as the manifest: read at most 3 MiB + 1, then refused by size.
    let ws = Workspace::new();
    let (code, stderr, peak) = run_measured("validate", "/dev/zero", &ws);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(peak < 256 << 20, "peak RSS {peak} bytes\n{stderr}");
}
