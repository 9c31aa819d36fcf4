//! The apply shell: the only place that changes the workload and the unit's status.
//!
//! It takes the gathered [`CharmState`], asks the pure `django::*` functions what the
//! workload should look like, and does the least work to get there (`DJANGO.md` 10,
//! 17.13): the layer is added only when it would change the plan, `gunicorn.conf.py` is
//! written and checked only when its content changes, a replan happens only when the
//! layer was added or an enabled service is not running.

use std::collections::BTreeMap;

use indexmap::IndexMap;

use crate::django::env::{app_environment, unit_fqdn};
use crate::django::failure_log::{failure_message, secret_values};
use crate::django::gunicorn::{
    BYTECODE_DIR, BYTECODE_PATTERN, GEVENT_MISSING, GUNICORN_CONF_PATH, GunicornFeatures,
    INVALID_WORKER_CLASS, LOG_DIR, NO_WORKER_CLASS_ARG, check_config_argv,
    command_with_worker_class, gunicorn_conf, json_logger_module, logger_settings,
    worker_class_valid,
};
use crate::django::layer::{
    DJANGO_SERVICE, LAYER_LABEL, ORIGINAL_SERVICES_PATH, ServiceRole, desired_layer,
    original_services_json, parse_original_services, service_role,
};
use crate::django::migrations::{self, APP_DIR, MigrationStatus, STATUS_FILE};
use crate::django::status::{
    CHECK_CONFIG_FAILED, NotReady, PREPARING, StateProblem, WAITING_FOR_PEBBLE, readiness,
    state_problem,
};
use crate::health::{failed_start, failed_to_start};
use crate::hook::{HookError, log, set_status};
use crate::integrations::{ingress, oauth};
use crate::juju::context::{HookContext, RelationId};
use crate::juju::metadata::CharmMeta;
use crate::juju::tools::{HookTools, LogLevel, Status, ToolError};
use crate::pebble::layer::{Layer, Service};
use crate::pebble::{
    ExecOutput, ExecRequest, FileOwnership, MakeDirOptions, Pebble, PebbleError, PushOptions,
    ServiceAction,
};
use crate::state::{CharmState, scheduler_unit, the_relation};

/// The port Django serves on.
pub const APP_PORT: &str = "8000/tcp";
/// The user and group the rock runs Django as.
pub const DAEMON_USER: &str = "_daemon_";

fn daemon_owned() -> FileOwnership {
    FileOwnership {
        user: Some(DAEMON_USER.into()),
        group: Some(DAEMON_USER.into()),
        ..Default::default()
    }
}

