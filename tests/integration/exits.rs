//! How containers end and what they are started with: exit codes and
//! reasons (components, wasip1 modules, traps), argv, environment, working
//! directory, and images that cannot be loaded.

use std::path::Path;

use crate::support::*;

/// A pod with restartPolicy Never and the given container entries.
fn pod(name: &str, containers: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  restartPolicy: Never\n  containers:\n{containers}"
    )
}

/// One container entry running a shell script.
fn sh(name: &str, script: &str) -> String {
    format!("  - name: {name}\n    image: busybox\n    command: ['sh', '-c', '{script}']\n")
}

/// A wasip1 command printing `text` to stdout, then calling `proc_exit(code)`
/// (or returning from `_start` when `code` is `None`).
fn wasip1_wat(text: &str, code: Option<i32>) -> String {
    let exit = code
        .map(|c| format!("(call $proc_exit (i32.const {c}))"))
        .unwrap_or_default();
    format!(
        r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "{text}\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const {len}))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    {exit}))"#,
        len = text.len() + 1
    )
}

/// A pod running one container from the image file `image`.
fn file_pod(name: &str, image: &Path) -> String {
    pod(
        name,
        &format!("  - name: app\n    image: {}\n", image.display()),
    )
}

#[tokio::test]
async fn nonzero_exit_is_reported_with_reason_error_and_fails_a_never_pod() {
    let run = run_pod(&pod("exit42", &sh("app", "echo before; exit 42"))).await;
    assert_eq!(run.phase(), "Failed", "{}", run.dump());
    let t = terminated_state(&run, "app");
    assert_eq!(
        (t.exit_code, t.reason.as_deref()),
        (42, Some("Error")),
        "{}",
        run.dump()
    );
    assert_eq!(run.lines("app"), ["before"]);
    assert_eq!(run.status("app").restart_count, 0);
}

#[tokio::test]
async fn zero_exit_is_completed_and_succeeds_the_pod() {
    let run = run_pod(&pod("exit0", &sh("app", "exit 0"))).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    let t = terminated_state(&run, "app");
    assert_eq!((t.exit_code, t.reason.as_deref()), (0, Some("Completed")));
    assert_eq!(t.message, None);
}

#[tokio::test]
async fn wasip1_module_prints_and_its_proc_exit_code_is_the_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let image = wat_file(
        dir.path(),
        "hello.wasm",
        &wasip1_wat("hello from wasip1", Some(7)),
    );
    let run = run_pod(&file_pod("p1-exit", &image)).await;
    assert_eq!(run.lines("app"), ["hello from wasip1"], "{}", run.dump());
    let t = terminated_state(&run, "app");
    assert_eq!(
        (t.exit_code, t.reason.as_deref()),
        (7, Some("Error")),
        "{}",
        run.dump()
    );
    assert_eq!(run.phase(), "Failed");
}

#[tokio::test]
async fn exit_codes_are_what_a_process_reports_low_8_bits() {
    // wasip1: proc_exit(n) of any n; wasip2: the toolbox's `exit n`
    // (wasi:cli/exit.exit-with-code takes the low 8 bits already).
    let dir = tempfile::tempdir().unwrap();
    let codes = [0, 1, 125, 126, 127, 128, 255, 256, 257, -1];
    let mut containers = String::new();
    for (i, code) in codes.iter().enumerate() {
        let image = wat_file(
            dir.path(),
            &format!("exit{i}.wasm"),
            &wasip1_wat("bye", Some(*code)),
        );
        containers.push_str(&format!(
            "  - name: p1-{i}\n    image: {}\n",
            image.display()
        ));
        if *code >= 0 {
            containers.push_str(&sh(&format!("p2-{i}"), &format!("exit {code}")));
        }
    }
    let run = run_pod(&pod("exit-codes", &containers)).await;
    for (i, code) in codes.iter().enumerate() {
        assert_eq!(
            run.exit_code(&format!("p1-{i}")),
            code & 0xff,
            "proc_exit({code})"
        );
        if *code >= 0 {
            assert_eq!(
                run.exit_code(&format!("p2-{i}")),
                code & 0xff,
                "exit {code}"
            );
        }
    }
}

#[tokio::test]
async fn wasip1_module_returning_from_start_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let image = wat_file(dir.path(), "ret.wasm", &wasip1_wat("returning", None));
    let run = run_pod(&file_pod("p1-return", &image)).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    assert_eq!(run.lines("app"), ["returning"]);
    assert_eq!(run.exit_code("app"), 0);
}

