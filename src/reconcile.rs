//! The apply shell: the only place that changes the workload and the unit's status.
//!
//! It takes the gathered [`CharmState`], asks the pure `django::*` functions what the
//! workload should look like, and does the least work to get there (`DJANGO.md` 10,
//! 17.13): the layer is added only when it would change the plan, and a replan happens
//! only when the layer was added or an enabled service is not running.

use std::collections::BTreeMap;

use indexmap::IndexMap;

use crate::django::env::app_environment;
use crate::django::layer::{LAYER_LABEL, desired_layer};
use crate::juju::tools::{HookTools, LogLevel, Status, ToolError, ToolRunner};
use crate::pebble::layer::{Layer, Service};
use crate::pebble::{Pebble, PebbleError, ServiceAction};
use crate::state::CharmState;

/// A failure that makes the hook exit non-zero, so that Juju retries it.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error(transparent)]
    Pebble(#[from] PebbleError),
    #[error("{0}")]
    Other(String),
}

/// The statuses this module sets.
pub const WAITING_FOR_PEBBLE: &str = "Waiting for pebble ready";
pub const WAITING_FOR_PEER: &str = "Waiting for peer integration";
pub const PREPARING: &str = "Preparing service for restart";

/// The port Django serves on.
pub const APP_PORT: &str = "8000/tcp";

/// Set the unit status and, on the leader, the application status.
pub fn set_status<R: ToolRunner>(
    tools: &mut HookTools<R>,
    leader: bool,
    status: &Status,
) -> Result<(), ToolError> {
    tools.status_set(status, false)?;
    if leader {
        tools.status_set(status, true)?;
    }
    Ok(())
}

/// Log through `juju-log`; when that fails, fall back to stderr (which Juju also keeps).
pub fn log<R: ToolRunner>(tools: &mut HookTools<R>, level: LogLevel, message: &str) {
    if let Err(e) = tools.juju_log(level, message) {
        eprintln!("{} {message} (juju-log failed: {e})", level.as_str());
    }
}

/// Stop every running service of the plan (`DJANGO.md` 6.4); no call when none runs.
pub fn stop_running_services<P: Pebble>(pebble: &mut P) -> Result<(), PebbleError> {
    let running: Vec<String> = pebble
        .services(&[])?
        .into_iter()
        .filter(|s| s.is_running())
        .map(|s| s.name)
        .collect();
    if !running.is_empty() {
        pebble.service_action(ServiceAction::Stop, &running)?;
    }
    Ok(())
}

/// Whether adding `layer` with `combine` would change `plan`.
pub fn layer_changes_plan(plan: &Layer, layer: &Layer) -> bool {
    let mut combined = plan.clone();
    combined.combine(layer);
    &combined != plan
}

/// Reconcile the workload with the state (`DJANGO.md` 10).
pub fn reconcile<R: ToolRunner, P: Pebble>(
    state: &CharmState,
    tools: &mut HookTools<R>,
    pebble: &mut P,
) -> Result<(), HookError> {
    // Row 0: configuration errors.
    if let Some(message) = state.config.framework_error() {
        return Ok(set_status(tools, state.leader, &Status::blocked(message))?);
    }
    if let Some(message) = state.config.user_error() {
        if !state.config.missing.is_empty() && pebble.can_connect() {
            stop_running_services(pebble)?;
        }
        return Ok(set_status(tools, state.leader, &Status::blocked(message))?);
    }
    // 1. Readiness.
    if !pebble.can_connect() {
        return Ok(set_status(
            tools,
            state.leader,
            &Status::waiting(WAITING_FOR_PEBBLE),
        )?);
    }
    if state.peer.secret_key.is_none() {
        return Ok(set_status(
            tools,
            state.leader,
            &Status::waiting(WAITING_FOR_PEER),
        )?);
    }
    set_status(tools, state.leader, &Status::maintenance(PREPARING))?;

    let plan = pebble.get_plan()?;
    let original: IndexMap<String, Service> = plan.services.clone().into_iter().collect();
    let env: BTreeMap<String, String> = app_environment(state);
    let layer = desired_layer(&original, &env, None, true);
    let added = layer_changes_plan(&plan, &layer);
    if added {
        pebble.add_layer(LAYER_LABEL, &layer, true)?;
    }
    let mut combined = plan;
    combined.combine(&layer);
    let needs_start = {
        let enabled: Vec<String> = combined
            .services
            .iter()
            .filter(|(_, s)| s.is_enabled())
            .map(|(n, _)| n.clone())
            .collect();
        !enabled.is_empty() && pebble.services(&enabled)?.iter().any(|s| !s.is_running())
    };
    if added || needs_start {
        pebble.service_action(ServiceAction::Replan, &[])?;
    }
    tools.set_ports(&[APP_PORT])?;
    set_status(tools, state.leader, &Status::active())?;
    Ok(())
}
