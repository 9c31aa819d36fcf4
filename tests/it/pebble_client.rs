//! End-to-end tests of the real Pebble client ([`PebbleClient`]) against the fake Pebble
//! server: every call goes over the unix socket in the real wire protocol (HTTP/1.1 with
//! JSON envelopes, multipart files, exec websockets), and each test checks both what the
//! client returned and what the server's model then holds.

use std::collections::BTreeMap;
use std::os::unix::net::UnixListener;

use django_charm::pebble::client::PebbleClient;
use django_charm::pebble::{
    ExecOutput, ExecRequest, FileOwnership, Layer, MakeDirOptions, Pebble, PebbleError,
    PushOptions, ServiceAction, ServiceInfo,
};
use django_charm::sim::pebble::{ExecRule, PebbleModel, PebbleOp, ServiceStatus};

use crate::harness::fake_pebble::{CONTAINER, FakePebble};

/// A fake Pebble serving `model` at `<dir>/django-app/pebble.socket`, and a client for
/// that container.
fn start(model: PebbleModel) -> (tempfile::TempDir, FakePebble, PebbleClient) {
    let (dir, fake) = FakePebble::start_in_temp_dir(model);
    let client = PebbleClient::for_container(dir.path(), CONTAINER).unwrap();
    (dir, fake, client)
}

fn layer(yaml: &str) -> Layer {
    Layer::from_yaml(yaml).unwrap()
}

fn names(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

fn service(name: &str, startup: &str, current: &str) -> ServiceInfo {
    ServiceInfo {
        name: name.to_string(),
        startup: startup.to_string(),
        current: current.to_string(),
    }
}

/// Two services, `django` started by replan/autostart and `worker` not.
const BASE: &str = "\
summary: base
services:
  django:
    override: replace
    command: /bin/gunicorn
    startup: enabled
    environment: {DJANGO_DEBUG: 'false'}
  worker:
    override: replace
    command: /bin/worker
    startup: disabled
";

fn base_model() -> PebbleModel {
    PebbleModel::new().with_layer("base", layer(BASE))
}

// ---------------------------------------------------------------------------------
// Connecting
// ---------------------------------------------------------------------------------

#[test]
fn system_info_reports_the_daemon_version_and_can_connect() {
    let (_dir, fake, mut client) = start(PebbleModel::new());
    assert_eq!(
        client.socket(),
        fake.socket_path(),
        "the container's socket is <dir>/<name>/pebble.socket"
    );
    let info = client.system_info().unwrap();
    assert_eq!(info.version, "v1.32.1");
    assert!(client.can_connect());

    fake.model().version = "v1.19.2".to_string();
    assert_eq!(client.system_info().unwrap().version, "v1.19.2");
}

#[test]
fn a_missing_socket_cannot_connect() {
    let dir = tempfile::tempdir().unwrap();
    let mut client = PebbleClient::for_container(dir.path(), CONTAINER).unwrap();
    let err = client.system_info().unwrap_err();
    match &err {
        PebbleError::CannotConnect { socket, .. } => {
            assert_eq!(socket, &dir.path().join(CONTAINER).join("pebble.socket"));
        }
        other => panic!("expected CannotConnect, got {other:?}"),
    }
    assert!(!err.is_not_found());
    assert!(!client.can_connect());
    assert!(matches!(
        client.get_plan(),
        Err(PebbleError::CannotConnect { .. })
    ));
    assert!(matches!(
        client.exec(&ExecRequest::new(["true"])),
        Err(PebbleError::CannotConnect { .. })
    ));
}

#[test]
fn a_stale_socket_nobody_listens_on_cannot_connect() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join(CONTAINER).join("pebble.socket");
    std::fs::create_dir_all(socket.parent().unwrap()).unwrap();
    // Bound and closed: the file stays behind but connections are refused.
    drop(UnixListener::bind(&socket).unwrap());
    assert!(socket.exists());
    let mut client = PebbleClient::for_container(dir.path(), CONTAINER).unwrap();
    assert!(
        matches!(client.system_info(), Err(PebbleError::CannotConnect { .. })),
        "a refused connection is CannotConnect"
    );
    assert!(!client.can_connect());
}

#[test]
fn the_client_follows_the_container_going_away_and_coming_back() {
    let (dir, fake, mut client) = start(base_model());
    client.service_action(ServiceAction::Replan, &[]).unwrap();
    assert!(client.can_connect());

    let model = fake.stop();
    assert!(!client.can_connect());

    let _fake = FakePebble::start(&dir.path().join(CONTAINER).join("pebble.socket"), model);
    let again = client.system_info();
    assert!(again.is_ok(), "the same client reconnects: {again:?}");
    let django = client.services(&names(&["django"])).unwrap();
    assert_eq!(django, [service("django", "enabled", "active")]);
}

// ---------------------------------------------------------------------------------
// Layers and the plan
// ---------------------------------------------------------------------------------

#[test]
fn get_plan_combines_the_models_layers() {
    let model = base_model().with_layer(
        "extra",
        layer(
            "services:\n  django:\n    override: merge\n    environment: {DJANGO_ALLOWED_HOSTS: '*'}\n    kill-delay: 60s\n",
        ),
    );
    let (_dir, _fake, mut client) = start(model);
    let plan = client.get_plan().unwrap();
    assert_eq!(
        plan.services.keys().collect::<Vec<_>>(),
        ["django", "worker"]
    );
    let django = &plan.services["django"];
    assert_eq!(django.command.as_deref(), Some("/bin/gunicorn"));
    assert_eq!(django.startup.as_deref(), Some("enabled"));
    assert_eq!(
        django.environment,
        BTreeMap::from([
            ("DJANGO_ALLOWED_HOSTS".to_string(), "*".to_string()),
            ("DJANGO_DEBUG".to_string(), "false".to_string()),
        ])
    );
    // Durations come back in Go's `Duration.String()` form.
    assert_eq!(django.kill_delay.as_deref(), Some("1m0s"));
    assert_eq!(plan.summary, None, "a plan has no summary");
    assert!(plan.checks.is_empty());
}

