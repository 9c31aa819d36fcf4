//! The charm's actions (`DJANGO.md` 13), as a table: each handler returns what the
//! action reports ([`ActionOutcome`]), and [`run_action`] reports it, in one place.
//! Any other action is a custom one: the command `paas-config.yaml` binds it to, run in
//! the workload.

use serde_json::Value;

use std::time::Duration;

use crate::django::custom_action;
use crate::django::env::app_environment;
use crate::django::migrations::APP_DIR;
use crate::django::status::CONTAINER_NOT_READY;
use crate::hook::{Hook, HookError, log};
use crate::juju::tools::LogLevel;
use crate::pebble::{ExecRequest, PebbleError};
use crate::random::{new_secret_key, token_urlsafe};
use crate::reconcile::{DAEMON_USER, ReconcileOptions, check_ready, check_state, reconcile};
use crate::secret_key;
use crate::state::{KeyMigration, gather, gather_with};

pub const ONLY_LEADER: &str = "only leader unit can rotate secret key";
pub const STILL_INITIALISING: &str = "charm is still initializing";

/// What an action reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionOutcome {
    /// `action-set` these results (none: nothing to set).
    Results(Vec<(&'static str, String)>),
    /// `action-fail` with this message.
    Failed(String),
    /// `action-set` these results, then `action-fail` with this message.
    FailedWithResults(Vec<(&'static str, String)>, String),
}

/// An action's handler.
pub type Handler = fn(&mut Hook<'_>) -> Result<ActionOutcome, HookError>;

/// The actions of the charm, by name.
pub const ACTIONS: [(&str, Handler); 2] = [
    ("rotate-secret-key", rotate_secret_key),
    ("create-superuser", create_superuser),
];

/// Run the action named `name` (built in, or else custom) and report its outcome.
pub fn run_action(hook: &mut Hook<'_>, name: &str) -> Result<(), HookError> {
    let outcome = match ACTIONS.iter().find(|(n, _)| *n == name) {
        Some((_, handler)) => handler(hook)?,
        None => run_custom_action(hook, name)?,
    };
    let (results, failure) = match outcome {
        ActionOutcome::Results(results) => (results, None),
        ActionOutcome::Failed(message) => (vec![], Some(message)),
        ActionOutcome::FailedWithResults(results, message) => (results, Some(message)),
    };
    if !results.is_empty() {
        let pairs: Vec<(&str, &str)> = results.iter().map(|(k, v)| (*k, v.as_str())).collect();
        hook.tools.action_set(&pairs)?;
    }
    if let Some(message) = failure {
        hook.tools.action_fail(&message)?;
    }
    Ok(())
}

/// A custom action: the command `paas-config.yaml` binds it to, with the action's
/// parameters substituted, run in the workload as the migrations are. Neither the
/// parameters nor the output reach a log or a status: they may be secret.
fn run_custom_action(hook: &mut Hook<'_>, name: &str) -> Result<ActionOutcome, HookError> {
    let binding = match &hook.project.paas_config {
        Err(e) => {
            // As every hook does: the state check sets the Blocked status.
            let state = gather(hook.ctx, hook.project, hook.tools)?;
            check_state(&state, hook.tools, hook.pebble)?;
            return Ok(ActionOutcome::Failed(e.status_message()));
        }
        Ok(config) => config.actions.get(name).cloned(),
    };
    let Some(binding) = binding else {
        return Ok(ActionOutcome::Failed(format!(
            "action {name} has no command in paas-config.yaml"
        )));
    };
    let params = hook.tools.action_get()?;
    let state = gather(hook.ctx, hook.project, hook.tools)?;
    if !check_state(&state, hook.tools, hook.pebble)?
        || !check_ready(&state, hook.tools, hook.pebble)?
    {
        return Ok(ActionOutcome::Failed(CONTAINER_NOT_READY.into()));
    }
    let argv = match custom_action::substitute(&binding.command, &params) {
        Ok(argv) => argv,
        Err(param) => {
            return Ok(ActionOutcome::Failed(format!(
                "parameter {param} is not set"
            )));
        }
    };
    let mut request = ExecRequest::new(argv);
    request.environment = app_environment(&state);
    request.working_dir = Some(APP_DIR.into());
    request.user = Some(DAEMON_USER.into());
    request.group = Some(DAEMON_USER.into());
    request.timeout = Some(Duration::from_secs(binding.timeout));
    let outputs = |stdout: &[u8], stderr: &[u8]| {
        vec![
            (custom_action::STDOUT, custom_action::output_result(stdout)),
            (custom_action::STDERR, custom_action::output_result(stderr)),
        ]
    };
    let (outcome, logged) = match hook.pebble.exec(&request) {
        Ok(out) => {
            let mut results = vec![(custom_action::EXIT_CODE, out.exit_code.to_string())];
            results.extend(outputs(&out.stdout, &out.stderr));
            let status = format!("command exited with status {}", out.exit_code);
            let outcome = if out.success() {
                ActionOutcome::Results(results)
            } else {
                ActionOutcome::FailedWithResults(results, status.clone())
            };
            (outcome, status)
        }
        Err(PebbleError::Change { err, output, .. }) if err.contains("timed out after") => {
            let message = format!("command timed out after {} seconds", binding.timeout);
            let (stdout, stderr) = output.map(|o| (o.stdout, o.stderr)).unwrap_or_default();
            (
                ActionOutcome::FailedWithResults(outputs(&stdout, &stderr), message.clone()),
                message,
            )
        }
        Err(e) => (
            ActionOutcome::Failed(format!("cannot run command: {}", pebble_message(&e))),
            "the command could not run".to_string(),
        ),
    };
    log(
        hook.tools,
        LogLevel::Info,
        &format!("action {name}: {logged}"),
    );
    Ok(outcome)
}

/// What Pebble itself said, without our framing of it.
fn pebble_message(e: &PebbleError) -> String {
    match e {
        PebbleError::Api { message, .. } => message.clone(),
        PebbleError::Change { err, .. } => err.clone(),
        PebbleError::Path { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

fn rotate_secret_key(hook: &mut Hook<'_>) -> Result<ActionOutcome, HookError> {
    let mut state = gather_with(hook.ctx, hook.project, hook.tools, KeyMigration::Skip)?;
    if !check_state(&state, hook.tools, hook.pebble)? {
        return Ok(ActionOutcome::Results(vec![]));
    }
    if !hook.tools.is_leader()? {
        return Ok(ActionOutcome::Failed(ONLY_LEADER.into()));
    }
    let (Some(rel), Some(_)) = (state.peer_relation.clone(), state.peer.secret_key.as_ref()) else {
        return Ok(ActionOutcome::Failed(STILL_INITIALISING.into()));
    };
    let key = new_secret_key()?;
    match &state.peer.secret_key_id {
        Some(id) => secret_key::set(hook.tools, id, &key)?,
        None => {
            // The key is still in the bag: the new one goes straight into a secret.
            let bag = hook
                .tools
                .relation_get(&rel, &hook.ctx.app_name, true)?
                .unwrap_or_default();
            let (id, adopted) = secret_key::create(hook.tools, &key)?;
            if adopted {
                secret_key::set(hook.tools, &id, &key)?;
            }
            secret_key::publish(hook.tools, &rel, &bag, &id)?;
        }
    }
    // The state gathered before the write must not be reused with the old key.
    state.peer.secret_key = Some(key);
    reconcile(
        hook.ctx,
        &state,
        hook.tools,
        hook.pebble,
        ReconcileOptions::default(),
    )?;
    Ok(ActionOutcome::Results(vec![("status", "success".into())]))
}

fn create_superuser(hook: &mut Hook<'_>) -> Result<ActionOutcome, HookError> {
    let params = hook.tools.action_get()?;
    let param = |k: &str| match params.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let (username, email) = (param("username"), param("email"));
    let state = gather(hook.ctx, hook.project, hook.tools)?;
    if !check_state(&state, hook.tools, hook.pebble)?
        || !check_ready(&state, hook.tools, hook.pebble)?
    {
        return Ok(ActionOutcome::Failed(CONTAINER_NOT_READY.into()));
    }
    let password = token_urlsafe(16)?;
    let mut request = ExecRequest::new(["python3", "manage.py", "createsuperuser", "--noinput"]);
    request
        .environment
        .insert("DJANGO_SUPERUSER_PASSWORD".into(), password.clone());
    request
        .environment
        .insert("DJANGO_SUPERUSER_USERNAME".into(), username);
    request
        .environment
        .insert("DJANGO_SUPERUSER_EMAIL".into(), email);
    // The application's variables win over the superuser ones.
    request.environment.extend(app_environment(&state));
    request.working_dir = Some(APP_DIR.into());
    request.split_stderr = false;
    let out = hook.pebble.exec(&request)?;
    Ok(if out.success() {
        ActionOutcome::Results(vec![("password", password)])
    } else {
        ActionOutcome::Failed(String::from_utf8_lossy(&out.stdout).into_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::CHARMCRAFT_YAML;

    #[test]
    fn the_table_is_the_actions_the_charm_declares() {
        let meta = crate::juju::metadata::CharmMeta::from_charmcraft_yaml(CHARMCRAFT_YAML).unwrap();
        let names: Vec<&str> = ACTIONS.iter().map(|(n, _)| *n).collect();
        let mut declared: Vec<&str> = meta.actions.iter().map(String::as_str).collect();
        declared.sort();
        let mut ours = names.clone();
        ours.sort();
        assert_eq!(ours, declared);
    }
}
