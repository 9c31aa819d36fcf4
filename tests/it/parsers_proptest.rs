//! Property test: random provider data on every integration never crashes a hook, and
//! when the data is rejected the status names the relation it came from.

use django_charm::juju::tools::{Databag, StatusKind};
use django_charm::sim::juju::{RelationState, SecretState, bag};
use django_charm::sim::{CHARMCRAFT_YAML, EXAMPLE, Simulation};
use proptest::prelude::*;

/// Endpoint, interface, and the status name of its invalid data.
const INTEGRATIONS: [(&str, &str, &str); 13] = [
    (
        "postgresql",
        "postgresql_client",
        "Invalid postgresql relation data.",
    ),
    ("mysql", "mysql_client", "Invalid mysql relation data."),
    (
        "mongodb",
        "mongodb_client",
        "Invalid mongodb relation data.",
    ),
    ("redis", "redis", "Invalid redis relation data."),
    ("valkey", "valkey_client", "Invalid valkey relation data."),
    ("s3", "s3", "Invalid s3 relation data."),
    ("saml", "saml", "Invalid saml relation data."),
    ("rabbitmq", "rabbitmq", "Invalid rabbitmq relation data."),
    ("tracing", "tracing", "Invalid tracing relation data."),
    ("smtp", "smtp", "Invalid smtp relation data."),
    ("openfga", "openfga", "Invalid openfga relation data."),
    ("oidc", "oauth", "Invalid oauth relation data."),
    (
        "http-proxy",
        "http_proxy",
        "http-proxy relation data is either unavailable, invalid or not usable.",
    ),
];

/// Keys the providers use, so random bags hit the parsers' interesting paths.
const KEYS: &[&str] = &[
    "uris",
    "endpoints",
    "username",
    "password",
    "database",
    "secret-user",
    "hostname",
    "port",
    "leader-host",
    "requests",
    "version",
    "access-key",
    "secret-key",
    "bucket",
    "region",
    "tls-ca-chain",
    "attributes",
    "s3-uri-style",
    "entity_id",
    "metadata_url",
    "x509certs",
    "single_sign_on_service_redirect_url",
    "single_sign_on_service_redirect_binding",
    "receivers",
    "host",
    "auth_type",
    "transport_security",
    "skip_ssl_verify",
    "password_id",
    "user",
    "domain",
    "recipients",
    "grpc_api_url",
    "http_api_url",
    "store_id",
    "token_secret_id",
    "client_id",
    "client_secret_id",
    "issuer_url",
    "authorization_endpoint",
    "token_endpoint",
    "introspection_endpoint",
    "userinfo_endpoint",
    "jwks_endpoint",
    "scope",
    "responses",
    "ingress",
    "data",
];

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,12}",
        "[a-z0-9.:/@%\\[\\]-]{0,30}",
        Just("null".to_string()),
        Just("secret:present".to_string()),
        Just("secret:absent".to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
        Just("true".to_string()),
        Just("65536".to_string()),
        "(http|https|redis|postgresql|mongodb|amqp|ftp)://[a-zA-Z0-9.:@\\[\\]%,/-]{0,24}",
        "\\[\\{\"[a-z_-]{1,10}\": (\"[a-z:/.0-9]{0,12}\"|[0-9]{1,3}|null|\\[\\]|\\{\\})\\}\\]",
        "\\{\"(url|protocol|name|type|requirer|status)\": \"[a-z:/.0-9_]{0,16}\"\\}",
    ]
}

/// A random provider bag (not the fixture `bag`, which writes a given one).
fn random_bag() -> impl Strategy<Value = Databag> {
    proptest::collection::vec((proptest::sample::select(KEYS), value()), 0..8)
        .prop_map(|pairs| pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

fn charmcraft() -> String {
    let mut requires = String::new();
    for (endpoint, interface, _) in INTEGRATIONS {
        if endpoint != "postgresql" {
            requires.push_str(&format!(
                "  {endpoint}:\n    interface: {interface}\n    optional: true\n    limit: 1\n"
            ));
        }
    }
    CHARMCRAFT_YAML.replacen("requires:\n", &format!("requires:\n{requires}"), 1)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_provider_data_never_crashes_and_errors_name_their_relation(
        which in 0..INTEGRATIONS.len(),
        app_bag in random_bag(),
        unit_bag in random_bag(),
    ) {
        let (endpoint, _, invalid) = INTEGRATIONS[which];
        let mut sim = Simulation::from_yaml(EXAMPLE).unwrap();
        sim.charmcraft = Some(charmcraft());
        sim.juju.secrets.push(SecretState::new(
            "secret:present",
            bag(&[("password", "pw"), ("username", "u"), ("token", "t"), ("secret", "s")]),
        ));
        if endpoint == "postgresql" {
            let pg = sim.juju.relation_mut("postgresql").unwrap();
            pg.remote_app_data = app_bag;
            pg.remote_units = [("postgresql-k8s/0".to_string(), unit_bag)].into_iter().collect();
        } else {
            sim.juju.relations.push(
                RelationState::new(40 + which as u64, endpoint, "provider")
                    .remote_unit("provider/0", unit_bag)
                    .remote_app_data(app_bag),
            );
        }
        for event in ["config-changed".to_string(), format!("{endpoint}-relation-changed")] {
            let out = sim.run(&event).unwrap();
            prop_assert_eq!(out.exit_code, 0, "{}: {}", event, out.report());
            if let Some(status) = &out.juju.unit_status
                && status.kind == StatusKind::Blocked
                && (status.message.starts_with("Invalid ") || status.message.starts_with("http-proxy"))
                && !status.message.contains("ingress")
            {
                prop_assert_eq!(status.message.as_str(), invalid, "{}", event);
            }
        }
    }
}
