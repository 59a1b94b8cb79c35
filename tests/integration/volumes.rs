//! Volumes and the filesystem guests see: emptyDir (shared, surviving
//! restarts, removed with the pod), hostPath (types, readOnly, subPath), the
//! private writable root of each container, and nothing else of the host.

use std::path::Path;
use std::time::Duration;

use crate::support::*;

const LIMIT: Duration = Duration::from_secs(10);

/// A pod; `volumes` are the entries under `volumes:`.
fn pod(name: &str, policy: &str, volumes: &str, init: &str, containers: &str) -> String {
    let volumes = if volumes.is_empty() {
        String::new()
    } else {
        format!("  volumes:\n{volumes}")
    };
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  restartPolicy: {policy}\n{volumes}{init}  containers:\n{containers}"
    )
}

/// A container entry running `script`, with `mounts` (flow-style list
/// entries) and `extra` fields.
fn sh(name: &str, script: &str, mounts: &str, extra: &str) -> String {
    let mounts = if mounts.is_empty() {
        String::new()
    } else {
        format!("    volumeMounts: [{mounts}]\n")
    };
    format!(
        "  - name: {name}\n    image: busybox\n{extra}{mounts}    command: ['sh', '-c', '{script}']\n"
    )
}

fn host_path(name: &str, path: &Path, kind: &str) -> String {
    format!(
        "  - name: {name}\n    hostPath: {{path: {}, type: {kind}}}\n",
        path.display()
    )
}

/// A shell loop waiting (without a deadline: the test stops the pod) for
/// `file` to exist.
fn wait_file(file: &str) -> String {
    format!("until [ -f {file} ]; do sleep 0.05; done")
}

#[tokio::test]
async fn empty_dir_is_shared_live_between_containers() {
    // The log-shipper pattern: a sidecar follows a file the app appends to.
    let run_dir = tempfile::tempdir().unwrap();
    let init = format!(
        "  initContainers:\n{}",
        sh(
            "shipper",
            "tail -F /var/log/app.log",
            "{name: logs, mountPath: /var/log}",
            "    restartPolicy: Always\n"
        )
    );
    // The app waits for the test's go-ahead (written into the volume from
    // the host once the shipper printed every line) before it exits.
    let app = sh(
        "app",
        &format!(
            "for i in 1 2 3; do echo \"entry $i\" >> /logs/app.log; done; {}; echo done",
            wait_file("/logs/shipped")
        ),
        "{name: logs, mountPath: /logs}",
        "",
    );
    let yaml = pod(
        "log-shipper",
        "Never",
        "  - {name: logs, emptyDir: {}}\n",
        &init,
        &app,
    );
    let opts = options().with_run_dir(run_dir.path().to_path_buf());
    let (pod_run, mut logs) = start_watched(&yaml, opts).await;
    logs.wait_line("shipper", "entry 3", LIMIT).await;
    let volume = pod_run.handle.run_dir().join("volumes").join("logs");
    std::fs::write(volume.join("shipped"), "").unwrap();
    let run = pod_run.finish(Duration::from_secs(30)).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    let shipped: Vec<String> = run
        .lines("shipper")
        .into_iter()
        .filter(|l| l.starts_with("entry"))
        .collect();
    assert_eq!(shipped, ["entry 1", "entry 2", "entry 3"], "{}", run.dump());
    assert_eq!(run.lines("app"), ["done"]);
}

#[tokio::test]
async fn empty_dir_survives_a_container_restart_but_the_root_does_not() {
    // First run: leave a marker in the volume and one in the private root,
    // then fail. Second run: the volume's marker is there, the root's is not.
    let script = "if [ -f /data/marker ]; then echo \"found $(cat /data/marker)\"; \
                  if [ -f /root-marker ]; then echo root-kept; fi; exit 0; fi; \
                  echo first-run > /data/marker; echo x > /root-marker; exit 1";
    let yaml = pod(
        "survive",
        "OnFailure",
        "  - {name: data, emptyDir: {}}\n",
        "",
        &sh("app", script, "{name: data, mountPath: /data}", ""),
    );
    let run = run_pod(&yaml).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    assert_eq!(run.lines("app"), ["found first-run"], "{}", run.dump());
    let s = run.status("app");
    assert_eq!(s.restart_count, 1);
    assert_eq!(s.last_state.unwrap().terminated.unwrap().exit_code, 1);
}

