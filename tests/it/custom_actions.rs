//! Custom actions: an action `charmcraft.yaml` declares, bound in `paas-config.yaml` to a
//! command run in the workload. Each scenario runs in memory and through `dispatch`.

use std::collections::BTreeMap;

use django_charm::sim::juju::ActionState;
use django_charm::sim::pebble::{ExecRule, PebbleOp};
use django_charm::sim::{CHARMCRAFT_YAML, Outcome};

use crate::fixtures::*;
use crate::harness::world::{Mode, World};

const LOAD: &str = "load-sample-data";
const BOUND: &str = "actions:\n  load-sample-data:\n    command: [python3, manage.py, loaddata, '{fixture}', '--verbosity={verbosity}', '{{literal}}']\n    timeout: 120\n";

/// The example world with `load-sample-data` declared (params `fixture`, `verbosity`)
/// and bound as `paas_config` says.
fn world_with(mode: Mode, paas_config: Option<&str>) -> World {
    let mut sim = world(mode);
    let charmcraft = CHARMCRAFT_YAML.replace(
        "\nactions:\n",
        "\nactions:\n  load-sample-data:\n    description: Load a fixture.\n    params:\n      fixture: {type: string}\n      verbosity: {type: integer}\n    required: [fixture]\n",
    );
    assert_ne!(charmcraft, CHARMCRAFT_YAML);
    sim.charmcraft = Some(charmcraft);
    sim.paas_config = paas_config.map(String::from);
    sim
}

fn run_action(sim: &mut World, name: &str, params: serde_json::Value) -> Outcome {
    sim.juju.action = Some(ActionState {
        params: params.as_object().unwrap().clone(),
        ..Default::default()
    });
    sim.juju.logs.clear();
    run(sim, name)
}

fn action_state(out: &Outcome) -> ActionState {
    out.juju.action.clone().unwrap()
}

/// The exec requests of the last hook: (argv, environment, working dir, user, group).
#[allow(clippy::type_complexity)]
fn execs(
    out: &Outcome,
) -> Vec<(
    Vec<String>,
    BTreeMap<String, String>,
    Option<String>,
    Option<String>,
    Option<String>,
)> {
    out.ops()
        .iter()
        .filter_map(|op| match op {
            PebbleOp::Exec {
                command,
                environment,
                working_dir,
                user,
                group,
                ..
            } => Some((
                command.clone(),
                environment.clone(),
                working_dir.clone(),
                user.clone(),
                group.clone(),
            )),
            _ => None,
        })
        .collect()
}

fn a_bound_action_runs_its_command_with_the_parameters(mode: Mode) {
    let mut sim = world_with(mode, Some(BOUND));
    run(&mut sim, "config-changed");
    sim.pebble.exec_rules.push(
        ExecRule::prefix(["python3", "manage.py", "loaddata"])
            .stdout("Installed 3 object(s) from 1 fixture(s)\n")
            .stderr("warning: naive datetime\n"),
    );
    let out = run_action(
        &mut sim,
        LOAD,
        serde_json::json!({"fixture": "initial data.yaml", "verbosity": 2}),
    );
    let action = action_state(&out);
    assert_eq!(action.failed, None);
    let results: Vec<(&str, &str)> = action
        .results
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        results,
        [
            ("exit-code", "0"),
            (
                "command-stdout",
                "Installed 3 object(s) from 1 fixture(s)\n"
            ),
            ("command-stderr", "warning: naive datetime\n"),
        ]
    );
    let ran = execs(&out);
    assert_eq!(ran.len(), 1, "only the command runs");
    let (argv, env, wd, user, group) = &ran[0];
    assert_eq!(
        argv,
        &[
            "python3",
            "manage.py",
            "loaddata",
            "initial data.yaml",
            "--verbosity=2",
            "{literal}"
        ]
    );
    assert_eq!(wd.as_deref(), Some("/django/app"));
    assert_eq!(user.as_deref(), Some("_daemon_"));
    assert_eq!(group.as_deref(), Some("_daemon_"));
    assert_eq!(env, &out.django_env(), "the app's own environment");

    // The environment is create-superuser's without its three DJANGO_SUPERUSER_* keys.
    run_action(
        &mut sim,
        "create-superuser",
        serde_json::json!({"username": "admin", "email": "a@b.c"}),
    );
    let superuser_env = {
        let out = run_action(
            &mut sim,
            "create-superuser",
            serde_json::json!({"username": "admin", "email": "a@b.c"}),
        );
        let mut env = execs(&out)[0].1.clone();
        env.retain(|k, _| !k.starts_with("DJANGO_SUPERUSER_"));
        env
    };
    assert_eq!(env, &superuser_env);

    // Neither parameters nor output reach the log; the name and exit status do.
    let logs = out.juju.log_text();
    for secret in ["initial data.yaml", "Installed 3", "naive datetime"] {
        assert!(!logs.contains(secret), "{secret:?} in the log:\n{logs}");
    }
    assert!(
        logs.contains("action load-sample-data: command exited with status 0"),
        "{logs}"
    );
}

