//! One module per relation: parse the databags (and the Juju secrets they point to)
//! into a typed value, turn it into environment variables, and say what the charm must
//! write back. Shared URL rules are in [`url`]; which integrations exist, how they are
//! ranked and what their events call for is in [`kind`].
//!
//! Adding an integration `foo` that gives environment variables:
//! 1. `integrations/foo.rs`: `read(tools, rel, remote_app) -> FooData` (its bags and the
//!    secrets they point to), `env(&FooData) -> Readiness<IndexMap<..>>` (ready,
//!    missing or invalid, `INTERFACES.md` 1.1), `on_changed(&FooData) -> Reaction`, and
//!    the requests it writes, if any; unit tests beside them.
//! 2. A variant of [`kind::IntegrationKind`] and one row of [`kind::SPECS`]: endpoint,
//!    interface, status name, its ranks in the environment, invalid and missing orders,
//!    whether its `-broken` forces migrations.
//! 3. The match arms that call the module: the read in `state::gather_integrations`,
//!    `on_changed` in `charm::integration_changed`, and a `-created`/`-joined` write in
//!    `charm::integration_created`/`integration_joined` if the protocol has one. The
//!    compiler lists every match that misses the new kind.
//! 4. A scenario in the integration tests: its worked example end to end.

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
