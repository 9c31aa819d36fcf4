//! Talking to Juju: the hook context from the environment ([`context`]), the hook tools
//! ([`tools`]), the read-only view of relations integrations get ([`relations`]), the
//! charm's own metadata ([`metadata`]) and an in-memory Juju
//! ([`memory`]) that answers hook tools for tests and `simulate`.

pub mod context;
pub mod memory;
pub mod metadata;
pub mod relations;
pub mod tools;
