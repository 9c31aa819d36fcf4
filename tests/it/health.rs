//! The application's health between reconciles: a service Pebble cannot keep running or
//! a Django that stops answering shows in the status, and the unit goes back to Active
//! once it recovers. Each scenario runs in memory and through `dispatch`.

use django_charm::juju::tools::Status;
use django_charm::sim::Outcome;
use django_charm::sim::pebble::{ExecRule, ServiceStatus};

use crate::fixtures::*;
use crate::harness::world::{Mode, World};

const NOT_ANSWERING: &str = "Django is not answering on port 8000";

fn maintenance(m: &str) -> Option<Status> {
    Some(Status::maintenance(m))
}

fn deployed(mode: Mode) -> World {
    let mut sim = world(mode);
    let out = run(&mut sim, "config-changed");
    assert_eq!(out.juju.unit_status, active());
    sim
}

fn check_event(sim: &mut World, event: &str, check: &str) -> Outcome {
    sim.env
        .insert("JUJU_PEBBLE_CHECK_NAME".into(), check.to_string());
    let out = run(sim, event);
    sim.env.shift_remove("JUJU_PEBBLE_CHECK_NAME");
    out
}

fn a_django_that_stops_answering_shows_and_recovers(mode: Mode) {
    let mut sim = deployed(mode);
    sim.pebble.checks_down.insert("django".into());
    let out = run(&mut sim, "update-status");
    assert_eq!(out.juju.unit_status, maintenance(NOT_ANSWERING));
    assert_eq!(out.juju.app_status, maintenance(NOT_ANSWERING));
    assert!(out.ops().is_empty(), "{:?}", op_names(out.ops()));
    // Still down: nothing changes.
    let out = run(&mut sim, "update-status");
    assert_eq!(out.juju.unit_status, maintenance(NOT_ANSWERING));

    // Recovered: the check event runs the evaluation, which reconciles to Active.
    sim.pebble.checks_down.clear();
    let out = check_event(&mut sim, "django-app-pebble-check-recovered", "django");
    assert_eq!(out.juju.unit_status, active());
    assert_eq!(out.juju.opened_ports, ["8000/tcp"]);
}

fn a_restarting_or_failed_service_shows(mode: Mode) {
    let mut sim = deployed(mode);
    sim.pebble.services.get_mut("django").unwrap().current = ServiceStatus::Backoff;
    let out = check_event(&mut sim, "django-app-pebble-check-failed", "django");
    assert_eq!(
        out.juju.unit_status,
        maintenance("Service django is restarting")
    );
    sim.pebble.services.get_mut("django").unwrap().current = ServiceStatus::Error;
    let out = run(&mut sim, "update-status");
    assert_eq!(
        out.juju.unit_status,
        Some(Status::blocked("Service django failed to start"))
    );
    // Pebble retrying it again: the failed start stays (no flapping).
    sim.pebble.services.get_mut("django").unwrap().current = ServiceStatus::Backoff;
    let out = run(&mut sim, "update-status");
    assert_eq!(
        out.juju.unit_status,
        Some(Status::blocked("Service django failed to start"))
    );
    // Running again with the check up: the reconcile brings it back to Active.
    sim.pebble.services.get_mut("django").unwrap().current = ServiceStatus::Active;
    let out = run(&mut sim, "update-status");
    assert_eq!(out.juju.unit_status, active());

    // Another check's events are not ours.
    sim.pebble.checks_down.insert("django".into());
    let out = check_event(&mut sim, "django-app-pebble-check-failed", "other");
    assert_eq!(out.juju.unit_status, active());
}

fn a_service_that_will_not_start_is_a_status_not_a_failed_hook(mode: Mode) {
    let mut sim = world(mode);
    sim.pebble.failing_services.insert("django".into());
    let out = run(&mut sim, "config-changed");
    assert_eq!(out.exit_code, 0);
    let failed = Some(Status::blocked("Service django failed to start"));
    assert_eq!(out.juju.unit_status, failed);
    assert!(out.juju.opened_ports.is_empty(), "the reconcile ends there");
    let warnings: Vec<&str> = out
        .juju
        .logs
        .iter()
        .filter(|l| l.level == "WARNING")
        .map(|l| l.message.as_str())
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("replan change ")
            && warnings[0].ends_with(r#" failed: Start service "django""#),
        "{warnings:?}"
    );
    assert!(
        !out.juju.log_text().contains("exited quickly"),
        "no change error text"
    );
    // Pebble still retrying: the status stays.
    let out = run(&mut sim, "update-status");
    assert_eq!(out.juju.unit_status, failed);
    // Pebble's retry succeeded: the reconcile finishes what the failed start skipped.
    sim.pebble.failing_services.clear();
    sim.pebble.services.get_mut("django").unwrap().current = ServiceStatus::Active;
    let out = run(&mut sim, "update-status");
    assert_eq!(out.juju.unit_status, active());
    assert_eq!(out.juju.opened_ports, ["8000/tcp"]);
}

fn statuses_of_other_problems_are_kept(mode: Mode) {
    // Services stopped on purpose: the missing integration stays the status.
    let mut sim = deployed(mode);
    sim.juju.relations.retain(|r| r.endpoint != "postgresql");
    let out = run(&mut sim, "config-changed");
    let missing = blocked("missing integrations: postgresql");
    assert_eq!(out.juju.unit_status, missing);
    sim.pebble.checks_down.insert("django".into());
    let out = run(&mut sim, "update-status");
    assert_eq!(out.juju.unit_status, missing);

    // A unit Blocked by the configuration check stays so.
    let mut sim = deployed(mode);
    sim.pebble
        .exec_rules
        .push(ExecRule::prefix(["/bin/python3", "-m", "gunicorn"]).exit_code(1));
    sim.juju.config.insert("webserver-workers".into(), 3.into());
    let out = run(&mut sim, "config-changed");
    let rejected = blocked(
        "Webserver configuration check failed, please review your charm configuration or database relation",
    );
    assert_eq!(out.juju.unit_status, rejected);
    sim.pebble.checks_down.insert("django".into());
    let out = check_event(&mut sim, "django-app-pebble-check-failed", "django");
    assert_eq!(out.juju.unit_status, rejected);
}

in_both_modes!(
    a_django_that_stops_answering_shows_and_recovers,
    a_restarting_or_failed_service_shows,
    statuses_of_other_problems_are_kept,
    a_service_that_will_not_start_is_a_status_not_a_failed_hook,
);
