//! The state a runtime's pods share: the registry of its pods and the ConfigMaps and
//! Secrets they read. It is the place for what many pods will share as it comes — the
//! cluster network and Services, the image store — so that each stays out of the
//! single-pod pipeline.

use std::sync::{Arc, Mutex, Weak};

use k8s_openapi::api::core::v1::Pod;
use tokio::sync::watch;

use super::listed::Listed;
use crate::plan::{ConfigObjects, ObjectKind};
use crate::sandbox::{ClusterNetwork, Directory};
use crate::spec::ConfigObject;
use crate::sync::lock;

pub(super) use super::services::ServiceMap;

/// The pods of one [`Runtime`](crate::Runtime) and the ConfigMaps and Secrets they read.
///
/// A pod is listed from its creation until it has ended *and* its
/// [`PodHandle`](crate::PodHandle) is dropped, as a node lists a pod until it is deleted.
///
/// A pod reads the objects of its namespace when a container starts (env) and while it
/// runs (volumes): one that names a missing object waits, as on a node, until it is
/// applied; an update shows in mounted volumes within a moment (env keeps the values of
/// its start).
///
/// ```no_run
/// # fn demo(runtime: &wasmpod::Runtime) -> Result<(), Box<dyn std::error::Error>> {
/// let file = wasmpod::spec::load(
///     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {mode: fast}\n",
/// )?;
/// for object in file.objects {
///     runtime.cluster().apply(object)?;
/// }
/// # Ok(()) }
/// ```
///
/// ```no_run
/// # fn demo(runtime: &wasmpod::Runtime) {
/// for pod in runtime.cluster().pods() {
///     let phase = pod.status.and_then(|s| s.phase).unwrap_or_default();
///     println!("{} {phase}", pod.metadata.name.unwrap_or_default());
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct Cluster {
    /// Each live pod's status, by uid (unique, unlike names), namespace and label.
    pub(super) pods: Mutex<Listed>,
    /// The ConfigMaps and Secrets; each pod watches them.
    objects: watch::Sender<Arc<ConfigObjects>>,
    /// The Services, with their cluster IPs.
    pub(super) services: Mutex<ServiceMap>,
    /// The network between the pods; it asks this cluster about Services and names.
    pub(super) network: Arc<ClusterNetwork>,
    /// Bumped when a pod is listed or unlisted or its status changes ([`Cluster::watch_pods`]).
    generation: watch::Sender<u64>,
}

impl Cluster {
    /// A cluster whose network has these ranges; it answers its network's questions.
    pub(super) fn new(network: Arc<ClusterNetwork>) -> Arc<Self> {
        let cluster = Arc::new(Cluster {
            pods: Mutex::default(),
            objects: watch::Sender::new(Arc::default()),
            services: Mutex::default(),
            network,
            generation: watch::Sender::new(0),
        });
        let directory: Weak<dyn Directory> = Arc::downgrade(&cluster) as Weak<dyn Directory>;
        cluster.network.set_directory(directory);
        cluster
    }

    /// The network between the pods.
    pub fn network(&self) -> &Arc<ClusterNetwork> {
        &self.network
    }
}

#[cfg(test)]
impl Cluster {
    /// A cluster on the default ranges, for the runtime's unit tests.
    pub(super) fn for_tests() -> Arc<Self> {
        use crate::sandbox::net::cluster::{DEFAULT_POD_CIDR, DEFAULT_SERVICE_CIDR};
        let (pods, services) = (DEFAULT_POD_CIDR.parse(), DEFAULT_SERVICE_CIDR.parse());
        Cluster::new(ClusterNetwork::new(pods.unwrap(), services.unwrap()).unwrap())
    }
}

/// An update the API server would refuse: the object, the field and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} {namespace}/{name}: {message}")]
#[non_exhaustive]
pub struct ApplyError {
    /// `ConfigMap` or `Secret`.
    pub kind: &'static str,
    /// The object's namespace.
    pub namespace: String,
    /// The object's name.
    pub name: String,
    /// The field and what is wrong (`data: Forbidden: field is immutable when …`).
    pub message: String,
}

