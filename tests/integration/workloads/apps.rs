//! Deployments, ReplicaSets, StatefulSets and DaemonSets, ported from Kubernetes'
//! `test/e2e/apps/{deployment,replica_set,statefulset,daemon_set}.go` where they apply.

use std::sync::{Arc, Mutex};

use wasmpod::spec::Workload;

use super::*;

/// An apps/v1 object of `kind` named `name`: `spec` lines (indented 2), then a selector and
/// template labelled `app: name` running `sleep 3600` in busybox.
fn apps(kind: &str, name: &str, spec: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: {kind}\nmetadata: {{name: {name}}}\nspec:\n{spec}  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n      terminationGracePeriodSeconds: 1\n      containers:\n      - name: c\n        image: busybox\n        command: ['sh', '-c', 'sleep 3600']\n"
    )
}

fn ready_replicas(w: &Workload) -> i32 {
    match w {
        Workload::Deployment(d) => d.status.as_ref().and_then(|s| s.ready_replicas),
        Workload::ReplicaSet(r) => r.status.as_ref().and_then(|s| s.ready_replicas),
        Workload::StatefulSet(s) => s.status.as_ref().and_then(|s| s.ready_replicas),
        Workload::DaemonSet(d) => d.status.as_ref().map(|s| s.number_ready),
        _ => None,
    }
    .unwrap_or(0)
}

// upstream: test/e2e/apps/deployment.go "deployment should support rollover" is about
// updates; what applies is its first step, as in
// upstream: test/e2e/apps/deployment.go "RecreateDeployment should delete old pods and create new ones"
// (the Deployment's ReplicaSet and pods come up, named and labelled by the template hash).
#[tokio::test]
async fn a_deployment_runs_its_replicas_through_a_replica_set() {
    let handle = apply(&apps("Deployment", "web", "  replicas: 3\n")).await;
    wait_for(&handle, "had 3 ready replicas", |w| ready_replicas(w) == 3).await;
    let Workload::Deployment(d) = handle.object() else {
        panic!("a Deployment")
    };
    let status = d.status.clone().unwrap();
    assert_eq!(
        (status.replicas, status.available_replicas),
        (Some(3), Some(3))
    );
    let available = &status.conditions.unwrap()[0];
    assert_eq!(
        (available.type_.as_str(), available.status.as_str()),
        ("Available", "True")
    );
    let [Workload::ReplicaSet(rs)] = &handle.owned()[..] else {
        panic!("one ReplicaSet")
    };
    let rs_name = rs.metadata.name.clone().unwrap();
    let hash = rs_name.strip_prefix("web-").expect("web-<hash>").to_owned();
    assert_eq!(
        rs.metadata.owner_references.as_ref().unwrap()[0].uid,
        d.metadata.uid.clone().unwrap()
    );
    let pods = handle.pods();
    assert_eq!(pods.len(), 3);
    for p in &pods {
        let pod = Arc::unwrap_or_clone(p.pod());
        let name = pod.metadata.name.clone().unwrap();
        assert_eq!(
            name.strip_prefix(&format!("{rs_name}-")).map(str::len),
            Some(5),
            "{name}"
        );
        let labels = pod.metadata.labels.unwrap();
        assert_eq!(
            (labels["app"].as_str(), labels["pod-template-hash"].as_str()),
            ("web", hash.as_str())
        );
        let owner = &pod.metadata.owner_references.unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), &owner.uid),
            ("ReplicaSet", rs.metadata.uid.as_ref().unwrap())
        );
    }
    let outcome = stop(&handle).await;
    assert!(outcome.stopped);
    for p in &pods {
        assert!(p.phase().is_some_and(|p| p == "Succeeded" || p == "Failed"));
    }
}

// upstream: test/e2e/apps/replica_set.go "should serve a basic image on each replica with a public image"
// and test/e2e/apps/rc.go "should release no longer matching pods" (here: a pod that ended
// is replaced, as the ReplicaSet controller replaces a deleted pod).
#[tokio::test]
async fn a_replica_set_replaces_a_pod_that_ended() {
    let handle = apply(&apps("ReplicaSet", "rs", "  replicas: 2\n")).await;
    wait_for(&handle, "had 2 ready replicas", |w| ready_replicas(w) == 2).await;
    let first = handle.pods();
    assert_eq!(first.len(), 2);
    let mut created = handle.subscribe_pods();
    first[0].kill();
    let replacement = tokio::time::timeout(LIMIT, created.recv())
        .await
        .expect("a replacement in time")
        .expect("a replacement");
    assert!(first.iter().all(|p| p.name() != replacement.name()));
    wait_for(&handle, "had 2 ready replicas again", |w| {
        ready_replicas(w) == 2
    })
    .await;
    assert_eq!(handle.pods().len(), 3);
    stop(&handle).await;
}

