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

/// Formats a duration the way Go's `time.Duration.String` does (`0s`,
/// `1.5µs`, `250ms`, `12.345678901s`, `2m0s`, `1h0m5.5s`), which is what
/// agnhost's control endpoints answer with.
pub fn go_duration(d: Duration) -> String {
    /// `value` / 10^`digits` with the fraction's trailing zeros removed.
    fn decimal(value: u128, digits: u32) -> String {
        let scale = 10u128.pow(digits);
        let (int, frac) = (value / scale, value % scale);
        if frac == 0 {
            return int.to_string();
        }
        let frac = format!("{frac:0width$}", width = digits as usize);
        format!("{int}.{}", frac.trim_end_matches('0'))
    }
    let ns = d.as_nanos();
    match ns {
        0 => "0s".to_string(),
        1..1_000 => format!("{ns}ns"),
        1_000..1_000_000 => format!("{}µs", decimal(ns, 3)),
        1_000_000..1_000_000_000 => format!("{}ms", decimal(ns, 6)),
        _ => {
            let secs = d.as_secs();
            let (h, m) = (secs / 3600, secs / 60 % 60);
            let s = decimal(
                u128::from(secs % 60) * 1_000_000_000 + u128::from(d.subsec_nanos()),
                9,
            );
            match (h, m) {
                (0, 0) => format!("{s}s"),
                (0, _) => format!("{m}m{s}s"),
                _ => format!("{h}h{m}m{s}s"),
            }
        }
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

    #[test]
    fn go_durations() {
        let ns = Duration::from_nanos;
        assert_eq!(go_duration(ns(0)), "0s");
        assert_eq!(go_duration(ns(999)), "999ns");
        assert_eq!(go_duration(ns(1_500)), "1.5µs");
        assert_eq!(go_duration(ns(2_000)), "2µs");
        assert_eq!(go_duration(ns(250_000_000)), "250ms");
        assert_eq!(go_duration(ns(1_234_567)), "1.234567ms");
        assert_eq!(go_duration(ns(12_345_678_901)), "12.345678901s");
        assert_eq!(go_duration(secs(1)), "1s");
        assert_eq!(go_duration(secs(120)), "2m0s");
        assert_eq!(go_duration(ns(3_605_500_000_000)), "1h0m5.5s");
        assert_eq!(go_duration(secs(90_000)), "25h0m0s");
    }
}
