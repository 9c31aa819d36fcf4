//! Pebble, the workload container's service manager, as the charm sees it.
//!
//! [`Pebble`] is the one boundary the charm uses to reach a workload container. It has a
//! real implementation speaking Pebble's HTTP API over the container's unix socket
//! ([`client::PebbleClient`]); the in-memory one that tests and `simulate` use lives in
//! `sim::pebble`.
//! Layer and plan types, with Pebble's combine rules, live in [`layer`].

pub mod client;
pub mod layer;
pub mod multipart;

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use layer::{Layer, Plan, Service};

/// Everything that can go wrong talking to Pebble.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum PebbleError {
    /// The socket is absent or refuses connections: the container is not (yet) up.
    #[error("cannot connect to Pebble at {socket}: {reason}")]
    CannotConnect { socket: PathBuf, reason: String },
    /// Pebble answered with an error envelope.
    #[error("Pebble API error {status} on {what}: {message}")]
    Api {
        status: u16,
        what: String,
        message: String,
        kind: Option<String>,
    },
    /// A change (start/stop/replan/exec) ended in error; its tasks in change order, and
    /// for an exec (e.g. one killed at its timeout) what the command wrote before.
    #[error("Pebble change {id} failed: {err}")]
    Change {
        id: String,
        err: String,
        tasks: Vec<TaskInfo>,
        output: Option<Box<ExecOutput>>,
    },
    /// A per-file error from the files API.
    #[error("Pebble file error on {path} ({kind}): {message}")]
    Path {
        path: String,
        kind: String,
        message: String,
    },
    /// Waiting for a change or a request took too long.
    #[error("timed out talking to Pebble: {0}")]
    Timeout(String),
    /// Pebble answered something we could not understand.
    #[error("unexpected answer from Pebble: {0}")]
    Protocol(String),
}

impl PebbleError {
    /// True when the error means "the path does not exist" (a 404 from `list`, or a
    /// `not-found` file error).
    pub fn is_not_found(&self) -> bool {
        match self {
            PebbleError::Api { status, kind, .. } => {
                *status == 404 || kind.as_deref() == Some("not-found")
            }
            PebbleError::Path { kind, .. } => kind == "not-found",
            _ => false,
        }
    }
}

pub type Result<T> = std::result::Result<T, PebbleError>;

/// `GET /v1/system-info`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SystemInfo {
    pub version: String,
}

/// One entry of `GET /v1/services`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceInfo {
    pub name: String,
    /// `enabled` or `disabled`.
    pub startup: String,
    /// `active`, `inactive`, `backoff` or `error`.
    pub current: String,
}

impl ServiceInfo {
    pub fn is_running(&self) -> bool {
        self.current == "active"
    }
}

/// One entry of `GET /v1/checks`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckInfo {
    pub name: String,
    pub level: String,
    pub status: String,
    pub failures: u64,
    pub threshold: u64,
}

/// The `action` of `POST /v1/services`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceAction {
    Start,
    Stop,
    Restart,
    Replan,
    Autostart,
}

impl ServiceAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceAction::Start => "start",
            ServiceAction::Stop => "stop",
            ServiceAction::Restart => "restart",
            ServiceAction::Replan => "replan",
            ServiceAction::Autostart => "autostart",
        }
    }
}

/// A finished Pebble change.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Change {
    pub id: String,
    pub kind: String,
    pub summary: String,
    pub status: String,
}

/// One task of a change.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TaskInfo {
    /// `start`, `stop`, `exec`, ...
    pub kind: String,
    /// `Start service "django"`, ...
    pub summary: String,
    /// `Done`, `Error`, `Hold`, ...
    pub status: String,
}

/// Ownership and permissions of a file or directory Pebble creates.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileOwnership {
    /// Exactly three octal digits (`"644"`), or Pebble's default.
    pub permissions: Option<String>,
    pub user: Option<String>,
    pub user_id: Option<u32>,
    pub group: Option<String>,
    pub group_id: Option<u32>,
}

