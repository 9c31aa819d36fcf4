//! Which integrations give the workload environment variables, in one table: the
//! endpoint and interface each is declared with, the name statuses use, where it ranks
//! in the environment and in the Blocked messages, what its broken relation calls for,
//! and its [`Integration`] handler: how the state reads it and what its relation events
//! do. And [`Reaction`], what a relation event of an integration calls for.
//!
//! Adding an integration is a module in `integrations/` plus one row of [`SPECS`]: see
//! the checklist in `integrations/mod.rs`.

use indexmap::IndexMap;
use serde_json::{Map, Value};

use crate::integrations::oauth::OAuthData;
use crate::integrations::{
    Readiness, databases, oauth, openfga, rabbitmq, redis, s3, saml, smtp, tracing, valkey,
};
use crate::juju::context::{HookContext, RelationEvent, RelationId};
use crate::juju::metadata::CharmMeta;
use crate::juju::relations::RelationReader;
use crate::juju::tools::{Databag, HookTools, ToolError};
use crate::random::RandomError;

/// An integration that produces environment variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntegrationKind {
    /// `postgresql`, `mysql` or `mongodb` (named by their endpoint).
    Database,
    Openfga,
    Rabbitmq,
    Redis,
    Valkey,
    S3,
    Saml,
    Smtp,
    Tracing,
    /// The one endpoint of interface `oauth`, whatever its name.
    Oauth,
}

/// The endpoint name an integration is declared under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointName {
    Exactly(&'static str),
    /// Any name (OAuth: the interface alone decides).
    Any,
}

/// One row of [`SPECS`].
#[derive(Debug, Clone, Copy)]
pub struct IntegrationSpec {
    pub kind: IntegrationKind,
    pub endpoint: EndpointName,
    pub interface: &'static str,
    /// The name statuses use; `None`: the endpoint's own name (databases).
    pub status_name: Option<&'static str>,
    /// Rank of its variables in the environment (`DJANGO.md` 3.1 step 7).
    pub env_rank: u8,
    /// Rank in `Invalid <name> relation data.` (`INTERFACES.md` 1.1).
    pub invalid_rank: u8,
    /// Rank in `missing integrations: ...` (`INTERFACES.md` 1.2); `None`: never missing.
    pub missing_rank: Option<u8>,
    /// Whether its `-relation-broken` forces migrations (`DJANGO.md` 12, M).
    pub migrations_when_broken: bool,
    /// Its module's reads and relation-event handlers.
    pub handler: &'static dyn Integration,
}

const fn row(
    kind: IntegrationKind,
    endpoint: EndpointName,
    interface: &'static str,
    status_name: Option<&'static str>,
    ranks: (u8, u8, Option<u8>),
    migrations_when_broken: bool,
    handler: &'static dyn Integration,
) -> IntegrationSpec {
    IntegrationSpec {
        kind,
        endpoint,
        interface,
        status_name,
        env_rank: ranks.0,
        invalid_rank: ranks.1,
        missing_rank: ranks.2,
        migrations_when_broken,
        handler,
    }
}

use EndpointName::{Any, Exactly};
use IntegrationKind as K;

/// Every integration, first match wins. Ranks: (environment, invalid, missing); then
/// whether `-relation-broken` forces migrations, and the handler.
#[rustfmt::skip]
pub const SPECS: [IntegrationSpec; 12] = [
    row(K::Database, Exactly("postgresql"), "postgresql_client", None, (5, 0, Some(0)), false, &databases::Databases),
    row(K::Database, Exactly("mysql"), "mysql_client", None, (5, 0, Some(0)), false, &databases::Databases),
    row(K::Database, Exactly("mongodb"), "mongodb_client", None, (5, 0, Some(0)), false, &databases::Databases),
    row(K::Openfga, Exactly("openfga"), "openfga", Some("openfga"), (0, 1, Some(4)), false, &openfga::Openfga),
    row(K::Rabbitmq, Exactly("rabbitmq"), "rabbitmq", Some("rabbitmq"), (1, 2, Some(1)), false, &rabbitmq::Rabbitmq),
    row(K::Redis, Exactly("redis"), "redis", Some("redis"), (2, 3, Some(2)), true, &redis::Redis),
    row(K::Valkey, Exactly("valkey"), "valkey_client", Some("valkey"), (3, 4, None), false, &valkey::Valkey),
    row(K::S3, Exactly("s3"), "s3", Some("s3"), (4, 5, Some(3)), false, &s3::S3),
    row(K::Saml, Exactly("saml"), "saml", Some("saml"), (6, 6, Some(5)), false, &saml::Saml),
    row(K::Smtp, Exactly("smtp"), "smtp", Some("smtp"), (7, 7, Some(7)), false, &smtp::Smtp),
    row(K::Tracing, Exactly("tracing"), "tracing", Some("tracing"), (8, 8, Some(6)), false, &tracing::Tracing),
    row(K::Oauth, Any, "oauth", Some("oauth"), (9, 9, Some(8)), false, &oauth::Oauth),
];

