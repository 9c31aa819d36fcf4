//! The `openfga` integration: our store name request, and the store, token (inline or
//! from a secret) and API URLs as `FGA_*`.

use django_charm::juju::tools::Databag;

use super::*;

pub(super) const OPENFGA: &str = "openfga: {interface: openfga, optional: true, limit: 1}";
const OPENFGA_VARS: [(&str, &str); 4] = [
    ("FGA_STORE_ID", "test-store-id"),
    ("FGA_TOKEN", "test-token"),
    ("FGA_GRPC_API_URL", "localhost:8081"),
    ("FGA_HTTP_API_URL", "localhost:8080"),
];

pub(super) fn openfga_provider(token: (&str, &str)) -> Databag {
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

in_both_modes!(openfga_worked_example, openfga_malformed_then_fixed,);