/// Options of a file push.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PushOptions {
    pub make_dirs: bool,
    pub ownership: FileOwnership,
}

/// Options of a make-dir.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MakeDirOptions {
    pub make_parents: bool,
    pub ownership: FileOwnership,
}

/// One entry of a file listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    pub path: String,
    pub name: String,
    /// `file`, `directory`, `symlink`, ...
    pub kind: String,
    pub size: Option<u64>,
    pub permissions: String,
    pub user: Option<String>,
    pub group: Option<String>,
}

/// A command to run in the container (`POST /v1/exec`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExecRequest {
    pub command: Vec<String>,
    pub environment: BTreeMap<String, String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub group: Option<String>,
    /// Bytes fed to the process's stdin (it is closed after them).
    pub stdin: Vec<u8>,
    /// `false`: stderr is merged into stdout (Pebble's `split-stderr: false`).
    pub split_stderr: bool,
    /// `None`: no timeout.
    pub timeout: Option<std::time::Duration>,
}

impl ExecRequest {
    pub fn new<S: Into<String>>(command: impl IntoIterator<Item = S>) -> Self {
        ExecRequest {
            command: command.into_iter().map(Into::into).collect(),
            split_stderr: true,
            ..Default::default()
        }
    }
}

/// What an exec produced. A non-zero exit code is a result, not an error.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecOutput {
    pub exit_code: i64,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl ExecOutput {
    pub fn success(&self) -> bool {
        self.exit_code == 0
    }
}

/// The Pebble API of one workload container, as the charm uses it.
///
/// Calls that start a change (service actions, exec) wait for it to finish; a change that
/// ends in error is [`PebbleError::Change`].
pub trait Pebble {
    /// `GET /v1/system-info`; an error means "cannot connect".
    fn system_info(&mut self) -> Result<SystemInfo>;
    /// The combined plan (`GET /v1/plan?format=yaml`).
    fn get_plan(&mut self) -> Result<Plan>;
    /// `POST /v1/layers` with `action: add`.
    fn add_layer(&mut self, label: &str, layer: &Layer, combine: bool) -> Result<()>;
    /// `GET /v1/services`, all services when `names` is empty.
    fn services(&mut self, names: &[String]) -> Result<Vec<ServiceInfo>>;
    /// `POST /v1/services`, then wait for the change. `names` must be empty for replan
    /// and autostart. Restart falls back to stop + start on an HTTP 400 (old Pebble).
    fn service_action(&mut self, action: ServiceAction, names: &[String]) -> Result<Change>;
    /// Write a file (multipart `POST /v1/files`).
    fn push(&mut self, path: &str, content: &[u8], options: &PushOptions) -> Result<()>;
    /// Read a file (`GET /v1/files?action=read`).
    fn pull(&mut self, path: &str) -> Result<Vec<u8>>;
    /// List a directory, or the path itself with `itself`.
    fn list_files(
        &mut self,
        path: &str,
        pattern: Option<&str>,
        itself: bool,
    ) -> Result<Vec<FileInfo>>;
    fn make_dir(&mut self, path: &str, options: &MakeDirOptions) -> Result<()>;
    fn remove_path(&mut self, path: &str, recursive: bool) -> Result<()>;
    /// Run a command and wait for it; a non-zero exit is in [`ExecOutput::exit_code`].
    fn exec(&mut self, request: &ExecRequest) -> Result<ExecOutput>;
    /// `POST /v1/signals`, e.g. `SIGHUP`.
    fn send_signal(&mut self, signal: &str, services: &[String]) -> Result<()>;
    /// `GET /v1/checks`.
    fn checks(&mut self, level: Option<&str>, names: &[String]) -> Result<Vec<CheckInfo>>;

    /// Whether `path` exists (a list with `itself=true`; a 404 is `false`).
    fn exists(&mut self, path: &str) -> Result<bool> {
        match self.list_files(path, None, true) {
            Ok(entries) => Ok(!entries.is_empty()),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Whether the container can be reached at all.
    fn can_connect(&mut self) -> bool {
        self.system_info().is_ok()
    }
}
