//! Exec in the in-memory Pebble (`CONTRACT.md` E.9): request checks, the exec change,
//! and scripted results from [`ExecRule`]s.

use super::*;

impl PebbleModel {
    /// The checks `POST /v1/exec` makes before creating a change.
    pub fn check_exec(&mut self, request: &ExecRequest) -> Result<()> {
        self.settle();
        const WHAT: &str = "POST /v1/exec";
        if request.command.is_empty() {
            return Err(api_error(400, WHAT, "must specify command"));
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
    /// [`ExecRule`].
    pub fn run_exec(&mut self, request: &ExecRequest) -> ExecOutput {
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
        ExecOutput {
            exit_code: rule.exit_code,
            stdout,
            stderr,
        }
    }

    /// Mark an exec change finished with this exit code (a non-zero exit is still a
    /// successful change).
    pub fn finish_exec(&mut self, change_id: &str, exit_code: i64) {
        let now = rfc3339_now();
        if let Some(change) = self.changes.iter_mut().find(|c| c.id == change_id) {
            change.status = "Done".to_string();
            change.ready_time = Some(now.clone());
            for task in &mut change.tasks {
                task.status = "Done".to_string();
                task.ready_time = Some(now.clone());
                task.data
                    .insert("exit-code".to_string(), Value::from(exit_code));
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

    /// A whole exec: check, change, run, finish. Returns the change id and the output.
    pub fn exec(&mut self, request: &ExecRequest) -> Result<(String, ExecOutput)> {
        self.check_exec(request)?;
        let (change_id, _) = self.begin_exec(request);
        let output = self.run_exec(request);
        self.finish_exec(&change_id, output.exit_code);
        Ok((change_id, output))
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
