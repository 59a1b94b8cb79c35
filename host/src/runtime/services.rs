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
    /// The backends last worked out for a cluster IP, protocol and port, with the pods'
    /// generation then: at most one entry per port of a Service (a port it lacks has
    /// none), forgotten with the Service object they came from.
    backends: HashMap<(Ipv4Addr, &'static str, u16), (u64, Backends)>,
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

    /// The backends worked out before for this port of the Service at `ip`, if no pod
    /// has changed since (a new Service object starts with none).
    fn worked(
        &self,
        ip: Ipv4Addr,
        proto: &'static str,
        port: u16,
        generation: u64,
    ) -> Option<Backends> {
        let (worked_at, backends) = self.backends.get(&(ip, proto, port))?;
        (*worked_at == generation).then(|| backends.clone())
    }

    /// Forgets `svc` (replaced or deleted): its cluster IP, and the backends kept for it.
    fn forget_ip(&mut self, svc: &Arc<Service>) {
        let Some(ip) = svc_plan::cluster_ip(svc) else {
            return;
        };
        if self.by_ip.get(&ip).is_some_and(|s| Arc::ptr_eq(s, svc)) {
            self.by_ip.remove(&ip);
        }
        self.backends.retain(|(at, _, _), _| *at != ip);
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
        Some(svc_plan::endpoints(&svc, &self.pods_selected(&svc)))
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
    fn pods_in(&self, namespace: &str) -> Vec<Arc<Pod>> {
        lock(&self.pods).in_namespace(namespace)
    }

    /// The pods `svc`'s selector picks, with their current status (this runs at every
    /// connect to a Service: only the pods that carry its labels are read).
    fn pods_selected(&self, svc: &Service) -> Vec<Arc<Pod>> {
        let selector = svc.spec.as_ref().and_then(|s| s.selector.as_ref());
        let Some(selector) = selector else {
            return Vec::new();
        };
        lock(&self.pods).selected(svc_plan::namespace_of(&svc.metadata), selector)
    }
}

impl Directory for Cluster {
    fn backends(&self, ip: Ipv4Addr, proto: Proto, port: u16) -> Option<Backends> {
        let proto = match proto {
            Proto::Tcp => "TCP",
            Proto::Udp => "UDP",
        };
        // Read before the pods: a change from here on makes the next connect work
        // them out again.
        let generation = self.generation();
        let svc = {
            let services = lock(&self.services);
            if let Some(backends) = services.worked(ip, proto, port, generation) {
                return Some(backends);
            }
            services.by_ip(ip).cloned()?
        };
        let pods = self.pods_selected(&svc);
        let (endpoints, client_ip_affinity) = svc_plan::backends(&svc, proto, port, &pods)?;
        let backends = Backends {
            endpoints: endpoints.into(),
            client_ip_affinity,
        };
        let mut services = lock(&self.services);
        // Kept unless the Service was replaced or deleted meanwhile.
        if services.by_ip(ip).is_some_and(|s| Arc::ptr_eq(s, &svc)) {
            let worked = (generation, backends.clone());
            services.backends.insert((ip, proto, port), worked);
        }
        Some(backends)
    }

    fn lookup(&self, fqdn: &str) -> Option<Vec<IpAddr>> {
        // `<…>.<ns>.svc.cluster.local` or `<…>.<ns>.pod.cluster.local`: the namespace is
        // the third label from the end.
        let labels: Vec<&str> = fqdn.split('.').collect();
        let ns = labels.len().checked_sub(4).map(|i| labels[i])?;
        // The Service a query names, and only the pods it needs: those a Service
        // selects, or for a pod's address those of the namespace.
        let service = |ns: &str, name: &str| {
            let services = lock(&self.services);
            services.get(&(ns.to_owned(), name.to_owned())).cloned()
        };
        svc_plan::lookup(fqdn, service, |svc| match svc {
            Some(svc) => self.pods_selected(svc),
            None => self.pods_in(ns),
        })
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{PodCondition, PodStatus, ServicePort, ServiceSpec};
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    use tokio::sync::watch;

    use super::*;
    use crate::spec::ConfigObject;

    /// A running pod `app: web` at `ip`, Ready or not.
    fn web(ip: &str, ready: bool) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.name = Some(format!("web-{ip}"));
        pod.metadata.labels = Some([("app".to_owned(), "web".to_owned())].into());
        pod.status = Some(PodStatus {
            phase: Some("Running".into()),
            pod_ip: Some(ip.into()),
            conditions: Some(vec![PodCondition {
                type_: "Ready".into(),
                status: if ready { "True" } else { "False" }.into(),
                ..Default::default()
            }]),
            ..Default::default()
        });
        pod
    }

    /// Applies the Service `web` (port 80 to `target`) and gives its cluster IP.
    fn apply_web(cluster: &Cluster, target: i32) -> Ipv4Addr {
        let mut svc = Service::default();
        svc.metadata.name = Some("web".into());
        svc.spec = Some(ServiceSpec {
            selector: Some([("app".to_owned(), "web".to_owned())].into()),
            ports: Some(vec![ServicePort {
                port: 80,
                target_port: Some(IntOrString::Int(target)),
                ..Default::default()
            }]),
            ..Default::default()
        });
        cluster.apply(ConfigObject::Service(Box::new(svc))).unwrap();
        let services = cluster.services_in("default");
        svc_plan::cluster_ip(&services[0]).unwrap()
    }

    /// The backends a connect works out are kept for the next one, and follow every
    /// change: a pod turning Ready, a pod listed or unlisted, the Service's update and
    /// its deletion.
    #[test]
    fn kept_backends_follow_the_pods_and_the_service() {
        let cluster = Cluster::for_tests();
        let ip = apply_web(&cluster, 8080);
        let endpoints = || {
            let backends = cluster.backends(ip, Proto::Tcp, 80).unwrap();
            let addrs = backends.endpoints.iter().map(|a| a.to_string());
            addrs.collect::<Vec<_>>()
        };
        let a = watch::channel(Arc::new(web("10.244.0.2", false))).0;
        let listed_a = cluster.register("a", a.subscribe());
        let a_changed = listed_a.on_status_change();
        assert!(endpoints().is_empty());
        assert!(endpoints().is_empty(), "kept, and still right");

        a.send_modify(|p| *Arc::make_mut(p) = web("10.244.0.2", true));
        a_changed();
        assert_eq!(endpoints(), ["10.244.0.2:8080"], "a pod turned Ready");

        let b = watch::channel(Arc::new(web("10.244.0.3", true))).0;
        let listed_b = cluster.register("b", b.subscribe());
        assert_eq!(endpoints(), ["10.244.0.2:8080", "10.244.0.3:8080"]);

        assert_eq!(apply_web(&cluster, 9090), ip, "an update keeps the IP");
        assert!(
            lock(&cluster.services).backends.is_empty(),
            "an update forgets"
        );
        assert_eq!(endpoints(), ["10.244.0.2:9090", "10.244.0.3:9090"]);

        drop(listed_a);
        assert_eq!(endpoints(), ["10.244.0.3:9090"], "a pod unlisted");
        assert!(cluster.delete_service("default", "web"));
        assert!(cluster.backends(ip, Proto::Tcp, 80).is_none());
        assert!(lock(&cluster.services).backends.is_empty(), "none kept");
        drop(listed_b);
    }
}
