//! The snapshot of one hook that the Django rules decide on: configuration, peers,
//! proxies, ingress and every integration's environment. Plain data; `state::gather`
//! fills it.

use indexmap::IndexMap;

use crate::django::config::ConfigState;
use crate::integrations::kind::{IntegrationKind, Order};
use crate::integrations::{Readiness, oauth};
use crate::juju::context::RelationId;

/// What the peer relation says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PeerState {
    /// The relation exists.
    pub related: bool,
    /// The Django secret key: the Juju secret's value, or (until the leader moves it)
    /// the old `django_secret_key` field.
    pub secret_key: Option<String>,
    /// `django_secret_key_id`: the Juju secret holding the key, once there is one.
    pub secret_key_id: Option<String>,
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

/// One declared integration endpoint and what its data gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrationState {
    pub kind: IntegrationKind,
    pub endpoint: String,
    /// Declared without `optional: true`.
    pub required: bool,
    pub relation: Option<RelationId>,
    pub env: Readiness<IndexMap<String, String>>,
}

impl IntegrationState {
    /// The name statuses use: the endpoint for databases, `oauth` for OAuth.
    pub fn status_name(&self) -> &str {
        self.kind.spec().status_name.unwrap_or(&self.endpoint)
    }
}

/// The integrations `order` lists, in that order (databases keep their metadata order).
pub fn in_order(integrations: &[IntegrationState], order: Order) -> Vec<&IntegrationState> {
    let mut listed: Vec<&IntegrationState> = integrations
        .iter()
        .filter(|i| order.rank(i.kind).is_some())
        .collect();
    // A stable sort: equal ranks (the databases) keep their order.
    listed.sort_by_key(|i| order.rank(i.kind));
    listed
}

/// The ingress relation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngressState {
    pub relation: Option<RelationId>,
    pub url: Readiness<String>,
}

impl Default for IngressState {
    fn default() -> Self {
        IngressState {
            relation: None,
            url: Readiness::NotReady,
        }
    }
}

/// Everything one hook knows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CharmState {
    pub app: String,
    pub model: String,
    pub unit: String,
    pub unit_number: u64,
    pub juju_3_4: bool,
    pub config: ConfigState,
    /// The ingress URL, or the Kubernetes service URL.
    pub base_url: String,
    pub peer: PeerState,
    pub proxy: Proxies,
    /// The peer relation's id, when related.
    pub peer_relation: Option<RelationId>,
    pub ingress: IngressState,
    /// Declared integrations, in metadata order.
    pub integrations: Vec<IntegrationState>,
    /// Integration variables, in the spec's order.
    pub integration_env: IndexMap<String, String>,
    /// What is wrong with `paas-config.yaml`, if anything (row 0d).
    pub paas_config_error: Option<String>,
    /// `framework_logging_format: json`.
    pub json_logging: bool,
    /// The http-proxy relation exists but gives nothing usable.
    pub http_proxy_invalid: bool,
    /// The OAuth endpoint, when exactly one is declared.
    pub oauth: Option<OauthState>,
    /// More than one endpoint has interface `oauth`.
    pub oauth_multiple: bool,
}

/// The OAuth endpoint and what its relation gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OauthState {
    pub endpoint: String,
    pub options: oauth::OAuthOptions,
    pub relation: Option<RelationId>,
    pub data: oauth::OAuthData,
}

impl CharmState {
    /// The tracing relation gives an OTLP HTTP endpoint (gunicorn gets the tracing lines).
    pub fn tracing_ready(&self) -> bool {
        self.integrations
            .iter()
            .any(|i| i.kind == IntegrationKind::Tracing && i.env.is_ready())
    }
}
