//! Unit tests of the in-memory Pebble: layer rules, service actions, files, exec,
//! signals, and the model's YAML form.

use std::time::Duration;

use super::*;

fn layer(yaml: &str) -> Layer {
    Layer::from_yaml(yaml).unwrap()
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn api_message(err: PebbleError) -> (u16, String) {
    match err {
        PebbleError::Api {
            status, message, ..
        } => (status, message),
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn path_kind(err: PebbleError) -> (String, String) {
    match err {
        PebbleError::Path { kind, message, .. } => (kind, message),
        other => panic!("expected a path error, got {other:?}"),
    }
}

const WEB: &str =
    "services:\n  web:\n    override: replace\n    command: /bin/web\n    startup: enabled\n";

// ---------------------------------------------------------------------------------
// Layers
// ---------------------------------------------------------------------------------

#[test]
fn labels_must_be_set_new_and_not_reserved() {
    let mut model = PebbleModel::new();
    let err = model.add_layer("", &layer(WEB), false).unwrap_err();
    assert_eq!(api_message(err), (400, "label must be set".into()));
    let err = model.add_layer("pebble-x", &layer(WEB), false).unwrap_err();
    assert_eq!(
        api_message(err),
        (
            400,
            "cannot parse layer YAML: cannot use reserved label prefix \"pebble-\"".into()
        )
    );
    model.add_layer("web", &layer(WEB), false).unwrap();
    let err = model.add_layer("web", &layer(WEB), false).unwrap_err();
    assert_eq!(
        api_message(err),
        (400, "layer \"web\" already exists".into())
    );
    let err = model.add_layer("a/b", &layer(WEB), false).unwrap_err();
    assert_eq!(api_message(err).0, 500);
}

#[test]
fn combine_merges_into_the_existing_layer_and_keeps_its_position() {
    let mut model = PebbleModel::new();
    model.add_layer("base", &layer(WEB), false).unwrap();
    model
        .add_layer(
            "top",
            &layer("services:\n  web:\n    override: merge\n    environment: {A: top}\n"),
            false,
        )
        .unwrap();
    model
        .add_layer(
            "base",
            &layer("services:\n  web:\n    override: merge\n    environment: {A: base, B: base}\n"),
            true,
        )
        .unwrap();
    let labels: Vec<&str> = model.layers.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(labels, ["base", "top"]);
    // "top" still applies after "base", so its value wins.
    let env = &model.plan().services["web"].environment;
    assert_eq!(env["A"], "top");
    assert_eq!(env["B"], "base");
    // combine=true on a new label appends.
    model
        .add_layer(
            "new",
            &layer("services:\n  x:\n    override: replace\n    command: /x\n"),
            true,
        )
        .unwrap();
    assert_eq!(model.layers.len(), 3);
}

#[test]
fn every_entry_of_every_layer_needs_override() {
    let mut model = PebbleModel::new();
    let err = model
        .add_layer(
            "l",
            &layer("services:\n  web:\n    command: /bin/web\n"),
            false,
        )
        .unwrap_err();
    assert_eq!(
        api_message(err),
        (
            400,
            "layer \"l\" must define \"override\" for service \"web\"".into()
        )
    );
    let err = model
        .add_layer(
            "l",
            &layer("checks:\n  up:\n    http: {url: 'http://x'}\n"),
            false,
        )
        .unwrap_err();
    assert_eq!(
        api_message(err).1,
        "layer \"l\" must define \"override\" for check \"up\""
    );
}

#[test]
fn the_combined_plan_is_validated_and_a_refusal_changes_nothing() {
    let mut model = PebbleModel::new();
    model.add_layer("base", &layer(WEB), false).unwrap();
    let before = model.layers.clone();
    let cases = [
        (
            "services:\n  db:\n    override: merge\n    startup: enabled\n",
            "plan must define \"command\" for service \"db\"",
        ),
        (
            "services:\n  web:\n    override: merge\n    requires: [ghost]\n",
            "service \"ghost\" does not exist",
        ),
        (
            "services:\n  a:\n    override: replace\n    command: /a\n    after: [b]\n  b:\n    override: replace\n    command: /b\n    after: [a]\n",
            "services in before/after loop: a, b",
        ),
        (
            "checks:\n  up:\n    override: replace\n    http: {url: 'http://x'}\n    tcp: {port: 80}\n",
            "plan must specify one of \"http\", \"tcp\", or \"exec\" for check \"up\"",
        ),
        (
            "checks:\n  up:\n    override: replace\n",
            "plan must specify one of \"http\", \"tcp\", or \"exec\" for check \"up\"",
        ),
        (
            "log-targets:\n  t:\n    override: replace\n    location: http://loki\n",
            "plan must define \"type\" (\"loki\", \"opentelemetry\" or \"syslog\") for log target \"t\"",
        ),
        (
            "log-targets:\n  t:\n    override: replace\n    type: loki\n",
            "plan must define \"location\" for log target \"t\"",
        ),
        (
            "log-targets:\n  t:\n    override: replace\n    type: loki\n    location: http://l\n    services: [nope]\n",
            "log target \"t\" specifies unknown service \"nope\"",
        ),
        (
            "services:\n  web:\n    override: merge\n    backoff-delay: 1\n",
            "cannot parse layer YAML: cannot parse layer \"bad\" section \"services\": invalid duration \"1\"",
        ),
        (
            "services:\n  web:\n    override: merge\n    backoff-factor: 0.5\n",
            "cannot parse layer YAML: plan service \"web\" backoff-factor must be 1.0 or greater, not 0.5",
        ),
        (
            "services:\n  web:\n    override: merge\n    on-failure: explode\n",
            "cannot parse layer YAML: plan service \"web\" on-failure action \"explode\" invalid",
        ),
        (
            "services:\n  pebble:\n    override: replace\n    command: /p\n",
            "cannot parse layer YAML: cannot use reserved service name \"pebble\"",
        ),
    ];
    for (yaml, message) in cases {
        let err = model.add_layer("bad", &layer(yaml), false).unwrap_err();
        assert_eq!(api_message(err), (400, message.to_string()), "{yaml}");
        assert_eq!(model.layers, before, "{yaml}");
    }
}

#[test]
fn yaml_layers_are_parsed_strictly() {
    let mut model = PebbleModel::new();
    let cases = [
        (
            "servics: {}\n",
            "cannot parse layer YAML: cannot parse layer \"l\": unknown section \"servics\"",
        ),
        (
            "services:\n  web:\n    override: replace\n    command: /w\n    comand: /w\n",
            "cannot parse layer YAML: cannot parse layer \"l\" section \"services\": yaml: unmarshal errors:\n  field comand not found in type plan.Service",
        ),
        (
            "services:\n  web:\n",
            "cannot parse layer YAML: service object cannot be null for service \"web\"",
        ),
        (
            "services:\n  web:\n    override: sideways\n    command: /w\n",
            "layer \"l\" has invalid \"override\" value for service \"web\"",
        ),
        (
            "checks:\n  up:\n    override: replace\n    http: {url: 'http://x', verb: GET}\n",
            "cannot parse layer YAML: cannot parse layer \"l\" section \"checks\": yaml: unmarshal errors:\n  field verb not found in type plan.HTTPCheck",
        ),
    ];
    for (yaml, message) in cases {
        let err = model.add_layer_yaml("l", yaml, false).unwrap_err();
        assert_eq!(api_message(err), (400, message.to_string()), "{yaml}");
    }
    assert!(model.layers.is_empty());
    model
        .add_layer_yaml("l", "summary: s\nworkloads: {}\nservices:\n  web:\n    override: replace\n    command: /w\n", false)
        .unwrap();
    assert_eq!(model.plan().services["web"].command.as_deref(), Some("/w"));
    assert_eq!(model.ops.len(), 6, "refused layers are logged too");
}

#[test]
fn the_plan_reads_like_pebble_prints_it() {
    let model = PebbleModel::new().with_layer(
        "l",
        layer(
            "summary: gone\nservices:\n  web:\n    override: replace\n    command: /w\n    kill-delay: 60s\n    backoff-delay: 1.500s\nchecks:\n  up:\n    override: replace\n    period: 90s\n    tcp: {port: 80}\n",
        ),
    );
    let plan = model.plan();
    assert_eq!(plan.summary, None);
    assert_eq!(plan.services["web"].kill_delay.as_deref(), Some("1m0s"));
    assert_eq!(plan.services["web"].backoff_delay.as_deref(), Some("1.5s"));
    assert_eq!(plan.checks["up"].period.as_deref(), Some("1m30s"));
    assert_eq!(plan.checks["up"].threshold, Some(3));
    assert_eq!(PebbleModel::new().plan_yaml().unwrap(), "{}\n");
}

// ---------------------------------------------------------------------------------
// Services
// ---------------------------------------------------------------------------------

#[test]
fn replan_starts_enabled_services_and_is_idempotent() {
    let mut model = PebbleModel::new();
    model
        .add_layer(
            "l",
            &layer("services:\n  web:\n    override: replace\n    command: /w\n    startup: enabled\n  idle:\n    override: replace\n    command: /i\n"),
            false,
        )
        .unwrap();
    let id = model.service_action(ServiceAction::Replan, &[]).unwrap();
    let change = model.change(&id).unwrap();
    assert_eq!(change.status, "Done");
    assert_eq!(change.summary, "Replan service \"web\"");
    assert_eq!(model.service_status("web"), ServiceStatus::Active);
    assert_eq!(model.service_status("idle"), ServiceStatus::Inactive);

    // Nothing changed: the running service is not restarted.
    let id = model.service_action(ServiceAction::Replan, &[]).unwrap();
    let change = model.change(&id).unwrap();
    assert_eq!(change.tasks.len(), 1);
    assert!(change.tasks[0].log[0].ends_with("Service \"web\" already started."));
    assert_eq!(model.services["web"].starts, 1);

    let infos = model.services(&[]);
    assert_eq!(infos.len(), 2);
    assert_eq!(
        (infos[0].name.as_str(), infos[0].startup.as_str()),
        ("idle", "disabled")
    );
    assert_eq!(infos[1].current, "active");
    assert_eq!(model.services(&names(&["web", "ghost"])).len(), 1);
}

#[test]
fn replan_with_no_services_is_a_done_change() {
    let mut model = PebbleModel::new();
    let id = model.service_action(ServiceAction::Replan, &[]).unwrap();
    let change = model.change(&id).unwrap();
    assert_eq!(change.summary, "Replan - no services");
    assert!(change.is_ready() && change.err.is_none() && change.tasks.is_empty());
}

#[test]
fn replan_restarts_a_changed_service_even_when_disabled() {
    let mut model = PebbleModel::new()
        .with_layer("l", layer(WEB))
        .with_running_service("web");
    model
        .add_layer(
            "l2",
            &layer("services:\n  web:\n    override: merge\n    startup: disabled\n    environment: {A: '1'}\n"),
            false,
        )
        .unwrap();
    assert_eq!(
        model.services["web"].starts, 1,
        "adding a layer restarts nothing"
    );
    let id = model.service_action(ServiceAction::Replan, &[]).unwrap();
    let kinds: Vec<&str> = model
        .change(&id)
        .unwrap()
        .tasks
        .iter()
        .map(|t| t.kind.as_str())
        .collect();
    assert_eq!(kinds, ["stop", "start"]);
    assert_eq!(model.services["web"].starts, 2);
    assert_eq!(model.service_status("web"), ServiceStatus::Active);
    assert_eq!(
        model.services["web"].started_with.as_ref(),
        model.plan().services.get("web")
    );
}

#[test]
fn a_model_declaring_a_running_service_runs_the_plan_as_first_seen() {
    let mut model = PebbleModel::from_yaml(
        "layers:\n  rock:\n    services:\n      web: {override: replace, command: /w, startup: enabled}\nservices:\n  web: {current: active}\n",
    )
    .unwrap();
    let id = model.service_action(ServiceAction::Replan, &[]).unwrap();
    assert_eq!(model.change(&id).unwrap().tasks.len(), 1);
    assert_eq!(model.services["web"].starts, 0, "no restart");
    model
        .add_layer(
            "charm",
            &layer("services:\n  web: {override: merge, command: /w2}\n"),
            false,
        )
        .unwrap();
    model.service_action(ServiceAction::Replan, &[]).unwrap();
    assert_eq!(model.services["web"].starts, 1);
}

#[test]
fn start_stop_restart_follow_requires() {
    let mut model = PebbleModel::new().with_layer(
        "l",
        layer("services:\n  web:\n    override: replace\n    command: /w\n    requires: [db]\n    after: [db]\n  db:\n    override: replace\n    command: /d\n"),
    );
    let id = model
        .service_action(ServiceAction::Start, &names(&["web"]))
        .unwrap();
    let change = model.change(&id).unwrap();
    let order: Vec<&str> = change.tasks.iter().map(|t| t.summary.as_str()).collect();
    assert_eq!(order, ["Start service \"db\"", "Start service \"web\""]);
    assert_eq!(change.summary, "Start service \"web\" and 1 more");

    // Stopping db stops web, which requires it, first.
    let id = model
        .service_action(ServiceAction::Stop, &names(&["db"]))
        .unwrap();
    let order: Vec<&str> = model
        .change(&id)
        .unwrap()
        .tasks
        .iter()
        .map(|t| t.summary.as_str())
        .collect();
    assert_eq!(order, ["Stop service \"web\"", "Stop service \"db\""]);
    assert_eq!(model.service_status("web"), ServiceStatus::Inactive);

    model
        .service_action(ServiceAction::Start, &names(&["web"]))
        .unwrap();
    let id = model
        .service_action(ServiceAction::Restart, &names(&["web"]))
        .unwrap();
    let kinds: Vec<&str> = model
        .change(&id)
        .unwrap()
        .tasks
        .iter()
        .map(|t| t.summary.as_str())
        .collect();
    assert_eq!(
        kinds,
        [
            "Stop service \"web\"",
            "Start service \"db\"",
            "Start service \"web\""
        ]
    );
    assert_eq!(model.services["web"].starts, 3);
    assert_eq!(model.services["db"].starts, 2);
}

#[test]
fn service_action_requests_are_checked_like_pebble() {
    let mut model = PebbleModel::new().with_layer("l", layer(WEB));
    let err = model
        .service_action(ServiceAction::Start, &names(&["ghost"]))
        .unwrap_err();
    assert_eq!(
        api_message(err),
        (
            400,
            "cannot start services: service \"ghost\" does not exist".into()
        )
    );
    let err = model.service_action(ServiceAction::Start, &[]).unwrap_err();
    assert_eq!(api_message(err).1, "must specify services for start action");
    let err = model.service_action(ServiceAction::Stop, &[]).unwrap_err();
    assert_eq!(api_message(err).1, "must specify services for stop action");
    let err = model
        .service_action(ServiceAction::Replan, &names(&["web"]))
        .unwrap_err();
    assert_eq!(api_message(err).1, "replan accepts no service names");

    let mut empty = PebbleModel::new();
    match empty
        .service_action(ServiceAction::Autostart, &[])
        .unwrap_err()
    {
        PebbleError::Api {
            status,
            message,
            kind,
            ..
        } => {
            assert_eq!((status, message.as_str()), (400, "no default services"));
            assert_eq!(kind.as_deref(), Some("no-default-services"));
        }
        other => panic!("{other:?}"),
    }
    let id = model.service_action(ServiceAction::Autostart, &[]).unwrap();
    assert_eq!(model.change(&id).unwrap().kind, "autostart");
    assert_eq!(model.service_status("web"), ServiceStatus::Active);
}

#[test]
fn a_failing_service_fails_the_change() {
    let model = PebbleModel::new()
        .with_layer("l", layer(WEB))
        .with_failing_service("web");
    let mut pebble = MemoryPebble::new(model);
    let err = pebble
        .service_action(ServiceAction::Replan, &[])
        .unwrap_err();
    assert_eq!(
        err,
        PebbleError::Change {
            id: "1".into(),
            err: "cannot perform the following tasks:\n- Start service \"web\" (service start attempt: exited quickly with code 1, will restart)".into(),
            tasks: vec![TaskInfo {
                kind: "start".into(),
                summary: "Start service \"web\"".into(),
                status: "Error".into(),
            }],
            output: None,
        }
    );
    assert_eq!(pebble.model.service_status("web"), ServiceStatus::Backoff);
    assert_eq!(pebble.model.changes[0].status, "Error");
}

#[test]
fn ops_record_what_was_asked_in_order() {
    let mut pebble = MemoryPebble::new(PebbleModel::new().with_dir("/srv"));
    pebble.add_layer("l", &layer(WEB), true).unwrap();
    pebble.service_action(ServiceAction::Replan, &[]).unwrap();
    pebble
        .push("/srv/a.conf", b"x", &PushOptions::default())
        .unwrap();
    pebble.send_signal("SIGHUP", &names(&["web"])).unwrap();
    assert_eq!(
        pebble.model.ops,
        vec![
            PebbleOp::AddLayer {
                label: "l".into(),
                combine: true,
                layer: layer(WEB)
            },
            PebbleOp::ServiceAction {
                action: ServiceAction::Replan,
                services: vec![]
            },
            PebbleOp::Push {
                path: "/srv/a.conf".into(),
                content: "x".into(),
                make_dirs: false,
                permissions: None,
                user: None,
                user_id: None,
                group: None,
                group_id: None,
            },
            PebbleOp::Signal {
                signal: "SIGHUP".into(),
                services: names(&["web"])
            },
        ]
    );
}

#[test]
fn signals_need_a_running_service() {
    let mut model = PebbleModel::new().with_layer("l", layer(WEB));
    let err = model.send_signal("SIGHUP", &names(&["web"])).unwrap_err();
    assert_eq!(
        api_message(err),
        (
            500,
            "cannot send signal to \"web\": service is not running".into()
        )
    );
    let err = model.send_signal("SIGHUP", &[]).unwrap_err();
    assert_eq!(
        api_message(err),
        (400, "must specify one or more services".into())
    );
    model.service_action(ServiceAction::Replan, &[]).unwrap();
    model.send_signal("SIGHUP", &names(&["web"])).unwrap();
    assert!(model.send_signal("SIGNOPE", &names(&["web"])).is_err());
}

#[test]
fn checks_come_from_the_plan() {
    let mut model = PebbleModel::new();
    assert!(model.checks(None, &[]).unwrap().is_empty());
    model
        .add_layer(
            "l",
            &layer(
                "checks:\n  up:\n    override: replace\n    level: ready\n    tcp: {port: 80}\n",
            ),
            false,
        )
        .unwrap();
    let checks = model.checks(Some("ready"), &[]).unwrap();
    assert_eq!(
        (
            checks[0].name.as_str(),
            checks[0].status.as_str(),
            checks[0].threshold
        ),
        ("up", "up", 3)
    );
    assert!(model.checks(Some("alive"), &[]).unwrap().is_empty());
    assert_eq!(
        api_message(model.checks(Some("bogus"), &[]).unwrap_err()),
        (400, "level must be \"alive\" or \"ready\"".into())
    );
}

// ---------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------

#[test]
fn push_needs_an_existing_parent_unless_make_dirs() {
    let mut pebble = MemoryPebble::new(PebbleModel::new());
    let err = pebble
        .push("/etc/app/a.conf", b"x", &PushOptions::default())
        .unwrap_err();
    assert_eq!(
        path_kind(err),
        (
            "not-found".into(),
            "open /etc/app/a.conf: no such file or directory".into()
        )
    );
    let options = PushOptions {
        make_dirs: true,
        ownership: FileOwnership {
            permissions: Some("600".into()),
            user: Some("app".into()),
            ..FileOwnership::default()
        },
    };
    pebble.push("/etc/app/a.conf", b"hello", &options).unwrap();
    assert_eq!(pebble.pull("/etc/app/a.conf").unwrap(), b"hello");
    let entry = &pebble.model.files["/etc/app/a.conf"];
    assert_eq!(
        (entry.permissions(), entry.user_name(), entry.group_name()),
        ("600", "app", "app")
    );
    assert!(pebble.model.files["/etc/app"].is_dir());
    assert_eq!(pebble.model.files["/etc/app"].permissions(), "755");
    assert_eq!(pebble.model.file_text("/etc/app/a.conf"), Some("hello"));
}

#[test]
fn push_checks_permissions_paths_and_owners() {
    let mut pebble = MemoryPebble::new(PebbleModel::new().with_dir("/d").with_file("/f", "x"));
    let with = |permissions: &str| PushOptions {
        make_dirs: false,
        ownership: FileOwnership {
            permissions: Some(permissions.into()),
            ..FileOwnership::default()
        },
    };
    let err = pebble.push("/d/a", b"x", &with("0644")).unwrap_err();
    assert_eq!(
        path_kind(err),
        (
            "generic-file-error".into(),
            "permissions must be a 3-digit octal string, got \"0644\"".into()
        )
    );
    assert!(pebble.push("/d/a", b"x", &with("648")).is_err());
    pebble.push("/d/a", b"x", &with("640")).unwrap();
    let err = pebble
        .push("relative", b"x", &PushOptions::default())
        .unwrap_err();
    assert_eq!(path_kind(err).1, "paths must be absolute, got \"relative\"");
    let err = pebble
        .push("/f/x", b"x", &PushOptions::default())
        .unwrap_err();
    assert_eq!(path_kind(err).0, "generic-file-error");
    let group_only = PushOptions {
        make_dirs: false,
        ownership: FileOwnership {
            group: Some("app".into()),
            ..FileOwnership::default()
        },
    };
    assert!(pebble.push("/d/b", b"x", &group_only).is_err());
    let err = pebble
        .push("/d", b"x", &PushOptions::default())
        .unwrap_err();
    assert_eq!(path_kind(err).0, "generic-file-error");
}

#[test]
fn pull_reports_missing_files_and_directories() {
    let mut pebble = MemoryPebble::new(PebbleModel::new().with_dir("/d"));
    let err = pebble.pull("/d/nope").unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(path_kind(err).1, "stat /d/nope: no such file or directory");
    let err = pebble.pull("/d").unwrap_err();
    assert_eq!(
        path_kind(err),
        (
            "generic-file-error".into(),
            "can only read a regular file: \"/d\"".into()
        )
    );
}

#[test]
fn list_lists_directories_files_and_itself() {
    let mut pebble = MemoryPebble::new(
        PebbleModel::new()
            .with_file("/etc/a.conf", "aa")
            .with_file("/etc/b.txt", "b")
            .with_file("/etc/sub/c.conf", "c"),
    );
    let listed = pebble.list_files("/etc", None, false).unwrap();
    let got: Vec<(&str, &str, Option<u64>)> = listed
        .iter()
        .map(|f| (f.name.as_str(), f.kind.as_str(), f.size))
        .collect();
    assert_eq!(
        got,
        [
            ("a.conf", "file", Some(2)),
            ("b.txt", "file", Some(1)),
            ("sub", "directory", None)
        ]
    );
    let conf = pebble.list_files("/etc", Some("*.conf"), false).unwrap();
    assert_eq!(conf.len(), 1);
    let itself = pebble.list_files("/etc", None, true).unwrap();
    assert_eq!(
        (itself[0].path.as_str(), itself[0].name.as_str()),
        ("/etc", "etc")
    );
    let file = pebble.list_files("/etc/a.conf", None, false).unwrap();
    assert_eq!(file[0].path, "/etc/a.conf");
    assert!(
        pebble
            .list_files("/", None, false)
            .unwrap()
            .iter()
            .any(|f| f.name == "etc")
    );

    match pebble.list_files("/nope", None, false).unwrap_err() {
        PebbleError::Api {
            status,
            message,
            kind,
            ..
        } => {
            assert_eq!(status, 404);
            assert_eq!(message, "stat /nope: no such file or directory");
            assert_eq!(kind.as_deref(), Some("not-found"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        api_message(pebble.list_files("etc", None, false).unwrap_err()).0,
        400
    );
    assert_eq!(
        api_message(pebble.list_files("/etc", Some("["), false).unwrap_err()).0,
        400
    );
    assert!(pebble.exists("/etc/sub").unwrap());
    assert!(!pebble.exists("/etc/nope").unwrap());
    assert!(pebble.list_files("/etc/sub", None, false).unwrap().len() == 1);
}

#[test]
fn make_dir_and_remove_follow_pebble() {
    let mut pebble = MemoryPebble::new(PebbleModel::new().with_dir("/d"));
    pebble.make_dir("/d/e", &MakeDirOptions::default()).unwrap();
    let err = pebble
        .make_dir("/d/e", &MakeDirOptions::default())
        .unwrap_err();
    assert_eq!(
        path_kind(err),
        (
            "generic-file-error".into(),
            "mkdir /d/e: file exists".into()
        )
    );
    let err = pebble
        .make_dir("/x/y", &MakeDirOptions::default())
        .unwrap_err();
    assert_eq!(path_kind(err).0, "not-found");
    let parents = MakeDirOptions {
        make_parents: true,
        ownership: FileOwnership {
            permissions: Some("700".into()),
            ..FileOwnership::default()
        },
    };
    pebble.make_dir("/x/y/z", &parents).unwrap();
    pebble.make_dir("/x/y/z", &parents).unwrap();
    assert_eq!(pebble.model.files["/x/y/z"].permissions(), "700");
    pebble
        .push("/x/y/z/f", b"1", &PushOptions::default())
        .unwrap();

    let err = pebble.remove_path("/x", false).unwrap_err();
    assert_eq!(path_kind(err).1, "remove /x: directory not empty");
    let err = pebble.remove_path("/nope", false).unwrap_err();
    assert!(err.is_not_found());
    pebble.remove_path("/nope", true).unwrap();
    pebble.remove_path("/x", true).unwrap();
    assert!(!pebble.exists("/x/y/z/f").unwrap());
    assert!(pebble.exists("/d/e").unwrap());
    pebble.remove_path("/d/e", false).unwrap();
    assert!(!pebble.exists("/d/e").unwrap());
}

// ---------------------------------------------------------------------------------
// Exec
// ---------------------------------------------------------------------------------

#[test]
fn exec_answers_from_the_most_specific_rule() {
    let model = PebbleModel::new()
        .with_dir("/app")
        .with_exec(ExecRule::prefix(["python3"]).stdout("py"))
        .with_exec(ExecRule::prefix(["python3", "manage.py"]).stdout("manage"))
        .with_exec(
            ExecRule::exact(["python3", "manage.py", "migrate"])
                .exit_code(2)
                .stdout("out")
                .stderr("boom"),
        )
        .with_exec(ExecRule::exact(["cat"]).echo_stdin());
    let mut pebble = MemoryPebble::new(model);

    let mut request = ExecRequest::new(["python3", "manage.py", "migrate"]);
    request.working_dir = Some("/app".into());
    request.environment.insert("A".into(), "1".into());
    request.stdin = b"in".to_vec();
    let output = pebble.exec(&request).unwrap();
    assert_eq!(
        output,
        ExecOutput {
            exit_code: 2,
            stdout: b"out".to_vec(),
            stderr: b"boom".to_vec()
        }
    );
    let change = pebble.model.changes.last().unwrap();
    assert_eq!(
        (change.status.as_str(), change.exit_code()),
        ("Done", Some(2))
    );

    let run = |pebble: &mut MemoryPebble, argv: &[&str]| {
        pebble
            .exec(&ExecRequest::new(argv.iter().copied()))
            .unwrap()
    };
    assert_eq!(
        run(&mut pebble, &["python3", "manage.py", "check"]).stdout,
        b"manage"
    );
    assert_eq!(run(&mut pebble, &["python3", "-V"]).stdout, b"py");
    assert_eq!(run(&mut pebble, &["ls"]), ExecOutput::default());

    let mut cat = ExecRequest::new(["cat"]);
    cat.stdin = b"echo me".to_vec();
    assert_eq!(pebble.exec(&cat).unwrap().stdout, b"echo me");

    let mut merged = ExecRequest::new(["python3", "manage.py", "migrate"]);
    merged.split_stderr = false;
    let output = pebble.exec(&merged).unwrap();
    assert_eq!(
        (output.stdout.as_slice(), output.stderr.as_slice()),
        (&b"outboom"[..], &b""[..])
    );

    assert_eq!(
        pebble.model.ops[0],
        PebbleOp::Exec {
            command: names(&["python3", "manage.py", "migrate"]),
            environment: BTreeMap::from([("A".to_string(), "1".to_string())]),
            working_dir: Some("/app".into()),
            user: None,
            group: None,
            stdin: "in".into(),
        }
    );
    assert_eq!(pebble.model.exec_commands().len(), 6);
}

#[test]
fn exec_refuses_empty_commands_and_missing_working_dirs() {
    let mut pebble = MemoryPebble::new(PebbleModel::new());
    let err = pebble
        .exec(&ExecRequest::new(Vec::<String>::new()))
        .unwrap_err();
    assert_eq!(api_message(err), (400, "must specify command".into()));
    let mut request = ExecRequest::new(["ls"]);
    request.working_dir = Some("/srv".into());
    let err = pebble.exec(&request).unwrap_err();
    assert_eq!(
        api_message(err),
        (
            500,
            "cannot call exec: working directory \"/srv\" does not exist".into()
        )
    );
    assert!(pebble.model.ops.is_empty(), "refused execs never ran");
}

#[test]
fn exec_refuses_a_program_the_container_does_not_have() {
    let model = PebbleModel::new()
        .with_layer(
            "rock",
            layer("services:\n  web:\n    override: replace\n    command: /opt/app/serve --port 8000\n"),
        )
        .with_entry("/usr/local/bin/tool", FsEntry::file("#!/bin/sh\n").with_permissions("755"))
        .with_file("/usr/local/bin/notes", "not a program")
        .with_entry("/srv/bin/run", FsEntry::file("").with_permissions("700"))
        .with_executable("gunicorn")
        .with_executable("/usr/local/bin/uvicorn")
        .with_exec(ExecRule::exact(["migrate-db", "--all"]));
    let mut pebble = MemoryPebble::new(model);
    let mut run = |argv: &[&str]| pebble.exec(&ExecRequest::new(argv.iter().copied()));

    // Every rock's programs, on the daemon's PATH or by path, /bin being /usr/bin.
    for found in [
        &["python3", "-V"][..],
        &["/bin/python3"],
        &["/usr/bin/python3"],
        &["sh", "-c", "true"],
        &["/bin/cat"],
        // Listed programs: a bare name is in /usr/bin.
        &["gunicorn"],
        &["/bin/gunicorn"],
        &["uvicorn"],
        // What a service of the plan runs.
        &["/opt/app/serve"],
        // A file with an execute bit, on the PATH or by path (relative to /).
        &["tool"],
        &["/usr/local/bin/tool"],
        &["srv/bin/run"],
        &["/srv/../srv/bin/run"],
        // A command a rule answers.
        &["migrate-db", "--all"],
    ] {
        assert!(run(found).is_ok(), "{found:?} is installed");
    }
    for (missing, program) in [
        (&["nope"][..], "nope"),
        (&["/usr/local/bin/nope", "x"], "/usr/local/bin/nope"),
        // Not executable, not on the PATH, a directory, not what the rule answers.
        (&["notes"], "notes"),
        (&["/usr/local/bin/notes"], "/usr/local/bin/notes"),
        (&["run"], "run"),
        (&["/srv/bin"], "/srv/bin"),
        (&["migrate-db"], "migrate-db"),
        (&["serve"], "serve"),
        (&[""], ""),
    ] {
        let err = run(missing).unwrap_err();
        assert_eq!(
            api_message(err),
            (400, format!("cannot find executable {program:?}")),
            "{missing:?}"
        );
    }
    // The exec's own PATH does not matter: Pebble looks on its own.
    let mut request = ExecRequest::new(["tool"]);
    request.environment.insert("PATH".into(), "/nowhere".into());
    assert!(pebble.exec(&request).is_ok());
    let mut request = ExecRequest::new(["run"]);
    request.environment.insert("PATH".into(), "/srv/bin".into());
    assert!(pebble.exec(&request).is_err());

    // The program is checked first, and a refused exec never ran.
    let mut pebble = MemoryPebble::new(PebbleModel::new());
    let mut request = ExecRequest::new(["nope"]);
    request.user = Some("nobody".into());
    request.working_dir = Some("/nowhere".into());
    let (_, message) = api_message(pebble.exec(&request).unwrap_err());
    assert_eq!(message, "cannot find executable \"nope\"");
    assert!(pebble.model.ops.is_empty() && pebble.model.changes.is_empty());
}

#[test]
fn exec_refuses_unknown_users_and_groups() {
    let model = PebbleModel::new().with_user("app").with_dir("/srv");
    let mut pebble = MemoryPebble::new(PebbleModel {
        groups: BTreeSet::from(["staff".to_string()]),
        ..model
    });
    let mut exec_as = |user: Option<&str>, group: Option<&str>| {
        let mut request = ExecRequest::new(["ls"]);
        request.user = user.map(String::from);
        request.group = group.map(String::from);
        request.working_dir = Some("/srv".into());
        pebble.exec(&request).map(|_| ())
    };
    for (user, group) in [
        (None, None),
        (Some("root"), None),
        (Some("_daemon_"), Some("_daemon_")),
        (Some("app"), Some("app")),
        (Some("app"), Some("staff")),
        (Some("root"), Some("_daemon_")),
    ] {
        assert_eq!(exec_as(user, group), Ok(()), "{user:?} {group:?}");
    }
    for (user, group, message) in [
        (Some("bob"), None, "user: unknown user bob"),
        (Some("bob"), Some("staff"), "user: unknown user bob"),
        (Some("root"), Some("wheel"), "group: unknown group wheel"),
        (None, Some("wheel"), "group: unknown group wheel"),
        (None, Some("staff"), "must specify user, not just group"),
    ] {
        let err = exec_as(user, group).unwrap_err();
        assert_eq!(
            api_message(err),
            (400, message.to_string()),
            "{user:?} {group:?}"
        );
    }
    // A bad user comes before a missing working directory (a 500).
    let mut request = ExecRequest::new(["ls"]);
    request.user = Some("bob".into());
    request.working_dir = Some("/nowhere".into());
    let err = MemoryPebble::new(PebbleModel::new())
        .exec(&request)
        .unwrap_err();
    assert_eq!(api_message(err), (400, "user: unknown user bob".into()));
}

#[test]
fn exec_that_outlives_its_timeout_fails_its_change_with_its_output_so_far() {
    let model = PebbleModel::new().with_exec(
        ExecRule::prefix(["python3", "manage.py", "migrate"])
            .stdout("Applying blog.0001_initial...")
            .stderr("slow\n")
            .exit_code(0)
            .runs_for(Duration::from_secs(5)),
    );
    let mut pebble = MemoryPebble::new(model);
    let mut request = ExecRequest::new(["python3", "manage.py", "migrate"]);
    request.timeout = Some(Duration::from_millis(1500));

    // The model: the change fails, the output is what the command wrote.
    let (id, output) = pebble.model.exec(&request).unwrap();
    assert_eq!(
        output,
        ExecOutput {
            exit_code: -1,
            stdout: b"Applying blog.0001_initial...".to_vec(),
            stderr: b"slow\n".to_vec(),
        }
    );
    let change = pebble.model.change(&id).unwrap();
    assert_eq!(change.status, "Error");
    assert_eq!(
        change.err.as_deref(),
        Some(
            "cannot perform the following tasks:\n- Execute command \"python3\" \
             (timed out after 1.5s: context deadline exceeded)"
        )
    );
    assert_eq!(change.exit_code(), Some(-1));
    assert_eq!(change.tasks[0].status, "Error");

    // Through the Pebble trait it is a change error, like the real client's.
    let err = pebble.exec(&request).unwrap_err();
    assert!(
        matches!(&err, PebbleError::Change { err, .. } if err.contains("(timed out after 1.5s: context deadline exceeded)")),
        "{err:?}"
    );

    // Long enough, none, or zero (none to Pebble): the command finishes.
    for timeout in [Some(Duration::from_secs(6)), None, Some(Duration::ZERO)] {
        request.timeout = timeout;
        let output = pebble.exec(&request).unwrap();
        assert_eq!(output.exit_code, 0, "{timeout:?}");
    }
    // Exactly its run time is too short: the deadline comes first.
    request.timeout = Some(Duration::from_secs(5));
    assert!(pebble.exec(&request).is_err());
    // A command with no run time never times out.
    let mut quick = ExecRequest::new(["true"]);
    quick.timeout = Some(Duration::from_millis(1));
    assert!(pebble.exec(&quick).is_ok());
    assert_eq!(pebble.model.exec_commands().len(), 7, "every exec ran");
}

#[test]
fn service_context_supplies_env_user_and_dir() {
    let model = PebbleModel::new().with_layer(
        "l",
        layer("services:\n  web:\n    override: replace\n    command: /w\n    user: app\n    working-dir: /srv\n    environment: {A: svc, B: svc}\n"),
    );
    let mut request = ExecRequest::new(["env"]);
    request.environment.insert("B".into(), "mine".into());
    model.apply_service_context("web", &mut request).unwrap();
    assert_eq!(request.environment["A"], "svc");
    assert_eq!(request.environment["B"], "mine");
    assert_eq!(request.user.as_deref(), Some("app"));
    assert_eq!(request.working_dir.as_deref(), Some("/srv"));
    let err = model
        .apply_service_context("nope", &mut request)
        .unwrap_err();
    assert_eq!(
        api_message(err),
        (400, "context service \"nope\" not found".into())
    );
}

// ---------------------------------------------------------------------------------
// The model itself
// ---------------------------------------------------------------------------------

#[test]
fn a_model_reads_from_yaml_and_round_trips() {
    let text = r#"
layers:
  rock:
    services:
      django: {override: replace, command: /bin/django, startup: enabled}
  charm:
    services:
      django: {override: merge, environment: {A: "1"}}
services:
  django: {current: active}
files:
  /django/app/settings.py: {content: "DEBUG = False\n"}
  /django/blob: {content: {base64: "AP8="}, permissions: "600", user: app, group: app}
  /srv: {type: directory}
exec-rules:
  - {argv: [python3, manage.py, migrate], exit-code: 1, stderr: "no db"}
  - {argv: [python3], prefix: true, runs-for: 1m30s}
executables: [gunicorn, /opt/app/run]
users: [app]
groups: [staff]
failing-services: [worker]
"#;
    let mut model = PebbleModel::from_yaml(text).unwrap();
    let labels: Vec<&str> = model.layers.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(labels, ["rock", "charm"]);
    assert_eq!(model.plan().services["django"].environment["A"], "1");
    assert_eq!(model.files["/django/blob"].content.0, vec![0u8, 255]);
    assert_eq!(model.exec_rules[0].exit_code, 1);
    assert_eq!(model.exec_rules[1].runs_for, Some(Duration::from_secs(90)));
    assert!(model.finds_executable(&names(&["/bin/gunicorn"])));
    assert!(model.finds_executable(&names(&["/opt/app/run"])));
    assert!(model.has_user("app") && model.has_group("app") && model.has_group("staff"));
    assert!(model.failing_services.contains("worker"));
    assert_eq!(model.version, PEBBLE_VERSION);
    // Parents of listed paths exist once the model is used.
    assert!(model.list_files("/django", None, false).is_ok());
    assert!(model.files["/django/app"].is_dir());

    let again = PebbleModel::from_yaml(&model.to_yaml().unwrap()).unwrap();
    assert_eq!(again, model);

    // A used model (changes, exec data, binary pushes, every kind of op) round-trips
    // too, so simulate can save and reload one.
    model.service_action(ServiceAction::Replan, &[]).unwrap();
    model
        .write_file("/srv/bin", &[0, 159, 146, 150], &PushOptions::default())
        .unwrap();
    model
        .make_dir("/srv/d", &MakeDirOptions::default())
        .unwrap();
    model.remove_path("/srv/d", false).unwrap();
    model.exec(&ExecRequest::new(["python3", "-V"])).unwrap();
    model.send_signal("SIGHUP", &names(&["django"])).unwrap();
    let yaml = model.to_yaml().unwrap();
    assert_eq!(PebbleModel::from_yaml(&yaml).unwrap(), model, "{yaml}");
    let json = serde_json::to_string(&model).unwrap();
    assert_eq!(serde_json::from_str::<PebbleModel>(&json).unwrap(), model);
    assert!(PebbleModel::from_yaml("nonsense-key: 1\n").is_err());
    let err = PebbleModel::from_yaml("exec-rules: [{argv: [x], runs-for: \"5\"}]\n").unwrap_err();
    assert!(err.contains("invalid duration \"5\""), "{err}");
    // The defaults are not written out: a fresh model's YAML has no such keys.
    let fresh = PebbleModel::new().to_yaml().unwrap();
    assert!(
        !fresh.contains("executables") && !fresh.contains("users"),
        "{fresh}"
    );
}

#[test]
fn an_unreachable_pebble_cannot_connect() {
    let mut pebble = MemoryPebble::new(PebbleModel::new());
    assert!(pebble.can_connect());
    pebble.reachable = false;
    assert!(!pebble.can_connect());
    assert!(matches!(
        pebble.get_plan(),
        Err(PebbleError::CannotConnect { .. })
    ));
    assert!(matches!(
        pebble.add_layer("l", &Layer::default(), false),
        Err(PebbleError::CannotConnect { .. })
    ));
    assert!(pebble.model.ops.is_empty());
}

#[test]
fn services_compare_by_definition() {
    // started_with is compared with the normalised plan, so an equivalent duration
    // spelling does not restart the service.
    let mut model = PebbleModel::new()
        .with_layer("l", layer("services:\n  web:\n    override: replace\n    command: /w\n    startup: enabled\n    kill-delay: 60s\n"))
        .with_running_service("web");
    model
        .add_layer(
            "l2",
            &layer("services:\n  web:\n    override: merge\n    kill-delay: 1m\n"),
            false,
        )
        .unwrap();
    model.service_action(ServiceAction::Replan, &[]).unwrap();
    assert_eq!(model.services["web"].starts, 1);
}
