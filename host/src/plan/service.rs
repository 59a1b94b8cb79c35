//! What a cluster's Services mean for its pods, as pure functions of the objects: the
//! endpoints of a Service (the EndpointSlice controller: pods its selector matches,
//! `targetPort` resolved by number or container-port name, only Ready pods serving),
//! the names cluster DNS answers (CoreDNS's `kubernetes` plugin), and the variables
//! the kubelet puts in a container's environment for each Service (`enableServiceLinks`).

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use k8s_openapi::api::core::v1::{Pod, Service, ServicePort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// The cluster domain.
pub const CLUSTER_DOMAIN: &str = "cluster.local";

/// `sessionAffinityConfig.clientIP.timeoutSeconds`'s default (3 hours).
pub const DEFAULT_AFFINITY_SECONDS: i32 = 10_800;

/// One pod behind a Service.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Endpoint {
    /// The pod's name.
    pub pod: String,
    /// The pod's IP.
    pub ip: Ipv4Addr,
    /// Whether it serves (the pod is Ready and not terminating).
    pub ready: bool,
    /// Each Service port's name, protocol and the pod's port for it; a port whose named
    /// `targetPort` the pod does not declare is left out.
    pub ports: Vec<(String, String, u16)>,
}

/// The namespace of an object: `default` when it names none.
pub(crate) fn namespace_of(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> &str {
    meta.namespace
        .as_deref()
        .filter(|n| !n.is_empty())
        .unwrap_or("default")
}

/// The protocol of a Service port (`TCP` when unset).
pub fn protocol(p: &ServicePort) -> &str {
    p.protocol.as_deref().unwrap_or("TCP")
}

/// The Service's cluster IP; `None` for a headless Service or one not yet assigned.
pub fn cluster_ip(svc: &Service) -> Option<Ipv4Addr> {
    svc.spec.as_ref()?.cluster_ip.as_deref()?.parse().ok()
}

/// Whether the Service is headless (`clusterIP: None`).
pub fn is_headless(svc: &Service) -> bool {
    svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None")
}

/// Whether a pod is Ready and running.
fn is_ready(pod: &Pod) -> bool {
    let Some(status) = &pod.status else {
        return false;
    };
    let running = status.phase.as_deref() == Some("Running");
    running
        && status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True")
}

fn pod_ip(pod: &Pod) -> Option<Ipv4Addr> {
    pod.status.as_ref()?.pod_ip.as_deref()?.parse().ok()
}

/// The port of `pod` a Service port sends to: `targetPort` as a number, the container
/// port of that name (and protocol), or the Service port itself when unset.
pub fn target_port(p: &ServicePort, pod: &Pod) -> Option<u16> {
    match &p.target_port {
        None => u16::try_from(p.port).ok(),
        Some(IntOrString::Int(n)) => u16::try_from(*n).ok().filter(|n| *n != 0),
        Some(IntOrString::String(name)) => pod
            .spec
            .as_ref()?
            .containers
            .iter()
            .flat_map(|c| c.ports.iter().flatten())
            .find(|cp| {
                cp.name.as_deref() == Some(name)
                    && cp.protocol.as_deref().unwrap_or("TCP") == protocol(p)
            })
            .and_then(|cp| u16::try_from(cp.container_port).ok()),
    }
}

/// Whether `selector` selects `pod` (every pair is among its labels). An empty selector
/// selects nothing: such a Service's endpoints are managed by hand.
fn selects(selector: &BTreeMap<String, String>, pod: &Pod) -> bool {
    !selector.is_empty() && carries(pod.metadata.labels.as_ref(), selector)
}

/// Whether `labels` has every pair of `selector`.
pub(crate) fn carries(
    labels: Option<&BTreeMap<String, String>>,
    selector: &BTreeMap<String, String>,
) -> bool {
    selector
        .iter()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

/// The endpoints of `svc` among `pods`: pods of its namespace that its selector matches
/// and that have an IP and have not ended, in name order.
pub fn endpoints(svc: &Service, pods: &[impl Borrow<Pod>]) -> Vec<Endpoint> {
    let ns = namespace_of(&svc.metadata);
    let Some(spec) = &svc.spec else {
        return Vec::new();
    };
    let Some(selector) = &spec.selector else {
        return Vec::new();
    };
    let mut out: Vec<Endpoint> = pods
        .iter()
        .map(Borrow::borrow)
        .filter(|pod| namespace_of(&pod.metadata) == ns && selects(selector, pod))
        .filter(|pod| {
            let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
            !matches!(phase, Some("Succeeded" | "Failed"))
        })
        .filter_map(|pod| {
            let ip = pod_ip(pod)?;
            let ports = spec
                .ports
                .iter()
                .flatten()
                .filter_map(|p| {
                    let name = p.name.clone().unwrap_or_default();
                    Some((name, protocol(p).to_string(), target_port(p, pod)?))
                })
                .collect();
            Some(Endpoint {
                pod: pod.metadata.name.clone().unwrap_or_default(),
                ip,
                ready: is_ready(pod),
                ports,
            })
        })
        .collect();
    out.sort_by(|a, b| a.pod.cmp(&b.pod));
    out
}

/// Where the Service port `port`/`proto` of `svc` sends: its ready endpoints' addresses
/// and its `ClientIP` affinity timeout. `None` when `svc` has no such port.
pub fn backends(
    svc: &Service,
    proto: &str,
    port: u16,
    pods: &[impl Borrow<Pod>],
) -> Option<(Vec<std::net::SocketAddr>, Option<std::time::Duration>)> {
    let spec = svc.spec.as_ref()?;
    let sp = spec
        .ports
        .iter()
        .flatten()
        .find(|p| protocol(p) == proto && p.port == i32::from(port))?;
    let name = sp.name.clone().unwrap_or_default();
    let addrs = endpoints(svc, pods)
        .into_iter()
        .filter(|e| e.ready)
        .filter_map(|e| {
            let (_, _, p) = e
                .ports
                .iter()
                .find(|(n, pr, _)| *n == name && pr == proto)?;
            Some(std::net::SocketAddr::new(e.ip.into(), *p))
        })
        .collect();
    let affinity = (spec.session_affinity.as_deref() == Some("ClientIP")).then(|| {
        let secs = spec
            .session_affinity_config
            .as_ref()
            .and_then(|c| c.client_ip.as_ref())
            .and_then(|c| c.timeout_seconds)
            .unwrap_or(DEFAULT_AFFINITY_SECONDS);
        std::time::Duration::from_secs(u64::try_from(secs).unwrap_or(0))
    });
    Some((addrs, affinity))
}

/// What cluster DNS answers for `fqdn` (lower case, no trailing dot):
/// * `<svc>.<ns>.svc.cluster.local`: the cluster IP, or for a headless Service the IPs of
///   its ready endpoints;
/// * `<hostname>.<svc>.<ns>.svc.cluster.local`: a pod whose `hostname` and `subdomain`
///   (the headless Service) are those, if it is an endpoint of it;
/// * `<a-b-c-d>.<ns>.pod.cluster.local`: that address.
///
/// `service` finds a Service by namespace and name; `pods` gives the pods a query
/// needs, with their status: those a Service's selector picks, or with `None` every
/// pod of the namespace (for a pod's address).
pub fn lookup<S: Borrow<Service>, P: Borrow<Pod>>(
    fqdn: &str,
    service: impl Fn(&str, &str) -> Option<S>,
    pods: impl Fn(Option<&Service>) -> Vec<P>,
) -> Option<Vec<IpAddr>> {
    let rest = fqdn.strip_suffix(CLUSTER_DOMAIN)?.strip_suffix('.')?;
    let labels: Vec<&str> = rest.split('.').collect();
    match labels.as_slice() {
        [svc, ns, "svc"] => {
            let svc = service(ns, svc)?;
            let svc = svc.borrow();
            if let Some(ip) = cluster_ip(svc) {
                return Some(vec![ip.into()]);
            }
            if !is_headless(svc) {
                return None;
            }
            let ips: Vec<IpAddr> = endpoints(svc, &pods(Some(svc)))
                .into_iter()
                .filter(|e| e.ready)
                .map(|e| e.ip.into())
                .collect();
            (!ips.is_empty()).then_some(ips)
        }
        [host, svc_name, ns, "svc"] => {
            let svc = service(ns, svc_name)?;
            let svc = svc.borrow();
            let pods = pods(Some(svc));
            let pod = pods.iter().map(Borrow::borrow).find(|p: &&Pod| {
                let spec = p.spec.as_ref();
                namespace_of(&p.metadata) == *ns
                    && spec.and_then(|s| s.subdomain.as_deref()) == Some(svc_name)
                    && spec
                        .and_then(|s| s.hostname.as_deref())
                        .or(p.metadata.name.as_deref())
                        == Some(host)
            })?;
            let name = pod.metadata.name.as_deref()?;
            let e = endpoints(svc, &pods).into_iter().find(|e| e.pod == name)?;
            Some(vec![e.ip.into()])
        }
        [dashed, ns, "pod"] => {
            let ip: Ipv4Addr = dashed.replace('-', ".").parse().ok()?;
            let known = pods(None)
                .iter()
                .map(Borrow::borrow)
                .any(|p: &Pod| namespace_of(&p.metadata) == *ns && pod_ip(p) == Some(ip));
            known.then(|| vec![ip.into()])
        }
        _ => None,
    }
}

/// What looks wrong about `svc` given the pods (and pod templates) that will run beside it:
/// a selector that matches none of them (the Service has no endpoints until one comes),
/// a named `targetPort` that none of the matching pods declares. Warnings, as kubectl
/// would not refuse either.
pub fn warnings(svc: &Service, pods: &[&Pod]) -> Vec<String> {
    let ns = namespace_of(&svc.metadata);
    let name = svc.metadata.name.as_deref().unwrap_or_default();
    let Some(spec) = &svc.spec else {
        return Vec::new();
    };
    let Some(selector) = spec.selector.as_ref().filter(|s| !s.is_empty()) else {
        return Vec::new();
    };
    let matching: Vec<&&Pod> = pods
        .iter()
        .filter(|p| namespace_of(&p.metadata) == ns && selects(selector, p))
        .collect();
    let shown: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
    if matching.is_empty() {
        return vec![format!(
            "service {ns}/{name}: selector {} matches no pod in the input; it has no endpoints until one is created",
            shown.join(",")
        )];
    }
    let mut out = Vec::new();
    for (i, p) in spec.ports.iter().flatten().enumerate() {
        if let Some(IntOrString::String(port)) = &p.target_port
            && matching.iter().all(|pod| target_port(p, pod).is_none())
        {
            out.push(format!(
                "service {ns}/{name}: spec.ports[{i}].targetPort: no container of the pods it selects declares a {} port named {port:?}; that port has no endpoints",
                protocol(p)
            ));
        }
    }
    out
}

/// `makeEnvVariableName`: upper case, `-` → `_`.
fn env_name(s: &str) -> String {
    s.replace('-', "_").to_ascii_uppercase()
}

/// The kubelet's Service variables (`envvars.FromServices`) for the Services of a pod's
/// namespace that have a cluster IP, in name order: `<NAME>_SERVICE_HOST`,
/// `<NAME>_SERVICE_PORT` (the first port), `<NAME>_SERVICE_PORT_<PORT_NAME>` for named
/// ports, and the docker-link variables (`<NAME>_PORT`, `<NAME>_PORT_<port>_<PROTO>` and
/// its `_PROTO`, `_PORT`, `_ADDR`).
pub fn env(services: &[&Service]) -> Vec<(String, String)> {
    let mut sorted: Vec<&Service> = services.to_vec();
    sorted.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let mut out = Vec::new();
    for svc in sorted {
        let (Some(ip), Some(spec)) = (cluster_ip(svc), &svc.spec) else {
            continue;
        };
        let ports = spec.ports.as_deref().unwrap_or_default();
        let Some(first) = ports.first() else {
            continue;
        };
        let prefix = env_name(svc.metadata.name.as_deref().unwrap_or_default());
        out.push((format!("{prefix}_SERVICE_HOST"), ip.to_string()));
        let service_port = format!("{prefix}_SERVICE_PORT");
        out.push((service_port.clone(), first.port.to_string()));
        for p in ports {
            if let Some(name) = p.name.as_deref().filter(|n| !n.is_empty()) {
                out.push((
                    format!("{service_port}_{}", env_name(name)),
                    p.port.to_string(),
                ));
            }
        }
        for (i, p) in ports.iter().enumerate() {
            let proto = protocol(p);
            let lower = proto.to_ascii_lowercase();
            let url = format!("{lower}://{ip}:{}", p.port);
            if i == 0 {
                out.push((format!("{prefix}_PORT"), url.clone()));
            }
            let port_prefix = format!("{prefix}_PORT_{}_{}", p.port, proto.to_ascii_uppercase());
            out.push((port_prefix.clone(), url));
            out.push((format!("{port_prefix}_PROTO"), lower));
            out.push((format!("{port_prefix}_PORT"), p.port.to_string()));
            out.push((format!("{port_prefix}_ADDR"), ip.to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(yaml: &str) -> Service {
        serde_yaml::from_str(yaml).unwrap()
    }

    fn pod(name: &str, ip: &str, ready: bool, labels: &str) -> Pod {
        serde_yaml::from_str(&format!(
            "metadata: {{name: {name}, labels: {labels}}}\nspec:\n  containers:\n  - name: c\n    ports: [{{name: http, containerPort: 8080}}]\nstatus:\n  phase: Running\n  podIP: {ip}\n  conditions: [{{type: Ready, status: \"{}\"}}]\n",
            if ready { "True" } else { "False" }
        ))
        .unwrap()
    }

    #[test]
    fn env_matches_the_kubelets_variables() {
        let s = svc(
            "metadata: {name: my-db}\nspec:\n  clusterIP: 10.96.0.5\n  ports:\n  - {name: sql, port: 5432}\n  - {name: admin, port: 9000, protocol: UDP}\n",
        );
        let headless = svc("metadata: {name: h}\nspec: {clusterIP: None, ports: [{port: 1}]}\n");
        let env: BTreeMap<_, _> = env(&[&s, &headless]).into_iter().collect();
        let expect = [
            ("MY_DB_SERVICE_HOST", "10.96.0.5"),
            ("MY_DB_SERVICE_PORT", "5432"),
            ("MY_DB_SERVICE_PORT_SQL", "5432"),
            ("MY_DB_SERVICE_PORT_ADMIN", "9000"),
            ("MY_DB_PORT", "tcp://10.96.0.5:5432"),
            ("MY_DB_PORT_5432_TCP", "tcp://10.96.0.5:5432"),
            ("MY_DB_PORT_5432_TCP_PROTO", "tcp"),
            ("MY_DB_PORT_5432_TCP_PORT", "5432"),
            ("MY_DB_PORT_5432_TCP_ADDR", "10.96.0.5"),
            ("MY_DB_PORT_9000_UDP", "udp://10.96.0.5:9000"),
            ("MY_DB_PORT_9000_UDP_PROTO", "udp"),
            ("MY_DB_PORT_9000_UDP_PORT", "9000"),
            ("MY_DB_PORT_9000_UDP_ADDR", "10.96.0.5"),
        ];
        assert_eq!(env.len(), expect.len(), "{env:?}");
        for (k, v) in expect {
            assert_eq!(env.get(k).map(String::as_str), Some(v), "{k}");
        }
    }

    #[test]
    fn only_ready_selected_pods_serve_and_named_ports_resolve() {
        let s = svc(
            "metadata: {name: web}\nspec:\n  clusterIP: 10.96.0.9\n  selector: {app: web}\n  ports: [{port: 80, targetPort: http}]\n",
        );
        let pods = [
            pod("a", "10.244.0.2", true, "{app: web}"),
            pod("b", "10.244.0.3", false, "{app: web}"),
            pod("c", "10.244.0.4", true, "{app: db}"),
        ];
        let eps = endpoints(&s, &pods);
        assert_eq!(eps.len(), 2);
        assert!(eps[0].ready && !eps[1].ready);
        let (addrs, affinity) = backends(&s, "TCP", 80, &pods).unwrap();
        assert_eq!(addrs, ["10.244.0.2:8080".parse().unwrap()]);
        assert_eq!(affinity, None);
        assert!(backends(&s, "UDP", 80, &pods).is_none());
        assert!(backends(&s, "TCP", 81, &pods).is_none());
    }

    #[test]
    fn a_selector_matching_nothing_and_an_undeclared_port_name_are_warnings() {
        let s = svc(
            "metadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{port: 80, targetPort: http}, {name: m, port: 81, targetPort: metrics}]\n",
        );
        let db = pod("db", "10.244.0.2", true, "{app: db}");
        let web = pod("web", "10.244.0.3", true, "{app: web}");
        let none = warnings(&s, &[&db]);
        assert_eq!(none.len(), 1);
        assert!(
            none[0].contains("selector app=web matches no pod"),
            "{none:?}"
        );
        let unnamed = warnings(&s, &[&db, &web]);
        assert_eq!(unnamed.len(), 1, "{unnamed:?}");
        assert!(
            unnamed[0].contains("spec.ports[1].targetPort"),
            "{unnamed:?}"
        );
        assert!(unnamed[0].contains("\"metrics\""), "{unnamed:?}");
    }

    #[test]
    fn dns_answers_services_headless_services_and_pod_names() {
        let s = svc(
            "metadata: {name: web, namespace: default}\nspec: {clusterIP: 10.96.0.9, selector: {app: web}, ports: [{port: 80}]}\n",
        );
        let h = svc(
            "metadata: {name: db}\nspec: {clusterIP: None, selector: {app: db}, ports: [{port: 5432}]}\n",
        );
        let mut db0 = pod("db-0", "10.244.0.7", true, "{app: db}");
        let spec = db0.spec.as_mut().unwrap();
        spec.hostname = Some("db-0".into());
        spec.subdomain = Some("db".into());
        let pods = [db0, pod("db-1", "10.244.0.8", false, "{app: db}")];
        let ip = |s: &str| vec![s.parse::<IpAddr>().unwrap()];
        let svcs = [&s, &h];
        let all = |_: Option<&Service>| pods.iter().collect::<Vec<&Pod>>();
        let find = |ns: &str, name: &str| {
            let named = |s: &&&Service| {
                namespace_of(&s.metadata) == ns && s.metadata.name.as_deref() == Some(name)
            };
            svcs.iter().find(named).copied()
        };
        assert_eq!(
            lookup("web.default.svc.cluster.local", find, all),
            Some(ip("10.96.0.9"))
        );
        assert_eq!(
            lookup("db.default.svc.cluster.local", find, all),
            Some(ip("10.244.0.7"))
        );
        assert_eq!(
            lookup("db-0.db.default.svc.cluster.local", find, all),
            Some(ip("10.244.0.7"))
        );
        assert_eq!(
            lookup("10-244-0-8.default.pod.cluster.local", find, all),
            Some(ip("10.244.0.8"))
        );
        assert_eq!(lookup("web.other.svc.cluster.local", find, all), None);
        assert_eq!(lookup("web", find, all), None);
    }
}
