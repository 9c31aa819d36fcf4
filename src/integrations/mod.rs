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
//!    unit struct `Foo` implementing [`kind::Integration`]: `read` (what the state
//!    gathers), `on_changed` (what `-relation-changed` calls for) and, where the
//!    protocol has them, the `-created` and `-joined` writes and a `-departed`
//!    reaction; unit tests beside them.
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

/// Helpers the modules' unit tests share.
#[cfg(test)]
pub(crate) mod testing {
    use crate::juju::tools::HookTools;
    use crate::sim::juju::MemoryJuju;

    pub use crate::sim::juju::bag;

    /// Pairs as owned strings, to compare with an environment in order.
    pub fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The hook tool calls made so far, as `tool arg arg ...`.
    pub fn calls(tools: &HookTools<MemoryJuju>) -> Vec<String> {
        tools
            .runner()
            .state
            .calls
            .iter()
            .map(|c| format!("{} {}", c.tool, c.args.join(" ")))
            .collect()
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
