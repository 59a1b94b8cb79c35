//! `--status-file`: every object of the run with its status, as `kubectl get -o json`
//! writes it — one Pod alone, else a `v1` `List` (pods, workloads, then the cluster's
//! Services with their cluster IPs and an EndpointSlice per Service).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};
use wasmpod::Runtime;

use super::exit::Failure;

/// A Pod as a `kubectl get -o json` item.
pub fn pod_json(pod: &Pod) -> anyhow::Result<Value> {
    let mut v = serde_json::to_value(pod).context("failed to serialise a pod")?;
    if let Some(obj) = v.as_object_mut() {
        obj.insert("apiVersion".into(), "v1".into());
        obj.insert("kind".into(), "Pod".into());
    }
    Ok(v)
}

/// The cluster's Services and their EndpointSlices (one per Service and port set, as the
/// EndpointSlice controller groups them).
pub fn cluster_items(rt: &Runtime) -> anyhow::Result<Vec<Value>> {
    let mut items = Vec::new();
    for svc in rt.cluster().services() {
        let ns = svc
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let name = svc.metadata.name.clone().unwrap_or_default();
        let mut v = serde_json::to_value(&svc).context("failed to serialise a service")?;
        if let Some(obj) = v.as_object_mut() {
            obj.insert("apiVersion".into(), "v1".into());
            obj.insert("kind".into(), "Service".into());
        }
        items.push(v);
        let endpoints = rt.cluster().endpoints(&ns, &name).unwrap_or_default();
        let mut by_ports: BTreeMap<Vec<(String, String, u16)>, Vec<Value>> = BTreeMap::new();
        for e in endpoints {
            by_ports.entry(e.ports.clone()).or_default().push(json!({
                "addresses": [e.ip.to_string()],
                "conditions": {"ready": e.ready, "serving": e.ready, "terminating": false},
                "targetRef": {"kind": "Pod", "name": e.pod, "namespace": ns},
            }));
        }
        if by_ports.is_empty() {
            by_ports.insert(Vec::new(), Vec::new());
        }
        for (i, (ports, endpoints)) in by_ports.into_iter().enumerate() {
            let ports: Vec<Value> = ports
                .iter()
                .map(|(n, proto, port)| json!({"name": n, "protocol": proto, "port": port}))
                .collect();
            items.push(json!({
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "name": format!("{name}-{}", i + 1),
                    "namespace": ns,
                    "labels": {
                        "kubernetes.io/service-name": name,
                        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                    },
                },
                "addressType": "IPv4",
                "endpoints": endpoints,
                "ports": ports,
            }));
        }
    }
    Ok(items)
}

/// Writes `items` as a `v1` `List`, or (`list` false, for a single pod's run) the one item
/// alone.
pub fn write(path: &Path, mut items: Vec<Value>, list: bool) -> Result<(), Failure> {
    let doc = if !list && items.len() == 1 {
        items.remove(0)
    } else {
        json!({ "apiVersion": "v1", "kind": "List", "items": items })
    };
    let text = serde_json::to_string_pretty(&doc).context("failed to serialise the status")?;
    std::fs::write(path, text + "\n")
        .with_context(|| format!("failed to write {}", path.display()))?;
    Ok(())
}
