//! The charm's actions (`DJANGO.md` 13): `rotate-secret-key` and `create-superuser`.

use serde_json::Value;

use crate::charm::{Hook, new_secret_key, token_urlsafe};
use crate::django::env::app_environment;
use crate::django::migrations::APP_DIR;
use crate::django::status::CONTAINER_NOT_READY;
use crate::juju::tools::{Databag, ToolRunner};
use crate::pebble::{ExecRequest, Pebble};
use crate::reconcile::{HookError, ReconcileOptions, check_ready, check_state, reconcile};
use crate::state::{SECRET_KEY_FIELD, gather};

pub const ONLY_LEADER: &str = "only leader unit can rotate secret key";
pub const STILL_INITIALISING: &str = "charm is still initializing";

/// Run the action named `name`; unknown actions are logged and ignored.
pub fn run_action<R: ToolRunner, P: Pebble>(
    hook: &mut Hook<'_, R, P>,
    name: &str,
) -> Result<(), HookError> {
    match name {
        "rotate-secret-key" => rotate_secret_key(hook),
        "create-superuser" => create_superuser(hook),
        other => {
            let message = format!("ignoring unknown action {other}");
            crate::reconcile::log(hook.tools, crate::juju::tools::LogLevel::Debug, &message);
            Ok(())
        }
    }
}

fn rotate_secret_key<R: ToolRunner, P: Pebble>(hook: &mut Hook<'_, R, P>) -> Result<(), HookError> {
    let mut state = gather(hook.ctx, hook.project, hook.tools)?;
    if !check_state(&state, hook.tools, hook.pebble)? {
        return Ok(());
    }
    if !state.leader {
        hook.tools.action_fail(ONLY_LEADER)?;
        return Ok(());
    }
    let (Some(rel), Some(_)) = (state.peer_relation.clone(), state.peer.secret_key.as_ref()) else {
        hook.tools.action_fail(STILL_INITIALISING)?;
        return Ok(());
    };
    let key = new_secret_key()?;
    let data: Databag = [(SECRET_KEY_FIELD.to_string(), key.clone())]
        .into_iter()
        .collect();
    hook.tools.relation_set(&rel, &data, true)?;
    hook.tools.action_set(&[("status", "success")])?;
    // The state gathered before the write must not be reused with the old key.
    state.peer.secret_key = Some(key);
    reconcile(
        hook.ctx,
        &state,
        hook.tools,
        hook.pebble,
        ReconcileOptions::default(),
    )
    .map(|_| ())
}

fn create_superuser<R: ToolRunner, P: Pebble>(hook: &mut Hook<'_, R, P>) -> Result<(), HookError> {
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
        hook.tools.action_fail(CONTAINER_NOT_READY)?;
        return Ok(());
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
    if out.success() {
        hook.tools.action_set(&[("password", &password)])?;
    } else {
        hook.tools
            .action_fail(&String::from_utf8_lossy(&out.stdout))?;
    }
    Ok(())
}
