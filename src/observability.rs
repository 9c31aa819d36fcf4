//! Publishing the observability data (`DJANGO.md` 15, `INTERFACES.md` 15–17): scrape
//! data for Prometheus, dashboards for Grafana, and log forwarding to Loki. The pure
//! rules are in [`crate::cos`]; this module reads what they need and writes the result.

use indexmap::IndexMap;

use crate::cos::{Topology, grafana, loki, prometheus};
use crate::django::paas_config::scheduler_port;
use crate::hook::{Hook, HookError};
use crate::juju::tools::Databag;
use crate::random;
use crate::state::{relation_ids, scheduler_unit};

/// This unit's Juju topology.
pub fn topology(hook: &Hook<'_>) -> Topology {
    Topology {
        model: hook.ctx.model_name.clone(),
        model_uuid: hook.ctx.model_uuid.clone(),
        application: hook.ctx.app_name.clone(),
        unit: hook.ctx.unit_name.clone(),
        charm_name: hook.project.meta.name.clone(),
    }
}

fn provides(meta: &crate::juju::metadata::CharmMeta, name: &str, interface: &str) -> bool {
    meta.provides
        .get(name)
        .is_some_and(|e| e.interface == interface)
}

/// `metrics-endpoint`: the unit bag on every unit, and with `app_bag` the leader's app
/// bag, on every relation.
pub fn publish_metrics(hook: &mut Hook<'_>, app_bag: bool) -> Result<(), HookError> {
    if !provides(
        &hook.project.meta,
        prometheus::ENDPOINT,
        prometheus::INTERFACE,
    ) {
        return Ok(());
    }
    let rels = relation_ids(hook.ctx, hook.tools, prometheus::ENDPOINT)?;
    if rels.is_empty() {
        return Ok(());
    }
    let ctx = hook.ctx;
    let t = topology(hook);
    let bind = hook.tools.bind_address(prometheus::ENDPOINT, None);
    let unit = prometheus::unit_data(
        &ctx.app_name,
        ctx.unit_number,
        &ctx.model_name,
        bind.as_deref(),
    );
    let app = if app_bag && hook.tools.is_leader()? {
        let jobs = hook
            .project
            .paas_config
            .as_ref()
            .map(|c| c.scrape_jobs.clone())
            .unwrap_or_default();
        let needs_scheduler = jobs.iter().any(|j| {
            j.static_configs
                .iter()
                .any(|sc| sc.targets.iter().any(|t| scheduler_port(t).is_some()))
        });
        let scheduler = if needs_scheduler {
            scheduler_unit(ctx, hook.tools)?
        } else {
            ctx.unit_number
        };
        let jobs = prometheus::scrape_jobs(&jobs, &ctx.app_name, &ctx.model_name, scheduler);
        let rules = prometheus::alert_rules(&hook.project.cos_assets, &t);
        Some(prometheus::app_data(&t, &jobs, &rules))
    } else {
        None
    };
    for rel in &rels {
        if let Some(app) = &app {
            hook.tools.relation_set(rel, app, true)?;
        }
        hook.tools.relation_set(rel, &unit, false)?;
    }
    Ok(())
}

/// `grafana-dashboard`: the leader publishes the dashboards where they changed.
pub fn publish_dashboards(hook: &mut Hook<'_>) -> Result<(), HookError> {
    if !provides(&hook.project.meta, grafana::ENDPOINT, grafana::INTERFACE) {
        return Ok(());
    }
    let rels = relation_ids(hook.ctx, hook.tools, grafana::ENDPOINT)?;
    if rels.is_empty() || !hook.tools.is_leader()? {
        return Ok(());
    }
    let templates = grafana::templates(&hook.project.cos_assets, &topology(hook));
    for rel in &rels {
        let ours = hook
            .tools
            .relation_get(rel, &hook.ctx.app_name, true)?
            .unwrap_or_default();
        if grafana::same_templates(ours.get("dashboards").map(String::as_str), &templates) {
            continue;
        }
        let uuid = random::uuid_v4()?;
        let data: Databag = [(
            "dashboards".to_string(),
            grafana::dashboards_value(templates.clone(), &uuid),
        )]
        .into_iter()
        .collect();
        hook.tools.relation_set(rel, &data, true)?;
    }
    Ok(())
}

/// `logging`: the log-forwarding layer (when the container is reachable) and, with
/// `app_bag`, the leader's metadata and alert rules. Only with Juju 3.4 or newer.
pub fn update_logging(hook: &mut Hook<'_>, app_bag: bool) -> Result<(), HookError> {
    let declared = hook
        .project
        .meta
        .required_endpoint(loki::ENDPOINT, loki::INTERFACE)
        .is_some();
    if !declared || !hook.ctx.juju_at_least_3_4() {
        return Ok(());
    }
    let rels = relation_ids(hook.ctx, hook.tools, loki::ENDPOINT)?;
    let mut active: IndexMap<String, String> = IndexMap::new();
    for rel in &rels {
        let Some(units) = hook.tools.relation_list(rel)? else {
            continue;
        };
        let mut bags = IndexMap::new();
        for unit in units {
            let bag = hook
                .tools
                .relation_get(rel, &unit, false)?
                .unwrap_or_default();
            bags.insert(unit, bag);
        }
        if let Some(found) = loki::active_units(&bags) {
            active.extend(found);
        }
    }
    let t = topology(hook);
    if hook.pebble.can_connect() {
        let plan = hook.pebble.get_plan()?;
        if let Some(layer) = loki::forwarding_layer(&plan, &active, &t)
            && crate::reconcile::layer_changes_plan(&plan, &layer)
        {
            hook.pebble.add_layer(loki::LAYER_LABEL, &layer, true)?;
        }
    }
    if app_bag && !rels.is_empty() && hook.tools.is_leader()? {
        let data = loki::app_data(&hook.project.cos_assets, &t);
        for rel in &rels {
            hook.tools.relation_set(rel, &data, true)?;
        }
    }
    Ok(())
}