#[test]
fn get_plan_of_an_empty_model_is_empty() {
    let (_dir, _fake, mut client) = start(PebbleModel::new());
    assert_eq!(client.get_plan().unwrap(), Layer::default());
}

const WITH_DEPENDENCIES: &str = "\
services:
  django:
    override: replace
    command: /bin/gunicorn
    startup: enabled
    user: app
    working-dir: /srv
    after: [statsd]
    requires: [statsd]
    environment: {A: '1', B: '2'}
  statsd:
    override: replace
    command: /bin/statsd
  nginx:
    override: replace
    command: /bin/nginx
";

#[test]
fn add_layer_with_combine_merges_into_the_existing_label() {
    let model = PebbleModel::new().with_layer("django", layer(WITH_DEPENDENCIES));
    let (_dir, fake, mut client) = start(model);
    let merge = layer(
        "services:\n  django:\n    override: merge\n    environment: {B: 'two', C: '3'}\n    after: [nginx]\n    requires: [nginx]\n",
    );
    client.add_layer("django", &merge, true).unwrap();

    let plan = client.get_plan().unwrap();
    let django = &plan.services["django"];
    assert_eq!(
        django.environment,
        BTreeMap::from([
            ("A".to_string(), "1".to_string()),
            ("B".to_string(), "two".to_string()),
            ("C".to_string(), "3".to_string()),
        ]),
        "new keys are added and existing ones overwritten"
    );
    assert_eq!(django.after, ["statsd", "nginx"], "lists are appended");
    assert_eq!(django.requires, ["statsd", "nginx"]);
    assert_eq!(django.command.as_deref(), Some("/bin/gunicorn"), "kept");
    assert_eq!(django.user.as_deref(), Some("app"), "kept");
    assert_eq!(django.working_dir.as_deref(), Some("/srv"), "kept");

    let model = fake.model();
    assert_eq!(
        model.layers.len(),
        1,
        "merged into the layer of the same label"
    );
    assert_eq!(model.layers[0].0, "django");
    assert_eq!(model.plan(), plan);
    assert!(matches!(
        model.ops.last(),
        Some(PebbleOp::AddLayer { label, combine: true, layer })
            if label == "django" && layer.services["django"].environment["C"] == "3"
    ));
}

#[test]
fn add_layer_with_replace_drops_the_earlier_definition() {
    let model = PebbleModel::new().with_layer("django", layer(WITH_DEPENDENCIES));
    let (_dir, fake, mut client) = start(model);
    let replace = layer(
        "services:\n  django:\n    override: replace\n    command: /bin/uvicorn\n    environment: {C: '3'}\n",
    );
    // combine=true with a new label appends the layer on top.
    client.add_layer("override", &replace, true).unwrap();

    let plan = client.get_plan().unwrap();
    let django = &plan.services["django"];
    assert_eq!(django.command.as_deref(), Some("/bin/uvicorn"));
    assert_eq!(
        django.environment,
        BTreeMap::from([("C".to_string(), "3".to_string())])
    );
    assert_eq!(django.startup, None, "startup: enabled is gone");
    assert_eq!(django.user, None);
    assert_eq!(django.working_dir, None);
    assert!(django.after.is_empty());
    assert!(django.requires.is_empty());
    assert_eq!(
        plan.services["statsd"].command.as_deref(),
        Some("/bin/statsd"),
        "other services are untouched"
    );
    let labels: Vec<String> = fake.model().layers.iter().map(|(l, _)| l.clone()).collect();
    assert_eq!(labels, ["django", "override"]);
}

#[test]
fn add_layer_without_combine_on_an_existing_label_is_refused() {
    let (_dir, fake, mut client) = start(base_model());
    let before = client.get_plan().unwrap();
    let again = layer("services:\n  django:\n    override: replace\n    command: /bin/other\n");
    let err = client.add_layer("base", &again, false).unwrap_err();
    match &err {
        PebbleError::Api {
            status,
            what,
            message,
            ..
        } => {
            assert_eq!(*status, 400);
            assert_eq!(what, "POST /v1/layers");
            assert_eq!(message, "layer \"base\" already exists");
        }
        other => panic!("expected an API error, got {other:?}"),
    }
    assert_eq!(client.get_plan().unwrap(), before, "the plan is unchanged");
    assert_eq!(fake.model().layers.len(), 1);

    // A new label without combine is fine, and lands on top.
    client.add_layer("other", &again, false).unwrap();
    assert_eq!(
        client.get_plan().unwrap().services["django"]
            .command
            .as_deref(),
        Some("/bin/other")
    );
}

