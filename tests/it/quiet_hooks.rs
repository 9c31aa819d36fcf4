//! Quiet hooks: a hook that changes nothing writes no status and asks the controller
//! only what it must; a status is written only when it changes, remembered across hooks
//! in a file of the charm directory that a new leader, an upgrade or a failed hook
//! forgets; and no hook reads the same thing twice.

use std::collections::BTreeMap;

use django_charm::juju::read_cache::is_round_trip;
use django_charm::juju::status_memory::StatusMemory;
use django_charm::juju::tools::Status;
use django_charm::sim::Outcome;
use django_charm::sim::juju::{RelationState, ToolFailure};

use crate::fixtures::*;
use crate::harness::world::{Mode, World};
use crate::integrations::charmcraft_with;
use crate::integrations::tracing::{TRACING, receivers};

/// A deployed unit at its smallest: the leader, its peer relation with the key's
/// secret, PostgreSQL giving its credentials in the bag; Active after its first hook.
fn deployed(mode: Mode) -> World {
    deployed_with(mode, false)
}

/// [`deployed`], with PostgreSQL's credentials in the bag or in its `secret-user`.
fn deployed_with(mode: Mode, credentials_in_secret: bool) -> World {
    let mut w = world(mode);
    w.juju.relations.retain(|r| r.endpoint != "ingress");
    if !credentials_in_secret {
        let pg = w.juju.relation_mut("postgresql").unwrap();
        pg.remote_app_data.shift_remove("secret-user");
        pg.remote_app_data
            .insert("username".into(), "django".into());
        pg.remote_app_data
            .insert("password".into(), "a-database-password".into());
    }
    let out = run(&mut w, "config-changed");
    assert_eq!(out.juju.unit_status, active(), "{}", out.report());
    w
}

/// The `status-set` calls of a hook, as `unit|app kind message`.
fn status_writes(out: &Outcome) -> Vec<String> {
    out.calls()
        .iter()
        .filter(|c| c.tool == "status-set")
        .map(|c| {
            let whose = if c.args[0] == "--application=True" {
                "app"
            } else {
                "unit"
            };
            format!("{whose} {} {}", c.args[1], c.args[3])
                .trim_end()
                .to_string()
        })
        .collect()
}

/// The calls of a hook that are round trips to the controller.
fn round_trips(out: &Outcome) -> Vec<String> {
    out.calls()
        .iter()
        .filter(|c| is_round_trip(&c.tool))
        .map(|c| format!("{} {}", c.tool, c.args.join(" ")))
        .collect()
}

const MAINTENANCE_THEN_ACTIVE: [&str; 4] = [
    "unit maintenance Preparing service for restart",
    "app maintenance Preparing service for restart",
    "unit active",
    "app active",
];

fn a_hook_that_changes_nothing_writes_no_status(mode: Mode) {
    for (secret, event) in [
        (false, "config-changed"),
        (false, "secret-storage-relation-changed"),
        (true, "config-changed"),
        (true, "secret-storage-relation-changed"),
    ] {
        let mut w = deployed_with(mode, secret);
        let out = run(&mut w, event);
        assert_eq!(status_writes(&out), Vec::<String>::new(), "{event}");
        assert!(out.ops().is_empty(), "{event}: {:?}", op_names(out.ops()));
        assert_eq!(out.juju.unit_status, active());
        assert_eq!(out.juju.app_status, active());
        let trips = round_trips(&out);
        assert!(trips.len() <= 5, "{event}: {trips:#?}");
        assert_eq!(
            trips.iter().filter(|t| t.starts_with("config-get")).count(),
            1
        );
        // Leadership matters only for a write: none here.
        assert_eq!(
            trips.iter().filter(|t| t.starts_with("is-leader")).count(),
            0
        );
        if mode == Mode::Memory {
            let skipped: Vec<String> = out
                .skipped_statuses
                .iter()
                .map(|s| format!("{} {}", s.application, s.status))
                .collect();
            assert_eq!(skipped, ["false active \"\"", "true active \"\""]);
            assert!(
                out.report()
                    .contains("unit status unchanged: active \"\"\n"),
                "{}",
                out.report()
            );
        }
    }
}

fn a_reconcile_that_changes_the_workload_shows_maintenance_first(mode: Mode) {
    let mut w = world(mode);
    let out = run(&mut w, "config-changed");
    assert_eq!(status_writes(&out), MAINTENANCE_THEN_ACTIVE);

    w.juju
        .config
        .insert("django-allowed-hosts".into(), "blog.example.com".into());
    let out = run(&mut w, "config-changed");
    assert_eq!(op_names(out.ops())[0], "add-layer charm");
    assert_eq!(status_writes(&out), MAINTENANCE_THEN_ACTIVE);

    // A reconcile stopped before any change sets its verdict only.
    w.juju
        .config
        .insert("webserver-worker-class".into(), "eventlet".into());
    let out = run(&mut w, "config-changed");
    assert!(out.ops().is_empty());
    let verdict = "Only 'gevent' and 'sync' are allowed. https://bit.ly/django-async-doc";
    assert_eq!(
        status_writes(&out),
        [
            format!("unit blocked {verdict}"),
            format!("app blocked {verdict}")
        ]
    );
    let out = run(&mut w, "config-changed");
    assert_eq!(status_writes(&out), Vec::<String>::new(), "still Blocked");
    assert_eq!(out.juju.unit_status, blocked(verdict));
}

