//! The snapshot of one hook: everything the decisions need, gathered once.
//!
//! [`gather`] makes every read the charm needs from Juju (one `config-get`, one read per
//! relation and secret); the decide step (`django::*`) is pure over [`CharmState`].
//! Hook tool failures that are not documented "not found" answers are returned as
//! errors so the hook can exit 1 and Juju retries it.

use indexmap::IndexMap;

use crate::django::config::{ConfigState, read_config};
use crate::juju::context::{Event, HookContext, RelationId, RelationKind};
use crate::juju::metadata::CharmMeta;
use crate::juju::tools::{HookTools, SecretRead, ToolError, ToolRunner};

/// The peer relation `secret-storage`.
pub const PEER_ENDPOINT: &str = "secret-storage";
/// The peer app databag key holding the Django secret key.
pub const SECRET_KEY_FIELD: &str = "django_secret_key";

/// What the peer relation says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PeerState {
    /// The relation exists.
    pub related: bool,
    /// `django_secret_key`, when non-empty.
    pub secret_key: Option<String>,
    /// The other units of the application.
    pub other_units: Vec<String>,
}

/// Proxy settings for the workload.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Proxies {
    pub http: Option<String>,
    pub https: Option<String>,
    pub no_proxy: Option<String>,
}

/// Everything one hook knows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CharmState {
    pub app: String,
    pub model: String,
    pub unit: String,
    pub unit_number: u64,
    pub leader: bool,
    pub config: ConfigState,
    /// The ingress URL, or the Kubernetes service URL.
    pub base_url: String,
    pub peer: PeerState,
    pub proxy: Proxies,
    /// The peer relation's id, when related.
    pub peer_relation: Option<RelationId>,
    /// Integration variables, in the spec's order.
    pub integration_env: IndexMap<String, String>,
}

/// The relation a `-relation-broken` hook is about: it must count as gone.
pub fn broken_relation(ctx: &HookContext) -> Option<&RelationId> {
    match &ctx.event {
        Event::Relation(r) if r.kind == RelationKind::Broken => Some(&r.relation),
        _ => None,
    }
}

/// The relations of `endpoint`, without the one being broken.
pub fn relation_ids<R: ToolRunner>(
    ctx: &HookContext,
    tools: &mut HookTools<R>,
    endpoint: &str,
) -> Result<Vec<RelationId>, ToolError> {
    let broken = broken_relation(ctx);
    Ok(tools
        .relation_ids(endpoint)?
        .into_iter()
        .filter(|r| Some(r) != broken)
        .collect())
}

fn gather_peer<R: ToolRunner>(
    ctx: &HookContext,
    tools: &mut HookTools<R>,
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
    let secret_key = bag.get(SECRET_KEY_FIELD).filter(|k| !k.is_empty()).cloned();
    Ok((
        Some(rel),
        PeerState {
            related: true,
            secret_key,
            other_units: other_units
                .into_iter()
                .filter(|u| u != &ctx.unit_name)
                .collect(),
        },
    ))
}

/// Gather the state of this hook.
pub fn gather<R: ToolRunner>(
    ctx: &HookContext,
    meta: &CharmMeta,
    tools: &mut HookTools<R>,
) -> Result<CharmState, ToolError> {
    let values = tools.config_get()?;
    let config = read_config(&values, meta, &mut |uri: &str| {
        tools.secret_get(Some(uri), None, SecretRead::Refresh)
    })?;
    let leader = tools.is_leader()?;
    let (peer_relation, peer) = gather_peer(ctx, tools)?;
    Ok(CharmState {
        app: ctx.app_name.clone(),
        model: ctx.model_name.clone(),
        unit: ctx.unit_name.clone(),
        unit_number: ctx.unit_number,
        leader,
        config,
        base_url: format!("http://{}.{}:8000", ctx.app_name, ctx.model_name),
        peer,
        proxy: Proxies {
            http: ctx.http_proxy.clone(),
            https: ctx.https_proxy.clone(),
            no_proxy: ctx.no_proxy.clone(),
        },
        peer_relation,
        integration_env: IndexMap::new(),
    })
}
