//! Observability scenarios (`DJANGO.md` 15, `INTERFACES.md` 15–17): what Prometheus,
//! Grafana and Loki get over their relations, the log-forwarding layer, and
//! `paas-config.yaml`. Each runs on the in-memory Juju and Pebble and again end to end
//! through `dispatch` with the built binary, the fake hook tools and the fake Pebble
//! server.

use django_charm::cos::grafana::decode_content;
use django_charm::django::gunicorn::json_logger_module;
use django_charm::juju::tools::Databag;
use django_charm::pebble::layer::{LogTarget, Override};
use django_charm::sim::juju::{RelationState, ToolFailure};
use django_charm::sim::pebble::{PebbleOp, ServiceStatus};
use django_charm::sim::{CHARMCRAFT_YAML, Outcome, Simulation};
use serde_json::Value;

use crate::fixtures::*;
use crate::harness::world::{Mode, World};

/// Make this unit `<app>/<number>` of an application whose charm is `charm` (the
/// metadata `name`, which may differ from the application name), with every other
/// unit in `others` as peers and all of them active in goal-state.
fn as_unit(sim: &mut Simulation, app: &str, number: u64, charm: &str, others: &[u64]) {
    sim.juju.unit = format!("{app}/{number}");
    let peer = sim.juju.relation_mut("secret-storage").unwrap();
    peer.remote_app = app.into();
    peer.remote_units = others
        .iter()
        .map(|n| (format!("{app}/{n}"), Databag::new()))
        .collect();
    sim.juju.goal_units = others
        .iter()
        .chain(std::iter::once(&number))
        .map(|n| (format!("{app}/{n}"), "active".to_string()))
        .collect();
    if charm != "django-k8s" {
        let text = CHARMCRAFT_YAML.replacen("name: django-k8s\n", &format!("name: {charm}\n"), 1);
        assert_ne!(text, CHARMCRAFT_YAML);
        sim.charmcraft = Some(text);
    }
}

/// How many `relation-set` calls of the last event wrote to relation `id`.
fn relation_sets(out: &Outcome, id: &str) -> usize {
    out.calls()
        .iter()
        .filter(|c| c.tool == "relation-set" && c.args.iter().any(|a| a == id))
        .count()
}

// ---------------------------------------------------------------------------------
// metrics-endpoint
// ---------------------------------------------------------------------------------

/// The spec's worked example (`INTERFACES.md` 15): model `prod`, this UUID, app and
/// charm `blog`.
const PROD_UUID: &str = "3f1a2b4c-0000-4000-8000-000000000000";
const BLOG_FQDN: &str = "blog-0.blog-endpoints.prod.svc.cluster.local";
const FRAMEWORK_JOB: &str =
    r#"{"metrics_path": "/metrics", "static_configs": [{"targets": ["*:9102"]}]}"#;

fn blog_world(mode: Mode, number: u64, others: &[u64]) -> World {
    let mut sim = example();
    sim.model = "prod".into();
    sim.juju.model_uuid = PROD_UUID.into();
    as_unit(&mut sim, "blog", number, "blog", others);
    sim.juju.relations.push(
        RelationState::new(5, "metrics-endpoint", "prometheus-k8s")
            .remote_units(&["prometheus-k8s/0"]),
    );
    World::new(sim, mode)
}

fn blog_scrape_metadata(unit: &str) -> String {
    format!(
        r#"{{"model": "prod", "model_uuid": "{PROD_UUID}", "application": "blog", "unit": "{unit}", "charm_name": "blog"}}"#
    )
}

