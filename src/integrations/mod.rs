//! One module per relation: parse the databags (and the Juju secrets they point to)
//! into a typed value, turn it into environment variables, and say what the charm must
//! write back. Shared URL rules are in [`url`]; which integrations exist, how they are
//! ranked and what their events call for is in [`kind`].
//!
//! Adding an integration `foo` that gives environment variables:
//! 1. The file `integrations/foo.rs` (declared with `pub mod foo;` below):
//!    `read(src: &mut impl RelationReader, rel, remote_app) -> FooData` (its bags and
//!    the secrets they point to), `env(&FooData) -> Readiness<IndexMap<..>>` (ready,
//!    missing or invalid, `INTERFACES.md` 1.1), the requests it writes, if any, and a
//!    unit struct `Foo` that is its handler. When its variables come from the
//!    provider's data alone, `Foo` implements [`kind::ProviderData`]: its `read`, its
//!    `env` and what `-relation-changed` decides on (that data read again, the
//!    provider's bag, or the event), and [`kind::Integration`] follows; otherwise it
//!    implements [`kind::Integration`] itself: `read` (what the state gathers) and
//!    `on_changed` (what `-relation-changed` calls for). Either way it implements
//!    [`kind::RelationHooks`], empty or with, where the protocol has them, the
//!    `-created` and `-joined` writes and a `-departed` reaction; unit tests beside
//!    them, reading from `testing::FakeReader`.
//! 2. In `kind.rs`: a variant of [`kind::IntegrationKind`] (and in its tests' list of
//!    kinds) and one row of [`kind::SPECS`]: endpoint, interface, status name, its ranks
//!    in the environment, invalid and missing orders, whether its `-broken` forces
//!    migrations, and `&foo::Foo`, its handler. Nothing outside `foo.rs` and `kind.rs`
//!    changes: the state's read and every relation event reach the module through its
//!    row.
//! 3. A scenario test in `tests/it/integrations/foo.rs`: its worked example end to end.

pub mod databases;
pub mod http_proxy;
pub mod ingress;
pub mod kind;
pub mod oauth;
pub mod openfga;
pub mod rabbitmq;
pub mod redis;
pub mod s3;
pub mod saml;
pub mod smtp;
pub mod tracing;
pub mod url;
pub mod valkey;

use crate::juju::tools::SecretContent;

/// Helpers the modules' unit tests share: a plain-data [`RelationReader`] that records
/// what was read, so the tests need no simulated Juju.
///
/// [`RelationReader`]: crate::juju::relations::RelationReader
#[cfg(test)]
pub(crate) mod testing {
    use std::collections::{BTreeMap, HashMap};

    use crate::juju::context::RelationId;
    use crate::juju::relations::RelationReader;
    use crate::juju::tools::{Databag, SecretContent, SecretRead, ToolError};

    pub use crate::sim::juju::bag;

