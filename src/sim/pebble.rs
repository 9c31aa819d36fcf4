//! An in-memory model of one Pebble daemon: its layers and plan, service states,
//! changes, files, scripted exec results and a log of everything a client asked it to
//! change.
//!
//! [`PebbleModel`] holds the state and implements Pebble's rules (`CONTRACT.md` E.3–E.13)
//! with the daemon's error messages; it is plain data (serde), so tests and the
//! `simulate` subcommand can write one as YAML or JSON. [`MemoryPebble`] puts a model
//! behind the [`Pebble`] trait for unit tests of the charm, and the test harness's fake
//! server serves the same model over the real wire protocol, so both fakes agree on
//! behaviour by construction.
//!
//! Unlike the real daemon nothing runs: a service "starts" unless it is listed in
//! [`PebbleModel::failing_services`], and an exec answers from
//! [`PebbleModel::exec_rules`] (exit 0 with no output when no rule matches). Like the
//! daemon, an exec is refused up front when its program or user is not in the container
//! (see [`PebbleModel`] for what the model takes to be installed), and fails when the
//! command outlives its timeout ([`ExecRule::runs_for`]).

mod client;
mod exec;
mod files;
mod services;

pub use client::MemoryPebble;
pub use exec::{BASE_EXECUTABLES, BASE_USERS, DAEMON_PATH, ExecRule, ExecRun};
pub mod util;
pub mod validate;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::pebble::layer::{Layer, Plan};
use crate::pebble::{
    Change, CheckInfo, ExecOutput, ExecRequest, FileInfo, FileOwnership, MakeDirOptions, Pebble,
    PebbleError, PushOptions, Result, ServiceAction, ServiceInfo, SystemInfo, TaskInfo,
};
use util::{ancestors, base_name, clean_path, glob_match, parent_of, rfc3339_now};
use validate::{
    LayerRejection, normalise_plan, parse_layer_strict, require_overrides, start_order, stop_order,
    validate_layer, validate_plan,
};

/// The Pebble version the model reports (the one `CONTRACT.md` was checked against).
pub const PEBBLE_VERSION: &str = "v1.32.1";

/// Signal names Pebble accepts (`unix.SignalNum`).
const SIGNALS: &[&str] = &[
    "SIGABRT",
    "SIGALRM",
    "SIGBUS",
    "SIGCHLD",
    "SIGCONT",
    "SIGFPE",
    "SIGHUP",
    "SIGILL",
    "SIGINT",
    "SIGIO",
    "SIGKILL",
    "SIGPIPE",
    "SIGPROF",
    "SIGPWR",
    "SIGQUIT",
    "SIGSEGV",
    "SIGSTOP",
    "SIGSYS",
    "SIGTERM",
    "SIGTRAP",
    "SIGTSTP",
    "SIGTTIN",
    "SIGTTOU",
    "SIGURG",
    "SIGUSR1",
    "SIGUSR2",
    "SIGVTALRM",
    "SIGWINCH",
    "SIGXCPU",
    "SIGXFSZ",
];

/// What a failing service's start reports (Pebble's wording for a process that exits
/// within its first second).
const START_FAILURE: &str = "service start attempt: exited quickly with code 1, will restart";

// ---------------------------------------------------------------------------------
// Plain data
// ---------------------------------------------------------------------------------

/// File bytes. In YAML/JSON they are a string when they are UTF-8 and
/// `{base64: "..."}` otherwise, so models stay readable.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct FileContent(pub Vec<u8>);

impl FileContent {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The content as text, when it is UTF-8.
    pub fn as_text(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }
}

impl fmt::Debug for FileContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_text() {
            Some(text) => write!(f, "{text:?}"),
            None => write!(f, "<{} bytes>", self.0.len()),
        }
    }
}

impl From<&str> for FileContent {
    fn from(text: &str) -> Self {
        FileContent(text.as_bytes().to_vec())
    }
}

impl From<String> for FileContent {
    fn from(text: String) -> Self {
        FileContent(text.into_bytes())
    }
}

impl From<Vec<u8>> for FileContent {
    fn from(bytes: Vec<u8>) -> Self {
        FileContent(bytes)
    }
}

