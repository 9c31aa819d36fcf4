//! Services, changes, signals and checks of the in-memory Pebble (`CONTRACT.md` E.5–E.7,
//! E.13): service actions run to completion at once and leave a finished change behind.

use super::*;

impl PebbleModel {
    /// `GET /v1/services`: the plan's services (all when `names` is empty), by name.
    pub fn services(&self, names: &[String]) -> Vec<ServiceInfo> {
        self.plan()
            .services
            .iter()
            .filter(|(name, _)| names.is_empty() || names.contains(name))
            .map(|(name, service)| ServiceInfo {
                name: name.clone(),
                startup: if service.is_enabled() {
                    "enabled"
                } else {
                    "disabled"
                }
                .to_string(),
                current: self.service_status(name).as_str().to_string(),
            })
            .collect()
    }

    /// `POST /v1/services`: validate, then perform the action at once. Returns the id
    /// of the change, which is already `Done` or `Error`.
    pub fn service_action(&mut self, action: ServiceAction, names: &[String]) -> Result<String> {
        self.settle();
        self.ops.push(PebbleOp::ServiceAction {
            action,
            services: names.to_vec(),
        });
        const WHAT: &str = "POST /v1/services";
        let verb = action.as_str();
        let first = names.first().cloned().unwrap_or_default();
        match action {
            ServiceAction::Replan | ServiceAction::Autostart if !names.is_empty() => {
                return Err(api_error(
                    400,
                    WHAT,
                    format!("{verb} accepts no service names"),
                ));
            }
            ServiceAction::Start | ServiceAction::Stop | ServiceAction::Restart
                if names.is_empty() =>
            {
                return Err(api_error(
                    400,
                    WHAT,
                    format!("must specify services for {verb} action"),
                ));
            }
            _ => {}
        }
        let plan = self.plan();
        let refused = |e: String| api_error(400, WHAT, format!("cannot {verb} services: {e}"));
        let (steps, summary) = match action {
            ServiceAction::Start => {
                let order = start_order(&plan, names).map_err(refused)?;
                let summary = summarise("Start", &first, order.len());
                (order.into_iter().map(Step::Start).collect(), summary)
            }
            ServiceAction::Autostart => {
                let defaults: Vec<String> = plan
                    .services
                    .iter()
                    .filter(|(_, s)| s.is_enabled())
                    .map(|(n, _)| n.clone())
                    .collect();
                let Some(first) = defaults.first().cloned() else {
                    return Err(PebbleError::Api {
                        status: 400,
                        what: WHAT.to_string(),
                        message: "no default services".to_string(),
                        kind: Some("no-default-services".to_string()),
                    });
                };
                let order = start_order(&plan, &defaults).map_err(refused)?;
                let summary = summarise("Autostart", &first, order.len());
                (order.into_iter().map(Step::Start).collect(), summary)
            }
            ServiceAction::Stop => {
                let order = stop_order(&plan, names).map_err(refused)?;
                let summary = summarise("Stop", &first, order.len());
                (order.into_iter().map(Step::Stop).collect(), summary)
            }
            ServiceAction::Restart => {
                let stops: Vec<String> = stop_order(&plan, names)
                    .map_err(refused)?
                    .into_iter()
                    .filter(|n| names.contains(n))
                    .collect();
                let starts = start_order(&plan, names).map_err(refused)?;
                let summary = summarise("Restart", &first, starts.len());
                let steps = stops
                    .into_iter()
                    .map(Step::Stop)
                    .chain(starts.into_iter().map(Step::Start))
                    .collect();
                (steps, summary)
            }
            ServiceAction::Replan => {
                let (steps, affected) = self.replan_steps(&plan).map_err(refused)?;
                let summary = match affected.first() {
                    None => "Replan - no services".to_string(),
                    Some(first) => summarise("Replan", first, affected.len()),
                };
                (steps, summary)
            }
        };
        Ok(self.run_service_change(verb, summary, steps, &plan))
    }

    /// Replan's work: stop started services whose definition changed (and their
    /// dependants), then start those plus every `startup: enabled` service. Also
    /// returns the affected services, sorted, for the summary.
    fn replan_steps(&self, plan: &Plan) -> std::result::Result<(Vec<Step>, Vec<String>), String> {
        let mut removed = Vec::new();
        let mut changed = Vec::new();
        for (name, state) in &self.services {
            if !state.is_started() {
                continue;
            }
            match plan.services.get(name) {
                None => removed.push(name.clone()),
                Some(definition) if state.started_with.as_ref() != Some(definition) => {
                    changed.push(name.clone());
                }
                Some(_) => {}
            }
        }
        // Dependants of a changed service go down with it, but only those running
        // come back: replan must not start a disabled service that was stopped.
        let stops: Vec<String> = stop_order(plan, &changed)?
            .into_iter()
            .filter(|name| {
                self.services
                    .get(name)
                    .is_some_and(ServiceState::is_started)
            })
            .collect();
        let to_start: Vec<String> = plan
            .services
            .iter()
            .filter(|(name, service)| service.is_enabled() || stops.contains(name))
            .map(|(name, _)| name.clone())
            .collect();
        let starts = start_order(plan, &to_start)?;
        let affected: BTreeSet<String> = removed
            .iter()
            .chain(&stops)
            .chain(&starts)
            .cloned()
            .collect();
        let steps = removed
            .into_iter()
            .chain(stops)
            .map(Step::Stop)
            .chain(starts.into_iter().map(Step::Start))
            .collect();
        Ok((steps, affected.into_iter().collect()))
    }