fn blog_alert_rules() -> String {
    let labels = format!(
        r#""juju_model": "prod", "juju_model_uuid": "{PROD_UUID}", "juju_application": "blog", "juju_charm": "blog""#
    );
    let django = format!(
        r#"{{"name": "prod_3f1a2b4c_blog_django_rules", "rules": [{{"alert": "DjangoTargetMissing", "expr": "up == 0", "for": "2m", "labels": {{"severity": "critical", {labels}}}, "annotations": {{"summary": "Prometheus target missing (instance {{{{ $labels.instance }}}})", "description": "Django has disappeared. An exporter might be crashed.\n  VALUE = {{{{ $value }}}}\n  LABELS = {{{{ $labels }}}}"}}}}]}}"#
    );
    let host_down = format!(
        r#"{{"alert": "HostDown", "expr": "up < 1", "for": "5m", "labels": {{"severity": "critical", {labels}}}, "annotations": {{"summary": "Host '{{{{ $labels.instance }}}}' is down.", "description": "Juju application '{{{{ $labels.juju_application }}}}' in model '{{{{ $labels.juju_model }}}}' is down. Prometheus has been unable to scrape it during at least the past five minutes."}}}}"#
    );
    let metrics_missing = format!(
        r#"{{"alert": "HostMetricsMissing", "expr": "absent(up)", "for": "5m", "labels": {{"severity": "warning", {labels}}}, "annotations": {{"summary": "Unit '{{{{ $labels.juju_unit }}}}' of application '{{{{ $labels.juju_application }}}}' is down or failing to remote write.", "description": "`Up` missing for unit '{{{{ $labels.juju_unit }}}}' of application {{{{ $labels.juju_application }}}} in model {{{{ $labels.juju_model }}}}. Please ensure the unit or the collector scraping it is up and is able to successfully reach the metrics backend."}}}}"#
    );
    format!(
        r#"{{"groups": [{django}, {{"name": "prod_3f1a2b4c_blog_HostHealth_rules", "rules": [{host_down}, {metrics_missing}]}}]}}"#
    )
}

fn blog_unit_bag(address: &str) -> Databag {
    bag(&[
        ("prometheus_scrape_unit_address", address),
        ("prometheus_scrape_unit_name", "blog/0"),
        ("prometheus_scrape_unit_fqdn", BLOG_FQDN),
    ])
}

fn metrics(sim: &World) -> RelationState {
    sim.juju.relation("metrics-endpoint").unwrap().clone()
}

fn clear_metrics_bags(sim: &mut World) {
    let rel = sim.juju.relation_mut("metrics-endpoint").unwrap();
    rel.local_app_data.clear();
    rel.local_unit_data.clear();
}

fn metrics_endpoint_scrape_data_and_unit_address(mode: Mode) {
    let mut sim = blog_world(mode, 0, &[1]);
    let out = run(&mut sim, "metrics-endpoint-relation-joined");
    let app_bag = bag(&[
        ("scrape_metadata", &blog_scrape_metadata("blog/0")),
        ("scrape_jobs", &format!("[{FRAMEWORK_JOB}]")),
        ("alert_rules", &blog_alert_rules()),
    ]);
    let rel = metrics(&sim);
    // Whole strings, compared one by one so a difference shows which value it is in.
    for key in ["scrape_metadata", "scrape_jobs", "alert_rules"] {
        assert_eq!(rel.local_app_data.get(key), app_bag.get(key), "{key}");
    }
    assert_eq!(rel.local_app_data, app_bag);
    // No binding address for the endpoint: the FQDN; the empty path is absent.
    assert_eq!(rel.local_unit_data, blog_unit_bag(BLOG_FQDN));
    assert!(out.ops().is_empty(), "{:?}", op_names(out.ops()));
    assert_eq!(out.juju.unit_status, None, "no status on -joined");

    // -changed: the unit bag only, with the current bind address.
    clear_metrics_bags(&mut sim);
    sim.juju
        .bind_addresses
        .insert("metrics-endpoint".into(), "10.1.0.42".into());
    run(&mut sim, "metrics-endpoint-relation-changed");
    let rel = metrics(&sim);
    assert!(rel.local_app_data.is_empty(), "{:?}", rel.local_app_data);
    assert_eq!(rel.local_unit_data, blog_unit_bag("10.1.0.42"));

    // update-status: the unit bag only, always.
    clear_metrics_bags(&mut sim);
    sim.juju
        .bind_addresses
        .insert("metrics-endpoint".into(), "10.1.0.43".into());
    run(&mut sim, "update-status");
    let rel = metrics(&sim);
    assert!(rel.local_app_data.is_empty(), "{:?}", rel.local_app_data);
    assert_eq!(rel.local_unit_data, blog_unit_bag("10.1.0.43"));

    // A bind address that is not an IP address: the FQDN.
    sim.juju
        .bind_addresses
        .insert("metrics-endpoint".into(), "blog.example".into());
    run(&mut sim, "metrics-endpoint-relation-changed");
    assert_eq!(metrics(&sim).local_unit_data, blog_unit_bag(BLOG_FQDN));
    sim.juju
        .bind_addresses
        .insert("metrics-endpoint".into(), "10.1.0.43".into());

    // config-changed and pebble-ready publish everything again.
    for event in ["config-changed", "django-app-pebble-ready"] {
        clear_metrics_bags(&mut sim);
        let out = run(&mut sim, event);
        assert_eq!(out.juju.unit_status, active(), "{event}");
        let rel = metrics(&sim);
        assert_eq!(rel.local_app_data, app_bag, "{event}");
        assert_eq!(rel.local_unit_data, blog_unit_bag("10.1.0.43"), "{event}");
    }

    // A non-leader writes only its unit bag.
    sim.juju.leader = false;
    for event in [
        "metrics-endpoint-relation-joined",
        "config-changed",
        "django-app-pebble-ready",
    ] {
        clear_metrics_bags(&mut sim);
        run(&mut sim, event);
        let rel = metrics(&sim);
        assert!(rel.local_app_data.is_empty(), "{event}");
        assert_eq!(rel.local_unit_data, blog_unit_bag("10.1.0.43"), "{event}");
    }
}

