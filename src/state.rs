//! Gathering the snapshot of one hook: everything the decisions need, read once.
//!
//! [`gather`] makes every read the charm needs from Juju (one `config-get`, one read per
//! relation and secret, `goal-state`) into a [`CharmState`] (its types live beside the
//! rules that decide on it, in `django::state`); the decide step (`django::*`) is pure
//! over it. Hook tool failures that are not documented "not found" answers are returned
//! as errors so the hook can exit 1 and Juju retries it.

use indexmap::IndexMap;

use crate::django::config::{Secrets, key_secret_uri, read_config, user_secret_uris};
use crate::django::paas_config::LoggingFormat;
use crate::integrations::kind::{IntegrationKind, Order, ReadInput, Readout, spec_of};
use crate::integrations::{Readiness, http_proxy, ingress, oauth};
use crate::juju::context::{Event, HookContext, RelationId, RelationKind};
use crate::juju::metadata::CharmMeta;
use crate::juju::tools::{HookTools, SecretRead, ToolError};
use crate::project::Project;
use crate::secret_key::{self, Stored};

pub use crate::django::state::{
    CharmState, IngressState, IntegrationState, OauthState, PeerState, Proxies, in_order,
};

/// The peer relation `secret-storage`.
pub const PEER_ENDPOINT: &str = "secret-storage";

/// The relation a `-relation-broken` hook is about: it must count as gone.
pub fn broken_relation(ctx: &HookContext) -> Option<&RelationId> {
    match &ctx.event {
        Event::Relation(r) if r.kind == RelationKind::Broken => Some(&r.relation),
        _ => None,
    }
}

/// The relations of `endpoint`, without the one being broken.
pub fn relation_ids(
    ctx: &HookContext,
    tools: &mut HookTools,
    endpoint: &str,
) -> Result<Vec<RelationId>, ToolError> {
    let broken = broken_relation(ctx);
    Ok(tools
        .relation_ids(endpoint)?
        .into_iter()
        .filter(|r| Some(r) != broken)
        .collect())
}

/// "The relation" of a `limit: 1` endpoint: the first one whose remote app is known.
pub fn the_relation(
    ctx: &HookContext,
    tools: &mut HookTools,
    endpoint: &str,
) -> Result<Option<(RelationId, String)>, ToolError> {
    for rel in relation_ids(ctx, tools, endpoint)? {
        // The event's own relation: Juju already told us the remote app.
        let known = match &ctx.event {
            Event::Relation(r) if r.relation == rel => r.remote_app.clone(),
            _ => None,
        };
        let app = match known {
            Some(app) => Some(app),
            None => tools.relation_remote_app(&rel)?,
        };
        if let Some(app) = app {
            return Ok(Some((rel, app)));
        }
    }
    Ok(None)
}

/// Whether gathering may move the Django secret key into its Juju secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyMigration {
    /// On the leader, when the peer bag has no secret ID (`secret_key::migrate`).
    Run,
    /// Leave the bag as it is (`rotate-secret-key` writes the new key itself).
    Skip,
}

fn gather_peer(
    ctx: &HookContext,
    tools: &mut HookTools,
    migration: KeyMigration,
) -> Result<(Option<RelationId>, PeerState), ToolError> {
    let Some(rel) = relation_ids(ctx, tools, PEER_ENDPOINT)?.into_iter().next() else {
        return Ok((None, PeerState::default()));
    };
    let bag = tools.relation_get(&rel, &ctx.app_name, true)?;
    let other_units = tools.relation_list(&rel)?;
    let (Some(bag), Some(other_units)) = (bag, other_units) else {
        // The relation went away while we looked.
        return Ok((None, PeerState::default()));
    };
    let mut stored = Stored::of(&bag);
    let mut known = None;
    // Leadership matters only while the bag has no secret ID.
    if migration == KeyMigration::Run
        && !matches!(stored, Stored::Secret(_))
        && tools.is_leader()?
        && let Some(migrated) = secret_key::migrate(tools, &rel, &bag)?
    {
        stored = Stored::Secret(migrated.id);
        known = migrated.key;
    }
    let secret_key = match known {
        Some(key) => Some(key),
        None => secret_key::read(tools, &stored)?,
    };
    Ok((
        Some(rel),
        PeerState {
            related: true,
            secret_key,
            secret_key_id: match stored {
                Stored::Secret(id) => Some(id),
                _ => None,
            },
            other_units: other_units
                .into_iter()
                .filter(|u| u != &ctx.unit_name)
                .collect(),
        },
    ))
}

