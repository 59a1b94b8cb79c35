//! Where `wasmpod run` keeps a pod's directories.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::{LIMIT, Workspace, spawn};

/// With its run directory on a disk, `wasmpod run` keeps logs there and the
/// containers' roots in `/dev/shm` (`sandbox::roots_base`), named after the
/// process and the pod's uid; a guest writes into its root there, and the
/// directory is gone when the run ends.
#[test]
fn roots_of_a_run_directory_on_disk_are_in_memory_and_removed_at_the_end() {
    let ws = Workspace::new();
    let shm = Path::new("/dev/shm");
    let on_tmpfs = Command::new("stat")
        .args(["-f", "-c", "%T"])
        .arg(ws.dir.path())
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "tmpfs");
    if on_tmpfs || !shm.is_dir() {
        eprintln!("skipped: the workspace is in memory already, or there is no /dev/shm");
        return;
    }
    let uid = format!("roots-{}", std::process::id());
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  uid: {uid}\nspec:\n  restartPolicy: Never\n  \
         containers:\n  - name: app\n    image: busybox\n    \
         command: ['sh', '-c', 'echo written > /tmp/f && echo ready && sleep 60']\n"
    );
    let file = ws.write("pod.yaml", &yaml);
    let mut running = spawn(ws.run_command(&[&file]), None);
    let prefix = format!("wasmpod-p{}n", running.pid());
    let suffix = format!("-{uid}.containers");
    let roots = || {
        std::fs::read_dir(shm)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                name.starts_with(&prefix) && name.ends_with(&suffix)
            })
    };
    let started = std::time::Instant::now();
    let written = loop {
        let f = roots().map(|r| r.join("app/tmp/f"));
        // Made by the shell's `>` before its `echo` writes: empty for a moment.
        let text = f.and_then(|f| std::fs::read_to_string(f).ok());
        if let Some(text) = text.filter(|t| !t.is_empty()) {
            break text;
        }
        assert!(!running.has_exited(), "wasmpod ended early");
        assert!(started.elapsed() < LIMIT, "no root in /dev/shm");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(written, "written\n");
    assert!(!ws.run_dir().join("containers").exists());
    let term = Command::new("kill")
        .args(["-TERM", &running.pid().to_string()])
        .status()
        .expect("kill");
    assert!(term.success());
    let ran = running.finish(LIMIT);
    assert_eq!(ran.lines_of("app"), ["ready"], "{ran}");
    assert_eq!(roots(), None, "the roots outlived the run\n{ran}");
    assert!(ws.run_dir().join("logs/app/0.log").is_file(), "{ran}");
    assert!(!ws.run_dir().join("containers").exists(), "{ran}");
}

/// Everything under `dir`, as paths relative to it.
fn tree(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            found.push(path.strip_prefix(dir).unwrap().display().to_string());
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path);
            }
        }
    }
    found.sort();
    found
}

/// `wasmpod run` keeps a new run directory under the temp dir, for its logs;
/// with `--rm` nothing of the run is left there (its pods' directories are
/// temporary, removed with each pod), and the output is the same. `--rm` with
/// `--run-dir` is refused: that directory is the user's.
#[test]
fn rm_leaves_nothing_behind_where_a_plain_run_keeps_its_run_directory() {
    let ws = Workspace::new();
    let file = ws.write(
        "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: rm}\nspec:\n  restartPolicy: Never\n  \
         volumes:\n  - {name: scratch, emptyDir: {}}\n  containers:\n  - name: app\n    \
         image: busybox\n    command: ['sh', '-c', 'echo kept > /scratch/f && cat /scratch/f']\n    \
         volumeMounts:\n    - {name: scratch, mountPath: /scratch}\n",
    );
    let run = |tmp: &Path, extra: &[&str]| {
        std::fs::create_dir(tmp).unwrap();
        let mut cmd = Command::new(crate::support::wasmpod_bin());
        cmd.args(["run", "--color", "never", "--cache-dir"])
            .arg(super::shared_cache())
            .args(extra)
            .arg(&file)
            .env("TMPDIR", tmp)
            .env_remove("XDG_RUNTIME_DIR");
        spawn(cmd, None).finish(LIMIT)
    };
    let kept = ws.dir.path().join("tmp-kept");
    let ran = run(&kept, &[]);
    ran.assert_code(0);
    assert_eq!(ran.lines_of("app"), ["kept"], "{ran}");
    let left = tree(&kept);
    assert!(
        left.iter()
            .any(|p| p.starts_with("wasmpod/runs/rm-") && p.ends_with("logs/app/0.log")),
        "a plain run keeps its logs: {left:?}\n{ran}"
    );

    let removed = ws.dir.path().join("tmp-rm");
    let ran = run(&removed, &["--rm"]);
    ran.assert_code(0);
    assert_eq!(ran.lines_of("app"), ["kept"], "{ran}");
    assert!(
        !ran.notes().iter().any(|n| n.contains("run directory")),
        "{ran}"
    );
    assert_eq!(tree(&removed), Vec::<String>::new(), "{ran}");

    let refused = ws.run(&["--rm", &file]);
    refused.assert_code(2);
    refused.assert_stderr_has("--rm");
}
