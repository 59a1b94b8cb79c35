//! fs: a guest's symlinks must not lead the host's own file operations out
//! of the guest's tree (the termination message, subPath creation), and an
//! emptyDir's `sizeLimit` and a container's `limits.ephemeral-storage` are
//! enforced by evicting the pod.

use std::path::Path;
use std::time::Duration;

use super::*;
use crate::support::*;

const LIMIT: Duration = Duration::from_secs(120);

/// A container entry running the hostile guest with `argv` (after its
/// argv[0]); `extra` is more YAML at the container's indentation.
fn hostile_container(name: &str, argv: &[&str], extra: &str) -> String {
    let args: Vec<String> = std::iter::once("hostile")
        .chain(argv.iter().copied())
        .map(|a| format!("{a:?}"))
        .collect();
    format!(
        "  - name: {name}\n    image: {:?}\n    command: [{}]\n{extra}",
        hostile(),
        args.join(", ")
    )
}

/// A temporary directory in a memory file system where there is one.
fn memory_tempdir() -> tempfile::TempDir {
    match Path::new("/dev/shm").is_dir() {
        true => tempfile::tempdir_in("/dev/shm").unwrap(),
        false => tempfile::tempdir().unwrap(),
    }
}

fn options_in(run_dir: &Path) -> wasmpod::RunOptions {
    options().with_run_dir(run_dir.to_path_buf())
}

fn terminated_message(run: &PodRun, container: &str) -> Option<String> {
    run.status(container)
        .state
        .and_then(|s| s.terminated)
        .and_then(|t| t.message)
}

/// Issue 8 item 1: a guest replaces `/dev/termination-log` with a symlink
/// climbing out of its root to a host file; the host must not read that
/// file into `terminated.message`. (WASI refuses to create absolute
/// symlinks; the unit tests of `sandbox::fs` cover those.)
#[tokio::test]
async fn termination_message_symlink_is_not_followed_out_of_the_root() {
    // In a memory file system where there is one: a run directory on a disk has its
    // containers' roots in /dev/shm instead (`sandbox::roots_base`), one in memory keeps
    // them, and the link below must climb from a root to `secret`.
    let tmp = memory_tempdir();
    let secret = tmp.path().join("secret");
    std::fs::write(&secret, "host-secret-7f3a").unwrap();
    let run_dir = tmp.path().join("run");
    // run/containers/<name>/dev/termination-log: four levels up is `tmp`.
    let relative = "../../../../secret";
    let containers = [
        hostile_container("rel", &["symlink", "/dev/termination-log", relative], ""),
        hostile_container(
            "fallback",
            &["symlink", "/dev/termination-log", relative],
            "    terminationMessagePolicy: FallbackToLogsOnError\n",
        ),
    ]
    .concat();
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: message-symlink}}\nspec:\n  restartPolicy: Never\n  containers:\n{containers}"
    );
    let run = run_pod_with(&yaml, options_in(&run_dir), LIMIT).await;
    for c in ["rel", "fallback"] {
        assert_eq!(run.lines(c), ["symlink=ok"], "{c}: {}", run.dump());
        let message = terminated_message(&run, c);
        assert!(
            !message.as_deref().unwrap_or("").contains("host-secret"),
            "{c}: the host file leaked into the message: {message:?}"
        );
        assert!(
            !run.dump().contains("host-secret"),
            "{c}: leaked: {}",
            run.dump()
        );
    }
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    // The pod's roots are gone, links and all; the links' target is not.
    assert!(!run_dir.join("containers").exists());
    assert_eq!(
        std::fs::read_to_string(&secret).unwrap(),
        "host-secret-7f3a"
    );
}

/// Issue 8 item 4: an init container plants `a -> <outside>` in a shared
/// emptyDir; an app mounting `subPath: a/new` must fail to start with a
/// clear reason, and the host must not have created `<outside>/new`.
#[tokio::test]
async fn sub_path_through_a_planted_symlink_is_refused_and_creates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("out");
    std::fs::create_dir(&outside).unwrap();
    let run_dir = tmp.path().join("run");
    // run/volumes/shared/a: three levels up is `tmp`.
    let init = hostile_container(
        "planter",
        &["symlink", "/shared/a", "../../../out"],
        "    volumeMounts: [{name: shared, mountPath: /shared}]\n",
    );
    let app = hostile_container(
        "app",
        &["write-file", "/mnt/x", "1"],
        "    volumeMounts: [{name: shared, mountPath: /mnt, subPath: a/new}]\n",
    );
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: subpath-symlink}}\nspec:\n  restartPolicy: Never\n  volumes:\n  - name: shared\n    emptyDir: {{}}\n  initContainers:\n{init}  containers:\n{app}"
    );
    let run = run_pod_with(&yaml, options_in(&run_dir), LIMIT).await;
    assert_eq!(run.lines("planter"), ["symlink=ok"], "{}", run.dump());
    assert_eq!(run.phase(), "Failed", "{}", run.dump());
    assert!(run.lines("app").is_empty(), "{}", run.dump());
    let terminated = run.status("app").state.unwrap().terminated.unwrap();
    assert_eq!(terminated.reason.as_deref(), Some("StartError"));
    let message = terminated.message.unwrap_or_default();
    assert!(
        message.contains("subPath \"a/new\" resolves outside the volume"),
        "{message}"
    );
    assert!(
        !outside.join("new").exists(),
        "the host created a directory outside the volume"
    );
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
}