/// The row of a `requires` endpoint, by name and interface.
pub fn spec_of(name: &str, interface: &str) -> Option<&'static IntegrationSpec> {
    SPECS.iter().find(|s| {
        s.interface == interface
            && match s.endpoint {
                Exactly(n) => n == name,
                Any => true,
            }
    })
}

impl IntegrationKind {
    /// The first row of this kind: the databases' rows agree on everything but names.
    pub fn spec(self) -> &'static IntegrationSpec {
        SPECS
            .iter()
            .find(|s| s.kind == self)
            // Every kind has a row: the test below checks it.
            .unwrap_or(&SPECS[0])
    }
}

/// What an integration's read is given besides the reader.
#[derive(Debug, Clone, Copy)]
pub struct ReadInput<'a> {
    /// The endpoint's name (`postgresql`, or the OAuth endpoint's own name).
    pub endpoint: &'a str,
    /// The relation (the endpoint's first one) and its remote application.
    pub rel: &'a RelationId,
    pub remote_app: &'a str,
    /// This application's name.
    pub app: &'a str,
    /// The charm's configuration (`config-get`).
    pub config: &'a Map<String, Value>,
    /// How many relations the endpoint has: counted only for a handler whose
    /// [`Integration::counts_relations`] says so, `None` otherwise.
    pub relation_count: Option<usize>,
}

/// What the state keeps of an integration's read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readout {
    /// Its environment variables, or why there are none.
    pub env: Readiness<IndexMap<String, String>>,
    /// OAuth's provider data, which its own status rules use.
    pub oauth: Option<OAuthData>,
}

impl Readout {
    /// Just the variables.
    pub fn env(env: Readiness<IndexMap<String, String>>) -> Readout {
        Readout { env, oauth: None }
    }
}

/// The hook as an integration's relation-event handlers see it: the hook tools (reads
/// and writes), and the few facts of the charm they need. `charm` provides it.
pub trait EventHost {
    fn tools(&mut self) -> &mut HookTools;
    fn ctx(&self) -> &HookContext;
    fn meta(&self) -> &CharmMeta;
    /// The remote application of the event's relation: the event's, else asked of Juju.
    fn remote_app(&mut self) -> Result<Option<String>, ToolError>;
    /// The application's base URL: the ingress URL when ready, else the service URL.
    fn base_url(&mut self) -> Result<String, ToolError>;
}

/// A failure of an integration's event handler: the hook exits non-zero.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error(transparent)]
    Random(#[from] RandomError),
}

/// One integration's reads and relation events (`DJANGO.md` 12), implemented by a unit
/// struct in its module and reached through its [`SPECS`] row: directly, or through
/// [`ProviderData`] when it has the usual shape. `-relation-broken` is not here: it
/// always reconciles at once (`DJANGO.md` 17.6), with migrations when the row says so.
pub trait Integration: RelationHooks {
    /// Read the relation's data (bags, and the secrets they point to) into its
    /// variables, in the order the protocol reads them.
    fn read(
        &self,
        src: &mut dyn RelationReader,
        input: &ReadInput<'_>,
    ) -> Result<Readout, ToolError>;

    /// Whether [`Integration::read`] needs [`ReadInput::relation_count`].
    fn counts_relations(&self) -> bool {
        false
    }

    /// `-relation-changed`: read what it needs of the provider's data and say what it
    /// calls for.
    fn on_changed(
        &self,
        host: &mut dyn EventHost,
        event: &RelationEvent,
    ) -> Result<Reaction, EventError>;
}

/// An integration's relation events besides `-changed`: each does nothing unless its
/// module says otherwise.
pub trait RelationHooks: Sync + std::fmt::Debug {
    /// `-relation-created`: the leader's requests that need nothing from the provider.
    fn on_created(
        &self,
        _host: &mut dyn EventHost,
        _event: &RelationEvent,
    ) -> Result<(), EventError> {
        Ok(())
    }