impl From<&[u8]> for FileContent {
    fn from(bytes: &[u8]) -> Self {
        FileContent(bytes.to_vec())
    }
}

impl Serialize for FileContent {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        match self.as_text() {
            Some(text) => serializer.serialize_str(text),
            None => {
                let encoded = base64::engine::general_purpose::STANDARD.encode(&self.0);
                BTreeMap::from([("base64", encoded)]).serialize(serializer)
            }
        }
    }
}

impl<'de> Deserialize<'de> for FileContent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Text(String),
            Encoded { base64: String },
        }
        match Repr::deserialize(deserializer)? {
            Repr::Text(text) => Ok(text.into()),
            Repr::Encoded { base64 } => base64::engine::general_purpose::STANDARD
                .decode(base64.as_bytes())
                .map(FileContent)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// A service's `current` state as `GET /v1/services` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceStatus {
    Active,
    #[default]
    Inactive,
    Backoff,
    Error,
}

impl ServiceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceStatus::Active => "active",
            ServiceStatus::Inactive => "inactive",
            ServiceStatus::Backoff => "backoff",
            ServiceStatus::Error => "error",
        }
    }
}

/// The runtime state of one service.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct ServiceState {
    pub current: ServiceStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_since: Option<String>,
    /// The plan definition the service was last started with; replan restarts it when
    /// the plan's definition differs. A model that declares a service running without
    /// this is taken to run the plan's definition as it stands when the model is first
    /// used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_with: Option<crate::pebble::Service>,
    /// How many times the service was (re)started: tests assert restarts with it.
    pub starts: u32,
}

impl ServiceState {
    /// Whether Pebble tracks a process (or its restart) for the service.
    fn is_started(&self) -> bool {
        self.current != ServiceStatus::Inactive
    }
}

/// Whether a path is a regular file or a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    #[default]
    File,
    Directory,
}

/// A file or directory of the container's filesystem.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct FsEntry {
    #[serde(rename = "type")]
    pub kind: EntryKind,
    #[serde(skip_serializing_if = "FileContent::is_empty")]
    pub content: FileContent,
    /// Three octal digits; `None` means Pebble's default (644 files, 755 directories).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modified: Option<String>,
}

impl FsEntry {
    pub fn file(content: impl Into<FileContent>) -> Self {
        FsEntry {
            content: content.into(),
            ..FsEntry::default()
        }
    }

    pub fn directory() -> Self {
        FsEntry {
            kind: EntryKind::Directory,
            ..FsEntry::default()
        }
    }

    pub fn with_permissions(mut self, permissions: &str) -> Self {
        self.permissions = Some(permissions.to_string());
        self
    }

    pub fn with_owner(mut self, user: &str, group: &str) -> Self {
        self.user = Some(user.to_string());
        self.group = Some(group.to_string());
        self
    }

    pub fn is_dir(&self) -> bool {
        self.kind == EntryKind::Directory
    }

    /// The effective permissions.
    pub fn permissions(&self) -> &str {
        match (&self.permissions, self.kind) {
            (Some(p), _) => p,
            (None, EntryKind::File) => "644",
            (None, EntryKind::Directory) => "755",
        }
    }

    /// The owner's name (`root` unless set).
    pub fn user_name(&self) -> &str {
        self.user.as_deref().unwrap_or("root")
    }

    /// The group's name (`root` unless set).
    pub fn group_name(&self) -> &str {
        self.group.as_deref().unwrap_or("root")
    }

    fn with_ownership(mut self, ownership: &Ownership) -> Self {
        self.user.clone_from(&ownership.user);
        self.user_id = ownership.user_id;
        self.group.clone_from(&ownership.group);
        self.group_id = ownership.group_id;
        self.modified = Some(rfc3339_now());
        self
    }
}

