//! What every hook works with, and what every part of the charm may import: the hook's
//! [`Hook`] (its context, the project files, the hook tools, the container's Pebble),
//! the one error type that makes a hook exit non-zero ([`HookError`]), logging and the
//! status write. A leaf: it imports nothing of the charm's decisions.

use crate::juju::context::HookContext;
use crate::juju::tools::{HookTools, LogLevel, Status, ToolError};
use crate::pebble::{Pebble, PebbleError};
use crate::project::Project;

/// Everything one hook works with.
pub struct Hook<'a> {
    pub ctx: &'a HookContext,
    pub project: &'a Project,
    pub tools: &'a mut HookTools,
    pub pebble: &'a mut dyn Pebble,
}

/// A failure that makes the hook exit non-zero, so that Juju retries it.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error(transparent)]
    Pebble(#[from] PebbleError),
    #[error(transparent)]
    Random(#[from] crate::random::RandomError),
    #[error("{0}")]
    Other(String),
}

/// Set the unit status and, on the leader, the application status. Leadership is asked
/// only when the application status would change: when the status memory says it is
/// what this unit last wrote, no write is needed, leader or not.
pub fn set_status(tools: &mut HookTools, status: &Status) -> Result<(), ToolError> {
    tools.status_set(status, false)?;
    tools.app_status_set(status)
}

/// Log through `juju-log`; when that fails, fall back to stderr (which Juju also keeps).
pub fn log(tools: &mut HookTools, level: LogLevel, message: &str) {
    if let Err(e) = tools.juju_log(level, message) {
        eprintln!("{} {message} (juju-log failed: {e})", level.as_str());
    }
}
