//! Integration scenarios a user would recognise, one module per module of
//! `src/integrations/`: a charm that declares an integration, a provider that publishes
//! the data of the spec's worked example, and what the Django app gets (variables,
//! statuses, migrations, our own relation writes). Scenarios that need several
//! integrations at once are in [`statuses`] and [`several`]. Each runs on the in-memory
//! Juju and Pebble and again end to end through `dispatch`.
//!
//! This module holds what they share: the world (the embedded example with more
//! `requires`), relating and publishing, and reading environment changes and migrations
//! off an outcome. An integration's own provider data stays in its module, which the
//! cross-integration modules import it from.

mod databases;
mod http_proxy;
mod ingress;
mod oauth;
mod openfga;
mod rabbitmq;
mod redis;
mod s3;
mod saml;
mod several;
mod smtp;
mod statuses;
pub(crate) mod tracing;
mod valkey;

use std::collections::BTreeMap;

use django_charm::juju::tools::Databag;
use django_charm::sim::juju::{RelationState, SecretState};
use django_charm::sim::{CHARMCRAFT_YAML, Outcome};

use crate::fixtures::*;
use crate::harness::world::{Mode, World};

type Env = BTreeMap<String, String>;
/// Environment changes: `Some(value)` set or changed, `None` removed.
type Changes = BTreeMap<String, Option<String>>;

// ---------------------------------------------------------------------------------------
// The world

const INGRESS_ENDPOINT: &str = "  ingress:\n    interface: ingress\n    limit: 1\n";

/// The two options the extension adds for an `oauth` endpoint named `oidc`.
const OIDC_OPTIONS: &str = "    oidc-redirect-path:\n      type: string\n      default: /callback\n      description: The path that the user will be redirected upon completing login.\n    oidc-scopes:\n      type: string\n      default: openid profile email\n      description: A list of scopes with spaces in between.\n";

/// The charm's `charmcraft.yaml` with `entries` (one `name: {...}` line each) added to
/// `requires` after the endpoints it already has, so `postgresql` stays the first
/// database endpoint.
pub(crate) fn charmcraft_with(entries: &[&str]) -> String {
    let mut endpoints = INGRESS_ENDPOINT.to_string();
    for entry in entries {
        endpoints.push_str(&format!("  {entry}\n"));
    }
    let text = CHARMCRAFT_YAML.replacen(INGRESS_ENDPOINT, &endpoints, 1);
    assert!(entries.is_empty() || text != CHARMCRAFT_YAML);
    if entries.iter().any(|e| e.starts_with("oidc:")) {
        with_options(&text, OIDC_OPTIONS)
    } else {
        text
    }
}

/// The embedded example (leader, peer key, PostgreSQL with its user secret, ingress)
/// with a charm that also declares `requires`.
fn world_requiring(mode: Mode, requires: &[&str]) -> World {
    let mut sim = example();
    sim.charmcraft = Some(charmcraft_with(requires));
    World::new(sim, mode)
}

/// A running app: the first reconcile done, migrations `COMPLETED`.
fn running(mode: Mode, requires: &[&str]) -> World {
    let mut w = world_requiring(mode, requires);
    let out = run(&mut w, "config-changed");
    assert_eq!(out.juju.unit_status, active(), "{}", out.report());
    w
}

/// A new relation on `endpoint` with remote units that have published nothing yet.
fn relate(w: &mut World, id: u64, endpoint: &str, remote_app: &str, units: &[&str]) {
    w.juju
        .relations
        .push(RelationState::new(id, endpoint, remote_app).remote_units(units));
}

fn provider_app_data(w: &mut World, endpoint: &str, data: Databag) {
    w.juju.relation_mut(endpoint).unwrap().remote_app_data = data;
}

fn provider_unit_data(w: &mut World, endpoint: &str, unit: &str, data: Databag) {
    w.juju
        .relation_mut(endpoint)
        .unwrap()
        .remote_units
        .insert(unit.to_string(), data);
}

