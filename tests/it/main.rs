//! The integration tests: one crate, so the harness is compiled and linked once and the
//! compiler sees every use of it, with one module per subject.
//!
//! Where a new test goes:
//! - what one integration does (its databag in; variables, statuses, migrations and our
//!   own relation writes out): `integrations/<name>.rs`, named like the module in
//!   `src/integrations/`; a test that needs several integrations at once (status
//!   precedence, required integrations, non-leaders): `integrations/statuses.rs` or
//!   `integrations/several.rs`;
//! - any other behaviour a user sees (config, actions, migrations, gunicorn, peers,
//!   secrets): `scenarios.rs`; the Django secret key in its Juju secret (generation,
//!   migration, rotation, several units): `secret_key.rs`; the COS relations and
//!   `paas-config.yaml`: `observability.rs`; status writes skipped and reads not
//!   repeated: `quiet_hooks.rs`;
//! - what only the built binary shows (hook tools failing, the packed charm, the
//!   `simulate` command): `e2e.rs`;
//! - the product's Pebble client over the wire: `pebble_client.rs`; the fake Pebble
//!   server itself: `fake_pebble_server.rs`; the shipped COS assets: `cos_assets.rs`;
//!   random provider data: `parsers_proptest.rs`; the shape of `src/` (no import
//!   cycle, no overlong file): `layout.rs`.
//!
//! A scenario is written once as `fn name(mode: Mode)` and listed in its file's
//! `in_both_modes!`, which runs it on the in-memory Juju and Pebble and again through
//! `dispatch`. Fixtures: [`fixtures`] (the example world, statuses, operation
//! names, `bag`) and the builders of `RelationState` and `SecretState` in
//! `django_charm::sim::juju`. Tests of one pure function stay beside it in `src/`.

mod cos_assets;
mod custom_actions;
mod e2e;
mod fake_pebble_server;
mod fixtures;
mod harness;
mod health;
mod integrations;
mod layout;
mod observability;
mod parsers_proptest;
mod pebble_client;
mod quiet_hooks;
mod scenarios;
mod secret_key;
