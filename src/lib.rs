//! A Juju Kubernetes charm for Django applications.
//!
//! One hook reads as: event (env) → gather one [`state::CharmState`] → decide with pure
//! functions → apply the difference → status.
//!
//! Module map:
//! * [`juju`]: talking to Juju: the hook context (`env` → [`juju::context::Event`]), the
//!   hook tools ([`juju::tools::HookTools`] over a small `ToolRunner`, each read asked
//!   once per hook, each status written only when it changes), the read-only relation
//!   view integrations get, the charm's metadata.
//! * [`project`]: the charm's own files, loaded once: metadata, `paas-config.yaml`, COS
//!   assets.
//! * [`pebble`]: talking to the workload container's Pebble ([`pebble::Pebble`]): the
//!   HTTP client, layers and their combine rules.
//! * [`state`]: gathering the snapshot of one hook.
//! * [`django`]: the framework rules as pure functions: configuration, environment,
//!   layer, `gunicorn.conf.py`, migrations, statuses, `paas-config.yaml`.
//! * [`integrations`]: one module per relation (parse → env → what we write).
//! * [`cos`]: the observability assets and relation data (pure).
//! * [`reconcile`]: the apply shell; [`health`]: the application's health between
//!   reconciles; [`observability`]: publishing the COS data.
//! * [`hook`]: what every hook works with ([`hook::Hook`], [`hook::HookError`], logging,
//!   the status write): a leaf any module may import.
//! * [`charm`]: event routing and the error policy; [`actions`]: the actions, as a table.
//! * [`sim`]: the simulated world: an in-memory Juju and Pebble, and `simulate`, one
//!   event against them. Depends on the rest; nothing product-side depends on it.
//! * [`secret_key`]: the Django secret key in its Juju secret: reading, generating,
//!   migrating from the peer bag, rotating.
//! * [`pyjson`], [`random`]: Python-compatible JSON; keys, passwords and UUIDs.

pub mod actions;
pub mod charm;
pub mod cos;
pub mod django;
pub mod health;
pub mod hook;
pub mod integrations;
pub mod juju;
pub mod observability;
pub mod pebble;
pub mod project;
pub mod pyjson;
pub mod random;
pub mod reconcile;
pub mod secret_key;
pub mod sim;
pub mod state;
