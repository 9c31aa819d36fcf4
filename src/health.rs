//! The application's health, between reconciles: whether Pebble could start Django's
//! services and whether Django answers on its port, as statuses an operator can act on.
//!
//! The reconcile never reads checks. This evaluation runs on `update-status` (when the
//! state is valid) and on the `django` check's `pebble-check-failed` and
//! `pebble-check-recovered` events, and only touches a status it owns (Active, or one of
//! the three below): a configuration or integration problem keeps its own.

use crate::juju::tools::{Status, StatusKind};
use crate::pebble::{CheckInfo, ServiceInfo, TaskInfo};

/// The statuses this evaluation sets.
pub fn failed_to_start(service: &str) -> String {
    format!("Service {service} failed to start")
}
pub fn restarting(service: &str) -> String {
    format!("Service {service} is restarting")
}
pub const NOT_ANSWERING: &str = "Django is not answering on port 8000";

/// The service a failed replan or start could not start: the first task of kind `start`
/// in `Error` (in change order), when the change error says a service exited quickly
/// (Pebble retries it from `backoff`). `None` for any other failure.
pub fn failed_start(err: &str, tasks: &[TaskInfo]) -> Option<String> {
    if !err.contains("exited quickly with code") {
        return None;
    }
    tasks
        .iter()
        .filter(|t| t.kind == "start" && t.status == "Error")
        .find_map(|t| {
            t.summary
                .strip_prefix("Start service \"")
                .and_then(|rest| rest.strip_suffix('"'))
                .map(String::from)
        })
}

/// What the evaluation calls for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Leave the status as it is.
    Keep,
    /// Set this status.
    Set(Status),
    /// Run the full reconcile (it ends Active and re-does what a failed start skipped).
    Reconcile,
}

/// Whether the evaluation may change `status` (Active with no message, or one it set):
/// when not, it need not even look at Pebble.
pub fn owns(status: &Status) -> bool {
    owned(status).is_some()
}

/// Whether `status` is one this evaluation owns; `Some(true)` for its Blocked or
/// Maintenance ones.
fn owned(status: &Status) -> Option<bool> {
    let m = status.message.as_str();
    let service_status = |prefix: &str, suffix: &str| {
        m.strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(suffix))
            .is_some_and(|name| !name.is_empty())
    };
    match status.kind {
        StatusKind::Active if m.is_empty() => Some(false),
        StatusKind::Blocked if service_status("Service ", " failed to start") => Some(true),
        StatusKind::Maintenance
            if m == NOT_ANSWERING || service_status("Service ", " is restarting") =>
        {
            Some(true)
        }
        _ => None,
    }
}

