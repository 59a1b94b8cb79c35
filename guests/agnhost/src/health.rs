//! The health state that both servers share: which service the endpoint
//! answers for, and whether it is SERVING.
//!
//! The rules are agnhost's own (`test/images/agnhost/grpc-health-checking`):
//! the endpoint is NOT_SERVING once `/make-not-serving` has been called, or
//! once `--delay-unhealthy-sec` seconds have passed when that is not
//! negative; otherwise it is SERVING. `/make-serving` only undoes
//! `/make-not-serving`: it cannot bring back an endpoint whose delay has
//! run out.

use std::time::{Duration, Instant};

/// `grpc.health.v1.HealthCheckResponse.ServingStatus` values this server
/// reports (it never reports UNKNOWN = 0 or SERVICE_UNKNOWN = 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServingStatus {
    Serving = 1,
    NotServing = 2,
}

/// The status at `elapsed` after start.
///
/// `delay_unhealthy_sec` < 0 never turns unhealthy on its own; 0 starts
/// NOT_SERVING. `forced_unhealthy` is the last control request: `Some(true)`
/// after `/make-not-serving`, `Some(false)` after `/make-serving`, `None`
/// before either.
pub fn status_at(
    elapsed: Duration,
    delay_unhealthy_sec: i64,
    forced_unhealthy: Option<bool>,
) -> ServingStatus {
    let delay_passed =
        u64::try_from(delay_unhealthy_sec).is_ok_and(|delay| elapsed >= Duration::from_secs(delay));
    if forced_unhealthy == Some(true) || delay_passed {
        ServingStatus::NotServing
    } else {
        ServingStatus::Serving
    }
}

/// Shared state of one `grpc-health-checking` endpoint.
#[derive(Debug)]
pub struct Health {
    started: Instant,
    service: String,
    delay_unhealthy_sec: i64,
    forced_unhealthy: Option<bool>,
}

impl Health {
    /// A new endpoint started at `started`.
    pub fn new(started: Instant, service: String, delay_unhealthy_sec: i64) -> Health {
        Health {
            started,
            service,
            delay_unhealthy_sec,
            forced_unhealthy: None,
        }
    }

    /// The service name (`--service`) this endpoint answers for.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The status at `now`.
    pub fn status(&self, now: Instant) -> ServingStatus {
        status_at(
            self.uptime(now),
            self.delay_unhealthy_sec,
            self.forced_unhealthy,
        )
    }

    /// Records a `/make-not-serving` (`true`) or `/make-serving` (`false`).
    pub fn force_unhealthy(&mut self, unhealthy: bool) {
        self.forced_unhealthy = Some(unhealthy);
    }

    /// Time since start.
    pub fn uptime(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.started)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ServingStatus::*;

    const fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn negative_delay_is_always_serving() {
        for t in [secs(0), secs(5), secs(1_000_000)] {
            assert_eq!(status_at(t, -1, None), Serving);
            assert_eq!(status_at(t, i64::MIN, Some(false)), Serving);
        }
    }

    #[test]
    fn zero_delay_starts_not_serving() {
        assert_eq!(status_at(secs(0), 0, None), NotServing);
        assert_eq!(status_at(secs(3), 0, None), NotServing);
    }

    #[test]
    fn positive_delay_turns_not_serving_at_the_deadline() {
        assert_eq!(status_at(secs(0), 5, None), Serving);
        assert_eq!(status_at(Duration::from_millis(4_999), 5, None), Serving);
        assert_eq!(status_at(secs(5), 5, None), NotServing);
        assert_eq!(status_at(secs(60), 5, None), NotServing);
        assert_eq!(status_at(secs(u64::MAX), i64::MAX, None), NotServing);
    }

    #[test]
    fn control_requests() {
        // make-not-serving wins over everything.
        assert_eq!(status_at(secs(0), -1, Some(true)), NotServing);
        assert_eq!(status_at(secs(0), 5, Some(true)), NotServing);
        // make-serving undoes it, but not an expired delay (as in agnhost).
        assert_eq!(status_at(secs(1), 5, Some(false)), Serving);
        assert_eq!(status_at(secs(6), 5, Some(false)), NotServing);
    }

    #[test]
    fn shared_state() {
        let start = Instant::now();
        let mut h = Health::new(start, "svc".into(), 10);
        assert_eq!(h.service(), "svc");
        assert_eq!(h.status(start), Serving);
        assert_eq!(h.status(start + secs(10)), NotServing);
        h.force_unhealthy(true);
        assert_eq!(h.status(start), NotServing);
        h.force_unhealthy(false);
        assert_eq!(h.status(start + secs(1)), Serving);
        assert_eq!(h.uptime(start + secs(2)), secs(2));
    }
}