#[test]
fn add_layer_without_override_is_refused_with_pebbles_message() {
    let (_dir, fake, mut client) = start(base_model());
    let before = client.get_plan().unwrap();
    let missing = layer("services:\n  web:\n    command: /bin/web\n");
    assert_eq!(missing.services["web"].override_, None);
    let err = client.add_layer("extra", &missing, true).unwrap_err();
    assert!(
        matches!(
            &err,
            PebbleError::Api { status: 400, message, .. }
                if message == "layer \"extra\" must define \"override\" for service \"web\""
        ),
        "{err:?}"
    );
    assert_eq!(client.get_plan().unwrap(), before);
    let labels: Vec<String> = fake.model().layers.iter().map(|(l, _)| l.clone()).collect();
    assert_eq!(labels, ["base"], "the refused layer was not added");
}

#[test]
fn add_layer_with_an_invalid_combined_plan_is_refused() {
    let (_dir, _fake, mut client) = start(PebbleModel::new());
    // Valid on its own terms, but the plan needs a command.
    let no_command = layer("services:\n  web:\n    override: merge\n    startup: enabled\n");
    let err = client.add_layer("web", &no_command, true).unwrap_err();
    assert!(
        matches!(
            &err,
            PebbleError::Api { status: 400, message, .. }
                if message == "plan must define \"command\" for service \"web\""
        ),
        "{err:?}"
    );
    assert_eq!(client.get_plan().unwrap(), Layer::default());
}

// ---------------------------------------------------------------------------------
// Services
// ---------------------------------------------------------------------------------

#[test]
fn services_lists_the_plans_services_with_their_state() {
    let (_dir, _fake, mut client) = start(base_model().with_running_service("django"));
    assert_eq!(
        client.services(&[]).unwrap(),
        [
            service("django", "enabled", "active"),
            service("worker", "disabled", "inactive"),
        ]
    );
    assert_eq!(
        client.services(&names(&["worker", "nope"])).unwrap(),
        [service("worker", "disabled", "inactive")],
        "unknown names are left out"
    );
    assert!(client.services(&[]).unwrap()[0].is_running());
}

#[test]
fn start_and_stop_change_the_services_state() {
    let (_dir, fake, mut client) = start(base_model());
    let change = client
        .service_action(ServiceAction::Start, &names(&["worker"]))
        .unwrap();
    assert_eq!(change.kind, "start");
    assert_eq!(change.status, "Done");
    assert_eq!(change.summary, "Start service \"worker\"");
    assert!(!change.id.is_empty());
    assert_eq!(fake.model().service_status("worker"), ServiceStatus::Active);
    assert_eq!(
        fake.model().service_status("django"),
        ServiceStatus::Inactive,
        "only the named service"
    );
    assert!(client.services(&names(&["worker"])).unwrap()[0].is_running());

    let change = client
        .service_action(ServiceAction::Stop, &names(&["worker"]))
        .unwrap();
    assert_eq!(change.kind, "stop");
    assert_eq!(change.status, "Done");
    assert_eq!(
        fake.model().service_status("worker"),
        ServiceStatus::Inactive
    );
    assert_eq!(
        client.services(&names(&["worker"])).unwrap(),
        [service("worker", "disabled", "inactive")]
    );
}

#[test]
fn start_of_an_unknown_service_is_an_api_error() {
    let (_dir, _fake, mut client) = start(base_model());
    let err = client
        .service_action(ServiceAction::Start, &names(&["nope"]))
        .unwrap_err();
    assert!(
        matches!(
            &err,
            PebbleError::Api { status: 400, message, .. }
                if message == "cannot start services: service \"nope\" does not exist"
        ),
        "{err:?}"
    );
}

#[test]
fn restart_stops_and_starts_a_running_service() {
    let (_dir, fake, mut client) = start(base_model().with_running_service("django"));
    assert_eq!(fake.model().services["django"].starts, 1);
    let change = client
        .service_action(ServiceAction::Restart, &names(&["django"]))
        .unwrap();
    assert_eq!(change.kind, "restart");
    assert_eq!(change.status, "Done");
    let model = fake.model();
    assert_eq!(model.service_status("django"), ServiceStatus::Active);
    assert_eq!(model.services["django"].starts, 2, "started again");
    let kinds: Vec<&str> = model
        .change(&change.id)
        .unwrap()
        .tasks
        .iter()
        .map(|t| t.kind.as_str())
        .collect();
    assert_eq!(kinds, ["stop", "start"]);
}

#[test]
fn restart_of_a_stopped_service_starts_it() {
    let (_dir, fake, mut client) = start(base_model());
    let change = client
        .service_action(ServiceAction::Restart, &names(&["worker"]))
        .unwrap();
    assert_eq!(change.kind, "restart");
    let model = fake.model();
    assert_eq!(model.service_status("worker"), ServiceStatus::Active);
    assert_eq!(model.services["worker"].starts, 1);
}

#[test]
fn replan_starts_enabled_services_and_restarts_changed_ones() {
    let (_dir, fake, mut client) = start(base_model());
    let change = client.service_action(ServiceAction::Replan, &[]).unwrap();
    assert_eq!(change.kind, "replan");
    assert_eq!(change.summary, "Replan service \"django\"");
    {
        let model = fake.model();
        assert_eq!(model.service_status("django"), ServiceStatus::Active);
        assert_eq!(
            model.service_status("worker"),
            ServiceStatus::Inactive,
            "startup: disabled is not started"
        );
        assert_eq!(model.services["django"].starts, 1);
    }

    // Nothing changed: replan leaves the running service alone.
    client.service_action(ServiceAction::Replan, &[]).unwrap();
    assert_eq!(fake.model().services["django"].starts, 1);

    // A changed definition is restarted by the next replan, and only then.
    let update = layer(
        "services:\n  django:\n    override: merge\n    environment: {DJANGO_DEBUG: 'true'}\n",
    );
    client.add_layer("base", &update, true).unwrap();
    assert_eq!(
        fake.model().services["django"].starts,
        1,
        "adding a layer starts nothing"
    );
    client.service_action(ServiceAction::Replan, &[]).unwrap();
    let model = fake.model();
    assert_eq!(model.services["django"].starts, 2);
    assert_eq!(
        model.services["django"]
            .started_with
            .as_ref()
            .unwrap()
            .environment["DJANGO_DEBUG"],
        "true",
        "running the new definition"
    );
}

