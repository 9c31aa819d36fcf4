//! Integration scenarios a user would recognise: a charm that declares an integration,
//! a provider that publishes the data of the spec's worked example, and what the Django
//! app gets (variables, statuses, migrations, our own relation writes). Each runs on the
//! in-memory Juju and Pebble and again end to end through `dispatch` with the built
//! binary, the fake hook tools and the fake Pebble server.

use std::collections::BTreeMap;

use django_charm::integrations::valkey;
use django_charm::juju::memory::{RelationState, SecretState};
use django_charm::juju::tools::Databag;
use django_charm::pebble::memory::ServiceStatus;
use django_charm::simulate::{CHARMCRAFT_YAML, EXAMPLE, Outcome, Simulation};

mod harness;

use harness::scenario::*;
use harness::world::{Mode, World};

type Env = BTreeMap<String, String>;
/// Environment changes: `Some(value)` set or changed, `None` removed.
type Changes = BTreeMap<String, Option<String>>;

// ---------------------------------------------------------------------------------------
// The world

const INGRESS_ENDPOINT: &str = "  ingress:\n    interface: ingress\n    limit: 1\n";

/// The charm's `charmcraft.yaml` with `entries` (one `name: {...}` line each) added to
/// `requires` after the endpoints it already has, so `postgresql` stays the first
/// database endpoint.
fn charmcraft_with(entries: &[&str]) -> String {
    let mut endpoints = INGRESS_ENDPOINT.to_string();
    for entry in entries {
        endpoints.push_str(&format!("  {entry}\n"));
    }
    let text = CHARMCRAFT_YAML.replacen(INGRESS_ENDPOINT, &endpoints, 1);
    assert!(entries.is_empty() || text != CHARMCRAFT_YAML);
    if entries.iter().any(|e| e.starts_with("oidc:")) {
        with_oidc_options(text)
    } else {
        text
    }
}

/// The two options the extension adds for an `oauth` endpoint named `oidc`.
fn with_oidc_options(text: String) -> String {
    let options = "    oidc-redirect-path:\n      type: string\n      default: /callback\n      description: The path that the user will be redirected upon completing login.\n    oidc-scopes:\n      type: string\n      default: openid profile email\n      description: A list of scopes with spaces in between.\n";
    let out = text.replacen(
        "config:\n  options:\n",
        &format!("config:\n  options:\n{options}"),
        1,
    );
    assert_ne!(out, text);
    out
}

/// The embedded example (leader, peer key, PostgreSQL with its user secret, ingress)
/// with a charm that also declares `requires`.
fn world(mode: Mode, requires: &[&str]) -> World {
    let mut sim = Simulation::from_yaml(EXAMPLE).unwrap();
    sim.charmcraft = Some(charmcraft_with(requires));
    World::new(sim, mode)
}

/// A running app: the first reconcile done, migrations `COMPLETED`.
fn running(mode: Mode, requires: &[&str]) -> World {
    let mut w = world(mode, requires);
    let out = run(&mut w, "config-changed");
    assert_eq!(out.juju.unit_status, active(), "{}", out.report());
    w
}