    /// `-relation-joined`: what it calls for, done before [`RelationHooks::joined_writes`].
    fn on_joined(&self, _event: &RelationEvent) -> Reaction {
        Reaction::Nothing
    }

    /// `-relation-joined`: the writes that follow the joined reaction.
    fn joined_writes(
        &self,
        _host: &mut dyn EventHost,
        _event: &RelationEvent,
    ) -> Result<(), EventError> {
        Ok(())
    }

    /// `-relation-departed`: nothing, unless a leaving unit changes the data.
    fn on_departed(
        &self,
        _host: &mut dyn EventHost,
        _event: &RelationEvent,
    ) -> Result<Reaction, EventError> {
        Ok(Reaction::Nothing)
    }
}

/// The environment variables an integration gives, or why there are none.
pub type Env = Readiness<IndexMap<String, String>>;

/// The usual shape of an integration: its variables come from the provider's data
/// alone, read into a typed value by the module's `read`. A module with this shape
/// states its three functions here and gets [`Integration`] from the blanket impl
/// below; its other events are its [`RelationHooks`].
pub trait ProviderData: RelationHooks {
    /// What the module's `read` gives.
    type Data;
    /// Read the provider's data on a relation, given the remote application.
    const READ: ReadFn<Self::Data>;
    /// Its variables (the [`ReadInput`] for those that need the application's name).
    const ENV: EnvFn<Self::Data>;
    /// What `-relation-changed` decides on.
    const ON_CHANGED: OnChanged<Self::Data>;
}

/// A module's `read` of a [`ProviderData`] integration: relation, remote application.
pub type ReadFn<D> = fn(&mut dyn RelationReader, &RelationId, &str) -> Result<D, ToolError>;

/// A module's `env` of a [`ProviderData`] integration.
pub type EnvFn<D> = fn(&D, &ReadInput<'_>) -> Env;

/// What the `-relation-changed` of a [`ProviderData`] integration decides on.
pub enum OnChanged<D> {
    /// The provider's data, read again with [`ProviderData::READ`].
    Data(fn(&D) -> Reaction),
    /// The provider's application bag alone ([`remote_app_bag`]).
    Bag(fn(&Databag) -> Reaction),
    /// The event alone: nothing is read.
    Event(fn(&RelationEvent) -> Reaction),
}

impl<T: ProviderData> Integration for T {
    fn read(
        &self,
        src: &mut dyn RelationReader,
        input: &ReadInput<'_>,
    ) -> Result<Readout, ToolError> {
        let data = T::READ(src, input.rel, input.remote_app)?;
        Ok(Readout::env(T::ENV(&data, input)))
    }

    /// Nothing when the remote application is not known (unless decided on the event).
    fn on_changed(
        &self,
        host: &mut dyn EventHost,
        event: &RelationEvent,
    ) -> Result<Reaction, EventError> {
        Ok(match T::ON_CHANGED {
            OnChanged::Data(decide) => match host.remote_app()? {
                Some(remote) => decide(&T::READ(&mut host.tools(), &event.relation, &remote)?),
                None => Reaction::Nothing,
            },
            OnChanged::Bag(decide) => match remote_app_bag(host, event)? {
                Some(bag) => decide(&bag),
                None => Reaction::Nothing,
            },
            OnChanged::Event(decide) => decide(event),
        })
    }
}

/// The remote application's bag on the event's relation (empty when gone); `None` when
/// the remote application is not known.
pub fn remote_app_bag(
    host: &mut dyn EventHost,
    event: &RelationEvent,
) -> Result<Option<Databag>, ToolError> {
    let Some(remote) = host.remote_app()? else {
        return Ok(None);
    };
    Ok(Some(
        host.tools()
            .app_bag(&event.relation, &remote)?
            .unwrap_or_default(),
    ))
}

/// For a `-relation-changed` that keeps a snapshot of the provider's data in our unit
/// bag: that bag, then the remote application's (each empty when gone), read in that
/// order; `None` when the remote application is not known.
pub fn our_unit_and_remote_app_bags(
    host: &mut dyn EventHost,
    event: &RelationEvent,
) -> Result<Option<(Databag, Databag)>, ToolError> {
    let Some(remote) = host.remote_app()? else {
        return Ok(None);
    };
    let rel = &event.relation;
    let unit = host.ctx().unit_name.clone();
    let tools = host.tools();
    let ours = tools.unit_bag(rel, &unit)?.unwrap_or_default();
    let theirs = tools.app_bag(rel, &remote)?.unwrap_or_default();
    Ok(Some((ours, theirs)))
}

/// The leader writes `bag` as our application bag on the event's relation.
pub fn leader_writes(
    host: &mut dyn EventHost,
    event: &RelationEvent,
    bag: impl FnOnce() -> Result<Databag, EventError>,
) -> Result<(), EventError> {
    if host.tools().is_leader()? {
        let bag = bag()?;
        host.tools().relation_set(&event.relation, &bag, true)?;
    }
    Ok(())
}

/// The orders the status and environment rules list integrations in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Env,
    Invalid,
    Missing,
}

