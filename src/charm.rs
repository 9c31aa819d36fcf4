//! One hook, from event to exit code (`DJANGO.md` 12): which events reconcile, which
//! only write relation data, which are ignored; and the one error policy (a hook tool or
//! Pebble failure is logged and the hook exits 1 so Juju retries it; everything expected
//! is a status and exit 0).

use crate::actions;
use crate::cos;
use crate::django::layer::DJANGO_CHECK;
use crate::django::migrations::MigrationStatus;
use crate::health::{self, Verdict};
use crate::hook::{Hook, HookError, log, set_status};
use crate::integrations::kind::{EventError, EventHost, IntegrationSpec, Reaction, spec_of};
use crate::integrations::{http_proxy, ingress, smtp, tracing};
use crate::juju::context::{
    Event, HookContext, RelationEvent, RelationId, RelationKind, SecretEvent, SecretKind,
    WorkloadKind,
};
use crate::juju::metadata::CharmMeta;
use crate::juju::tools::{Databag, HookTools, LogLevel, ToolError};
use crate::observability;
use crate::pebble::Pebble;
use crate::project::Project;
use crate::random::new_secret_key;
use crate::reconcile::{
    APP_PORT, ReconcileOptions, check_state, publish_ingress, read_migration_status, reconcile,
    write_ingress_data,
};
use crate::secret_key::{self, Stored};
use crate::state::{CharmState, PEER_ENDPOINT, base_url, gather, relation_ids, the_relation};

/// The workload container.
pub const CONTAINER: &str = "django-app";

/// Run the hook; returns the process exit code.
pub fn run_hook(
    ctx: &HookContext,
    project: &Project,
    tools: &mut HookTools,
    pebble: &mut dyn Pebble,
) -> u8 {
    tools.set_local(&ctx.app_name, &ctx.unit_name);
    // Juju may set the workload status itself around these; a new leader writes the
    // application status once (`juju::status_memory`).
    match ctx.event {
        Event::Install | Event::UpgradeCharm => tools.forget_statuses(false),
        Event::LeaderElected => tools.forget_statuses(true),
        _ => {}
    }
    let mut hook = Hook {
        ctx,
        project,
        tools,
        pebble,
    };
    let code = match handle(&mut hook) {
        Ok(()) => 0,
        Err(e) => {
            let message = format!("{} failed: {e}", ctx.event_name());
            log(hook.tools, LogLevel::Error, &message);
            1
        }
    };
    tools.finish_statuses(code == 0);
    code
}

fn ignore(hook: &mut Hook<'_>) -> Result<(), HookError> {
    let message = format!("ignoring event {}", hook.ctx.dispatch_path);
    log(hook.tools, LogLevel::Debug, &message);
    Ok(())
}

fn is_ignored(event: &Event) -> bool {
    match event {
        Event::Unknown(_) => true,
        Event::Workload { kind, .. } => {
            !matches!(kind, WorkloadKind::PebbleReady) && django_check_event(kind).is_none()
        }
        _ => false,
    }
}

/// `pebble-check-failed` / `-recovered` of the `django` check.
fn django_check_event(kind: &WorkloadKind) -> Option<()> {
    match kind {
        WorkloadKind::CheckFailed { check } | WorkloadKind::CheckRecovered { check }
            if check.as_deref() == Some(DJANGO_CHECK) =>
        {
            Some(())
        }
        _ => None,
    }
}

/// Every handled hook starts with this on the leader: our app bag of each tracing
/// relation is exactly `receivers: ["otlp_http"]` (`INTERFACES.md` 9).
fn tracing_prelude(hook: &mut Hook<'_>) -> Result<(), HookError> {
    if hook
        .project
        .meta
        .required_endpoint(tracing::ENDPOINT, tracing::INTERFACE)
        .is_none()
    {
        return Ok(());
    }
    let rels = relation_ids(hook.ctx, hook.tools, tracing::ENDPOINT)?;
    if rels.is_empty() || !hook.tools.is_leader()? {
        return Ok(());
    }
    for rel in rels {
        let Some(ours) = tracing::read_own_app_bag(hook.tools, &rel, &hook.ctx.app_name)? else {
            continue;
        };
        // Written every time, as the spec says; Juju ignores a write that changes nothing.
        hook.tools
            .relation_set(&rel, &tracing::app_bag_rewrite(&ours), true)?;
    }
    Ok(())
}