impl Cluster {
    /// Adds a ConfigMap or Secret, or replaces the one of the same kind, namespace and
    /// name. Pods waiting for it proceed; volumes that project it are rewritten.
    ///
    /// # Errors
    /// [`ApplyError`] for an update the API server refuses: the data of an object marked
    /// `immutable`, a Secret's `type`. Nothing changes then.
    pub fn apply(&self, object: ConfigObject) -> Result<(), ApplyError> {
        self.apply_all(std::iter::once(object))
    }

    /// Applies several objects as [`apply`](Self::apply) does, in order, the ConfigMaps
    /// and Secrets as one change (one new version for the pods to see, where applying
    /// them one by one copies the set's index for each), then the Services. Each kind
    /// stops at its first refused object (the Services at the first refused object of
    /// either kind); the error is the earliest refused in the input.
    ///
    /// # Errors
    /// As [`apply`](Self::apply), for the first object refused.
    pub fn apply_all(
        &self,
        objects: impl IntoIterator<Item = ConfigObject>,
    ) -> Result<(), ApplyError> {
        let refused = |object: &ConfigObject| {
            let (kind, namespace, name) = (
                object.kind(),
                object.namespace().to_owned(),
                object.name().to_owned(),
            );
            move |message| ApplyError {
                kind,
                namespace,
                name,
                message,
            }
        };
        let (services, config): (Vec<_>, Vec<_>) = objects
            .into_iter()
            .enumerate()
            .partition(|(_, o)| matches!(o, ConfigObject::Service(_)));
        // The ConfigMaps and Secrets up to the first refused one, under the watch's lock
        // (no concurrent apply is lost); then the Services before that point.
        let mut first_error: Option<(usize, ApplyError)> = None;
        self.objects.send_if_modified(|objects| {
            if config.is_empty() {
                return false;
            }
            let mut next = (**objects).clone();
            for (i, object) in config {
                let error = refused(&object);
                if let Err(message) = next.apply(object) {
                    first_error = Some((i, error(message)));
                    break;
                }
            }
            if next == **objects {
                return false;
            }
            *objects = Arc::new(next);
            true
        });
        let stop = first_error.as_ref().map_or(usize::MAX, |(i, _)| *i);
        for (i, object) in services.into_iter().take_while(|(i, _)| *i < stop) {
            let error = refused(&object);
            let ConfigObject::Service(svc) = object else {
                continue;
            };
            if let Err(message) = self.apply_service(*svc) {
                first_error = Some((i, error(message)));
                break;
            }
        }
        first_error.map_or(Ok(()), |(_, e)| Err(e))
    }

    /// Deletes a ConfigMap or Secret; `false` if there was none. Running pods keep what
    /// they read; a container that starts later and needs it waits.
    pub fn delete(&self, kind: ObjectKind, namespace: &str, name: &str) -> bool {
        self.objects.send_if_modified(|objects| {
            let mut next = (**objects).clone();
            let deleted = next.delete(kind, namespace, name);
            if deleted {
                *objects = Arc::new(next);
            }
            deleted
        })
    }

    /// The current ConfigMaps and Secrets.
    pub fn objects(&self) -> Arc<ConfigObjects> {
        self.objects.borrow().clone()
    }

    /// A watch on the ConfigMaps and Secrets, for a pod's supervisor.
    pub(crate) fn watch_objects(&self) -> watch::Receiver<Arc<ConfigObjects>> {
        self.objects.subscribe()
    }

    /// Every listed pod with its current status, by namespace then name (then uid).
    pub fn pods(&self) -> Vec<Pod> {
        let mut pods: Vec<Pod> = lock(&self.pods).all().map(Arc::unwrap_or_clone).collect();
        pods.sort_by(|a, b| key(a).cmp(&key(b)));
        pods
    }

