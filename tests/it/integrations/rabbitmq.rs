//! The `rabbitmq` integration: our username and vhost on `-joined`, and the broker's
//! hostname and password (from the app bag, or every unit's on machine charms) as
//! `RABBITMQ_*`.

use super::*;

pub(super) const RABBITMQ: &str = "rabbitmq: {interface: rabbitmq, optional: true, limit: 1}";
pub(super) const RABBITMQ_HOST: &str = "rabbitmq-k8s-endpoints.test-model.svc.cluster.local";
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

in_both_modes!(
    rabbitmq_worked_example,
    rabbitmq_malformed_then_fixed,
    rabbitmq_machine_charm,
);
