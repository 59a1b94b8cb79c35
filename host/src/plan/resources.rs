//! `resourceFieldRef`: a container's limits and requests as the downward API
//! shows them (`ExtractResourceValueByContainerNameAndNodeAllocatable`): a
//! limit that is not set is the node's allocatable, a request that is not set
//! is its limit as written (the API server's defaulting) or zero; the value is
//! divided by `divisor` and rounded up.

use std::sync::OnceLock;

use k8s_openapi::api::core::v1::{Container, ResourceFieldSelector};

use crate::spec::quantity::{quantity_milli_value, quantity_value};

/// What this machine offers pods: the node's allocatable resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeResources {
    /// CPU in millicores: the CPUs this process may run on.
    pub cpu_millis: u64,
    /// Memory in bytes (`MemTotal`).
    pub memory_bytes: u64,
    /// Ephemeral storage in bytes: the size of the file system of the temp directory.
    pub ephemeral_storage_bytes: u64,
}

impl NodeResources {
    /// This machine's, read once.
    pub fn host() -> NodeResources {
        static HOST: OnceLock<NodeResources> = OnceLock::new();
        *HOST.get_or_init(|| NodeResources {
            cpu_millis: std::thread::available_parallelism().map_or(1, |n| n.get() as u64) * 1000,
            memory_bytes: mem_total().unwrap_or(1 << 30),
            ephemeral_storage_bytes: fs_size(&std::env::temp_dir()).unwrap_or(1 << 30),
        })
    }
}

/// The value of `selector` for `container` of `pod`, as the kubelet writes it into env
/// or a downward API file. `Err` for a resource the downward API does not expose
/// (validation refuses those first).
pub fn resource_value(
    container: &Container,
    selector: &ResourceFieldSelector,
    node: &NodeResources,
) -> Result<String, String> {
    let divisor = selector
        .divisor
        .as_ref()
        .map(|q| q.0.as_str())
        .filter(|d| !d.trim().is_empty() && quantity_milli_value(d) != Ok(0))
        .unwrap_or("1");
    let get = |list: &str, name: &str| {
        let r = container.resources.as_ref()?;
        let map = if list == "limits" {
            r.limits.as_ref()
        } else {
            r.requests.as_ref()
        }?;
        map.get(name).map(|q| q.0.clone())
    };
    let (list, name) = selector
        .resource
        .split_once('.')
        .filter(|(list, name)| {
            matches!(*list, "limits" | "requests")
                && matches!(*name, "cpu" | "memory" | "ephemeral-storage")
        })
        .ok_or_else(|| format!("unsupported container resource : {}", selector.resource))?;
    let written = match list {
        "limits" => get("limits", name),
        // Unset requests default to the limits as written (before the node's).
        _ => get("requests", name).or_else(|| get("limits", name)),
    };
    let cpu = name == "cpu";
    let value: i128 = match written {
        Some(q) if cpu => quantity_milli_value(&q)?,
        Some(q) => quantity_value(&q)?,
        None if list == "requests" => 0,
        None => i128::from(match name {
            "cpu" => node.cpu_millis,
            "memory" => node.memory_bytes,
            _ => node.ephemeral_storage_bytes,
        }),
    };
    let divisor = if cpu {
        quantity_milli_value(divisor)?
    } else {
        quantity_value(divisor)?
    };
    Ok(div_ceil(value, divisor.max(1)).to_string())
}

fn div_ceil(a: i128, b: i128) -> i128 {
    let q = a / b;
    if (a % b != 0) && ((a < 0) == (b < 0)) {
        q + 1
    } else {
        q
    }
}

fn mem_total() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(unix)]
fn fs_size(path: &std::path::Path) -> Option<u64> {
    let s = rustix::fs::statvfs(path).ok()?;
    Some(s.f_blocks.saturating_mul(s.f_frsize))
}

#[cfg(not(unix))]
fn fs_size(_: &std::path::Path) -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    fn container(limits: &[(&str, &str)], requests: &[(&str, &str)]) -> Container {
        let map = |pairs: &[(&str, &str)]| {
            (!pairs.is_empty()).then(|| {
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
                    .collect()
            })
        };
        Container {
            resources: Some(k8s_openapi::api::core::v1::ResourceRequirements {
                limits: map(limits),
                requests: map(requests),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn value(c: &Container, resource: &str, divisor: Option<&str>) -> String {
        let node = NodeResources {
            cpu_millis: 2000,
            memory_bytes: 8 << 30,
            ephemeral_storage_bytes: 100 << 30,
        };
        let selector = ResourceFieldSelector {
            resource: resource.into(),
            divisor: divisor.map(|d| Quantity(d.into())),
            container_name: None,
        };
        resource_value(c, &selector, &node).unwrap()
    }

    #[test]
    fn values_divide_and_round_up_as_the_kubelet() {
        let c = container(&[("cpu", "1250m"), ("memory", "64Mi")], &[("cpu", "250m")]);
        assert_eq!(value(&c, "limits.cpu", None), "2");
        assert_eq!(value(&c, "limits.cpu", Some("1m")), "1250");
        assert_eq!(value(&c, "requests.cpu", Some("1m")), "250");
        assert_eq!(value(&c, "limits.memory", None), (64 << 20).to_string());
        assert_eq!(value(&c, "limits.memory", Some("1Mi")), "64");
        assert_eq!(value(&c, "limits.memory", Some("1M")), "68");
        // An unset request is the limit; with neither, zero.
        assert_eq!(value(&c, "requests.memory", Some("1Mi")), "64");
        assert_eq!(value(&c, "requests.ephemeral-storage", None), "0");
    }

    #[test]
    fn an_unset_limit_is_the_nodes_allocatable() {
        let c = container(&[], &[]);
        assert_eq!(value(&c, "limits.cpu", None), "2");
        assert_eq!(value(&c, "limits.memory", Some("1Gi")), "8");
        assert_eq!(value(&c, "limits.ephemeral-storage", Some("1Gi")), "100");
        let host = NodeResources::host();
        assert!(host.cpu_millis >= 1000 && host.memory_bytes > 0);
    }
}
