//! Several integrations at once: a non-leader writes no application data, and the
//! events that reconcile only under a condition do nothing while it is unmet.

use django_charm::juju::tools::Databag;

use super::databases::{MYSQL, mysql_provider};
use super::http_proxy::{HTTP_PROXY, PROXY_MESSAGE};
use super::oauth::{OIDC, hydra_with_client, oidc_world};
use super::openfga::{OPENFGA, openfga_provider};
use super::rabbitmq::{RABBITMQ, RABBITMQ_HOST};
use super::redis::REDIS;
use super::s3::S3;
use super::saml::SAML;
use super::smtp::SMTP;
use super::tracing::{TRACING, TRACING_VARS, receivers};
use super::valkey::VALKEY;
use super::*;

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

in_both_modes!(
    a_non_leader_writes_no_app_data,
    conditional_events_with_their_condition_unmet,
);
