//! One hook, from event to exit code: which events reconcile, which only log, and the
//! one error policy (a hook tool or Pebble failure is logged and the hook exits 1 so
//! Juju retries it; everything expected is a status and exit 0).

use crate::juju::context::{Event, HookContext, RelationKind, WorkloadKind};
use crate::juju::metadata::CharmMeta;
use crate::juju::tools::{Databag, HookTools, LogLevel, ToolRunner};
use crate::pebble::Pebble;
use crate::reconcile::{HookError, log, reconcile};
use crate::state::{PEER_ENDPOINT, SECRET_KEY_FIELD, gather, relation_ids};

/// The workload container.
pub const CONTAINER: &str = "django-app";

/// A new Django secret key: 64 random bytes as URL-safe base64 without padding (what
/// Python's `secrets.token_urlsafe(64)` gives).
pub fn new_secret_key() -> Result<String, HookError> {
    token_urlsafe(64)
}

/// `secrets.token_urlsafe(n)`.
pub fn token_urlsafe(n: usize) -> Result<String, HookError> {
    use base64::Engine;
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes)
        .map_err(|e| HookError::Other(format!("cannot get random bytes: {e}")))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// What to do for an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handling {
    /// Log one DEBUG line and change nothing.
    Ignore,
    /// Nothing beyond what every handled hook does.
    Nothing,
    Reconcile,
    GenerateSecretKey,
}

fn handling(ctx: &HookContext) -> Handling {
    match &ctx.event {
        Event::Unknown(_) => Handling::Ignore,
        Event::Workload { kind, container } => match kind {
            WorkloadKind::PebbleReady if container == CONTAINER => Handling::Reconcile,
            WorkloadKind::PebbleReady => Handling::Nothing,
            _ => Handling::Ignore,
        },
        Event::ConfigChanged | Event::UpdateStatus | Event::Secret(_) => {
            if matches!(&ctx.event, Event::Secret(s) if s.kind != crate::juju::context::SecretKind::Changed)
            {
                Handling::Nothing
            } else {
                Handling::Reconcile
            }
        }
        Event::Relation(r) if r.relation.endpoint == PEER_ENDPOINT => match r.kind {
            RelationKind::Created => Handling::GenerateSecretKey,
            RelationKind::Changed | RelationKind::Departed => Handling::Reconcile,
            _ => Handling::Nothing,
        },
        _ => Handling::Nothing,
    }
}

/// Run the hook; returns the process exit code.
pub fn run_hook<R: ToolRunner, P: Pebble>(
    ctx: &HookContext,
    meta: &CharmMeta,
    tools: &mut HookTools<R>,
    pebble: &mut P,
) -> u8 {
    match handle(ctx, meta, tools, pebble) {
        Ok(()) => 0,
        Err(e) => {
            log(
                tools,
                LogLevel::Error,
                &format!("{} hook failed: {e}", ctx.event_name()),
            );
            1
        }
    }
}

fn handle<R: ToolRunner, P: Pebble>(
    ctx: &HookContext,
    meta: &CharmMeta,
    tools: &mut HookTools<R>,
    pebble: &mut P,
) -> Result<(), HookError> {
    match handling(ctx) {
        Handling::Ignore => {
            log(
                tools,
                LogLevel::Debug,
                &format!("ignoring event {}", ctx.dispatch_path),
            );
            Ok(())
        }
        Handling::Nothing => Ok(()),
        Handling::GenerateSecretKey => generate_secret_key(ctx, tools),
        Handling::Reconcile => {
            let state = gather(ctx, meta, tools)?;
            reconcile(&state, tools, pebble)
        }
    }
}

/// On `secret-storage-relation-created`, the leader stores a key if there is none
/// (`DJANGO.md` 4). Nothing else happens in that hook.
fn generate_secret_key<R: ToolRunner>(
    ctx: &HookContext,
    tools: &mut HookTools<R>,
) -> Result<(), HookError> {
    if !tools.is_leader()? {
        return Ok(());
    }
    let Some(rel) = relation_ids(ctx, tools, PEER_ENDPOINT)?.into_iter().next() else {
        return Ok(());
    };
    let bag = tools.relation_get(&rel, &ctx.app_name, true)?;
    if bag
        .as_ref()
        .and_then(|b| b.get(SECRET_KEY_FIELD))
        .is_some_and(|k| !k.is_empty())
    {
        return Ok(());
    }
    let data: Databag = [(SECRET_KEY_FIELD.to_string(), new_secret_key()?)]
        .into_iter()
        .collect();
    tools.relation_set(&rel, &data, true)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys_look_like_token_urlsafe_64() {
        let a = new_secret_key().unwrap();
        let b = new_secret_key().unwrap();
        assert_eq!(a.len(), 86);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_ne!(a, b);
        assert_eq!(token_urlsafe(16).unwrap().len(), 22);
    }
}