fn handle(hook: &mut Hook<'_>) -> Result<(), HookError> {
    let ctx = hook.ctx;
    if !is_ignored(&ctx.event) {
        tracing_prelude(hook)?;
    }
    match &ctx.event {
        Event::Unknown(_) => ignore(hook),
        Event::Workload { container, kind } => match kind {
            WorkloadKind::PebbleReady if container == CONTAINER => {
                full_reconcile(hook, false)?;
                observability::publish_metrics(hook, true)?;
                observability::update_logging(hook, false)
            }
            WorkloadKind::PebbleReady => Ok(()),
            kind if container == CONTAINER && django_check_event(kind).is_some() => {
                let state = gather(hook.ctx, hook.project, hook.tools)?;
                if check_state(&state, hook.tools, hook.pebble)? {
                    evaluate_health(hook, &state)?;
                }
                Ok(())
            }
            _ => ignore(hook),
        },
        Event::ConfigChanged => {
            full_reconcile(hook, false)?;
            observability::publish_metrics(hook, true)?;
            observability::publish_dashboards(hook)
        }
        Event::Secret(s) if s.kind == SecretKind::Changed => {
            full_reconcile(hook, false)?;
            if smtp_secret_changed(hook, &s.id)? {
                full_reconcile(hook, false)?;
            }
            Ok(())
        }
        Event::UpdateStatus => {
            observability::publish_metrics(hook, false)?;
            update_status(hook)
        }
        Event::Secret(s) if s.kind == SecretKind::Remove => remove_secret_key_revision(hook, s),
        Event::LeaderElected | Event::UpgradeCharm => {
            migrate_secret_key(hook)?;
            let leader = hook.tools.is_leader()?;
            publish_ingress(ctx, &hook.project.meta, hook.tools, leader)?;
            observability::publish_dashboards(hook)?;
            if ctx.event == Event::UpgradeCharm {
                request_http_proxy(hook)?;
            }
            Ok(())
        }
        Event::Relation(r) => relation_event(hook, r),
        Event::Action { name, .. } => actions::run_action(hook, name),
        _ => Ok(()),
    }
}

/// State, then the reconcile (R; with `force_migrations`, M).
pub fn full_reconcile(hook: &mut Hook<'_>, force_migrations: bool) -> Result<(), HookError> {
    let state = gather(hook.ctx, hook.project, hook.tools)?;
    reconcile(
        hook.ctx,
        &state,
        hook.tools,
        hook.pebble,
        ReconcileOptions { force_migrations },
    )
    .map(|_| ())
}

/// The application's health between reconciles (`health`): reads the unit's status and,
/// when the evaluation owns it, the services and the `django` check (a request that
/// fails leaves the status as it is). `true` when it ran a reconcile to Active.
fn evaluate_health(hook: &mut Hook<'_>, state: &CharmState) -> Result<bool, HookError> {
    let Some(current) = hook.tools.unit_status()? else {
        return Ok(false);
    };
    if !health::owns(&current) {
        return Ok(false);
    }
    let Ok(services) = hook.pebble.services(&[]) else {
        return Ok(false);
    };
    let Ok(checks) = hook.pebble.checks(None, &[DJANGO_CHECK.to_string()]) else {
        return Ok(false);
    };
    let check = checks.iter().find(|c| c.name == DJANGO_CHECK);
    match health::verdict(&current, &services, check) {
        Verdict::Keep => Ok(false),
        Verdict::Set(status) => {
            set_status(hook.tools, &status)?;
            Ok(false)
        }
        Verdict::Reconcile => Ok(reconcile(
            hook.ctx,
            state,
            hook.tools,
            hook.pebble,
            ReconcileOptions::default(),
        )?),
    }
}

/// `update-status`: the state check; a failed migration is retried, or else the
/// application's health is evaluated; ingress data is published again.
fn update_status(hook: &mut Hook<'_>) -> Result<(), HookError> {
    let state = gather(hook.ctx, hook.project, hook.tools)?;
    if !check_state(&state, hook.tools, hook.pebble)? {
        return Ok(());
    }
    let published = if read_migration_status(hook.pebble) == MigrationStatus::Failed {
        reconcile(
            hook.ctx,
            &state,
            hook.tools,
            hook.pebble,
            ReconcileOptions::default(),
        )?
    } else {
        evaluate_health(hook, &state)?
    };
    // A completed reconcile has just published it; otherwise publish on the relation the
    // gather found.
    if !published && let Some(rel) = &state.ingress.relation {
        let leader = hook.tools.is_leader()?;
        let port_open = leader && hook.tools.opened_ports()?.iter().any(|p| p == APP_PORT);
        write_ingress_data(hook.ctx, hook.tools, leader, rel, port_open)?;
    }
    Ok(())
}