/// The container `app` filling `path` in `chunk`-byte writes with a 10 ms
/// pause between them, up to 256 MiB; `extra` as for [`hostile_container`].
fn filler(path: &str, chunk: usize, extra: &str) -> String {
    let total = (256u64 << 20).to_string();
    hostile_container(
        "app",
        &["fill", path, &total, &chunk.to_string(), "10"],
        extra,
    )
}

/// A pod whose `app` fills `/data/f` ([`filler`]).
fn filler_pod(name: &str, volume: &str, memory_limit: Option<&str>, chunk: usize) -> String {
    let resources = memory_limit
        .map(|m| format!("    resources: {{limits: {{memory: {m}}}}}\n"))
        .unwrap_or_default();
    let mount = "    volumeMounts: [{name: data, mountPath: /data}]\n";
    let app = filler("/data/f", chunk, &format!("{mount}{resources}"));
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  restartPolicy: Always\n  volumes:\n  - name: data\n{volume}  containers:\n{app}"
    )
}

fn assert_evicted(run: &PodRun, message: &str) {
    assert_eq!(run.phase(), "Failed", "{}", run.dump());
    let status = run.outcome.pod.status.as_ref().unwrap();
    assert_eq!(status.reason.as_deref(), Some("Evicted"), "{}", run.dump());
    assert_eq!(status.message.as_deref(), Some(message), "{}", run.dump());
    let evicted: Vec<_> = run
        .events
        .iter()
        .filter(|e| e.reason == "Evicted")
        .collect();
    assert_eq!(evicted.len(), 1, "{}", run.dump());
    assert_eq!(evicted[0].message, message);
    assert_eq!(evicted[0].type_.to_string(), "Warning");
    // Killed at once, not restarted (restartPolicy Always), and stopped
    // long before it wrote its 256 MiB (it would print `filled=`).
    assert_eq!(run.exit_code("app"), 137, "{}", run.dump());
    assert_eq!(run.status("app").restart_count, 0, "{}", run.dump());
    assert!(
        !run.lines("app").iter().any(|l| l.starts_with("filled=")),
        "{}",
        run.dump()
    );
}

/// Issue 8 item 13: a guest writing past an emptyDir's 1Mi `sizeLimit` gets
/// its pod evicted with the kubelet's reason and message; a sibling pod
/// keeps running.
#[tokio::test]
async fn empty_dir_past_its_size_limit_evicts_the_pod_not_its_sibling() {
    let sibling = start(
        &format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: sibling}}\nspec:\n  volumes:\n  - name: data\n    emptyDir: {{sizeLimit: 1Mi}}\n  containers:\n{}",
            hostile_container(
                "app",
                &["fill", "/data/f", "4096", "4096", "0"],
                "    volumeMounts: [{name: data, mountPath: /data}]\n"
            )
        ),
        options(),
    )
    .await;
    // 64 KiB every 10 ms: past 1 MiB within a fraction of a second, 256 MiB
    // only after 40 s at the very least.
    let yaml = filler_pod(
        "evicted",
        "    emptyDir: {sizeLimit: 1Mi}\n",
        None,
        64 << 10,
    );
    let run = run_pod_with(&yaml, options(), LIMIT).await;
    assert_evicted(
        &run,
        "Usage of EmptyDir volume \"data\" exceeds the limit \"1Mi\". ",
    );
    sibling
        .wait_for(LIMIT, "the sibling to run", |p| is_running(p, "app"))
        .await;
    let pod = sibling.pod();
    assert!(is_running(&pod, "app"), "{:#?}", pod.status);
    assert_eq!(pod.status.as_ref().unwrap().reason, None);
    let sibling = sibling.stop().await;
    assert_eq!(sibling.lines("app"), ["filled=4096"], "{}", sibling.dump());
    assert!(
        !sibling.events.iter().any(|e| e.reason == "Evicted"),
        "{}",
        sibling.dump()
    );
}