#[tokio::test]
async fn trap_is_exit_134_with_the_trap_as_message() {
    let yaml = pod(
        "trap",
        "  - name: app\n    image: busybox\n    command: [trapnow]\n",
    );
    let run = run_pod(&yaml).await;
    assert_eq!(run.phase(), "Failed", "{}", run.dump());
    let t = terminated_state(&run, "app");
    assert_eq!((t.exit_code, t.reason.as_deref()), (134, Some("Error")));
    let message = t.message.unwrap_or_default();
    assert!(
        message.contains("wasm trap") && message.contains("unreachable"),
        "termination message: {message}"
    );
    // The Exited event says the same.
    assert!(
        run.events
            .iter()
            .any(|e| e.container.as_deref() == Some("app")
                && e.reason == "Exited"
                && e.message.contains("134")
                && e.message.contains("unreachable")),
        "{}",
        run.dump()
    );
}

#[tokio::test]
async fn going_past_the_memory_limit_is_oom_killed() {
    let limited = |name: &str, size: &str| {
        format!(
            "  - name: {name}\n    image: busybox\n    command: [fill-mem, {size}]\n    resources: {{limits: {{memory: 32Mi}}, requests: {{memory: 16Mi}}}}\n"
        )
    };
    let yaml = pod(
        "oom",
        &format!("{}{}", limited("hog", "64M"), limited("fits", "8M")),
    );
    let run = run_pod(&yaml).await;
    let hog = terminated_state(&run, "hog");
    assert_eq!(
        (hog.exit_code, hog.reason.as_deref()),
        (137, Some("OOMKilled")),
        "{}",
        run.dump()
    );
    assert_eq!(run.exit_code("fits"), 0, "{}", run.dump());
    assert!(
        run.lines("fits")
            .iter()
            .any(|l| l == "fill-mem: allocated 8388608 bytes")
    );
    assert_eq!(run.phase(), "Failed");
}

#[tokio::test]
async fn command_then_args_make_argv() {
    let yaml = pod(
        "argv",
        "  - name: app\n    image: busybox\n    command: [echo, a, b]\n    args: [c]\n",
    );
    let run = run_pod(&yaml).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    assert_eq!(run.lines("app"), ["a b c"]);
}

#[tokio::test]
async fn args_alone_follow_the_images_default_argv0() {
    // busybox's default argv is `sh`: args are appended to it, and `$0` of
    // `sh -c` is the next argument (here `named`).
    let yaml = pod(
        "args-only",
        "  - name: app\n    image: busybox\n    args: ['-c', 'echo via-args $0', 'named']\n  - name: bare\n    image: busybox\n    args: ['-c', 'echo bare $0']\n",
    );
    let run = run_pod(&yaml).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    assert_eq!(run.lines("app"), ["via-args named"]);
    // Without an operand after the script, `$0` is argv[0]: the default `sh`.
    assert_eq!(run.lines("bare"), ["bare sh"]);
}