    /// Pairs as owned strings, to compare with an environment in order.
    pub fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// One read, as [`FakeReader`] records it; relations as Juju writes them (`db:7`).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum ReadCall {
        AppBag {
            rel: String,
            app: String,
        },
        UnitBag {
            rel: String,
            unit: String,
        },
        Units {
            rel: String,
        },
        Secret {
            id: String,
            label: Option<String>,
            read: SecretRead,
        },
    }

    impl ReadCall {
        pub fn app_bag(rel: &str, app: &str) -> ReadCall {
            ReadCall::AppBag {
                rel: rel.into(),
                app: app.into(),
            }
        }
        pub fn unit_bag(rel: &str, unit: &str) -> ReadCall {
            ReadCall::UnitBag {
                rel: rel.into(),
                unit: unit.into(),
            }
        }
        pub fn units(rel: &str) -> ReadCall {
            ReadCall::Units { rel: rel.into() }
        }
        pub fn secret(id: &str, label: Option<&str>, read: SecretRead) -> ReadCall {
            ReadCall::Secret {
                id: id.into(),
                label: label.map(String::from),
                read,
            }
        }
    }

    /// One relation of a [`FakeReader`].
    #[derive(Debug, Clone, Default)]
    struct FakeRelation {
        /// The remote units, in the order `units` lists them.
        units: Vec<String>,
        app_bags: HashMap<String, Databag>,
        unit_bags: HashMap<String, Databag>,
    }

    /// Relation data and secrets as plain data. A relation it does not know is gone
    /// (`None`); in one it knows, a bag never set is empty. A secret it does not hold
    /// does not exist or is not granted (`None`); one it holds is read as it is,
    /// whatever the [`SecretRead`] (which the recorded call keeps).
    #[derive(Debug, Clone, Default)]
    pub struct FakeReader {
        relations: BTreeMap<RelationId, FakeRelation>,
        secrets: HashMap<String, SecretContent>,
        /// Every read so far, in order.
        pub calls: Vec<ReadCall>,
    }

    impl FakeReader {
        pub fn new() -> FakeReader {
            FakeReader::default()
        }

        /// The bag of application `app` on `rel`.
        pub fn app_bag(mut self, rel: &RelationId, app: &str, bag: Databag) -> FakeReader {
            let relation = self.relations.entry(rel.clone()).or_default();
            relation.app_bags.insert(app.to_string(), bag);
            self
        }

        /// A remote unit of `rel` (listed after those before it) and its bag.
        pub fn unit(mut self, rel: &RelationId, unit: &str, bag: Databag) -> FakeReader {
            let relation = self.relations.entry(rel.clone()).or_default();
            relation.units.push(unit.to_string());
            relation.unit_bags.insert(unit.to_string(), bag);
            self
        }

        /// The content of secret `id`.
        pub fn secret(mut self, id: &str, content: SecretContent) -> FakeReader {
            self.secrets.insert(id.to_string(), content);
            self
        }
    }

    impl RelationReader for FakeReader {
        fn app_bag(&mut self, rel: &RelationId, app: &str) -> Result<Option<Databag>, ToolError> {
            self.calls.push(ReadCall::app_bag(&rel.to_string(), app));
            Ok(self
                .relations
                .get(rel)
                .map(|r| r.app_bags.get(app).cloned().unwrap_or_default()))
        }

        fn unit_bag(&mut self, rel: &RelationId, unit: &str) -> Result<Option<Databag>, ToolError> {
            self.calls.push(ReadCall::unit_bag(&rel.to_string(), unit));
            Ok(self
                .relations
                .get(rel)
                .map(|r| r.unit_bags.get(unit).cloned().unwrap_or_default()))
        }

        fn units(&mut self, rel: &RelationId) -> Result<Option<Vec<String>>, ToolError> {
            self.calls.push(ReadCall::units(&rel.to_string()));
            Ok(self.relations.get(rel).map(|r| r.units.clone()))
        }

        fn secret(
            &mut self,
            id: &str,
            label: Option<&str>,
            read: SecretRead,
        ) -> Result<Option<SecretContent>, ToolError> {
            self.calls.push(ReadCall::secret(id, label, read));
            Ok(self.secrets.get(id).cloned())
        }
    }
}

/// Where an integration stands (`INTERFACES.md` 1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness<T> {
    /// No relation, or incomplete data.
    NotReady,
    /// Usable data.
    Ready(T),
    /// Malformed data: Blocked `Invalid <name> relation data.`.
    Invalid,
}

impl<T> Readiness<T> {
    pub fn is_ready(&self) -> bool {
        matches!(self, Readiness::Ready(_))
    }
    pub fn is_invalid(&self) -> bool {
        matches!(self, Readiness::Invalid)
    }
}

/// The result of reading a Juju secret that relation data points to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SecretLookup {
    /// The data points to no secret.
    #[default]
    Absent,
    Found(SecretContent),
    /// The secret does not exist or is not granted: the integration is invalid.
    Unreadable,
}