/// Stop every running service of the plan (`DJANGO.md` 6.4); no call when none runs.
pub fn stop_running_services(pebble: &mut dyn Pebble) -> Result<(), PebbleError> {
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

/// Write the migration status file.
pub fn write_migration_status(
    pebble: &mut dyn Pebble,
    status: MigrationStatus,
) -> Result<(), PebbleError> {
    pebble.push(
        STATUS_FILE,
        status.as_str().as_bytes(),
        &PushOptions {
            make_dirs: true,
            ..Default::default()
        },
    )
}

/// Read the migration status; a missing file or an unreachable Pebble is `PENDING`.
pub fn read_migration_status(pebble: &mut dyn Pebble) -> MigrationStatus {
    match pebble.pull(STATUS_FILE) {
        Ok(bytes) => MigrationStatus::parse(&String::from_utf8_lossy(&bytes)),
        Err(_) => MigrationStatus::Pending,
    }
}

/// Stop the services and reset migrations (a missing option or integration, 6.4).
fn stop_and_reset(pebble: &mut dyn Pebble) -> Result<(), PebbleError> {
    stop_running_services(pebble)?;
    write_migration_status(pebble, MigrationStatus::Pending)
}

/// Row 0 of the status table: on a problem, set Blocked (and stop the services for a
/// missing option) and return `false`.
pub fn check_state(
    state: &CharmState,
    tools: &mut HookTools,
    pebble: &mut dyn Pebble,
) -> Result<bool, HookError> {
    let Some(StateProblem {
        message,
        stop_services,
    }) = state_problem(state)
    else {
        return Ok(true);
    };
    if stop_services && pebble.can_connect() {
        stop_and_reset(pebble)?;
    }
    set_status(tools, &Status::blocked(message))?;
    Ok(false)
}

/// Step 1 of the reconcile with its status side effects; `true` when ready.
pub fn check_ready(
    state: &CharmState,
    tools: &mut HookTools,
    pebble: &mut dyn Pebble,
) -> Result<bool, HookError> {
    if !pebble.can_connect() {
        set_status(tools, &Status::waiting(WAITING_FOR_PEBBLE))?;
        return Ok(false);
    }
    match readiness(state) {
        Ok(()) => Ok(true),
        Err(NotReady::Waiting(m)) => {
            set_status(tools, &Status::waiting(m))?;
            Ok(false)
        }
        Err(NotReady::MissingIntegrations(m)) => {
            stop_and_reset(pebble)?;
            set_status(tools, &Status::blocked(m))?;
            Ok(false)
        }
        Err(NotReady::Blocked(m)) => {
            set_status(tools, &Status::blocked(m))?;
            Ok(false)
        }
    }
}

/// Whether adding `layer` with `combine` would change `plan`.
pub fn layer_changes_plan(plan: &Layer, layer: &Layer) -> bool {
    let mut combined = plan.clone();
    combined.combine(layer);
    &combined != plan
}

/// The rock's services: loaded from `original-services.json`, or captured from the plan
/// and saved there the first time (`DJANGO.md` 6.1).
fn original_services(
    pebble: &mut dyn Pebble,
    plan: &Layer,
) -> Result<IndexMap<String, Service>, HookError> {
    if pebble.exists(ORIGINAL_SERVICES_PATH)? {
        let bytes = pebble.pull(ORIGINAL_SERVICES_PATH)?;
        return parse_original_services(&String::from_utf8_lossy(&bytes)).map_err(HookError::Other);
    }
    let text = original_services_json(&plan.services);
    pebble.push(
        ORIGINAL_SERVICES_PATH,
        text.as_bytes(),
        &PushOptions {
            make_dirs: true,
            ..Default::default()
        },
    )?;
    Ok(plan.services.clone().into_iter().collect())
}

/// Maintenance `Preparing service for restart`, set once, just before the reconcile's
/// first change to the workload (the layer, the log directory, `gunicorn.conf.py`, a
/// reload, the migration, a replan or a stop): a reconcile that changes nothing leaves
/// the status alone until its verdict.
struct Preparing {
    set: bool,
}

impl Preparing {
    fn new() -> Preparing {
        Preparing { set: false }
    }

    fn now(&mut self, tools: &mut HookTools) -> Result<(), ToolError> {
        if !self.set {
            set_status(tools, &Status::maintenance(PREPARING))?;
            self.set = true;
        }
        Ok(())
    }
}

/// Options of one reconcile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReconcileOptions {
    /// An event marked M: migrations are forced to run again.
    pub force_migrations: bool,
}

