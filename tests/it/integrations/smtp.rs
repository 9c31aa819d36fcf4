//! The `smtp` integration: the provider's settings and password secret as `SMTP_*`,
//! `none` values left out.

use django_charm::juju::tools::Databag;

use super::*;

pub(super) const SMTP: &str = "smtp: {interface: smtp, optional: true, limit: 1}";
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

in_both_modes!(
    smtp_worked_example,
    smtp_malformed_then_fixed,
    smtp_none_filter,
);