/// One request a client made that changes the container, in the order they came.
///
/// Every such request is logged whether or not Pebble accepted it (a refused layer is
/// still something the charm tried), except exec, which is logged when the command
/// runs because only then is its stdin known.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "op",
    rename_all = "kebab-case",
    rename_all_fields = "kebab-case"
)]
pub enum PebbleOp {
    AddLayer {
        label: String,
        combine: bool,
        layer: Layer,
    },
    ServiceAction {
        #[serde(with = "action_serde")]
        action: ServiceAction,
        services: Vec<String>,
    },
    Push {
        path: String,
        content: FileContent,
        make_dirs: bool,
        permissions: Option<String>,
        user: Option<String>,
        user_id: Option<u32>,
        group: Option<String>,
        group_id: Option<u32>,
    },
    MakeDir {
        path: String,
        make_parents: bool,
        permissions: Option<String>,
        user: Option<String>,
        user_id: Option<u32>,
        group: Option<String>,
        group_id: Option<u32>,
    },
    Remove {
        path: String,
        recursive: bool,
    },
    Exec {
        command: Vec<String>,
        environment: BTreeMap<String, String>,
        working_dir: Option<String>,
        user: Option<String>,
        group: Option<String>,
        stdin: FileContent,
    },
    Signal {
        signal: String,
        services: Vec<String>,
    },
}

/// One task of a change.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct ModelTask {
    pub id: String,
    pub kind: String,
    pub summary: String,
    pub status: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub log: Vec<String>,
    /// What the API shows as the task's `data` (an exec's `exit-code`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, Value>,
    pub spawn_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready_time: Option<String>,
}

/// A change (the record of a service action or an exec).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct ModelChange {
    pub id: String,
    pub kind: String,
    pub summary: String,
    /// `Doing`, `Done`, `Hold` or `Error`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub err: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<ModelTask>,
    pub spawn_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready_time: Option<String>,
}

impl ModelChange {
    pub fn is_ready(&self) -> bool {
        matches!(self.status.as_str(), "Done" | "Undone" | "Hold" | "Error")
    }

    /// An exec's exit code (`tasks[0].data["exit-code"]`).
    pub fn exit_code(&self) -> Option<i64> {
        self.tasks.first()?.data.get("exit-code")?.as_i64()
    }

    fn summary(&self) -> Change {
        Change {
            id: self.id.clone(),
            kind: self.kind.clone(),
            summary: self.summary.clone(),
            status: self.status.clone(),
        }
    }
}

/// The state of one Pebble daemon. See the module documentation.
///
/// What the container holds, for exec's up-front checks (`POST /v1/exec` answers 400
/// `cannot find executable "X"`, `user: unknown user X`, `group: unknown group X`):
///
/// - A program is installed when it is one of [`BASE_EXECUTABLES`] (Python and the
///   shell utilities every Django rock has), listed in [`executables`](Self::executables),
///   run by a service of the plan (a rock ships what its plan runs), or a file of
///   [`files`](Self::files) with an execute bit. A command that an [`ExecRule`] answers
///   is found too: a scripted command stands for an installed program. As in Pebble, a
///   bare name is looked up on the daemon's PATH ([`DAEMON_PATH`], not the exec's
///   environment), a name with a slash is taken as is (relative to `/`), and `/bin`,
///   `/sbin` are the same directories as `/usr/bin`, `/usr/sbin` (Ubuntu's merged
///   `/usr`).
/// - A user exists when it is one of [`BASE_USERS`] (`root`, `_daemon_`) or listed in
///   [`users`](Self::users); a group when it is one of those users' own groups or listed
///   in [`groups`](Self::groups).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct PebbleModel {
    /// What `GET /v1/system-info` reports.
    pub version: String,
    /// The layers, bottom first. In YAML/JSON a mapping from label to layer, in order.
    #[serde(with = "layers_serde")]
    pub layers: Vec<(String, Layer)>,
    pub services: BTreeMap<String, ServiceState>,
    /// Files and directories by absolute path. Parent directories of listed paths exist
    /// implicitly (root-owned, 755); `/` always exists.
    pub files: BTreeMap<String, FsEntry>,
    pub exec_rules: Vec<ExecRule>,
    /// Programs installed besides [`BASE_EXECUTABLES`]: absolute paths, or bare names for
    /// programs in `/usr/bin`.
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub executables: BTreeSet<String>,
    /// Users besides [`BASE_USERS`], each with a group of its own name.
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub users: BTreeSet<String>,
    /// Groups besides the users' own.
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub groups: BTreeSet<String>,
    /// Services whose start fails (they exit at once with code 1 and go to backoff).
    pub failing_services: BTreeSet<String>,
    /// Checks of the plan that report `down` (their target does not answer).
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub checks_down: BTreeSet<String>,
    pub changes: Vec<ModelChange>,
    pub ops: Vec<PebbleOp>,
}