fn scheduler_jobs(scheduler: u64) -> String {
    format!(
        r#"[{FRAMEWORK_JOB}, {{"metrics_path": "/stats", "static_configs": [{{"targets": ["blog-{scheduler}.blog-endpoints.prod.svc.cluster.local:9808", "localhost:9000"], "labels": {{"app": "celery"}}}}, {{"targets": ["*:9100"]}}], "job_name": "celery"}}, {{"metrics_path": "/metrics", "static_configs": [{{"targets": ["*:8081"]}}], "job_name": "other"}}]"#
    )
}

fn metrics_endpoint_paas_config_jobs_follow_the_scheduler_unit(mode: Mode) {
    // This unit is blog/2, the leader; blog/0 and blog/1 are its peers.
    let mut sim = blog_world(mode, 2, &[0, 1]);
    sim.paas_config = Some(
        "prometheus:\n  scrape_configs:\n    - job_name: celery\n      metrics_path: /stats\n      static_configs:\n        - targets: ['@scheduler:9808', 'localhost:9000']\n          labels: {app: celery}\n        - targets: ['*:9100']\n    - job_name: other\n      static_configs:\n        - targets: ['*:8081']\n"
            .into(),
    );
    run(&mut sim, "metrics-endpoint-relation-joined");
    assert_eq!(
        metrics(&sim).local_app_data["scrape_jobs"],
        scheduler_jobs(0)
    );
    assert_eq!(
        metrics(&sim).local_app_data["scrape_metadata"],
        blog_scrape_metadata("blog/2")
    );

    // blog/0 is going away: the target follows the scheduler unit, blog/1.
    sim.juju.goal_units.insert("blog/0".into(), "dying".into());
    run(&mut sim, "config-changed");
    assert_eq!(
        metrics(&sim).local_app_data["scrape_jobs"],
        scheduler_jobs(1)
    );

    // Gone from goal-state and the peer relation: still blog/1.
    sim.juju.goal_units.shift_remove("blog/0");
    sim.juju
        .relation_mut("secret-storage")
        .unwrap()
        .remote_units
        .shift_remove("blog/0");
    run(&mut sim, "django-app-pebble-ready");
    assert_eq!(
        metrics(&sim).local_app_data["scrape_jobs"],
        scheduler_jobs(1)
    );

    // Without goal-state, the lowest of this unit and its peers (DJANGO.md 6.3): blog/1.
    sim.juju.failures.push(ToolFailure {
        tool: "goal-state".into(),
        code: 1,
        stderr: "ERROR connection is shut down".into(),
    });
    clear_metrics_bags(&mut sim);
    run(&mut sim, "config-changed");
    assert_eq!(
        metrics(&sim).local_app_data["scrape_jobs"],
        scheduler_jobs(1)
    );

    // blog/1 is going away too: this unit is the scheduler unit.
    sim.juju.failures.clear();
    sim.juju.goal_units.insert("blog/1".into(), "dying".into());
    run(&mut sim, "config-changed");
    assert_eq!(
        metrics(&sim).local_app_data["scrape_jobs"],
        scheduler_jobs(2)
    );
}

