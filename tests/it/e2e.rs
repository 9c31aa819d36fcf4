//! End-to-end: the built binary run through `dispatch` in a packed-charm layout, with
//! fake hook tools and a fake Pebble server.

use django_charm::juju::status_memory::{self, StatusMemory};
use django_charm::juju::tools::{Status, StatusKind};
use django_charm::sim::juju::{RelationState, ToolFailure, bag};

use crate::harness::juju::{
    JujuHarness, PACKED_CHARM_DIR, charm_under_test, generated_files, repo_charmcraft,
};

/// The peer relation, with the Django secret key in its app bag when `key` is given.
fn peer(key: Option<&str>) -> RelationState {
    let rel = RelationState::new(0, "secret-storage", "django-k8s");
    match key {
        Some(k) => rel.local_app_data(bag(&[("django_secret_key", k)])),
        None => rel,
    }
}

#[test]
fn no_pebble_socket_waits_for_pebble_ready() {
    let mut h = JujuHarness::new(&repo_charmcraft());
    h.state.relations.push(peer(Some("k")));
    let run = h.run("hooks/config-changed", &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let waiting = Status::new(StatusKind::Waiting, "Waiting for pebble ready");
    assert_eq!(h.state.unit_status, Some(waiting.clone()));
    assert_eq!(h.state.app_status, Some(waiting), "the leader mirrors it");
    assert!(h.state.opened_ports.is_empty());
}

/// The status memory is a file in the charm directory: the second hook skips what the
/// first wrote; a corrupt or deleted file means the status is written again.
#[test]
fn the_status_memory_lives_in_the_charm_directory() {
    let mut h = JujuHarness::new(&repo_charmcraft());
    h.state.relations.push(peer(Some("k")));
    let status_sets = |h: &JujuHarness, from: usize| {
        h.state.calls[from..]
            .iter()
            .filter(|c| c.tool == "status-set")
            .count()
    };
    let memory = h.charm_dir().join(status_memory::FILE);
    let mut from = 0;
    for (prepare, expected) in [
        (None, 2),
        (None, 0),
        (Some("{\"unit\": {\"kind\": \"waiting\""), 2),
        (None, 0),
        (Some(""), 2),
    ] {
        match prepare {
            Some("") => std::fs::remove_file(&memory).unwrap(),
            Some(text) => std::fs::write(&memory, text).unwrap(),
            None => {}
        }
        let run = h.run("hooks/config-changed", &[]);
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(status_sets(&h, from), expected, "{prepare:?}");
        from = h.state.calls.len();
        let waiting = Status::new(StatusKind::Waiting, "Waiting for pebble ready");
        assert_eq!(h.state.unit_status, Some(waiting.clone()));
        assert_eq!(
            StatusMemory::load(&memory),
            StatusMemory {
                unit: Some(waiting.clone()),
                application: Some(waiting),
            }
        );
    }
}

#[test]
fn a_failing_hook_tool_is_logged_by_name_and_the_hook_exits_1() {
    let mut h = JujuHarness::new(&repo_charmcraft());
    h.state.failures.push(ToolFailure {
        tool: "config-get".into(),
        code: 1,
        stderr: "ERROR connection is shut down\n".into(),
    });
    let run = h.run("hooks/config-changed", &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    let errors: Vec<_> = h.state.logs.iter().filter(|l| l.level == "ERROR").collect();
    assert_eq!(errors.len(), 1, "{:?}", h.state.logs);
    assert!(
        errors[0]
            .message
            .contains("config-get failed with exit status 1"),
        "{}",
        errors[0].message
    );
    assert_eq!(h.state.unit_status, None, "no status on a retried hook");
}

#[test]
fn unknown_dispatch_paths_are_logged_and_change_nothing() {
    for path in [
        "hooks/no-such-thing",
        "hooks/django-app-pebble-custom-notice",
        "hooks/django-app-pebble-check-failed",
        "hooks/django-app-pebble-check-recovered",
    ] {
        let mut h = JujuHarness::new(&repo_charmcraft());
        h.state.relations.push(peer(None));
        let before = h.state.clone();
        let run = h.run(
            path,
            &[
                ("JUJU_WORKLOAD_NAME", "django-app"),
                ("JUJU_PEBBLE_CHECK_NAME", "up"),
            ],
        );
        assert_eq!(run.code, 0, "{path}: {run:?}");
        assert_eq!(h.state.logs.len(), 1, "{path}: {:?}", h.state.logs);
        assert_eq!(h.state.logs[0].level, "DEBUG");
        assert!(h.state.logs[0].message.contains(path));
        assert_eq!(h.state.relations, before.relations);
        assert_eq!(h.state.unit_status, None);
        let tools: Vec<&str> = h.state.calls.iter().map(|c| c.tool.as_str()).collect();
        assert_eq!(tools, ["juju-log"], "{path}");
    }
}

#[test]
fn the_leader_creates_the_secret_key_when_the_peer_relation_is_created() {
    let mut h = JujuHarness::new(&repo_charmcraft());
    h.state.relations.push(peer(None));
    let run = h.run_relation("secret-storage", "created", None);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(h.state.secrets.len(), 1);
    let secret = h.state.secrets[0].clone();
    assert_eq!(secret.label.as_deref(), Some("django-secret-key"));
    assert_eq!(secret.owner.as_deref(), Some("application"));
    assert!(!secret.pending, "committed when the hook ended");
    let key = &secret.revisions[0]["value"];
    assert_eq!(key.len(), 86);
    assert_eq!(
        h.state.relation("secret-storage").unwrap().local_app_data,
        bag(&[("django_secret_key_id", &secret.id)])
    );
    assert_eq!(
        h.state.unit_status, None,
        "nothing else happens in that hook"
    );
    // A second run keeps the key.
    h.run_relation("secret-storage", "created", None);
    assert_eq!(h.state.secrets, vec![secret]);
}

/// A test of the harness itself: like Juju, it drops what a failed hook buffered.
#[test]
fn harness_discards_relation_data_of_a_hook_that_exits_non_zero() {
    let mut h = JujuHarness::new(&repo_charmcraft());
    h.state.relations.push(peer(None));
    let charm = h.charm_dir();
    let fake_charm = charm.join("bin").join("django-k8s-charm");
    std::fs::remove_file(&fake_charm).unwrap();
    std::fs::write(
        &fake_charm,
        "#!/bin/sh\necho '{\"written\": \"yes\"}' | relation-set -r secret-storage:0 --app --file -\nstatus-set --application=False maintenance -- half-way\nexit \"${EXIT_CODE}\"\n",
    )
    .unwrap();
    let mut perms = std::fs::metadata(&fake_charm).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&fake_charm, perms).unwrap();

    h.extra_env = vec![("EXIT_CODE".into(), "1".into())];
    let run = h.run("hooks/config-changed", &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        h.state
            .relation("secret-storage")
            .unwrap()
            .local_app_data
            .is_empty()
    );
    assert_eq!(
        h.state.unit_status,
        Some(Status::new(StatusKind::Maintenance, "half-way")),
        "status-set is not transactional"
    );

    h.extra_env = vec![("EXIT_CODE".into(), "0".into())];
    let run = h.run("hooks/config-changed", &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        h.state.relation("secret-storage").unwrap().local_app_data["written"],
        "yes"
    );
}

#[test]
fn config_token_reaches_the_django_service_through_dispatch() {
    use django_charm::pebble::layer::Layer;
    use django_charm::sim::pebble::PebbleModel;

    use crate::harness::fake_pebble::{CONTAINER, FakePebble};

    let mut h = JujuHarness::new(&repo_charmcraft());
    h.state.relations.push(peer(Some("k")));
    h.state.config.insert("token".into(), "abc".into());
    // Optional database so that the slice needs nothing but the container.
    let rock = Layer::from_yaml(
        "services:\n  django: {override: replace, startup: enabled, command: '/bin/python3 -m gunicorn -c /django/gunicorn.conf.py django_app.wsgi:application -k [ sync ]', user: _daemon_}\n",
    )
    .unwrap();
    let model = PebbleModel::new()
        .with_layer("rock", rock)
        .with_dir("/django/app");
    let fake = FakePebble::start(&h.socket_path(CONTAINER), model);
    h.state.relations.push(
        RelationState::new(5, "postgresql", "pg").remote_app_data(bag(&[
            ("endpoints", "pg:5432"),
            ("username", "u"),
            ("password", "p"),
        ])),
    );
    let run = h.run("hooks/config-changed", &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let plan = fake.model().plan();
    assert_eq!(plan.services["django"].environment["DJANGO_TOKEN"], "abc");
    assert_eq!(h.state.unit_status, Some(Status::active()));
}

/// The README's first command: `simulate` on the embedded example, and on a state file.
#[test]
fn simulate_runs_the_embedded_example_and_a_state_file() {
    let bin = charm_under_test().binary;
    let out = std::process::Command::new(&bin)
        .arg("simulate")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("unit status: active \"\""), "{text}");
    assert!(text.contains("  DJANGO_TOKEN=abc\n"), "{text}");
    assert!(text.contains("add layer \"charm\""), "{text}");

    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.yaml");
    let example =
        django_charm::sim::EXAMPLE.replace("pebble:\n", "pebble-reachable: false\npebble:\n");
    std::fs::write(&state, example).unwrap();
    let out = std::process::Command::new(&bin)
        .args(["simulate", "--state"])
        .arg(&state)
        .args(["--event", "update-status"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("event: update-status\n"), "{text}");

    let out = std::process::Command::new(&bin)
        .args(["simulate", "--state", "/nonexistent/state.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}

/// A `simulate` state: the embedded example with `charmcraft` as its project file and
/// `juju_lines` (indented for the `juju:` mapping) added to its Juju side.
fn example_state(charmcraft: &str, juju_lines: &str) -> String {
    let example =
        django_charm::sim::EXAMPLE.replacen("juju:\n", &format!("juju:\n{juju_lines}"), 1);
    let indented: String = charmcraft.lines().map(|l| format!("  {l}\n")).collect();
    format!("{example}charmcraft: |\n{indented}")
}

fn simulate(state_text: &str, event: &str) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.yaml");
    std::fs::write(&state, state_text).unwrap();
    std::process::Command::new(charm_under_test().binary)
        .args(["simulate", "--state"])
        .arg(&state)
        .args(["--event", event])
        .output()
        .unwrap()
}

/// A project that still uses the django-framework extension is refused: without the
/// expanded container, peer relation and options, the run would show a charm that Juju
/// never runs.
#[test]
fn simulate_refuses_a_charmcraft_yaml_that_uses_extensions() {
    let charmcraft = "name: django-k8s\ntype: charm\nbase: ubuntu@22.04\n\
                      extensions:\n  - django-framework\nsummary: A Django app\n";
    let out = simulate(&example_state(charmcraft, ""), "config-changed");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "simulate: charmcraft.yaml uses extensions; this charm replaces the django-framework \
         extension: use the expanded form (charmcraft expand-extensions)\n"
    );
    assert!(out.stdout.is_empty(), "nothing ran");

    // The expanded form runs.
    let out = simulate(&example_state(&repo_charmcraft(), ""), "config-changed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An action the state's `charmcraft.yaml` declares runs as an action, with the state's
/// `action.params`.
#[test]
fn simulate_runs_an_action_of_the_states_charmcraft_yaml_with_its_params() {
    let state = example_state(
        &repo_charmcraft(),
        "  action: {params: {username: admin, email: admin@example.com}}\n",
    );
    let out = simulate(&state, "create-superuser");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("event: create-superuser\n"), "{text}");
    assert!(text.contains("): action-get "), "ran as an action: {text}");
    assert!(
        text.contains(
            "  exec [\"python3\", \"manage.py\", \"createsuperuser\", \"--noinput\"] in /django/app\n"
        ),
        "{text}"
    );
    assert!(text.contains("\naction:\n  result password="), "{text}");

    // The report does not show an exec's environment; the same state run in process
    // shows the parameters reached the command.
    let mut sim = django_charm::sim::Simulation::from_yaml(&state).unwrap();
    let outcome = sim.run("create-superuser").unwrap();
    let env = outcome
        .ops()
        .iter()
        .find_map(|op| match op {
            django_charm::sim::pebble::PebbleOp::Exec { environment, .. } => Some(environment),
            _ => None,
        })
        .unwrap();
    assert_eq!(env["DJANGO_SUPERUSER_USERNAME"], "admin");
    assert_eq!(env["DJANGO_SUPERUSER_EMAIL"], "admin@example.com");
}

/// The charm `charmcraft pack` made (CI's real-pack step sets `PACKED_CHARM_DIR` to it,
/// unpacked): the files charmcraft generated say what `charmcraft.yaml` says, as the
/// harness lays it out for every other test, and it ships what Juju runs and nothing of
/// the test harness.
#[test]
fn the_packed_charm_holds_what_charmcraft_yaml_declares() {
    let Some(dir) = std::env::var_os(PACKED_CHARM_DIR) else {
        eprintln!("{PACKED_CHARM_DIR} is not set: no packed charm to check");
        return;
    };
    let dir = std::path::Path::new(&dir);
    let project: serde_json::Value = serde_saphyr::from_str(&repo_charmcraft()).unwrap();
    for (name, expected) in generated_files(&project) {
        let text = std::fs::read_to_string(dir.join(name))
            .unwrap_or_else(|e| panic!("the packed charm has no {name}: {e}"));
        let packed: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(packed, expected, "{name}");
    }
    let manifest: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(dir.join("manifest.yaml")).unwrap())
            .unwrap();
    assert_eq!(manifest["bases"][0]["channel"], "24.04", "{manifest}");
    use std::os::unix::fs::PermissionsExt;
    for exe in ["dispatch", "bin/django-k8s-charm"] {
        let mode = std::fs::metadata(dir.join(exe))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111, "{exe} is executable: {mode:o}");
    }
    let bins: Vec<_> = std::fs::read_dir(dir.join("bin"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(bins, ["django-k8s-charm"], "no test binary is shipped");
    assert!(dir.join("templates/json_logger.py").is_file());
}

/// The worked example of the user guide (`examples/blog`): its project files and state
/// run through `simulate` as the guide shows, the custom action included, so that the
/// guide cannot drift from what the charm does.
#[test]
fn the_guide_example_previews_as_documented() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/blog");
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    let indent = |text: String| -> String { text.lines().map(|l| format!("  {l}\n")).collect() };
    let state = format!(
        "{}charmcraft: |\n{}paas-config: |\n{}",
        read("state.yaml"),
        indent(read("charmcraft.yaml")),
        indent(read("paas-config.yaml")),
    );
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("blog-state.yaml");
    std::fs::write(&path, state).unwrap();
    let simulate = |event: &str| {
        let out = std::process::Command::new(charm_under_test().binary)
            .args(["simulate", "--state"])
            .arg(&path)
            .args(["--event", event])
            .output()
            .unwrap();
        assert!(out.status.success(), "{event}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let text = simulate("config-changed");
    assert!(text.contains("unit status: active \"\""), "{text}");
    for line in [
        "  DJANGO_SITE_TITLE=A Django blog\n",
        "  DJANGO_BASE_URL=http://blog.example.com/\n",
        "  POSTGRESQL_DB_NAME=django-k8s\n",
        "  REDIS_DB_HOSTNAME=",
    ] {
        assert!(text.contains(line), "{line:?} in:\n{text}");
    }
    let text = simulate("load-sample-data");
    assert!(
        text.contains(r#"exec ["python3", "manage.py", "loaddata", "initial_data.yaml"] as _daemon_ in /django/app"#),
        "{text}"
    );
    assert!(text.contains("  result exit-code=0\n"), "{text}");
    assert!(!text.contains("failed"), "{text}");
}