fn a_new_leader_writes_the_application_status_once(mode: Mode) {
    // Leadership moves away: the first status that changes asks is-leader, whose no
    // forgets the application status.
    let mut w = deployed(mode);
    w.juju.leader = false;
    let verdict = "Only 'gevent' and 'sync' are allowed. https://bit.ly/django-async-doc";
    w.juju
        .config
        .insert("webserver-worker-class".into(), "eventlet".into());
    let out = run(&mut w, "config-changed");
    assert_eq!(status_writes(&out), [format!("unit blocked {verdict}")]);
    w.juju.config.shift_remove("webserver-worker-class");
    let out = run(&mut w, "config-changed");
    assert_eq!(status_writes(&out), ["unit active"]);
    assert_eq!(out.juju.app_status, active(), "written by no non-leader");

    // ... and comes back, with leader-elected first, as Juju runs it.
    w.juju.leader = true;
    let out = run(&mut w, "leader-elected");
    assert_eq!(status_writes(&out), Vec::<String>::new());
    let out = run(&mut w, "config-changed");
    assert_eq!(status_writes(&out), ["app active"]);
    let out = run(&mut w, "config-changed");
    assert_eq!(status_writes(&out), Vec::<String>::new());

    // A leader-elected on the same unit forgets it too, and the next hook writes it once.
    let mut w = deployed(mode);
    let out = run(&mut w, "leader-elected");
    assert_eq!(status_writes(&out), Vec::<String>::new());
    let out = run(&mut w, "update-status");
    assert_eq!(status_writes(&out), Vec::<String>::new(), "a healthy app");
    let out = run(&mut w, "config-changed");
    assert_eq!(status_writes(&out), ["app active"]);
    let out = run(&mut w, "secret-storage-relation-changed");
    assert_eq!(status_writes(&out), Vec::<String>::new());
}

fn an_upgrade_or_a_failed_hook_forgets_every_status(mode: Mode) {
    let mut w = deployed(mode);
    run(&mut w, "upgrade-charm");
    let out = run(&mut w, "config-changed");
    assert_eq!(status_writes(&out), ["unit active", "app active"]);

    // A hook that fails after writing nothing still leaves no memory behind.
    w.juju.failures.push(ToolFailure {
        tool: "opened-ports".into(),
        code: 1,
        stderr: "ERROR connection is shut down".into(),
    });
    let out = w.run("config-changed");
    assert_eq!(out.exit_code, 1);
    assert_eq!(w.last_status, StatusMemory::default());
    w.juju.failures.clear();
    let out = run(&mut w, "config-changed");
    assert_eq!(status_writes(&out), ["unit active", "app active"]);
}

fn a_lost_memory_means_the_status_is_written(mode: Mode) {
    let mut w = deployed(mode);
    // The pod was replaced: a new charm directory.
    w.last_status = StatusMemory::default();
    let out = run(&mut w, "config-changed");
    assert_eq!(status_writes(&out), ["unit active", "app active"]);
    // A memory that disagrees with nothing the charm wants to write changes nothing.
    w.last_status = StatusMemory {
        unit: Some(Status::waiting("Waiting for peer integration")),
        application: None,
    };
    let out = run(&mut w, "config-changed");
    assert_eq!(status_writes(&out), ["unit active", "app active"]);
}

/// The example with every relation that reads or writes in most hooks: PostgreSQL and
/// its secret, ingress, tracing, metrics and dashboards.
fn everything_related(mode: Mode) -> World {
    let mut sim = example();
    sim.charmcraft = Some(charmcraft_with(&[TRACING]));
    sim.juju.relations.extend([
        RelationState::new(14, "tracing", "tempo")
            .remote_units(&["tempo/0"])
            .remote_app_data(receivers("http://tempo:4318")),
        RelationState::new(5, "metrics-endpoint", "prometheus-k8s")
            .remote_units(&["prometheus-k8s/0"]),
        RelationState::new(6, "grafana-dashboard", "grafana-k8s").remote_units(&["grafana-k8s/0"]),
    ]);
    World::new(sim, mode)
}

const READS: [&str; 6] = [
    "config-get",
    "relation-ids",
    "relation-list",
    "relation-get",
    "secret-get",
    "network-get",
];

fn no_hook_reads_the_same_thing_twice(mode: Mode) {
    let mut w = everything_related(mode);
    for event in [
        "config-changed",
        "config-changed",
        "update-status",
        "secret-storage-relation-changed",
        "postgresql-relation-changed",
        "ingress-relation-changed",
        "tracing-relation-changed",
        "metrics-endpoint-relation-changed",
        "django-app-pebble-ready",
        "upgrade-charm",
        "leader-elected",
        "secret-changed",
    ] {
        let out = run(&mut w, event);
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for c in out
            .calls()
            .iter()
            .filter(|c| READS.contains(&c.tool.as_str()))
        {
            *seen
                .entry(format!("{} {}", c.tool, c.args.join(" ")))
                .or_default() += 1;
        }
        let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "{event} reads twice: {twice:#?}");
    }
}

in_both_modes!(
    a_hook_that_changes_nothing_writes_no_status,
    a_reconcile_that_changes_the_workload_shows_maintenance_first,
    a_new_leader_writes_the_application_status_once,
    an_upgrade_or_a_failed_hook_forgets_every_status,
    a_lost_memory_means_the_status_is_written,
    no_hook_reads_the_same_thing_twice,
);