    /// A watch that changes whenever a pod is listed or unlisted or the status of a listed
    /// pod changes: an informer's "something changed, list again" (see [`pods`](Self::pods)).
    ///
    /// ```no_run
    /// # async fn demo(runtime: &wasmpod::Runtime) {
    /// let mut changes = runtime.cluster().watch_pods();
    /// while changes.changed().await.is_ok() {
    ///     let running = runtime.cluster().pods().into_iter().filter(|p| {
    ///         p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
    ///     });
    ///     println!("{} running", running.count());
    /// }
    /// # }
    /// ```
    pub fn watch_pods(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// The pods' generation now: what a [`watch_pods`](Self::watch_pods) watch sees.
    pub(super) fn generation(&self) -> u64 {
        *self.generation.borrow()
    }

    fn bump(&self) {
        self.generation.send_modify(|g| *g = g.wrapping_add(1));
    }

    /// Lists a pod until every clone of the returned registration is dropped.
    pub(crate) fn register(
        self: &Arc<Self>,
        uid: &str,
        status: watch::Receiver<Arc<Pod>>,
    ) -> Registration {
        lock(&self.pods).insert(uid, status);
        self.bump();
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

impl Registration {
    /// What tells the cluster that the pod's status changed (its publisher calls it:
    /// no task per pod waits for the changes).
    pub(crate) fn on_status_change(&self) -> Box<dyn Fn() + Send + Sync> {
        let cluster = self.cluster.clone();
        Box::new(move || {
            if let Some(c) = cluster.upgrade() {
                c.bump();
            }
        })
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(cluster) = self.cluster.upgrade() {
            lock(&cluster.pods).remove(&self.uid);
            cluster.bump();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(namespace: &str, name: &str, uid: &str) -> watch::Sender<Arc<Pod>> {
        let mut pod = Pod::default();
        pod.metadata.namespace = Some(namespace.into());
        pod.metadata.name = Some(name.into());
        pod.metadata.uid = Some(uid.into());
        watch::channel(Arc::new(pod)).0
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
        let cluster = Cluster::for_tests();
        let (b, a, other) = (
            pod("default", "b", "1"),
            pod("default", "a", "2"),
            pod("kube", "a", "3"),
        );
        let mut changes = cluster.watch_pods();
        let rb = cluster.register("1", b.subscribe());
        assert!(changes.has_changed().unwrap(), "a listed pod is a change");
        changes.borrow_and_update();
        let ra = cluster.register("2", a.subscribe());
        let ro = cluster.register("3", other.subscribe());
        assert_eq!(names(&cluster), ["default/a", "default/b", "kube/a"]);

        // The listing shows the current status.
        a.send_modify(|p| Arc::make_mut(p).metadata.name = Some("c".into()));
        assert_eq!(names(&cluster), ["default/b", "default/c", "kube/a"]);

        drop(rb);
        assert!(
            changes.has_changed().unwrap(),
            "an unlisted pod is a change"
        );
        assert_eq!(names(&cluster), ["default/c", "kube/a"]);
        drop((ra, ro));
        assert!(cluster.pods().is_empty());
    }

    /// An embedder applying Services without end meets a quota, as a namespace's would:
    /// a Service already there can still be replaced. (ConfigMaps and Secrets: the test
    /// in `plan/config.rs`.)
    #[test]
    fn services_are_bounded() {
        use k8s_openapi::api::core::v1::{Service, ServiceSpec};
        let cluster = Cluster::for_tests();
        let service = |name: String| {
            let mut s = Service::default();
            s.metadata.name = Some(name);
            s.spec = Some(ServiceSpec {
                cluster_ip: Some("None".into()),
                ..Default::default()
            });
            crate::spec::ConfigObject::Service(Box::new(s))
        };
        for i in 0..super::super::services::MAX_SERVICES {
            cluster.apply(service(format!("s{i}"))).unwrap();
        }
        let err = cluster.apply(service("one-too-many".into())).unwrap_err();
        assert!(err.message.contains("exceeded quota"), "{err}");
        cluster.apply(service("s0".into())).unwrap();
    }

    /// A connection to a cluster IP finds its Service by that IP (an index, not a look
    /// through every Service), through an update and a deletion.
    #[test]
    fn services_are_found_by_cluster_ip() {
        use crate::sandbox::net::netns::Proto;
        use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
        let cluster = Cluster::for_tests();
        let apply = |name: &str, port: i32| {
            let mut s = Service::default();
            s.metadata.name = Some(name.into());
            s.spec = Some(ServiceSpec {
                ports: Some(vec![ServicePort {
                    port,
                    ..Default::default()
                }]),
                ..Default::default()
            });
            cluster
                .apply(crate::spec::ConfigObject::Service(Box::new(s)))
                .unwrap();
        };
        let ip = |name: &str| {
            let services = cluster.services();
            let s = services
                .iter()
                .find(|s| s.metadata.name.as_deref() == Some(name));
            crate::plan::service::cluster_ip(s.unwrap()).unwrap()
        };
        apply("a", 80);
        apply("b", 81);
        let (a, b) = (ip("a"), ip("b"));
        assert_ne!(a, b);
        let serves = |ip, port| cluster.backends(ip, Proto::Tcp, port).is_some();
        assert!(serves(a, 80) && !serves(a, 81) && serves(b, 81) && !serves(b, 80));
        // Another port: the same IP, which finds the Service as it is now.
        apply("a", 90);
        assert_eq!(ip("a"), a);
        assert!(!serves(a, 80) && serves(a, 90));
        assert!(cluster.delete_service("default", "a"));
        assert!(!serves(a, 90) && serves(b, 81));
        // By namespace: only its own, whatever the names around it.
        for (ns, name) in [("defaul", "z"), ("default-x", "a"), ("kube", "b")] {
            let mut s = Service::default();
            (s.metadata.namespace, s.metadata.name) = (Some(ns.into()), Some(name.into()));
            let s = crate::spec::ConfigObject::Service(Box::new(s));
            cluster.apply(s).unwrap();
        }
        let names = |ns: &str| -> Vec<String> {
            let services = cluster.services_in(ns);
            services
                .iter()
                .map(|s| s.metadata.name.clone().unwrap())
                .collect()
        };
        assert_eq!(names("default"), ["b"]);
        assert_eq!(names("kube"), ["b"]);
        assert_eq!(names("defaul"), ["z"]);
        assert!(names("kub").is_empty());
    }

    /// A batch is one new version of the objects; the first refused object stops it
    /// and is the error.
    #[test]
    fn apply_all_is_one_change_and_stops_at_the_first_refused() {
        let file = crate::spec::load(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\nimmutable: true\ndata: {k: one}\n",
        )
        .unwrap();
        let cluster = Cluster::for_tests();
        cluster.apply_all(file.objects).unwrap();
        let mut changes = cluster.objects.subscribe();
        let batch = crate::spec::load(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\ndata: {k: x}\n---\n\
             apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {k: y}\n",
        )
        .unwrap();
        cluster.apply_all(batch.objects).unwrap();
        assert!(changes.has_changed().unwrap());
        changes.borrow_and_update();
        let objects = cluster.objects();
        assert!(objects.config_map("default", "b").is_some());
        assert!(objects.config_map("default", "c").is_some());

        let refused = crate::spec::load(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: d}\ndata: {k: x}\n---\n\
             apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\nimmutable: true\ndata: {k: two}\n---\n\
             apiVersion: v1\nkind: ConfigMap\nmetadata: {name: e}\ndata: {k: x}\n",
        )
        .unwrap();
        let err = cluster.apply_all(refused.objects).unwrap_err();
        assert_eq!((err.kind, err.name.as_str()), ("ConfigMap", "a"), "{err}");
        assert!(err.message.contains("immutable"), "{err}");
        let objects = cluster.objects();
        assert!(
            objects.config_map("default", "d").is_some(),
            "before the refused one"
        );
        assert!(objects.config_map("default", "e").is_none(), "after it");
    }

    /// The hook a registration gives its pod's status publisher (which calls it at each
    /// change, see `Shared::update_status`) is a change of the cluster's pods.
    #[test]
    fn a_status_change_is_a_change_of_the_pods() {
        let cluster = Cluster::for_tests();
        let status = pod("default", "a", "1");
        let registration = cluster.register("1", status.subscribe());
        let changed = registration.on_status_change();
        let mut changes = cluster.watch_pods();
        changes.borrow_and_update();
        status.send_modify(|p| Arc::make_mut(p).metadata.name = Some("b".into()));
        changed();
        assert!(
            changes.has_changed().unwrap(),
            "a status change is a change"
        );
        assert_eq!(names(&cluster), ["default/b"]);
    }

    #[test]
    fn a_registration_outliving_its_cluster_is_harmless() {
        let cluster = Cluster::for_tests();
        let status = pod("default", "a", "1");
        let registration = cluster.register("1", status.subscribe());
        drop(cluster);
        drop(registration);
    }
}
