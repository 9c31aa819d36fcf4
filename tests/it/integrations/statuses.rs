//! Statuses across integrations (`DJANGO.md` status table): required integrations
//! arriving and leaving, missing ones named in the spec's order, and invalid data before
//! missing integrations before the OAuth statuses.

use django_charm::sim::pebble::ServiceStatus;

use super::databases::{MYSQL, mysql_provider};
use super::http_proxy::{HTTP_PROXY, PROXY_MESSAGE};
use super::oauth::{OIDC, hydra_info, hydra_with_client, oidc_world};
use super::openfga::{OPENFGA, openfga_provider};
use super::rabbitmq::{RABBITMQ, RABBITMQ_HOST};
use super::redis::REDIS;
use super::s3::S3;
use super::saml::{SAML, saml_provider};
use super::smtp::SMTP;
use super::tracing::{TRACING, receivers};
use super::valkey::VALKEY;
use super::*;

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
    missing_integrations_in_the_spec_order,
    invalid_data_precedence,
    invalid_data_before_missing_before_oauth,
);