#[tokio::test]
async fn empty_dir_is_removed_after_the_pod_and_logs_stay() {
    let run_dir = tempfile::tempdir().unwrap();
    let app = sh(
        "app",
        &format!(
            "echo payload > /scratch/data; echo wrote; {}",
            wait_file("/scratch/go")
        ),
        "{name: scratch, mountPath: /scratch}",
        "",
    );
    let yaml = pod(
        "cleanup",
        "Never",
        "  - {name: scratch, emptyDir: {}}\n",
        "",
        &app,
    );
    let opts = options().with_run_dir(run_dir.path().to_path_buf());
    let (pod_run, mut logs) = start_watched(&yaml, opts).await;
    logs.wait_line("app", "wrote", LIMIT).await;
    // While the pod runs, the volume is a directory under the run dir.
    let volume = run_dir.path().join("volumes").join("scratch");
    assert_eq!(
        std::fs::read_to_string(volume.join("data")).unwrap(),
        "payload\n"
    );
    std::fs::write(volume.join("go"), "").unwrap();
    let run = pod_run.finish(Duration::from_secs(30)).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());

    assert!(!volume.exists(), "the emptyDir is removed with the pod");
    // On a disk file system the tree is renamed away at once and removed in the
    // background (`sandbox/fs/trash.rs`): wait, within a bound, for that to finish.
    let volumes = run_dir.path().join("volumes");
    let empty = || !volumes.exists() || std::fs::read_dir(&volumes).unwrap().next().is_none();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(empty(), "nothing is left under volumes/");
    // The log file stays, in the CRI format.
    let log = std::fs::read_to_string(run_dir.path().join("logs/app/0.log")).unwrap();
    let records: Vec<&str> = log.lines().collect();
    assert_eq!(records.len(), 1, "{log}");
    for record in records {
        let mut parts = record.splitn(4, ' ');
        let (time, stream, tag, text) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap_or_default(),
        );
        assert_eq!((stream, tag, text), ("stdout", "F", "wrote"), "{record}");
        // RFC 3339 in UTC with up to nanosecond precision, trailing zeros
        // trimmed like Go's RFC3339Nano: 2026-11-21T06:09:00.12345678Z.
        let (whole, fraction) = time
            .strip_suffix('Z')
            .map(|t| t.split_once('.').unwrap_or((t, "")))
            .unwrap_or_else(|| panic!("not UTC: {record}"));
        assert_eq!(whole.len(), "2026-11-21T06:09:00".len(), "{record}");
        assert!(
            fraction.len() <= 9 && fraction.chars().all(|c| c.is_ascii_digit()),
            "{record}"
        );
        assert!(
            time.parse::<jiff::Timestamp>().is_ok(),
            "not RFC 3339: {record}"
        );
    }
}

#[tokio::test]
async fn host_path_is_the_host_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("from-host.txt"), "hello guest\n").unwrap();
    let app = sh(
        "app",
        "cat /host/from-host.txt; echo hello host > /host/from-guest.txt; mkdir /host/sub",
        "{name: host, mountPath: /host}",
        "",
    );
    let yaml = pod(
        "host-path",
        "Never",
        &host_path("host", dir.path(), "Directory"),
        "",
        &app,
    );
    let run = run_pod(&yaml).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    assert_eq!(run.lines("app"), ["hello guest"]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("from-guest.txt")).unwrap(),
        "hello host\n"
    );
    assert!(dir.path().join("sub").is_dir());
}

#[tokio::test]
async fn host_path_directory_or_create_creates_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("made/by/wasmpod");
    let yaml = pod(
        "host-path-create",
        "Never",
        &host_path("out", &path, "DirectoryOrCreate"),
        "",
        &sh(
            "app",
            "echo created > /out/file",
            "{name: out, mountPath: /out}",
            "",
        ),
    );
    let run = run_pod(&yaml).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    assert!(path.is_dir());
    assert_eq!(
        std::fs::read_to_string(path.join("file")).unwrap(),
        "created\n"
    );
}

#[tokio::test]
async fn host_path_of_type_directory_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let yaml = pod(
        "host-path-missing",
        "Never",
        &host_path("config-dir", &missing, "Directory"),
        "",
        &sh("app", "echo never", "{name: config-dir, mountPath: /c}", ""),
    );
    match create_error(&yaml, options()).await {
        wasmpod::Error::Sandbox(e) => {
            let message = e.to_string();
            assert!(
                message.contains("config-dir") && message.contains("missing"),
                "names the volume and the path: {message}"
            );
        }
        other => panic!("expected Error::Sandbox, got {other:?}"),
    }
    assert!(!missing.exists(), "type Directory does not create it");
}