/// `medium: Memory`: the volume counts against the pod's memory limit, so
/// its effective limit is the smaller of `sizeLimit` and that.
#[tokio::test]
async fn memory_empty_dir_is_limited_by_the_pod_memory_limit() {
    let yaml = filler_pod(
        "evicted-memory",
        "    emptyDir: {medium: Memory, sizeLimit: 1Gi}\n",
        Some("16Mi"),
        64 << 10,
    );
    let run = run_pod_with(&yaml, options(), LIMIT).await;
    assert_evicted(
        &run,
        "Usage of EmptyDir volume \"data\" exceeds the limit \"16Mi\". ",
    );
}

/// A pod whose `app` fills `/tmp/f` in its private root ([`filler`], 64 KiB
/// at a time); `app_limit` is its `limits.ephemeral-storage`, and `other`
/// more containers.
fn root_filler_pod(name: &str, app_limit: Option<&str>, other: &str) -> String {
    let resources = app_limit
        .map(|l| format!("    resources: {{limits: {{ephemeral-storage: {l}}}}}\n"))
        .unwrap_or_default();
    let app = filler("/tmp/f", 64 << 10, &resources);
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  restartPolicy: Always\n  containers:\n{app}{other}"
    )
}

/// A guest writing past its container's `limits.ephemeral-storage` in its
/// own root (no volume) gets its pod evicted with the kubelet's message for
/// the container, when the pod's total (a sibling's 64Mi added) is not passed
/// first: with the app's limit alone, the kubelet (and wasmpod) name the pod.
#[tokio::test]
async fn a_root_past_its_ephemeral_storage_limit_evicts_the_pod() {
    let roomy = "  - name: roomy\n    image: busybox\n    command: [sleep, '3600']\n    resources: {limits: {ephemeral-storage: 64Mi}}\n";
    let yaml = root_filler_pod("root-limit", Some("1Mi"), roomy);
    let run = run_pod_with(&yaml, options(), LIMIT).await;
    assert_evicted(
        &run,
        "Container app exceeded its local ephemeral storage limit \"1Mi\". ",
    );
    let alone = root_filler_pod("root-limit-alone", Some("1Mi"), "");
    let run = run_pod_with(&alone, options(), LIMIT).await;
    assert_evicted(
        &run,
        "Pod ephemeral local storage usage exceeds the total limit of containers 1Mi. ",
    );
}

/// The pod's limit is its containers' limits added up, and every container's
/// root counts toward it: a container without a limit fills its root past
/// its sibling's 1Mi, the only one set.
#[tokio::test]
async fn the_pods_roots_together_past_the_containers_limits_evict_the_pod() {
    let limited = "  - name: limited\n    image: busybox\n    command: [sleep, '3600']\n    resources: {limits: {ephemeral-storage: 1Mi}}\n";
    let run = run_pod_with(
        &root_filler_pod("pod-limit", None, limited),
        options(),
        LIMIT,
    )
    .await;
    assert_evicted(
        &run,
        "Pod ephemeral local storage usage exceeds the total limit of containers 1Mi. ",
    );
    assert_eq!(run.exit_code("limited"), 137, "{}", run.dump());
}

/// A guest nests 25,000 directories in its root's `/tmp` and in an emptyDir
/// (a few seconds' work through an open descriptor). Removing them when the
/// pod ends must neither recurse once per level (`std::fs::remove_dir_all`
/// overflowed its thread's stack at 20,000 levels and aborted the process)
/// nor hold a descriptor per level.
#[tokio::test]
async fn directories_nested_past_any_stack_are_removed_with_the_pod() {
    const LEVELS: &str = "25000";
    let tmp = memory_tempdir();
    let run_dir = tmp.path().join("run");
    let containers = [
        hostile_container("root", &["deep-dirs", "/tmp", LEVELS], ""),
        hostile_container(
            "volume",
            &["deep-dirs", "/data", LEVELS],
            "    volumeMounts: [{name: data, mountPath: /data}]\n",
        ),
    ]
    .concat();
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: deep-dirs}}\nspec:\n  restartPolicy: Never\n  volumes: [{{name: data, emptyDir: {{}}}}]\n  containers:\n{containers}"
    );
    let run = run_pod_with(&yaml, options_in(&run_dir), LIMIT).await;
    for c in ["root", "volume"] {
        assert_eq!(
            run.lines(c),
            [format!("levels={LEVELS}")],
            "{c}: {}",
            run.dump()
        );
    }
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    for gone in ["containers", "volumes"] {
        assert!(!run_dir.join(gone).exists(), "{gone} is left");
    }
}
