//! Crash-loop backoff, as the kubelet computes it.
//!
//! Port of client-go's `flowcontrol.Backoff` as the kubelet uses it
//! (`newCrashLoopBackOff` in pkg/kubelet/kubelet.go, `doBackOff` in
//! kuberuntime_manager.go): the first restart happens at once; each later one
//! waits `initial`, then twice as long, up to `max`. The entry is reset once
//! a container has run for more than 10 minutes (`FinishedAt - lastUpdate >
//! 600s`, hard-coded upstream). Waits are therefore 0, 10, 20, 40, 80, 160,
//! 300, 300… seconds with the defaults.

use std::time::Duration;

use tokio::time::Instant;

/// The backoff constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BackoffPolicy {
    /// The first wait (Kubernetes: 10 s).
    pub initial: Duration,
    /// The cap (Kubernetes: 300 s).
    pub max: Duration,
}

impl BackoffPolicy {
    /// A policy waiting `initial` after the second failure, doubling up to `max`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let fast = wasmpod::BackoffPolicy::new(Duration::from_millis(100), Duration::from_secs(1));
    /// assert_eq!(fast.max, Duration::from_secs(1));
    /// ```
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self { initial, max }
    }
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(10),
            max: Duration::from_secs(300),
        }
    }
}

/// How long a container must run for its backoff to be forgotten.
pub const RESET_AFTER: Duration = Duration::from_secs(600);

/// The backoff state of one container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffEntry {
    /// The current wait.
    pub delay: Duration,
    /// When the entry was last advanced (the last restart).
    pub last_update: Instant,
}

impl BackoffPolicy {
    /// The remaining wait before a container that finished at `finished_at`
    /// may restart, or `None` if it may restart now (`IsInBackOffSince`).
    pub fn remaining(
        &self,
        entry: Option<&BackoffEntry>,
        finished_at: Instant,
        now: Instant,
    ) -> Option<Duration> {
        let e = entry?;
        if expired(e, finished_at) {
            return None;
        }
        let elapsed = now.saturating_duration_since(finished_at);
        (elapsed < e.delay).then(|| e.delay - elapsed)
    }

    /// The entry after a restart at `now` (`Next`): the initial wait for a new
    /// or expired entry, otherwise twice the wait, capped.
    pub fn next(
        &self,
        entry: Option<&BackoffEntry>,
        finished_at: Instant,
        now: Instant,
    ) -> BackoffEntry {
        let initial = self.initial.min(self.max);
        let delay = match entry {
            Some(e) if !expired(e, finished_at) => (e.delay * 2).min(self.max),
            _ => initial,
        };
        BackoffEntry {
            delay,
            last_update: now,
        }
    }
}

fn expired(e: &BackoffEntry, finished_at: Instant) -> bool {
    finished_at.saturating_duration_since(e.last_update) > RESET_AFTER
}

/// Formats a duration like Go's `time.Duration.String` (`10s`, `1m20s`,
/// `5m0s`, `100ms`), as the kubelet's back-off messages show it.
pub fn go_duration(d: Duration) -> String {
    let total_ms = d.as_millis();
    if total_ms == 0 {
        return "0s".into();
    }
    if d < Duration::from_secs(1) {
        return format!("{total_ms}ms");
    }
    let secs = d.as_secs();
    let frac_ms = d.subsec_millis();
    let sec_str = |s: u64| {
        if frac_ms == 0 {
            format!("{s}s")
        } else {
            format!("{s}.{}s", format!("{frac_ms:03}").trim_end_matches('0'))
        }
    };
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    match (h, m) {
        (0, 0) => sec_str(s),
        (0, m) => format!("{m}m{}", sec_str(s)),
        (h, m) => format!("{h}h{m}m{}", sec_str(s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Simulates a container that crashes `run` after each start and restarts
    /// as soon as allowed; returns the start times. The e2e test
    /// (test/e2e_node/container_restart_test.go) expects restarts at about
    /// 0, 0, 10, 30, 70, 150, 310 s.
    fn restart_times(policy: BackoffPolicy, crashes: usize, run: Duration) -> Vec<Duration> {
        let t0 = Instant::now();
        let mut now = t0;
        let mut entry: Option<BackoffEntry> = None;
        let mut starts = vec![Duration::ZERO];
        for _ in 0..crashes {
            now += run;
            let finished = now;
            if let Some(wait) = policy.remaining(entry.as_ref(), finished, now) {
                now += wait;
            }
            assert_eq!(policy.remaining(entry.as_ref(), finished, now), None);
            entry = Some(policy.next(entry.as_ref(), finished, now));
            starts.push(now - t0);
        }
        starts
    }

    #[test]
    fn default_schedule_matches_kubelet() {
        let secs: Vec<u64> = restart_times(BackoffPolicy::default(), 8, Duration::ZERO)
            .iter()
            .map(|d| d.as_secs())
            .collect();
        assert_eq!(secs, vec![0, 0, 10, 30, 70, 150, 310, 610, 910]);
    }

    #[test]
    fn long_run_resets_backoff() {
        let policy = BackoffPolicy::default();
        let t0 = Instant::now();
        let e = BackoffEntry {
            delay: Duration::from_secs(160),
            last_update: t0,
        };
        let finished = t0 + Duration::from_secs(601);
        assert_eq!(policy.remaining(Some(&e), finished, finished), None);
        assert_eq!(
            policy.next(Some(&e), finished, finished).delay,
            Duration::from_secs(10)
        );
        let finished_early = t0 + Duration::from_secs(599);
        assert_eq!(
            policy.remaining(Some(&e), finished_early, finished_early),
            Some(Duration::from_secs(160))
        );
    }

    #[test]
    fn initial_is_capped_by_max() {
        let p = BackoffPolicy {
            initial: Duration::from_secs(10),
            max: Duration::from_secs(2),
        };
        assert_eq!(
            p.next(None, Instant::now(), Instant::now()).delay,
            Duration::from_secs(2)
        );
    }

    #[test]
    fn go_duration_strings() {
        assert_eq!(go_duration(Duration::from_secs(10)), "10s");
        assert_eq!(go_duration(Duration::from_secs(80)), "1m20s");
        assert_eq!(go_duration(Duration::from_secs(300)), "5m0s");
        assert_eq!(go_duration(Duration::from_millis(100)), "100ms");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_secs(3661)), "1h1m1s");
    }
}