fn gather_ingress(
    ctx: &HookContext,
    meta: &CharmMeta,
    tools: &mut HookTools,
) -> Result<IngressState, ToolError> {
    if meta
        .required_endpoint(ingress::ENDPOINT, ingress::INTERFACE)
        .is_none()
    {
        return Ok(IngressState::default());
    }
    let Some((rel, remote_app)) = the_relation(ctx, tools, ingress::ENDPOINT)? else {
        return Ok(IngressState::default());
    };
    let bag = tools.relation_get(&rel, &remote_app, true)?;
    Ok(IngressState {
        url: ingress::provider_url(bag.as_ref()),
        relation: Some(rel),
    })
}

/// The ingress URL when ready, else the Kubernetes service URL (`DJANGO.md` 5).
fn base_url_from(ctx: &HookContext, ingress: &IngressState) -> String {
    match &ingress.url {
        Readiness::Ready(url) => url.clone(),
        _ => format!("http://{}.{}:8000", ctx.app_name, ctx.model_name),
    }
}

/// The base URL, reading only the ingress relation.
pub fn base_url(
    ctx: &HookContext,
    meta: &CharmMeta,
    tools: &mut HookTools,
) -> Result<String, ToolError> {
    Ok(base_url_from(ctx, &gather_ingress(ctx, meta, tools)?))
}

fn gather_integrations(
    ctx: &HookContext,
    meta: &CharmMeta,
    tools: &mut HookTools,
    config_values: &serde_json::Map<String, serde_json::Value>,
) -> Result<(Vec<IntegrationState>, Option<OauthState>), ToolError> {
    let mut out = Vec::new();
    let mut oauth_state = None;
    let oauth_choice = oauth::choose_endpoint(
        meta.requires
            .iter()
            .map(|(n, e)| (n.as_str(), e.interface.as_str())),
    );
    for (name, spec) in &meta.requires {
        let Some(row) = spec_of(name, &spec.interface) else {
            continue;
        };
        let kind = row.kind;
        if kind == IntegrationKind::Oauth && oauth_choice != oauth::EndpointChoice::One(name) {
            // Several OAuth endpoints: none is active (Blocked, DJANGO.md 11 row 6).
            continue;
        }
        let related = the_relation(ctx, tools, name)?;
        let readout = match &related {
            None => Readout::env(Readiness::NotReady),
            Some((rel, remote_app)) => {
                let relation_count = if row.handler.counts_relations() {
                    Some(relation_ids(ctx, tools, name)?.len())
                } else {
                    None
                };
                let input = ReadInput {
                    endpoint: name,
                    rel,
                    remote_app,
                    app: &ctx.app_name,
                    config: config_values,
                    relation_count,
                };
                let mut src = &mut *tools;
                row.handler.read(&mut src, &input)?
            }
        };
        if kind == IntegrationKind::Oauth {
            oauth_state = Some(OauthState {
                endpoint: name.clone(),
                options: oauth::OAuthOptions::from_config(name, config_values),
                relation: related.as_ref().map(|(rel, _)| rel.clone()),
                data: readout.oauth.unwrap_or_default(),
            });
        }
        out.push(IntegrationState {
            kind,
            endpoint: name.clone(),
            required: spec.is_required(),
            relation: related.map(|(rel, _)| rel),
            env: readout.env,
        });
    }
    Ok((out, oauth_state))
}

fn gather_http_proxy(
    ctx: &HookContext,
    meta: &CharmMeta,
    tools: &mut HookTools,
) -> Result<Readiness<http_proxy::ProxyUrls>, ToolError> {
    if meta
        .required_endpoint(http_proxy::ENDPOINT, http_proxy::INTERFACE)
        .is_none()
    {
        return Ok(Readiness::NotReady);
    }
    let Some((rel, remote_app)) = the_relation(ctx, tools, http_proxy::ENDPOINT)? else {
        return Ok(Readiness::NotReady);
    };
    let leader = tools.is_leader()?;
    let data = http_proxy::read(tools, &rel, &remote_app, &ctx.app_name, leader)?;
    Ok(http_proxy::proxies(&data))
}