#[tokio::test]
async fn read_only_mount_allows_reads_and_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.txt"), "readable\n").unwrap();
    let app = sh(
        "app",
        "cat /ro/in.txt && echo changed > /ro/in.txt",
        "{name: data, mountPath: /ro, readOnly: true}",
        "",
    );
    let touch = sh(
        "toucher",
        "touch /ro/new",
        "{name: data, mountPath: /ro, readOnly: true}",
        "",
    );
    let yaml = pod(
        "read-only",
        "Never",
        &host_path("data", dir.path(), "Directory"),
        "",
        &[app, touch].concat(),
    );
    let run = run_pod(&yaml).await;
    assert_eq!(run.phase(), "Failed", "{}", run.dump());
    for (c, path) in [("app", "/ro/in.txt"), ("toucher", "/ro/new")] {
        assert_ne!(run.exit_code(c), 0, "{c}: {}", run.dump());
        let refusal = run
            .logs
            .iter()
            .find(|l| l.container == c && l.line.contains(path))
            .unwrap_or_else(|| panic!("{c} reports the failed write: {}", run.dump()));
        assert_eq!(refusal.stream, wasmpod::Stream::Stderr);
        let text = refusal.line.to_lowercase();
        assert!(
            text.contains("not permitted")
                || text.contains("permission")
                || text.contains("read-only"),
            "{}",
            refusal.line
        );
    }
    assert_eq!(run.lines("app")[0], "readable");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("in.txt")).unwrap(),
        "readable\n"
    );
    assert!(!dir.path().join("new").exists());
}

#[tokio::test]
async fn sub_path_mounts_a_sub_directory_created_if_missing() {
    let dir = tempfile::tempdir().unwrap();
    // The init container sees only a/b (as /sub); the app sees everything.
    let init = format!(
        "  initContainers:\n{}",
        sh(
            "writer",
            "echo in-sub > /sub/file; ls /sub",
            "{name: vol, mountPath: /sub, subPath: a/b}",
            ""
        )
    );
    let app = sh(
        "reader",
        "cat /all/a/b/file",
        "{name: vol, mountPath: /all}",
        "",
    );
    let yaml = pod(
        "sub-path",
        "Never",
        &host_path("vol", dir.path(), "Directory"),
        &init,
        &app,
    );
    let run = run_pod(&yaml).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    assert_eq!(run.lines("writer"), ["file"]);
    assert_eq!(run.lines("reader"), ["in-sub"]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("a/b/file")).unwrap(),
        "in-sub\n"
    );
}

#[tokio::test]
async fn private_root_is_writable_and_private_to_each_container() {
    // No volume: the writer's file lives in its own root; the reader, which
    // runs after it, has a root of its own without it.
    let init = format!(
        "  initContainers:\n{}",
        sh(
            "writer",
            "mkdir -p /scratch && echo secret > /scratch/x && cat /scratch/x",
            "",
            ""
        )
    );
    let app = sh("reader", "cat /scratch/x; echo \"status=$?\"", "", "");
    let run = run_pod(&pod("private-root", "Never", "", &init, &app)).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    assert_eq!(run.lines("writer"), ["secret"]);
    let lines = run.lines("reader");
    assert!(!lines.iter().any(|l| l == "secret"), "{}", run.dump());
    assert!(lines.contains(&"status=1".to_string()), "{}", run.dump());
}

#[tokio::test]
async fn tmp_is_usable_without_a_volume() {
    let app = sh("app", "echo x > /tmp/x && cat /tmp/x", "", "");
    let run = run_pod(&pod("tmp", "Never", "", "", &app)).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    assert_eq!(run.lines("app"), ["x"]);
}

#[tokio::test]
async fn guest_sees_nothing_of_the_host_outside_its_mounts() {
    let dir = tempfile::tempdir().unwrap();
    let script = "ls /; echo \"--\"; \
                  cat /etc/hostname; echo \"hostname=$?\"; \
                  ls /etc; echo \"etc=$?\"; \
                  cat /proc/self/status; echo \"proc=$?\"; \
                  cat /data/../../../../etc/passwd; echo \"dotdot=$?\"";
    let yaml = pod(
        "no-host",
        "Never",
        &host_path("data", dir.path(), "Directory"),
        "",
        &sh("app", script, "{name: data, mountPath: /data}", ""),
    );
    let run = run_pod(&yaml).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    let lines = run.lines("app");
    // The root holds the mount point (and what the runtime puts in a
    // container's root), none of the host's directories.
    let sep = lines.iter().position(|l| l == "--").unwrap();
    let root = &lines[..sep];
    assert!(root.contains(&"data".to_string()), "{}", run.dump());
    for host_dir in [
        "bin", "boot", "etc", "home", "lib", "proc", "root", "sys", "usr", "var",
    ] {
        assert!(
            !root.iter().any(|e| e == host_dir),
            "/{host_dir} is not visible: {}",
            run.dump()
        );
    }
    for what in ["hostname", "etc", "proc", "dotdot"] {
        let status = lines
            .iter()
            .find_map(|l| l.strip_prefix(&format!("{what}=")))
            .unwrap_or_else(|| panic!("no {what} status: {}", run.dump()));
        assert_ne!(status, "0", "{what} must fail: {}", run.dump());
    }
    assert!(
        !lines.iter().any(|l| l.starts_with("root:")),
        "{}",
        run.dump()
    );
}