// ---------------------------------------------------------------------------------
// grafana-dashboard
// ---------------------------------------------------------------------------------

fn dashboards(sim: &World) -> Option<String> {
    sim.juju
        .relation("grafana-dashboard")
        .unwrap()
        .local_app_data
        .get("dashboards")
        .cloned()
}

fn is_uuid_v4(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
        && parts.iter().all(|p| {
            p.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
        && parts[2].starts_with('4')
        && parts[3].starts_with(['8', '9', 'a', 'b'])
}

/// Check the published `dashboards` value; returns its uuid.
fn check_dashboards(value: &str) -> String {
    let v: Value = serde_json::from_str(value).unwrap();
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["templates", "uuid"]);
    let templates = v["templates"].as_object().unwrap();
    let names: Vec<&String> = templates.keys().collect();
    assert_eq!(names, ["file:django"]);
    let entry = &templates["file:django"];
    let keys: Vec<&String> = entry.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "charm",
            "content",
            "juju_topology",
            "inject_dropdowns",
            "dashboard_alt_uid"
        ]
    );
    assert_eq!(entry["charm"], "django-k8s");
    assert_eq!(
        serde_json::to_string(&entry["juju_topology"]).unwrap(),
        r#"{"model":"test-model","model_uuid":"cbb1b3b6-8f1e-4f43-8b53-2a0a2f4c5a10","application":"blog","unit":"blog/0"}"#
    );
    assert_eq!(entry["inject_dropdowns"], true);
    assert_eq!(entry["dashboard_alt_uid"], "7c3588da6f75c3aa");
    let text = decode_content(entry["content"].as_str().unwrap()).expect("xz and base64");
    let dashboard: Value = serde_json::from_str(&text).unwrap();
    // The uid and the tag come from the charm name, not the application name.
    assert_eq!(dashboard["uid"], "862a97a4c802c1bcb32978aff4d137629eae3bf7");
    assert_eq!(dashboard["title"], "Django Operator");
    let tags: Vec<&str> = dashboard["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(tags.last(), Some(&"charm: django-k8s"));
    assert_eq!(tags.iter().filter(|t| t.starts_with("charm: ")).count(), 1);
    assert!(text.contains("${prometheusds}") && text.contains("${lokids}"));
    let uuid = v["uuid"].as_str().unwrap().to_string();
    assert!(is_uuid_v4(&uuid), "{uuid}");
    uuid
}

