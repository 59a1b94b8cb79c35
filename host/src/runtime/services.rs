//! A cluster's Services: stored with their cluster IPs, and answering the cluster network's
//! questions (which endpoints serve a Service's port, what a name resolves to) from the
//! pods' current statuses, so that a pod that turns Ready is served at once and one that
//! turns unready or ends is not.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, Service};

use super::cluster::Cluster;
use crate::plan::service::{self as svc_plan, Endpoint};
use crate::sandbox::net::netns::Proto;
use crate::sandbox::{Backends, Directory, PodStream};
use crate::sync::lock;

fn ns_name(svc: &Service) -> (String, String) {
    (
        svc.metadata
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "default".into()),
        svc.metadata.name.clone().unwrap_or_default(),
    )
}

/// The most Services one runtime holds.
pub const MAX_SERVICES: usize = 10_000;

/// Services by namespace and name, and by cluster IP: what each connection to a
/// Service asks, answered without a look through all of them.
#[derive(Debug, Default)]
pub(crate) struct ServiceMap {
    by_name: BTreeMap<(String, String), Arc<Service>>,
    by_ip: HashMap<Ipv4Addr, Arc<Service>>,
}

impl ServiceMap {
    fn get(&self, key: &(String, String)) -> Option<&Arc<Service>> {
        self.by_name.get(key)
    }

    fn len(&self) -> usize {
        self.by_name.len()
    }

    fn iter(&self) -> impl Iterator<Item = (&(String, String), &Arc<Service>)> {
        self.by_name.iter()
    }

    /// The Services of `namespace`, in name order.
    fn in_namespace<'a>(&'a self, namespace: &'a str) -> impl Iterator<Item = &'a Arc<Service>> {
        self.by_name
            .range((namespace.to_owned(), String::new())..)
            .take_while(move |((ns, _), _)| ns == namespace)
            .map(|(_, s)| s)
    }

    /// The Service whose cluster IP is `ip`.
    fn by_ip(&self, ip: Ipv4Addr) -> Option<&Arc<Service>> {
        self.by_ip.get(&ip)
    }

    fn insert(&mut self, key: (String, String), svc: Arc<Service>) {
        if let Some(old) = self.by_name.insert(key, svc.clone()) {
            self.forget_ip(&old);
        }
        if let Some(ip) = svc_plan::cluster_ip(&svc) {
            self.by_ip.insert(ip, svc);
        }
    }

    fn remove(&mut self, key: &(String, String)) -> Option<Arc<Service>> {
        let removed = self.by_name.remove(key)?;
        self.forget_ip(&removed);
        Some(removed)
    }

    fn forget_ip(&mut self, svc: &Arc<Service>) {
        if let Some(ip) = svc_plan::cluster_ip(svc)
            && self.by_ip.get(&ip).is_some_and(|s| Arc::ptr_eq(s, svc))
        {
            self.by_ip.remove(&ip);
        }
    }
}

impl Cluster {
    /// Adds or replaces a Service, giving it a cluster IP (from the service CIDR, or the
    /// one it asks for) unless it is headless; an update keeps its IP.
    pub(super) fn apply_service(&self, mut svc: Service) -> Result<(), String> {
        let key = ns_name(&svc);
        let mut services = lock(&self.services);
        if services.get(&key).is_none() && services.len() >= MAX_SERVICES {
            return Err(format!(
                "Forbidden: exceeded quota: at most {MAX_SERVICES} Services in one runtime; \
                 delete some first"
            ));
        }
        let old = services
            .get(&key)
            .map(|s| (svc_plan::cluster_ip(s), svc_plan::is_headless(s)));
        let spec = svc.spec.get_or_insert_with(Default::default);
        let asked = spec.cluster_ip.clone().filter(|ip| !ip.is_empty());
        let ip = match (old, asked.as_deref()) {
            (Some((Some(old), _)), None) => Some(old),
            (Some((Some(old), _)), Some(a)) if a == old.to_string() => Some(old),
            (Some((None, true)), None | Some("None")) => None,
            (Some(_), _) => {
                return Err("spec.clusterIP: Invalid value: field is immutable".into());
            }
            (None, Some("None")) => None,
            (None, requested) => {
                let requested = requested.and_then(|r| r.parse::<Ipv4Addr>().ok());
                let ip = self
                    .network
                    .allocate_service_ip(requested)
                    .map_err(|m| format!("spec.clusterIP: {m}"))?;
                Some(ip)
            }
        };
        if let Some(ip) = ip {
            spec.cluster_ip = Some(ip.to_string());
            spec.cluster_ips = Some(vec![ip.to_string()]);
        } else {
            spec.cluster_ip = Some("None".into());
            spec.cluster_ips = Some(vec!["None".into()]);
        }
        spec.type_.get_or_insert_with(|| "ClusterIP".into());
        spec.session_affinity.get_or_insert_with(|| "None".into());
        for p in spec.ports.iter_mut().flatten() {
            p.protocol.get_or_insert_with(|| "TCP".into());
        }
        if matches!(spec.type_.as_deref(), Some("NodePort" | "LoadBalancer")) {
            // Node ports are the node's: unique across every Service.
            let mut used: std::collections::BTreeSet<i32> = services
                .iter()
                .filter(|(k, _)| **k != key)
                .filter_map(|(_, s)| s.spec.as_ref())
                .flat_map(|s| s.ports.iter().flatten().filter_map(|p| p.node_port))
                .collect();
            for (i, p) in spec.ports.iter_mut().flatten().enumerate() {
                match p.node_port.filter(|n| *n != 0) {
                    Some(n) if !used.insert(n) => {
                        return Err(format!(
                            "spec.ports[{i}].nodePort: Invalid value: {n}: provided port is already allocated"
                        ));
                    }
                    Some(_) => {}
                    None => {
                        let free = crate::spec::NODE_PORTS
                            .clone()
                            .find(|n| !used.contains(n))
                            .ok_or("spec.ports: Internal error: the node port range is full")?;
                        used.insert(free);
                        p.node_port = Some(free);
                    }
                }
            }
        }
        services.insert(key, Arc::new(svc));
        Ok(())
    }