/// A secret granted to us, with one revision.
fn add_secret(w: &mut World, id: &str, content: &[(&str, &str)]) {
    w.juju.secrets.push(SecretState::new(id, bag(content)));
}

fn secret_mut<'a>(w: &'a mut World, id: &str) -> &'a mut SecretState {
    w.juju.secrets.iter_mut().find(|s| s.id == id).unwrap()
}

fn our_app_bag(out: &Outcome, endpoint: &str) -> Databag {
    out.juju.relation(endpoint).unwrap().local_app_data.clone()
}

fn our_unit_bag(out: &Outcome, endpoint: &str) -> Databag {
    out.juju.relation(endpoint).unwrap().local_unit_data.clone()
}

// ---------------------------------------------------------------------------------------
// Running events and reading outcomes

/// The `django` service environment in the plan as it is now.
fn current_env(w: &World) -> Env {
    w.pebble
        .plan()
        .services
        .get("django")
        .map(|s| s.environment.clone())
        .unwrap_or_default()
}

fn changes(before: &Env, after: &Env) -> Changes {
    let mut out = Changes::new();
    for (k, v) in after {
        if before.get(k) != Some(v) {
            out.insert(k.clone(), Some(v.clone()));
        }
    }
    for k in before.keys().filter(|k| !after.contains_key(*k)) {
        out.insert(k.clone(), None);
    }
    out
}

fn set(pairs: &[(&str, &str)]) -> Changes {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Some(v.to_string())))
        .collect()
}

fn unset(pairs: &[(&str, &str)]) -> Changes {
    pairs.iter().map(|(k, _)| (k.to_string(), None)).collect()
}

const PENDING: &str = "write /tmp/django/state/database-migration-status PENDING";
const COMPLETED: &str = "write /tmp/django/state/database-migration-status COMPLETED";
const MIGRATE: &str = "exec python3 manage.py migrate";

/// An M event on a running app: `PENDING` first, then the reconcile runs the migration
/// again and ends Active.
fn assert_forced_migration(out: &Outcome) {
    let ops = op_names(out.ops());
    assert_eq!(ops.first().map(String::as_str), Some(PENDING), "{ops:?}");
    let migrate = ops
        .iter()
        .position(|o| o == MIGRATE)
        .expect("migration ran");
    assert_eq!(ops[migrate + 1], COMPLETED, "{ops:?}");
    assert_eq!(out.juju.unit_status, active(), "{}", out.report());
}

/// An R event: no migration, no status file write.
fn assert_no_migration(out: &Outcome) {
    let ops = op_names(out.ops());
    assert!(
        !ops.iter()
            .any(|o| o == MIGRATE || o.contains("database-migration-status")),
        "{ops:?}"
    );
}

/// Malformed relation data: Blocked with `message` (unit, and app on the leader), exit
/// 0, nothing done to the workload.
fn assert_blocked_untouched(out: &Outcome, message: &str) {
    assert_eq!(out.exit_code, 0, "{}", out.report());
    assert_eq!(out.juju.unit_status, blocked(message), "{}", out.report());
    if out.juju.leader {
        assert_eq!(out.juju.app_status, blocked(message));
    }
    assert!(out.ops().is_empty(), "{:?}", op_names(out.ops()));
}

/// `<endpoint>-relation-broken`: the app stays Active and exactly `gone` leave the
/// environment in that same hook. The relation is then gone from the model.
fn break_relation(w: &mut World, endpoint: &str, gone: &[(&str, &str)]) -> Outcome {
    let before = current_env(w);
    let out = run(w, &format!("{endpoint}-relation-broken"));
    w.juju.relations.retain(|r| r.endpoint != endpoint);
    assert_eq!(out.juju.unit_status, active(), "{}", out.report());
    assert_eq!(changes(&before, &out.django_env()), unset(gone));
    out
}

/// Juju's order for a new relation before the provider has written anything.
fn created_and_joined(w: &mut World, endpoint: &str) -> (Outcome, Outcome) {
    let created = run(w, &format!("{endpoint}-relation-created"));
    let joined = run(w, &format!("{endpoint}-relation-joined"));
    (created, joined)
}
