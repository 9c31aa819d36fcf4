//! The database integrations (`postgresql`, `mysql`, `mongodb`; `src/integrations/databases.rs`):
//! our request on `-created`, the provider's data and user secret turned into
//! `<NAME>_DB_*` variables, the forced migration, and the variables leaving on `-broken`.

use django_charm::juju::tools::Databag;
use django_charm::sim::pebble::ServiceStatus;

use super::*;

const REQUESTED_SECRETS: &str = r#"["username", "password", "tls", "tls-ca", "uris", "read-only-uris", "entity-name", "entity-password"]"#;
const PROVIDED_SECRETS: &str = r#"["mtls-cert"]"#;

pub(super) const MYSQL: &str = "mysql: {interface: mysql_client, optional: true, limit: 1}";
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

pub(super) fn mysql_provider(endpoints: &str) -> Databag {
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

fn postgresql_relation_broken_removes_its_variables_in_the_same_hook(mode: Mode) {
    let mut sim = world(mode);
    run(&mut sim, "config-changed");
    let out = run(&mut sim, "postgresql-relation-broken");
    assert_eq!(
        out.juju.unit_status,
        blocked("missing integrations: postgresql")
    );
    assert_eq!(out.pebble.service_status("django"), ServiceStatus::Inactive);
    assert_eq!(
        out.pebble
            .file_text("/tmp/django/state/database-migration-status"),
        Some("PENDING")
    );
    // With only optional databases the message is the database requirement.
    let mut sim = world(mode);
    sim.charmcraft = Some(django_charm::sim::CHARMCRAFT_YAML.replace(
        "    interface: postgresql_client\n    optional: false",
        "    interface: postgresql_client\n    optional: true",
    ));
    run(&mut sim, "config-changed");
    let out = run(&mut sim, "postgresql-relation-broken");
    assert_eq!(
        out.juju.unit_status,
        blocked("Django requires a database integration to work")
    );
    assert!(!out.django_env().is_empty(), "a layer added earlier stays");
}

in_both_modes!(
    mysql_worked_example,
    mysql_malformed_then_fixed,
    mongodb_replica_set,
    mongodb_malformed_then_fixed,
    mongodb_uris_alone_wait_for_the_next_reconcile,
    postgresql_relation_broken_removes_its_variables_in_the_same_hook,
);
