//! The Services of a `wasmpod run`: warnings about them, and host ports into the cluster
//! network — the `-p` targets `svc/NAME:PORT` and `pod/NAME:PORT` (`kubectl port-forward`
//! style) and the host ports of `NodePort` and `LoadBalancer` Services.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::{Context, anyhow};
use k8s_openapi::api::core::v1::Pod;
use wasmpod::{Forward, Runtime};

use super::exit::{EXIT_INVALID, Failure};
use super::output::note;

/// Warns about a Service whose selector matches none of the pods (or workloads' pod
/// templates) of the input, or whose named `targetPort` none of them declares.
pub fn warn(loaded: &wasmpod::spec::LoadedFile) {
    let mut pods: Vec<Pod> = loaded.pods.iter().map(|p| p.document.pod.clone()).collect();
    for w in &loaded.workloads {
        let template = w.workload.template();
        let mut pod = Pod {
            metadata: template.metadata.unwrap_or_default(),
            spec: template.spec,
            ..Pod::default()
        };
        pod.metadata.namespace = Some(w.workload.namespace().to_owned());
        pods.push(pod);
    }
    let pods: Vec<&Pod> = pods.iter().collect();
    for object in &loaded.objects {
        if let wasmpod::spec::ConfigObject::Service(svc) = object {
            for w in wasmpod::service_warnings(svc, &pods) {
                note(&format!("warning: {w}"));
            }
        }
    }
}

/// Where a `-p` value forwards to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `CONTAINER_PORT`: a port of the file's only pod.
    Container(u16),
    /// `svc/NAME:PORT`: a Service's port (one of its ready endpoints answers).
    Service(String, u16),
    /// `pod/NAME:PORT`: a pod's port on its pod IP.
    Pod(String, u16),
}

/// Parses `[HOST_IP:]HOST_PORT:CONTAINER_PORT`, `[HOST_IP:]HOST_PORT:svc/NAME:PORT` or
/// `[HOST_IP:]HOST_PORT:pod/NAME:PORT` (host IP default `127.0.0.1`, as `kubectl
/// port-forward` listens on loopback).
pub fn parse(v: &str) -> anyhow::Result<(SocketAddr, Target)> {
    let bad = || {
        anyhow!(
            "invalid -p {v:?}: expected [HOST_IP:]HOST_PORT:CONTAINER_PORT, [HOST_IP:]HOST_PORT:svc/NAME:PORT or [HOST_IP:]HOST_PORT:pod/NAME:PORT"
        )
    };
    let (host, target) = match ["svc/", "service/", "pod/"]
        .iter()
        .find_map(|k| v.find(&format!(":{k}")).map(|i| (i, *k)))
    {
        Some((i, kind)) => {
            let rest = &v[i + 1 + kind.len()..];
            let (name, port) = rest.rsplit_once(':').ok_or_else(bad)?;
            let port: u16 = port.parse().map_err(|_| bad())?;
            if name.is_empty() {
                return Err(bad());
            }
            let target = if kind == "pod/" {
                Target::Pod(name.to_string(), port)
            } else {
                Target::Service(name.to_string(), port)
            };
            (&v[..i], target)
        }
        None => {
            let (host, container) = v.rsplit_once(':').ok_or_else(bad)?;
            (
                host,
                Target::Container(container.parse().map_err(|_| bad())?),
            )
        }
    };
    let (ip, port) = match host.rsplit_once(':') {
        Some((ip, port)) => (
            ip.trim_matches(['[', ']']).parse().map_err(|_| bad())?,
            port,
        ),
        None => (IpAddr::V4(Ipv4Addr::LOCALHOST), host),
    };
    let port: u16 = port.parse().map_err(|_| bad())?;
    Ok((SocketAddr::new(ip, port), target))
}