#[test]
fn autostart_starts_the_enabled_services() {
    let (_dir, fake, mut client) = start(base_model());
    let change = client
        .service_action(ServiceAction::Autostart, &[])
        .unwrap();
    assert_eq!(change.kind, "autostart");
    assert_eq!(fake.model().service_status("django"), ServiceStatus::Active);
    assert_eq!(
        fake.model().service_status("worker"),
        ServiceStatus::Inactive
    );
}

#[test]
fn autostart_without_enabled_services_is_refused() {
    let model = PebbleModel::new().with_layer(
        "base",
        layer("services:\n  worker:\n    override: replace\n    command: /bin/worker\n"),
    );
    let (_dir, _fake, mut client) = start(model);
    let err = client
        .service_action(ServiceAction::Autostart, &[])
        .unwrap_err();
    assert_eq!(
        err,
        PebbleError::Api {
            status: 400,
            what: "POST /v1/services".to_string(),
            message: "no default services".to_string(),
            kind: Some("no-default-services".to_string()),
        }
    );
}

#[test]
fn a_service_that_fails_to_start_is_a_change_error() {
    let (_dir, fake, mut client) = start(base_model().with_failing_service("django"));
    let err = client
        .service_action(ServiceAction::Start, &names(&["django"]))
        .unwrap_err();
    let PebbleError::Change { id, err: text, .. } = &err else {
        panic!("expected a change error, got {err:?}");
    };
    assert!(
        text.contains("cannot perform the following tasks"),
        "{text}"
    );
    assert!(text.contains("Start service \"django\""), "{text}");
    assert!(text.contains("exited quickly with code 1"), "{text}");
    let model = fake.model();
    assert_eq!(model.service_status("django"), ServiceStatus::Backoff);
    assert_eq!(model.change(id).unwrap().status, "Error");
}

#[test]
fn a_replan_whose_service_fails_is_a_change_error() {
    let (_dir, fake, mut client) = start(base_model().with_failing_service("django"));
    let err = client
        .service_action(ServiceAction::Replan, &[])
        .unwrap_err();
    assert!(
        matches!(&err, PebbleError::Change { err, .. } if err.contains("exited quickly")),
        "{err:?}"
    );
    assert_ne!(fake.model().service_status("django"), ServiceStatus::Active);
}

// ---------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------

#[test]
fn push_then_pull_round_trips_with_permissions_and_owner() {
    let (_dir, fake, mut client) = start(PebbleModel::new().with_dir("/srv/app"));
    // Bytes that would trip a careless multipart writer or reader: a CRLF and dashes
    // like a delimiter, a NUL, invalid UTF-8, and no final newline.
    let mut content = b"SECRET_KEY = 'x'\r\n--\r\n--boundary\r\n\0".to_vec();
    content.extend_from_slice(&[0xff, 0xfe, b'e', b'n', b'd']);
    let options = PushOptions {
        make_dirs: false,
        ownership: FileOwnership {
            permissions: Some("600".to_string()),
            user: Some("_daemon_".to_string()),
            group: Some("_daemon_".to_string()),
            ..Default::default()
        },
    };
    client
        .push("/srv/app/settings.py", &content, &options)
        .unwrap();

    {
        let model = fake.model();
        let entry = &model.files["/srv/app/settings.py"];
        assert!(!entry.is_dir());
        assert_eq!(entry.content.as_bytes(), content.as_slice());
        assert_eq!(entry.permissions.as_deref(), Some("600"));
        assert_eq!(entry.user.as_deref(), Some("_daemon_"));
        assert_eq!(entry.group.as_deref(), Some("_daemon_"));
    }
    assert_eq!(client.pull("/srv/app/settings.py").unwrap(), content);

    let listed = client
        .list_files("/srv/app/settings.py", None, false)
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].permissions, "600");
    assert_eq!(listed[0].user.as_deref(), Some("_daemon_"));
    assert_eq!(listed[0].group.as_deref(), Some("_daemon_"));
    assert_eq!(listed[0].size, Some(content.len() as u64));

    // Pushing again replaces the content.
    client
        .push(
            "/srv/app/settings.py",
            b"DEBUG = False\n",
            &PushOptions::default(),
        )
        .unwrap();
    assert_eq!(
        client.pull("/srv/app/settings.py").unwrap(),
        b"DEBUG = False\n"
    );
    assert_eq!(
        fake.model().files["/srv/app/settings.py"].permissions,
        None,
        "default permissions (644) this time"
    );
}

#[test]
fn push_and_pull_handle_odd_file_names_and_large_files() {
    let (_dir, fake, mut client) = start(PebbleModel::new().with_dir("/srv"));
    // Quotes, a backslash, spaces, a semicolon and non-ASCII in the multipart filename.
    let odd = "/srv/a \"quoted\"; na\\me – ünï.txt";
    client.push(odd, b"odd\n", &PushOptions::default()).unwrap();
    assert_eq!(fake.model().file_text(odd), Some("odd\n"));
    assert_eq!(client.pull(odd).unwrap(), b"odd\n");
    assert!(client.exists(odd).unwrap());

    // Several MiB, every byte value.
    let big: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    client
        .push("/srv/big.bin", &big, &PushOptions::default())
        .unwrap();
    assert!(fake.model().files["/srv/big.bin"].content.as_bytes() == big.as_slice());
    let pulled = client.pull("/srv/big.bin").unwrap();
    assert_eq!(pulled.len(), big.len());
    assert!(pulled == big, "the pulled bytes differ");
}