/// The scheduler unit: the lowest number among the non-dying units of `goal-state`,
/// this unit included; when `goal-state` fails, among this unit and the units of the
/// peer relation (`DJANGO.md` 6.3). Read only when something runs on it (a
/// `-scheduler` service, an `@scheduler` scrape target), so most hooks skip the call.
pub fn scheduler_unit(ctx: &HookContext, tools: &mut HookTools) -> Result<u64, ToolError> {
    let number = |unit: &str| {
        unit.rsplit_once('/')
            .and_then(|(app, n)| (app == ctx.app_name).then(|| n.parse::<u64>().ok())?)
    };
    let candidates: Vec<u64> = match tools.goal_state_units() {
        Ok(units) => units
            .iter()
            .filter(|u| u.status != "dying")
            .filter_map(|u| number(&u.name))
            .collect(),
        Err(_) => {
            let mut peers = Vec::new();
            if let Some(rel) = relation_ids(ctx, tools, PEER_ENDPOINT)?.into_iter().next() {
                peers = tools.relation_list(&rel)?.unwrap_or_default();
            }
            peers.iter().filter_map(|u| number(u)).collect()
        }
    };
    Ok(candidates
        .into_iter()
        .chain(std::iter::once(ctx.unit_number))
        .min()
        .unwrap_or(ctx.unit_number))
}

/// The secrets the configuration's `type: secret` options point to, each read with
/// `secret-get --refresh`: the Django key's first, then the user options' in option
/// order (none when the framework options are invalid).
fn config_secrets(
    tools: &mut HookTools,
    values: &serde_json::Map<String, serde_json::Value>,
    meta: &CharmMeta,
) -> Result<Secrets, ToolError> {
    let mut secrets = Secrets::new();
    if let Some(uri) = key_secret_uri(values) {
        let content = tools.secret_get(Some(uri), None, SecretRead::Refresh)?;
        secrets.insert(uri.to_string(), content);
    }
    for uri in user_secret_uris(values, meta, &secrets) {
        let content = tools.secret_get(Some(&uri), None, SecretRead::Refresh)?;
        secrets.insert(uri, content);
    }
    Ok(secrets)
}

/// Gather the state of this hook.
pub fn gather(
    ctx: &HookContext,
    project: &Project,
    tools: &mut HookTools,
) -> Result<CharmState, ToolError> {
    gather_with(ctx, project, tools, KeyMigration::Run)
}

/// [`gather`], saying whether the secret key may be migrated.
pub fn gather_with(
    ctx: &HookContext,
    project: &Project,
    tools: &mut HookTools,
    migration: KeyMigration,
) -> Result<CharmState, ToolError> {
    let meta = &project.meta;
    let values = tools.config_get()?;
    let secrets = config_secrets(tools, &values, meta)?;
    let config = read_config(&values, meta, &secrets);
    let (peer_relation, peer) = gather_peer(ctx, tools, migration)?;
    let ingress = gather_ingress(ctx, meta, tools)?;
    let (integrations, oauth) = gather_integrations(ctx, meta, tools, &values)?;
    let oauth_multiple = matches!(
        oauth::choose_endpoint(
            meta.requires
                .iter()
                .map(|(n, e)| (n.as_str(), e.interface.as_str()))
        ),
        oauth::EndpointChoice::Several
    );
    let http_proxy = gather_http_proxy(ctx, meta, tools)?;
    let (http, https) =
        http_proxy::effective_proxies(&http_proxy, ctx.http_proxy.clone(), ctx.https_proxy.clone());
    let base_url = base_url_from(ctx, &ingress);
    let mut integration_env = IndexMap::new();
    for integration in in_order(&integrations, Order::Env) {
        if let Readiness::Ready(env) = &integration.env {
            integration_env.extend(env.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    }
    Ok(CharmState {
        app: ctx.app_name.clone(),
        model: ctx.model_name.clone(),
        unit: ctx.unit_name.clone(),
        unit_number: ctx.unit_number,
        juju_3_4: ctx.juju_at_least_3_4(),
        config,
        base_url,
        peer,
        proxy: Proxies {
            http,
            https,
            no_proxy: ctx.no_proxy.clone(),
        },
        http_proxy_invalid: http_proxy.is_invalid(),
        oauth,
        oauth_multiple,
        peer_relation,
        ingress,
        integrations,
        integration_env,
        paas_config_error: project
            .paas_config
            .as_ref()
            .err()
            .map(|e| e.status_message()),
        json_logging: project
            .paas_config
            .as_ref()
            .is_ok_and(|c| c.logging_format == LoggingFormat::Json),
    })
}
