//! Talking to Juju: the hook context from the environment ([`context`]), the hook tools
//! ([`tools`]; the secret types in [`secrets`]) with their answers kept for the hook
//! ([`read_cache`]) and the statuses last written remembered across hooks
//! ([`status_memory`]), the read-only view of relations integrations get
//! ([`relations`]), the charm's own metadata ([`metadata`]). The in-memory Juju that
//! tests and `simulate` use lives in `sim::juju`.

pub mod action_params;
pub mod context;
pub mod metadata;
pub mod read_cache;
pub mod relations;
pub mod secrets;
pub mod status_memory;
pub mod tools;