#[test]
fn push_writes_permissions_as_pebbles_three_octal_digits() {
    let (_dir, fake, mut client) = start(PebbleModel::new().with_dir("/srv"));
    for (given, sent) in [("0640", "640"), ("755", "755"), ("44", "044")] {
        let options = PushOptions {
            ownership: FileOwnership {
                permissions: Some(given.to_string()),
                ..Default::default()
            },
            ..Default::default()
        };
        client.push("/srv/f", b"x", &options).unwrap();
        assert_eq!(
            fake.model().files["/srv/f"].permissions.as_deref(),
            Some(sent),
            "{given}"
        );
    }
    let options = PushOptions {
        ownership: FileOwnership {
            permissions: Some("rw-r--r--".to_string()),
            ..Default::default()
        },
        ..Default::default()
    };
    let err = client.push("/srv/g", b"x", &options).unwrap_err();
    assert!(matches!(err, PebbleError::Path { .. }), "{err:?}");
    assert!(!fake.model().files.contains_key("/srv/g"));
}

#[test]
fn push_with_make_dirs_creates_the_missing_parents() {
    let (_dir, fake, mut client) = start(PebbleModel::new());
    let options = PushOptions {
        make_dirs: true,
        ownership: FileOwnership {
            user_id: Some(584792),
            group_id: Some(584792),
            ..Default::default()
        },
    };
    client
        .push(
            "/django/app/conf/gunicorn.conf.py",
            b"bind = ':8000'\n",
            &options,
        )
        .unwrap();
    let model = fake.model();
    for dir in ["/django", "/django/app", "/django/app/conf"] {
        assert!(model.files[dir].is_dir(), "{dir} was created");
    }
    assert_eq!(
        model.file_text("/django/app/conf/gunicorn.conf.py"),
        Some("bind = ':8000'\n")
    );
    assert_eq!(
        model.files["/django/app/conf/gunicorn.conf.py"].user_id,
        Some(584792)
    );
    assert!(matches!(
        model.ops.last(),
        Some(PebbleOp::Push { path, make_dirs: true, user_id: Some(584792), .. })
            if path == "/django/app/conf/gunicorn.conf.py"
    ));
}

#[test]
fn push_without_make_dirs_into_a_missing_directory_is_not_found() {
    let (_dir, fake, mut client) = start(PebbleModel::new());
    let err = client
        .push("/missing/dir/file.txt", b"x", &PushOptions::default())
        .unwrap_err();
    match &err {
        PebbleError::Path {
            path,
            kind,
            message,
        } => {
            assert_eq!(path, "/missing/dir/file.txt");
            assert_eq!(kind, "not-found");
            assert!(message.contains("no such file or directory"), "{message}");
        }
        other => panic!("expected a path error, got {other:?}"),
    }
    assert!(err.is_not_found());
    assert!(fake.model().files.is_empty(), "nothing was written");
}

#[test]
fn pull_of_a_missing_file_is_not_found() {
    let (_dir, _fake, mut client) = start(PebbleModel::new().with_dir("/srv"));
    let err = client.pull("/srv/nope").unwrap_err();
    assert_eq!(
        err,
        PebbleError::Path {
            path: "/srv/nope".to_string(),
            kind: "not-found".to_string(),
            message: "stat /srv/nope: no such file or directory".to_string(),
        }
    );
    assert!(err.is_not_found());
}

#[test]
fn pull_of_a_directory_is_a_file_error() {
    let (_dir, _fake, mut client) = start(PebbleModel::new().with_dir("/srv"));
    let err = client.pull("/srv").unwrap_err();
    assert!(
        matches!(&err, PebbleError::Path { kind, message, .. }
            if kind == "generic-file-error" && message.contains("can only read a regular file")),
        "{err:?}"
    );
    assert!(!err.is_not_found());
}

#[test]
fn list_files_lists_a_directory_filters_and_lists_itself() {
    let model = PebbleModel::new()
        .with_file("/srv/app/manage.py", "#!/usr/bin/env python3\n")
        .with_file("/srv/app/settings.py", "DEBUG = False\n")
        .with_file("/srv/app/README", "hello")
        .with_dir("/srv/app/static");
    let (_dir, _fake, mut client) = start(model);

    let entries = client.list_files("/srv/app", None, false).unwrap();
    let mut listed: Vec<(String, String, Option<u64>)> = entries
        .iter()
        .map(|e| (e.name.clone(), e.kind.clone(), e.size))
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            ("README".to_string(), "file".to_string(), Some(5)),
            ("manage.py".to_string(), "file".to_string(), Some(23)),
            ("settings.py".to_string(), "file".to_string(), Some(14)),
            ("static".to_string(), "directory".to_string(), None),
        ]
    );
    let manage = entries.iter().find(|e| e.name == "manage.py").unwrap();
    assert_eq!(manage.path, "/srv/app/manage.py");
    assert_eq!(manage.permissions, "644");
    assert_eq!(manage.user.as_deref(), Some("root"));
    assert_eq!(manage.group.as_deref(), Some("root"));

    let python: Vec<String> = client
        .list_files("/srv/app", Some("*.py"), false)
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    let mut python = python;
    python.sort();
    assert_eq!(python, ["manage.py", "settings.py"]);

    let itself = client.list_files("/srv/app", None, true).unwrap();
    assert_eq!(itself.len(), 1);
    assert_eq!(itself[0].path, "/srv/app");
    assert_eq!(itself[0].kind, "directory");
    assert_eq!(itself[0].permissions, "755");

    assert!(
        client
            .list_files("/srv/app/static", None, false)
            .unwrap()
            .is_empty(),
        "an empty directory lists nothing"
    );

    let err = client.list_files("/srv/nope", None, false).unwrap_err();
    assert!(
        matches!(&err, PebbleError::Api { status: 404, kind: Some(kind), .. } if kind == "not-found"),
        "{err:?}"
    );
    assert!(err.is_not_found());
}