/// The state check and the reconcile of `DJANGO.md` 10. `true` when it went all the way
/// to Active (so the ingress data was published too).
pub fn reconcile(
    ctx: &HookContext,
    state: &CharmState,
    tools: &mut HookTools,
    pebble: &mut dyn Pebble,
    options: ReconcileOptions,
) -> Result<bool, HookError> {
    if !check_state(state, tools, pebble)? || !check_ready(state, tools, pebble)? {
        return Ok(false);
    }
    if options.force_migrations {
        write_migration_status(pebble, MigrationStatus::Pending)?;
    }
    let blocked = |tools: &mut HookTools, message: &str| -> Result<bool, HookError> {
        set_status(tools, &Status::blocked(message))?;
        Ok(false)
    };
    // 3. The OAuth scopes, and the client request on the leader.
    if let Some(o) = &state.oauth {
        if !oauth::scopes_include_openid(&o.options.scopes) {
            return blocked(tools, oauth::OPENID_REQUIRED_MESSAGE);
        }
        if let Some(rel) = &o.relation
            && tools.is_leader()?
        {
            tools.relation_set(
                rel,
                &oauth::client_request(&state.base_url, &o.options),
                true,
            )?;
        }
    }
    // Maintenance comes just before the first change to the workload, if any.
    let mut preparing = Preparing::new();

    // 5. Worker class, with the original services loaded between the gevent check and
    // the `-k` check (DJANGO.md 8).
    let class = state.config.webserver.worker_class.as_deref();
    if let Some(class) = class {
        if !worker_class_valid(class) {
            return blocked(tools, INVALID_WORKER_CLASS);
        }
        if class == "gevent" {
            let out = pebble.exec(&ExecRequest::new(["python3", "-c", "import gevent"]))?;
            if !out.success() {
                return blocked(tools, GEVENT_MISSING);
            }
        }
    }
    // One plan read serves the capture and the comparison below.
    let plan = pebble.get_plan()?;
    let original = original_services(pebble, &plan)?;
    let original_command = original
        .get(DJANGO_SERVICE)
        .and_then(|s| s.command.clone())
        .unwrap_or_default();
    let rewritten = match class {
        Some(class) => match command_with_worker_class(&original_command, class) {
            Ok(cmd) => cmd,
            Err(_) => return blocked(tools, NO_WORKER_CLASS_ARG),
        },
        None => None,
    };

    // 6. The layer, only when it changes the plan.
    let env: BTreeMap<String, String> = app_environment(state);
    let has_schedulers = original
        .keys()
        .any(|name| service_role(name) == ServiceRole::Scheduler);
    let is_scheduler = !has_schedulers || scheduler_unit(ctx, tools)? == state.unit_number;
    let layer = desired_layer(&original, &env, rewritten.as_deref(), is_scheduler);
    let added = layer_changes_plan(&plan, &layer);
    // The replan below restarts django when the layer changes its definition: a reload
    // of gunicorn before it would be redundant.
    let django_redefined = added && {
        let mut combined = plan.clone();
        combined.combine(&layer);
        combined.services.get(DJANGO_SERVICE) != plan.services.get(DJANGO_SERVICE)
    };
    if added {
        preparing.now(tools)?;
        pebble.add_layer(LAYER_LABEL, &layer, true)?;
    }

    // 7. Log directory, gunicorn.conf.py check and reload.
    if !pebble.exists(LOG_DIR)? {
        preparing.now(tools)?;
        pebble.make_dir(
            LOG_DIR,
            &MakeDirOptions {
                make_parents: true,
                ownership: daemon_owned(),
            },
        )?;
    }
    let django_command = layer
        .services
        .get(DJANGO_SERVICE)
        .and_then(|s| s.command.clone())
        .unwrap_or(original_command);
    let conf = gunicorn_conf(
        &state.config.webserver,
        GunicornFeatures {
            juju_3_4: state.juju_3_4,
            tracing: state.tracing_ready(),
            json_logger: state.json_logging.then(json_logger_module),
        },
    );
    let deferred_reload = match update_gunicorn_conf(
        pebble,
        (&mut preparing, tools),
        &conf,
        &django_command,
        &env,
    )? {
        ConfUpdate::Rejected(failed) => {
            log_failure(tools, "gunicorn configuration check", &failed, &env);
            return blocked(tools, CHECK_CONFIG_FAILED);
        }
        ConfUpdate::Written(Some(reload)) if django_redefined => Some(reload),
        ConfUpdate::Written(Some(reload)) => {
            preparing.now(tools)?;
            reload_django(pebble, reload)?;
            None
        }
        ConfUpdate::Written(None) | ConfUpdate::Unchanged => None,
    };

    // 8. Migrations.
    if let Some((command, failed)) = run_migrations(pebble, (&mut preparing, tools), &env)? {
        // No replan follows: the running django still needs the new file.
        if let Some(reload) = deferred_reload {
            reload_django(pebble, reload)?;
        }
        log_failure(
            tools,
            &format!("database migration ({})", command.join(" ")),
            &failed,
            &env,
        );
        return blocked(tools, &migrations::failure_message(&command));
    }

    // 9. Replan, then keep `-scheduler` services off other units.
    let mut combined = plan;
    combined.combine(&layer);
    let enabled: Vec<String> = combined
        .services
        .iter()
        .filter(|(_, s)| s.is_enabled())
        .map(|(n, _)| n.clone())
        .collect();
    let not_running = if enabled.is_empty() {
        false
    } else {
        let infos = pebble.services(&enabled)?;
        infos.len() < enabled.len() || infos.iter().any(|s| !s.is_running())
    };
    if added || not_running {
        preparing.now(tools)?;
        match pebble.service_action(ServiceAction::Replan, &[]) {
            Err(PebbleError::Change {
                id,
                err,
                tasks,
                output,
            }) => {
                // An application that exits at once is the operator's to fix, not a
                // hook to retry: Pebble keeps restarting it from backoff.
                let Some(service) = failed_start(&err, &tasks) else {
                    return Err(PebbleError::Change {
                        id,
                        err,
                        tasks,
                        output,
                    }
                    .into());
                };
                // Never the change error's text or the tasks' logs: the application's
                // output may hold secrets.
                let failed: Vec<&str> = tasks
                    .iter()
                    .filter(|t| t.status == "Error")
                    .map(|t| t.summary.as_str())
                    .collect();
                log(
                    tools,
                    LogLevel::Warning,
                    &format!("replan change {id} failed: {}", failed.join(", ")),
                );
                return blocked(tools, &failed_to_start(&service));
            }
            other => {
                other?;
            }
        }
    }
    if !is_scheduler {
        let running: Vec<String> = pebble
            .services(&[])?
            .into_iter()
            .filter(|s| s.is_running() && service_role(&s.name) == ServiceRole::Scheduler)
            .map(|s| s.name)
            .collect();
        if !running.is_empty() {
            preparing.now(tools)?;
            pebble.service_action(ServiceAction::Stop, &running)?;
        }
    }

    // 10. Ingress data, then exactly port 8000 (one `opened-ports` read serves both).
    let opened = tools.opened_ports()?;
    if let Some(rel) = &state.ingress.relation {
        let port_open = opened.iter().any(|p| p == APP_PORT);
        let leader = tools.is_leader()?;
        write_ingress_data(ctx, tools, leader, rel, port_open)?;
    }
    for port in opened.iter().filter(|p| p.as_str() != APP_PORT) {
        tools.close_port(port)?;
    }
    if !opened.iter().any(|p| p == APP_PORT) {
        tools.open_port(APP_PORT)?;
    }
    set_status(tools, &Status::active())?;
    Ok(true)
}

