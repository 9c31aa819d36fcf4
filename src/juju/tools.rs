//! Juju hook tools: typed calls with the argv ops uses and `--format=json` output.
//!
//! Every tool goes through one small boundary, [`ToolRunner`], which runs a tool by name
//! with its arguments (and stdin) and returns its exit code and output. The real runner
//! spawns the executable found on `PATH`, as under Juju; the in-memory Juju
//! ([`crate::sim::juju`]) interprets the same argv, so the typed layer here (argv
//! building, output parsing, error mapping) is what every test exercises too.
//!
//! Error policy (`CONTRACT.md` C.1): the documented "not found" answers (a relation that
//! is gone, a secret that does not exist or is not granted) are data (`Ok(None)`);
//! anything else is a [`ToolError`] naming the tool, its arguments with secret-bearing
//! values redacted, the exit status and stderr. Secret contents are passed through
//! `key#file=` arguments and relation data through stdin, so no value reaches argv.

use std::io::Write;
use std::process::{Command, Stdio};

use indexmap::IndexMap;
use serde_json::Value;

use crate::juju::context::RelationId;
use crate::juju::read_cache::ReadCache;
use crate::juju::secrets::SecretFiles;
pub use crate::juju::secrets::{
    SecretInfo, SecretOptions, SecretOwner, SecretRead, bare_secret_id,
};
use crate::juju::status_memory::{StatusBook, StatusMemory};

/// A databag or any other string → string map that keeps the order it was read in.
pub type Databag = IndexMap<String, String>;

/// The content of a Juju secret.
pub type SecretContent = IndexMap<String, String>;

/// What a tool run produced.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ToolOutput {
    /// The exit code; -1 when the process was killed by a signal.
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Runs one hook tool: the only way the charm reaches Juju.
pub trait ToolRunner {
    fn run(
        &mut self,
        tool: &str,
        args: &[String],
        stdin: Option<&[u8]>,
    ) -> std::io::Result<ToolOutput>;
}

/// Runs the real executables found on `PATH`.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcessRunner;

impl ToolRunner for ProcessRunner {
    fn run(
        &mut self,
        tool: &str,
        args: &[String],
        stdin: Option<&[u8]>,
    ) -> std::io::Result<ToolOutput> {
        let mut cmd = Command::new(tool);
        cmd.args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            });
        let mut child = cmd.spawn()?;
        if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(data)?;
        }
        let out = child.wait_with_output()?;
        Ok(ToolOutput {
            code: out.status.code().unwrap_or(-1),
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }
}

/// A hook tool that failed in a way the charm cannot treat as data.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ToolError {
    #[error("{tool} failed with exit status {code} (command: {command}; stderr: {stderr})")]
    Failed {
        tool: String,
        command: String,
        code: i32,
        stderr: String,
    },
    #[error("{tool} could not be run (command: {command}): {reason}")]
    Spawn {
        tool: String,
        command: String,
        reason: String,
    },
    #[error("{tool} printed output that could not be parsed (command: {command}): {reason}")]
    BadOutput {
        tool: String,
        command: String,
        reason: String,
    },
}

impl ToolError {
    /// The tool that failed.
    pub fn tool(&self) -> &str {
        match self {
            ToolError::Failed { tool, .. }
            | ToolError::Spawn { tool, .. }
            | ToolError::BadOutput { tool, .. } => tool,
        }
    }
}

pub type Result<T> = std::result::Result<T, ToolError>;

/// Unit and application statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusKind {
    Active,
    Blocked,
    Waiting,
    Maintenance,
}

impl StatusKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StatusKind::Active => "active",
            StatusKind::Blocked => "blocked",
            StatusKind::Waiting => "waiting",
            StatusKind::Maintenance => "maintenance",
        }
    }
}

/// A status with its message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Status {
    pub kind: StatusKind,
    pub message: String,
}

impl Status {
    pub fn new(kind: StatusKind, message: impl Into<String>) -> Self {
        Status {
            kind,
            message: message.into(),
        }
    }
    pub fn active() -> Self {
        Status::new(StatusKind::Active, "")
    }
    pub fn blocked(message: impl Into<String>) -> Self {
        Status::new(StatusKind::Blocked, message)
    }
    pub fn waiting(message: impl Into<String>) -> Self {
        Status::new(StatusKind::Waiting, message)
    }
    pub fn maintenance(message: impl Into<String>) -> Self {
        Status::new(StatusKind::Maintenance, message)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?}", self.kind.as_str(), self.message)
    }
}

/// `juju-log` levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warning,
    Error,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "TRACE",
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO",
            LogLevel::Warning => "WARNING",
            LogLevel::Error => "ERROR",
        }
    }
}