/// A pod with neither volumes nor a run directory has only its containers' roots, each
/// a directory of its own. The init's, which its guest wrote to, goes with the pod; the
/// app's, left as it was made, is kept for the runtime's next pods: another pod's
/// container starts in it and finds it as new. Nothing is left once the runtime goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_without_volumes_leaves_no_directory_behind() {
    let cache = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wasmpod-cache");
    let rt = wasmpod::Runtime::new(wasmpod::RuntimeConfig::default().with_cache_dir(Some(cache)))
        .unwrap();
    let run = |yaml: String| {
        let rt = rt.clone();
        async move {
            let pod = wasmpod::spec::load(&yaml).unwrap().pods.remove(0);
            let handle = rt.create(pod, options()).await.unwrap();
            let outcome = handle.wait().await;
            assert_eq!(
                outcome.phase.as_str(),
                "Succeeded",
                "{:?}",
                outcome.pod.status
            );
            handle.run_dir().to_path_buf()
        }
    };
    let box_ = |name: &str, script: &str| {
        format!("  - name: {name}\n    image: busybox\n    command: ['sh', '-c', '{script}']\n")
    };
    let first = run(pod(
        "lone",
        "Never",
        "",
        &format!("  initContainers:\n{}", box_("init", "echo x > /tmp/f")),
        &box_("app", "test ! -e /tmp/f"),
    ))
    .await;
    assert!(!first.exists(), "{}", first.display());
    let base = first.parent().expect("a base").to_path_buf();
    let stem = first.file_name().unwrap().to_string_lossy().into_owned();
    let left = |stem: &str| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&base)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(stem))
            .collect();
        names.sort();
        names
    };
    // The init's root, written to, may still be being removed.
    let kept = [format!("{stem}.app")];
    let deadline = std::time::Instant::now() + LIMIT;
    while left(&stem) != kept && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(left(&stem), kept);

    // The next pod's container gets it, as new, and writes to it: then it goes.
    let fresh = "test -z \"$(ls -A /tmp)\" && test ! -s /dev/termination-log && echo y > /tmp/g";
    let second = run(pod("second", "Never", "", "", &box_("app", fresh))).await;
    let deadline = std::time::Instant::now() + LIMIT;
    while !left(&stem).is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(left(&stem), Vec::<String>::new(), "the kept root was taken");

    // A third pod's root is kept; the runtime takes it along when it goes.
    let third = run(pod("third", "Never", "", "", &box_("app", "true"))).await;
    let third_stem = third.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(left(&third_stem), [format!("{third_stem}.app")]);
    drop(rt);
    let deadline = std::time::Instant::now() + LIMIT;
    while !left(&third_stem).is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(left(&third_stem), Vec::<String>::new());
    assert!(!second.exists());
}

/// `securityContext.readOnlyRootFilesystem`: the guest cannot write its private root
/// (`/tmp` included), its mounts stay writable, and so does its termination message's
/// directory, as the kubelet mounts that file writable into a read-only root; a
/// container without it writes its `/tmp` as before.
#[tokio::test]
async fn read_only_root_filesystem_refuses_root_writes_but_not_mounts_or_the_message() {
    let try_tmp =
        "if echo x > /tmp/f 2>/dev/null; then echo tmp-writable; else echo tmp-refused; fi";
    let locked = sh(
        "locked",
        &format!(
            "{try_tmp}; if mkdir /new 2>/dev/null; then echo root-writable; else echo root-refused; fi; echo y > /data/f && cat /data/f; echo done-msg > /dev/termination-log; exit 3"
        ),
        "{name: data, mountPath: /data}",
        "    securityContext: {readOnlyRootFilesystem: true, runAsNonRoot: true}\n",
    );
    let open = sh(
        "open",
        try_tmp,
        "",
        "    securityContext: {readOnlyRootFilesystem: false}\n",
    );
    let yaml = pod(
        "read-only-root",
        "Never",
        "  - {name: data, emptyDir: {}}\n",
        "",
        &format!("{locked}{open}"),
    );
    let run = run_pod(&yaml).await;
    // The shell reports the failed redirection itself (wasmtime-wasi refuses it as
    // `not-permitted`).
    let locked = run.lines("locked");
    assert!(
        locked.len() == 4 && locked[0].starts_with("sh: can't create /tmp/f:"),
        "{}",
        run.dump()
    );
    assert_eq!(
        locked[1..],
        ["tmp-refused", "root-refused", "y"],
        "{}",
        run.dump()
    );
    assert_eq!(run.lines("open"), ["tmp-writable"], "{}", run.dump());
    let t = terminated_state(&run, "locked");
    assert_eq!(
        (t.exit_code, t.message.as_deref()),
        (3, Some("done-msg\n")),
        "{}",
        run.dump()
    );
}