    /// Deletes a Service (and frees its cluster IP); `false` if there was none.
    pub fn delete_service(&self, namespace: &str, name: &str) -> bool {
        let removed = lock(&self.services).remove(&(namespace.to_owned(), name.to_owned()));
        if let Some(ip) = removed.as_deref().and_then(svc_plan::cluster_ip) {
            self.network.release_service_ip(ip);
        }
        removed.is_some()
    }

    /// Every Service, with its cluster IP, by namespace and name.
    pub fn services(&self) -> Vec<Service> {
        lock(&self.services)
            .iter()
            .map(|(_, s)| (**s).clone())
            .collect()
    }

    /// The Services of `namespace`, as they are now.
    pub(crate) fn services_in(&self, namespace: &str) -> Vec<Arc<Service>> {
        lock(&self.services)
            .in_namespace(namespace)
            .cloned()
            .collect()
    }

    /// The Service variables a pod of `namespace` created now gets (`enableServiceLinks`).
    pub(crate) fn service_env(&self, namespace: &str) -> Vec<(String, String)> {
        let services = self.services_in(namespace);
        let refs: Vec<&Service> = services.iter().map(|s| &**s).collect();
        svc_plan::env(&refs)
    }

    /// The endpoints of a Service now (ready and not), as its EndpointSlice lists them;
    /// `None` when there is no such Service.
    ///
    /// ```no_run
    /// # fn demo(runtime: &wasmpod::Runtime) {
    /// for e in runtime.cluster().endpoints("default", "mydb").unwrap_or_default() {
    ///     println!("{} {} ready={}", e.pod, e.ip, e.ready);
    /// }
    /// # }
    /// ```
    pub fn endpoints(&self, namespace: &str, name: &str) -> Option<Vec<Endpoint>> {
        let svc = lock(&self.services)
            .get(&(namespace.to_owned(), name.to_owned()))
            .cloned()?;
        Some(svc_plan::endpoints(&svc, &self.pods_in(namespace)))
    }

    /// Opens a TCP connection from the host program into the cluster network: to a
    /// Service's cluster IP and port (one of its ready endpoints answers) or to a pod IP.
    /// No host socket is involved; the pod sees the node's address (`10.244.0.1`) as
    /// the peer.
    ///
    /// ```no_run
    /// # async fn demo(runtime: &wasmpod::Runtime) -> std::io::Result<()> {
    /// use tokio::io::AsyncWriteExt;
    /// let svc = runtime.cluster().services().into_iter().next().unwrap();
    /// let ip = svc.spec.and_then(|s| s.cluster_ip).unwrap();
    /// let mut stream = runtime.cluster().connect(format!("{ip}:80").parse().unwrap())?;
    /// stream.write_all(b"GET / HTTP/1.0\r\n\r\n").await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// `ConnectionRefused` when nothing listens there (or a Service has no ready
    /// endpoint); `HostUnreachable`-like errors for an address nobody has.
    pub fn connect(&self, addr: std::net::SocketAddr) -> std::io::Result<PodStream> {
        self.network
            .connect(addr)
            .map(PodStream::accepted)
            .map_err(crate::sandbox::net::stream_io_error)
    }

    /// The pods of `namespace` with their current status.
    fn pods_in(&self, namespace: &str) -> Vec<Pod> {
        self.pods_matching(namespace, |_| true)
    }

    /// The pods of `namespace` that `keep` keeps, with their current status.
    fn pods_matching(&self, namespace: &str, keep: impl Fn(&Pod) -> bool) -> Vec<Pod> {
        lock(&self.pods)
            .values()
            .filter_map(|status| {
                let pod = status.borrow();
                let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
                (ns == namespace && keep(&pod)).then(|| Pod::clone(&pod))
            })
            .collect()
    }
}

impl Directory for Cluster {
    fn backends(&self, ip: Ipv4Addr, proto: Proto, port: u16) -> Option<Backends> {
        let svc = lock(&self.services).by_ip(ip).cloned()?;
        let proto = match proto {
            Proto::Tcp => "TCP",
            Proto::Udp => "UDP",
        };
        let (ns, _) = ns_name(&svc);
        // Only the pods the selector matches are copied (this runs at every connect).
        let selector = svc.spec.as_ref().and_then(|s| s.selector.as_ref());
        let pods = self.pods_matching(&ns, |pod| {
            let labels = pod.metadata.labels.as_ref();
            selector.is_some_and(|sel| {
                !sel.is_empty()
                    && sel
                        .iter()
                        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
            })
        });
        let (endpoints, client_ip_affinity) = svc_plan::backends(&svc, proto, port, &pods)?;
        Some(Backends {
            endpoints,
            client_ip_affinity,
        })
    }

    fn lookup(&self, fqdn: &str) -> Option<Vec<IpAddr>> {
        // `<…>.<ns>.svc.cluster.local` or `<…>.<ns>.pod.cluster.local`: the namespace is
        // the third label from the end.
        let labels: Vec<&str> = fqdn.split('.').collect();
        let ns = labels.len().checked_sub(4).map(|i| labels[i])?;
        let services = self.services_in(ns);
        let refs: Vec<&Service> = services.iter().map(|s| &**s).collect();
        svc_plan::lookup(fqdn, &refs, &self.pods_in(ns))
    }
}
