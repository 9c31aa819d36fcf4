//! Exec in the in-memory Pebble (`CONTRACT.md` E.9): request checks (the program, the
//! user and group, the working directory), the exec change, scripted results from
//! [`ExecRule`]s, and timeouts.

use std::time::Duration;

use super::util::{format_go_duration, parse_go_duration, shell_split};
use super::*;

/// The PATH of the Pebble daemon, a rock's default: Pebble looks a bare program name up
/// on its own PATH, whatever the exec's environment says.
pub const DAEMON_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Programs every Django rock has: Python and the shell utilities of its Ubuntu base.
pub const BASE_EXECUTABLES: &[&str] = &[
    "/usr/bin/python3",
    "/usr/bin/sh",
    "/usr/bin/bash",
    "/usr/bin/cat",
    "/usr/bin/cp",
    "/usr/bin/echo",
    "/usr/bin/env",
    "/usr/bin/false",
    "/usr/bin/ls",
    "/usr/bin/mkdir",
    "/usr/bin/mv",
    "/usr/bin/rm",
    "/usr/bin/sleep",
    "/usr/bin/true",
];

/// Users every Django rock has, each with a group of its own name: `root`, and
/// `_daemon_`, whom the charm runs the application's commands as.
pub const BASE_USERS: &[&str] = &["root", "_daemon_"];

/// What Pebble's exec task reports when the command outlives its timeout (the change
/// error wraps it with the task's summary).
fn timed_out(timeout: Duration) -> String {
    let nanos = i128::try_from(timeout.as_nanos()).unwrap_or(i128::MAX);
    format!(
        "timed out after {}: context deadline exceeded",
        format_go_duration(nanos)
    )
}

/// `/bin/x` and `/usr/bin/x` (and `/sbin`, `/usr/sbin`) are one file on a merged-`/usr`
/// system: the `/usr` form of a cleaned absolute path.
fn merged_usr(path: &str) -> String {
    for dir in ["/bin/", "/sbin/", "/lib/", "/lib64/"] {
        if let Some(rest) = path.strip_prefix(dir) {
            return format!("/usr{dir}{rest}");
        }
    }
    path.to_string()
}

/// An installed program's path, in `/usr` form: absolute paths as given (relative to
/// `/` with a slash), bare names in `/usr/bin`.
fn installed_path(program: &str) -> String {
    if program.contains('/') {
        merged_usr(&clean_path(program))
    } else {
        format!("/usr/bin/{program}")
    }
}

/// One exec as the model ran it: what the command wrote, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecRun {
    /// The output (all of it, or what was written before the timeout).
    pub output: ExecOutput,
    /// How long the command ran (until it exited or was killed).
    pub ran_for: Duration,
    /// The exec's timeout, when the command ran into it and Pebble killed it.
    pub timed_out: Option<Duration>,
}

impl PebbleModel {
    /// Whether `argv[0]` is an installed program, the way Pebble's up-front check
    /// (Go's `exec.LookPath` on the daemon's PATH) sees it; see [`PebbleModel`].
    pub fn finds_executable(&self, argv: &[String]) -> bool {
        let Some(program) = argv.first().filter(|p| !p.is_empty()) else {
            return false;
        };
        if self
            .exec_rules
            .iter()
            .any(|r| r.specificity(argv).is_some())
        {
            return true;
        }
        let candidates: Vec<String> = if program.contains('/') {
            // Pebble's working directory is `/`.
            vec![clean_path(program)]
        } else {
            DAEMON_PATH
                .split(':')
                .map(|dir| format!("{dir}/{program}"))
                .collect()
        };
        let installed = self.installed_programs();
        candidates.iter().map(|path| merged_usr(path)).any(|path| {
            installed.contains(&path)
                || self.files.iter().any(|(file, entry)| {
                    !entry.is_dir()
                        && merged_usr(file) == path
                        && u32::from_str_radix(entry.permissions(), 8)
                            .is_ok_and(|mode| mode & 0o111 != 0)
                })
        })
    }