fn relation_event(hook: &mut Hook<'_>, event: &RelationEvent) -> Result<(), HookError> {
    let endpoint = event.relation.endpoint.as_str();
    let meta = &hook.project.meta;
    if endpoint == PEER_ENDPOINT {
        return match event.kind {
            RelationKind::Created => generate_secret_key(hook),
            RelationKind::Changed | RelationKind::Departed => full_reconcile(hook, false),
            _ => Ok(()),
        };
    }
    let declared = |interface: &str| meta.required_endpoint(endpoint, interface).is_some();
    let spec = meta
        .requires
        .get(endpoint)
        .and_then(|spec| spec_of(endpoint, &spec.interface));
    if let Some(spec) = spec {
        return integration_event(hook, event, spec);
    }
    if endpoint == http_proxy::ENDPOINT && declared(http_proxy::INTERFACE) {
        return match event.kind {
            RelationKind::Joined => request_http_proxy(hook),
            RelationKind::Changed | RelationKind::Broken => full_reconcile(hook, false),
            _ => Ok(()),
        };
    }
    if endpoint == cos::loki::ENDPOINT && declared(cos::loki::INTERFACE) {
        return match event.kind {
            RelationKind::Created => Ok(()),
            _ => observability::update_logging(hook, true),
        };
    }
    let provided = |interface: &str| {
        meta.provides
            .get(endpoint)
            .is_some_and(|e| e.interface == interface)
    };
    if endpoint == cos::prometheus::ENDPOINT && provided(cos::prometheus::INTERFACE) {
        return match event.kind {
            RelationKind::Joined => observability::publish_metrics(hook, true),
            RelationKind::Changed => observability::publish_metrics(hook, false),
            _ => Ok(()),
        };
    }
    if endpoint == cos::grafana::ENDPOINT
        && provided(cos::grafana::INTERFACE)
        && event.kind == RelationKind::Created
    {
        return observability::publish_dashboards(hook);
    }
    if endpoint == ingress::ENDPOINT && declared(ingress::INTERFACE) {
        return match event.kind {
            RelationKind::Changed | RelationKind::Departed => {
                let leader = hook.tools.is_leader()?;
                publish_ingress(hook.ctx, meta, hook.tools, leader)?;
                let remote_app = remote_app(hook.tools, event)?;
                let has_url = match remote_app {
                    Some(app) => hook
                        .tools
                        .relation_get(&event.relation, &app, true)?
                        .is_some_and(|bag| bag.contains_key("ingress")),
                    None => false,
                };
                if has_url {
                    full_reconcile(hook, false)
                } else {
                    Ok(())
                }
            }
            RelationKind::Broken => full_reconcile(hook, false),
            _ => Ok(()),
        };
    }
    Ok(())
}

/// Relation events of the integrations that give environment variables (`DJANGO.md` 12):
/// the row's handler does the few writes of `-created` and `-joined` and says what each
/// event calls for.
fn integration_event(
    hook: &mut Hook<'_>,
    event: &RelationEvent,
    spec: &IntegrationSpec,
) -> Result<(), HookError> {
    use RelationKind as E;
    let handler = spec.handler;
    let reaction = match event.kind {
        // On every integration, a broken relation leaves at once (DJANGO.md 17.6).
        E::Broken => Reaction::Reconcile {
            migrations: spec.migrations_when_broken,
        },
        E::Created => {
            handler
                .on_created(&mut EventScope { hook, event }, event)
                .map_err(hook_error)?;
            Reaction::Nothing
        }
        E::Joined => {
            react(hook, handler.on_joined(event))?;
            handler
                .joined_writes(&mut EventScope { hook, event }, event)
                .map_err(hook_error)?;
            Reaction::Nothing
        }
        E::Changed => handler
            .on_changed(&mut EventScope { hook, event }, event)
            .map_err(hook_error)?,
        E::Departed => handler
            .on_departed(&mut EventScope { hook, event }, event)
            .map_err(hook_error)?,
    };
    react(hook, reaction)
}

/// The hook, as an integration's event handlers see it.
struct EventScope<'h, 'a> {
    hook: &'h mut Hook<'a>,
    event: &'h RelationEvent,
}

impl EventHost for EventScope<'_, '_> {
    fn tools(&mut self) -> &mut HookTools {
        self.hook.tools
    }

    fn ctx(&self) -> &HookContext {
        self.hook.ctx
    }

    fn meta(&self) -> &CharmMeta {
        &self.hook.project.meta
    }

    fn remote_app(&mut self) -> Result<Option<String>, ToolError> {
        remote_app(self.hook.tools, self.event)
    }

    fn base_url(&mut self) -> Result<String, ToolError> {
        base_url(self.hook.ctx, &self.hook.project.meta, self.hook.tools)
    }
}

fn hook_error(e: EventError) -> HookError {
    match e {
        EventError::Tool(e) => HookError::Tool(e),
        EventError::Random(e) => HookError::Random(e),
    }
}

