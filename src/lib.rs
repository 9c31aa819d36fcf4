//! A Juju Kubernetes charm for Django applications.
//!
//! Module map:
//! * [`juju`]: talking to Juju: the hook context (`env` → [`juju::context::Event`]), the
//!   hook tools ([`juju::tools::HookTools`]) and the charm's metadata.
//! * [`pebble`]: talking to the workload container's Pebble ([`pebble::Pebble`]).

pub mod actions;
pub mod charm;
pub mod cos;
pub mod django;
pub mod integrations;
pub mod juju;
pub mod observability;
pub mod pebble;
pub mod pyjson;
pub mod random;
pub mod reconcile;
pub mod simulate;
pub mod state;