#[test]
fn exists_is_true_for_files_and_directories_and_false_otherwise() {
    let model = PebbleModel::new().with_file("/srv/app/manage.py", "x");
    let (_dir, _fake, mut client) = start(model);
    assert!(client.exists("/srv/app/manage.py").unwrap());
    assert!(client.exists("/srv/app").unwrap());
    assert!(client.exists("/").unwrap());
    assert!(!client.exists("/srv/app/nope.py").unwrap());
    assert!(!client.exists("/nowhere/at/all").unwrap());
}

#[test]
fn make_dir_creates_directories_with_owner_and_permissions() {
    let (_dir, fake, mut client) = start(PebbleModel::new().with_dir("/srv"));
    client
        .make_dir("/srv/static", &MakeDirOptions::default())
        .unwrap();
    assert!(fake.model().files["/srv/static"].is_dir());

    let options = MakeDirOptions {
        make_parents: true,
        ownership: FileOwnership {
            permissions: Some("750".to_string()),
            user: Some("_daemon_".to_string()),
            group: Some("_daemon_".to_string()),
            ..Default::default()
        },
    };
    client
        .make_dir("/srv/media/uploads/2024", &options)
        .unwrap();
    {
        let model = fake.model();
        let created = &model.files["/srv/media/uploads/2024"];
        assert!(created.is_dir());
        assert_eq!(created.permissions.as_deref(), Some("750"));
        assert_eq!(created.user.as_deref(), Some("_daemon_"));
        assert_eq!(created.group.as_deref(), Some("_daemon_"));
        assert!(model.files["/srv/media/uploads"].is_dir());
    }
    assert!(client.exists("/srv/media/uploads/2024").unwrap());

    // An existing directory is fine with make-parents...
    client.make_dir("/srv/media", &options).unwrap();
    // ...and an error without.
    let err = client
        .make_dir("/srv/media", &MakeDirOptions::default())
        .unwrap_err();
    assert!(
        matches!(&err, PebbleError::Path { path, kind, message }
            if path == "/srv/media" && kind == "generic-file-error" && message.contains("file exists")),
        "{err:?}"
    );
    // A missing parent without make-parents is not found.
    let err = client
        .make_dir("/opt/a/b", &MakeDirOptions::default())
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert!(!fake.model().files.contains_key("/opt/a/b"));
}

#[test]
fn remove_path_removes_files_and_trees_only_when_recursive() {
    let model = PebbleModel::new()
        .with_file("/srv/app/manage.py", "x")
        .with_file("/srv/app/static/app.css", "body {}")
        .with_file("/srv/keep.txt", "keep");
    let (_dir, fake, mut client) = start(model);

    // A file goes without recursive.
    client.remove_path("/srv/app/manage.py", false).unwrap();
    assert!(!fake.model().files.contains_key("/srv/app/manage.py"));
    assert!(!client.exists("/srv/app/manage.py").unwrap());

    // A non-empty directory needs recursive.
    let err = client.remove_path("/srv/app", false).unwrap_err();
    assert!(
        matches!(&err, PebbleError::Path { kind, message, .. }
            if kind == "generic-file-error" && message.contains("directory not empty")),
        "{err:?}"
    );
    assert!(fake.model().files.contains_key("/srv/app/static/app.css"));

    client.remove_path("/srv/app", true).unwrap();
    {
        let model = fake.model();
        assert!(
            !model.files.keys().any(|k| k.starts_with("/srv/app")),
            "{:?}",
            model.files.keys().collect::<Vec<_>>()
        );
        assert_eq!(model.file_text("/srv/keep.txt"), Some("keep"));
    }

    // A missing path: an error unless recursive.
    let err = client.remove_path("/srv/app", false).unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    client.remove_path("/srv/app", true).unwrap();

    // An empty directory goes without recursive.
    client
        .make_dir("/srv/empty", &MakeDirOptions::default())
        .unwrap();
    client.remove_path("/srv/empty", false).unwrap();
    assert!(!client.exists("/srv/empty").unwrap());
}

// ---------------------------------------------------------------------------------
// Exec
// ---------------------------------------------------------------------------------

fn migrate_rule() -> ExecRule {
    ExecRule::exact(["python3", "manage.py", "migrate"])
        .exit_code(1)
        .stdout("Operations to perform:\n")
        .stderr("django.db.utils.OperationalError: no such table\n")
}

