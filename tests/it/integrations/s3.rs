//! The `s3` integration: our bucket request on `-joined` and the provider's keys,
//! attributes and CA chain as `S3_*`.

use django_charm::juju::tools::Databag;

use super::*;

pub(super) const S3: &str = "s3: {interface: s3, optional: true, limit: 1}";
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

in_both_modes!(
    s3_worked_example,
    s3_malformed_then_fixed,
    s3_with_attributes_and_a_chain,
);