/// Do what a relation event calls for.
fn react(hook: &mut Hook<'_>, reaction: Reaction) -> Result<(), HookError> {
    match reaction {
        Reaction::Nothing => Ok(()),
        Reaction::Reconcile { migrations } => full_reconcile(hook, migrations),
        Reaction::CheckState => {
            let state = gather(hook.ctx, hook.project, hook.tools)?;
            check_state(&state, hook.tools, hook.pebble).map(|_| ())
        }
    }
}

/// The leader asks the http-proxy provider for a proxy, keeping the requirer id it
/// already used (`INTERFACES.md` 14).
fn request_http_proxy(hook: &mut Hook<'_>) -> Result<(), HookError> {
    if hook
        .project
        .meta
        .required_endpoint(http_proxy::ENDPOINT, http_proxy::INTERFACE)
        .is_none()
    {
        return Ok(());
    }
    let Some((rel, _)) = the_relation(hook.ctx, hook.tools, http_proxy::ENDPOINT)? else {
        return Ok(());
    };
    if !hook.tools.is_leader()? {
        return Ok(());
    }
    let ours = hook
        .tools
        .relation_get(&rel, &hook.ctx.app_name, true)?
        .unwrap_or_default();
    let id = http_proxy::requirer_id(ours.get("requests").map(String::as_str))?;
    hook.tools
        .relation_set(&rel, &http_proxy::request_bag(&id), true)?;
    Ok(())
}

/// After `secret-changed`: whether it was the SMTP provider's password secret with
/// valid SMTP data, which calls for a second reconcile.
fn smtp_secret_changed(hook: &mut Hook<'_>, secret_id: &str) -> Result<bool, HookError> {
    if hook
        .project
        .meta
        .required_endpoint(smtp::ENDPOINT, smtp::INTERFACE)
        .is_none()
    {
        return Ok(false);
    }
    let Some((rel, remote)) = the_relation(hook.ctx, hook.tools, smtp::ENDPOINT)? else {
        return Ok(false);
    };
    let data = smtp::read(hook.tools, &rel, &remote)?;
    Ok(smtp::secret_changed_needs_second_reconcile(
        &data, secret_id,
    ))
}

/// The remote application of the event's relation.
fn remote_app(tools: &mut HookTools, event: &RelationEvent) -> Result<Option<String>, ToolError> {
    match &event.remote_app {
        Some(app) => Ok(Some(app.clone())),
        None => tools.relation_remote_app(&event.relation),
    }
}

/// The peer relation and our application bag on it, when the relation exists.
fn peer_bag(hook: &mut Hook<'_>) -> Result<Option<(RelationId, Databag)>, HookError> {
    let Some(rel) = relation_ids(hook.ctx, hook.tools, PEER_ENDPOINT)?
        .into_iter()
        .next()
    else {
        return Ok(None);
    };
    let bag = hook.tools.relation_get(&rel, &hook.ctx.app_name, true)?;
    Ok(bag.map(|bag| (rel, bag)))
}

/// On `secret-storage-relation-created`, the leader makes sure the key is in its Juju
/// secret: one that exists already is adopted, a key in the bag is moved, and only
/// when there is neither is a new key generated (`DJANGO.md` 4; `secret_key`).
/// Nothing else happens in that hook.
fn generate_secret_key(hook: &mut Hook<'_>) -> Result<(), HookError> {
    if !hook.tools.is_leader()? {
        return Ok(());
    }
    let Some((rel, bag)) = peer_bag(hook)? else {
        return Ok(());
    };
    if secret_key::migrate(hook.tools, &rel, &bag)?.is_some() || Stored::of(&bag) != Stored::Nothing
    {
        return Ok(());
    }
    let (id, _) = secret_key::create(hook.tools, &new_secret_key()?)?;
    secret_key::publish(hook.tools, &rel, &bag, &id)?;
    Ok(())
}

/// `upgrade-charm` and `leader-elected`: the leader moves a key still in the peer bag
/// into its Juju secret, before anything else (`secret_key::migrate`).
fn migrate_secret_key(hook: &mut Hook<'_>) -> Result<(), HookError> {
    if !hook.tools.is_leader()? {
        return Ok(());
    }
    if let Some((rel, bag)) = peer_bag(hook)? {
        secret_key::migrate(hook.tools, &rel, &bag)?;
    }
    Ok(())
}

/// `secret-remove` for the key's secret: no unit tracks that revision any more, so it
/// goes (a rotated-out key is not left readable).
fn remove_secret_key_revision(hook: &mut Hook<'_>, event: &SecretEvent) -> Result<(), HookError> {
    let Some(revision) = event.revision else {
        return Ok(());
    };
    let Some((_, bag)) = peer_bag(hook)? else {
        return Ok(());
    };
    let Stored::Secret(ours) = Stored::of(&bag) else {
        return Ok(());
    };
    if secret_key::same_secret(&event.id, &ours) {
        hook.tools.secret_remove(&ours, Some(revision))?;
    }
    Ok(())
}
