//! What controllers read off their pods (ready, restarts, ended) and the status they
//! write on their object: replica counts for Deployments, ReplicaSets, StatefulSets and
//! DaemonSets.

use k8s_openapi::api::apps::v1::{
    DaemonSetStatus, DeploymentCondition, DeploymentStatus, ReplicaSetStatus, StatefulSetStatus,
};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use crate::spec::Workload;

/// Whether the pod's `Ready` condition is `True`.
pub(crate) fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Container restarts of the pod, init containers included (what `pastBackoffLimitOnFailure`
/// adds up).
pub(crate) fn restarts(pod: &Pod) -> i32 {
    let Some(status) = &pod.status else { return 0 };
    status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten())
        .map(|c| c.restart_count)
        .sum()
}

/// The replica counts of a set of pods.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Replicas {
    /// Pods that exist (not ended).
    pub current: i32,
    /// Of those, Ready ones (also the available ones: `minReadySeconds` is not honoured).
    pub ready: i32,
}

impl Replicas {
    /// Counts `pods`.
    pub(crate) fn of<'a>(pods: impl IntoIterator<Item = &'a Pod>) -> Self {
        let mut r = Self::default();
        for pod in pods {
            r.current += 1;
            r.ready += i32::from(is_ready(pod));
        }
        r
    }
}

/// Writes `replicas` (and `desired`, the spec's count) into the object's status.
pub(crate) fn set_replicas(object: &mut Workload, desired: i32, r: Replicas) {
    match object {
        Workload::Deployment(d) => {
            let available = r.ready >= desired;
            let now = Time(Timestamp::now());
            let old = d.status.take().unwrap_or_default();
            let transition = old
                .conditions
                .iter()
                .flatten()
                .find(|c| c.type_ == "Available" && (c.status == "True") == available)
                .and_then(|c| c.last_transition_time.clone())
                .unwrap_or(now.clone());
            d.status = Some(DeploymentStatus {
                observed_generation: Some(1),
                replicas: Some(r.current),
                updated_replicas: Some(r.current),
                ready_replicas: Some(r.ready),
                available_replicas: Some(r.ready),
                unavailable_replicas: Some((desired - r.ready).max(0)),
                conditions: Some(vec![DeploymentCondition {
                    type_: "Available".into(),
                    status: if available { "True" } else { "False" }.into(),
                    reason: Some(
                        if available {
                            "MinimumReplicasAvailable"
                        } else {
                            "MinimumReplicasUnavailable"
                        }
                        .into(),
                    ),
                    message: Some(
                        if available {
                            "Deployment has minimum availability."
                        } else {
                            "Deployment does not have minimum availability."
                        }
                        .into(),
                    ),
                    last_update_time: Some(now),
                    last_transition_time: Some(transition),
                }]),
                ..Default::default()
            });
        }
        Workload::ReplicaSet(rs) => {
            rs.status = Some(ReplicaSetStatus {
                observed_generation: Some(1),
                replicas: r.current,
                fully_labeled_replicas: Some(r.current),
                ready_replicas: Some(r.ready),
                available_replicas: Some(r.ready),
                ..Default::default()
            });
        }
        Workload::StatefulSet(ss) => {
            ss.status = Some(StatefulSetStatus {
                observed_generation: Some(1),
                replicas: r.current,
                current_replicas: Some(r.current),
                updated_replicas: Some(r.current),
                ready_replicas: Some(r.ready),
                available_replicas: Some(r.ready),
                ..Default::default()
            });
        }
        Workload::DaemonSet(ds) => {
            ds.status = Some(DaemonSetStatus {
                observed_generation: Some(1),
                desired_number_scheduled: desired,
                current_number_scheduled: r.current,
                updated_number_scheduled: Some(r.current),
                number_ready: r.ready,
                number_available: Some(r.ready),
                number_unavailable: Some((desired - r.ready).max(0)),
                number_misscheduled: 0,
                ..Default::default()
            });
        }
        Workload::Job(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::{ContainerStatus, PodCondition, PodStatus};

    fn pod(ready: bool, restarts: i32) -> Pod {
        Pod {
            status: Some(PodStatus {
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: if ready { "True" } else { "False" }.into(),
                    ..Default::default()
                }]),
                container_statuses: Some(vec![ContainerStatus {
                    restart_count: restarts,
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn counts_ready_pods_and_restarts() {
        let pods = [pod(true, 0), pod(false, 2)];
        assert_eq!(
            Replicas::of(&pods),
            Replicas {
                current: 2,
                ready: 1
            }
        );
        assert_eq!(restarts(&pods[1]), 2);
    }

    #[test]
    fn a_deployment_is_available_once_every_replica_is_ready() {
        let mut d = Workload::Deployment(Deployment::default());
        set_replicas(
            &mut d,
            2,
            Replicas {
                current: 2,
                ready: 1,
            },
        );
        let Workload::Deployment(dep) = &d else {
            unreachable!()
        };
        let status = dep.status.as_ref().unwrap();
        assert_eq!((status.replicas, status.ready_replicas), (Some(2), Some(1)));
        assert_eq!(status.conditions.as_ref().unwrap()[0].status, "False");
        set_replicas(
            &mut d,
            2,
            Replicas {
                current: 2,
                ready: 2,
            },
        );
        let Workload::Deployment(dep) = &d else {
            unreachable!()
        };
        let available = &dep.status.as_ref().unwrap().conditions.as_ref().unwrap()[0];
        assert_eq!(
            (available.type_.as_str(), available.status.as_str()),
            ("Available", "True")
        );
    }
}
