//! Scenarios a user would recognise: given this config and these relations, the app
//! gets this environment, this layer and this status. Each runs on the in-memory Juju
//! and Pebble (fast, in process) and again end to end through `dispatch` with the built
//! binary, the fake hook tools and the fake Pebble server.

use django_charm::juju::tools::{Databag, Status};
use django_charm::sim::juju::SecretState;
use django_charm::sim::pebble::{ExecRule, PebbleOp, ServiceStatus};
use django_charm::sim::{CHARMCRAFT_YAML, Simulation};

use crate::fixtures::*;
use crate::harness::world::Mode;

fn worked_example_of_a_first_reconcile(mode: Mode) {
    let mut sim = world(mode);
    sim.juju.relations.retain(|r| r.endpoint != "ingress");
    let out = run(&mut sim, "postgresql-relation-changed");
    assert_eq!(
        op_names(out.ops()),
        [
            "write /tmp/django/state/database-migration-status PENDING",
            "write /tmp/django/state/original-services.json",
            "add-layer charm",
            "mkdir /var/log/django",
            "write /django/gunicorn.conf.py",
            CHECK_CONFIG,
            "exec python3 manage.py migrate",
            "write /tmp/django/state/database-migration-status COMPLETED",
            "replan ",
        ]
    );
    assert_eq!(out.juju.unit_status, active());
    assert_eq!(out.juju.app_status, active());
    assert_eq!(out.juju.opened_ports, ["8000/tcp"]);
    let env = out.django_env();
    assert_eq!(env["DJANGO_BASE_URL"], "http://django-k8s.test-model:8000");
    assert_eq!(
        env["DJANGO_ALLOWED_HOSTS"],
        r#"["example.com", "django-k8s.test-model"]"#
    );
    assert_eq!(
        env["POSTGRESQL_DB_CONNECT_STRING"],
        "postgresql://relation_id_3:example-password@postgresql-k8s-primary.test-model.svc.cluster.local:5432/django-k8s"
    );
    assert_eq!(out.pebble.service_status("django"), ServiceStatus::Active);
    assert_eq!(
        out.pebble.service_status("statsd-exporter"),
        ServiceStatus::Active
    );
    assert_eq!(
        out.pebble.file_text("/django/gunicorn.conf.py").unwrap(),
        PLAIN_GUNICORN
    );
    assert_eq!(
        out.pebble
            .file_text("/tmp/django/state/original-services.json")
            .unwrap(),
        r#"{"django": {"startup": "enabled", "override": "replace", "command": "/bin/python3 -m gunicorn -c /django/gunicorn.conf.py django_app.wsgi:application -k [ sync ]", "after": ["statsd-exporter"], "user": "_daemon_"}, "statsd-exporter": {"summary": "statsd exporter service", "startup": "enabled", "override": "merge", "command": "/bin/statsd_exporter --statsd.mapping-config=/statsd-mapping.conf --statsd.listen-udp=localhost:9125 --statsd.listen-tcp=localhost:9125", "user": "_daemon_"}}"#
    );
    // The migration ran as _daemon_ in /django/app with the full environment.
    let exec = out
        .ops()
        .iter()
        .find_map(|op| match op {
            PebbleOp::Exec {
                command,
                environment,
                working_dir,
                user,
                group,
                ..
            } if command[1] == "manage.py" => Some((
                environment.clone(),
                working_dir.clone(),
                user.clone(),
                group.clone(),
            )),
            _ => None,
        })
        .unwrap();
    assert_eq!(exec.0, env);
    assert_eq!(exec.1.as_deref(), Some("/django/app"));
    assert_eq!(exec.2.as_deref(), Some("_daemon_"));
    assert_eq!(exec.3.as_deref(), Some("_daemon_"));
}

