//! The library's error type.

use std::path::PathBuf;

use k8s_openapi::api::core::v1::Pod;

use crate::container::ImageError;
use crate::plan::PlanError;
use crate::runtime::RuntimeError;
use crate::sandbox::SandboxError;
use crate::spec::SpecError;

/// Why a pod could not be created. None of these start any container.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The pod spec is invalid (fix the YAML).
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// The pod could not be resolved.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// An image could not be loaded.
    #[error("container {container:?}")]
    #[non_exhaustive]
    Image {
        /// The container whose image failed.
        container: String,
        /// Why.
        #[source]
        cause: ImageError,
        /// The pod's status at that point (Pending, the container waiting).
        pod: Box<Pod>,
    },
    /// The pod's directories could not be set up.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// The run directory could not be created.
    #[error("failed to create the run directory {path:?}")]
    #[non_exhaustive]
    RunDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The runtime could not be set up.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// [`PodHandle::set_condition`](crate::PodHandle::set_condition) was
    /// asked to set a condition the kubelet owns.
    #[error("condition {type_:?} is set by the kubelet; only other conditions can be set")]
    #[non_exhaustive]
    KubeletCondition {
        /// The condition type.
        type_: String,
    },
    /// Every address of the cluster network's pod CIDR is taken.
    #[error("no pod IP is left in the pod CIDR {cidr}")]
    #[non_exhaustive]
    AddressesExhausted {
        /// The pod CIDR.
        cidr: String,
    },
    /// [`PodHandle::exec`](crate::PodHandle::exec) could not run its command.
    #[error("exec in container {container:?}: {message}")]
    #[non_exhaustive]
    Exec {
        /// The container.
        container: String,
        /// Why (`container "app" is not running`).
        message: String,
    },
}
