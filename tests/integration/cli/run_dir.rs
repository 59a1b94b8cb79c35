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