impl Order {
    /// Where `kind` ranks; `None`: it is not listed.
    pub fn rank(self, kind: IntegrationKind) -> Option<u8> {
        let spec = kind.spec();
        match self {
            Order::Env => Some(spec.env_rank),
            Order::Invalid => Some(spec.invalid_rank),
            Order::Missing => spec.missing_rank,
        }
    }
}

/// What a relation event of an integration calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaction {
    Nothing,
    /// The full reconcile; with `migrations`, forced to run the migrations again.
    Reconcile {
        migrations: bool,
    },
    /// Only gather the state and check it (invalid data: Blocked).
    CheckState,
}

impl Reaction {
    /// A reconcile when `trigger`, else nothing.
    pub fn reconcile_if(trigger: bool, migrations: bool) -> Reaction {
        if trigger {
            Reaction::Reconcile { migrations }
        } else {
            Reaction::Nothing
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KINDS: [IntegrationKind; 10] = [
        K::Database,
        K::Openfga,
        K::Rabbitmq,
        K::Redis,
        K::Valkey,
        K::S3,
        K::Saml,
        K::Smtp,
        K::Tracing,
        K::Oauth,
    ];

    fn sorted(order: Order) -> Vec<IntegrationKind> {
        let mut kinds: Vec<IntegrationKind> = KINDS
            .into_iter()
            .filter(|k| order.rank(*k).is_some())
            .collect();
        kinds.sort_by_key(|k| order.rank(*k));
        kinds
    }

    #[test]
    fn every_kind_has_a_row_and_its_rows_agree() {
        for kind in KINDS {
            let rows: Vec<_> = SPECS.iter().filter(|s| s.kind == kind).collect();
            assert!(!rows.is_empty(), "{kind:?}");
            for r in rows {
                let first = kind.spec();
                assert_eq!(
                    (r.env_rank, r.invalid_rank, r.missing_rank, r.status_name),
                    (
                        first.env_rank,
                        first.invalid_rank,
                        first.missing_rank,
                        first.status_name
                    )
                );
            }
        }
    }

    #[test]
    fn the_orders_of_the_spec() {
        assert_eq!(
            sorted(Order::Env),
            [
                K::Openfga,
                K::Rabbitmq,
                K::Redis,
                K::Valkey,
                K::S3,
                K::Database,
                K::Saml,
                K::Smtp,
                K::Tracing,
                K::Oauth
            ]
        );
        assert_eq!(
            sorted(Order::Invalid),
            [
                K::Database,
                K::Openfga,
                K::Rabbitmq,
                K::Redis,
                K::Valkey,
                K::S3,
                K::Saml,
                K::Smtp,
                K::Tracing,
                K::Oauth
            ]
        );
        assert_eq!(
            sorted(Order::Missing),
            [
                K::Database,
                K::Rabbitmq,
                K::Redis,
                K::S3,
                K::Openfga,
                K::Saml,
                K::Tracing,
                K::Smtp,
                K::Oauth
            ]
        );
    }

    #[test]
    fn endpoints_are_matched_by_name_and_interface() {
        let kind = |n, i| spec_of(n, i).map(|s| s.kind);
        assert_eq!(kind("postgresql", "postgresql_client"), Some(K::Database));
        assert_eq!(kind("mongodb", "mongodb_client"), Some(K::Database));
        assert_eq!(kind("postgresql", "mysql_client"), None);
        assert_eq!(kind("valkey", "valkey_client"), Some(K::Valkey));
        assert_eq!(kind("valkey", "valkey"), None);
        assert_eq!(kind("my-login", "oauth"), Some(K::Oauth));
        assert_eq!(kind("cache", "redis"), None);
    }
}