/// The cluster address of a Service or pod target (in the `default` namespace unless
/// the name is `NAMESPACE/NAME`).
fn resolve(runtime: &Runtime, target: &Target) -> anyhow::Result<SocketAddr> {
    let split = |name: &str| match name.split_once('/') {
        Some((ns, n)) => (ns.to_string(), n.to_string()),
        None => ("default".to_string(), name.to_string()),
    };
    match target {
        Target::Service(name, port) => {
            let (ns, name) = split(name);
            let svc = runtime
                .cluster()
                .services()
                .into_iter()
                .find(|s| {
                    s.metadata.namespace.as_deref().unwrap_or("default") == ns
                        && s.metadata.name.as_deref() == Some(&name)
                })
                .with_context(|| format!("service {ns}/{name} is not in the file"))?;
            let ip: Ipv4Addr = svc
                .spec
                .and_then(|s| s.cluster_ip)
                .and_then(|ip| ip.parse().ok())
                .with_context(|| format!("service {ns}/{name} is headless (no cluster IP)"))?;
            Ok(SocketAddr::new(ip.into(), *port))
        }
        Target::Pod(name, port) => {
            let (ns, name) = split(name);
            let pod = runtime
                .cluster()
                .pods()
                .into_iter()
                .find(|p| {
                    p.metadata.namespace.as_deref().unwrap_or("default") == ns
                        && p.metadata.name.as_deref() == Some(&name)
                })
                .with_context(|| format!("pod {ns}/{name} is not in the file"))?;
            let ip: Ipv4Addr = pod
                .status
                .and_then(|s| s.pod_ip)
                .and_then(|ip| ip.parse().ok())
                .with_context(|| format!("pod {ns}/{name} has no IP"))?;
            Ok(SocketAddr::new(ip.into(), *port))
        }
        Target::Container(_) => Err(anyhow!("a container port is forwarded by its pod")),
    }
}

/// Opens the host ports of the `NodePort`/`LoadBalancer` Services and the `-p` Service
/// and pod targets; each forward's description with its outcome.
pub async fn open(
    runtime: &Runtime,
    targets: &[(SocketAddr, Target)],
) -> Vec<(String, anyhow::Result<Forward>)> {
    let mut out = Vec::new();
    for (what, result) in runtime.cluster().open_service_ports().await {
        out.push((what, result.map_err(anyhow::Error::from)));
    }
    for (host, target) in targets {
        if matches!(target, Target::Container(_)) {
            continue;
        }
        let what = match target {
            Target::Service(n, p) => format!("{host} -> svc/{n}:{p}"),
            Target::Pod(n, p) => format!("{host} -> pod/{n}:{p}"),
            Target::Container(_) => unreachable!("skipped above"),
        };
        let result = match resolve(runtime, target) {
            Ok(addr) => runtime
                .cluster()
                .forward(*host, addr)
                .await
                .map_err(anyhow::Error::from),
            Err(e) => Err(e),
        };
        out.push((what, result));
    }
    out
}

/// [`open`] for `wasmpod run`: every forward is noted; the first that fails stops the
/// pods and is the run's error (exit 2).
pub async fn open_all(
    runtime: &Runtime,
    publish: &[String],
    pods: &[wasmpod::PodHandle],
) -> Result<Vec<Forward>, Failure> {
    let targets = publish
        .iter()
        .map(|v| parse(v))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut forwards = Vec::new();
    for (what, result) in open(runtime, &targets).await {
        match result {
            Ok(f) => {
                note(&format!("forwarding {what}"));
                forwards.push(f);
            }
            Err(e) => {
                pods.iter().for_each(wasmpod::PodHandle::stop);
                return Err(Failure {
                    code: EXIT_INVALID,
                    error: anyhow!("cannot forward {what}: {e}"),
                });
            }
        }
    }
    Ok(forwards)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_values_parse_to_containers_services_and_pods() {
        let local = |p: u16| SocketAddr::new(Ipv4Addr::LOCALHOST.into(), p);
        assert_eq!(
            parse("8080:80").unwrap(),
            (local(8080), Target::Container(80))
        );
        assert_eq!(
            parse("8080:svc/web:80").unwrap(),
            (local(8080), Target::Service("web".into(), 80))
        );
        assert_eq!(
            parse("0.0.0.0:5432:pod/prod/db-0:5432").unwrap(),
            (
                "0.0.0.0:5432".parse().unwrap(),
                Target::Pod("prod/db-0".into(), 5432)
            )
        );
        for bad in ["80", "x:80", "8080:svc/:80", "8080:svc/web", "8080:pod/a:b"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