fn grafana_dashboard_published_once_and_refreshed(mode: Mode) {
    let mut sim = example();
    // Application `blog` of the charm `django-k8s`.
    as_unit(&mut sim, "blog", 0, "django-k8s", &[1]);
    sim.juju.relations.push(
        RelationState::new(6, "grafana-dashboard", "grafana-k8s").remote_units(&["grafana-k8s/0"]),
    );
    let mut sim = World::new(sim, mode);
    let out = run(&mut sim, "grafana-dashboard-relation-created");
    assert!(out.ops().is_empty());
    assert_eq!(out.juju.unit_status, None, "no status on -created");
    let value = dashboards(&sim).expect("dashboards published on -created");
    let uuid = check_dashboards(&value);

    // The same templates are not rewritten: the uuid stays.
    for _ in 0..2 {
        let out = run(&mut sim, "config-changed");
        assert_eq!(out.juju.unit_status, active());
        assert_eq!(dashboards(&sim).as_deref(), Some(value.as_str()));
        assert_eq!(check_dashboards(&value), uuid);
        assert_eq!(relation_sets(&out, "grafana-dashboard:6"), 0);
    }

    // Different templates in the bag: rewritten with a new uuid.
    sim.juju
        .relation_mut("grafana-dashboard")
        .unwrap()
        .local_app_data = bag(&[("dashboards", r#"{"templates": {}, "uuid": "old"}"#)]);
    run(&mut sim, "config-changed");
    let value = dashboards(&sim).unwrap();
    let new_uuid = check_dashboards(&value);
    assert_ne!(new_uuid, "old");

    // leader-elected and upgrade-charm publish them too.
    for event in ["leader-elected", "upgrade-charm"] {
        sim.juju
            .relation_mut("grafana-dashboard")
            .unwrap()
            .local_app_data
            .clear();
        let out = run(&mut sim, event);
        let value = dashboards(&sim).unwrap_or_else(|| panic!("{event} publishes"));
        check_dashboards(&value);
        assert_eq!(out.juju.unit_status, active(), "{event} sets no status");
    }

    // Not the leader: nothing.
    sim.juju.leader = false;
    for event in [
        "grafana-dashboard-relation-created",
        "config-changed",
        "leader-elected",
        "upgrade-charm",
    ] {
        sim.juju
            .relation_mut("grafana-dashboard")
            .unwrap()
            .local_app_data
            .clear();
        let out = run(&mut sim, event);
        assert_eq!(dashboards(&sim), None, "{event}");
        assert_eq!(relation_sets(&out, "grafana-dashboard:6"), 0, "{event}");
    }
}

// ---------------------------------------------------------------------------------
// logging
// ---------------------------------------------------------------------------------

const LAYER: &str = "django-app-log-forwarding";
const MODEL_UUID: &str = "cbb1b3b6-8f1e-4f43-8b53-2a0a2f4c5a10";

fn loki_url(n: u64) -> String {
    format!("http://loki-k8s-{n}.loki-k8s-endpoints.cos.svc.cluster.local:3100/loki/api/v1/push")
}

fn loki_unit(n: u64) -> (String, Databag) {
    (
        format!("loki-k8s/{n}"),
        bag(&[("endpoint", &format!(r#"{{"url": "{}"}}"#, loki_url(n)))]),
    )
}

fn loki_target(n: u64) -> LogTarget {
    LogTarget {
        override_: Some(Override::Replace),
        kind: Some("loki".into()),
        location: Some(loki_url(n)),
        services: vec!["all".into()],
        labels: [
            ("product", "Juju"),
            ("charm", "django-k8s"),
            ("juju_model", "test-model"),
            ("juju_model_uuid", MODEL_UUID),
            ("juju_application", "django-k8s"),
            ("juju_unit", "django-k8s/0"),
            ("job", "juju_test-model_cbb1b3b6_django-k8s"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
    }
}

fn removed_target() -> LogTarget {
    LogTarget {
        override_: Some(Override::Replace),
        kind: Some("loki".into()),
        location: Some("(removed)".into()),
        services: vec!["-all".into()],
        labels: Default::default(),
    }
}

fn targets(pairs: &[(&str, LogTarget)]) -> std::collections::BTreeMap<String, LogTarget> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// The log-forwarding layers added by the last event.
fn forwarding_layers(out: &Outcome) -> Vec<std::collections::BTreeMap<String, LogTarget>> {
    out.ops()
        .iter()
        .filter_map(|op| match op {
            PebbleOp::AddLayer {
                label,
                combine,
                layer,
            } if label == LAYER => {
                assert!(*combine, "the layer is combined");
                assert!(layer.services.is_empty() && layer.checks.is_empty());
                Some(layer.log_targets.clone())
            }
            _ => None,
        })
        .collect()
}

fn logging_world(mode: Mode, units: &[u64]) -> World {
    let mut sim = example();
    let mut loki = RelationState::new(7, "logging", "loki-k8s");
    for (unit, data) in units.iter().map(|n| loki_unit(*n)) {
        loki = loki.remote_unit(&unit, data);
    }
    sim.juju.relations.push(loki);
    World::new(sim, mode)
}

fn logging_app_bag() -> Databag {
    bag(&[
        (
            "metadata",
            &format!(
                r#"{{"model": "test-model", "model_uuid": "{MODEL_UUID}", "application": "django-k8s", "unit": "django-k8s/0", "charm_name": "django-k8s"}}"#
            ),
        ),
        ("alert_rules", "{}"),
    ])
}

fn logging(sim: &World) -> RelationState {
    sim.juju.relation("logging").unwrap().clone()
}

/// Run a hook of the logging relation as `unit` (`JUJU_REMOTE_UNIT`, and
/// `JUJU_DEPARTING_UNIT` for `-departed`).
fn run_as(sim: &mut World, event: &str, unit: &str) -> Outcome {
    sim.env.insert("JUJU_REMOTE_UNIT".into(), unit.into());
    if event.ends_with("-departed") {
        sim.env.insert("JUJU_DEPARTING_UNIT".into(), unit.into());
    }
    let out = run(sim, event);
    sim.env.shift_remove("JUJU_REMOTE_UNIT");
    sim.env.shift_remove("JUJU_DEPARTING_UNIT");
    out
}

fn logging_targets_follow_the_loki_units(mode: Mode) {
    let mut sim = logging_world(mode, &[0, 1]);
    let loki = sim.juju.relations.pop().unwrap();
    run(&mut sim, "config-changed");
    sim.juju.relations.push(loki);
    let statuses = sim.juju.status_history.len();

    let out = run_as(&mut sim, "logging-relation-joined", "loki-k8s/1");
    let both = targets(&[
        ("loki-k8s/0", loki_target(0)),
        ("loki-k8s/1", loki_target(1)),
    ]);
    assert_eq!(op_names(out.ops()), [format!("add-layer {LAYER}")]);
    assert_eq!(forwarding_layers(&out), std::slice::from_ref(&both));
    assert_eq!(out.pebble.plan().log_targets, both);
    assert_eq!(logging(&sim).local_app_data, logging_app_bag());
    assert!(logging(&sim).local_unit_data.is_empty());
    assert_eq!(out.juju.status_history.len(), statuses, "no status");
    assert_eq!(out.juju.unit_status, active());

    // Nothing new: nothing added.
    let out = run_as(&mut sim, "logging-relation-changed", "loki-k8s/0");
    assert!(out.ops().is_empty(), "{:?}", op_names(out.ops()));

    // A third Loki unit without an endpoint yet: the relation does not count until
    // every unit has one, so its targets are disabled meanwhile.
    sim.juju
        .relation_mut("logging")
        .unwrap()
        .remote_units
        .insert("loki-k8s/2".into(), Databag::new());
    let out = run_as(&mut sim, "logging-relation-joined", "loki-k8s/2");
    let none = targets(&[
        ("loki-k8s/0", removed_target()),
        ("loki-k8s/1", removed_target()),
    ]);
    assert_eq!(forwarding_layers(&out), std::slice::from_ref(&none));
    assert_eq!(out.pebble.plan().log_targets, none);
    let (_, endpoint) = loki_unit(2);
    sim.juju
        .relation_mut("logging")
        .unwrap()
        .remote_units
        .insert("loki-k8s/2".into(), endpoint);
    let out = run_as(&mut sim, "logging-relation-changed", "loki-k8s/2");
    let three = targets(&[
        ("loki-k8s/0", loki_target(0)),
        ("loki-k8s/1", loki_target(1)),
        ("loki-k8s/2", loki_target(2)),
    ]);
    assert_eq!(out.pebble.plan().log_targets, three);

    // loki-k8s/1 departs: its target is replaced by the "(removed)" target.
    sim.juju
        .relation_mut("logging")
        .unwrap()
        .remote_units
        .shift_remove("loki-k8s/1");
    let out = run_as(&mut sim, "logging-relation-departed", "loki-k8s/1");
    assert_eq!(
        forwarding_layers(&out),
        [targets(&[
            ("loki-k8s/0", loki_target(0)),
            ("loki-k8s/1", removed_target()),
            ("loki-k8s/2", loki_target(2)),
        ])]
    );
    assert_eq!(
        out.pebble.plan().log_targets,
        targets(&[
            ("loki-k8s/0", loki_target(0)),
            ("loki-k8s/1", removed_target()),
            ("loki-k8s/2", loki_target(2)),
        ])
    );
    assert_eq!(out.juju.status_history.len(), statuses, "no status");

    // The relation breaks: its targets go in that same hook; the one already disabled
    // is left alone; nothing is written to the broken relation.
    sim.juju
        .relation_mut("logging")
        .unwrap()
        .local_app_data
        .clear();
    let out = run(&mut sim, "logging-relation-broken");
    assert_eq!(
        forwarding_layers(&out),
        [targets(&[
            ("loki-k8s/0", removed_target()),
            ("loki-k8s/2", removed_target()),
        ])]
    );
    assert_eq!(
        out.pebble.plan().log_targets,
        targets(&[
            ("loki-k8s/0", removed_target()),
            ("loki-k8s/1", removed_target()),
            ("loki-k8s/2", removed_target()),
        ])
    );
    assert_eq!(relation_sets(&out, "logging:7"), 0);
    assert_eq!(out.juju.status_history.len(), statuses, "no status");

    // Afterwards: no Loki, no enabled target, no layer.
    sim.juju.relations.retain(|r| r.endpoint != "logging");
    for event in ["config-changed", "django-app-pebble-ready"] {
        let out = run(&mut sim, event);
        assert!(forwarding_layers(&out).is_empty(), "{event}");
    }
}

fn logging_on_pebble_ready_for_non_leaders_and_old_juju(mode: Mode) {
    // pebble-ready adds the layer, and writes no app bag.
    let mut sim = logging_world(mode, &[0]);
    let out = run(&mut sim, "django-app-pebble-ready");
    assert_eq!(out.juju.unit_status, active());
    assert!(op_names(out.ops()).contains(&format!("add-layer {LAYER}")));
    assert!(op_names(out.ops()).contains(&"add-layer charm".to_string()));
    assert_eq!(
        out.pebble.plan().log_targets,
        targets(&[("loki-k8s/0", loki_target(0))])
    );
    assert!(logging(&sim).local_app_data.is_empty());
    assert_eq!(out.pebble.service_status("django"), ServiceStatus::Active);

    // A non-leader forwards its logs too, and writes no app bag.
    let mut sim = logging_world(mode, &[0]);
    sim.juju.leader = false;
    let out = run_as(&mut sim, "logging-relation-joined", "loki-k8s/0");
    assert_eq!(
        out.pebble.plan().log_targets,
        targets(&[("loki-k8s/0", loki_target(0))])
    );
    assert!(logging(&sim).local_app_data.is_empty());

    // Container not reachable: the leader's app bag all the same.
    let mut sim = logging_world(mode, &[0]);
    sim.pebble_reachable = false;
    let out = run_as(&mut sim, "logging-relation-joined", "loki-k8s/0");
    assert_eq!(logging(&sim).local_app_data, logging_app_bag());
    assert_eq!(out.juju.unit_status, None, "no status");

    // Juju 3.3: nothing of this at all.
    let mut sim = logging_world(mode, &[0]);
    sim.juju_version = "3.3.1".into();
    for event in ["logging-relation-joined", "logging-relation-changed"] {
        let out = run_as(&mut sim, event, "loki-k8s/0");
        assert!(out.ops().is_empty(), "{event}: {:?}", op_names(out.ops()));
        assert!(logging(&sim).local_app_data.is_empty(), "{event}");
        assert_eq!(relation_sets(&out, "logging:7"), 0, "{event}");
    }
    let out = run(&mut sim, "django-app-pebble-ready");
    assert_eq!(out.juju.unit_status, active());
    assert!(forwarding_layers(&out).is_empty());
    assert!(out.pebble.plan().log_targets.is_empty());
    assert!(logging(&sim).local_app_data.is_empty());
}

// ---------------------------------------------------------------------------------
// paas-config.yaml
// ---------------------------------------------------------------------------------

fn json_conf(options: &str) -> String {
    format!(
        "\n{}\nlogger_class = GunicornJsonLogger\n{PLAIN_GUNICORN}{options}\n\ndef post_fork(server, worker):\n    _original_wsgi = worker.app.wsgi\n\n    def _patched_wsgi():\n        return OtelSpanMiddleware(_original_wsgi())\n\n    worker.app.wsgi = _patched_wsgi\n",
        json_logger_module()
    )
}

fn paas_config_invalid_blocks_and_json_logging(mode: Mode) {
    let mut sim = world(mode);
    run(&mut sim, "config-changed");
    let conf = |out: &Outcome| {
        out.pebble
            .file_text("/django/gunicorn.conf.py")
            .unwrap()
            .to_string()
    };

    for (text, message) in [
        (
            "a: [1\n",
            "Invalid paas-config.yaml: YAML parse error at line 2, column 1",
        ),
        (
            "framework_logging_format: json\ncolour: blue\n",
            "Invalid paas-config.yaml: unknown key colour",
        ),
        (
            "prometheus:\n  scrape_configs:\n    - static_configs: [{targets: ['*:9000']}]\n",
            "Invalid paas-config.yaml: prometheus.scrape_configs[0].job_name: missing",
        ),
    ] {
        sim.paas_config = Some(text.into());
        for event in ["config-changed", "update-status", "django-app-pebble-ready"] {
            let out = run(&mut sim, event);
            assert_eq!(out.juju.unit_status, blocked(message), "{text:?} {event}");
            assert!(
                out.ops().is_empty(),
                "{text:?} {event}: services left as they are: {:?}",
                op_names(out.ops())
            );
            assert_eq!(out.pebble.service_status("django"), ServiceStatus::Active);
            assert_eq!(conf(&out), PLAIN_GUNICORN);
        }
    }

    // Fixed, with JSON logging: the file changes, is checked, and django restarts:
    // gunicorn keeps the logger it started with across a SIGHUP.
    sim.paas_config = Some("framework_logging_format: json\n".into());
    let out = run(&mut sim, "config-changed");
    assert_eq!(out.juju.unit_status, active());
    assert_eq!(
        op_names(out.ops()),
        [
            "write /django/gunicorn.conf.py",
            CHECK_CONFIG,
            "restart django"
        ]
    );
    assert_eq!(out.pebble.services["django"].starts, 2);
    let module = json_logger_module();
    assert!(!module.ends_with('\n'));
    assert!(module.contains("class GunicornJsonLogger("), "{module}");
    assert!(module.contains("class OtelSpanMiddleware"), "{module}");
    assert_eq!(conf(&out), json_conf(""));

    // webserver options go between control_socket and the post_fork hook.
    sim.juju.config.insert("webserver-workers".into(), 4.into());
    sim.juju
        .config
        .insert("webserver-timeout".into(), 30.into());
    let out = run(&mut sim, "config-changed");
    assert_eq!(conf(&out), json_conf("\nworkers = 4\ntimeout = 30"));
    // ... and reach the running gunicorn by SIGHUP: the logger settings are the same.
    assert_eq!(
        op_names(out.ops()),
        [
            "write /django/gunicorn.conf.py",
            CHECK_CONFIG,
            "signal SIGHUP django"
        ]
    );
    sim.juju.config.shift_remove("webserver-workers");
    sim.juju.config.shift_remove("webserver-timeout");

    // `none`, null, or no file at all: the plain file again.
    for text in [
        Some("framework_logging_format: none\n"),
        Some("framework_logging_format: json\n"),
        Some("framework_logging_format:\n"),
        Some("framework_logging_format: json\n"),
        None,
    ] {
        sim.paas_config = text.map(String::from);
        let out = run(&mut sim, "config-changed");
        assert_eq!(out.juju.unit_status, active(), "{text:?}");
        let expected = if text == Some("framework_logging_format: json\n") {
            json_conf("")
        } else {
            PLAIN_GUNICORN.to_string()
        };
        assert_eq!(conf(&out), expected, "{text:?}");
        // Every switch of the format here changes the logger settings.
        let reload = &op_names(out.ops())[2..];
        assert_eq!(reload, ["restart django"], "{text:?}");
    }
}

in_both_modes!(
    metrics_endpoint_scrape_data_and_unit_address,
    metrics_endpoint_paas_config_jobs_follow_the_scheduler_unit,
    grafana_dashboard_published_once_and_refreshed,
    logging_targets_follow_the_loki_units,
    logging_on_pebble_ready_for_non_leaders_and_old_juju,
    paas_config_invalid_blocks_and_json_logging,
);