    /// The programs the container has besides its files, as `/usr`-form paths: the
    /// base ones, the listed ones, and those the plan's services run.
    fn installed_programs(&self) -> BTreeSet<String> {
        let mut installed: BTreeSet<String> =
            BASE_EXECUTABLES.iter().map(|p| p.to_string()).collect();
        installed.extend(self.executables.iter().map(|p| installed_path(p)));
        let plan = self.plan();
        installed.extend(plan.services.values().filter_map(|service| {
            let words = shell_split(service.command.as_deref()?).ok()?;
            Some(installed_path(words.first()?))
        }));
        installed
    }

    /// Whether the container has this user.
    pub fn has_user(&self, name: &str) -> bool {
        BASE_USERS.contains(&name) || self.users.contains(name)
    }

    /// Whether the container has this group (every user has its own).
    pub fn has_group(&self, name: &str) -> bool {
        self.has_user(name) || self.groups.contains(name)
    }

    /// Pebble's first check of `POST /v1/exec` after the request's syntax: the program
    /// must be installed (before the service context is even looked at).
    pub fn check_executable(&self, argv: &[String]) -> Result<()> {
        if self.finds_executable(argv) {
            return Ok(());
        }
        let program = argv.first().map_or("", String::as_str);
        Err(api_error(
            400,
            "POST /v1/exec",
            format!("cannot find executable {program:?}"),
        ))
    }

    /// The checks `POST /v1/exec` makes before creating a change, in Pebble's order:
    /// the command, the program, the user and group, the working directory.
    pub fn check_exec(&mut self, request: &ExecRequest) -> Result<()> {
        self.settle();
        const WHAT: &str = "POST /v1/exec";
        if request.command.is_empty() {
            return Err(api_error(400, WHAT, "must specify command"));
        }
        self.check_executable(&request.command)?;
        if let Some(user) = request.user.as_deref()
            && !self.has_user(user)
        {
            return Err(api_error(400, WHAT, format!("user: unknown user {user}")));
        }
        if let Some(group) = request.group.as_deref() {
            if !self.has_group(group) {
                return Err(api_error(
                    400,
                    WHAT,
                    format!("group: unknown group {group}"),
                ));
            }
            if request.user.is_none() {
                return Err(api_error(400, WHAT, "must specify user, not just group"));
            }
        }
        if let Some(dir) = request.working_dir.as_deref().filter(|d| !d.is_empty())
            && (!dir.starts_with('/') || !self.is_dir(&clean_path(dir)))
        {
            return Err(api_error(
                500,
                WHAT,
                format!("cannot call exec: working directory {dir:?} does not exist"),
            ));
        }
        Ok(())
    }

    /// Create the (still running) change of an accepted exec; returns its change id and
    /// task id.
    pub fn begin_exec(&mut self, request: &ExecRequest) -> (String, String) {
        let now = rfc3339_now();
        let change_id = self.next_change_id().to_string();
        let task_id = self.next_task_id().to_string();
        let program = request.command.first().cloned().unwrap_or_default();
        self.changes.push(ModelChange {
            id: change_id.clone(),
            kind: "exec".to_string(),
            summary: format!("Execute command {program:?}"),
            status: "Doing".to_string(),
            err: None,
            tasks: vec![ModelTask {
                id: task_id.clone(),
                kind: "exec".to_string(),
                summary: format!("Execute command {program:?}"),
                status: "Doing".to_string(),
                spawn_time: now.clone(),
                ..ModelTask::default()
            }],
            spawn_time: now,
            ready_time: None,
        });
        (change_id, task_id)
    }

