//! Validation of probes and lifecycle handlers, after `validateProbe`,
//! `validateHandler` and `validateLifecycle` in
//! pkg/apis/core/validation/validation.go: exactly one handler, an exec
//! command, valid ports, non-negative timings, `successThreshold` 1 for
//! liveness and startup probes, a positive probe-level grace period.

use k8s_openapi::api::core::v1::{Container, LifecycleHandler, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::error::formats::port_name;
use super::error::msg;

const PORT_RANGE: &str = "must be between 1 and 65535, inclusive";

/// Problems of `c`'s probes and hooks, as (field path, message); `base` is
/// the container's path.
pub(crate) fn check(base: &str, c: &Container) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (field, probe, success_one) in [
        ("livenessProbe", &c.liveness_probe, true),
        ("readinessProbe", &c.readiness_probe, false),
        ("startupProbe", &c.startup_probe, true),
    ] {
        if let Some(p) = probe {
            check_probe(&format!("{base}.{field}"), p, success_one, &mut out);
        }
    }
    if let Some(lifecycle) = &c.lifecycle {
        for (field, hook) in [
            ("postStart", &lifecycle.post_start),
            ("preStop", &lifecycle.pre_stop),
        ] {
            if let Some(h) = hook {
                check_hook(&format!("{base}.lifecycle.{field}"), h, &mut out);
            }
        }
    }
    out
}

fn check_probe(path: &str, p: &Probe, success_one: bool, out: &mut Vec<(String, String)>) {
    one_handler(
        path,
        &[
            ("exec", p.exec.is_some()),
            ("httpGet", p.http_get.is_some()),
            ("tcpSocket", p.tcp_socket.is_some()),
            ("grpc", p.grpc.is_some()),
        ],
        out,
    );
    if let Some(exec) = &p.exec {
        exec_command(path, exec.command.as_deref(), out);
    }
    if let Some(http) = &p.http_get {
        port(&format!("{path}.httpGet.port"), &http.port, out);
    }
    if let Some(tcp) = &p.tcp_socket {
        port(&format!("{path}.tcpSocket.port"), &tcp.port, out);
    }
    if let Some(grpc) = &p.grpc {
        port(
            &format!("{path}.grpc.port"),
            &IntOrString::Int(grpc.port),
            out,
        );
    }
    for (field, value) in [
        ("initialDelaySeconds", p.initial_delay_seconds),
        ("timeoutSeconds", p.timeout_seconds),
        ("periodSeconds", p.period_seconds),
        ("successThreshold", p.success_threshold),
        ("failureThreshold", p.failure_threshold),
    ] {
        if let Some(v) = value.filter(|v| *v < 0) {
            out.push((
                format!("{path}.{field}"),
                msg::invalid(&v.to_string(), "must be greater than or equal to 0"),
            ));
        }
    }
    if let Some(s) = p.success_threshold.filter(|s| success_one && *s != 1) {
        out.push((
            format!("{path}.successThreshold"),
            msg::invalid(&s.to_string(), "must be 1"),
        ));
    }
    if let Some(g) = p.termination_grace_period_seconds.filter(|g| *g <= 0) {
        out.push((
            format!("{path}.terminationGracePeriodSeconds"),
            msg::invalid(&g.to_string(), "must be greater than 0"),
        ));
    }
}

fn check_hook(path: &str, h: &LifecycleHandler, out: &mut Vec<(String, String)>) {
    one_handler(
        path,
        &[
            ("exec", h.exec.is_some()),
            ("httpGet", h.http_get.is_some()),
            ("tcpSocket", h.tcp_socket.is_some()),
            ("sleep", h.sleep.is_some()),
        ],
        out,
    );
    if let Some(exec) = &h.exec {
        exec_command(path, exec.command.as_deref(), out);
    }
    if let Some(http) = &h.http_get {
        port(&format!("{path}.httpGet.port"), &http.port, out);
    }
    if let Some(sleep) = h.sleep.as_ref().filter(|s| s.seconds < 0) {
        out.push((
            format!("{path}.sleep.seconds"),
            msg::invalid(&sleep.seconds.to_string(), "must be non-negative"),
        ));
    }
}

/// Exactly one handler: the first set one counts, later ones are forbidden.
fn one_handler(path: &str, handlers: &[(&str, bool)], out: &mut Vec<(String, String)>) {
    let mut set = handlers.iter().filter(|(_, present)| *present);
    if set.next().is_none() {
        out.push((
            path.to_string(),
            msg::required("must specify a handler type"),
        ));
    }
    for (name, _) in set {
        out.push((
            format!("{path}.{name}"),
            msg::forbidden("may not specify more than 1 handler type"),
        ));
    }
}

fn exec_command(path: &str, command: Option<&[String]>, out: &mut Vec<(String, String)>) {
    if command.is_none_or(<[String]>::is_empty) {
        out.push((format!("{path}.exec.command"), msg::required("")));
    }
}

fn port(path: &str, port: &IntOrString, out: &mut Vec<(String, String)>) {
    match port {
        IntOrString::Int(n) if !(1..=65535).contains(n) => {
            out.push((path.to_string(), msg::invalid(&n.to_string(), PORT_RANGE)));
        }
        IntOrString::Int(_) => {}
        IntOrString::String(name) => {
            for error in port_name(name) {
                out.push((path.to_string(), msg::invalid(&msg::quote(name), &error)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(yaml: &str) -> Vec<(String, String)> {
        let c: Container = serde_yaml::from_str(yaml).expect("a container");
        check("spec.containers[0]", &c)
    }

    #[test]
    fn handlers_ports_and_thresholds() {
        assert!(problems("name: a\nlivenessProbe: {grpc: {port: 5000}}").is_empty());
        assert_eq!(
            problems("name: a\nlivenessProbe: {grpc: {port: 0}, successThreshold: 2}"),
            [
                (
                    "spec.containers[0].livenessProbe.grpc.port".to_string(),
                    "Invalid value: 0: must be between 1 and 65535, inclusive".to_string()
                ),
                (
                    "spec.containers[0].livenessProbe.successThreshold".to_string(),
                    "Invalid value: 2: must be 1".to_string()
                ),
            ]
        );
        assert_eq!(
            problems("name: a\nreadinessProbe: {periodSeconds: 3}")[0],
            (
                "spec.containers[0].readinessProbe".to_string(),
                "Required value: must specify a handler type".to_string()
            )
        );
        assert_eq!(
            problems("name: a\nstartupProbe: {exec: {command: [x]}, tcpSocket: {port: 80}}")[0],
            (
                "spec.containers[0].startupProbe.tcpSocket".to_string(),
                "Forbidden: may not specify more than 1 handler type".to_string()
            )
        );
        assert_eq!(
            problems("name: a\nlifecycle: {preStop: {exec: {command: []}}}")[0].0,
            "spec.containers[0].lifecycle.preStop.exec.command"
        );
        assert!(
            problems("name: a\nreadinessProbe: {httpGet: {port: Bad_Name}}")[0]
                .1
                .starts_with("Invalid value: \"Bad_Name\"")
        );
    }
}