/// Decide from the current status, the plan's services (in Pebble's order) and the
/// `django` check (absent when the plan has none).
pub fn verdict(current: &Status, services: &[ServiceInfo], check: Option<&CheckInfo>) -> Verdict {
    let Some(ours_not_active) = owned(current) else {
        return Verdict::Keep;
    };
    let enabled: Vec<&ServiceInfo> = services.iter().filter(|s| s.startup == "enabled").collect();
    let first = |state: &str| enabled.iter().find(|s| s.current == state).map(|s| &s.name);
    let check_down = check.is_some_and(|c| c.status == "down");
    // Pebble keeps retrying an application that never starts: do not flap.
    if current.kind == StatusKind::Blocked
        && enabled
            .iter()
            .any(|s| s.current == "backoff" && current.message == failed_to_start(&s.name))
    {
        return Verdict::Keep;
    }
    let set = |status: Status| {
        if &status == current {
            Verdict::Keep
        } else {
            Verdict::Set(status)
        }
    };
    if let Some(name) = first("error") {
        return set(Status::blocked(failed_to_start(name)));
    }
    // Pebble is restarting it: in backoff, or stopped by the failed check.
    let restarting_service = enabled
        .iter()
        .find(|s| s.current == "backoff" || (check_down && s.current == "inactive"));
    if let Some(service) = restarting_service {
        return set(Status::maintenance(restarting(&service.name)));
    }
    if check_down {
        return set(Status::maintenance(NOT_ANSWERING));
    }
    if ours_not_active && enabled.iter().all(|s| s.current == "active") {
        return Verdict::Reconcile;
    }
    if first("inactive").is_some() {
        return Verdict::Reconcile;
    }
    set(Status::active())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(name: &str, current: &str) -> ServiceInfo {
        ServiceInfo {
            name: name.into(),
            startup: "enabled".into(),
            current: current.into(),
        }
    }

    fn check(status: &str) -> CheckInfo {
        CheckInfo {
            name: "django".into(),
            level: String::new(),
            status: status.into(),
            failures: 0,
            threshold: 3,
        }
    }

    fn task(kind: &str, summary: &str, status: &str) -> TaskInfo {
        TaskInfo {
            kind: kind.into(),
            summary: summary.into(),
            status: status.into(),
        }
    }

    #[test]
    fn a_failed_start_names_its_service() {
        let err = "cannot perform the following tasks:\n- Start service \"django\" (service start attempt: exited quickly with code 1, will restart)";
        let tasks = [
            task("stop", "Stop service \"celery-worker\"", "Done"),
            task("start", "Start service \"statsd-exporter\"", "Done"),
            task("start", "Start service \"django\"", "Error"),
            task("start", "Start service \"celery-worker\"", "Hold"),
        ];
        assert_eq!(failed_start(err, &tasks), Some("django".to_string()));
        assert_eq!(
            failed_start("cannot start service while terminating", &tasks),
            None
        );
        assert_eq!(failed_start(err, &tasks[..2]), None);
    }

    #[test]
    fn statuses_it_does_not_own_are_left_alone() {
        for status in [
            Status::blocked("missing integrations: postgresql"),
            Status::blocked(
                "Webserver configuration check failed, please review your charm configuration or database relation",
            ),
            Status::maintenance("Preparing service for restart"),
            Status::waiting("Waiting for pebble ready"),
            Status::new(StatusKind::Active, "something"),
        ] {
            assert_eq!(
                verdict(&status, &[svc("django", "error")], Some(&check("down"))),
                Verdict::Keep,
                "{status:?}"
            );
        }
    }

    #[test]
    fn from_active() {
        let up = Some(check("up"));
        let active = Status::active();
        assert_eq!(
            verdict(&active, &[svc("django", "active")], up.as_ref()),
            Verdict::Keep
        );
        assert_eq!(
            verdict(&active, &[svc("django", "backoff")], up.as_ref()),
            Verdict::Set(Status::maintenance("Service django is restarting"))
        );
        assert_eq!(
            verdict(
                &active,
                &[svc("django", "active"), svc("celery-worker", "error")],
                up.as_ref()
            ),
            Verdict::Set(Status::blocked("Service celery-worker failed to start"))
        );
        assert_eq!(
            verdict(&active, &[svc("django", "active")], Some(&check("down"))),
            Verdict::Set(Status::maintenance(NOT_ANSWERING))
        );
        assert_eq!(
            verdict(&active, &[svc("django", "inactive")], Some(&check("down"))),
            Verdict::Set(Status::maintenance("Service django is restarting"))
        );
        assert_eq!(
            verdict(&active, &[svc("django", "inactive")], up.as_ref()),
            Verdict::Reconcile,
            "an enabled service stopped: start it"
        );
        let disabled = ServiceInfo {
            startup: "disabled".into(),
            ..svc("beat-scheduler", "inactive")
        };
        assert_eq!(
            verdict(&active, &[svc("django", "active"), disabled], None),
            Verdict::Keep,
            "disabled services and an absent check are fine"
        );
    }

    #[test]
    fn recovery_and_no_flapping() {
        let failed = Status::blocked("Service django failed to start");
        assert_eq!(
            verdict(&failed, &[svc("django", "backoff")], Some(&check("down"))),
            Verdict::Keep,
            "Pebble is still retrying"
        );
        assert_eq!(
            verdict(&failed, &[svc("django", "active")], Some(&check("up"))),
            Verdict::Reconcile
        );
        let not_answering = Status::maintenance(NOT_ANSWERING);
        assert_eq!(
            verdict(
                &not_answering,
                &[svc("django", "active")],
                Some(&check("up"))
            ),
            Verdict::Reconcile
        );
        assert_eq!(
            verdict(
                &not_answering,
                &[svc("django", "active")],
                Some(&check("down"))
            ),
            Verdict::Keep
        );
        let restarting = Status::maintenance("Service django is restarting");
        assert_eq!(
            verdict(&restarting, &[svc("django", "error")], None),
            Verdict::Set(Status::blocked("Service django failed to start"))
        );
        // The name is the first matching service in Pebble's order.
        assert_eq!(
            verdict(
                &Status::active(),
                &[svc("a-worker", "inactive"), svc("django", "backoff")],
                Some(&check("down"))
            ),
            Verdict::Set(Status::maintenance("Service a-worker is restarting"))
        );
        let worker_failed = Status::blocked("Service a-worker failed to start");
        assert_eq!(
            verdict(
                &worker_failed,
                &[svc("a-worker", "backoff"), svc("django", "backoff")],
                None
            ),
            Verdict::Keep
        );
    }
}