/// A new relation on `endpoint` with remote units that have published nothing yet.
fn relate(w: &mut World, id: u64, endpoint: &str, remote_app: &str, units: &[&str]) {
    w.juju.relations.push(RelationState {
        id,
        endpoint: endpoint.into(),
        remote_app: remote_app.into(),
        remote_units: units
            .iter()
            .map(|u| (u.to_string(), Databag::new()))
            .collect(),
        ..Default::default()
    });
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
    w.juju.secrets.push(SecretState {
        id: id.into(),
        revisions: vec![bag(content)],
        granted: true,
        ..Default::default()
    });
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

// ---------------------------------------------------------------------------------------
// 1. Required integrations, end to end

const REDIS_REQUIRED: &str = "redis: {interface: redis, optional: false, limit: 1}";
const S3_REQUIRED: &str = "s3: {interface: s3, optional: false, limit: 1}";

fn required_integrations_arrive_one_by_one(mode: Mode) {
    // A running app (PostgreSQL only) is upgraded to a revision that also requires redis
    // and s3.
    let mut w = running(mode, &[]);
    assert_eq!(
        w.pebble
            .file_text("/tmp/django/state/database-migration-status"),
        Some("COMPLETED")
    );
    w.charmcraft = Some(charmcraft_with(&[REDIS_REQUIRED, S3_REQUIRED]));
    let out = run(&mut w, "upgrade-charm");
    assert!(out.ops().is_empty());
    let out = run(&mut w, "config-changed");
    assert_eq!(
        out.juju.unit_status,
        blocked("missing integrations: redis, s3")
    );
    assert_eq!(
        out.juju.app_status,
        blocked("missing integrations: redis, s3")
    );
    assert_eq!(
        op_names(out.ops()),
        ["stop django,statsd-exporter", PENDING],
        "services stopped, then migrations reset"
    );
    assert_eq!(out.pebble.service_status("django"), ServiceStatus::Inactive);
    assert_eq!(
        out.pebble.service_status("statsd-exporter"),
        ServiceStatus::Inactive
    );

    // Redis: the unit joins before it publishes anything, then its data arrives.
    relate(&mut w, 5, "redis", "redis-k8s", &["redis-k8s/0"]);
    let out = run(&mut w, "redis-relation-created");
    assert!(out.ops().is_empty());
    let out = run(&mut w, "redis-relation-joined");
    assert_eq!(
        out.juju.unit_status,
        blocked("missing integrations: redis, s3")
    );
    assert_eq!(op_names(out.ops()), [PENDING], "nothing left to stop");
    provider_unit_data(
        &mut w,
        "redis",
        "redis-k8s/0",
        bag(&[("hostname", "10.1.2.3"), ("port", "6379")]),
    );
    let out = run(&mut w, "redis-relation-changed");
    assert_eq!(out.juju.unit_status, blocked("missing integrations: s3"));
    assert_eq!(op_names(out.ops()), [PENDING]);
    assert_eq!(out.pebble.service_status("django"), ServiceStatus::Inactive);

    // S3: we ask for our bucket when the provider joins; its data completes the set.
    relate(&mut w, 7, "s3", "s3-integrator", &["s3-integrator/0"]);
    let (_, joined) = created_and_joined(&mut w, "s3");
    assert_eq!(our_app_bag(&joined, "s3"), bag(&[("bucket", "django-k8s")]));
    provider_app_data(
        &mut w,
        "s3",
        bag(&[
            ("access-key", "AK"),
            ("secret-key", "SK"),
            ("bucket", "django-k8s"),
            ("endpoint", "https://s3.example.com"),
        ]),
    );
    let out = run(&mut w, "s3-relation-changed");
    assert_eq!(out.juju.unit_status, active(), "{}", out.report());
    assert_eq!(out.juju.app_status, active());
    let ops = op_names(out.ops());
    assert_eq!(ops.first().map(String::as_str), Some(PENDING));
    assert!(ops.contains(&MIGRATE.to_string()), "migrations run again");
    assert_eq!(ops.last().map(String::as_str), Some("replan "), "{ops:?}");
    assert_eq!(
        out.pebble
            .file_text("/tmp/django/state/database-migration-status"),
        Some("COMPLETED")
    );
    assert_eq!(out.pebble.service_status("django"), ServiceStatus::Active);
    assert_eq!(
        out.pebble.service_status("statsd-exporter"),
        ServiceStatus::Active
    );
    let env = out.django_env();
    let with_prefix = |p: &str| env.keys().filter(|k| k.starts_with(p)).count();
    assert_eq!(with_prefix("POSTGRESQL_DB_"), 12);
    assert_eq!(with_prefix("REDIS_DB_"), 9);
    assert_eq!(with_prefix("S3_"), 4, "{env:?}");
    assert_eq!(env["REDIS_DB_CONNECT_STRING"], "redis://10.1.2.3:6379");
    assert_eq!(env["S3_BUCKET"], "django-k8s");
    assert_eq!(env["S3_ENDPOINT"], "https://s3.example.com");
    assert_eq!(env["POSTGRESQL_DB_USERNAME"], "relation_id_3");

    // S3 goes away again: blocked in that same hook, services stopped; the layer
    // added earlier keeps its (stale) environment.
    let out = run(&mut w, "s3-relation-broken");
    assert_eq!(out.juju.unit_status, blocked("missing integrations: s3"));
    assert_eq!(
        op_names(out.ops()),
        ["stop django,statsd-exporter", PENDING]
    );
    assert_eq!(out.django_env(), env);
}

// ---------------------------------------------------------------------------------------
// 2. Every integration with its worked example

const REQUESTED_SECRETS: &str = r#"["username", "password", "tls", "tls-ca", "uris", "read-only-uris", "entity-name", "entity-password"]"#;
const PROVIDED_SECRETS: &str = r#"["mtls-cert"]"#;

const MYSQL: &str = "mysql: {interface: mysql_client, optional: true, limit: 1}";
const MYSQL_VARS: [(&str, &str); 12] = [
    (
        "MYSQL_DB_CONNECT_STRING",
        "mysql://app:s3cret@mysql-primary:3306/django-k8s",
    ),
    ("MYSQL_DB_SCHEME", "mysql"),
    ("MYSQL_DB_NETLOC", "app:s3cret@mysql-primary:3306"),
    ("MYSQL_DB_PATH", "/django-k8s"),
    ("MYSQL_DB_PARAMS", ""),
    ("MYSQL_DB_QUERY", ""),
    ("MYSQL_DB_FRAGMENT", ""),
    ("MYSQL_DB_USERNAME", "app"),
    ("MYSQL_DB_PASSWORD", "s3cret"),
    ("MYSQL_DB_HOSTNAME", "mysql-primary"),
    ("MYSQL_DB_PORT", "3306"),
    ("MYSQL_DB_NAME", "django-k8s"),
];

fn mysql_provider(endpoints: &str) -> Databag {
    bag(&[
        ("endpoints", endpoints),
        ("password", "s3cret"),
        ("username", "app"),
    ])
}

fn mysql_worked_example(mode: Mode) {
    let mut w = running(mode, &[MYSQL]);
    relate(&mut w, 6, "mysql", "mysql-k8s", &["mysql-k8s/0"]);
    let (created, joined) = created_and_joined(&mut w, "mysql");
    assert_eq!(
        our_app_bag(&created, "mysql"),
        bag(&[
            ("requested-secrets", REQUESTED_SECRETS),
            ("provided-secrets", PROVIDED_SECRETS),
            ("database", "django-k8s"),
        ])
    );
    assert_eq!(
        our_unit_bag(&created, "mysql"),
        bag(&[
            ("requested-secrets", REQUESTED_SECRETS),
            ("provided-secrets", PROVIDED_SECRETS),
        ])
    );
    assert!(created.ops().is_empty() && joined.ops().is_empty());

    // Username and password arrive together: M.
    provider_app_data(&mut w, "mysql", mysql_provider("mysql-primary:3306"));
    let before = current_env(&w);
    let out = run(&mut w, "mysql-relation-changed");
    assert_forced_migration(&out);
    assert_eq!(changes(&before, &out.django_env()), set(&MYSQL_VARS));
    assert_eq!(
        our_unit_bag(&out, "mysql")["data"],
        r#"{"endpoints": "mysql-primary:3306", "password": "s3cret", "username": "app"}"#
    );

    // The same data again: nothing new, no reconcile.
    let out = run(&mut w, "mysql-relation-changed");
    assert!(out.ops().is_empty());

    let out = break_relation(&mut w, "mysql", &MYSQL_VARS);
    assert_no_migration(&out);
}

fn mysql_malformed_then_fixed(mode: Mode) {
    let mut w = running(mode, &[MYSQL]);
    relate(&mut w, 6, "mysql", "mysql-k8s", &["mysql-k8s/0"]);
    provider_app_data(&mut w, "mysql", mysql_provider("mysql-primary:33o6"));
    let out = w.run("mysql-relation-changed");
    assert_blocked_untouched(&out, "Invalid mysql relation data.");

    provider_app_data(&mut w, "mysql", mysql_provider("mysql-primary:3306"));
    let before = current_env(&w);
    let out = run(&mut w, "mysql-relation-changed");
    assert_forced_migration(&out);
    assert_eq!(changes(&before, &out.django_env()), set(&MYSQL_VARS));
}

const MONGODB: &str = "mongodb: {interface: mongodb_client, optional: true, limit: 1}";
const MONGODB_URI: &str = "mongodb://u:p@mongo-0.mongo-endpoints:27017,mongo-1.mongo-endpoints:27017/blog?replicaSet=mongo&authSource=admin";
const MONGODB_VARS: [(&str, &str); 12] = [
    ("MONGODB_DB_CONNECT_STRING", MONGODB_URI),
    ("MONGODB_DB_SCHEME", "mongodb"),
    (
        "MONGODB_DB_NETLOC",
        "u:p@mongo-0.mongo-endpoints:27017,mongo-1.mongo-endpoints:27017",
    ),
    ("MONGODB_DB_PATH", "/blog"),
    ("MONGODB_DB_PARAMS", ""),
    ("MONGODB_DB_QUERY", "replicaSet=mongo&authSource=admin"),
    ("MONGODB_DB_FRAGMENT", ""),
    ("MONGODB_DB_USERNAME", "u"),
    ("MONGODB_DB_PASSWORD", "p"),
    ("MONGODB_DB_HOSTNAME", "mongo-0.mongo-endpoints"),
    ("MONGODB_DB_PORT", "27017"),
    ("MONGODB_DB_NAME", "blog"),
];

fn mongodb_provider() -> Databag {
    bag(&[
        ("database", "blog"),
        (
            "endpoints",
            "mongo-0.mongo-endpoints:27017,mongo-1.mongo-endpoints:27017",
        ),
        ("secret-user", "secret:mongo-user"),
    ])
}

fn mongodb_replica_set(mode: Mode) {
    let mut w = running(mode, &[MONGODB]);
    relate(&mut w, 8, "mongodb", "mongodb-k8s", &["mongodb-k8s/0"]);
    // Cross-model: we offer no mTLS secret.
    w.juju.relation_mut("mongodb").unwrap().remote_model_uuid =
        Some("7e0b1fd0-0000-4000-8000-000000000000".into());
    let (created, _) = created_and_joined(&mut w, "mongodb");
    assert_eq!(
        our_app_bag(&created, "mongodb"),
        bag(&[
            ("requested-secrets", REQUESTED_SECRETS),
            ("database", "django-k8s"),
        ])
    );
    assert_eq!(
        our_unit_bag(&created, "mongodb"),
        bag(&[("requested-secrets", REQUESTED_SECRETS)])
    );

    add_secret(
        &mut w,
        "secret:mongo-user",
        &[("username", "u"), ("password", "p"), ("uris", MONGODB_URI)],
    );
    provider_app_data(&mut w, "mongodb", mongodb_provider());
    let before = current_env(&w);
    let out = run(&mut w, "mongodb-relation-changed");
    assert_forced_migration(&out);
    assert_eq!(changes(&before, &out.django_env()), set(&MONGODB_VARS));
    assert!(
        out.calls().iter().any(|c| c.tool == "secret-get"
            && c.args.contains(&"secret:mongo-user".to_string())
            && c.args.contains(&"mongodb.8.user.secret".to_string())),
        "the user secret is read under its label"
    );
    break_relation(&mut w, "mongodb", &MONGODB_VARS);
}

fn mongodb_malformed_then_fixed(mode: Mode) {
    let mut w = running(mode, &[MONGODB]);
    relate(&mut w, 8, "mongodb", "mongodb-k8s", &["mongodb-k8s/0"]);
    add_secret(
        &mut w,
        "secret:mongo-user",
        &[(
            "uris",
            "mongodb://u:p@mongo-0.mongo-endpoints:port,mongo-1.mongo-endpoints:27017/blog",
        )],
    );
    provider_app_data(&mut w, "mongodb", mongodb_provider());
    let out = w.run("mongodb-relation-changed");
    assert_blocked_untouched(&out, "Invalid mongodb relation data.");

    // The provider fixes the URI in a new revision of its secret.
    secret_mut(&mut w, "secret:mongo-user")
        .revisions
        .push(bag(&[
            ("username", "u"),
            ("password", "p"),
            ("uris", MONGODB_URI),
        ]));
    w.env
        .insert("JUJU_SECRET_ID".into(), "secret:mongo-user".into());
    let before = current_env(&w);
    let out = run(&mut w, "secret-changed");
    assert_eq!(out.juju.unit_status, active(), "{}", out.report());
    assert_eq!(changes(&before, &out.django_env()), set(&MONGODB_VARS));
}

const REDIS: &str = "redis: {interface: redis, optional: true, limit: 1}";
const REDIS_VARS: [(&str, &str); 9] = [
    ("REDIS_DB_CONNECT_STRING", "redis://10.1.2.3:6379"),
    ("REDIS_DB_SCHEME", "redis"),
    ("REDIS_DB_NETLOC", "10.1.2.3:6379"),
    ("REDIS_DB_PATH", ""),
    ("REDIS_DB_PARAMS", ""),
    ("REDIS_DB_QUERY", ""),
    ("REDIS_DB_FRAGMENT", ""),
    ("REDIS_DB_HOSTNAME", "10.1.2.3"),
    ("REDIS_DB_PORT", "6379"),
];

fn redis_worked_example(mode: Mode) {
    let mut w = running(mode, &[REDIS]);
    relate(&mut w, 5, "redis", "redis-k8s", &["redis-k8s/0"]);
    let out = run(&mut w, "redis-relation-created");
    assert!(out.ops().is_empty());
    // Joined with a remote unit: M, even before the unit has published.
    let out = run(&mut w, "redis-relation-joined");
    assert_forced_migration(&out);
    assert!(!out.django_env().contains_key("REDIS_DB_CONNECT_STRING"));

    provider_unit_data(
        &mut w,
        "redis",
        "redis-k8s/0",
        bag(&[("hostname", "10.1.2.3"), ("port", "6379")]),
    );
    let before = current_env(&w);
    let out = run(&mut w, "redis-relation-changed");
    assert_forced_migration(&out);
    assert_eq!(changes(&before, &out.django_env()), set(&REDIS_VARS));
    // We write nothing to redis.
    assert!(our_app_bag(&out, "redis").is_empty());
    assert!(our_unit_bag(&out, "redis").is_empty());

    // Broken is an M event too.
    let out = break_relation(&mut w, "redis", &REDIS_VARS);
    assert_forced_migration(&out);
}

fn redis_malformed_then_fixed(mode: Mode) {
    let mut w = running(mode, &[REDIS]);
    relate(&mut w, 5, "redis", "redis-k8s", &["redis-k8s/0"]);
    provider_unit_data(
        &mut w,
        "redis",
        "redis-k8s/0",
        bag(&[("hostname", "10.1.2.3"), ("port", "notaport")]),
    );
    let out = w.run("redis-relation-changed");
    assert_blocked_untouched(&out, "Invalid redis relation data.");

    provider_unit_data(
        &mut w,
        "redis",
        "redis-k8s/0",
        bag(&[("hostname", "10.1.2.3"), ("port", "6379")]),
    );
    let before = current_env(&w);
    let out = run(&mut w, "redis-relation-changed");
    assert_forced_migration(&out);
    assert_eq!(changes(&before, &out.django_env()), set(&REDIS_VARS));
}

const VALKEY: &str = "valkey: {interface: valkey_client, optional: true, limit: 1}";
const VALKEY_VARS: [(&str, &str); 15] = [
    (
        "VALKEY_DB_CONNECT_STRING",
        "valkey://relation-1-abc123:supersecretpass@valkey-primary:6379",
    ),
    ("VALKEY_DB_SCHEME", "valkey"),
    (
        "VALKEY_DB_NETLOC",
        "relation-1-abc123:supersecretpass@valkey-primary:6379",
    ),
    ("VALKEY_DB_PATH", ""),
    ("VALKEY_DB_PARAMS", ""),
    ("VALKEY_DB_QUERY", ""),
    ("VALKEY_DB_FRAGMENT", ""),
    ("VALKEY_DB_HOSTNAME", "valkey-primary"),
    ("VALKEY_DB_PORT", "6379"),
    ("VALKEY_DB_USERNAME", "relation-1-abc123"),
    ("VALKEY_DB_PASSWORD", "supersecretpass"),
    ("VALKEY_DB_READ_ONLY_ENDPOINTS", "valkey-replicas:6379"),
    ("VALKEY_DB_SENTINEL_ENDPOINTS", "valkey-sentinel:26379"),
    ("VALKEY_MODE", "sentinel"),
    ("VALKEY_VERSION", "9.0.1"),
];

/// Our valkey request after `valkey-relation-created`: `(request-id, salt)`, checked
/// byte for byte.
fn valkey_request(out: &Outcome) -> (String, String) {
    let ours = our_app_bag(out, "valkey");
    assert_eq!(ours.len(), 2, "{ours:?}");
    assert_eq!(ours["version"], "v1");
    let requests: serde_json::Value = serde_json::from_str(&ours["requests"]).unwrap();
    let salt = requests[0]["salt"].as_str().unwrap().to_string();
    assert_eq!(salt.len(), 16);
    assert!(salt.bytes().all(|b| b.is_ascii_alphanumeric()), "{salt}");
    let id = valkey::request_id("*", &salt);
    assert_eq!(
        ours["requests"],
        format!(
            r#"[{{"resource": "*", "request-id": "{id}", "salt": "{salt}", "extra-user-roles": null, "extra-group-roles": null, "external-node-connectivity": false, "entity-type": null, "entity-permissions": null, "secret-mtls": null}}]"#
        )
    );
    (id, salt)
}

/// The provider's response to our request (the spec's worked example).
fn valkey_response(id: &str, salt: &str, extra: &str) -> String {
    format!(
        r#"{{"resource": "*", "request-id": "{id}", "salt": "{salt}", "endpoints": "valkey-primary:6379", "read-only-endpoints": "valkey-replicas:6379", "sentinel-endpoints": "valkey-sentinel:26379", "mode": "sentinel", "version": "9.0.1", "secret-user": "secret:valkey-user"{extra}}}"#
    )
}

fn valkey_worked_example(mode: Mode) {
    let mut w = running(mode, &[VALKEY]);
    relate(&mut w, 10, "valkey", "valkey", &["valkey/0"]);
    let (created, joined) = created_and_joined(&mut w, "valkey");
    let (id, salt) = valkey_request(&created);
    assert_eq!(
        our_app_bag(&joined, "valkey"),
        our_app_bag(&created, "valkey")
    );

    add_secret(
        &mut w,
        "secret:valkey-user",
        &[
            ("username", "relation-1-abc123"),
            ("password", "supersecretpass"),
        ],
    );
    let response = valkey_response(&id, &salt, "");
    provider_app_data(
        &mut w,
        "valkey",
        bag(&[("version", "v1"), ("requests", &format!("[{response}]"))]),
    );
    let before = current_env(&w);
    let out = run(&mut w, "valkey-relation-changed");
    assert_forced_migration(&out);
    assert_eq!(changes(&before, &out.django_env()), set(&VALKEY_VARS));
    assert_eq!(
        our_unit_bag(&out, "valkey")["data"],
        format!(r#"{{"{id}": {response}}}"#)
    );

    // The resource was already created: a later change does not force migrations.
    let out = run(&mut w, "valkey-relation-changed");
    assert!(out.ops().is_empty());

    let out = break_relation(&mut w, "valkey", &VALKEY_VARS);
    assert_no_migration(&out);
}

fn valkey_malformed_then_fixed(mode: Mode) {
    let mut w = running(mode, &[VALKEY]);
    relate(&mut w, 10, "valkey", "valkey", &["valkey/0"]);
    let created = run(&mut w, "valkey-relation-created");
    let (id, salt) = valkey_request(&created);
    add_secret(
        &mut w,
        "secret:valkey-user",
        &[
            ("username", "relation-1-abc123"),
            ("password", "supersecretpass"),
        ],
    );
    add_secret(
        &mut w,
        "secret:valkey-tls",
        &[("tls", "true"), ("tls-ca", "CA")],
    );
    // TLS is not supported.
    let tls = valkey_response(&id, &salt, r#", "secret-tls": "secret:valkey-tls""#);
    provider_app_data(
        &mut w,
        "valkey",
        bag(&[("version", "v1"), ("requests", &format!("[{tls}]"))]),
    );
    let out = w.run("valkey-relation-changed");
    assert_blocked_untouched(&out, "Invalid valkey relation data.");

    // The provider drops TLS. Only a `secret-user` seen for the first time makes
    // `valkey-relation-changed` reconcile, so the fix shows at the next reconcile.
    let plain = valkey_response(&id, &salt, "");
    provider_app_data(
        &mut w,
        "valkey",
        bag(&[("version", "v1"), ("requests", &format!("[{plain}]"))]),
    );
    let out = run(&mut w, "valkey-relation-changed");
    assert!(out.ops().is_empty());
    assert_eq!(
        out.juju.unit_status,
        blocked("Invalid valkey relation data.")
    );
    let before = current_env(&w);
    let out = run(&mut w, "config-changed");
    assert_eq!(out.juju.unit_status, active(), "{}", out.report());
    assert_eq!(changes(&before, &out.django_env()), set(&VALKEY_VARS));
}

const S3: &str = "s3: {interface: s3, optional: true, limit: 1}";
const CA_CHAIN: &str = r#"["-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----"]"#;
const S3_VARS: [(&str, &str); 7] = [
    ("S3_ACCESS_KEY", "AK"),
    ("S3_SECRET_KEY", "SK"),
    ("S3_REGION", "eu-west-1"),
    ("S3_BUCKET", "b"),
    ("S3_URI_STYLE", "host"),
    ("S3_ADDRESSING_STYLE", "virtual"),
    ("S3_TLS_CA_CHAIN", CA_CHAIN),
];

fn s3_provider() -> Databag {
    bag(&[
        ("access-key", "AK"),
        ("secret-key", "SK"),
        ("bucket", "b"),
        ("region", "eu-west-1"),
        ("s3-uri-style", "host"),
        ("tls-ca-chain", CA_CHAIN),
    ])
}

fn s3_worked_example(mode: Mode) {
    let mut w = running(mode, &[S3]);
    relate(&mut w, 7, "s3", "s3-integrator", &["s3-integrator/0"]);
    let (created, joined) = created_and_joined(&mut w, "s3");
    assert!(
        our_app_bag(&created, "s3").is_empty(),
        "bucket only on joined"
    );
    assert_eq!(our_app_bag(&joined, "s3"), bag(&[("bucket", "django-k8s")]));
    assert!(our_unit_bag(&joined, "s3").is_empty());

    provider_app_data(&mut w, "s3", s3_provider());
    let before = current_env(&w);
    let out = run(&mut w, "s3-relation-changed");
    assert_forced_migration(&out);
    assert_eq!(changes(&before, &out.django_env()), set(&S3_VARS));

    let out = break_relation(&mut w, "s3", &S3_VARS);
    assert_no_migration(&out);
}

fn s3_malformed_then_fixed(mode: Mode) {
    let mut w = running(mode, &[S3]);
    relate(&mut w, 7, "s3", "s3-integrator", &["s3-integrator/0"]);
    let mut broken = s3_provider();
    broken.insert("attributes".into(), "header1:value1".into());
    provider_app_data(&mut w, "s3", broken);
    let out = w.run("s3-relation-changed");
    assert_blocked_untouched(&out, "Invalid s3 relation data.");

    provider_app_data(&mut w, "s3", s3_provider());
    let before = current_env(&w);
    let out = run(&mut w, "s3-relation-changed");
    assert_forced_migration(&out);
    assert_eq!(changes(&before, &out.django_env()), set(&S3_VARS));
}

const SAML: &str = "saml: {interface: saml, optional: true, limit: 1}";
const SAML_VARS: [(&str, &str); 4] = [
    ("SAML_ENTITY_ID", "https://login.staging.ubuntu.com"),
    (
        "SAML_METADATA_URL",
        "https://login.staging.ubuntu.com/saml/metadata",
    ),
    (
        "SAML_SINGLE_SIGN_ON_REDIRECT_URL",
        "https://login.staging.ubuntu.com/saml/",
    ),
    ("SAML_SIGNING_CERTIFICATE", "CERTAAA"),
];

fn saml_provider(certificates: Option<&str>) -> Databag {
    let mut data = bag(&[
        ("entity_id", "https://login.staging.ubuntu.com"),
        (
            "metadata_url",
            "https://login.staging.ubuntu.com/saml/metadata",
        ),
        (
            "single_sign_on_service_redirect_url",
            "https://login.staging.ubuntu.com/saml/",
        ),
        (
            "single_sign_on_service_redirect_binding",
            "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
        ),
        (
            "single_logout_service_redirect_url",
            "https://login.staging.ubuntu.com/+logout",
        ),
        (
            "single_logout_service_redirect_binding",
            "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
        ),
    ]);
    if let Some(certs) = certificates {
        data.insert("x509certs".into(), certs.into());
    }
    data
}

fn saml_worked_example(mode: Mode) {
    let mut w = running(mode, &[SAML]);
    relate(
        &mut w,
        12,
        "saml",
        "saml-integrator",
        &["saml-integrator/0"],
    );
    let (created, joined) = created_and_joined(&mut w, "saml");
    assert!(created.ops().is_empty() && joined.ops().is_empty());

    provider_app_data(&mut w, "saml", saml_provider(Some("CERTAAA,CERTBBB")));
    let before = current_env(&w);
    let out = run(&mut w, "saml-relation-changed");
    assert_forced_migration(&out);
    assert_eq!(changes(&before, &out.django_env()), set(&SAML_VARS));
    assert!(our_app_bag(&out, "saml").is_empty() && our_unit_bag(&out, "saml").is_empty());

    let out = break_relation(&mut w, "saml", &SAML_VARS);
    assert_no_migration(&out);
}

fn saml_malformed_then_fixed(mode: Mode) {
    let mut w = running(mode, &[SAML]);
    relate(
        &mut w,
        12,
        "saml",
        "saml-integrator",
        &["saml-integrator/0"],
    );
    provider_app_data(&mut w, "saml", saml_provider(None));
    let out = w.run("saml-relation-changed");
    assert_blocked_untouched(&out, "Invalid saml relation data.");

    provider_app_data(&mut w, "saml", saml_provider(Some("CERTAAA,CERTBBB")));
    let before = current_env(&w);
    let out = run(&mut w, "saml-relation-changed");
    assert_forced_migration(&out);
    assert_eq!(changes(&before, &out.django_env()), set(&SAML_VARS));
}

const RABBITMQ: &str = "rabbitmq: {interface: rabbitmq, optional: true, limit: 1}";
const RABBITMQ_HOST: &str = "rabbitmq-k8s-endpoints.test-model.svc.cluster.local";
const RABBITMQ_VARS: [(&str, &str); 13] = [
    (
        "RABBITMQ_CONNECT_STRING",
        "amqp://django-k8s:Xy12@rabbitmq-k8s-endpoints.test-model.svc.cluster.local:5672/%2F",
    ),
    ("RABBITMQ_SCHEME", "amqp"),
    (
        "RABBITMQ_NETLOC",
        "django-k8s:Xy12@rabbitmq-k8s-endpoints.test-model.svc.cluster.local:5672",
    ),
    ("RABBITMQ_PATH", "/%2F"),
    ("RABBITMQ_PARAMS", ""),
    ("RABBITMQ_QUERY", ""),
    ("RABBITMQ_FRAGMENT", ""),
    ("RABBITMQ_USERNAME", "django-k8s"),
    ("RABBITMQ_PASSWORD", "Xy12"),
    ("RABBITMQ_HOSTNAME", RABBITMQ_HOST),
    ("RABBITMQ_PORT", "5672"),
    ("RABBITMQ_VHOST", "/"),
    (
        "RABBITMQ_CONNECT_STRINGS",
        "amqp://django-k8s:Xy12@rabbitmq-k8s-endpoints.test-model.svc.cluster.local:5672/%2F",
    ),
];

fn rabbitmq_worked_example(mode: Mode) {
    let mut w = running(mode, &[RABBITMQ]);
    relate(&mut w, 13, "rabbitmq", "rabbitmq-k8s", &["rabbitmq-k8s/0"]);
    let (created, joined) = created_and_joined(&mut w, "rabbitmq");
    assert!(our_app_bag(&created, "rabbitmq").is_empty());
    assert_eq!(
        our_app_bag(&joined, "rabbitmq"),
        bag(&[("username", "django-k8s"), ("vhost", "/")])
    );
    assert!(our_unit_bag(&joined, "rabbitmq").is_empty());
    assert_eq!(joined.juju.unit_status, active(), "joined reconciles");
    assert_no_migration(&joined);

    provider_app_data(
        &mut w,
        "rabbitmq",
        bag(&[("hostname", RABBITMQ_HOST), ("password", "Xy12")]),
    );
    let before = current_env(&w);
    let out = run(&mut w, "rabbitmq-relation-changed");
    assert_forced_migration(&out);
    assert_eq!(changes(&before, &out.django_env()), set(&RABBITMQ_VARS));

    let out = break_relation(&mut w, "rabbitmq", &RABBITMQ_VARS);
    assert_no_migration(&out);
}

fn rabbitmq_malformed_then_fixed(mode: Mode) {
    let mut w = running(mode, &[RABBITMQ]);
    relate(&mut w, 13, "rabbitmq", "rabbitmq-k8s", &["rabbitmq-k8s/0"]);
    // A `/` in the password ends the netloc early: the "port" is not a number.
    provider_app_data(
        &mut w,
        "rabbitmq",
        bag(&[("hostname", RABBITMQ_HOST), ("password", "Xy/12")]),
    );
    let out = w.run("rabbitmq-relation-changed");
    assert_blocked_untouched(&out, "Invalid rabbitmq relation data.");

    provider_app_data(
        &mut w,
        "rabbitmq",
        bag(&[("hostname", RABBITMQ_HOST), ("password", "Xy12")]),
    );
    let before = current_env(&w);
    let out = run(&mut w, "rabbitmq-relation-changed");
    assert_forced_migration(&out);
    assert_eq!(changes(&before, &out.django_env()), set(&RABBITMQ_VARS));
}

const TRACING: &str = "tracing: {interface: tracing, optional: true, limit: 1}";
const TRACING_VARS: [(&str, &str); 2] = [
    ("OTEL_SERVICE_NAME", "django-k8s"),
    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://test-ip:4318/"),
];
const PLAIN_GUNICORN: &str = "bind = ['0.0.0.0:8000']\nchdir = '/django/app'\naccesslog = '-'\nerrorlog = '-'\nstatsd_host = 'localhost:9125'\ncontrol_socket = '/tmp/gunicorn.ctl'";
const TRACING_GUNICORN: &str = "from opentelemetry import trace\nfrom opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter\nfrom opentelemetry.sdk.trace import TracerProvider\nfrom opentelemetry.sdk.trace.export import BatchSpanProcessor\n\nbind = ['0.0.0.0:8000']\nchdir = '/django/app'\naccesslog = '-'\nerrorlog = '-'\nstatsd_host = 'localhost:9125'\ncontrol_socket = '/tmp/gunicorn.ctl'\naccess_log_format = '%(h)s %(l)s %(u)s %(t)s \"%(r)s\" %(s)s %(b)s \"%(f)s\" \"%(a)s\" %({x-request-id}o)s'\n\n\ndef post_fork(server, worker):\n    trace.set_tracer_provider(TracerProvider())\n    span_processor = BatchSpanProcessor(OTLPSpanExporter())\n    trace.get_tracer_provider().add_span_processor(span_processor)\n";
/// A changed `gunicorn.conf.py` and environment on a running app: new layer, the file
/// written, checked and `django` reloaded, then the replan.
const NEW_LAYER_AND_GUNICORN: [&str; 5] = [
    "add-layer charm",
    "write /django/gunicorn.conf.py",
    CHECK_CONFIG,
    "signal SIGHUP django",
    "replan ",
];

fn receivers(url: &str) -> Databag {
    bag(&[(
        "receivers",
        &format!(r#"[{{"protocol": {{"name": "otlp_http", "type": "http"}}, "url": "{url}"}}]"#),
    )])
}

fn tracing_worked_example(mode: Mode) {
    let mut w = running(mode, &[TRACING]);
    assert_eq!(
        w.pebble.file_text("/django/gunicorn.conf.py"),
        Some(PLAIN_GUNICORN)
    );
    relate(&mut w, 14, "tracing", "tempo", &["tempo/0"]);
    let (created, joined) = created_and_joined(&mut w, "tracing");
    let ours = bag(&[("receivers", r#"["otlp_http"]"#)]);
    assert_eq!(our_app_bag(&created, "tracing"), ours);
    assert_eq!(our_app_bag(&joined, "tracing"), ours);

    provider_app_data(&mut w, "tracing", receivers("http://test-ip:4318"));
    let before = current_env(&w);
    let out = run(&mut w, "tracing-relation-changed");
    assert_eq!(out.juju.unit_status, active(), "{}", out.report());
    assert_eq!(op_names(out.ops()), NEW_LAYER_AND_GUNICORN, "R, not M");
    assert_eq!(changes(&before, &out.django_env()), set(&TRACING_VARS));
    assert_eq!(
        out.pebble.file_text("/django/gunicorn.conf.py"),
        Some(TRACING_GUNICORN)
    );

    // Whatever else lands in our bag, every hook leaves exactly `receivers`.
    w.juju
        .relation_mut("tracing")
        .unwrap()
        .local_app_data
        .insert("stale".into(), "x".into());
    let out = run(&mut w, "update-status");
    assert_eq!(our_app_bag(&out, "tracing"), ours);

    let out = break_relation(&mut w, "tracing", &TRACING_VARS);
    assert_eq!(op_names(out.ops()), NEW_LAYER_AND_GUNICORN);
    assert!(
        !out.calls()
            .iter()
            .any(|c| c.tool == "relation-set" && c.args.contains(&"tracing:14".to_string())),
        "nothing written to the relation being broken"
    );
    assert_eq!(
        out.pebble.file_text("/django/gunicorn.conf.py"),
        Some(PLAIN_GUNICORN)
    );
}

fn tracing_malformed_then_fixed(mode: Mode) {
    let mut w = running(mode, &[TRACING]);
    relate(&mut w, 14, "tracing", "tempo", &["tempo/0"]);
    provider_app_data(&mut w, "tracing", receivers("not_a_url"));
    let out = w.run("tracing-relation-changed");
    assert_blocked_untouched(&out, "Invalid tracing relation data.");
    assert_eq!(
        our_app_bag(&out, "tracing"),
        bag(&[("receivers", r#"["otlp_http"]"#)])
    );
    assert!(out.juju.opened_ports.contains(&"8000/tcp".to_string()));
    assert_eq!(
        out.pebble.file_text("/django/gunicorn.conf.py"),
        Some(PLAIN_GUNICORN)
    );

    provider_app_data(&mut w, "tracing", receivers("http://test-ip:4318"));
    let before = current_env(&w);
    let out = run(&mut w, "tracing-relation-changed");
    assert_eq!(out.juju.unit_status, active(), "{}", out.report());
    assert_eq!(changes(&before, &out.django_env()), set(&TRACING_VARS));
    assert_eq!(
        out.pebble.file_text("/django/gunicorn.conf.py"),
        Some(TRACING_GUNICORN)
    );
}

const SMTP: &str = "smtp: {interface: smtp, optional: true, limit: 1}";
const SMTP_VARS: [(&str, &str); 8] = [
    ("SMTP_HOST", "mail.example.org"),
    ("SMTP_PORT", "465"),
    ("SMTP_USER", "no"),
    ("SMTP_PASSWORD", "hunter2"),
    ("SMTP_AUTH_TYPE", "plain"),
    ("SMTP_TRANSPORT_SECURITY", "tls"),
    ("SMTP_DOMAIN", "one.example.org"),
    ("SMTP_SKIP_SSL_VERIFY", "True"),
];

fn smtp_provider() -> Databag {
    bag(&[
        ("host", "mail.example.org"),
        ("port", "465"),
        ("user", "no"),
        ("password_id", "secret:smtp-password"),
        ("auth_type", "plain"),
        ("transport_security", "tls"),
        ("domain", "one.example.org"),
        ("skip_ssl_verify", "true"),
    ])
}

fn smtp_worked_example(mode: Mode) {
    let mut w = running(mode, &[SMTP]);
    relate(
        &mut w,
        15,
        "smtp",
        "smtp-integrator",
        &["smtp-integrator/0"],
    );
    let (created, joined) = created_and_joined(&mut w, "smtp");
    assert!(created.ops().is_empty() && joined.ops().is_empty());

    add_secret(&mut w, "secret:smtp-password", &[("password", "hunter2")]);
    provider_app_data(&mut w, "smtp", smtp_provider());
    let before = current_env(&w);
    let out = run(&mut w, "smtp-relation-changed");
    assert_eq!(out.juju.unit_status, active(), "{}", out.report());
    assert_eq!(op_names(out.ops()), ["add-layer charm", "replan "], "R");
    assert_eq!(changes(&before, &out.django_env()), set(&SMTP_VARS));
    assert!(our_app_bag(&out, "smtp").is_empty() && our_unit_bag(&out, "smtp").is_empty());

    // The provider rotates the password: the new one reaches the app.
    secret_mut(&mut w, "secret:smtp-password")
        .revisions
        .push(bag(&[("password", "hunter3")]));
    w.env
        .insert("JUJU_SECRET_ID".into(), "secret:smtp-password".into());
    let out = run(&mut w, "secret-changed");
    w.env.shift_remove("JUJU_SECRET_ID");
    assert_eq!(out.django_env()["SMTP_PASSWORD"], "hunter3");

    let mut gone = SMTP_VARS;
    gone[3].1 = "hunter3";
    let out = break_relation(&mut w, "smtp", &gone);
    assert_no_migration(&out);
}

fn smtp_malformed_then_fixed(mode: Mode) {
    let mut w = running(mode, &[SMTP]);
    relate(
        &mut w,
        15,
        "smtp",
        "smtp-integrator",
        &["smtp-integrator/0"],
    );
    provider_app_data(&mut w, "smtp", bag(&[("host", "mail.example.org")]));
    let out = w.run("smtp-relation-changed");
    assert_blocked_untouched(&out, "Invalid smtp relation data.");

    add_secret(&mut w, "secret:smtp-password", &[("password", "hunter2")]);
    provider_app_data(&mut w, "smtp", smtp_provider());
    let before = current_env(&w);
    let out = run(&mut w, "smtp-relation-changed");
    assert_eq!(out.juju.unit_status, active(), "{}", out.report());
    assert_eq!(changes(&before, &out.django_env()), set(&SMTP_VARS));
}

const OPENFGA: &str = "openfga: {interface: openfga, optional: true, limit: 1}";
const OPENFGA_VARS: [(&str, &str); 4] = [
    ("FGA_STORE_ID", "test-store-id"),
    ("FGA_TOKEN", "test-token"),
    ("FGA_GRPC_API_URL", "localhost:8081"),
    ("FGA_HTTP_API_URL", "localhost:8080"),
];

fn openfga_provider(token: (&str, &str)) -> Databag {
    bag(&[
        ("store_id", "test-store-id"),
        token,
        ("grpc_api_url", "localhost:8081"),
        ("http_api_url", "localhost:8080"),
    ])
}

fn openfga_worked_example(mode: Mode) {
    let mut w = running(mode, &[OPENFGA]);
    relate(&mut w, 16, "openfga", "openfga-k8s", &["openfga-k8s/0"]);
    let (created, _) = created_and_joined(&mut w, "openfga");
    assert_eq!(
        our_app_bag(&created, "openfga"),
        bag(&[("store_name", "app-store")])
    );
    assert!(our_unit_bag(&created, "openfga").is_empty());

    provider_app_data(&mut w, "openfga", openfga_provider(("token", "test-token")));
    let before = current_env(&w);
    let out = run(&mut w, "openfga-relation-changed");
    assert_eq!(out.juju.unit_status, active(), "{}", out.report());
    assert_eq!(op_names(out.ops()), ["add-layer charm", "replan "], "R");
    assert_eq!(changes(&before, &out.django_env()), set(&OPENFGA_VARS));

    // The token from a Juju secret instead.
    add_secret(&mut w, "secret:fga-token", &[("token", "t0k")]);
    provider_app_data(
        &mut w,
        "openfga",
        openfga_provider(("token_secret_id", "secret:fga-token")),
    );
    let out = run(&mut w, "openfga-relation-changed");
    assert_eq!(out.django_env()["FGA_TOKEN"], "t0k");

    let mut gone = OPENFGA_VARS;
    gone[1].1 = "t0k";
    let out = break_relation(&mut w, "openfga", &gone);
    assert_no_migration(&out);
}

fn openfga_malformed_then_fixed(mode: Mode) {
    let mut w = running(mode, &[OPENFGA]);
    relate(&mut w, 16, "openfga", "openfga-k8s", &["openfga-k8s/0"]);
    // The token secret is not granted to us (yet).
    add_secret(&mut w, "secret:fga-token", &[("token", "test-token")]);
    secret_mut(&mut w, "secret:fga-token").granted = false;
    provider_app_data(
        &mut w,
        "openfga",
        openfga_provider(("token_secret_id", "secret:fga-token")),
    );
    let out = w.run("openfga-relation-changed");
    assert_blocked_untouched(&out, "Invalid openfga relation data.");

    secret_mut(&mut w, "secret:fga-token").granted = true;
    let before = current_env(&w);
    let out = run(&mut w, "openfga-relation-changed");
    assert_eq!(out.juju.unit_status, active(), "{}", out.report());
    assert_eq!(changes(&before, &out.django_env()), set(&OPENFGA_VARS));
}

const HTTP_PROXY: &str = "http-proxy: {interface: http_proxy, limit: 1}";

/// The model's proxies in the hook environment.
fn with_model_proxies(w: &mut World) {
    w.env.insert(
        "JUJU_CHARM_HTTP_PROXY".into(),
        "http://model-proxy.internal:3128".into(),
    );
    w.env.insert(
        "JUJU_CHARM_HTTPS_PROXY".into(),
        "http://model-proxy.internal:3129".into(),
    );
}

/// Our request after `http-proxy-relation-joined`, checked byte for byte; its id.
fn http_proxy_request(out: &Outcome) -> String {
    let ours = our_app_bag(out, "http-proxy");
    assert_eq!(ours.len(), 1, "{ours:?}");
    let requests: serde_json::Value = serde_json::from_str(&ours["requests"]).unwrap();
    let id = requests[0]["requirer"].as_str().unwrap().to_string();
    let b = id.as_bytes();
    assert_eq!(b.len(), 36, "{id}");
    assert!(
        [8, 13, 18, 23].iter().all(|i| b[*i] == b'-')
            && b[14] == b'4'
            && b"89ab".contains(&b[19])
            && id
                .bytes()
                .all(|c| c == b'-' || c.is_ascii_digit() || (b'a'..=b'f').contains(&c)),
        "a lower-case v4 UUID: {id}"
    );
    assert_eq!(
        ours["requests"],
        format!(r#"[{{"auth": [], "domains": [], "requirer": "{id}"}}]"#)
    );
    id
}

fn http_proxy_responses(id: &str) -> Databag {
    bag(&[(
        "responses",
        &format!(
            r#"[{{"requirer": "{id}", "status": "ready", "auth": "srcip+userpass", "http_proxy": "http://squid.internal:3128", "https_proxy": "http://squid.internal:3129/", "user": "secret:proxy-user"}}]"#
        ),
    )])
}

const PROXY_MESSAGE: &str =
    "http-proxy relation data is either unavailable, invalid or not usable.";

fn http_proxy_worked_example(mode: Mode) {
    let mut w = world(mode, &[HTTP_PROXY]);
    with_model_proxies(&mut w);
    let out = run(&mut w, "config-changed");
    let env = out.django_env();
    assert_eq!(env["HTTP_PROXY"], "http://model-proxy.internal:3128");
    assert_eq!(env["https_proxy"], "http://model-proxy.internal:3129");

    relate(
        &mut w,
        9,
        "http-proxy",
        "squid-forward-proxy",
        &["squid-forward-proxy/0"],
    );
    let (created, joined) = created_and_joined(&mut w, "http-proxy");
    assert!(our_app_bag(&created, "http-proxy").is_empty());
    let id = http_proxy_request(&joined);
    // An upgrade asks again under the same id.
    let out = run(&mut w, "upgrade-charm");
    assert_eq!(http_proxy_request(&out), id);

    // Related, no response yet: blocked, nothing touched.
    let out = w.run("http-proxy-relation-changed");
    assert_blocked_untouched(&out, PROXY_MESSAGE);

    add_secret(
        &mut w,
        "secret:proxy-user",
        &[("username", "proxyuser1"), ("password", "pr0xy-pass")],
    );
    provider_app_data(&mut w, "http-proxy", http_proxy_responses(&id));
    let before = current_env(&w);
    let out = run(&mut w, "http-proxy-relation-changed");
    assert_eq!(out.juju.unit_status, active(), "{}", out.report());
    assert_no_migration(&out);
    let http = "http://proxyuser1:pr0xy-pass@squid.internal:3128";
    let https = "http://proxyuser1:pr0xy-pass@squid.internal:3129";
    assert_eq!(
        changes(&before, &out.django_env()),
        set(&[
            ("http_proxy", http),
            ("HTTP_PROXY", http),
            ("https_proxy", https),
            ("HTTPS_PROXY", https),
        ])
    );
    let env = out.django_env();
    assert_eq!(env["no_proxy"], "127.0.0.1,localhost");
    assert_eq!(env["NO_PROXY"], "127.0.0.1,localhost");

    // Broken: the model's proxies are back in that same hook.
    let before = current_env(&w);
    let out = run(&mut w, "http-proxy-relation-broken");
    w.juju.relations.retain(|r| r.endpoint != "http-proxy");
    assert_eq!(out.juju.unit_status, active(), "{}", out.report());
    let http = "http://model-proxy.internal:3128";
    let https = "http://model-proxy.internal:3129";
    assert_eq!(
        changes(&before, &out.django_env()),
        set(&[
            ("http_proxy", http),
            ("HTTP_PROXY", http),
            ("https_proxy", https),
            ("HTTPS_PROXY", https),
        ])
    );
}

fn http_proxy_malformed_then_fixed(mode: Mode) {
    let mut w = world(mode, &[HTTP_PROXY]);
    with_model_proxies(&mut w);
    run(&mut w, "config-changed");
    relate(
        &mut w,
        9,
        "http-proxy",
        "squid-forward-proxy",
        &["squid-forward-proxy/0"],
    );
    let (_, joined) = created_and_joined(&mut w, "http-proxy");
    let id = http_proxy_request(&joined);
    provider_app_data(&mut w, "http-proxy", bag(&[("responses", "[{not json")]));
    let out = w.run("http-proxy-relation-changed");
    assert_blocked_untouched(&out, PROXY_MESSAGE);

    add_secret(
        &mut w,
        "secret:proxy-user",
        &[("username", "proxyuser1"), ("password", "pr0xy-pass")],
    );
    provider_app_data(&mut w, "http-proxy", http_proxy_responses(&id));
    let out = run(&mut w, "http-proxy-relation-changed");
    assert_eq!(out.juju.unit_status, active(), "{}", out.report());
    assert_eq!(
        out.django_env()["HTTPS_PROXY"],
        "http://proxyuser1:pr0xy-pass@squid.internal:3129"
    );
}

const OIDC: &str = "oidc: {interface: oauth, optional: true, limit: 1}";
const OIDC_VARS: [(&str, &str); 8] = [
    ("DJANGO_OIDC_CLIENT_ID", "test-client-id"),
    ("DJANGO_OIDC_CLIENT_SECRET", "abc"),
    (
        "DJANGO_OIDC_API_BASE_URL",
        "https://traefik_ip/model_name-hydra",
    ),
    (
        "DJANGO_OIDC_AUTHORIZE_URL",
        "https://traefik_ip/model_name-hydra/oauth2/auth",
    ),
    (
        "DJANGO_OIDC_ACCESS_TOKEN_URL",
        "https://traefik_ip/model_name-hydra/oauth2/token",
    ),
    (
        "DJANGO_OIDC_USER_URL",
        "https://traefik_ip/model_name-hydra/userinfo",
    ),
    (
        "DJANGO_OIDC_CLIENT_KWARGS",
        r#"{"scope": "openid profile email phone"}"#,
    ),
    (
        "DJANGO_OIDC_JWKS_URL",
        "https://traefik_ip/model_name-hydra/.well-known/jwks.json",
    ),
];

/// Hydra's provider information (`OAUTH_RELATION_DATA_EXAMPLE`), without our client.
fn hydra_info() -> Databag {
    bag(&[
        (
            "authorization_endpoint",
            "https://traefik_ip/model_name-hydra/oauth2/auth",
        ),
        (
            "introspection_endpoint",
            "http://hydra.model_name.svc.cluster.local:4445/admin/oauth2/introspect",
        ),
        ("issuer_url", "https://traefik_ip/model_name-hydra"),
        (
            "jwks_endpoint",
            "https://traefik_ip/model_name-hydra/.well-known/jwks.json",
        ),
        ("scope", "openid profile email"),
        (
            "token_endpoint",
            "https://traefik_ip/model_name-hydra/oauth2/token",
        ),
        (
            "userinfo_endpoint",
            "https://traefik_ip/model_name-hydra/userinfo",
        ),
    ])
}

/// Hydra's data once it has created our client.
fn hydra_with_client() -> Databag {
    let mut data = hydra_info();
    data.insert("client_id".into(), "test-client-id".into());
    data.insert("client_secret_id".into(), "secret:hydra-client".into());
    data
}

/// The spec's OAuth example: `oidc` options set, ingress at `http://juju.test/`, no
/// `django-allowed-hosts`, Hydra's client secret granted to us.
fn oidc_world(mode: Mode, requires: &[&str]) -> World {
    let mut w = world(mode, requires);
    w.juju.config.remove("django-allowed-hosts");
    w.juju
        .config
        .insert("oidc-redirect-path".into(), "/oauth/callback".into());
    w.juju
        .config
        .insert("oidc-scopes".into(), "openid profile email phone".into());
    provider_app_data(
        &mut w,
        "ingress",
        bag(&[("ingress", r#"{"url": "http://juju.test/"}"#)]),
    );
    add_secret(&mut w, "secret:hydra-client", &[("secret", "abc")]);
    w
}

fn client_request() -> Databag {
    bag(&[
        ("redirect_uri", "http://juju.test/oauth/callback"),
        ("scope", "openid profile email phone"),
        ("grant_types", r#"["authorization_code"]"#),
        ("audience", "[]"),
        ("token_endpoint_auth_method", "client_secret_basic"),
    ])
}

fn oauth_worked_example(mode: Mode) {
    let mut w = oidc_world(mode, &[OIDC]);
    let out = run(&mut w, "config-changed");
    assert_eq!(out.juju.unit_status, active(), "{}", out.report());
    let env = out.django_env();
    assert_eq!(env["DJANGO_OIDC_REDIRECT_PATH"], "/oauth/callback");
    assert_eq!(env["DJANGO_OIDC_SCOPES"], "openid profile email phone");
    assert_eq!(env["DJANGO_BASE_URL"], "http://juju.test/");
    assert_eq!(env["DJANGO_ALLOWED_HOSTS"], r#"["juju.test"]"#);

    relate(&mut w, 11, "oidc", "hydra", &["hydra/0"]);
    let (created, joined) = created_and_joined(&mut w, "oidc");
    assert_eq!(our_app_bag(&created, "oidc"), client_request());
    assert!(our_unit_bag(&created, "oidc").is_empty());
    assert!(created.ops().is_empty() && joined.ops().is_empty());

    // Provider information without our client: nothing happens yet.
    provider_app_data(&mut w, "oidc", hydra_info());
    let out = run(&mut w, "oidc-relation-changed");
    assert!(out.ops().is_empty());
    assert_eq!(out.juju.unit_status, active());

    provider_app_data(&mut w, "oidc", hydra_with_client());
    let before = current_env(&w);
    let out = run(&mut w, "oidc-relation-changed");
    assert_eq!(out.juju.unit_status, active(), "{}", out.report());
    assert_eq!(op_names(out.ops()), ["add-layer charm", "replan "], "R");
    assert_eq!(changes(&before, &out.django_env()), set(&OIDC_VARS));
    assert_eq!(our_app_bag(&out, "oidc"), client_request());

    let out = break_relation(&mut w, "oidc", &OIDC_VARS);
    assert_no_migration(&out);
    let env = out.django_env();
    assert_eq!(env["DJANGO_OIDC_REDIRECT_PATH"], "/oauth/callback");
    assert_eq!(env["DJANGO_OIDC_SCOPES"], "openid profile email phone");
}

fn oauth_malformed_then_fixed(mode: Mode) {
    let mut w = oidc_world(mode, &[OIDC]);
    run(&mut w, "config-changed");
    relate(&mut w, 11, "oidc", "hydra", &["hydra/0"]);
    run(&mut w, "oidc-relation-created");
    let mut broken = hydra_with_client();
    broken.insert("ca_chain".into(), "not a list".into());
    provider_app_data(&mut w, "oidc", broken);
    let out = w.run("oidc-relation-changed");
    assert_blocked_untouched(&out, "Invalid oauth relation data.");

    provider_app_data(&mut w, "oidc", hydra_with_client());
    let before = current_env(&w);
    let out = run(&mut w, "oidc-relation-changed");
    assert_eq!(out.juju.unit_status, active(), "{}", out.report());
    assert_eq!(changes(&before, &out.django_env()), set(&OIDC_VARS));
}

/// The spec's example of a bag with only `uris`: stored, but no reconcile; the
/// variables appear at the next reconcile.
fn mongodb_uris_alone_wait_for_the_next_reconcile(mode: Mode) {
    let mut w = running(mode, &[MONGODB]);
    relate(&mut w, 8, "mongodb", "mongodb-k8s", &["mongodb-k8s/0"]);
    provider_app_data(&mut w, "mongodb", bag(&[("uris", "mongodb://foobar/")]));
    let out = run(&mut w, "mongodb-relation-changed");
    assert!(out.ops().is_empty());
    assert_eq!(
        our_unit_bag(&out, "mongodb")["data"],
        r#"{"uris": "mongodb://foobar/"}"#
    );
    let before = current_env(&w);
    let out = run(&mut w, "config-changed");
    assert_eq!(
        changes(&before, &out.django_env()),
        set(&[
            ("MONGODB_DB_CONNECT_STRING", "mongodb://foobar/"),
            ("MONGODB_DB_SCHEME", "mongodb"),
            ("MONGODB_DB_NETLOC", "foobar"),
            ("MONGODB_DB_PATH", "/"),
            ("MONGODB_DB_PARAMS", ""),
            ("MONGODB_DB_QUERY", ""),
            ("MONGODB_DB_FRAGMENT", ""),
            ("MONGODB_DB_HOSTNAME", "foobar"),
            ("MONGODB_DB_NAME", ""),
        ])
    );
}

/// The machine flavour: every unit publishes `hostname` and `password`.
fn rabbitmq_machine_charm(mode: Mode) {
    let mut w = running(mode, &[RABBITMQ]);
    relate(
        &mut w,
        13,
        "rabbitmq",
        "rabbitmq-server",
        &["rabbitmq-server/1", "rabbitmq-server/0"],
    );
    run(&mut w, "rabbitmq-relation-joined");
    for (unit, host) in [
        ("rabbitmq-server/1", "10.0.0.2"),
        ("rabbitmq-server/0", "10.0.0.1"),
    ] {
        provider_unit_data(
            &mut w,
            "rabbitmq",
            unit,
            bag(&[("hostname", host), ("password", "pw")]),
        );
    }
    let out = run(&mut w, "rabbitmq-relation-changed");
    assert_forced_migration(&out);
    let env = out.django_env();
    assert_eq!(
        env["RABBITMQ_CONNECT_STRING"],
        "amqp://django-k8s:pw@10.0.0.1:5672/%2F"
    );
    assert_eq!(
        env["RABBITMQ_CONNECT_STRINGS"],
        "amqp://django-k8s:pw@10.0.0.1:5672/%2F,amqp://django-k8s:pw@10.0.0.2:5672/%2F"
    );
}

/// The reference's S3 example: attributes and a two-certificate chain.
fn s3_with_attributes_and_a_chain(mode: Mode) {
    let mut w = running(mode, &[S3]);
    relate(&mut w, 7, "s3", "s3-integrator", &["s3-integrator/0"]);
    let chain = r#"["-----BEGIN CERTIFICATE-----\nTHE FIRST LONG CERTIFICATE\n-----END CERTIFICATE-----", "-----BEGIN CERTIFICATE-----\nTHE SECOND LONG CERTIFICATE\n-----END CERTIFICATE-----"]"#;
    let attributes = r#"["header1:value1", "header2:value2"]"#;
    provider_app_data(
        &mut w,
        "s3",
        bag(&[
            ("access-key", "TESTINGACCESSKEY"),
            ("secret-key", "TESTINGSECRETKEY"),
            ("region", "us-west-1"),
            ("storage-class", "STANDARD"),
            ("bucket", "my-example-bucket"),
            ("endpoint", "https://s3.storagebucket.internal"),
            ("path", "uploads/"),
            ("s3-api-version", "2006-03-01"),
            ("s3-uri-style", "path"),
            ("tls-ca-chain", chain),
            ("attributes", attributes),
        ]),
    );
    let before = current_env(&w);
    let out = run(&mut w, "s3-relation-changed");
    assert_forced_migration(&out);
    assert_eq!(
        changes(&before, &out.django_env()),
        set(&[
            ("S3_ACCESS_KEY", "TESTINGACCESSKEY"),
            ("S3_SECRET_KEY", "TESTINGSECRETKEY"),
            ("S3_REGION", "us-west-1"),
            ("S3_STORAGE_CLASS", "STANDARD"),
            ("S3_BUCKET", "my-example-bucket"),
            ("S3_ENDPOINT", "https://s3.storagebucket.internal"),
            ("S3_PATH", "uploads/"),
            ("S3_API_VERSION", "2006-03-01"),
            ("S3_URI_STYLE", "path"),
            ("S3_ADDRESSING_STYLE", "path"),
            ("S3_ATTRIBUTES", attributes),
            ("S3_TLS_CA_CHAIN", chain),
        ])
    );
}

/// A non-leader writes nothing to its application bags, and finds its proxy as the only
/// response of the provider.
fn a_non_leader_writes_no_app_data(mode: Mode) {
    let mut w = oidc_world(
        mode,
        &[
            MYSQL, VALKEY, S3, RABBITMQ, TRACING, OPENFGA, OIDC, HTTP_PROXY,
        ],
    );
    w.juju.unit = "django-k8s/1".into();
    w.juju.leader = false;
    w.juju.relation_mut("secret-storage").unwrap().remote_units =
        [("django-k8s/0".to_string(), Databag::new())]
            .into_iter()
            .collect();
    let out = run(&mut w, "config-changed");
    assert_eq!(out.juju.unit_status, active(), "{}", out.report());
    assert_eq!(out.juju.app_status, None);
    let related = [
        (6, "mysql", "mysql-k8s"),
        (10, "valkey", "valkey"),
        (7, "s3", "s3-integrator"),
        (13, "rabbitmq", "rabbitmq-k8s"),
        (14, "tracing", "tempo"),
        (16, "openfga", "openfga-k8s"),
        (11, "oidc", "hydra"),
        (9, "http-proxy", "squid-forward-proxy"),
    ];
    for (id, endpoint, app) in related {
        relate(&mut w, id, endpoint, app, &[&format!("{app}/0")]);
        created_and_joined(&mut w, endpoint);
        let rel = w.juju.relation(endpoint).unwrap();
        assert!(rel.local_app_data.is_empty(), "{endpoint}");
        assert!(rel.local_unit_data.is_empty(), "{endpoint}");
    }
    provider_app_data(&mut w, "oidc", hydra_with_client());
    // Two responses: which is ours cannot be told.
    let response = |id: &str| {
        format!(
            r#"{{"requirer": "{id}", "status": "ready", "auth": "srcip", "http_proxy": "http://squid.internal:3128", "https_proxy": "http://squid.internal:3128"}}"#
        )
    };
    let two = format!(
        "[{}, {}]",
        response("8f2b7c1e-0000-4000-8000-000000000001"),
        response("8f2b7c1e-0000-4000-8000-000000000002")
    );
    provider_app_data(&mut w, "http-proxy", bag(&[("responses", &two)]));
    let out = w.run("http-proxy-relation-changed");
    assert_blocked_untouched(&out, PROXY_MESSAGE);
    assert_eq!(out.juju.app_status, None);
    let one = format!("[{}]", response("8f2b7c1e-0000-4000-8000-000000000001"));
    provider_app_data(&mut w, "http-proxy", bag(&[("responses", &one)]));
    let out = run(&mut w, "http-proxy-relation-changed");
    assert_eq!(out.juju.unit_status, active(), "{}", out.report());
    assert_eq!(
        out.django_env()["HTTP_PROXY"],
        "http://squid.internal:3128/"
    );
    for (_, endpoint, _) in related {
        assert!(
            out.juju
                .relation(endpoint)
                .unwrap()
                .local_app_data
                .is_empty(),
            "{endpoint}"
        );
    }

    // Tracing without an `otlp_http` receiver is simply not ready, on every unit.
    provider_app_data(
        &mut w,
        "tracing",
        bag(&[(
            "receivers",
            r#"[{"protocol": {"name": "otlp_grpc", "type": "grpc"}, "url": "http://test-ip:4317"}]"#,
        )]),
    );
    let out = run(&mut w, "tracing-relation-changed");
    assert_eq!(out.juju.unit_status, active(), "{}", out.report());
    assert!(!out.django_env().contains_key("OTEL_EXPORTER_OTLP_ENDPOINT"));
    provider_app_data(&mut w, "tracing", receivers("http://test-ip:4318"));
    let before = current_env(&w);
    let out = run(&mut w, "tracing-relation-changed");
    assert_eq!(changes(&before, &out.django_env()), set(&TRACING_VARS));
    assert!(our_app_bag(&out, "tracing").is_empty());
}

/// Row 3: required integrations without usable data, named in the spec's order
/// (valkey and http-proxy are never missing, whatever `optional` says).
fn missing_integrations_in_the_spec_order(mode: Mode) {
    let required = [
        "mongodb: {interface: mongodb_client, optional: false, limit: 1}",
        "oidc: {interface: oauth, limit: 1}",
        "smtp: {interface: smtp, optional: false, limit: 1}",
        "tracing: {interface: tracing, optional: false, limit: 1}",
        "saml: {interface: saml, optional: false, limit: 1}",
        "openfga: {interface: openfga, optional: false, limit: 1}",
        "s3: {interface: s3, optional: false, limit: 1}",
        "redis: {interface: redis, optional: false, limit: 1}",
        "rabbitmq: {interface: rabbitmq, optional: false, limit: 1}",
        "valkey: {interface: valkey_client, optional: false, limit: 1}",
        "http-proxy: {interface: http_proxy, optional: false, limit: 1}",
        "mysql: {interface: mysql_client, optional: false, limit: 1}",
    ];
    let mut w = oidc_world(mode, &required);
    w.juju.relations.retain(|r| r.endpoint != "postgresql");
    // A relation with incomplete data counts as missing.
    relate(&mut w, 13, "rabbitmq", "rabbitmq-k8s", &["rabbitmq-k8s/0"]);
    provider_app_data(&mut w, "rabbitmq", bag(&[("password", "Xy12")]));
    let out = run(&mut w, "config-changed");
    assert_eq!(
        out.juju.unit_status,
        blocked(
            "missing integrations: postgresql, mongodb, mysql, rabbitmq, redis, s3, openfga, saml, tracing, smtp, oauth"
        )
    );
    assert_eq!(op_names(out.ops()), [PENDING]);
}

/// The events of `DJANGO.md` 12 that reconcile only under a condition, with the
/// condition unmet: nothing happens (no Pebble call, no status).
fn conditional_events_with_their_condition_unmet(mode: Mode) {
    let mut w = running(mode, &[MYSQL, REDIS, S3, SAML, SMTP, OPENFGA, RABBITMQ]);
    let status_calls = |out: &Outcome| {
        out.calls()
            .iter()
            .filter(|c| c.tool == "status-set")
            .count()
    };

    // mysql: username and password arriving in different hooks.
    relate(&mut w, 6, "mysql", "mysql-k8s", &["mysql-k8s/0"]);
    provider_app_data(&mut w, "mysql", bag(&[("username", "app")]));
    let out = run(&mut w, "mysql-relation-changed");
    assert!(out.ops().is_empty() && status_calls(&out) == 0);
    provider_app_data(
        &mut w,
        "mysql",
        bag(&[("password", "s3cret"), ("username", "app")]),
    );
    let out = run(&mut w, "mysql-relation-changed");
    assert!(out.ops().is_empty() && status_calls(&out) == 0);
    // The endpoints complete the data: M.
    provider_app_data(&mut w, "mysql", mysql_provider("mysql-primary:3306"));
    let out = run(&mut w, "mysql-relation-changed");
    assert_forced_migration(&out);

    // redis: a change without a remote unit.
    relate(&mut w, 5, "redis", "redis-k8s", &[]);
    let out = run(&mut w, "redis-relation-changed");
    assert!(out.ops().is_empty() && status_calls(&out) == 0);

    // s3: only one of the keys.
    relate(&mut w, 7, "s3", "s3-integrator", &["s3-integrator/0"]);
    provider_app_data(&mut w, "s3", bag(&[("access-key", "AK"), ("bucket", "b")]));
    let out = run(&mut w, "s3-relation-changed");
    assert!(out.ops().is_empty() && status_calls(&out) == 0);
    // (Such a bag is invalid, and would block every later reconcile.)
    w.juju.relations.retain(|r| r.endpoint != "s3");

    // saml, smtp, openfga: nothing published yet.
    relate(
        &mut w,
        12,
        "saml",
        "saml-integrator",
        &["saml-integrator/0"],
    );
    relate(
        &mut w,
        15,
        "smtp",
        "smtp-integrator",
        &["smtp-integrator/0"],
    );
    relate(&mut w, 16, "openfga", "openfga-k8s", &["openfga-k8s/0"]);
    for endpoint in ["saml", "smtp", "openfga"] {
        let out = run(&mut w, &format!("{endpoint}-relation-changed"));
        assert!(
            out.ops().is_empty() && status_calls(&out) == 0,
            "{endpoint}"
        );
    }
    // openfga: departed does nothing even with data.
    provider_app_data(&mut w, "openfga", openfga_provider(("token", "test-token")));
    let out = run(&mut w, "openfga-relation-departed");
    assert!(out.ops().is_empty() && status_calls(&out) == 0);

    // rabbitmq: a password without a hostname is not usable; departed with usable
    // data is M.
    relate(&mut w, 13, "rabbitmq", "rabbitmq-k8s", &["rabbitmq-k8s/0"]);
    provider_app_data(&mut w, "rabbitmq", bag(&[("password", "Xy12")]));
    let out = run(&mut w, "rabbitmq-relation-changed");
    assert!(out.ops().is_empty() && status_calls(&out) == 0);
    provider_app_data(
        &mut w,
        "rabbitmq",
        bag(&[("hostname", RABBITMQ_HOST), ("password", "Xy12")]),
    );
    let out = run(&mut w, "rabbitmq-relation-departed");
    assert_forced_migration(&out);
}

/// The other SMTP examples: `none` values are left out; short values that are not
/// exactly `none` stay (`DJANGO.md` 17 item 4).
fn smtp_none_filter(mode: Mode) {
    let mut w = running(mode, &[SMTP]);
    relate(
        &mut w,
        15,
        "smtp",
        "smtp-integrator",
        &["smtp-integrator/0"],
    );
    provider_app_data(
        &mut w,
        "smtp",
        bag(&[
            ("auth_type", "none"),
            ("domain", "example.com"),
            ("host", "test-ip"),
            ("port", "1025"),
            ("skip_ssl_verify", "False"),
            ("transport_security", "none"),
        ]),
    );
    let before = current_env(&w);
    let out = run(&mut w, "smtp-relation-changed");
    assert_eq!(
        changes(&before, &out.django_env()),
        set(&[
            ("SMTP_HOST", "test-ip"),
            ("SMTP_PORT", "1025"),
            ("SMTP_DOMAIN", "example.com"),
            ("SMTP_SKIP_SSL_VERIFY", "False"),
        ])
    );
    provider_app_data(
        &mut w,
        "smtp",
        bag(&[
            ("host", "smtp.example.com"),
            ("port", "25"),
            ("user", "no"),
            ("password", "pw"),
            ("auth_type", "plain"),
            ("transport_security", "tls"),
            ("domain", "one"),
            ("skip_ssl_verify", "True"),
        ]),
    );
    let before = current_env(&w);
    let out = run(&mut w, "smtp-relation-changed");
    assert_eq!(
        changes(&before, &out.django_env()),
        set(&[
            ("SMTP_HOST", "smtp.example.com"),
            ("SMTP_PORT", "25"),
            ("SMTP_USER", "no"),
            ("SMTP_PASSWORD", "pw"),
            ("SMTP_AUTH_TYPE", "plain"),
            ("SMTP_TRANSPORT_SECURITY", "tls"),
            ("SMTP_DOMAIN", "one"),
            ("SMTP_SKIP_SSL_VERIFY", "True"),
        ])
    );
}

/// The client request follows the configuration and the ingress URL (with a path).
fn oauth_client_request_follows_config_and_ingress(mode: Mode) {
    let mut w = oidc_world(mode, &[OIDC]);
    relate(&mut w, 11, "oidc", "hydra", &["hydra/0"]);
    provider_app_data(&mut w, "oidc", hydra_with_client());
    run(&mut w, "config-changed");
    provider_app_data(
        &mut w,
        "ingress",
        bag(&[("ingress", r#"{"url": "http://juju.test/prod-blog"}"#)]),
    );
    w.juju
        .config
        .insert("oidc-scopes".into(), "openid email".into());
    w.juju
        .config
        .insert("oidc-redirect-path".into(), "callback".into());
    let out = run(&mut w, "config-changed");
    assert_eq!(out.juju.unit_status, active(), "{}", out.report());
    let ours = our_app_bag(&out, "oidc");
    assert_eq!(ours["redirect_uri"], "http://juju.test/prod-blog/callback");
    assert_eq!(ours["scope"], "openid email");
    let env = out.django_env();
    assert_eq!(
        env["DJANGO_OIDC_CLIENT_KWARGS"],
        r#"{"scope": "openid email"}"#
    );
    assert_eq!(env["DJANGO_BASE_URL"], "http://juju.test/prod-blog");
}

// ---------------------------------------------------------------------------------------
// 3. Statuses

fn oauth_client_not_created_then_ingress_missing(mode: Mode) {
    // Row 4: related, but Hydra has not created our client.
    let mut w = oidc_world(mode, &[OIDC]);
    let ingress = w.juju.relation("ingress").unwrap().clone();
    w.juju.relations.retain(|r| r.endpoint != "ingress");
    run(&mut w, "config-changed");
    relate(&mut w, 11, "oidc", "hydra", &["hydra/0"]);
    let out = run(&mut w, "oidc-relation-created");
    assert_eq!(
        our_app_bag(&out, "oidc")["redirect_uri"],
        "http://django-k8s.test-model:8000/oauth/callback",
        "before ingress, the Kubernetes service URL"
    );
    provider_app_data(&mut w, "oidc", hydra_info());
    let out = run(&mut w, "config-changed");
    assert_eq!(out.juju.unit_status, blocked("Please check hydra charm!"));
    assert_eq!(out.juju.app_status, blocked("Please check hydra charm!"));
    assert!(out.ops().is_empty(), "services are not stopped");

    // Row 5: the client exists, but there is no ingress to redirect to.
    provider_app_data(&mut w, "oidc", hydra_with_client());
    let out = run(&mut w, "oidc-relation-changed");
    let message = "Ingress relation is required for OIDC to work correctly!";
    assert_eq!(out.juju.unit_status, blocked(message));
    assert!(out.ops().is_empty(), "{:?}", op_names(out.ops()));
    assert_eq!(out.pebble.service_status("django"), ServiceStatus::Active);

    // Ingress arrives: Active, with the redirect URI following the ingress URL.
    w.juju.relations.push(ingress);
    let out = run(&mut w, "ingress-relation-changed");
    assert_eq!(out.juju.unit_status, active(), "{}", out.report());
    let env = out.django_env();
    assert_eq!(env["DJANGO_OIDC_CLIENT_SECRET"], "abc");
    assert_eq!(env["DJANGO_BASE_URL"], "http://juju.test/");
    assert_eq!(our_app_bag(&out, "oidc"), client_request());
}

fn two_oauth_endpoints_are_not_supported(mode: Mode) {
    let mut w = oidc_world(
        mode,
        &[OIDC, "google: {interface: oauth, optional: true, limit: 1}"],
    );
    let out = run(&mut w, "config-changed");
    assert_eq!(
        out.juju.unit_status,
        blocked("Multiple OAuth relations are not supported at the moment")
    );
    assert!(out.ops().is_empty());
    // No endpoint is active, so a new relation gets no client request either.
    relate(&mut w, 31, "oidc", "hydra", &["hydra/0"]);
    run(&mut w, "oidc-relation-created");
    assert!(w.juju.relation("oidc").unwrap().local_app_data.is_empty());
}

fn oauth_scopes_without_openid(mode: Mode) {
    let mut w = oidc_world(mode, &[OIDC]);
    run(&mut w, "config-changed");
    w.juju
        .config
        .insert("oidc-scopes".into(), "profile email".into());
    let out = run(&mut w, "config-changed");
    let message =
        "The 'openid' scope is required for OAuth integration, please add it to the scopes.";
    assert_eq!(out.juju.unit_status, blocked(message), "even unrelated");
    assert!(out.ops().is_empty());

    w.juju
        .config
        .insert("oidc-scopes".into(), "openid profile".into());
    let out = run(&mut w, "config-changed");
    assert_eq!(out.juju.unit_status, active());
    assert_eq!(out.django_env()["DJANGO_OIDC_SCOPES"], "openid profile");
}

/// Every integration declared, all with malformed data: the first in the spec's order
/// gives the status; fixing them one by one walks the whole order.
fn invalid_data_precedence(mode: Mode) {
    let mut w = oidc_world(
        mode,
        &[
            MYSQL, OPENFGA, RABBITMQ, REDIS, VALKEY, S3, SAML, SMTP, TRACING, OIDC, HTTP_PROXY,
        ],
    );
    let pg_secret = w.juju.secrets[0].revisions[0].clone();
    w.juju.secrets[0].revisions[0] = bag(&[("uris", "postgresql://u:p@host:port/db")]);
    relate(&mut w, 6, "mysql", "mysql-k8s", &["mysql-k8s/0"]);
    provider_app_data(&mut w, "mysql", mysql_provider("mysql-primary:33o6"));
    relate(&mut w, 16, "openfga", "openfga-k8s", &["openfga-k8s/0"]);
    provider_app_data(
        &mut w,
        "openfga",
        openfga_provider(("token_secret_id", "secret:gone")),
    );
    relate(&mut w, 13, "rabbitmq", "rabbitmq-k8s", &["rabbitmq-k8s/0"]);
    provider_app_data(
        &mut w,
        "rabbitmq",
        bag(&[("hostname", RABBITMQ_HOST), ("password", "Xy/12")]),
    );
    relate(&mut w, 5, "redis", "redis-k8s", &["redis-k8s/0"]);
    provider_unit_data(
        &mut w,
        "redis",
        "redis-k8s/0",
        bag(&[("hostname", "10.1.2.3"), ("port", "notaport")]),
    );
    relate(&mut w, 10, "valkey", "valkey", &["valkey/0"]);
    provider_app_data(
        &mut w,
        "valkey",
        bag(&[("version", "v1"), ("requests", "{")]),
    );
    relate(&mut w, 7, "s3", "s3-integrator", &["s3-integrator/0"]);
    provider_app_data(&mut w, "s3", bag(&[("bucket", "b")]));
    relate(
        &mut w,
        12,
        "saml",
        "saml-integrator",
        &["saml-integrator/0"],
    );
    provider_app_data(&mut w, "saml", saml_provider(None));
    relate(
        &mut w,
        15,
        "smtp",
        "smtp-integrator",
        &["smtp-integrator/0"],
    );
    provider_app_data(&mut w, "smtp", bag(&[("host", "mail.example.org")]));
    relate(&mut w, 14, "tracing", "tempo", &["tempo/0"]);
    provider_app_data(&mut w, "tracing", receivers("not_a_url"));
    relate(&mut w, 11, "oidc", "hydra", &["hydra/0"]);
    let mut oidc = hydra_with_client();
    oidc.shift_remove("issuer_url");
    provider_app_data(&mut w, "oidc", oidc);
    relate(
        &mut w,
        9,
        "http-proxy",
        "squid-forward-proxy",
        &["squid-forward-proxy/0"],
    );
    provider_app_data(&mut w, "http-proxy", bag(&[("responses", "[{not json")]));

    let order = [
        ("postgresql", "Invalid postgresql relation data."),
        ("mysql", "Invalid mysql relation data."),
        ("openfga", "Invalid openfga relation data."),
        ("rabbitmq", "Invalid rabbitmq relation data."),
        ("redis", "Invalid redis relation data."),
        ("valkey", "Invalid valkey relation data."),
        ("s3", "Invalid s3 relation data."),
        ("saml", "Invalid saml relation data."),
        ("smtp", "Invalid smtp relation data."),
        ("tracing", "Invalid tracing relation data."),
        ("oidc", "Invalid oauth relation data."),
        ("http-proxy", PROXY_MESSAGE),
    ];
    for (endpoint, message) in order {
        let out = w.run("config-changed");
        assert_blocked_untouched(&out, message);
        if endpoint == "postgresql" {
            w.juju.secrets[0].revisions[0] = pg_secret.clone();
        } else {
            w.juju.relations.retain(|r| r.endpoint != endpoint);
        }
    }
    let out = run(&mut w, "config-changed");
    assert_eq!(out.juju.unit_status, active(), "{}", out.report());
}

/// Invalid data (row 0e) comes before missing integrations (row 3), which come before
/// the OAuth statuses (row 4).
fn invalid_data_before_missing_before_oauth(mode: Mode) {
    let mut w = oidc_world(mode, &[REDIS_REQUIRED, S3, OIDC]);
    relate(&mut w, 7, "s3", "s3-integrator", &["s3-integrator/0"]);
    provider_app_data(&mut w, "s3", bag(&[("bucket", "b")]));
    relate(&mut w, 11, "oidc", "hydra", &["hydra/0"]);
    provider_app_data(&mut w, "oidc", hydra_info());
    let out = w.run("config-changed");
    assert_blocked_untouched(&out, "Invalid s3 relation data.");

    w.juju.relations.retain(|r| r.endpoint != "s3");
    let out = run(&mut w, "config-changed");
    assert_eq!(out.juju.unit_status, blocked("missing integrations: redis"));

    relate(&mut w, 5, "redis", "redis-k8s", &["redis-k8s/0"]);
    provider_unit_data(
        &mut w,
        "redis",
        "redis-k8s/0",
        bag(&[("hostname", "10.1.2.3"), ("port", "6379")]),
    );
    let out = run(&mut w, "config-changed");
    assert_eq!(out.juju.unit_status, blocked("Please check hydra charm!"));
}

in_both_modes!(
    required_integrations_arrive_one_by_one,
    mysql_worked_example,
    mysql_malformed_then_fixed,
    mongodb_replica_set,
    mongodb_malformed_then_fixed,
    mongodb_uris_alone_wait_for_the_next_reconcile,
    redis_worked_example,
    redis_malformed_then_fixed,
    valkey_worked_example,
    valkey_malformed_then_fixed,
    s3_worked_example,
    s3_malformed_then_fixed,
    s3_with_attributes_and_a_chain,
    saml_worked_example,
    saml_malformed_then_fixed,
    rabbitmq_worked_example,
    rabbitmq_malformed_then_fixed,
    rabbitmq_machine_charm,
    tracing_worked_example,
    tracing_malformed_then_fixed,
    smtp_worked_example,
    smtp_malformed_then_fixed,
    openfga_worked_example,
    openfga_malformed_then_fixed,
    http_proxy_worked_example,
    http_proxy_malformed_then_fixed,
    oauth_worked_example,
    oauth_malformed_then_fixed,
    a_non_leader_writes_no_app_data,
    missing_integrations_in_the_spec_order,
    conditional_events_with_their_condition_unmet,
    smtp_none_filter,
    oauth_client_request_follows_config_and_ingress,
    oauth_client_not_created_then_ingress_missing,
    two_oauth_endpoints_are_not_supported,
    oauth_scopes_without_openid,
    invalid_data_precedence,
    invalid_data_before_missing_before_oauth,
);