#[tokio::test]
async fn env_values_field_refs_and_hostname() {
    let yaml = "apiVersion: v1
kind: Pod
metadata:
  name: envpod
  namespace: team-a
  labels: {app: web, tier: front}
spec:
  restartPolicy: Never
  containers:
  - name: app
    image: busybox
    env:
    - {name: GREETING, value: hello world}
    - {name: EMPTY, value: ''}
    - name: POD_NAME
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    - name: POD_NS
      valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
    - name: APP
      valueFrom: {fieldRef: {fieldPath: \"metadata.labels['app']\"}}
    command: ['sh', '-c', 'echo \"greeting=$GREETING\"; echo \"empty=[$EMPTY]\"; echo \"name=$POD_NAME ns=$POD_NS app=$APP\"; echo \"host=$HOSTNAME\"; hostname']
";
    let run = run_pod(yaml).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    assert_eq!(
        run.lines("app"),
        [
            "greeting=hello world",
            "empty=[]",
            "name=envpod ns=team-a app=web",
            "host=envpod",
            "envpod",
        ]
    );
}

#[tokio::test]
async fn dollar_references_in_command_and_args_are_expanded() {
    // No shell involved: `echo` prints the expanded argv.
    let yaml = "apiVersion: v1
kind: Pod
metadata: {name: expand-args}
spec:
  restartPolicy: Never
  containers:
  - name: app
    image: busybox
    env:
    - {name: A, value: one}
    - {name: B, value: two}
    command: [echo, '$(A)']
    args: ['$(B)-$(A)', '$(UNDEFINED)', '$$(A)', 'cost:$5']
";
    let run = run_pod(yaml).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    assert_eq!(run.lines("app"), ["one two-one $(UNDEFINED) $(A) cost:$5"]);
}

#[tokio::test]
async fn dollar_references_in_env_values_use_earlier_variables() {
    // Kubernetes: `$(A)` (defined earlier) expands, `$(C)` (defined later)
    // and `$(MISSING)` stay verbatim, `$$` is an escaped `$`.
    let yaml = "apiVersion: v1
kind: Pod
metadata: {name: expand-env}
spec:
  restartPolicy: Never
  containers:
  - name: app
    image: busybox
    env:
    - {name: A, value: one}
    - {name: B, value: '$(A)-two-$(C)-$(MISSING)-$$(A)'}
    - {name: C, value: three}
    - name: POD
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    - {name: D, value: 'pod=$(POD)'}
    command: ['sh', '-c', 'echo \"B=$B\"; echo \"D=$D\"']
";
    let run = run_pod(yaml).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    assert_eq!(
        run.lines("app"),
        ["B=one-two-$(C)-$(MISSING)-$(A)", "D=pod=expand-env"]
    );
}

#[tokio::test]
async fn working_dir_is_the_current_directory() {
    let yaml = "apiVersion: v1
kind: Pod
metadata: {name: workdir}
spec:
  restartPolicy: Never
  volumes:
  - {name: work, emptyDir: {}}
  containers:
  - name: app
    image: busybox
    workingDir: /srv/work
    volumeMounts: [{name: work, mountPath: /srv/work}]
    command: ['sh', '-c', 'pwd; echo relative > rel.txt; cat /srv/work/rel.txt']
";
    let run = run_pod(yaml).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    assert_eq!(run.lines("app"), ["/srv/work", "relative"]);
}

/// Creates `yaml`, which must fail on container `app`'s image: the error's
/// Kubernetes reason (also the container's waiting reason), its text, and
/// the pod's status at that point.
async fn image_error(yaml: &str) -> (String, String, k8s_openapi::api::core::v1::Pod) {
    let err = create_error(yaml, options()).await;
    let text = err.to_string();
    let wasmpod::Error::Image {
        container,
        cause,
        pod,
        ..
    } = err
    else {
        panic!("expected Error::Image, got {err:?}");
    };
    assert_eq!(container, "app");
    assert!(text.contains("\"app\""), "the container is named: {text}");
    assert_eq!(
        waiting_reason(&pod, "app").as_deref(),
        Some(cause.reason()),
        "the waiting reason is the error's"
    );
    assert_eq!(
        pod.status.as_ref().unwrap().phase.as_deref(),
        Some("Pending")
    );
    (cause.reason().to_string(), cause.to_string(), *pod)
}

#[tokio::test]
async fn missing_image_file_is_err_image_pull() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.wasm");
    let yaml = pod(
        "missing-image",
        &format!(
            "  - name: ok\n    image: busybox\n  - name: app\n    image: {}\n",
            missing.display()
        ),
    );
    let (reason, cause, pod) = image_error(&yaml).await;
    assert_eq!(reason, "ErrImagePull");
    assert!(
        cause.contains("nope.wasm"),
        "the error names the file: {cause}"
    );
    let message = status_of(&pod, "app")
        .state
        .unwrap()
        .waiting
        .unwrap()
        .message;
    assert!(
        message.as_deref().unwrap_or_default().contains("nope.wasm"),
        "{message:?}"
    );
}

#[tokio::test]
async fn a_file_that_is_not_wasm_is_invalid_image_name() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("script.wasm");
    std::fs::write(&image, "#!/bin/sh\necho not wasm\n").unwrap();
    let (reason, _, _) = image_error(&file_pod("not-wasm", &image)).await;
    assert_eq!(reason, "InvalidImageName");
}

#[tokio::test]
async fn a_component_importing_an_unknown_interface_is_create_container_error() {
    let dir = tempfile::tempdir().unwrap();
    let image = wat_file(
        dir.path(),
        "needs-foo.wasm",
        r#"(component (import "foo:bar/baz" (instance (export "f" (func)))))"#,
    );
    let (reason, cause, _) = image_error(&file_pod("unknown-import", &image)).await;
    assert_eq!(reason, "CreateContainerError");
    assert!(
        cause.contains("foo:bar/baz"),
        "the missing import is named: {cause}"
    );
}

#[tokio::test]
async fn two_pods_with_the_same_image_content_both_run() {
    // Same bytes under two names (one compilation, by content digest), and
    // the same file again, in pods created side by side.
    let dir = tempfile::tempdir().unwrap();
    let wat = wasip1_wat("same image", Some(3));
    let a = wat_file(dir.path(), "a.wasm", &wat);
    let b = wat_file(dir.path(), "b.wasm", &wat);
    let (ya, yb, yc) = (
        file_pod("same-a", &a),
        file_pod("same-b", &b),
        file_pod("same-c", &a),
    );
    let (ra, rb, rc) = tokio::join!(run_pod(&ya), run_pod(&yb), run_pod(&yc));
    for run in [ra, rb, rc] {
        assert_eq!(run.lines("app"), ["same image"], "{}", run.dump());
        assert_eq!(run.exit_code("app"), 3);
    }
}
