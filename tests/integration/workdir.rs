//! `workingDir` is the guest's working directory (issue 9): what
//! `wasi:cli/environment.initial-cwd` reports, and where relative paths of
//! wasi-libc programs (Rust std, C) land, for a wasip2 component (the
//! hostile guest's probes) and a wasip1 module (WAT). The directory may be
//! in a volume or in the container's private root (created there), and is
//! `/` when unset.

use std::path::Path;

use crate::support::*;

/// A container running `hostile ARGV...` with `extra` YAML (container
/// indentation).
fn probe(name: &str, argv: &[&str], extra: &str) -> String {
    let argv: Vec<String> = std::iter::once("hostile")
        .chain(argv.iter().copied())
        .map(|a| format!("{a:?}"))
        .collect();
    format!(
        "  - name: {name}\n    image: {:?}\n    command: [{}]\n{extra}",
        wasmpod_guests::HOSTILE_PATH,
        argv.join(", ")
    )
}

fn pod(name: &str, volumes: &str, containers: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  restartPolicy: Never\n{volumes}  containers:\n{containers}"
    )
}

fn host_volume(dir: &Path) -> String {
    format!(
        "  volumes:\n  - {{name: data, hostPath: {{path: {:?}, type: Directory}}}}\n",
        dir.display()
    )
}

const AT_DATA: &str = "    workingDir: /data\n    volumeMounts: [{name: data, mountPath: /data}]\n";

#[tokio::test]
async fn working_dir_in_a_volume_holds_relative_paths_of_a_component() {
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("msg.txt"), "hello from /data\n").unwrap();
    let containers = [
        probe("cwd", &["cwd"], AT_DATA),
        probe("read", &["read-rel", "msg.txt"], AT_DATA),
        probe("read-dot", &["read-rel", "./msg.txt"], AT_DATA),
        probe(
            "write",
            &["write-rel", "out.txt", "written", "/data/out.txt"],
            AT_DATA,
        ),
    ]
    .concat();
    let run = run_pod(&pod("wd-volume", &host_volume(data.path()), &containers)).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    // wasi-libc's getcwd is its own, "/" until the program calls chdir; the
    // host's initial-cwd is the working directory.
    assert_eq!(run.lines("cwd"), ["cwd=/", "initial-cwd=/data"]);
    assert_eq!(run.lines("read"), ["content=hello from /data"]);
    assert_eq!(run.lines("read-dot"), ["content=hello from /data"]);
    assert_eq!(run.lines("write"), ["wrote=out.txt", "readback=written"]);
    assert_eq!(
        std::fs::read_to_string(data.path().join("out.txt")).unwrap(),
        "written"
    );
}

#[tokio::test]
async fn working_dir_inside_a_volume_is_created_there() {
    let data = tempfile::tempdir().unwrap();
    let extra =
        "    workingDir: /data/sub/dir\n    volumeMounts: [{name: data, mountPath: /data}]\n";
    let containers = probe(
        "write",
        &["write-rel", "f", "deep", "/data/sub/dir/f"],
        extra,
    );
    let run = run_pod(&pod("wd-sub", &host_volume(data.path()), &containers)).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    assert_eq!(run.lines("write"), ["wrote=f", "readback=deep"]);
    assert_eq!(
        std::fs::read_to_string(data.path().join("sub/dir/f")).unwrap(),
        "deep"
    );
}

#[tokio::test]
async fn working_dir_in_the_private_root_is_created() {
    let extra = "    workingDir: /srv/app\n";
    let containers = [
        probe("cwd", &["cwd"], extra),
        probe(
            "write",
            &["write-rel", "note", "in root", "/srv/app/note"],
            extra,
        ),
        // Absolute paths into the root's own directories keep their meaning.
        probe("tmp", &["write-rel", "/tmp/t", "tmp", "/tmp/t"], extra),
        probe(
            "srv",
            &["write-rel", "/srv/other", "srv", "/srv/other"],
            extra,
        ),
    ]
    .concat();
    let run = run_pod(&pod("wd-root", "", &containers)).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    assert_eq!(run.lines("cwd"), ["cwd=/", "initial-cwd=/srv/app"]);
    assert_eq!(run.lines("write"), ["wrote=note", "readback=in root"]);
    assert_eq!(run.lines("tmp"), ["wrote=/tmp/t", "readback=tmp"]);
    assert_eq!(run.lines("srv"), ["wrote=/srv/other", "readback=srv"]);
}

