//! F. Pod conditions, observed end to end (the GS unit cases that a
//! running pod can show).

use super::*;

type Cond = (String, Option<String>, Option<String>);

fn cond(status: &str, reason: Option<&str>, message: Option<&str>) -> Cond {
    (
        status.into(),
        reason.map(Into::into),
        message.map(Into::into),
    )
}

fn entry(name: &str, extra: &str) -> String {
    format!("  - name: {name}\n    image: busybox\n{extra}    command: ['sh', '-c', 'sleep 60']\n")
}

fn pod_yaml(policy: &str, init: &str, containers: &str) -> String {
    let init = if init.is_empty() {
        String::new()
    } else {
        format!("  initContainers:\n{init}")
    };
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: conditions}}\nspec:\n  restartPolicy: {policy}\n{init}  containers:\n{containers}"
    )
}

const SIDECAR: &str = "    restartPolicy: Always\n";
const UNREADY: &str =
    "    readinessProbe:\n      exec: {command: ['false']}\n      periodSeconds: 1\n";
const READY: &str =
    "    readinessProbe:\n      exec: {command: ['true']}\n      periodSeconds: 1\n";

/// GS :: TestGenerateContainersReadyCondition / TestGeneratePodReadyCondition ("not ready" container)
#[tokio::test]
async fn f1_unready_container_message() {
    let st = start(&pod_yaml("Always", "", &entry("app", UNREADY)), fast()).await;
    st.wait_for(LIMIT, "running", |p| is_running(p, "app"))
        .await;
    never_within(&st, Duration::from_secs(2), "ready", |p| {
        status_of(p, "app").ready
    })
    .await;
    let expected = cond(
        "False",
        Some("ContainersNotReady"),
        Some("containers with unready status: [app]"),
    );
    let pod = st.pod();
    assert_eq!(condition(&pod, "ContainersReady"), Some(expected.clone()));
    assert_eq!(condition(&pod, "Ready"), Some(expected));
    st.stop().await;
}

/// GS :: TestGenerateContainersReadyCondition ("a sidecar not ready is included in the message")
#[tokio::test]
async fn f1_unready_sidecar_included() {
    let init = entry("side", &format!("{SIDECAR}{UNREADY}"));
    let st = start(&pod_yaml("Always", &init, &entry("app", READY)), fast()).await;
    st.wait_for(LIMIT, "app ready", |p| status_of(p, "app").ready)
        .await;
    let pod = st.pod();
    assert_eq!(
        condition(&pod, "ContainersReady"),
        Some(cond(
            "False",
            Some("ContainersNotReady"),
            Some("containers with unready status: [side]")
        ))
    );
    st.stop().await;
}

/// GS :: TestGenerateContainersReadyCondition ("two ready sidecars and a ready regular container")
#[tokio::test]
async fn f1_ready_sidecars_and_regular() {
    let init = entry("side-1", &format!("{SIDECAR}{READY}"))
        + &entry("side-2", &format!("{SIDECAR}{READY}"));
    let st = start(&pod_yaml("Always", &init, &entry("app", READY)), fast()).await;
    st.wait_for(LIMIT, "Ready", |p| {
        condition(p, "Ready").is_some_and(|c| c.0 == "True")
    })
    .await;
    let pod = st.pod();
    assert_eq!(condition(&pod, "ContainersReady").unwrap().0, "True");
    for c in ["side-1", "side-2", "app"] {
        assert!(status_of(&pod, c).ready, "{c}");
    }
    st.stop().await;
}

/// GS :: TestGenerateContainersReadyCondition / TestGeneratePodReadyCondition ("not ready in phase Succeeded")
#[tokio::test]
async fn f1_succeeded_pod_completed() {
    let yaml = pod_yaml(
        "Never",
        "",
        "  - name: app\n    image: busybox\n    command: ['true']\n",
    );
    let run = run_pod(&yaml).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    for c in ["ContainersReady", "Ready"] {
        assert_eq!(
            run.condition(c),
            cond("False", Some("PodCompleted"), None),
            "{c}"
        );
    }
}

/// KP :: Test_generateAPIPodStatus (a Failed pod: Ready/ContainersReady False PodFailed, Initialized True)
#[tokio::test]
async fn f3_failed_pod_conditions() {
    let yaml = pod_yaml(
        "Never",
        "",
        "  - name: app\n    image: busybox\n    command: ['sh', '-c', 'exit 3']\n",
    );
    let run = run_pod(&yaml).await;
    assert_eq!(run.phase(), "Failed", "{}", run.dump());
    for c in ["ContainersReady", "Ready"] {
        assert_eq!(
            run.condition(c),
            cond("False", Some("PodFailed"), None),
            "{c}"
        );
    }
    assert_eq!(run.condition("Initialized").0, "True");
}

/// GS :: TestGeneratePodInitializedCondition ("no init containers")
#[tokio::test]
async fn f2_no_init_containers_initialized() {
    let st = start(&pod_yaml("Always", "", &entry("app", "")), fast()).await;
    st.wait_for(LIMIT, "running", |p| is_running(p, "app"))
        .await;
    assert_eq!(condition(&st.pod(), "Initialized").unwrap().0, "True");
    st.stop().await;
}

/// GS :: TestGeneratePodInitializedCondition ("sidecar not started" / "sidecar started")
#[tokio::test]
async fn f2_sidecar_started_gates_initialized() {
    let init = entry(
        "side",
        &format!("{SIDECAR}    startupProbe:\n      exec: {{command: [test, -f, /tmp/go]}}\n      periodSeconds: 1\n      failureThreshold: 60\n"),
    )
    .replace("sleep 60", "sleep 2; touch /tmp/go; sleep 60");
    let st = start(&pod_yaml("Always", &init, &entry("app", "")), fast()).await;
    st.wait_for(LIMIT, "sidecar running", |p| is_running(p, "side"))
        .await;
    let pod = st.pod();
    assert_eq!(
        condition(&pod, "Initialized").map(|c| (c.0, c.1)),
        Some(("False".into(), Some("ContainersNotInitialized".into())))
    );
    assert_eq!(status_of(&pod, "side").started, Some(false));
    st.wait_for(LIMIT, "Initialized", |p| {
        condition(p, "Initialized").is_some_and(|c| c.0 == "True")
    })
    .await;
    assert_eq!(status_of(&st.pod(), "side").started, Some(true));
    st.stop().await;
}

/// GS :: TestGeneratePodInitializedCondition ("ready init in phase Succeeded": True PodCompleted)
#[tokio::test]
async fn f2_succeeded_initialized_pod_completed() {
    let init = "  - name: init\n    image: busybox\n    command: ['true']\n";
    let yaml = pod_yaml(
        "Never",
        init,
        "  - name: app\n    image: busybox\n    command: ['true']\n",
    );
    let run = run_pod(&yaml).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    assert_eq!(
        run.condition("Initialized"),
        cond("True", Some("PodCompleted"), None)
    );
}
