//! A `v1` Service checked by the API server's rules (`ValidateService`) as far as a
//! one-node cluster network uses them: ports, names and protocols, `targetPort`,
//! `type` with `nodePort`, `clusterIP`, `sessionAffinity`. The cluster IP's range is
//! checked when the Service is applied (the runtime knows its service CIDR).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::error::formats::{dns1123_label, port_name};
use super::error::msg;

/// The `type`s wasmpod implements.
pub const SERVICE_TYPES: [&str; 3] = ["ClusterIP", "NodePort", "LoadBalancer"];
/// The node port range (`--service-node-port-range`'s default).
pub const NODE_PORTS: std::ops::RangeInclusive<i32> = 30000..=32767;

/// Adds the problems of `svc`'s spec (`add(path, message)`).
pub(super) fn problems(svc: &Service, add: &mut dyn FnMut(&str, String)) {
    let Some(spec) = &svc.spec else {
        add("spec", msg::required(""));
        return;
    };
    let type_ = spec.type_.as_deref().unwrap_or("ClusterIP");
    if !SERVICE_TYPES.contains(&type_) {
        add("spec.type", msg::not_supported(type_, &SERVICE_TYPES));
    }
    let headless = spec.cluster_ip.as_deref() == Some("None");
    match spec.cluster_ip.as_deref() {
        None | Some("") | Some("None") => {}
        Some(ip) if ip.parse::<Ipv4Addr>().is_ok() => {}
        Some(ip) => add(
            "spec.clusterIP",
            msg::invalid(
                &msg::quote(ip),
                "must be empty, 'None', or a valid IPv4 address (wasmpod's cluster network is IPv4)",
            ),
        ),
    }
    if headless && type_ != "ClusterIP" {
        add(
            "spec.clusterIP",
            msg::invalid(
                "\"None\"",
                &format!("may not be set to 'None' for {type_} services"),
            ),
        );
    }
    let ports = spec.ports.as_deref().unwrap_or_default();
    if ports.is_empty() && !headless {
        add("spec.ports", msg::required(""));
    }
    let mut names = BTreeSet::new();
    let mut keys = BTreeSet::new();
    for (i, p) in ports.iter().enumerate() {
        let path = format!("spec.ports[{i}]");
        match p.name.as_deref().filter(|n| !n.is_empty()) {
            None if ports.len() > 1 => add(&format!("{path}.name"), msg::required("")),
            None => {}
            Some(name) => {
                for e in dns1123_label(name) {
                    add(&format!("{path}.name"), msg::invalid(&msg::quote(name), &e));
                }
                if !names.insert(name) {
                    add(&format!("{path}.name"), msg::duplicate(name));
                }
            }
        }
        if !(1..=65535).contains(&p.port) {
            add(
                &format!("{path}.port"),
                msg::invalid(
                    &p.port.to_string(),
                    "must be between 1 and 65535, inclusive",
                ),
            );
        }
        let protocol = p.protocol.as_deref().unwrap_or("TCP");
        if !["TCP", "UDP"].contains(&protocol) {
            add(
                &format!("{path}.protocol"),
                msg::not_supported(protocol, &["TCP", "UDP"]),
            );
        }
        if !keys.insert((p.port, protocol)) {
            add(&path, msg::duplicate(&format!("{}/{protocol}", p.port)));
        }
        match &p.target_port {
            Some(IntOrString::Int(n)) if !(1..=65535).contains(n) => add(
                &format!("{path}.targetPort"),
                msg::invalid(&n.to_string(), "must be between 1 and 65535, inclusive"),
            ),
            Some(IntOrString::String(s)) => {
                for e in port_name(s) {
                    add(
                        &format!("{path}.targetPort"),
                        msg::invalid(&msg::quote(s), &e),
                    );
                }
            }
            _ => {}
        }
        match p.node_port {
            Some(n) if type_ == "ClusterIP" && n != 0 => add(
                &format!("{path}.nodePort"),
                msg::forbidden("may not be used when `type` is 'ClusterIP'"),
            ),
            Some(n) if n != 0 && !NODE_PORTS.contains(&n) => add(
                &format!("{path}.nodePort"),
                msg::invalid(
                    &n.to_string(),
                    "provided port is not in the valid range. The range of valid ports is 30000-32767",
                ),
            ),
            _ => {}
        }
    }
    match spec.session_affinity.as_deref() {
        None | Some("None") => {
            if spec.session_affinity_config.is_some() {
                add(
                    "spec.sessionAffinityConfig",
                    msg::invalid("{...}", "must not be set when session affinity is None"),
                );
            }
        }
        Some("ClientIP") => {
            let timeout = spec
                .session_affinity_config
                .as_ref()
                .and_then(|c| c.client_ip.as_ref())
                .and_then(|c| c.timeout_seconds);
            if let Some(t) = timeout
                && !(1..=86400).contains(&t)
            {
                add(
                    "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                    msg::invalid(&t.to_string(), "must be in the range (0, 86400]"),
                );
            }
        }
        Some(other) => add(
            "spec.sessionAffinity",
            msg::not_supported(other, &["ClientIP", "None"]),
        ),
    }
}