    /// "Run" a command: log it and answer from the most specific matching
    /// [`ExecRule`]; a command that runs at least as long as the request's timeout is
    /// killed at the timeout.
    pub fn run_exec(&mut self, request: &ExecRequest) -> ExecRun {
        self.ops.push(PebbleOp::Exec {
            command: request.command.clone(),
            environment: request.environment.clone(),
            working_dir: request.working_dir.clone(),
            user: request.user.clone(),
            group: request.group.clone(),
            stdin: request.stdin.clone().into(),
        });
        let rule = self
            .exec_rules
            .iter()
            .enumerate()
            .filter_map(|(index, rule)| Some(((rule.specificity(&request.command)?, index), rule)))
            .max_by_key(|(key, _)| *key)
            .map(|(_, rule)| rule.clone())
            .unwrap_or_default();
        let mut stdout = rule.stdout.0;
        if rule.echo_stdin {
            stdout.extend_from_slice(&request.stdin);
        }
        let mut stderr = rule.stderr.0;
        if !request.split_stderr {
            stdout.append(&mut stderr);
        }
        for (path, content) in rule.creates {
            let path = clean_path(&path);
            for dir in ancestors(&path) {
                self.files.entry(dir).or_insert_with(FsEntry::directory);
            }
            self.files.insert(path, FsEntry::file(content));
        }
        let runs_for = rule.runs_for.unwrap_or_default();
        // Pebble takes a zero timeout as none.
        let timed_out = request
            .timeout
            .filter(|timeout| !timeout.is_zero() && !runs_for.is_zero() && runs_for >= *timeout);
        ExecRun {
            output: ExecOutput {
                exit_code: if timed_out.is_some() {
                    -1
                } else {
                    rule.exit_code
                },
                stdout,
                stderr,
            },
            ran_for: timed_out.unwrap_or(runs_for),
            timed_out,
        }
    }

    /// Mark an exec change finished: done with the command's exit code (a non-zero
    /// exit is still a successful change), or failed when the command timed out.
    pub fn finish_exec(&mut self, change_id: &str, run: &ExecRun) {
        let exit_code = run.output.exit_code;
        if let Some(timeout) = run.timed_out {
            self.fail_exec(change_id, &timed_out(timeout));
        }
        let now = rfc3339_now();
        if let Some(change) = self.changes.iter_mut().find(|c| c.id == change_id) {
            if change.err.is_none() {
                change.status = "Done".to_string();
                change.ready_time = Some(now.clone());
            }
            for task in &mut change.tasks {
                if task.status != "Error" {
                    task.status = "Done".to_string();
                    task.ready_time = Some(now.clone());
                }
                task.data
                    .insert("exit-code".to_string(), Value::from(exit_code));
            }
        }
    }

    /// Fail an exec's task with `reason`, as Pebble does: the change's error is
    /// `cannot perform the following tasks:\n- <summary> (<reason>)`.
    pub fn fail_exec(&mut self, change_id: &str, reason: &str) {
        let now = rfc3339_now();
        if let Some(change) = self.changes.iter_mut().find(|c| c.id == change_id) {
            let summaries: Vec<String> = change
                .tasks
                .iter()
                .map(|t| format!("- {} ({reason})", t.summary))
                .collect();
            change.status = "Error".to_string();
            change.err = Some(format!(
                "cannot perform the following tasks:\n{}",
                summaries.join("\n")
            ));
            change.ready_time = Some(now.clone());
            for task in &mut change.tasks {
                task.status = "Error".to_string();
                task.ready_time = Some(now.clone());
                task.log.push(log_line("ERROR", reason));
            }
        }
    }

    /// Mark a change failed with this error.
    pub fn fail_change(&mut self, change_id: &str, err: &str) {
        let now = rfc3339_now();
        if let Some(change) = self.changes.iter_mut().find(|c| c.id == change_id) {
            change.status = "Error".to_string();
            change.err = Some(err.to_string());
            change.ready_time = Some(now.clone());
            for task in &mut change.tasks {
                task.status = "Error".to_string();
                task.ready_time = Some(now.clone());
                task.log.push(log_line("ERROR", err));
            }
        }
    }

    /// A whole exec: check, change, run, finish. Returns the change id and what the
    /// command wrote; a command that timed out leaves its change in error.
    pub fn exec(&mut self, request: &ExecRequest) -> Result<(String, ExecOutput)> {
        self.check_exec(request)?;
        let (change_id, _) = self.begin_exec(request);
        let run = self.run_exec(request);
        self.finish_exec(&change_id, &run);
        Ok((change_id, run.output))
    }

