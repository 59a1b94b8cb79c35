//! The pod network from the guests' side: containers reach each other over
//! loopback with TCP and UDP; nothing else is reachable (the per-pod
//! isolation itself is tested in `podnet.rs`).

use std::process::Command;

use k8s_openapi::api::core::v1::Pod;

use crate::support::*;

fn pod(name: &str, init: &str, containers: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  restartPolicy: Never\n{init}  containers:\n{containers}"
    )
}

fn sh(name: &str, script: &str, extra: &str) -> String {
    format!("  - name: {name}\n    image: busybox\n{extra}    command: ['sh', '-c', '{script}']\n")
}

/// A shell loop waiting (up to ~10 s) until something listens on `port`.
fn wait_port(port: u16) -> String {
    format!(
        "i=0; until nc -z localhost {port} 2>/dev/null; do i=$((i+1)); [ $i -lt 100 ] || exit 9; sleep 0.1; done"
    )
}

#[tokio::test]
async fn tcp_echo_between_containers_over_localhost() {
    let port = 41101;
    let init = format!(
        "  initContainers:\n{}",
        sh(
            "echo-server",
            &format!("nc -lk -e -p {port}"),
            "    restartPolicy: Always\n"
        )
    );
    let app = sh(
        "client",
        &format!(
            "{}; echo hello-over-tcp | nc -w 5 localhost {port}",
            wait_port(port)
        ),
        "",
    );
    let run = run_pod(&pod("tcp-echo", &init, &app)).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    assert_eq!(run.exit_code("client"), 0);
    // The client printed the echo; the server printed what it received.
    assert_eq!(run.lines("client"), ["hello-over-tcp"], "{}", run.dump());
    assert_eq!(
        run.lines("echo-server"),
        ["hello-over-tcp"],
        "{}",
        run.dump()
    );
}

#[tokio::test]
async fn tcp_payload_reaches_a_listener_in_another_container() {
    let port = 41102;
    // Two regular containers: a one-shot listener printing what its client
    // sends, and a sender retrying until the listener is up.
    let containers = [
        sh("listener", &format!("nc -l -p {port}"), ""),
        sh(
            "sender",
            &format!(
                "i=0; until printf \"line one\\nline two\\n\" | nc 127.0.0.1 {port}; do i=$((i+1)); [ $i -lt 100 ] || exit 9; sleep 0.1; done"
            ),
            "",
        ),
    ]
    .concat();
    let run = run_pod(&pod("tcp-print", "", &containers)).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    assert_eq!(
        run.lines("listener"),
        ["line one", "line two"],
        "{}",
        run.dump()
    );
    assert_eq!(run.exit_code("listener"), 0);
    assert_eq!(run.exit_code("sender"), 0);
}

#[tokio::test]
async fn udp_round_trip_between_containers() {
    let port = 41103;
    let init = format!(
        "  initContainers:\n{}",
        sh(
            "udp-echo",
            &format!("nc -u -l -k -e -p {port}"),
            "    restartPolicy: Always\n"
        )
    );
    // UDP has no handshake to wait for: retry until the echo comes back.
    let app = sh(
        "client",
        &format!(
            "for i in 1 2 3 4 5 6 7 8 9 10; do r=$(echo ping | nc -u -w 1 127.0.0.1 {port}); if [ \"$r\" = ping ]; then echo \"reply=$r\"; exit 0; fi; done; exit 1"
        ),
        "",
    );
    let run = run_pod(&pod("udp", &init, &app)).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    assert_eq!(run.lines("client"), ["reply=ping"], "{}", run.dump());
    let server = run.lines("udp-echo");
    assert!(
        !server.is_empty() && server.iter().all(|l| l == "ping"),
        "the server printed the datagrams: {}",
        run.dump()
    );
}

#[tokio::test]
async fn connecting_to_a_closed_port_is_refused() {
    let port = 41104;
    let app = sh(
        "app",
        &format!("nc -z 127.0.0.1 {port}; echo \"status=$?\""),
        "",
    );
    let run = run_pod(&pod("refused", "", &app)).await;
    assert_eq!(
        run.lines("app"),
        [
            format!("nc: 127.0.0.1:{port}: connection refused").as_str(),
            "status=1"
        ],
        "{}",
        run.dump()
    );
    let refusal = run
        .logs
        .iter()
        .find(|l| l.line.contains("refused"))
        .unwrap();
    assert_eq!(refusal.stream, wasmpod::Stream::Stderr);
}

#[tokio::test]
async fn connecting_with_a_timeout_to_a_closed_port_is_refused() {
    let port = 41105;
    let app = sh(
        "app",
        &format!("nc -z -w 2 127.0.0.1 {port}; echo \"status=$?\""),
        "",
    );
    let run = run_pod(&pod("refused-timeout", "", &app)).await;
    assert_eq!(
        run.lines("app"),
        [
            format!("nc: 127.0.0.1:{port}: connection refused").as_str(),
            "status=1"
        ],
        "{}",
        run.dump()
    );
}

/// Runs `cmd` (a shell command line) inside a new network namespace with
/// only loopback, so that nothing can leave the machine whatever the guest
/// does. Tries `unshare --net` (root) and then `unshare -r --net` (a user
/// namespace).
pub(crate) fn in_isolated_netns(cmd: &str) -> std::process::Output {
    let script = format!("ip link set lo up && exec {cmd}");
    for flags in [&["--net"][..], &["-r", "--net"][..]] {
        let probe = Command::new("unshare")
            .args(flags)
            .args(["sh", "-c", "ip link set lo up"])
            .output();
        if probe.is_ok_and(|o| o.status.success()) {
            return Command::new("unshare")
                .args(flags)
                .args(["sh", "-c", &script])
                .output()
                .expect("run unshare");
        }
    }
    panic!("this test needs `unshare` (util-linux) and `ip` (iproute2) with network namespaces");
}

#[tokio::test]
async fn dialing_outside_loopback_is_denied() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = pod(
        "no-egress",
        "",
        &sh(
            "app",
            "nc -z -w 2 10.255.255.1 80; echo \"private=$?\"; nc -z -w 2 8.8.8.8 53",
            "",
        ),
    );
    let file = dir.path().join("pod.yaml");
    std::fs::write(&file, yaml).unwrap();
    let status_file = dir.path().join("status.json");
    let cache = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wasmpod-cache");
    let out = in_isolated_netns(&format!(
        "{} run --quiet --cache-dir {} --status-file {} {}",
        wasmpod_bin(),
        cache.display(),
        status_file.display(),
        file.display()
    ));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let all = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(out.status.code(), Some(1), "pod Failed → exit 1; {all}");
    for line in [
        "nc: 10.255.255.1:80: permission denied",
        "private=1",
        "nc: 8.8.8.8:53: permission denied",
    ] {
        assert!(
            stdout.lines().any(|l| l.ends_with(line)),
            "missing {line:?}; {all}"
        );
    }
    let pod: Pod = serde_json::from_slice(&std::fs::read(&status_file).unwrap()).unwrap();
    assert_eq!(
        pod.status.as_ref().unwrap().phase.as_deref(),
        Some("Failed")
    );
    assert_eq!(terminated_code(&status_of(&pod, "app")), Some(1), "{all}");
}
