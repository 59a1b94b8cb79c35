//! Pod events, as `kubectl describe pod` shows them.

use std::fmt;

use k8s_openapi::jiff::Timestamp;

/// `Normal` or `Warning`, as Kubernetes events are typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Routine.
    Normal,
    /// Something went wrong.
    Warning,
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        })
    }
}

/// Something that happened to a pod or one of its containers.
///
/// Reasons are the kubelet's (`Pulled`, `Created`, `Started`, `Killing`,
/// `BackOff`, `Failed`) plus `Exited` and `Restarting`, which the kubelet has
/// no events for but a local runner wants to show, and `Completed`/`Failed`
/// for the pod's end.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Event {
    /// When it happened.
    pub time: Timestamp,
    /// Normal or Warning.
    pub type_: EventType,
    /// The reason, e.g. `Started`.
    pub reason: String,
    /// The container concerned, if any.
    pub container: Option<String>,
    /// The container as the event's `involvedObject.fieldPath` names it
    /// (`spec.containers{app}`, `spec.initContainers{init}`), which
    /// `kubectl describe` shows.
    pub field_path: Option<String>,
    /// A human-readable message.
    pub message: String,
}

impl Event {
    pub(crate) fn normal(reason: &str, container: Option<&str>, message: String) -> Self {
        Self::new(EventType::Normal, reason, container, message)
    }

    pub(crate) fn warning(reason: &str, container: Option<&str>, message: String) -> Self {
        Self::new(EventType::Warning, reason, container, message)
    }

    fn new(type_: EventType, reason: &str, container: Option<&str>, message: String) -> Self {
        Self {
            time: Timestamp::now(),
            type_,
            reason: reason.into(),
            container: container.map(Into::into),
            field_path: None,
            message,
        }
    }
}

impl fmt::Display for Event {
    /// `Normal  Started  spec.containers{app}  Container started`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let object = match (&self.field_path, &self.container) {
            (Some(path), _) => path.clone(),
            (None, Some(c)) => format!("container/{c}"),
            (None, None) => "pod".into(),
        };
        write!(
            f,
            "{:<7}  {:<9}  {object}  {}",
            self.type_, self.reason, self.message
        )
    }
}