    /// Resolve `service-context`: the service's environment, user, group and working
    /// directory under the request's own.
    pub fn apply_service_context(&self, service: &str, request: &mut ExecRequest) -> Result<()> {
        let plan = self.plan();
        let Some(definition) = plan.services.get(service) else {
            return Err(api_error(
                400,
                "POST /v1/exec",
                format!("context service {service:?} not found"),
            ));
        };
        let mut environment = definition.environment.clone();
        environment.append(&mut request.environment);
        request.environment = environment;
        if request.user.is_none() {
            request.user.clone_from(&definition.user);
        }
        if request.group.is_none() {
            request.group.clone_from(&definition.group);
        }
        if request.working_dir.is_none() {
            request.working_dir.clone_from(&definition.working_dir);
        }
        Ok(())
    }
}

/// A scripted answer to exec: commands whose argv equals `argv` (or starts with it,
/// with `prefix`) exit with `exit_code` and print `stdout`/`stderr`. With `echo_stdin`
/// the command's stdin is appended to its stdout, like `cat`. `creates` lists files the
/// command leaves behind (path -> content, parents made as needed), like the bytecode a
/// Python program caches.
///
/// With `runs_for` (`runs-for: 5s`) the command takes that long: an exec whose timeout
/// is not longer is killed at its timeout, and its change fails with Pebble's
/// `timed out after <timeout>` error; its output and files are what it wrote before.
///
/// When several rules match, the most specific wins: exact before prefix, longer
/// prefix before shorter, later rule before earlier.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct ExecRule {
    pub argv: Vec<String>,
    pub prefix: bool,
    pub exit_code: i64,
    #[serde(skip_serializing_if = "FileContent::is_empty")]
    pub stdout: FileContent,
    #[serde(skip_serializing_if = "FileContent::is_empty")]
    pub stderr: FileContent,
    pub echo_stdin: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub creates: BTreeMap<String, FileContent>,
    /// How long the command runs (Go duration syntax in YAML/JSON); `None`: no time.
    #[serde(skip_serializing_if = "Option::is_none", with = "duration_serde")]
    pub runs_for: Option<Duration>,
}

impl ExecRule {
    /// A rule for exactly this argv.
    pub fn exact<S: Into<String>>(argv: impl IntoIterator<Item = S>) -> Self {
        ExecRule {
            argv: argv.into_iter().map(Into::into).collect(),
            ..ExecRule::default()
        }
    }

    /// A rule for every argv starting with these words.
    pub fn prefix<S: Into<String>>(argv: impl IntoIterator<Item = S>) -> Self {
        ExecRule {
            prefix: true,
            ..ExecRule::exact(argv)
        }
    }

    pub fn exit_code(mut self, code: i64) -> Self {
        self.exit_code = code;
        self
    }

    pub fn stdout(mut self, text: impl Into<FileContent>) -> Self {
        self.stdout = text.into();
        self
    }

    pub fn stderr(mut self, text: impl Into<FileContent>) -> Self {
        self.stderr = text.into();
        self
    }

    pub fn echo_stdin(mut self) -> Self {
        self.echo_stdin = true;
        self
    }

    pub fn creates(mut self, path: &str, content: impl Into<FileContent>) -> Self {
        self.creates.insert(path.to_string(), content.into());
        self
    }

    pub fn runs_for(mut self, duration: Duration) -> Self {
        self.runs_for = Some(duration);
        self
    }

    /// How specifically the rule matches `argv` (`None`: not at all).
    fn specificity(&self, argv: &[String]) -> Option<usize> {
        if self.prefix {
            argv.starts_with(&self.argv).then_some(self.argv.len())
        } else {
            (argv == self.argv.as_slice()).then_some(usize::MAX)
        }
    }
}

/// An optional duration as a Go duration string (`5s`, `1m30s`).
mod duration_serde {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    use super::{format_go_duration, parse_go_duration};

    pub fn serialize<S: Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => s.serialize_str(&format_go_duration(
                i128::try_from(d.as_nanos()).unwrap_or(i128::MAX),
            )),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let Some(text) = Option::<String>::deserialize(d)? else {
            return Ok(None);
        };
        match parse_go_duration(&text).map(u64::try_from) {
            Some(Ok(nanos)) => Ok(Some(Duration::from_nanos(nanos))),
            _ => Err(serde::de::Error::custom(format!(
                "invalid duration {text:?} (Go syntax, e.g. \"5s\")"
            ))),
        }
    }
}
