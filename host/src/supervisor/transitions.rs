//! What a container's record becomes when an instance starts or ends, as
//! pure functions the driver carries out: the backoff at a restart, how an
//! exit reads (code, reason, message), and whether a container killed for
//! its postStart hook waits showing `PostStartHookError`.

use k8s_openapi::jiff::Timestamp;
use tokio::time::Instant;

use super::backoff::BackoffPolicy;
use super::observed::{Observed, Record, Slot, State};
use crate::container::Exit;
use crate::plan::PodPlan;

/// The record at the start of a new instance (`started_at` on the wall
/// clock, `now` on the monotonic one). A restart (the container ran before)
/// counts, and advances the backoff entry from the newest termination,
/// which becomes `lastState` (`doBackOff`, then `Next`, in the kubelet).
pub(crate) fn start_instance(
    rec: &mut Record,
    policy: &BackoffPolicy,
    now: Instant,
    started_at: Timestamp,
) {
    if rec.has_run() {
        if let Some(prev) = rec.newest_termination().cloned() {
            rec.backoff = Some(policy.next(rec.backoff.as_ref(), prev.finished, now));
            rec.last = Some(prev);
        }
        rec.restart_count += 1;
    }
    rec.state = State::Running { started_at };
}

/// How an instance ended: its own exit, or for one that was aborted, the
/// code the supervisor stopped it with (`kill_code`), or a cancelled trap
/// if nothing stopped it on purpose.
pub(crate) fn exit_of(joined: Option<Exit>, kill_code: Option<i32>) -> Exit {
    match (joined, kill_code) {
        (Some(exit), _) => exit,
        (None, Some(code)) => Exit::Code(code),
        (None, None) => Exit::Trap("the guest task was cancelled".into()),
    }
}

/// The Kubernetes reason for an exit, and the message shown when the
/// container left none (`Completed`/`Error`/`StartError`/`OOMKilled`; a
/// trap is an `Error` whose message is `wasm trap: <text>`).
pub(crate) fn exit_reason(exit: &Exit) -> (&'static str, Option<String>) {
    match exit {
        Exit::Code(0) => ("Completed", None),
        Exit::Code(_) => ("Error", None),
        Exit::Trap(text) => ("Error", Some(format!("wasm trap: {text}"))),
        Exit::StartError(text) => ("StartError", Some(text.clone())),
        Exit::OomKilled(_) => ("OOMKilled", None),
    }
}

/// The `PostStartHookError` message a just-terminated container waits to
/// restart with: the kubelet's reason cache shows why a container killed
/// for its postStart hook (`start_error`) is not running. `None` when the
/// hook did not fail, the pod is being deleted, or the container will not
/// restart (it then stays terminated).
pub(crate) fn post_start_wait(
    plan: &PodPlan,
    obs: &Observed,
    slot: Slot,
    start_error: Option<String>,
) -> Option<String> {
    let message = start_error?;
    let State::Terminated(t) = &obs.record(slot).state else {
        return None;
    };
    (!obs.deleting && plan.should_restart(slot.plan(plan), t.exit_code)).then_some(message)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::supervisor::backoff::RESET_AFTER;
    use crate::supervisor::observed::termination;
    use crate::supervisor::tests::plan;

    #[test]
    fn restarts_count_and_back_off_from_the_newest_termination() {
        let policy = BackoffPolicy::default();
        let p = plan("Always", &[], &["app"]);
        let mut obs = Observed::new(&p);
        let rec = obs.record_mut(Slot::Regular(0));
        let t0 = Instant::now();
        start_instance(rec, &policy, t0, Timestamp::now());
        assert_eq!(
            (rec.restart_count, rec.backoff, &rec.last),
            (0, None, &None)
        );

        let mut delays = Vec::new();
        let mut now = t0;
        for _ in 0..8 {
            rec.state = State::Terminated(termination(1, now));
            start_instance(rec, &policy, now, Timestamp::now());
            let entry = rec.backoff.expect("a restart backs off");
            delays.push(entry.delay.as_secs());
            now += entry.delay;
        }
        assert_eq!(delays, [10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(rec.restart_count, 8);
        assert_eq!(rec.last.as_ref().map(|t| t.exit_code), Some(1));
        assert!(rec.is_running());

        // A run longer than RESET_AFTER forgets the backoff.
        let long = now + RESET_AFTER + Duration::from_secs(1);
        rec.state = State::Terminated(termination(1, long));
        start_instance(rec, &policy, long, Timestamp::now());
        assert_eq!(rec.backoff.map(|e| e.delay), Some(policy.initial));
    }

    #[test]
    fn a_restart_after_a_waiting_state_backs_off_from_last_state() {
        let policy = BackoffPolicy::default();
        let p = plan("Always", &[], &["app"]);
        let mut obs = Observed::new(&p);
        let rec = obs.record_mut(Slot::Regular(0));
        let t = termination(2, Instant::now());
        rec.last = Some(t.clone());
        rec.state = State::Waiting {
            reason: "CrashLoopBackOff".into(),
            message: None,
        };
        start_instance(rec, &policy, Instant::now(), Timestamp::now());
        assert_eq!(rec.restart_count, 1);
        assert_eq!(rec.last, Some(t));
        assert_eq!(rec.backoff.map(|e| e.delay), Some(policy.initial));
    }

    #[test]
    fn exits_read_as_the_kubelet_reports_them() {
        assert_eq!(exit_reason(&Exit::Code(0)), ("Completed", None));
        assert_eq!(exit_reason(&Exit::Code(3)), ("Error", None));
        assert_eq!(
            exit_reason(&Exit::Trap("unreachable".into())),
            ("Error", Some("wasm trap: unreachable".into()))
        );
        assert_eq!(
            exit_reason(&Exit::StartError("no permit".into())),
            ("StartError", Some("no permit".into()))
        );
        assert_eq!(
            exit_reason(&Exit::OomKilled("limit".into())),
            ("OOMKilled", None)
        );
    }

    #[test]
    fn an_aborted_instance_reports_the_code_it_was_stopped_with() {
        assert_eq!(exit_of(Some(Exit::Code(4)), Some(137)), Exit::Code(4));
        assert_eq!(exit_of(None, Some(137)), Exit::Code(137));
        assert_eq!(exit_of(None, Some(143)), Exit::Code(143));
        assert!(matches!(exit_of(None, None), Exit::Trap(_)));
    }

    #[test]
    fn post_start_hook_errors_show_only_while_waiting_to_restart() {
        let slot = Slot::Regular(0);
        let failed = |policy: &str, deleting: bool, code: i32, error: Option<&str>| {
            let p = plan(policy, &[], &["app"]);
            let mut obs = Observed::new(&p);
            obs.deleting = deleting;
            obs.record_mut(slot).state = State::Terminated(termination(code, Instant::now()));
            post_start_wait(&p, &obs, slot, error.map(Into::into))
        };
        assert_eq!(
            failed("Always", false, 137, Some("hook failed")),
            Some("hook failed".into())
        );
        assert_eq!(failed("Always", false, 137, None), None, "no hook error");
        assert_eq!(failed("Always", true, 137, Some("x")), None, "deleting");
        assert_eq!(failed("Never", false, 137, Some("x")), None, "no restart");
        assert_eq!(
            failed("OnFailure", false, 0, Some("x")),
            None,
            "succeeded under OnFailure"
        );
    }
}
