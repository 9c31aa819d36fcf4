//! The `saml` integration: the provider's metadata and first signing certificate as
//! `SAML_*`; no certificate is invalid data.

use django_charm::juju::tools::Databag;

use super::*;

pub(super) const SAML: &str = "saml: {interface: saml, optional: true, limit: 1}";
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

pub(super) fn saml_provider(certificates: Option<&str>) -> Databag {
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

in_both_modes!(saml_worked_example, saml_malformed_then_fixed,);