// upstream: test/e2e/apps/statefulset.go "Scaling should happen in predictable order and halt if any stateful pod is unhealthy"
// and "should provide basic identity": ordinal names, hostname and subdomain, pods started
// one by one once the previous is Ready, stopped in reverse.
#[tokio::test]
async fn a_stateful_set_starts_in_order_and_stops_in_reverse() {
    let yaml = apps("StatefulSet", "db", "  replicas: 3\n  serviceName: dbs\n");
    let mut file = wasmpod::spec::load(&yaml).unwrap();
    let handle = runtime()
        .create_workload(file.workloads.remove(0), workload_options())
        .await
        .unwrap();
    // When each pod is created, every pod before it is Ready.
    let mut created = handle.subscribe_pods();
    let ready_before = Arc::new(Mutex::new(Vec::new()));
    let ended = Arc::new(Mutex::new(Vec::new()));
    let (seen, ended_in) = (ready_before.clone(), ended.clone());
    let pods_of = {
        let handle_pods = Arc::new(Mutex::new(Vec::<Arc<wasmpod::PodHandle>>::new()));
        let list = handle_pods.clone();
        tokio::spawn(async move {
            while let Ok(pod) = created.recv().await {
                let before: Vec<Arc<wasmpod::PodHandle>> = list.lock().unwrap().clone();
                let all_ready = before.iter().all(|p| {
                    p.pod()
                        .status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
                });
                seen.lock()
                    .unwrap()
                    .push((pod.name().to_owned(), all_ready));
                list.lock().unwrap().push(pod.clone());
                let ended_in = ended_in.clone();
                tokio::spawn(async move {
                    pod.wait().await;
                    ended_in.lock().unwrap().push(pod.name().to_owned());
                });
            }
        });
        handle_pods
    };
    handle.start();
    wait_for(&handle, "had 3 ready replicas", |w| ready_replicas(w) == 3).await;
    let names: Vec<String> = handle.pods().iter().map(|p| p.name().to_owned()).collect();
    assert_eq!(names, ["db-0", "db-1", "db-2"]);
    assert_eq!(
        *ready_before.lock().unwrap(),
        [
            ("db-0".to_owned(), true),
            ("db-1".to_owned(), true),
            ("db-2".to_owned(), true)
        ]
    );
    let pod = Arc::unwrap_or_clone(handle.pods()[1].pod());
    let spec = pod.spec.unwrap();
    assert_eq!(
        (spec.hostname.as_deref(), spec.subdomain.as_deref()),
        (Some("db-1"), Some("dbs"))
    );
    assert_eq!(
        pod.metadata.labels.unwrap()["statefulset.kubernetes.io/pod-name"],
        "db-1"
    );
    stop(&handle).await;
    // The watchers saw every pod end; wait for the last of them to record it.
    tokio::time::timeout(LIMIT, async {
        while ended.lock().unwrap().len() < 3 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("three pods ended");
    assert_eq!(*ended.lock().unwrap(), ["db-2", "db-1", "db-0"]);
    drop(pods_of);
}

// upstream: test/e2e/apps/daemon_set.go "should run and stop simple daemon" (one node: one pod)
#[tokio::test]
async fn should_run_and_stop_simple_daemon() {
    let handle = apply(&apps("DaemonSet", "agent", "")).await;
    wait_for(&handle, "had its pod ready", |w| ready_replicas(w) == 1).await;
    let pods = handle.pods();
    assert_eq!(pods.len(), 1);
    let pod = Arc::unwrap_or_clone(pods[0].pod());
    assert!(pod.metadata.name.unwrap().starts_with("agent-"));
    assert!(
        pod.metadata
            .labels
            .unwrap()
            .contains_key("controller-revision-hash")
    );
    stop(&handle).await;
    let Workload::DaemonSet(ds) = handle.object() else {
        panic!("a DaemonSet")
    };
    assert_eq!(ds.status.unwrap().number_ready, 0);
}