fn fresh_deploy_to_active(mode: Mode) {
    let mut sim = world(mode);
    let pg = sim.juju.relation_mut("postgresql").unwrap();
    let provider = std::mem::take(&mut pg.remote_app_data);
    forget_secret_key(&mut sim.juju);
    sim.juju.relations.retain(|r| r.endpoint != "ingress");

    for event in ["install", "leader-elected", "start"] {
        let out = run(&mut sim, event);
        assert_eq!(out.juju.unit_status, None, "{event} sets no status");
    }
    let out = run(&mut sim, "django-app-pebble-ready");
    assert_eq!(
        out.juju.unit_status,
        waiting("Waiting for peer integration")
    );
    assert!(out.ops().is_empty(), "{:?}", out.ops());

    run(&mut sim, "secret-storage-relation-created");
    // The key is in an application-owned Juju secret; the peer bag has only its ID.
    let secret = key_secret(&sim.juju).expect("the key's secret").clone();
    assert_eq!(secret.owner.as_deref(), Some("application"));
    assert_eq!(
        secret.description.as_deref(),
        Some("Django SECRET_KEY of this application")
    );
    let key = stored_key(&sim.juju).unwrap();
    assert_eq!(key.len(), 86);
    assert_eq!(secret.revisions, vec![bag(&[("value", key.as_str())])]);
    assert_eq!(
        sim.juju.relation("secret-storage").unwrap().local_app_data,
        bag(&[("django_secret_key_id", secret.id.as_str())])
    );

    run(&mut sim, "postgresql-relation-created");
    let pg = sim.juju.relation("postgresql").unwrap();
    assert_eq!(pg.local_app_data["database"], "django-k8s");
    assert_eq!(pg.local_unit_data["provided-secrets"], r#"["mtls-cert"]"#);

    let out = run(&mut sim, "postgresql-relation-joined");
    assert_eq!(
        out.juju.unit_status,
        waiting("Waiting for peer integration"),
        "joined sets nothing"
    );

    sim.juju.relation_mut("postgresql").unwrap().remote_app_data = provider;
    let out = run(&mut sim, "postgresql-relation-changed");
    assert_eq!(out.juju.unit_status, active());
    let env = out.django_env();
    assert_eq!(env["DJANGO_SECRET_KEY"], key);
    assert_eq!(env["POSTGRESQL_DB_USERNAME"], "relation_id_3");
    assert_eq!(env["POSTGRESQL_DB_PASSWORD"], "example-password");
    assert_eq!(env.len(), 12 + 8, "{env:?}");
    let data = &sim.juju.relation("postgresql").unwrap().local_unit_data["data"];
    assert!(
        data.starts_with(r#"{"database": "django-k8s", "endpoints": "#),
        "{data}"
    );
}

fn running_the_same_event_twice_does_no_work_the_second_time(mode: Mode) {
    let mut sim = world(mode);
    run(&mut sim, "config-changed");
    let out = run(&mut sim, "config-changed");
    assert!(
        out.ops().is_empty(),
        "second run: {:?}",
        op_names(out.ops())
    );
    assert_eq!(out.juju.unit_status, active());
    let starts: Vec<u32> = ["django", "statsd-exporter"]
        .iter()
        .map(|s| out.pebble.services[*s].starts)
        .collect();
    assert_eq!(starts, [1, 1], "nothing restarted");
}

fn django_is_checked_and_restarted_by_pebble(mode: Mode) {
    let mut sim = world(mode);
    let out = run(&mut sim, "config-changed");
    let plan = out.pebble.plan();
    let spec = django_charm::pebble::layer::Layer::from_yaml(
        "checks:\n  django:\n    override: replace\n    period: 10s\n    timeout: 3s\n    threshold: 3\n    tcp: {port: 8000}\n",
    )
    .unwrap();
    assert_eq!(plan.checks, spec.checks);
    assert_eq!(plan.checks["django"].level, None, "no level");
    assert_eq!(
        plan.services["django"].on_check_failure,
        [("django".to_string(), "restart".to_string())].into()
    );
    let out = run(&mut sim, "config-changed");
    assert!(out.ops().is_empty(), "{:?}", op_names(out.ops()));

    // A deployment of a charm without the check gets it on its first reconcile after
    // the refresh, which restarts django once; then nothing more.
    for (label, layer) in &mut sim.pebble.layers {
        if label == "charm" {
            layer.checks.clear();
            if let Some(django) = layer.services.get_mut("django") {
                django.on_check_failure.clear();
            }
        }
    }
    assert!(sim.pebble.plan().checks.is_empty());
    let out = run(&mut sim, "config-changed");
    assert_eq!(op_names(out.ops()), ["add-layer charm", "replan "]);
    assert_eq!(out.pebble.plan().checks, spec.checks);
    let out = run(&mut sim, "config-changed");
    assert!(out.ops().is_empty(), "{:?}", op_names(out.ops()));
}

fn no_reload_of_django_when_the_replan_restarts_it(mode: Mode) {
    let mut sim = world(mode);
    run(&mut sim, "config-changed");
    // The environment (layer) and the file change together: the replan restarts django
    // with the new file, so no SIGHUP before it.
    sim.juju.config.insert("token".into(), "xyz".into());
    sim.juju.config.insert("webserver-workers".into(), 3.into());
    let out = run(&mut sim, "config-changed");
    assert_eq!(
        op_names(out.ops()),
        [
            "add-layer charm",
            "write /django/gunicorn.conf.py",
            CHECK_CONFIG,
            "replan "
        ]
    );
    // When a failed migration stops the reconcile before its replan, the skipped SIGHUP
    // comes right after the status file says FAILED.
    sim.pebble = std::mem::take(&mut sim.pebble)
        .with_file("/tmp/django/state/database-migration-status", "PENDING");
    sim.pebble.exec_rules.push(
        ExecRule::exact(["python3", "manage.py", "migrate"])
            .exit_code(1)
            .stderr("no database"),
    );
    sim.juju.config.insert("token".into(), "abc".into());
    sim.juju.config.insert("webserver-workers".into(), 2.into());
    let out = run(&mut sim, "config-changed");
    assert_eq!(
        op_names(out.ops()),
        [
            "add-layer charm",
            "write /django/gunicorn.conf.py",
            CHECK_CONFIG,
            "exec python3 manage.py migrate",
            "write /tmp/django/state/database-migration-status FAILED",
            "signal SIGHUP django"
        ]
    );
}

fn config_change_updates_the_environment_without_rechecking_gunicorn(mode: Mode) {
    let mut sim = world(mode);
    run(&mut sim, "config-changed");
    sim.juju.config.insert("token".into(), "xyz".into());
    let out = run(&mut sim, "config-changed");
    assert_eq!(out.django_env()["DJANGO_TOKEN"], "xyz");
    assert_eq!(op_names(out.ops()), ["add-layer charm", "replan "]);
    // A webserver option changes the file: written, checked, django reloaded.
    sim.juju.config.insert("webserver-workers".into(), 4.into());
    let out = run(&mut sim, "config-changed");
    assert_eq!(
        op_names(out.ops()),
        [
            "write /django/gunicorn.conf.py",
            CHECK_CONFIG,
            "signal SIGHUP django"
        ]
    );
    assert!(
        out.pebble
            .file_text("/django/gunicorn.conf.py")
            .unwrap()
            .ends_with("\nworkers = 4")
    );
}

fn with_option(sim: &mut Simulation, yaml: &str) {
    sim.charmcraft = Some(with_options(CHARMCRAFT_YAML, yaml));
}

/// As in Juju, `config-get` answers with an option's metadata default while the option
/// is not set; the state's own `config` is what the operator set, and stays so.
fn unset_options_answer_with_their_metadata_default(mode: Mode) {
    let mut sim = world(mode);
    sim.juju.config.shift_remove("django-debug");
    with_option(
        &mut sim,
        "    greeting:\n      type: string\n      default: hello\n    retries:\n      type: int\n      default: 3\n    motto:\n      type: string\n",
    );
    let out = run(&mut sim, "config-changed");
    let env = out.django_env();
    assert_eq!(env["DJANGO_DEBUG"], "false");
    assert_eq!(env["DJANGO_GREETING"], "hello");
    assert_eq!(env["DJANGO_RETRIES"], "3");
    assert!(!env.contains_key("DJANGO_MOTTO"), "no value, no default");
    assert!(!out.juju.config.contains_key("django-debug"));
    assert!(!out.juju.config.contains_key("greeting"));

    sim.juju.config.insert("greeting".into(), "hi".into());
    sim.juju.config.insert("django-debug".into(), true.into());
    let out = run(&mut sim, "config-changed");
    let env = out.django_env();
    assert_eq!(env["DJANGO_GREETING"], "hi");
    assert_eq!(env["DJANGO_DEBUG"], "true");
}

fn mandatory_option_missing_then_set(mode: Mode) {
    let mut sim = world(mode);
    run(&mut sim, "config-changed");
    with_option(
        &mut sim,
        "    api-token:\n      type: string\n      description: needed\n      optional: false\n",
    );
    let out = run(&mut sim, "config-changed");
    assert_eq!(out.juju.unit_status, blocked("missing options: api-token"));
    assert_eq!(
        op_names(out.ops()),
        [
            "stop django,statsd-exporter",
            "write /tmp/django/state/database-migration-status PENDING"
        ]
    );
    assert_eq!(out.pebble.service_status("django"), ServiceStatus::Inactive);
    assert!(
        out.juju.opened_ports.contains(&"8000/tcp".to_string()),
        "ports untouched"
    );

    sim.juju.config.insert("api-token".into(), "t0k3n".into());
    let out = run(&mut sim, "config-changed");
    assert_eq!(out.juju.unit_status, active());
    assert_eq!(out.django_env()["DJANGO_API_TOKEN"], "t0k3n");
    assert_eq!(out.pebble.service_status("django"), ServiceStatus::Active);
    assert!(op_names(out.ops()).contains(&"exec python3 manage.py migrate".to_string()));
}

fn migration_failure_then_success_on_update_status(mode: Mode) {
    let mut sim = world(mode);
    sim.pebble.exec_rules.push(
        ExecRule::exact(["python3", "manage.py", "migrate"])
            .exit_code(1)
            .stderr("no database"),
    );
    let out = run(&mut sim, "config-changed");
    assert_eq!(
        out.juju.unit_status,
        blocked(
            "database migration command ['python3', 'manage.py', 'migrate'] failed, will retry in next update-status"
        )
    );
    assert_eq!(
        out.pebble
            .file_text("/tmp/django/state/database-migration-status"),
        Some("FAILED")
    );
    assert!(!op_names(out.ops()).iter().any(|o| o.starts_with("replan")));
    assert!(out.juju.opened_ports.is_empty());

    sim.pebble.exec_rules.clear();
    let out = run(&mut sim, "update-status");
    assert_eq!(out.juju.unit_status, active());
    assert_eq!(
        out.pebble
            .file_text("/tmp/django/state/database-migration-status"),
        Some("COMPLETED")
    );
    // Once completed, update-status does not reconcile.
    let out = run(&mut sim, "update-status");
    assert!(out.ops().is_empty());
}

fn with_background_services(sim: &mut Simulation) {
    let rock = &mut sim.pebble.layers[0].1;
    for (name, cmd) in [
        ("celery-worker", "/bin/worker"),
        ("Celery-Beat-Scheduler", "/bin/beat"),
    ] {
        let svc = django_charm::pebble::layer::Layer::from_yaml(&format!(
            "services:\n  {name}: {{override: replace, command: {cmd}, startup: enabled, user: _daemon_}}\n"
        ))
        .unwrap()
        .services
        .remove(name)
        .unwrap();
        rock.services.insert(name.into(), svc);
    }
}

fn workers_everywhere_scheduler_on_the_lowest_unit(mode: Mode) {
    let mut unit0 = world(mode);
    with_background_services(&mut unit0);
    let out = run(&mut unit0, "config-changed");
    let plan = out.pebble.plan();
    let env = out.django_env();
    assert_eq!(plan.services["celery-worker"].environment, env);
    assert_eq!(plan.services["Celery-Beat-Scheduler"].environment, env);
    assert_eq!(
        out.pebble.service_status("Celery-Beat-Scheduler"),
        ServiceStatus::Active
    );

    let mut unit1 = world(mode);
    with_background_services(&mut unit1);
    unit1.juju.unit = "django-k8s/1".into();
    unit1.juju.leader = false;
    let peer = unit1.juju.relation_mut("secret-storage").unwrap();
    peer.remote_units = [("django-k8s/0".to_string(), Databag::new())]
        .into_iter()
        .collect();
    let out = run(&mut unit1, "config-changed");
    let plan = out.pebble.plan();
    assert_eq!(plan.services["celery-worker"].environment, out.django_env());
    let beat = &plan.services["Celery-Beat-Scheduler"];
    assert_eq!(beat.startup.as_deref(), Some("disabled"));
    assert!(beat.environment.is_empty());
    assert_eq!(
        out.pebble.service_status("Celery-Beat-Scheduler"),
        ServiceStatus::Inactive
    );
    assert_eq!(
        out.pebble.service_status("celery-worker"),
        ServiceStatus::Active
    );
    assert_eq!(out.juju.app_status, None, "a non-leader sets no app status");

    // Unit 0 goes away: unit 1 takes over on its next reconcile.
    unit1.juju.goal_units = [("django-k8s/0", "dying"), ("django-k8s/1", "active")]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let out = run(&mut unit1, "secret-storage-relation-departed");
    assert_eq!(
        out.pebble.service_status("Celery-Beat-Scheduler"),
        ServiceStatus::Active
    );
    assert_eq!(
        out.pebble.plan().services["Celery-Beat-Scheduler"].environment,
        out.django_env()
    );
}

fn create_superuser_returns_the_password(mode: Mode) {
    let mut sim = world(mode);
    run(&mut sim, "config-changed");
    action(
        &mut sim,
        serde_json::json!({"username": "admin", "email": "a@b.c"}),
    );
    let out = run(&mut sim, "create-superuser");
    let result = out.juju.action.clone().unwrap();
    assert_eq!(result.failed, None);
    let password = &result.results["password"];
    assert_eq!(password.len(), 22);
    assert_eq!(result.results.len(), 1);
    let (command, env, wd, user) = out
        .ops()
        .iter()
        .find_map(|op| match op {
            PebbleOp::Exec {
                command,
                environment,
                working_dir,
                user,
                ..
            } => Some((
                command.clone(),
                environment.clone(),
                working_dir.clone(),
                user.clone(),
            )),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        command,
        ["python3", "manage.py", "createsuperuser", "--noinput"]
    );
    assert_eq!(&env["DJANGO_SUPERUSER_PASSWORD"], password);
    assert_eq!(env["DJANGO_SUPERUSER_USERNAME"], "admin");
    assert_eq!(env["DJANGO_SUPERUSER_EMAIL"], "a@b.c");
    assert_eq!(env["DJANGO_TOKEN"], "abc");
    assert_eq!(wd.as_deref(), Some("/django/app"));
    assert_eq!(user, None);
    assert_eq!(out.ops().len(), 1, "the exec is the only mutating call");
    assert_eq!(
        out.juju.unit_status,
        active(),
        "no status set by the action"
    );
}

fn create_superuser_failure_returns_the_output_verbatim(mode: Mode) {
    let mut sim = world(mode);
    run(&mut sim, "config-changed");
    sim.pebble.exec_rules.push(
        ExecRule::prefix(["python3", "manage.py", "createsuperuser"])
            .exit_code(1)
            .stderr("CommandError: Error: That username is already taken.\n"),
    );
    action(
        &mut sim,
        serde_json::json!({"username": "admin", "email": "a@b.c"}),
    );
    let out = run(&mut sim, "create-superuser");
    let result = out.juju.action.clone().unwrap();
    assert_eq!(
        result.failed.as_deref(),
        Some("CommandError: Error: That username is already taken.\n")
    );
    assert!(result.results.is_empty());
}

fn create_superuser_when_not_ready_runs_nothing(mode: Mode) {
    let mut sim = world(mode);
    sim.juju.relations.retain(|r| r.endpoint != "postgresql");
    action(
        &mut sim,
        serde_json::json!({"username": "admin", "email": "a@b.c"}),
    );
    let out = run(&mut sim, "create-superuser");
    let result = out.juju.action.clone().unwrap();
    assert_eq!(
        result.failed.as_deref(),
        Some("django-app container is not ready")
    );
    assert!(result.results.is_empty());
    assert_eq!(
        out.juju.unit_status,
        blocked("missing integrations: postgresql")
    );
    assert!(out.pebble.exec_commands().is_empty());
}

fn malformed_input_blocks_with_a_named_status_and_never_panics(mode: Mode) {
    type Breakage = Box<dyn Fn(&mut Simulation)>;
    let cases: Vec<(&str, Breakage, &str)> = vec![
        (
            "non-JSON ingress data",
            Box::new(|s: &mut Simulation| {
                s.juju.relation_mut("ingress").unwrap().remote_app_data =
                    bag(&[("ingress", "{not json")]);
            }),
            "Invalid ingress relation data.",
        ),
        (
            "uris that do not parse",
            Box::new(|s: &mut Simulation| {
                s.juju.secrets[0].revisions[0] = bag(&[("uris", "postgresql://u:p@host:port/db")]);
            }),
            "Invalid postgresql relation data.",
        ),
        (
            "a secret-user that does not exist",
            Box::new(|s: &mut Simulation| s.juju.secrets.clear()),
            "Invalid postgresql relation data.",
        ),
        (
            "a django-secret-key-id that does not exist",
            Box::new(|s: &mut Simulation| {
                s.juju
                    .config
                    .insert("django-secret-key-id".into(), "secret:gone".into());
            }),
            "invalid options: django-secret-key-id",
        ),
        (
            "an empty django-secret-key",
            Box::new(|s: &mut Simulation| {
                s.juju.config.insert("django-secret-key".into(), "".into());
            }),
            "invalid options: django-secret-key",
        ),
    ];
    for (what, break_it, message) in cases {
        let mut sim = world(mode);
        break_it(&mut sim);
        let out = sim.run("config-changed");
        assert_eq!(out.exit_code, 0, "{what}");
        assert_eq!(out.juju.unit_status, blocked(message), "{what}");
        assert!(out.ops().is_empty(), "{what}: {:?}", op_names(out.ops()));
    }
    // Garbage in the peer bag is just a key; a wrong-typed config value is no crash.
    let mut sim = world(mode);
    sim.juju
        .relation_mut("secret-storage")
        .unwrap()
        .local_app_data = bag(&[("django_secret_key", "\u{0}\u{1}{]"), ("junk", "[[[")]);
    sim.juju
        .config
        .insert("django-debug".into(), "maybe".into());
    let out = sim.run("config-changed");
    assert_eq!(out.exit_code, 0);
}

fn no_secret_value_reaches_a_log_or_a_status(mode: Mode) {
    let mut sim = world(mode);
    let secrets = [
        "example-password",
        "example-secret-key-not-for-production-use",
    ];
    let mut events = vec![
        "config-changed",
        "postgresql-relation-changed",
        "update-status",
    ];
    sim.juju
        .failures
        .push(django_charm::sim::juju::ToolFailure {
            tool: "open-port".into(),
            code: 1,
            stderr: "ERROR boom".into(),
        });
    events.push("config-changed");
    for event in events {
        let _ = sim.run(event);
    }
    sim.juju.failures.clear();
    action(
        &mut sim,
        serde_json::json!({"username": "admin", "email": "a@b.c"}),
    );
    let out = sim.run("create-superuser");
    let password = out.juju.action.clone().unwrap().results["password"].clone();
    let logs = out.juju.log_text();
    let statuses: String = out
        .juju
        .status_history
        .iter()
        .map(|s| s.status.message.clone())
        .collect();
    assert!(!logs.is_empty());
    for secret in secrets.iter().copied().chain([password.as_str()]) {
        assert!(!logs.contains(secret), "{secret} in logs:\n{logs}");
        assert!(!statuses.contains(secret), "{secret} in statuses");
    }
}

fn waiting_for_pebble_when_the_container_is_not_reachable(mode: Mode) {
    let mut sim = world(mode);
    sim.pebble_reachable = false;
    let out = run(&mut sim, "config-changed");
    assert_eq!(out.juju.unit_status, waiting("Waiting for pebble ready"));
    assert!(out.juju.opened_ports.is_empty());
}

fn secret_options_and_relation_secrets_are_read_fresh_on_secret_changed(mode: Mode) {
    let mut sim = world(mode);
    with_option(
        &mut sim,
        "    api-credentials:\n      type: secret\n      description: creds\n",
    );
    sim.juju
        .config
        .insert("api-credentials".into(), "secret:creds".into());
    sim.juju.secrets.push(SecretState::new(
        "secret:creds",
        bag(&[("token", "abc"), ("client-id", "c1")]),
    ));
    let out = run(&mut sim, "config-changed");
    assert_eq!(out.django_env()["DJANGO_API_CREDENTIALS_TOKEN"], "abc");
    assert_eq!(out.django_env()["DJANGO_API_CREDENTIALS_CLIENT_ID"], "c1");
    sim.juju
        .secrets
        .iter_mut()
        .find(|s| s.id == "secret:creds")
        .expect("the option's secret")
        .revisions
        .push(bag(&[("token", "def")]));
    sim.env
        .insert("JUJU_SECRET_ID".into(), "secret:creds".into());
    let out = run(&mut sim, "secret-changed");
    assert_eq!(out.django_env()["DJANGO_API_CREDENTIALS_TOKEN"], "def");
    assert!(
        !out.django_env()
            .contains_key("DJANGO_API_CREDENTIALS_CLIENT_ID")
    );
}

fn worker_class_checks_in_their_fixed_order(mode: Mode) {
    // An invalid class writes nothing to the container.
    let mut sim = world(mode);
    sim.juju
        .config
        .insert("webserver-worker-class".into(), "eventlet".into());
    let out = run(&mut sim, "config-changed");
    assert_eq!(
        out.juju.unit_status,
        blocked("Only 'gevent' and 'sync' are allowed. https://bit.ly/django-async-doc")
    );
    assert!(out.ops().is_empty());

    // gevent missing from the rock: the import check is the only call.
    let mut sim = world(mode);
    sim.juju
        .config
        .insert("webserver-worker-class".into(), "gevent".into());
    sim.pebble
        .exec_rules
        .push(ExecRule::exact(["python3", "-c", "import gevent"]).exit_code(1));
    let out = run(&mut sim, "config-changed");
    assert_eq!(
        out.juju.unit_status,
        blocked("gunicorn[gevent] must be installed in the rock. https://bit.ly/django-async-doc")
    );
    assert_eq!(op_names(out.ops()), ["exec python3 -c import gevent"]);

    // A command without -k: original-services.json is left behind, no layer.
    let mut sim = world(mode);
    sim.juju
        .config
        .insert("webserver-worker-class".into(), "gevent".into());
    sim.pebble.layers[0]
        .1
        .services
        .get_mut("django")
        .unwrap()
        .command = Some(
        "/bin/python3 -m gunicorn -c /django/gunicorn.conf.py django_app.wsgi:application".into(),
    );
    let out = run(&mut sim, "config-changed");
    assert_eq!(
        out.juju.unit_status,
        blocked(
            "Worker class is set through `juju config` but the `-k` worker class argument is not in the service command."
        )
    );
    assert_eq!(
        op_names(out.ops()),
        [
            "exec python3 -c import gevent",
            "write /tmp/django/state/original-services.json"
        ]
    );
    // Nothing of the workload changed (the capture is the charm's own file): no
    // Maintenance before the verdict.
    let preparing = Status::maintenance("Preparing service for restart");
    assert!(
        !out.juju
            .status_history
            .iter()
            .any(|s| s.status == preparing)
    );

    // gevent with -k: the command is rewritten and checked with the new class.
    let mut sim = world(mode);
    sim.juju
        .config
        .insert("webserver-worker-class".into(), "gevent".into());
    let out = run(&mut sim, "config-changed");
    assert_eq!(out.juju.unit_status, active());
    assert_eq!(
        out.pebble.plan().services["django"].command.as_deref(),
        Some(
            "/bin/python3 -m gunicorn -c /django/gunicorn.conf.py django_app.wsgi:application -k [ gevent ]"
        )
    );
    assert!(op_names(out.ops()).contains(
        &"exec /bin/python3 -m gunicorn -c /django/gunicorn.conf.py django_app.wsgi:application -k gevent --check-config".to_string()
    ));
}

fn a_failed_gunicorn_check_restores_the_file_and_stays_blocked(mode: Mode) {
    let mut sim = world(mode);
    sim.pebble
        .exec_rules
        .push(ExecRule::prefix(["/bin/python3", "-m", "gunicorn"]).exit_code(1));
    let message = "Webserver configuration check failed, please review your charm configuration or database relation";
    let out = run(&mut sim, "config-changed");
    assert_eq!(out.juju.unit_status, blocked(message));
    let ops = op_names(out.ops());
    assert_eq!(
        &ops[ops.len() - 3..],
        [
            "write /django/gunicorn.conf.py",
            CHECK_CONFIG,
            "remove /django/gunicorn.conf.py"
        ]
    );
    assert_eq!(out.pebble.file_text("/django/gunicorn.conf.py"), None);
    assert!(
        ops.contains(&"add-layer charm".to_string()),
        "the layer stays added"
    );
    // The next reconcile checks again and stays Blocked.
    let out = run(&mut sim, "update-status");
    assert_eq!(out.juju.unit_status, blocked(message));
    let out = run(&mut sim, "config-changed");
    assert_eq!(out.juju.unit_status, blocked(message));
    assert!(op_names(out.ops()).contains(&CHECK_CONFIG.to_string()));
}

const BYTECODE: &str = "/django/__pycache__/gunicorn.conf.cpython-312.pyc";
const OTHER_BYTECODE: &str = "/django/__pycache__/settings.cpython-312.pyc";

/// The ERROR lines in the Juju log (clear `juju.logs` before a hook to get its own).
fn errors(out: &django_charm::sim::Outcome) -> Vec<String> {
    out.juju
        .logs
        .iter()
        .filter(|l| l.level == "ERROR")
        .map(|l| l.message.clone())
        .collect()
}

fn the_gunicorn_check_caches_no_bytecode_and_every_write_drops_the_cache(mode: Mode) {
    let mut sim = world(mode);
    sim.pebble = std::mem::take(&mut sim.pebble)
        .with_dir("/django/__pycache__")
        .with_file(BYTECODE, "bytecode of an older file")
        .with_file(OTHER_BYTECODE, "bytecode of the settings");
    let out = run(&mut sim, "config-changed");
    let ops = op_names(out.ops());
    let at = ops
        .iter()
        .position(|o| o == "write /django/gunicorn.conf.py")
        .unwrap();
    assert_eq!(
        ops[at..at + 3],
        [
            "write /django/gunicorn.conf.py".to_string(),
            format!("remove {BYTECODE}"),
            CHECK_CONFIG.to_string()
        ]
    );
    let check_env = out
        .ops()
        .iter()
        .find_map(|op| match op {
            PebbleOp::Exec {
                command,
                environment,
                ..
            } if command.last().map(String::as_str) == Some("--check-config") => {
                Some(environment.clone())
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(check_env["PYTHONDONTWRITEBYTECODE"], "1");
    assert_eq!(
        check_env["DJANGO_SECRET_KEY"], "example-secret-key-not-for-production-use",
        "the rest of the environment is the app's"
    );
    assert!(
        !out.django_env().contains_key("PYTHONDONTWRITEBYTECODE"),
        "only the check gets it"
    );
    assert_eq!(out.pebble.file_text(BYTECODE), None);
    assert_eq!(
        out.pebble.file_text(OTHER_BYTECODE),
        Some("bytecode of the settings")
    );
    let good = out
        .pebble
        .file_text("/django/gunicorn.conf.py")
        .unwrap()
        .to_string();

    // A check that caches the rejected file anyway: the restore drops that cache too.
    sim.pebble.exec_rules.push(
        ExecRule::prefix(["/bin/python3", "-m", "gunicorn"])
            .exit_code(1)
            .creates(BYTECODE, "bytecode of the rejected file"),
    );
    sim.juju.config.insert("webserver-workers".into(), 3.into());
    let out = run(&mut sim, "config-changed");
    assert_eq!(
        op_names(out.ops()),
        [
            "write /django/gunicorn.conf.py".to_string(),
            CHECK_CONFIG.to_string(),
            "write /django/gunicorn.conf.py".to_string(),
            format!("remove {BYTECODE}"),
        ]
    );
    assert_eq!(
        out.pebble.file_text("/django/gunicorn.conf.py"),
        Some(good.as_str())
    );
    assert_eq!(out.pebble.file_text(BYTECODE), None);
    assert_eq!(
        out.juju.unit_status,
        blocked(
            "Webserver configuration check failed, please review your charm configuration or database relation"
        )
    );
}

fn a_failed_check_or_migration_logs_the_redacted_tail_of_its_output(mode: Mode) {
    let mut sim = world(mode);
    let noise: String = (1..=60).map(|i| format!("noise line {i}\n")).collect();
    sim.pebble.exec_rules.push(
        ExecRule::prefix(["/bin/python3", "-m", "gunicorn"])
            .exit_code(1)
            .stdout(noise)
            .stderr(
                "Traceback (most recent call last):\nModuleNotFoundError: No module named 'djang_app'\n",
            ),
    );
    let out = run(&mut sim, "config-changed");
    let logged = errors(&out);
    assert_eq!(logged.len(), 1, "{logged:?}");
    let lines: Vec<&str> = logged[0].lines().collect();
    assert_eq!(
        lines[0],
        "gunicorn configuration check failed with exit status 1:"
    );
    assert_eq!(lines.len(), 51, "the header and the last 50 lines");
    assert_eq!(lines[1], "noise line 13");
    assert_eq!(
        lines[50],
        "ModuleNotFoundError: No module named 'djang_app'"
    );

    // The migration's output carries the database password and the Django key.
    sim.pebble.exec_rules.clear();
    sim.pebble.exec_rules.push(
        ExecRule::exact(["python3", "manage.py", "migrate"])
            .exit_code(1)
            .stderr(
                "django.db.utils.OperationalError: connection to server at \"127.0.0.1\", port 5432 failed: \
                 password example-password rejected\nSECRET_KEY = 'example-secret-key-not-for-production-use'\n",
            ),
    );
    sim.juju.logs.clear();
    let out = run(&mut sim, "config-changed");
    assert_eq!(
        errors(&out),
        [
            "database migration (python3 manage.py migrate) failed with exit status 1:\n\
          django.db.utils.OperationalError: connection to server at \"127.0.0.1\", port 5432 failed: \
          password [redacted] rejected\nSECRET_KEY = '[redacted]'"
        ]
    );

    // Nothing is logged when the commands succeed.
    sim.pebble.exec_rules.clear();
    sim.juju.logs.clear();
    let out = run(&mut sim, "update-status");
    assert_eq!(out.juju.unit_status, active());
    assert!(errors(&out).is_empty(), "{:?}", errors(&out));
    assert!(op_names(out.ops()).contains(&"exec python3 manage.py migrate".to_string()));
}

fn proxies_from_the_model_and_an_old_juju(mode: Mode) {
    let mut sim = world(mode);
    sim.env.insert(
        "JUJU_CHARM_HTTP_PROXY".into(),
        "http://squid.internal:3128".into(),
    );
    sim.env.insert("JUJU_CHARM_HTTPS_PROXY".into(), "".into());
    sim.juju_version = "3.3.1".into();
    let out = run(&mut sim, "config-changed");
    let env = out.django_env();
    assert_eq!(env["http_proxy"], "http://squid.internal:3128");
    assert_eq!(env["HTTP_PROXY"], "http://squid.internal:3128");
    assert!(!env.contains_key("https_proxy") && !env.contains_key("HTTPS_PROXY"));
    assert_eq!(env["no_proxy"], "127.0.0.1,localhost");
    let conf = out.pebble.file_text("/django/gunicorn.conf.py").unwrap();
    assert!(
        conf.contains("accesslog = '/var/log/django/access.log'"),
        "{conf}"
    );
}

fn peer_fqdns_in_numeric_order(mode: Mode) {
    let mut sim = world(mode);
    sim.juju.unit = "django-k8s/1".into();
    sim.juju
        .relation_mut("secret-storage")
        .unwrap()
        .remote_units = ["django-k8s/0", "django-k8s/2", "django-k8s/10"]
        .into_iter()
        .map(|u| (u.to_string(), Databag::new()))
        .collect();
    let out = run(&mut sim, "config-changed");
    assert_eq!(
        out.django_env()["DJANGO_PEER_FQDNS"],
        "django-k8s-0.django-k8s-endpoints.test-model.svc.cluster.local,django-k8s-2.django-k8s-endpoints.test-model.svc.cluster.local,django-k8s-10.django-k8s-endpoints.test-model.svc.cluster.local"
    );
}

fn a_failing_hook_tool_fails_the_hook_and_buffers_nothing(mode: Mode) {
    let mut sim = world(mode);
    sim.juju
        .failures
        .push(django_charm::sim::juju::ToolFailure {
            tool: "opened-ports".into(),
            code: 1,
            stderr: "ERROR connection is shut down".into(),
        });
    let out = sim.run("config-changed");
    assert_eq!(out.exit_code, 1);
    let errors: Vec<_> = out
        .juju
        .logs
        .iter()
        .filter(|l| l.level == "ERROR")
        .collect();
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0]
            .message
            .contains("opened-ports failed with exit status 1"),
        "{}",
        errors[0].message
    );
    assert!(
        out.juju
            .relation("ingress")
            .unwrap()
            .local_unit_data
            .is_empty(),
        "rolled back"
    );
}

fn an_address_juju_cannot_give_is_left_out_not_fatal(mode: Mode) {
    let mut sim = world(mode);
    sim.juju
        .failures
        .push(django_charm::sim::juju::ToolFailure {
            tool: "network-get".into(),
            code: 1,
            stderr: "ERROR cannot read network config".into(),
        });
    let out = run(&mut sim, "config-changed");
    assert_eq!(out.juju.unit_status, active());
    let unit_bag = &out.juju.relation("ingress").unwrap().local_unit_data;
    assert_eq!(
        unit_bag,
        &bag(&[(
            "host",
            "\"django-k8s-0.django-k8s-endpoints.test-model.svc.cluster.local\""
        )])
    );
    assert!(
        out.juju
            .logs
            .iter()
            .any(|l| l.level == "WARNING" && l.message.contains("network-get")),
        "{:?}",
        out.juju.logs
    );
}

in_both_modes!(
    an_address_juju_cannot_give_is_left_out_not_fatal,
    worked_example_of_a_first_reconcile,
    fresh_deploy_to_active,
    running_the_same_event_twice_does_no_work_the_second_time,
    django_is_checked_and_restarted_by_pebble,
    no_reload_of_django_when_the_replan_restarts_it,
    config_change_updates_the_environment_without_rechecking_gunicorn,
    mandatory_option_missing_then_set,
    unset_options_answer_with_their_metadata_default,
    migration_failure_then_success_on_update_status,
    workers_everywhere_scheduler_on_the_lowest_unit,
    create_superuser_returns_the_password,
    create_superuser_failure_returns_the_output_verbatim,
    create_superuser_when_not_ready_runs_nothing,
    malformed_input_blocks_with_a_named_status_and_never_panics,
    no_secret_value_reaches_a_log_or_a_status,
    waiting_for_pebble_when_the_container_is_not_reachable,
    secret_options_and_relation_secrets_are_read_fresh_on_secret_changed,
    worker_class_checks_in_their_fixed_order,
    a_failed_gunicorn_check_restores_the_file_and_stays_blocked,
    the_gunicorn_check_caches_no_bytecode_and_every_write_drops_the_cache,
    a_failed_check_or_migration_logs_the_redacted_tail_of_its_output,
    proxies_from_the_model_and_an_old_juju,
    peer_fqdns_in_numeric_order,
    a_failing_hook_tool_fails_the_hook_and_buffers_nothing,
);
