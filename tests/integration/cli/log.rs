//! `WASMPOD_LOG`: the command's own log, and the library's steps in it.

use super::{Workspace, app};

/// `WASMPOD_LOG=wasmpod::step=trace` prints a line at each step of a pod's path,
/// in the order a pod takes them (`launched` is left out: the guest's thread may
/// begin before the supervisor's records it).
#[test]
fn wasmpod_log_prints_each_step_of_a_pods_path_in_order() {
    let ws = Workspace::new();
    let file = ws.write("pod.yaml", &app("Never", "echo done"));
    let mut cmd = ws.run_command(&[&file]);
    cmd.env("WASMPOD_LOG", "wasmpod::step=trace");
    let ran = super::spawn(cmd, None).finish(super::LIMIT);
    ran.assert_code(0);
    let steps: Vec<&str> = ran
        .stderr
        .lines()
        .filter(|l| l.contains("TRACE wasmpod::step:"))
        .filter_map(|l| l.split("step=\"").nth(1)?.strip_suffix('"'))
        .filter(|s| *s != "launched")
        .collect();
    assert_eq!(
        steps,
        [
            "create",
            "created",
            "supervisor",
            "launch",
            "guest",
            "wasi",
            "instantiated",
            "exited",
            "exit-seen",
            "terminal",
            "dirs-removed",
            "ended",
            "waited"
        ],
        "{ran}"
    );
    // Without it, the command's log stays at warnings: no step is printed.
    let quiet = ws.run(&[&file]);
    quiet.assert_code(0);
    assert!(!quiet.stderr.contains("wasmpod::step"), "{quiet}");
}