impl Default for PebbleModel {
    fn default() -> Self {
        PebbleModel {
            version: PEBBLE_VERSION.to_string(),
            layers: Vec::new(),
            services: BTreeMap::new(),
            files: BTreeMap::new(),
            exec_rules: Vec::new(),
            executables: BTreeSet::new(),
            users: BTreeSet::new(),
            groups: BTreeSet::new(),
            failing_services: BTreeSet::new(),
            checks_down: BTreeSet::new(),
            changes: Vec::new(),
            ops: Vec::new(),
        }
    }
}

/// One step of a service change.
enum Step {
    Start(String),
    Stop(String),
}

/// Who should own a created file or directory.
struct Ownership {
    user: Option<String>,
    user_id: Option<u32>,
    group: Option<String>,
    group_id: Option<u32>,
}

impl Ownership {
    /// Pebble's rules: a group alone is refused; a user alone also takes the user's
    /// group, which in containers is conventionally named after the user.
    fn resolve(owner: &FileOwnership) -> std::result::Result<Self, String> {
        let has_user = owner.user.is_some() || owner.user_id.is_some();
        let has_group = owner.group.is_some() || owner.group_id.is_some();
        if has_group && !has_user {
            return Err(
                "cannot look up user and group: must specify user, not just group".to_string(),
            );
        }
        let (group, group_id) = if has_group {
            (owner.group.clone(), owner.group_id)
        } else {
            (owner.user.clone(), owner.user_id)
        };
        Ok(Ownership {
            user: owner.user.clone(),
            user_id: owner.user_id,
            group,
            group_id,
        })
    }
}

fn api_error(status: u16, what: &str, message: impl Into<String>) -> PebbleError {
    PebbleError::Api {
        status,
        what: what.to_string(),
        message: message.into(),
        kind: None,
    }
}

fn path_error(path: &str, kind: &str, message: impl Into<String>) -> PebbleError {
    PebbleError::Path {
        path: path.to_string(),
        kind: kind.to_string(),
        message: message.into(),
    }
}

fn rejection(what: &str, rejection: LayerRejection) -> PebbleError {
    api_error(rejection.status, what, rejection.message)
}

/// Pebble's permission strings: exactly three octal digits.
fn check_permissions(permissions: &Option<String>) -> std::result::Result<(), String> {
    match permissions {
        None => Ok(()),
        Some(p) if p.len() == 3 && p.bytes().all(|b| (b'0'..=b'7').contains(&b)) => Ok(()),
        Some(p) => Err(format!(
            "permissions must be a 3-digit octal string, got {p:?}"
        )),
    }
}

fn log_line(level: &str, message: &str) -> String {
    format!("{} {level} {message}", rfc3339_now())
}

fn summarise(verb: &str, first: &str, count: usize) -> String {
    if count <= 1 {
        format!("{verb} service {first:?}")
    } else {
        format!("{verb} service {first:?} and {} more", count - 1)
    }
}