    fn run_service_change(
        &mut self,
        kind: &str,
        summary: String,
        steps: Vec<Step>,
        plan: &Plan,
    ) -> String {
        let now = rfc3339_now();
        let first_task_id = self.next_task_id();
        let mut tasks = Vec::new();
        let mut failures = Vec::new();
        for (index, step) in steps.into_iter().enumerate() {
            let (task_kind, name) = match &step {
                Step::Start(name) => ("start", name.clone()),
                Step::Stop(name) => ("stop", name.clone()),
            };
            let verb = if task_kind == "start" {
                "Start"
            } else {
                "Stop"
            };
            let mut task = ModelTask {
                id: (first_task_id + index as u64).to_string(),
                kind: task_kind.to_string(),
                summary: format!("{verb} service {name:?}"),
                status: "Done".to_string(),
                spawn_time: now.clone(),
                ready_time: Some(now.clone()),
                ..ModelTask::default()
            };
            // Later tasks wait on earlier ones, so after a failure they never run.
            if !failures.is_empty() {
                task.status = "Hold".to_string();
                tasks.push(task);
                continue;
            }
            let failing = self.failing_services.contains(&name);
            let state = self.services.entry(name.clone()).or_default();
            match step {
                Step::Start(_) if state.current == ServiceStatus::Active => {
                    task.log.push(log_line(
                        "INFO",
                        &format!("Service {name:?} already started."),
                    ));
                }
                Step::Start(_) => {
                    state.starts += 1;
                    state.started_with = plan.services.get(&name).cloned();
                    state.current_since = Some(now.clone());
                    if failing {
                        state.current = ServiceStatus::Backoff;
                        task.status = "Error".to_string();
                        task.log.push(log_line("ERROR", START_FAILURE));
                        failures.push(format!("- {} ({START_FAILURE})", task.summary));
                    } else {
                        state.current = ServiceStatus::Active;
                    }
                }
                Step::Stop(_) => {
                    if state.is_started() {
                        state.current = ServiceStatus::Inactive;
                        state.current_since = Some(now.clone());
                    }
                    state.started_with = None;
                }
            }
            tasks.push(task);
        }
        let err = (!failures.is_empty()).then(|| {
            format!(
                "cannot perform the following tasks:\n{}",
                failures.join("\n")
            )
        });
        let id = self.next_change_id().to_string();
        self.changes.push(ModelChange {
            id: id.clone(),
            kind: kind.to_string(),
            summary,
            status: if err.is_some() { "Error" } else { "Done" }.to_string(),
            err,
            tasks,
            spawn_time: now.clone(),
            ready_time: Some(now),
        });
        id
    }

    pub(super) fn next_change_id(&self) -> u64 {
        self.changes
            .iter()
            .filter_map(|c| c.id.parse::<u64>().ok())
            .max()
            .unwrap_or(0)
            + 1
    }

    pub(super) fn next_task_id(&self) -> u64 {
        self.changes
            .iter()
            .flat_map(|c| &c.tasks)
            .filter_map(|t| t.id.parse::<u64>().ok())
            .max()
            .unwrap_or(0)
            + 1
    }

    /// `POST /v1/signals`.
    pub fn send_signal(&mut self, signal: &str, services: &[String]) -> Result<()> {
        self.settle();
        self.ops.push(PebbleOp::Signal {
            signal: signal.to_string(),
            services: services.to_vec(),
        });
        const WHAT: &str = "POST /v1/signals";
        if services.is_empty() {
            return Err(api_error(400, WHAT, "must specify one or more services"));
        }
        let mut errors = Vec::new();
        for name in services {
            if self.service_status(name) != ServiceStatus::Active {
                errors.push(format!(
                    "cannot send signal to {name:?}: service is not running"
                ));
            } else if !SIGNALS.contains(&signal) {
                errors.push(format!(
                    "cannot send signal to {name:?}: invalid signal name {signal:?}"
                ));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(api_error(500, WHAT, errors.join("\n")))
        }
    }

    /// `GET /v1/checks`. Nothing runs checks here, so every check reports `up`.
    pub fn checks(&self, level: Option<&str>, names: &[String]) -> Result<Vec<CheckInfo>> {
        if let Some(level) = level.filter(|l| !l.is_empty())
            && level != "alive"
            && level != "ready"
        {
            return Err(api_error(
                400,
                "GET /v1/checks",
                "level must be \"alive\" or \"ready\"",
            ));
        }
        Ok(self
            .plan()
            .checks
            .iter()
            .filter(|(name, _)| names.is_empty() || names.contains(name))
            .filter(|(_, check)| {
                level.is_none_or(|l| l.is_empty() || check.level.as_deref() == Some(l))
            })
            .map(|(name, check)| CheckInfo {
                name: name.clone(),
                level: check.level.clone().unwrap_or_default(),
                status: if check.startup.as_deref() == Some("disabled") {
                    "inactive"
                } else if self.checks_down.contains(name) {
                    "down"
                } else {
                    "up"
                }
                .to_string(),
                failures: if self.checks_down.contains(name) {
                    u64::from(check.threshold.unwrap_or(3))
                } else {
                    0
                },
                threshold: u64::from(check.threshold.unwrap_or(3)),
            })
            .collect())
    }
}
