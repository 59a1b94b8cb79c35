//! `PodHandle::exec`: a command in a fresh instance of a running container's image, with
//! its env, mounts and network, its exit code and output returned.

use std::time::Duration;

use crate::support::*;

#[tokio::test]
async fn exec_runs_with_the_containers_env_and_mounts() {
    let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: exec}\nspec:\n  restartPolicy: Never\n  volumes: [{name: shared, emptyDir: {}}]\n  containers:\n  - name: app\n    image: busybox\n    command: [sh, -c, 'echo written > /data/file; sleep 60']\n    env: [{name: MODE, value: fast}]\n    volumeMounts: [{name: shared, mountPath: /data}]\n";
    let started = start(yaml, options()).await;
    started
        .wait_for(Duration::from_secs(60), "running", |p| is_running(p, "app"))
        .await;
    let h = &started.handle;
    // The file may not be written yet on a loaded machine (missing, or created and still
    // empty): ask until it is.
    let mut ran = h.exec("app", ["cat", "/data/file"]).await.unwrap();
    for _ in 0..100 {
        if ran.exit_code == 0 && !ran.output.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        ran = h.exec("app", ["cat", "/data/file"]).await.unwrap();
    }
    assert_eq!((ran.exit_code, ran.output.as_str()), (0, "written\n"));
    let ran = h
        .exec("app", ["sh", "-c", "echo $MODE; echo oops >&2; exit 4"])
        .await
        .unwrap();
    assert_eq!(ran.exit_code, 4);
    assert_eq!(ran.output, "fast\noops\n");
    assert_eq!(ran.stderr, "oops\n");

    let err = h.exec("nope", ["true"]).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "exec in container \"nope\": container \"nope\" is not running"
    );
    let handle_run = started.stop().await;
    assert_eq!(handle_run.phase(), "Failed");
}
