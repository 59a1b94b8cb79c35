//! Where `wasmpod run` and `validate` find manifests: several `-f FILE` (kubectl style)
//! beside the positional file, directories (their `*.yaml`, `*.yml` and `*.json` files in name
//! order, not their subdirectories), `kind: List` documents, and errors that name the file,
//! the field and the line.

use std::path::Path;
use std::process::Command;

use crate::cli::{LIMIT, Ran, Workspace, shared_cache, spawn};
use crate::support::{wasmpod_bin, wat_file};

/// A pod `name` whose container `app` runs the toolbox's `echo text`.
fn echo_pod(name: &str, text: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: app\n    image: busybox\n    command: ['echo', '{text}']\n"
    )
}

/// A wasip1 module printing `text` on stdout.
fn printing_module(dir: &Path, file: &str, text: &str) {
    let wat = format!(
        r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "{text}\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const {len}))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#,
        len = text.len() + 1
    );
    wat_file(dir, file, &wat);
}

/// `wasmpod validate ARGS` in the workspace.
fn validate(ws: &Workspace, args: &[&str]) -> Ran {
    let mut cmd = Command::new(wasmpod_bin());
    cmd.arg("validate").args(args);
    cmd.arg("--cache-dir")
        .arg(shared_cache())
        .current_dir(ws.dir.path());
    spawn(cmd, None).finish(LIMIT)
}

fn mkdir(ws: &Workspace, dir: &str) {
    std::fs::create_dir_all(ws.dir.path().join(dir)).unwrap();
}

#[test]
fn files_from_several_places_run_each_with_its_own_directory() {
    let ws = Workspace::new();
    mkdir(&ws, "one");
    mkdir(&ws, "two");
    ws.write("one/pod.yaml", &echo_pod("first", "from the first file"));
    // A relative image resolves against its own file's directory, not the working directory.
    printing_module(
        &ws.dir.path().join("two"),
        "hello.wasm",
        "from the second file",
    );
    let second = "apiVersion: v1\nkind: Pod\nmetadata: {name: second}\nspec:\n  restartPolicy: Never\n  containers: [{name: app, image: hello.wasm}]\n";
    ws.write("two/pod.yaml", second);
    let ran = ws.run(&["one/pod.yaml", "-f", "two/pod.yaml"]);
    ran.assert_code(0);
    assert_eq!(ran.lines_of("first/app"), ["from the first file"], "{ran}");
    assert_eq!(
        ran.lines_of("second/app"),
        ["from the second file"],
        "{ran}"
    );
    assert!(ran.notes().contains(&"pod second Succeeded"), "{ran}");
}

#[test]
fn a_list_runs_its_pods() {
    let ws = Workspace::new();
    let item = |name: &str, text: &str| {
        echo_pod(name, text)
            .lines()
            .enumerate()
            .map(|(i, l)| format!("{}{l}\n", if i == 0 { "- " } else { "  " }))
            .collect::<String>()
    };
    let list = format!(
        "apiVersion: v1\nkind: List\nitems:\n{}- apiVersion: v1\n  kind: ConfigMap\n  metadata: {{name: settings}}\n  data: {{mode: fast}}\n{}",
        item("a", "pod a"),
        item("b", "pod b")
    );
    let ran = ws.run(&["-f", &ws.write("list.yaml", &list)]);
    ran.assert_code(0);
    assert_eq!(ran.lines_of("a/app"), ["pod a"], "{ran}");
    assert_eq!(ran.lines_of("b/app"), ["pod b"], "{ran}");
}

#[test]
fn a_directory_loads_its_manifests_in_name_order() {
    let ws = Workspace::new();
    mkdir(&ws, "pods/nested");
    ws.write("pods/2-b.yml", &echo_pod("b", "pod b"));
    let json = r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"},
 "spec": {"restartPolicy": "Never", "containers": [{"name": "app", "image": "busybox", "command": ["echo", "pod a"]}]}}"#;
    ws.write("pods/10-a.json", json);
    ws.write(
        "pods/1-config.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
    );
    // Neither other files nor subdirectories are read.
    ws.write("pods/README.md", "not: [a manifest");
    ws.write("pods/nested/bad.yaml", "not: [a manifest");
    let ran = validate(&ws, &["pods"]);
    ran.assert_code(0);
    let valid: Vec<&str> = ran
        .notes()
        .into_iter()
        .filter(|n| n.ends_with("is valid"))
        .collect();
    // By name: "10-a.json" sorts before "2-b.yml".
    assert_eq!(valid, ["pod \"a\" is valid", "pod \"b\" is valid"], "{ran}");

    let ran = ws.run(&["-f", "pods"]);
    ran.assert_code(0);
    assert_eq!(ran.lines_of("a/app"), ["pod a"], "{ran}");
    assert_eq!(ran.lines_of("b/app"), ["pod b"], "{ran}");

    mkdir(&ws, "empty");
    let ran = validate(&ws, &["-f", "empty"]);
    ran.assert_code(2);
    ran.assert_stderr_has("empty: the directory has no .yaml, .yml or .json file");
}

#[test]
fn bad_input_names_the_file_the_field_and_the_line() {
    let ws = Workspace::new();
    ws.write("good.yaml", &echo_pod("p", "SHOULD NOT RUN"));
    let bad = echo_pod("q", "SHOULD NOT RUN").replace("    image: busybox\n", "");
    ws.write("bad.yaml", &bad);
    let list = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: p}\n  spec:\n    containers: [{name: app, image: busybox}]\n";
    ws.write("list.yaml", list);
    let ran = validate(
        &ws,
        &["-f", "good.yaml", "-f", "bad.yaml", "-f", "list.yaml"],
    );
    ran.assert_code(2);
    ran.assert_stderr_has("bad.yaml: pod \"q\" is invalid:");
    ran.assert_stderr_has("spec.containers[0].image (line 8): Required value");
    // A pod of one name in two files.
    ran.assert_stderr_has("list.yaml: pod \"p\" is invalid:");
    ran.assert_stderr_has(
        "items[0].metadata.name (line 6): Duplicate value: \"Pod default/p is defined twice\"",
    );
    assert!(
        !ran.stderr.contains("is valid"),
        "nothing is checked further\n{ran}"
    );

    let ran = ws.run(&["-f", "bad.yaml"]);
    ran.assert_code(2);
    ran.assert_stderr_has("bad.yaml: pod \"q\" is invalid:");
    assert_eq!(ran.stdout, "", "{ran}");

    let ran = validate(&ws, &["-f", "-", "-f", "-"]);
    ran.assert_code(2);
    ran.assert_stderr_has("standard input (-) can be read only once");
    let ran = validate(&ws, &["-f", "missing.yaml"]);
    ran.assert_code(2);
    ran.assert_stderr_has("failed to read missing.yaml");
}