fn a_failing_command_fails_the_action_with_its_results(mode: Mode) {
    let mut sim = world_with(mode, Some(BOUND));
    run(&mut sim, "config-changed");
    sim.pebble.exec_rules.push(
        ExecRule::prefix(["python3", "manage.py", "loaddata"])
            .exit_code(3)
            .stderr("CommandError: No fixture named 'nope' found.\n"),
    );
    let out = run_action(&mut sim, LOAD, serde_json::json!({"fixture": "nope"}));
    let action = action_state(&out);
    assert_eq!(
        action.failed.as_deref(),
        Some("parameter verbosity is not set"),
        "an unset parameter: nothing runs"
    );
    assert!(execs(&out).is_empty());
    assert!(action.results.is_empty());

    let out = run_action(
        &mut sim,
        LOAD,
        serde_json::json!({"fixture": "nope", "verbosity": 0}),
    );
    let action = action_state(&out);
    assert_eq!(
        action.failed.as_deref(),
        Some("command exited with status 3")
    );
    assert_eq!(action.results["exit-code"], "3");
    assert_eq!(action.results["command-stdout"], "");
    assert_eq!(
        action.results["command-stderr"],
        "CommandError: No fixture named 'nope' found.\n"
    );
    assert_eq!(out.juju.unit_status, active(), "the unit is not affected");
}

fn a_command_past_its_timeout_or_refused_by_pebble_fails_the_action(mode: Mode) {
    let mut sim = world_with(
        mode,
        Some(
            "actions:\n  load-sample-data:\n    command: [python3, manage.py, loaddata, '{fixture}']\n    timeout: 1\n",
        ),
    );
    run(&mut sim, "config-changed");
    let mut slow = ExecRule::prefix(["python3", "manage.py", "loaddata"]).stdout("loading\n");
    slow.runs_for = Some(std::time::Duration::from_secs(5));
    sim.pebble.exec_rules.push(slow);
    let out = run_action(&mut sim, LOAD, serde_json::json!({"fixture": "big"}));
    let action = action_state(&out);
    assert_eq!(
        action.failed.as_deref(),
        Some("command timed out after 1 seconds")
    );
    assert_eq!(
        action.results["command-stdout"], "loading\n",
        "what it wrote before its timeout"
    );
    assert_eq!(action.results["command-stderr"], "");
    assert!(!action.results.contains_key("exit-code"));
    assert_eq!(out.exit_code, 0);

    // A program the rock does not have: Pebble refuses the exec.
    sim.paas_config =
        Some("actions:\n  load-sample-data:\n    command: [load-fixtures, '{fixture}']\n".into());
    let out = run_action(&mut sim, LOAD, serde_json::json!({"fixture": "f"}));
    let action = action_state(&out);
    assert_eq!(
        action.failed.as_deref(),
        Some(r#"cannot run command: cannot find executable "load-fixtures""#)
    );
    assert!(action.results.is_empty());
    assert_eq!(out.exit_code, 0);
    assert_eq!(out.juju.unit_status, active());
}

fn long_output_keeps_its_end(mode: Mode) {
    let mut sim = world_with(mode, Some(BOUND));
    run(&mut sim, "config-changed");
    let long = format!("{}THE END\n", "x".repeat(70_000));
    sim.pebble
        .exec_rules
        .push(ExecRule::prefix(["python3", "manage.py", "loaddata"]).stdout(long.as_str()));
    let out = run_action(
        &mut sim,
        LOAD,
        serde_json::json!({"fixture": "f", "verbosity": 1}),
    );
    let stdout = &action_state(&out).results["command-stdout"];
    assert_eq!(stdout.len(), 65536);
    assert!(stdout.starts_with("[...]xxx") && stdout.ends_with("THE END\n"));
}

fn an_action_without_a_command_or_with_a_bad_file_runs_nothing(mode: Mode) {
    let mut sim = world_with(mode, None);
    run(&mut sim, "config-changed");
    let out = run_action(&mut sim, LOAD, serde_json::json!({"fixture": "f"}));
    assert_eq!(
        action_state(&out).failed.as_deref(),
        Some("action load-sample-data has no command in paas-config.yaml")
    );
    assert!(out.ops().is_empty(), "{:?}", op_names(out.ops()));
    assert_eq!(out.juju.unit_status, active(), "no status change");

    // An invalid file: the action fails with the status the unit gets.
    let message = "Invalid paas-config.yaml: actions.load-sample-data.command[0]: {verbose} is not a parameter of load-sample-data";
    sim.paas_config = Some("actions:\n  load-sample-data: {command: ['{verbose}']}\n".into());
    let out = run_action(&mut sim, LOAD, serde_json::json!({"fixture": "f"}));
    assert_eq!(action_state(&out).failed.as_deref(), Some(message));
    assert_eq!(out.juju.unit_status, blocked(message));
    assert!(execs(&out).is_empty());
}

fn an_action_waits_for_a_ready_container(mode: Mode) {
    let mut sim = world_with(mode, Some(BOUND));
    // Nothing reconciled yet, and the database relation gone: not ready.
    sim.juju.relations.retain(|r| r.endpoint != "postgresql");
    let out = run_action(
        &mut sim,
        LOAD,
        serde_json::json!({"fixture": "f", "verbosity": 1}),
    );
    assert_eq!(
        action_state(&out).failed.as_deref(),
        Some("django-app container is not ready")
    );
    assert!(
        !op_names(out.ops())
            .iter()
            .any(|o| o.starts_with("exec python3 manage.py loaddata")),
        "{:?}",
        op_names(out.ops())
    );
}

in_both_modes!(
    a_bound_action_runs_its_command_with_the_parameters,
    a_failing_command_fails_the_action_with_its_results,
    long_output_keeps_its_end,
    a_command_past_its_timeout_or_refused_by_pebble_fails_the_action,
    an_action_without_a_command_or_with_a_bad_file_runs_nothing,
    an_action_waits_for_a_ready_container,
);
