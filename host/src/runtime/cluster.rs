//! The state a runtime's pods share: today the registry of its pods. It is the place for
//! what many pods will share as it comes — the cluster network and Services, ConfigMaps and
//! Secrets, the image store — so that each stays out of the single-pod pipeline.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use k8s_openapi::api::core::v1::Pod;
use tokio::sync::watch;

/// The pods of one [`Runtime`](crate::Runtime), and later the objects they share.
///
/// A pod is listed from its creation until it has ended *and* its
/// [`PodHandle`](crate::PodHandle) is dropped, as a node lists a pod until it is deleted.
///
/// ```no_run
/// # fn demo(runtime: &wasmpod::Runtime) {
/// for pod in runtime.cluster().pods() {
///     let phase = pod.status.and_then(|s| s.phase).unwrap_or_default();
///     println!("{} {phase}", pod.metadata.name.unwrap_or_default());
/// }
/// # }
/// ```
#[derive(Debug, Default)]
pub struct Cluster {
    /// Each live pod's status, by uid (unique, unlike names).
    pods: Mutex<HashMap<String, watch::Receiver<Pod>>>,
}

impl Cluster {
    /// Every listed pod with its current status, by namespace then name (then uid).
    pub fn pods(&self) -> Vec<Pod> {
        let mut pods: Vec<Pod> = lock(&self.pods)
            .values()
            .map(|status| status.borrow().clone())
            .collect();
        pods.sort_by(|a, b| key(a).cmp(&key(b)));
        pods
    }

    /// Lists a pod until every clone of the returned registration is dropped.
    pub(crate) fn register(
        self: &Arc<Self>,
        uid: &str,
        status: watch::Receiver<Pod>,
    ) -> Registration {
        lock(&self.pods).insert(uid.to_owned(), status);
        Registration {
            cluster: Arc::downgrade(self),
            uid: uid.to_owned(),
        }
    }
}

/// A pod's place in its [`Cluster`]; dropping it unlists the pod.
#[derive(Debug)]
pub(crate) struct Registration {
    cluster: Weak<Cluster>,
    uid: String,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(cluster) = self.cluster.upgrade() {
            lock(&cluster.pods).remove(&self.uid);
        }
    }
}

fn key(pod: &Pod) -> (&str, &str, &str) {
    let m = &pod.metadata;
    (
        m.namespace.as_deref().unwrap_or_default(),
        m.name.as_deref().unwrap_or_default(),
        m.uid.as_deref().unwrap_or_default(),
    )
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(namespace: &str, name: &str, uid: &str) -> watch::Sender<Pod> {
        let mut pod = Pod::default();
        pod.metadata.namespace = Some(namespace.into());
        pod.metadata.name = Some(name.into());
        pod.metadata.uid = Some(uid.into());
        watch::channel(pod).0
    }

    fn names(cluster: &Cluster) -> Vec<String> {
        cluster
            .pods()
            .into_iter()
            .map(|p| {
                format!(
                    "{}/{}",
                    p.metadata.namespace.unwrap(),
                    p.metadata.name.unwrap()
                )
            })
            .collect()
    }

    #[test]
    fn lists_pods_by_namespace_and_name_until_unregistered() {
        let cluster = Arc::new(Cluster::default());
        let (b, a, other) = (
            pod("default", "b", "1"),
            pod("default", "a", "2"),
            pod("kube", "a", "3"),
        );
        let rb = cluster.register("1", b.subscribe());
        let ra = cluster.register("2", a.subscribe());
        let ro = cluster.register("3", other.subscribe());
        assert_eq!(names(&cluster), ["default/a", "default/b", "kube/a"]);

        // The listing shows the current status.
        a.send_modify(|p| p.metadata.name = Some("c".into()));
        assert_eq!(names(&cluster), ["default/b", "default/c", "kube/a"]);

        drop(rb);
        assert_eq!(names(&cluster), ["default/c", "kube/a"]);
        drop((ra, ro));
        assert!(cluster.pods().is_empty());
    }

    #[test]
    fn a_registration_outliving_its_cluster_is_harmless() {
        let cluster = Arc::new(Cluster::default());
        let status = pod("default", "a", "1");
        let registration = cluster.register("1", status.subscribe());
        drop(cluster);
        drop(registration);
    }
}