/// Log a failed workload command at ERROR with the redacted tail of its output.
fn log_failure(
    tools: &mut HookTools,
    what: &str,
    out: &ExecOutput,
    env: &BTreeMap<String, String>,
) {
    let secrets = secret_values(env, tools.secret_contents());
    let message = failure_message(what, out.exit_code, &out.stdout, &out.stderr, &secrets);
    log(tools, LogLevel::Error, &message);
}

/// How the running `django` takes a new `gunicorn.conf.py`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reload {
    /// `SIGHUP`: gunicorn rereads its configuration and replaces its workers.
    Signal,
    /// A restart: gunicorn keeps the logger it started with across a `SIGHUP`.
    Restart,
}

/// What became of `gunicorn.conf.py`.
enum ConfUpdate {
    /// The file already had this content.
    Unchanged,
    /// Written and checked; how a running `django` takes it (`None`: it is not running).
    Written(Option<Reload>),
    /// The check failed (its output here); the old file is back.
    Rejected(ExecOutput),
}

/// Write `gunicorn.conf.py` when its content changes and check it (`DJANGO.md` 7.3).
fn update_gunicorn_conf(
    pebble: &mut dyn Pebble,
    (preparing, tools): (&mut Preparing, &mut HookTools),
    content: &str,
    django_command: &str,
    env: &BTreeMap<String, String>,
) -> Result<ConfUpdate, HookError> {
    let previous = match pebble.pull(GUNICORN_CONF_PATH) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.is_not_found() => None,
        Err(e) => return Err(e.into()),
    };
    if previous.as_deref() == Some(content.as_bytes()) {
        return Ok(ConfUpdate::Unchanged);
    }
    let django_running = pebble
        .services(&[DJANGO_SERVICE.to_string()])?
        .iter()
        .any(|s| s.is_running());
    let owned = PushOptions {
        make_dirs: false,
        ownership: daemon_owned(),
    };
    preparing.now(tools)?;
    pebble.push(GUNICORN_CONF_PATH, content.as_bytes(), &owned)?;
    remove_conf_bytecode(pebble)?;
    let argv = check_config_argv(django_command).unwrap_or_else(|| vec!["--check-config".into()]);
    let mut check = ExecRequest::new(argv);
    check.environment = env.clone();
    // The check must not cache the file it checks: a rejected file's bytecode could
    // outlive it (see `remove_conf_bytecode`).
    check
        .environment
        .insert("PYTHONDONTWRITEBYTECODE".into(), "1".into());
    check.user = Some(DAEMON_USER.into());
    check.group = Some(DAEMON_USER.into());
    check.working_dir = Some(APP_DIR.into());
    let out = pebble.exec(&check)?;
    if !out.success() {
        // Put the old file back so that every later reconcile checks the new one again.
        match &previous {
            Some(old) => pebble.push(GUNICORN_CONF_PATH, old, &owned)?,
            None => pebble.remove_path(GUNICORN_CONF_PATH, false)?,
        }
        remove_conf_bytecode(pebble)?;
        return Ok(ConfUpdate::Rejected(out));
    }
    if !django_running {
        return Ok(ConfUpdate::Written(None));
    }
    let old = previous.as_deref().map(String::from_utf8_lossy);
    Ok(ConfUpdate::Written(Some(
        if logger_settings(old.as_deref().unwrap_or("")) != logger_settings(content) {
            Reload::Restart
        } else {
            Reload::Signal
        },
    )))
}

