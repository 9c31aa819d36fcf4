//! The charm's actions (`DJANGO.md` 13), as a table: each handler returns what the
//! action reports ([`ActionOutcome`]), and [`run_action`] reports it, in one place.

use serde_json::Value;

use crate::django::env::app_environment;
use crate::django::migrations::APP_DIR;
use crate::django::status::CONTAINER_NOT_READY;
use crate::hook::{Hook, HookError, log};
use crate::juju::tools::{Databag, LogLevel};
use crate::pebble::ExecRequest;
use crate::random::{new_secret_key, token_urlsafe};
use crate::reconcile::{ReconcileOptions, check_ready, check_state, reconcile};
use crate::state::{SECRET_KEY_FIELD, gather};

pub const ONLY_LEADER: &str = "only leader unit can rotate secret key";
pub const STILL_INITIALISING: &str = "charm is still initializing";

/// What an action reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionOutcome {
    /// `action-set` these results (none: nothing to set).
    Results(Vec<(&'static str, String)>),
    /// `action-fail` with this message.
    Failed(String),
}

/// An action's handler.
pub type Handler = fn(&mut Hook<'_>) -> Result<ActionOutcome, HookError>;

/// The actions of the charm, by name.
pub const ACTIONS: [(&str, Handler); 2] = [
    ("rotate-secret-key", rotate_secret_key),
    ("create-superuser", create_superuser),
];

/// Run the action named `name` and report its outcome; unknown actions are logged and
/// ignored.
pub fn run_action(hook: &mut Hook<'_>, name: &str) -> Result<(), HookError> {
    let Some((_, handler)) = ACTIONS.iter().find(|(n, _)| *n == name) else {
        log(
            hook.tools,
            LogLevel::Debug,
            &format!("ignoring unknown action {name}"),
        );
        return Ok(());
    };
    match handler(hook)? {
        ActionOutcome::Results(results) if results.is_empty() => {}
        ActionOutcome::Results(results) => {
            let pairs: Vec<(&str, &str)> = results.iter().map(|(k, v)| (*k, v.as_str())).collect();
            hook.tools.action_set(&pairs)?;
        }
        ActionOutcome::Failed(message) => hook.tools.action_fail(&message)?,
    }
    Ok(())
}

fn rotate_secret_key(hook: &mut Hook<'_>) -> Result<ActionOutcome, HookError> {
    let mut state = gather(hook.ctx, hook.project, hook.tools)?;
    if !check_state(&state, hook.tools, hook.pebble)? {
        return Ok(ActionOutcome::Results(vec![]));
    }
    if !state.leader {
        return Ok(ActionOutcome::Failed(ONLY_LEADER.into()));
    }
    let (Some(rel), Some(_)) = (state.peer_relation.clone(), state.peer.secret_key.as_ref()) else {
        return Ok(ActionOutcome::Failed(STILL_INITIALISING.into()));
    };
    let key = new_secret_key()?;
    let data: Databag = [(SECRET_KEY_FIELD.to_string(), key.clone())]
        .into_iter()
        .collect();
    hook.tools.relation_set(&rel, &data, true)?;
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