/// The parts of `network-get` the charm uses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NetworkInfo {
    /// The first address of the first `bind-addresses` entry.
    pub bind_address: Option<String>,
    pub ingress_addresses: Vec<String>,
    pub egress_subnets: Vec<String>,
}

/// One unit of `goal-state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoalUnit {
    pub name: String,
    pub status: String,
}

/// Which secret-bearing `key=value` arguments a tool takes: their values are redacted
/// from error messages.
fn redacts_values(tool: &str) -> bool {
    matches!(
        tool,
        "action-set" | "secret-add" | "secret-set" | "state-set" | "relation-set"
    )
}

/// The command line as it may be shown in a log or an error.
pub fn display_command(tool: &str, args: &[String]) -> String {
    let mut parts = vec![tool.to_string()];
    for arg in args {
        let shown = match arg.split_once('=') {
            Some((key, _)) if redacts_values(tool) && !arg.starts_with('-') => {
                format!("{key}=<redacted>")
            }
            _ => arg.clone(),
        };
        parts.push(shown);
    }
    parts.join(" ")
}

/// How a failed tool's stderr reads (`CONTRACT.md` C.1).
fn relation_gone(stderr: &str) -> bool {
    let lower = stderr.to_ascii_lowercase();
    lower.contains("permission denied")
        || lower.contains("unknown relation id")
        || relation_not_found(&lower)
}

