//! How `wasmpod` ends: its exit statuses, and a failure with the status it maps to.

/// Exit status: the pod succeeded.
pub const EXIT_SUCCEEDED: u8 = 0;
/// Exit status: the pod failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit status: invalid input (spec, image); nothing ran.
pub const EXIT_INVALID: u8 = 2;
/// Exit status: stopped by `--timeout`.
pub const EXIT_TIMEOUT: u8 = 124;
/// Exit status: a signal came while the pods were stopping, and the process ended at once
/// (128 + SIGINT, as a shell reports a second Ctrl-C).
pub const EXIT_FORCED: u8 = 130;

/// A failure to report and the exit status it maps to.
pub struct Failure {
    pub code: u8,
    pub error: anyhow::Error,
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure {
            code: EXIT_INVALID,
            error: e.into(),
        }
    }
}