#[tokio::test]
async fn unset_working_dir_is_the_root() {
    let containers = [
        probe("cwd", &["cwd"], ""),
        probe("write", &["write-rel", "top", "at root", "/top"], ""),
    ]
    .concat();
    let run = run_pod(&pod("wd-unset", "", &containers)).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    assert_eq!(run.lines("cwd"), ["cwd=/", "initial-cwd=/"]);
    assert_eq!(run.lines("write"), ["wrote=top", "readback=at root"]);
}

/// A read-only mount cannot have its working directory created: the
/// container does not start, and the error names `workingDir`.
#[tokio::test]
async fn missing_working_dir_in_a_read_only_mount_keeps_the_container_from_starting() {
    let data = tempfile::tempdir().unwrap();
    let extra = "    workingDir: /data/missing\n    volumeMounts: [{name: data, mountPath: /data, readOnly: true}]\n";
    let containers = probe("cwd", &["cwd"], extra);
    let run = run_pod(&pod("wd-ro", &host_volume(data.path()), &containers)).await;
    let dump = run.dump();
    assert!(!run.started("cwd"), "{dump}");
    // The sandbox's errors end the instance before it starts (128).
    assert_eq!(run.exit_code("cwd"), 128, "{dump}");
    let failed = run.event_messages("cwd", "Failed").join("\n");
    assert!(failed.contains("workingDir \"missing\""), "{dump}");
    assert!(!data.path().join("missing").exists());
}

/// A wasip1 module opening `msg.txt` as wasi-libc does when the program
/// never called `chdir` (its cwd is `/`): wasi-libc strips `/` and `./` from
/// preopen names, so `/` and `.` both become the empty prefix that matches
/// any path, and `__wasilibc_find_abspath` scans the preopens from the last
/// one, keeping the first of equal length. So: the last preopen named `/`
/// or `.`, then `path_open` of the path relative to it.
const WASIP1_READ_REL: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $prestat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_dir_name" (func $dir_name (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 300) "msg.txt")
  (func (export "_start")
    (local $fd i32) (local $best i32) (local $c i32)
    (local.set $fd (i32.const 3))
    (local.set $best (i32.const -1))
    (block $done
      (loop $next
        (br_if $done (i32.ne (call $prestat_get (local.get $fd) (i32.const 0)) (i32.const 0)))
        (if (i32.eq (i32.load (i32.const 4)) (i32.const 1))
          (then
            (drop (call $dir_name (local.get $fd) (i32.const 16) (i32.const 1)))
            (local.set $c (i32.load8_u (i32.const 16)))
            (if (i32.or (i32.eq (local.get $c) (i32.const 46)) (i32.eq (local.get $c) (i32.const 47)))
              (then (local.set $best (local.get $fd))))))
        (local.set $fd (i32.add (local.get $fd) (i32.const 1)))
        (br $next)))
    (if (i32.lt_s (local.get $best) (i32.const 0)) (then (call $exit (i32.const 3))))
    (if (call $path_open (local.get $best) (i32.const 0) (i32.const 300) (i32.const 7)
          (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 400))
      (then (call $exit (i32.const 4))))
    (i32.store (i32.const 500) (i32.const 1024))
    (i32.store (i32.const 504) (i32.const 512))
    (if (call $fd_read (i32.load (i32.const 400)) (i32.const 500) (i32.const 1) (i32.const 520))
      (then (call $exit (i32.const 5))))
    (i32.store (i32.const 600) (i32.const 1024))
    (i32.store (i32.const 604) (i32.load (i32.const 520)))
    (drop (call $fd_write (i32.const 1) (i32.const 600) (i32.const 1) (i32.const 620)))))
"#;

#[tokio::test]
async fn working_dir_holds_relative_paths_of_a_wasip1_module() {
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("msg.txt"), "hello wasip1\n").unwrap();
    let images = tempfile::tempdir().unwrap();
    let image = wat_file(images.path(), "read-rel.wasm", WASIP1_READ_REL);
    let container = |name: &str, extra: &str| {
        format!(
            "  - name: {name}\n    image: {:?}\n{extra}",
            image.display()
        )
    };
    let containers = [
        container("in-volume", AT_DATA),
        // Unset: relative paths are the root's, which has no msg.txt.
        container(
            "unset",
            "    volumeMounts: [{name: data, mountPath: /data}]\n",
        ),
    ]
    .concat();
    let run = run_pod(&pod("wd-p1", &host_volume(data.path()), &containers)).await;
    assert_eq!(run.lines("in-volume"), ["hello wasip1"], "{}", run.dump());
    assert_eq!(run.exit_code("in-volume"), 0);
    assert_eq!(
        run.exit_code("unset"),
        4,
        "path_open failed: {}",
        run.dump()
    );
}