/// Parse the `action` of `POST /v1/services`.
pub fn parse_service_action(action: &str) -> Option<ServiceAction> {
    Some(match action {
        "start" => ServiceAction::Start,
        "stop" => ServiceAction::Stop,
        "restart" => ServiceAction::Restart,
        "replan" => ServiceAction::Replan,
        "autostart" => ServiceAction::Autostart,
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------
// Building a model
// ---------------------------------------------------------------------------------

impl PebbleModel {
    pub fn new() -> Self {
        PebbleModel::default()
    }

    /// A model from YAML (or JSON, which is YAML).
    pub fn from_yaml(text: &str) -> std::result::Result<Self, String> {
        if text.trim().is_empty() {
            return Ok(PebbleModel::default());
        }
        serde_saphyr::from_str(text).map_err(|e| e.to_string())
    }

    /// The model as YAML.
    pub fn to_yaml(&self) -> std::result::Result<String, String> {
        serde_saphyr::to_string(self).map_err(|e| e.to_string())
    }

    /// Add a layer as if the container image (or an earlier hook) had put it there:
    /// no validation, no op logged.
    pub fn with_layer(mut self, label: &str, layer: Layer) -> Self {
        self.layers.push((label.to_string(), layer));
        self
    }

    /// Mark a service as running the plan's current definition.
    pub fn with_running_service(mut self, name: &str) -> Self {
        let definition = self.plan().services.get(name).cloned();
        let state = self.services.entry(name.to_string()).or_default();
        state.current = ServiceStatus::Active;
        state.current_since = Some(rfc3339_now());
        state.started_with = definition;
        state.starts = state.starts.max(1);
        self
    }

    /// Make every start of the service fail.
    pub fn with_failing_service(mut self, name: &str) -> Self {
        self.failing_services.insert(name.to_string());
        self
    }

    /// A root-owned 644 file (parent directories exist implicitly).
    pub fn with_file(self, path: &str, content: impl Into<FileContent>) -> Self {
        self.with_entry(path, FsEntry::file(content))
    }

    /// A root-owned 755 directory.
    pub fn with_dir(self, path: &str) -> Self {
        self.with_entry(path, FsEntry::directory())
    }

    /// Any file or directory entry.
    pub fn with_entry(mut self, path: &str, entry: FsEntry) -> Self {
        self.files.insert(clean_path(path), entry);
        self.settle();
        self
    }

    pub fn with_exec(mut self, rule: ExecRule) -> Self {
        self.exec_rules.push(rule);
        self
    }

    /// An installed program (an absolute path, or a bare name for `/usr/bin/NAME`).
    pub fn with_executable(mut self, program: &str) -> Self {
        self.executables.insert(program.to_string());
        self
    }

    /// A user (and its own group).
    pub fn with_user(mut self, name: &str) -> Self {
        self.users.insert(name.to_string());
        self
    }

    /// Bring hand-written state into the shape the operations rely on: clean path
    /// keys, explicit parent directories, and a recorded definition for every service
    /// declared running.
    fn settle(&mut self) {
        if self.files.keys().any(|k| *k != clean_path(k) || k == "/") {
            let files = std::mem::take(&mut self.files);
            self.files = files
                .into_iter()
                .map(|(k, v)| (clean_path(&k), v))
                .filter(|(k, _)| k != "/")
                .collect();
        }
        let missing: BTreeSet<String> = self
            .files
            .keys()
            .flat_map(|path| ancestors(path))
            .filter(|dir| !self.files.contains_key(dir))
            .collect();
        for dir in missing {
            self.files.insert(dir, FsEntry::directory());
        }
        if self
            .services
            .values()
            .any(|s| s.is_started() && s.started_with.is_none())
        {
            let plan = self.plan();
            for (name, state) in &mut self.services {
                if state.is_started() && state.started_with.is_none() {
                    state.started_with = plan.services.get(name).cloned();
                }
            }
        }
    }

    // -----------------------------------------------------------------------------
    // Inspection helpers for tests
    // -----------------------------------------------------------------------------

    /// A file's content as text (`None` when missing, a directory, or not UTF-8).
    pub fn file_text(&self, path: &str) -> Option<&str> {
        let entry = self.files.get(&clean_path(path))?;
        if entry.is_dir() {
            return None;
        }
        entry.content.as_text()
    }

    /// A service's current state (inactive when never started).
    pub fn service_status(&self, name: &str) -> ServiceStatus {
        self.services
            .get(name)
            .map_or(ServiceStatus::Inactive, |s| s.current)
    }

    /// The change with this id.
    pub fn change(&self, id: &str) -> Option<&ModelChange> {
        self.changes.iter().find(|c| c.id == id)
    }

    /// The change that owns the task with this id.
    pub fn change_of_task(&self, task_id: &str) -> Option<&ModelChange> {
        self.changes
            .iter()
            .find(|c| c.tasks.iter().any(|t| t.id == task_id))
    }

    /// The logged execs' argvs, in order.
    pub fn exec_commands(&self) -> Vec<Vec<String>> {
        self.ops
            .iter()
            .filter_map(|op| match op {
                PebbleOp::Exec { command, .. } => Some(command.clone()),
                _ => None,
            })
            .collect()
    }

    // -----------------------------------------------------------------------------
    // System info and layers
    // -----------------------------------------------------------------------------

    pub fn system_info(&self) -> SystemInfo {
        SystemInfo {
            version: self.version.clone(),
        }
    }

    /// The combined plan as `GET /v1/plan` shows it.
    pub fn plan(&self) -> Plan {
        normalise_plan(Layer::combine_all(self.layers.iter().map(|(_, l)| l)))
    }

    /// The plan as the YAML text `GET /v1/plan?format=yaml` returns.
    pub fn plan_yaml(&self) -> Result<String> {
        self.plan()
            .to_yaml()
            .map_err(|e| api_error(500, "GET /v1/plan", format!("cannot serialize plan: {e}")))
    }

    /// Add a layer (`POST /v1/layers`), validating it the way Pebble does. A refused
    /// layer leaves the plan unchanged.
    pub fn add_layer(&mut self, label: &str, layer: &Layer, combine: bool) -> Result<()> {
        self.settle();
        self.ops.push(PebbleOp::AddLayer {
            label: label.to_string(),
            combine,
            layer: layer.clone(),
        });
        const WHAT: &str = "POST /v1/layers";
        if label.is_empty() {
            return Err(api_error(400, WHAT, "label must be set"));
        }
        validate_layer(label, layer).map_err(|r| rejection(WHAT, r))?;
        self.insert_layer(label, layer, combine)
    }

    /// Add a layer given as YAML text, parsed as strictly as Pebble parses it (unknown
    /// sections and fields are errors).
    pub fn add_layer_yaml(&mut self, label: &str, yaml: &str, combine: bool) -> Result<()> {
        self.settle();
        self.ops.push(PebbleOp::AddLayer {
            label: label.to_string(),
            combine,
            layer: Layer::from_yaml(yaml).unwrap_or_default(),
        });
        const WHAT: &str = "POST /v1/layers";
        if label.is_empty() {
            return Err(api_error(400, WHAT, "label must be set"));
        }
        let layer = parse_layer_strict(label, yaml).map_err(|r| rejection(WHAT, r))?;
        self.insert_layer(label, &layer, combine)
    }

    fn insert_layer(&mut self, label: &str, layer: &Layer, combine: bool) -> Result<()> {
        const WHAT: &str = "POST /v1/layers";
        require_overrides(label, layer).map_err(|r| rejection(WHAT, r))?;
        let mut layers = self.layers.clone();
        match layers.iter_mut().find(|(l, _)| l == label) {
            Some((_, existing)) if combine => existing.combine(layer),
            Some(_) => {
                return Err(api_error(
                    400,
                    WHAT,
                    format!("layer {label:?} already exists"),
                ));
            }
            None if label.contains('/') => {
                return Err(api_error(
                    500,
                    WHAT,
                    "cannot insert sub-directory layer without 'inner' attribute set",
                ));
            }
            None => layers.push((label.to_string(), layer.clone())),
        }
        let combined = Layer::combine_all(layers.iter().map(|(_, l)| l));
        validate_plan(&combined).map_err(|r| rejection(WHAT, r))?;
        self.layers = layers;
        Ok(())
    }
}

/// `ServiceAction` as its wire string.
mod action_serde {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::pebble::ServiceAction;

    pub fn serialize<S: Serializer>(action: &ServiceAction, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(action.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ServiceAction, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_service_action(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("invalid action {text:?}")))
    }
}

/// Layers as an ordered mapping from label to layer.
mod layers_serde {
    use std::fmt;

    use serde::de::{MapAccess, Visitor};
    use serde::ser::SerializeMap;
    use serde::{Deserializer, Serializer};

    use crate::pebble::layer::Layer;

    pub fn serialize<S: Serializer>(layers: &[(String, Layer)], s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(layers.len()))?;
        for (label, layer) in layers {
            map.serialize_entry(label, layer)?;
        }
        map.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, Layer)>, D::Error> {
        struct Ordered;
        impl<'de> Visitor<'de> for Ordered {
            type Value = Vec<(String, Layer)>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping from layer label to layer")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((label, layer)) = map.next_entry::<String, Layer>()? {
                    out.push((label, layer));
                }
                Ok(out)
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(Vec::new())
            }
        }
        d.deserialize_map(Ordered)
    }
}

#[cfg(test)]
mod tests;