/// `relation (\d+ )?not found`.
fn relation_not_found(lower: &str) -> bool {
    let mut rest = lower;
    while let Some(pos) = rest.find("relation ") {
        let after = &rest[pos + "relation ".len()..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let tail = if digits > 0 {
            after[digits..].strip_prefix(' ').unwrap_or("")
        } else {
            after
        };
        if tail.starts_with("not found") {
            return true;
        }
        rest = after;
    }
    false
}

fn secret_missing(stderr: &str) -> bool {
    let lower = stderr.to_ascii_lowercase();
    lower.contains("not found") || lower.contains("permission denied")
}

/// Typed access to the hook tools through a [`ToolRunner`].
///
/// The charm works with `HookTools` (its runner behind `dyn ToolRunner`), so no
/// signature carries the runner's type; a `&mut HookTools<MemoryJuju>` or
/// `&mut HookTools<ProcessRunner>` coerces to it, and whoever made it keeps the concrete
/// runner (tests read the in-memory Juju back through [`HookTools::runner`]).
pub struct HookTools<R: ?Sized = dyn ToolRunner> {
    /// Leadership as `is-leader` last said it: Juju guarantees it for 30 s, longer than
    /// any hook of ours, so one call per hook is enough (ops caches it the same way).
    leader: Option<bool>,
    /// Every value of every secret read in this hook: what the charm must never log.
    secret_contents: Vec<String>,
    /// The statuses last written, when the caller gave them (`status_memory`).
    statuses: Option<StatusBook>,
    /// What each read tool answered in this hook (see [`ReadCache`]).
    reads: ReadCache,
    // Last: the field a `dyn ToolRunner` may stand for.
    runner: R,
}

impl<R: ToolRunner> HookTools<R> {
    pub fn new(runner: R) -> Self {
        HookTools {
            runner,
            leader: None,
            secret_contents: Vec::new(),
            statuses: None,
            reads: ReadCache::default(),
        }
    }

    pub fn into_runner(self) -> R {
        self.runner
    }
}

impl<R: ToolRunner + ?Sized> HookTools<R> {
    /// The values of the secrets read so far in this hook.
    pub fn secret_contents(&self) -> &[String] {
        &self.secret_contents
    }

    pub fn runner(&self) -> &R {
        &self.runner
    }

    /// From now on, skip a `status-set` that would write what `memory` says was written
    /// last; `file` is where the memory is kept between hooks (none: the caller keeps
    /// it). See [`status_memory`](super::status_memory).
    pub fn remember_statuses(&mut self, memory: StatusMemory, file: Option<std::path::PathBuf>) {
        self.statuses = Some(StatusBook::new(memory, file));
    }

    /// The hook runs for `unit` of `app`: the bags a `relation-set` changes.
    pub fn set_local(&mut self, app: &str, unit: &str) {
        self.reads.set_local(app, unit);
    }

    /// Forget the last application status (`application_only`) or both.
    pub fn forget_statuses(&mut self, application_only: bool) {
        if let Some(book) = &mut self.statuses {
            book.forget(application_only);
        }
    }

    /// The hook ended: keep the status memory (`success`) or drop it.
    pub fn finish_statuses(&mut self, success: bool) {
        if let Some(book) = &mut self.statuses {
            book.finish(success);
        }
    }

    /// The status memory of this hook, when there is one.
    pub fn statuses(&self) -> Option<&StatusBook> {
        self.statuses.as_ref()
    }

    pub fn runner_mut(&mut self) -> &mut R {
        &mut self.runner
    }

    /// Run a tool; `Ok(Err(stderr))` when it exited non-zero, so callers can map the
    /// documented "not found" answers to data.
    fn call(
        &mut self,
        tool: &str,
        args: &[String],
        stdin: Option<&[u8]>,
    ) -> Result<std::result::Result<Vec<u8>, (i32, String)>> {
        if let Some(answer) = self.reads.answer(tool, args) {
            return Ok(answer);
        }
        let answer = self.run_tool(tool, args, stdin)?;
        self.reads.record(tool, args, stdin, &answer);
        Ok(answer)
    }

    fn run_tool(
        &mut self,
        tool: &str,
        args: &[String],
        stdin: Option<&[u8]>,
    ) -> Result<std::result::Result<Vec<u8>, (i32, String)>> {
        let out = self
            .runner
            .run(tool, args, stdin)
            .map_err(|e| ToolError::Spawn {
                tool: tool.to_string(),
                command: display_command(tool, args),
                reason: e.to_string(),
            })?;
        if out.code == 0 {
            Ok(Ok(out.stdout))
        } else {
            let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
            Ok(Err((out.code, stderr)))
        }
    }

    fn failed(tool: &str, args: &[String], code: i32, stderr: String) -> ToolError {
        ToolError::Failed {
            tool: tool.to_string(),
            command: display_command(tool, args),
            code,
            stderr,
        }
    }

    /// Run a tool that must succeed; returns stdout.
    fn must(&mut self, tool: &str, args: &[String], stdin: Option<&[u8]>) -> Result<Vec<u8>> {
        match self.call(tool, args, stdin)? {
            Ok(stdout) => Ok(stdout),
            Err((code, stderr)) => Err(Self::failed(tool, args, code, stderr)),
        }
    }

    /// Run a tool that must succeed and parse its JSON output.
    fn json<T: serde::de::DeserializeOwned>(&mut self, tool: &str, args: &[String]) -> Result<T> {
        let stdout = self.must(tool, args, None)?;
        parse_json(tool, args, &stdout)
    }

    /// Like [`Self::json`], but a non-zero exit whose stderr `is_absent` accepts is `None`.
    fn json_or_absent<T: serde::de::DeserializeOwned>(
        &mut self,
        tool: &str,
        args: &[String],
        is_absent: fn(&str) -> bool,
    ) -> Result<Option<T>> {
        match self.call(tool, args, None)? {
            Ok(stdout) => parse_json(tool, args, &stdout).map(Some),
            Err((_, stderr)) if is_absent(&stderr) => Ok(None),
            Err((code, stderr)) => Err(Self::failed(tool, args, code, stderr)),
        }
    }

    /// `config-get --format=json`: the options that are set or have a default.
    pub fn config_get(&mut self) -> Result<serde_json::Map<String, Value>> {
        let value: Option<serde_json::Map<String, Value>> =
            self.json("config-get", &args(["--format=json"]))?;
        Ok(value.unwrap_or_default())
    }

    /// `relation-ids <endpoint> --format=json`.
    pub fn relation_ids(&mut self, endpoint: &str) -> Result<Vec<RelationId>> {
        let a = args([endpoint, "--format=json"]);
        let ids: Option<Vec<String>> = self.json("relation-ids", &a)?;
        ids.unwrap_or_default()
            .iter()
            .map(|text| {
                RelationId::parse(text).ok_or_else(|| ToolError::BadOutput {
                    tool: "relation-ids".into(),
                    command: display_command("relation-ids", &a),
                    reason: format!("{text:?} is not a relation id"),
                })
            })
            .collect()
    }

    /// `relation-list`: the remote units; `None` when the relation is gone.
    pub fn relation_list(&mut self, relation: &RelationId) -> Result<Option<Vec<String>>> {
        let a = args(["--format=json", "-r", &relation.to_string()]);
        let units: Option<Option<Vec<String>>> =
            self.json_or_absent("relation-list", &a, relation_gone)?;
        Ok(units.map(Option::unwrap_or_default))
    }

    /// `relation-list --app`: the remote application; `None` when unknown or gone.
    pub fn relation_remote_app(&mut self, relation: &RelationId) -> Result<Option<String>> {
        let a = args(["--format=json", "--app", "-r", &relation.to_string()]);
        let app: Option<Option<String>> =
            self.json_or_absent("relation-list", &a, relation_gone)?;
        Ok(app.flatten().filter(|s| !s.is_empty()))
    }

    /// `relation-get` of a unit's (or with `app`, an application's) databag; `None` when
    /// the relation is gone or the bag cannot be read.
    pub fn relation_get(
        &mut self,
        relation: &RelationId,
        owner: &str,
        app: bool,
    ) -> Result<Option<Databag>> {
        let rel = relation.to_string();
        let a = if app {
            args(["--format=json", "-r", &rel, "--app", "-", owner])
        } else {
            args(["--format=json", "-r", &rel, "-", owner])
        };
        let bag: Option<Option<IndexMap<String, Value>>> =
            self.json_or_absent("relation-get", &a, relation_gone)?;
        Ok(bag.map(|b| {
            b.unwrap_or_default()
                .into_iter()
                .map(|(k, v)| match v {
                    Value::String(s) => (k, s),
                    other => (k, other.to_string()),
                })
                .collect()
        }))
    }

    /// `relation-set --file -`: merge `data` into our unit (or app) bag; `""` deletes a
    /// key. Buffered by Juju until the hook exits 0.
    pub fn relation_set(&mut self, relation: &RelationId, data: &Databag, app: bool) -> Result<()> {
        let rel = relation.to_string();
        let a = if app {
            args(["-r", &rel, "--app", "--file", "-"])
        } else {
            args(["-r", &rel, "--file", "-"])
        };
        let body = to_json_bytes(data);
        self.must("relation-set", &a, Some(&body)).map(|_| ())
    }

    /// `relation-model-get`: the remote model's UUID; `None` when the relation is gone.
    pub fn relation_model_uuid(&mut self, relation: &RelationId) -> Result<Option<String>> {
        let a = args(["--format=json", "-r", &relation.to_string()]);
        let v: Option<Value> = self.json_or_absent("relation-model-get", &a, relation_gone)?;
        Ok(v.and_then(|v| v.get("uuid").and_then(Value::as_str).map(String::from)))
    }

    /// `is-leader --format=json`, asked once per hook.
    pub fn is_leader(&mut self) -> Result<bool> {
        if let Some(leader) = self.leader {
            return Ok(leader);
        }
        let leader = self.json("is-leader", &args(["--format=json"]))?;
        self.leader = Some(leader);
        if !leader {
            // Another unit owns the application status now, or will.
            self.forget_statuses(true);
        }
        Ok(leader)
    }

    /// `status-set` for this unit, or with `application` for the app (leader only);
    /// no call when the status memory says it is what was written last.
    pub fn status_set(&mut self, status: &Status, application: bool) -> Result<()> {
        if let Some(book) = &mut self.statuses {
            if book.unchanged(application, status) {
                return Ok(());
            }
            book.before_write();
        }
        let flag = if application {
            "--application=True"
        } else {
            "--application=False"
        };
        let a = args([flag, status.kind.as_str(), "--", &status.message]);
        self.must("status-set", &a, None)?;
        if let Some(book) = &mut self.statuses {
            book.written(application, status);
        }
        Ok(())
    }

    /// The application status, written when this unit is the leader; no call at all
    /// when the status memory says it is what this unit last wrote.
    pub fn app_status_set(&mut self, status: &Status) -> Result<()> {
        if let Some(book) = &mut self.statuses
            && book.unchanged(true, status)
        {
            return Ok(());
        }
        if !self.is_leader()? {
            return Ok(());
        }
        self.status_set(status, true)
    }

    /// `status-get --include-data --format=json --application=false`: this unit's
    /// status; `None` for one the charm never sets (`unknown`, `error`, ...).
    pub fn unit_status(&mut self) -> Result<Option<Status>> {
        let a = args(["--include-data", "--format=json", "--application=false"]);
        let shown: Option<Value> = self.json("status-get", &a)?;
        let Some(shown) = shown else {
            return Ok(None);
        };
        let kind = match shown.get("status").and_then(Value::as_str) {
            Some("active") => StatusKind::Active,
            Some("blocked") => StatusKind::Blocked,
            Some("waiting") => StatusKind::Waiting,
            Some("maintenance") => StatusKind::Maintenance,
            _ => return Ok(None),
        };
        let message = shown
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default();
        Ok(Some(Status::new(kind, message)))
    }

    /// `juju-log --log-level LEVEL -- message`.
    pub fn juju_log(&mut self, level: LogLevel, message: &str) -> Result<()> {
        // Juju caps one message; split long ones rather than lose them.
        const LIMIT: usize = 131_071;
        let mut rest = message;
        loop {
            let mut cut = rest.len().min(LIMIT);
            while !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            let (chunk, tail) = rest.split_at(cut);
            let a = args(["--log-level", level.as_str(), "--", chunk]);
            self.must("juju-log", &a, None)?;
            if tail.is_empty() {
                return Ok(());
            }
            rest = tail;
        }
    }

    /// `open-port 8000/tcp`.
    pub fn open_port(&mut self, port: &str) -> Result<()> {
        self.must("open-port", &args([port]), None).map(|_| ())
    }

    /// `close-port 8000/tcp`.
    pub fn close_port(&mut self, port: &str) -> Result<()> {
        self.must("close-port", &args([port]), None).map(|_| ())
    }

    /// `opened-ports --format=json`: e.g. `["8000/tcp"]`.
    pub fn opened_ports(&mut self) -> Result<Vec<String>> {
        let v: Option<Vec<String>> = self.json("opened-ports", &args(["--format=json"]))?;
        Ok(v.unwrap_or_default())
    }

    /// Make exactly `wanted` the open ports (as ops' `set_ports`).
    pub fn set_ports(&mut self, wanted: &[&str]) -> Result<()> {
        let opened = self.opened_ports()?;
        for port in &opened {
            if !wanted.contains(&port.as_str()) {
                self.close_port(port)?;
            }
        }
        for port in wanted {
            if !opened.iter().any(|p| p == port) {
                self.open_port(port)?;
            }
        }
        Ok(())
    }

    /// `network-get --format=json [-r <id>] <binding>`; `None` when the binding or
    /// relation has no network config.
    pub fn network_get(
        &mut self,
        binding: &str,
        relation: Option<&RelationId>,
    ) -> Result<Option<NetworkInfo>> {
        let mut a = args(["--format=json"]);
        if let Some(rel) = relation {
            a.push("-r".into());
            a.push(rel.id.to_string());
        }
        a.push(binding.into());
        let absent = |e: &str| relation_gone(e) || e.contains("no network config found");
        let v: Option<Value> = self.json_or_absent("network-get", &a, absent)?;
        Ok(v.map(|v| {
            let strings = |key: &str| -> Vec<String> {
                v.get(key)
                    .and_then(Value::as_array)
                    .map(|l| {
                        l.iter()
                            .filter_map(Value::as_str)
                            .map(String::from)
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let bind_address = v
                .get("bind-addresses")
                .and_then(|b| b.get(0))
                .and_then(|b| b.get("addresses"))
                .and_then(|a| a.get(0))
                .and_then(|a| a.get("value").or_else(|| a.get("address")))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(String::from);
            NetworkInfo {
                bind_address,
                ingress_addresses: strings("ingress-addresses"),
                egress_subnets: strings("egress-subnets"),
            }
        }))
    }

    /// The bind address of `binding`, or `None` when Juju gives none or cannot say:
    /// an address is something the charm publishes when it has one, never a reason to
    /// fail a hook (the failure is logged).
    pub fn bind_address(&mut self, binding: &str, relation: Option<&RelationId>) -> Option<String> {
        match self.network_get(binding, relation) {
            Ok(info) => info.and_then(|n| n.bind_address),
            Err(e) => {
                let _ = self.juju_log(
                    LogLevel::Warning,
                    &format!("no bind address for {binding}: {e}"),
                );
                None
            }
        }
    }

    /// `secret-get`: the content; `None` when the secret does not exist or is not
    /// granted to us.
    pub fn secret_get(
        &mut self,
        id: Option<&str>,
        label: Option<&str>,
        read: SecretRead,
    ) -> Result<Option<SecretContent>> {
        let mut a = args(["--format=json"]);
        if let Some(id) = id {
            a.push(id.into());
        }
        if let Some(label) = label {
            a.push("--label".into());
            a.push(label.into());
        }
        match read {
            SecretRead::Pinned => {}
            SecretRead::Refresh => a.push("--refresh".into()),
            SecretRead::Peek => a.push("--peek".into()),
        }
        let content: Option<Option<IndexMap<String, Value>>> =
            self.json_or_absent("secret-get", &a, secret_missing)?;
        let content: Option<SecretContent> = content.map(|c| {
            c.unwrap_or_default()
                .into_iter()
                .map(|(k, v)| match v {
                    Value::String(s) => (k, s),
                    other => (k, other.to_string()),
                })
                .collect()
        });
        if let Some(c) = &content {
            self.secret_contents.extend(c.values().cloned());
        }
        Ok(content)
    }

    fn secret_option_args(options: &SecretOptions, a: &mut Vec<String>) {
        for (flag, value) in [
            ("--label", &options.label),
            ("--description", &options.description),
            ("--expire", &options.expire),
            ("--rotate", &options.rotate),
        ] {
            if let Some(v) = value {
                a.push(flag.into());
                a.push(v.clone());
            }
        }
        a.push("--owner".into());
        a.push(
            match options.owner {
                SecretOwner::Application => "application",
                SecretOwner::Unit => "unit",
            }
            .into(),
        );
    }

    /// `secret-add`: create a secret; returns its URI. Values go through files.
    pub fn secret_add(
        &mut self,
        content: &SecretContent,
        options: &SecretOptions,
    ) -> Result<String> {
        let mut a = Vec::new();
        Self::secret_option_args(options, &mut a);
        let files = SecretFiles::write(content).map_err(|e| ToolError::Spawn {
            tool: "secret-add".into(),
            command: display_command("secret-add", &a),
            reason: format!("cannot write secret content files: {e}"),
        })?;
        a.extend(files.args());
        let out = self.must("secret-add", &a, None)?;
        Ok(String::from_utf8_lossy(&out).trim().to_string())
    }

    /// `secret-set`: new content (a new revision) and/or metadata.
    pub fn secret_set(
        &mut self,
        id: &str,
        content: Option<&SecretContent>,
        options: &SecretOptions,
    ) -> Result<()> {
        let mut a = Vec::new();
        Self::secret_option_args(options, &mut a);
        a.push(id.into());
        let files = match content {
            Some(c) => Some(SecretFiles::write(c).map_err(|e| ToolError::Spawn {
                tool: "secret-set".into(),
                command: display_command("secret-set", &a),
                reason: format!("cannot write secret content files: {e}"),
            })?),
            None => None,
        };
        if let Some(f) = &files {
            a.extend(f.args());
        }
        self.must("secret-set", &a, None).map(|_| ())
    }

    /// `secret-ids --format=json` (`null` when there are none).
    pub fn secret_ids(&mut self) -> Result<Vec<String>> {
        let v: Option<Vec<String>> = self.json("secret-ids", &args(["--format=json"]))?;
        Ok(v.unwrap_or_default())
    }

    /// `secret-info-get` by id or label; `None` when not found.
    pub fn secret_info_get(
        &mut self,
        id: Option<&str>,
        label: Option<&str>,
    ) -> Result<Option<SecretInfo>> {
        let mut a = args(["--format=json"]);
        if let Some(id) = id {
            a.push(id.into());
        }
        if let Some(label) = label {
            a.push("--label".into());
            a.push(label.into());
        }
        let v: Option<IndexMap<String, Value>> =
            self.json_or_absent("secret-info-get", &a, secret_missing)?;
        Ok(v.and_then(|map| map.into_iter().next()).map(|(id, info)| {
            let s = |k: &str| info.get(k).and_then(Value::as_str).map(String::from);
            SecretInfo {
                id,
                revision: info.get("revision").and_then(Value::as_u64),
                label: s("label"),
                owner: s("owner"),
                description: s("description"),
                rotation: s("rotation"),
                expiry: s("expiry"),
            }
        }))
    }

    /// `secret-grant <id> -r <int> [--unit <unit>]`.
    pub fn secret_grant(
        &mut self,
        id: &str,
        relation: &RelationId,
        unit: Option<&str>,
    ) -> Result<()> {
        let mut a = args([id, "-r", &relation.id.to_string()]);
        if let Some(u) = unit {
            a.extend(args(["--unit", u]));
        }
        self.must("secret-grant", &a, None).map(|_| ())
    }

    /// `secret-revoke <id> [-r <int>] [--unit <unit>]`.
    pub fn secret_revoke(
        &mut self,
        id: &str,
        relation: Option<&RelationId>,
        unit: Option<&str>,
    ) -> Result<()> {
        let mut a = args([id]);
        if let Some(rel) = relation {
            a.extend(args(["-r", &rel.id.to_string()]));
        }
        if let Some(u) = unit {
            a.extend(args(["--unit", u]));
        }
        self.must("secret-revoke", &a, None).map(|_| ())
    }

    /// `secret-remove <id> [--revision N]`.
    pub fn secret_remove(&mut self, id: &str, revision: Option<u64>) -> Result<()> {
        let mut a = args([id]);
        if let Some(r) = revision {
            a.extend(args(["--revision", &r.to_string()]));
        }
        self.must("secret-remove", &a, None).map(|_| ())
    }

    /// `action-get --format=json`: the action's parameters.
    pub fn action_get(&mut self) -> Result<serde_json::Map<String, Value>> {
        let v: Option<serde_json::Map<String, Value>> =
            self.json("action-get", &args(["--format=json"]))?;
        Ok(v.unwrap_or_default())
    }

    /// `action-set key=value ...` (dotted keys nest).
    pub fn action_set(&mut self, results: &[(&str, &str)]) -> Result<()> {
        let a: Vec<String> = results.iter().map(|(k, v)| format!("{k}={v}")).collect();
        self.must("action-set", &a, None).map(|_| ())
    }

    /// `action-fail -- message`.
    pub fn action_fail(&mut self, message: &str) -> Result<()> {
        self.must("action-fail", &args(["--", message]), None)
            .map(|_| ())
    }

    /// `action-log -- message`.
    pub fn action_log(&mut self, message: &str) -> Result<()> {
        self.must("action-log", &args(["--", message]), None)
            .map(|_| ())
    }

    /// `application-version-set -- version`.
    pub fn application_version_set(&mut self, version: &str) -> Result<()> {
        self.must("application-version-set", &args(["--", version]), None)
            .map(|_| ())
    }

    /// `state-get --format=json` (`null` when empty).
    pub fn state_get(&mut self) -> Result<Databag> {
        let v: Option<Databag> = self.json("state-get", &args(["--format=json"]))?;
        Ok(v.unwrap_or_default())
    }

    /// `state-set --file -`.
    pub fn state_set(&mut self, data: &Databag) -> Result<()> {
        let body = to_json_bytes(data);
        self.must("state-set", &args(["--file", "-"]), Some(&body))
            .map(|_| ())
    }

    /// `state-delete <key>`.
    pub fn state_delete(&mut self, key: &str) -> Result<()> {
        self.must("state-delete", &args([key]), None).map(|_| ())
    }

    /// `goal-state --format=json`: the application's planned units and their status.
    pub fn goal_state_units(&mut self) -> Result<Vec<GoalUnit>> {
        let v: Value = self.json("goal-state", &args(["--format=json"]))?;
        Ok(v.get("units")
            .and_then(Value::as_object)
            .map(|units| {
                units
                    .iter()
                    .map(|(name, info)| GoalUnit {
                        name: name.clone(),
                        status: info
                            .get("status")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default())
    }
}

fn args<const N: usize>(items: [&str; N]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The JSON document sent on stdin to `relation-set` / `state-set`. Juju reads it as
/// YAML, which refuses raw control characters (DEL included) and some non-ASCII ones;
/// Python-style JSON escapes everything outside printable ASCII, so it is safe.
fn to_json_bytes(data: &Databag) -> Vec<u8> {
    let map: serde_json::Map<String, Value> = data
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    crate::pyjson::dumps(&Value::Object(map)).into_bytes()
}

fn parse_json<T: serde::de::DeserializeOwned>(
    tool: &str,
    a: &[String],
    stdout: &[u8],
) -> Result<T> {
    serde_json::from_slice(stdout).map_err(|e| ToolError::BadOutput {
        tool: tool.to_string(),
        command: display_command(tool, a),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A runner that answers from a script and records calls.
    struct Scripted {
        answers: Vec<(i32, &'static str, &'static str)>,
        calls: Vec<(String, Vec<String>, Option<Vec<u8>>)>,
    }

    impl ToolRunner for Scripted {
        fn run(
            &mut self,
            tool: &str,
            args: &[String],
            stdin: Option<&[u8]>,
        ) -> std::io::Result<ToolOutput> {
            self.calls
                .push((tool.into(), args.to_vec(), stdin.map(|s| s.to_vec())));
            let (code, out, err) = self.answers.remove(0);
            Ok(ToolOutput {
                code,
                stdout: out.as_bytes().to_vec(),
                stderr: err.as_bytes().to_vec(),
            })
        }
    }

    fn tools(answers: Vec<(i32, &'static str, &'static str)>) -> HookTools<Scripted> {
        HookTools::new(Scripted {
            answers,
            calls: vec![],
        })
    }

    #[test]
    fn relation_get_keeps_the_order_it_was_printed_in() {
        let mut t = tools(vec![(0, r#"{"zeta": "1", "alpha": "2"}"#, "")]);
        let bag = t
            .relation_get(&RelationId::new("db", 3), "pg", true)
            .unwrap()
            .unwrap();
        assert_eq!(bag.keys().collect::<Vec<_>>(), ["zeta", "alpha"]);
        assert_eq!(
            t.runner().calls[0].1,
            ["--format=json", "-r", "db:3", "--app", "-", "pg"]
        );
    }

    #[test]
    fn relation_not_found_is_data() {
        let mut t = tools(vec![
            (
                2,
                "",
                "ERROR invalid value \"db:6\" for option -r: relation not found\n",
            ),
            (1, "", "ERROR relation 6 not found\n"),
            (1, "", "ERROR permission denied\n"),
        ]);
        let rel = RelationId::new("db", 6);
        assert_eq!(t.relation_get(&rel, "pg/0", false).unwrap(), None);
        assert_eq!(t.relation_list(&rel).unwrap(), None);
        assert_eq!(t.relation_get(&rel, "pg", true).unwrap(), None);
    }

    #[test]
    fn other_failures_name_the_tool_and_exit_status() {
        let mut t = tools(vec![(1, "", "ERROR connection is shut down\n")]);
        let err = t
            .relation_get(&RelationId::new("db", 6), "pg/0", false)
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("relation-get failed with exit status 1"),
            "{text}"
        );
        assert!(text.contains("-r db:6"), "{text}");
        assert!(text.contains("connection is shut down"), "{text}");
    }

    #[test]
    fn unparseable_output_is_an_error_not_a_panic() {
        let mut t = tools(vec![(0, "not json", "")]);
        let err = t.config_get().unwrap_err();
        assert!(matches!(err, ToolError::BadOutput { .. }), "{err}");
        assert_eq!(err.tool(), "config-get");
    }

    #[test]
    fn secret_values_never_reach_argv_or_errors() {
        let mut t = tools(vec![(1, "", "ERROR boom"), (1, "", "ERROR boom")]);
        let content: SecretContent = [("password".to_string(), "hunter2".to_string())]
            .into_iter()
            .collect();
        let err = t
            .secret_add(&content, &SecretOptions::default())
            .unwrap_err();
        let argv = t.runner().calls[0].1.join(" ");
        assert!(!argv.contains("hunter2"), "{argv}");
        assert!(argv.contains("password#file="), "{argv}");
        assert!(!err.to_string().contains("hunter2"));
        let err = t.action_set(&[("password", "hunter2")]).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(err.to_string().contains("password=<redacted>"), "{err}");
    }

    #[test]
    fn status_set_uses_the_ops_argv() {
        let mut t = tools(vec![(0, "", ""), (0, "", "")]);
        t.status_set(&Status::blocked("-k missing"), false).unwrap();
        t.status_set(&Status::active(), true).unwrap();
        assert_eq!(
            t.runner().calls[0].1,
            ["--application=False", "blocked", "--", "-k missing"]
        );
        assert_eq!(
            t.runner().calls[1].1,
            ["--application=True", "active", "--", ""]
        );
    }

    #[test]
    fn relation_data_on_stdin_is_printable_ascii() {
        let mut t = tools(vec![(0, "", "")]);
        let data: Databag = [("k".to_string(), "a\u{7f}b\u{0}c é \u{85}".to_string())]
            .into_iter()
            .collect();
        t.relation_set(&RelationId::new("db", 1), &data, false)
            .unwrap();
        let stdin = t.runner().calls[0].2.clone().unwrap();
        assert!(stdin.iter().all(|b| (0x20..0x7f).contains(b)), "{stdin:?}");
        let back: Databag = serde_json::from_slice(&stdin).unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn leadership_is_asked_once_per_hook() {
        let mut t = tools(vec![(0, "true\n", "")]);
        assert!(t.is_leader().unwrap());
        assert!(t.is_leader().unwrap());
        assert_eq!(t.runner().calls.len(), 1);
    }

    #[test]
    fn null_outputs_are_empty() {
        let mut t = tools(vec![(0, "null\n", ""), (0, "null\n", "")]);
        assert!(t.secret_ids().unwrap().is_empty());
        assert!(t.state_get().unwrap().is_empty());
    }

    #[test]
    fn network_get_bind_address() {
        let out = r#"{"bind-addresses":[{"mac-address":"","interface-name":"eth0","addresses":[{"hostname":"","value":"10.1.2.3","cidr":"10.1.0.0/16"}]}],"egress-subnets":["10.1.2.3/32"],"ingress-addresses":["10.152.183.10"]}"#;
        let mut t = tools(vec![
            (0, out, ""),
            (1, "", "ERROR no network config found for binding \"x\""),
        ]);
        let info = t
            .network_get("ingress", Some(&RelationId::new("ingress", 4)))
            .unwrap()
            .unwrap();
        assert_eq!(info.bind_address.as_deref(), Some("10.1.2.3"));
        assert_eq!(
            t.runner().calls[0].1,
            ["--format=json", "-r", "4", "ingress"]
        );
        assert_eq!(t.network_get("x", None).unwrap(), None);
    }
}