#[test]
fn exec_reports_a_non_zero_exit_with_split_stdout_and_stderr() {
    let (_dir, fake, mut client) = start(PebbleModel::new().with_exec(migrate_rule()));
    let output = client
        .exec(&ExecRequest::new(["python3", "manage.py", "migrate"]))
        .unwrap();
    assert_eq!(
        output,
        ExecOutput {
            exit_code: 1,
            stdout: b"Operations to perform:\n".to_vec(),
            stderr: b"django.db.utils.OperationalError: no such table\n".to_vec(),
        }
    );
    assert!(!output.success());
    let model = fake.model();
    assert_eq!(model.exec_commands(), [["python3", "manage.py", "migrate"]]);
    let change = model.changes.last().unwrap();
    assert_eq!(change.kind, "exec");
    assert_eq!(
        change.status, "Done",
        "a non-zero exit is not a change error"
    );
    assert_eq!(change.exit_code(), Some(1));
}

#[test]
fn exec_without_split_stderr_merges_it_into_stdout() {
    let (_dir, _fake, mut client) = start(PebbleModel::new().with_exec(migrate_rule()));
    let mut request = ExecRequest::new(["python3", "manage.py", "migrate"]);
    request.split_stderr = false;
    let output = client.exec(&request).unwrap();
    assert_eq!(output.exit_code, 1);
    assert_eq!(
        output.stdout,
        b"Operations to perform:\ndjango.db.utils.OperationalError: no such table\n"
    );
    assert!(output.stderr.is_empty());
}

#[test]
fn exec_of_an_unscripted_command_succeeds_with_no_output() {
    let (_dir, _fake, mut client) = start(PebbleModel::new());
    let output = client.exec(&ExecRequest::new(["true"])).unwrap();
    assert_eq!(output, ExecOutput::default());
    assert!(output.success());
}

#[test]
fn exec_feeds_stdin_through() {
    let model = PebbleModel::new().with_exec(ExecRule::exact(["cat"]).stdout("> ").echo_stdin());
    let (_dir, fake, mut client) = start(model);
    let mut request = ExecRequest::new(["cat"]);
    request.stdin = b"yes\n".to_vec();
    let output = client.exec(&request).unwrap();
    assert_eq!(output.exit_code, 0);
    assert_eq!(output.stdout, b"> yes\n");
    assert!(output.stderr.is_empty());

    // Larger than one stdin frame (64 KiB) and than one output frame of the fake.
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    request.stdin = big.clone();
    let output = client.exec(&request).unwrap();
    let mut expected = b"> ".to_vec();
    expected.extend_from_slice(&big);
    assert_eq!(output.stdout.len(), expected.len());
    assert!(output.stdout == expected, "stdout differs from stdin");

    let model = fake.model();
    let stdins: Vec<usize> = model
        .ops
        .iter()
        .filter_map(|op| match op {
            PebbleOp::Exec { stdin, .. } => Some(stdin.as_bytes().len()),
            _ => None,
        })
        .collect();
    assert_eq!(stdins, [4, 200_000]);
}

#[test]
fn exec_passes_environment_working_dir_user_and_group() {
    let model = PebbleModel::new()
        .with_dir("/django/app")
        .with_exec(ExecRule::prefix(["python3"]).stdout("ok\n"));
    let (_dir, fake, mut client) = start(model);
    let mut request = ExecRequest::new(["python3", "manage.py", "check"]);
    request.environment = BTreeMap::from([
        ("DJANGO_SECRET_KEY".to_string(), "s3cr3t".to_string()),
        ("DJANGO_DEBUG".to_string(), "false".to_string()),
    ]);
    request.working_dir = Some("/django/app".to_string());
    request.user = Some("_daemon_".to_string());
    request.group = Some("_daemon_".to_string());
    request.timeout = Some(std::time::Duration::from_secs(10));
    let output = client.exec(&request).unwrap();
    assert_eq!(output.stdout, b"ok\n");

    let model = fake.model();
    let Some(PebbleOp::Exec {
        command,
        environment,
        working_dir,
        user,
        group,
        stdin,
    }) = model.ops.last()
    else {
        panic!("no exec logged: {:?}", model.ops);
    };
    assert_eq!(command, &["python3", "manage.py", "check"]);
    assert_eq!(environment, &request.environment);
    assert_eq!(working_dir.as_deref(), Some("/django/app"));
    assert_eq!(user.as_deref(), Some("_daemon_"));
    assert_eq!(group.as_deref(), Some("_daemon_"));
    assert!(stdin.is_empty());
}

#[test]
fn exec_in_a_missing_working_dir_is_an_api_error() {
    let (_dir, fake, mut client) = start(PebbleModel::new());
    let mut request = ExecRequest::new(["ls"]);
    request.working_dir = Some("/nowhere".to_string());
    let err = client.exec(&request).unwrap_err();
    assert!(
        matches!(&err, PebbleError::Api { status: 500, what, message, .. }
            if what == "POST /v1/exec"
                && message == "cannot call exec: working directory \"/nowhere\" does not exist"),
        "{err:?}"
    );
    assert!(fake.model().exec_commands().is_empty(), "nothing ran");
}

#[test]
fn exec_of_a_missing_program_is_an_api_error_with_pebbles_message() {
    let (_dir, fake, mut client) = start(PebbleModel::new());
    let err = client
        .exec(&ExecRequest::new(["gunicorn", "--version"]))
        .unwrap_err();
    assert_eq!(
        err,
        PebbleError::Api {
            status: 400,
            what: "POST /v1/exec".into(),
            message: "cannot find executable \"gunicorn\"".into(),
            kind: None,
        }
    );
    assert_eq!(
        err.to_string(),
        "Pebble API error 400 on POST /v1/exec: cannot find executable \"gunicorn\""
    );
    assert!(fake.model().exec_commands().is_empty(), "nothing ran");
}