/// Make the running `django` take its new `gunicorn.conf.py`.
fn reload_django(pebble: &mut dyn Pebble, reload: Reload) -> Result<(), PebbleError> {
    let django = [DJANGO_SERVICE.to_string()];
    match reload {
        Reload::Signal => pebble.send_signal("SIGHUP", &django),
        Reload::Restart => pebble
            .service_action(ServiceAction::Restart, &django)
            .map(|_| ()),
    }
}

/// Remove Python's cached bytecode of `gunicorn.conf.py`. The cache is keyed on the
/// source's mtime in seconds and its size, so a file rewritten within the same second at
/// the same size (a restore right after a failed check) would otherwise load as the
/// bytecode of the file it replaced. A missing cache directory is fine.
fn remove_conf_bytecode(pebble: &mut dyn Pebble) -> Result<(), PebbleError> {
    let cached = match pebble.list_files(BYTECODE_DIR, Some(BYTECODE_PATTERN), false) {
        Ok(entries) => entries,
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in cached {
        match pebble.remove_path(&entry.path, false) {
            Err(e) if !e.is_not_found() => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

/// Run the migration when its status asks for it; `Some((command, output))` when it
/// failed.
fn run_migrations(
    pebble: &mut dyn Pebble,
    (preparing, tools): (&mut Preparing, &mut HookTools),
    env: &BTreeMap<String, String>,
) -> Result<Option<(Vec<String>, ExecOutput)>, HookError> {
    if !read_migration_status(pebble).needs_run() {
        return Ok(None);
    }
    let present: Vec<String> = match pebble.list_files(APP_DIR, None, false) {
        Ok(entries) => entries.into_iter().map(|e| e.name).collect(),
        Err(e) if e.is_not_found() => vec![],
        Err(e) => return Err(e.into()),
    };
    let Some(command) = migrations::migration_command(|f| present.iter().any(|p| p == f)) else {
        return Ok(None);
    };
    let mut request = ExecRequest::new(command.clone());
    request.environment = env.clone();
    request.working_dir = Some(APP_DIR.into());
    request.user = Some(DAEMON_USER.into());
    request.group = Some(DAEMON_USER.into());
    preparing.now(tools)?;
    let out = pebble.exec(&request)?;
    if out.success() {
        write_migration_status(pebble, MigrationStatus::Completed)?;
        Ok(None)
    } else {
        write_migration_status(pebble, MigrationStatus::Failed)?;
        Ok(Some((command, out)))
    }
}

/// Publish the ingress requirer data (`INTERFACES.md` 13.1): each bag cleared, then
/// written; the app bag by the leader only. Nothing without an ingress relation.
pub fn publish_ingress(
    ctx: &HookContext,
    meta: &CharmMeta,
    tools: &mut HookTools,
    leader: bool,
) -> Result<(), ToolError> {
    if meta
        .required_endpoint(ingress::ENDPOINT, ingress::INTERFACE)
        .is_none()
    {
        return Ok(());
    }
    let Some((rel, _)) = the_relation(ctx, tools, ingress::ENDPOINT)? else {
        return Ok(());
    };
    let port_open = leader && tools.opened_ports()?.iter().any(|p| p == APP_PORT);
    write_ingress_data(ctx, tools, leader, &rel, port_open)
}

/// Clear and write our ingress bags on `rel`.
pub fn write_ingress_data(
    ctx: &HookContext,
    tools: &mut HookTools,
    leader: bool,
    rel: &RelationId,
    port_open: bool,
) -> Result<(), ToolError> {
    if leader {
        let existing = tools
            .relation_get(rel, &ctx.app_name, true)?
            .unwrap_or_default();
        let data = ingress::requirer_app_data(&ctx.model_name, &ctx.app_name, port_open);
        tools.relation_set(rel, &ingress::replace_bag(&existing, &data), true)?;
    }
    let existing = tools
        .relation_get(rel, &ctx.unit_name, false)?
        .unwrap_or_default();
    let ip = tools.bind_address(ingress::ENDPOINT, Some(rel));
    let fqdn = unit_fqdn(&ctx.app_name, ctx.unit_number, &ctx.model_name);
    let data = ingress::requirer_unit_data(&fqdn, ip.as_deref());
    tools.relation_set(rel, &ingress::replace_bag(&existing, &data), false)?;
    Ok(())
}
