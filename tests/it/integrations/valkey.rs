//! The `valkey` integration: our request (with its salt and id) on `-created`, the
//! provider's response and user secret as `VALKEY_*`, and TLS refused as invalid data.

use django_charm::integrations::valkey;

use super::*;

pub(super) const VALKEY: &str = "valkey: {interface: valkey_client, optional: true, limit: 1}";
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

in_both_modes!(valkey_worked_example, valkey_malformed_then_fixed,);
