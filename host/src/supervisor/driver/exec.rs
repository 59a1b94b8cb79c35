//! [`PodHandle::exec`](crate::PodHandle::exec): a command run in a fresh instance of a
//! running container's image, with the container's env, mounts and network (as its exec
//! probes run), its exit code and output collected.

use tokio::sync::oneshot;

use super::Run;

/// A request for an exec, sent by the pod's handle.
pub(crate) struct ExecRequest {
    /// The container's name.
    pub(crate) container: String,
    /// argv (`argv[0]` included).
    pub(crate) argv: Vec<String>,
    /// Where the result goes (`Err`: why nothing ran).
    pub(crate) reply: oneshot::Sender<Result<ExecOutput, String>>,
}

/// How a command run with [`PodHandle::exec`](crate::PodHandle::exec) ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExecOutput {
    /// Its exit code (137 if the pod stopped under it).
    pub exit_code: i32,
    /// stdout and stderr as they interleaved (at most 10 KiB, as an exec probe's).
    pub output: String,
    /// stderr alone (at most 10 KiB).
    pub stderr: String,
}

impl Run {
    /// Starts an exec in the running container it names, or answers why it cannot.
    pub(super) fn on_exec(&mut self, request: ExecRequest) {
        let running = self
            .running
            .iter()
            .find(|(slot, _)| slot.plan(&self.d.plan).name == request.container);
        let Some((_, instance)) = running else {
            let _ = request.reply.send(Err(format!(
                "container {:?} is not running",
                request.container
            )));
            return;
        };
        let launcher = instance.launcher.clone();
        tokio::spawn(async move {
            let outcome = launcher.exec_capture(&request.argv).await;
            let _ = request.reply.send(Ok(ExecOutput {
                exit_code: outcome.code.unwrap_or(crate::container::KILLED_EXIT_CODE),
                output: outcome.output,
                stderr: outcome.stderr,
            }));
        });
    }
}
