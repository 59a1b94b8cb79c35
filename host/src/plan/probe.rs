//! Probes, resolved from the spec's `startupProbe`, `livenessProbe` and
//! `readinessProbe` with Kubernetes' defaults (pkg/apis/core/v1/defaults.go):
//! `periodSeconds` 10, `timeoutSeconds` 1, `successThreshold` 1,
//! `failureThreshold` 3, `initialDelaySeconds` 0.

use std::time::Duration;

use k8s_openapi::api::core::v1::Probe;

/// Which probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    /// `startupProbe`: gates the others and, for sidecars, the next container.
    Startup,
    /// `livenessProbe`: failure kills (and restarts per policy) the container.
    Liveness,
    /// `readinessProbe`: drives `ready` and the Ready conditions.
    Readiness,
}

impl ProbeKind {
    /// `Startup`, `Liveness`, `Readiness` as in the kubelet's event messages.
    pub fn label(self) -> &'static str {
        match self {
            ProbeKind::Startup => "Startup",
            ProbeKind::Liveness => "Liveness",
            ProbeKind::Readiness => "Readiness",
        }
    }
}

/// How a probe checks the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeHandler {
    /// Run this argv in a fresh instance of the container's image; exit 0 is success.
    Exec(Vec<String>),
    /// Connect to this port of the pod.
    TcpSocket(u16),
    /// HTTP GET on the pod: success for a status in 200..400.
    HttpGet {
        /// The port.
        port: u16,
        /// The path (default `/`).
        path: String,
        /// Extra request headers.
        headers: Vec<(String, String)>,
    },
    /// The gRPC health service (`grpc.health.v1.Health/Check`) on this port
    /// of the pod; success when it answers `SERVING` (probes only).
    Grpc {
        /// The port.
        port: u16,
        /// The service name sent in the request ("" for the whole server).
        service: String,
    },
    /// Sleep this long (lifecycle hooks only: `sleep.seconds`).
    Sleep(Duration),
}

/// A container's lifecycle hooks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hooks {
    /// `lifecycle.postStart`: runs right after the start; the container is not
    /// started (and the next container waits) until it returns.
    pub post_start: Option<ProbeHandler>,
    /// `lifecycle.preStop`: runs before the container is told to stop,
    /// within its grace period.
    pub pre_stop: Option<ProbeHandler>,
}

/// Resolves a lifecycle hook handler (`exec`, `httpGet`, `sleep`);
/// `tcpSocket` is deprecated and not run.
pub fn resolve_hook(
    h: &k8s_openapi::api::core::v1::LifecycleHandler,
    ports: &[(String, u16)],
) -> Option<ProbeHandler> {
    if let Some(sleep) = &h.sleep {
        return Some(ProbeHandler::Sleep(Duration::from_secs(
            sleep.seconds.max(0) as u64,
        )));
    }
    let as_probe = Probe {
        exec: h.exec.clone(),
        http_get: h.http_get.clone(),
        ..Default::default()
    };
    resolve_probe(&as_probe, ports).map(|p| p.handler)
}

/// One resolved probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbePlan {
    /// The handler.
    pub handler: ProbeHandler,
    /// Wait before the first probe.
    pub initial_delay: Duration,
    /// Time between probes.
    pub period: Duration,
    /// A probe taking longer fails.
    pub timeout: Duration,
    /// Consecutive successes to count as success.
    pub success_threshold: u32,
    /// Consecutive failures to count as failure.
    pub failure_threshold: u32,
    /// Probe-level `terminationGracePeriodSeconds` (liveness and startup kills).
    pub grace_period: Option<Duration>,
}

/// A container's probes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Probes {
    /// `startupProbe`.
    pub startup: Option<ProbePlan>,
    /// `livenessProbe`.
    pub liveness: Option<ProbePlan>,
    /// `readinessProbe`.
    pub readiness: Option<ProbePlan>,
}

impl Probes {
    /// The probe of `kind`.
    pub fn get(&self, kind: ProbeKind) -> Option<&ProbePlan> {
        match kind {
            ProbeKind::Startup => self.startup.as_ref(),
            ProbeKind::Liveness => self.liveness.as_ref(),
            ProbeKind::Readiness => self.readiness.as_ref(),
        }
    }
}

/// Resolves one probe; `ports` maps container port names to numbers.
/// `None` without a handler, or for a named port the container does not declare.
pub fn resolve_probe(p: &Probe, ports: &[(String, u16)]) -> Option<ProbePlan> {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    let port = |p: &IntOrString| match p {
        IntOrString::Int(n) => u16::try_from(*n).ok(),
        IntOrString::String(name) => ports.iter().find(|(n, _)| n == name).map(|(_, p)| *p),
    };
    let handler = if let Some(exec) = &p.exec {
        ProbeHandler::Exec(exec.command.clone().unwrap_or_default())
    } else if let Some(tcp) = &p.tcp_socket {
        ProbeHandler::TcpSocket(port(&tcp.port)?)
    } else if let Some(http) = &p.http_get {
        ProbeHandler::HttpGet {
            port: port(&http.port)?,
            path: http
                .path
                .clone()
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "/".into()),
            headers: http
                .http_headers
                .iter()
                .flatten()
                .map(|h| (h.name.clone(), h.value.clone()))
                .collect(),
        }
    } else if let Some(grpc) = &p.grpc {
        ProbeHandler::Grpc {
            port: u16::try_from(grpc.port).ok()?,
            service: grpc.service.clone().unwrap_or_default(),
        }
    } else {
        return None;
    };
    let secs =
        |v: Option<i32>, default: i32| Duration::from_secs(v.unwrap_or(default).max(0) as u64);
    Some(ProbePlan {
        handler,
        initial_delay: secs(p.initial_delay_seconds, 0),
        period: secs(p.period_seconds, 10).max(Duration::from_secs(1)),
        timeout: secs(p.timeout_seconds, 1).max(Duration::from_secs(1)),
        success_threshold: p.success_threshold.unwrap_or(1).max(1) as u32,
        failure_threshold: p.failure_threshold.unwrap_or(3).max(1) as u32,
        grace_period: p
            .termination_grace_period_seconds
            .map(|s| Duration::from_secs(s.max(0) as u64)),
    })
}