#[test]
fn exec_as_an_unknown_user_or_group_is_an_api_error() {
    let (_dir, fake, mut client) = start(PebbleModel::new());
    let mut request = ExecRequest::new(["python3", "manage.py", "migrate"]);
    request.user = Some("django".to_string());
    let err = client.exec(&request).unwrap_err();
    assert!(
        matches!(&err, PebbleError::Api { status: 400, what, message, .. }
            if what == "POST /v1/exec" && message == "user: unknown user django"),
        "{err:?}"
    );
    request.user = Some("_daemon_".to_string());
    request.group = Some("django".to_string());
    let err = client.exec(&request).unwrap_err();
    assert!(
        matches!(&err, PebbleError::Api { status: 400, message, .. }
            if message == "group: unknown group django"),
        "{err:?}"
    );
    assert!(fake.model().exec_commands().is_empty(), "nothing ran");
}

#[test]
fn exec_past_its_timeout_is_a_change_error_with_pebbles_message() {
    let model = PebbleModel::new().with_exec(
        migrate_rule()
            .exit_code(0)
            .runs_for(std::time::Duration::from_secs(30)),
    );
    let (_dir, fake, mut client) = start(model);
    let mut request = ExecRequest::new(["python3", "manage.py", "migrate"]);
    request.timeout = Some(std::time::Duration::from_millis(300));
    let started = std::time::Instant::now();
    let err = client.exec(&request).unwrap_err();
    let PebbleError::Change { id, err, .. } = &err else {
        panic!("expected a change error, got {err:?}");
    };
    assert_eq!(
        err,
        "cannot perform the following tasks:\n- Execute command \"python3\" \
         (timed out after 300ms: context deadline exceeded)"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    let model = fake.model();
    assert_eq!(model.change(id).unwrap().exit_code(), Some(-1));
    assert_eq!(model.exec_commands(), [["python3", "manage.py", "migrate"]]);
}

// ---------------------------------------------------------------------------------
// Signals and checks
// ---------------------------------------------------------------------------------

#[test]
fn send_signal_reaches_a_running_service() {
    let (_dir, fake, mut client) = start(base_model().with_running_service("django"));
    client.send_signal("SIGHUP", &names(&["django"])).unwrap();
    let model = fake.model();
    assert_eq!(
        model.ops.last(),
        Some(&PebbleOp::Signal {
            signal: "SIGHUP".to_string(),
            services: names(&["django"]),
        })
    );
    assert_eq!(
        model.service_status("django"),
        ServiceStatus::Active,
        "still running"
    );
}

#[test]
fn send_signal_to_a_stopped_service_is_an_error() {
    let (_dir, _fake, mut client) = start(base_model());
    let err = client
        .send_signal("SIGHUP", &names(&["django"]))
        .unwrap_err();
    assert_eq!(
        err,
        PebbleError::Api {
            status: 500,
            what: "POST /v1/signals".to_string(),
            message: "cannot send signal to \"django\": service is not running".to_string(),
            kind: None,
        }
    );
}

#[test]
fn checks_of_a_plan_without_checks_is_an_empty_list() {
    let (_dir, _fake, mut client) = start(base_model());
    assert!(client.checks(None, &[]).unwrap().is_empty());
    assert!(client.checks(Some("ready"), &[]).unwrap().is_empty());
    assert!(client.checks(None, &names(&["nope"])).unwrap().is_empty());
}

#[test]
fn checks_lists_the_plans_checks() {
    let model = base_model().with_layer(
        "checks",
        layer(
            "\
checks:
  up:
    override: replace
    level: alive
    http: {url: 'http://localhost:8000/'}
  off:
    override: replace
    level: ready
    startup: disabled
    threshold: 5
    tcp: {port: 8000}
",
        ),
    );
    let (_dir, _fake, mut client) = start(model);
    let mut checks = client.checks(None, &[]).unwrap();
    checks.sort_by(|a, b| a.name.cmp(&b.name));
    let summary: Vec<(&str, &str, &str, u64)> = checks
        .iter()
        .map(|c| {
            (
                c.name.as_str(),
                c.level.as_str(),
                c.status.as_str(),
                c.threshold,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [("off", "ready", "inactive", 5), ("up", "alive", "up", 3)]
    );
    let alive = client.checks(Some("alive"), &[]).unwrap();
    assert_eq!(alive.len(), 1);
    assert_eq!(alive[0].name, "up");
    let named = client.checks(None, &names(&["off"])).unwrap();
    assert_eq!(named.len(), 1);
    assert_eq!(named[0].name, "off");
    let err = client.checks(Some("bogus"), &[]).unwrap_err();
    assert!(
        matches!(&err, PebbleError::Api { status: 400, message, .. }
            if message == "level must be \"alive\" or \"ready\""),
        "{err:?}"
    );
}

/// The files API refuses relative paths: the fake does what Pebble does, and the client
/// surfaces it as the per-path or API error it is.
#[test]
fn relative_paths_are_refused() {
    let (_dir, fake, mut client) = start(PebbleModel::new());
    let err = client
        .push("relative.txt", b"x", &PushOptions::default())
        .unwrap_err();
    assert!(
        matches!(&err, PebbleError::Path { message, .. } if message.contains("must be absolute")),
        "{err:?}"
    );
    let err = client.list_files("relative", None, false).unwrap_err();
    assert!(
        matches!(&err, PebbleError::Api { status: 400, .. }),
        "{err:?}"
    );
    assert!(fake.model().files.is_empty());
}
