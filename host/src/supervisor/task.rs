//! Tasks tied to their owner's life.

use tokio::task::AbortHandle;

/// Aborts a task when dropped: ties a task's life to its owner's.
pub(crate) struct AbortOnDrop(pub(crate) AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
