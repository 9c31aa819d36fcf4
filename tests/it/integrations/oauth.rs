//! The `oauth` integration (an endpoint named `oidc`): our client request following the
//! configuration and the ingress URL, Hydra's client as `DJANGO_OIDC_*`, and the OAuth
//! statuses (client not created, ingress missing, two endpoints, no `openid` scope).

use django_charm::juju::tools::Databag;
use django_charm::sim::pebble::ServiceStatus;

use super::*;

pub(super) const OIDC: &str = "oidc: {interface: oauth, optional: true, limit: 1}";
const OIDC_VARS: [(&str, &str); 8] = [
    ("DJANGO_OIDC_CLIENT_ID", "test-client-id"),
    ("DJANGO_OIDC_CLIENT_SECRET", "abc"),
    (
        "DJANGO_OIDC_API_BASE_URL",
        "https://traefik_ip/model_name-hydra",
    ),
    (
        "DJANGO_OIDC_AUTHORIZE_URL",
        "https://traefik_ip/model_name-hydra/oauth2/auth",
    ),
    (
        "DJANGO_OIDC_ACCESS_TOKEN_URL",
        "https://traefik_ip/model_name-hydra/oauth2/token",
    ),
    (
        "DJANGO_OIDC_USER_URL",
        "https://traefik_ip/model_name-hydra/userinfo",
    ),
    (
        "DJANGO_OIDC_CLIENT_KWARGS",
        r#"{"scope": "openid profile email phone"}"#,
    ),
    (
        "DJANGO_OIDC_JWKS_URL",
        "https://traefik_ip/model_name-hydra/.well-known/jwks.json",
    ),
];

/// Hydra's provider information (`OAUTH_RELATION_DATA_EXAMPLE`), without our client.
pub(super) fn hydra_info() -> Databag {
    bag(&[
        (
            "authorization_endpoint",
            "https://traefik_ip/model_name-hydra/oauth2/auth",
        ),
        (
            "introspection_endpoint",
            "http://hydra.model_name.svc.cluster.local:4445/admin/oauth2/introspect",
        ),
        ("issuer_url", "https://traefik_ip/model_name-hydra"),
        (
            "jwks_endpoint",
            "https://traefik_ip/model_name-hydra/.well-known/jwks.json",
        ),
        ("scope", "openid profile email"),
        (
            "token_endpoint",
            "https://traefik_ip/model_name-hydra/oauth2/token",
        ),
        (
            "userinfo_endpoint",
            "https://traefik_ip/model_name-hydra/userinfo",
        ),
    ])
}

/// Hydra's data once it has created our client.
pub(super) fn hydra_with_client() -> Databag {
    let mut data = hydra_info();
    data.insert("client_id".into(), "test-client-id".into());
    data.insert("client_secret_id".into(), "secret:hydra-client".into());
    data
}

/// The spec's OAuth example: `oidc` options set, ingress at `http://juju.test/`, no
/// `django-allowed-hosts`, Hydra's client secret granted to us.
pub(super) fn oidc_world(mode: Mode, requires: &[&str]) -> World {
    let mut w = world_requiring(mode, requires);
    w.juju.config.remove("django-allowed-hosts");
    w.juju
        .config
        .insert("oidc-redirect-path".into(), "/oauth/callback".into());
    w.juju
        .config
        .insert("oidc-scopes".into(), "openid profile email phone".into());
    provider_app_data(
        &mut w,
        "ingress",
        bag(&[("ingress", r#"{"url": "http://juju.test/"}"#)]),
    );
    add_secret(&mut w, "secret:hydra-client", &[("secret", "abc")]);
    w
}

fn client_request() -> Databag {
    bag(&[
        ("redirect_uri", "http://juju.test/oauth/callback"),
        ("scope", "openid profile email phone"),
        ("grant_types", r#"["authorization_code"]"#),
        ("audience", "[]"),
        ("token_endpoint_auth_method", "client_secret_basic"),
    ])
}

fn oauth_worked_example(mode: Mode) {
    let mut w = oidc_world(mode, &[OIDC]);
    let out = run(&mut w, "config-changed");
    assert_eq!(out.juju.unit_status, active(), "{}", out.report());
    let env = out.django_env();
    assert_eq!(env["DJANGO_OIDC_REDIRECT_PATH"], "/oauth/callback");
    assert_eq!(env["DJANGO_OIDC_SCOPES"], "openid profile email phone");
    assert_eq!(env["DJANGO_BASE_URL"], "http://juju.test/");
    assert_eq!(env["DJANGO_ALLOWED_HOSTS"], r#"["juju.test"]"#);

    relate(&mut w, 11, "oidc", "hydra", &["hydra/0"]);
    let (created, joined) = created_and_joined(&mut w, "oidc");
    assert_eq!(our_app_bag(&created, "oidc"), client_request());
    assert!(our_unit_bag(&created, "oidc").is_empty());
    assert!(created.ops().is_empty() && joined.ops().is_empty());

    // Provider information without our client: nothing happens yet.
    provider_app_data(&mut w, "oidc", hydra_info());
    let out = run(&mut w, "oidc-relation-changed");
    assert!(out.ops().is_empty());
    assert_eq!(out.juju.unit_status, active());

    provider_app_data(&mut w, "oidc", hydra_with_client());
    let before = current_env(&w);
    let out = run(&mut w, "oidc-relation-changed");
    assert_eq!(out.juju.unit_status, active(), "{}", out.report());
    assert_eq!(op_names(out.ops()), ["add-layer charm", "replan "], "R");
    assert_eq!(changes(&before, &out.django_env()), set(&OIDC_VARS));
    assert_eq!(our_app_bag(&out, "oidc"), client_request());

    let out = break_relation(&mut w, "oidc", &OIDC_VARS);
    assert_no_migration(&out);
    let env = out.django_env();
    assert_eq!(env["DJANGO_OIDC_REDIRECT_PATH"], "/oauth/callback");
    assert_eq!(env["DJANGO_OIDC_SCOPES"], "openid profile email phone");
}

fn oauth_malformed_then_fixed(mode: Mode) {
    let mut w = oidc_world(mode, &[OIDC]);
    run(&mut w, "config-changed");
    relate(&mut w, 11, "oidc", "hydra", &["hydra/0"]);
    run(&mut w, "oidc-relation-created");
    let mut broken = hydra_with_client();
    broken.insert("ca_chain".into(), "not a list".into());
    provider_app_data(&mut w, "oidc", broken);
    let out = w.run("oidc-relation-changed");
    assert_blocked_untouched(&out, "Invalid oauth relation data.");

    provider_app_data(&mut w, "oidc", hydra_with_client());
    let before = current_env(&w);
    let out = run(&mut w, "oidc-relation-changed");
    assert_eq!(out.juju.unit_status, active(), "{}", out.report());
    assert_eq!(changes(&before, &out.django_env()), set(&OIDC_VARS));
}

/// The client request follows the configuration and the ingress URL (with a path).
fn oauth_client_request_follows_config_and_ingress(mode: Mode) {
    let mut w = oidc_world(mode, &[OIDC]);
    relate(&mut w, 11, "oidc", "hydra", &["hydra/0"]);
    provider_app_data(&mut w, "oidc", hydra_with_client());
    run(&mut w, "config-changed");
    provider_app_data(
        &mut w,
        "ingress",
        bag(&[("ingress", r#"{"url": "http://juju.test/prod-blog"}"#)]),
    );
    w.juju
        .config
        .insert("oidc-scopes".into(), "openid email".into());
    w.juju
        .config
        .insert("oidc-redirect-path".into(), "callback".into());
    let out = run(&mut w, "config-changed");
    assert_eq!(out.juju.unit_status, active(), "{}", out.report());
    let ours = our_app_bag(&out, "oidc");
    assert_eq!(ours["redirect_uri"], "http://juju.test/prod-blog/callback");
    assert_eq!(ours["scope"], "openid email");
    let env = out.django_env();
    assert_eq!(
        env["DJANGO_OIDC_CLIENT_KWARGS"],
        r#"{"scope": "openid email"}"#
    );
    assert_eq!(env["DJANGO_BASE_URL"], "http://juju.test/prod-blog");
}

fn oauth_client_not_created_then_ingress_missing(mode: Mode) {
    // Row 4: related, but Hydra has not created our client.
    let mut w = oidc_world(mode, &[OIDC]);
    let ingress = w.juju.relation("ingress").unwrap().clone();
    w.juju.relations.retain(|r| r.endpoint != "ingress");
    run(&mut w, "config-changed");
    relate(&mut w, 11, "oidc", "hydra", &["hydra/0"]);
    let out = run(&mut w, "oidc-relation-created");
    assert_eq!(
        our_app_bag(&out, "oidc")["redirect_uri"],
        "http://django-k8s.test-model:8000/oauth/callback",
        "before ingress, the Kubernetes service URL"
    );
    provider_app_data(&mut w, "oidc", hydra_info());
    let out = run(&mut w, "config-changed");
    assert_eq!(out.juju.unit_status, blocked("Please check hydra charm!"));
    assert_eq!(out.juju.app_status, blocked("Please check hydra charm!"));
    assert!(out.ops().is_empty(), "services are not stopped");

    // Row 5: the client exists, but there is no ingress to redirect to.
    provider_app_data(&mut w, "oidc", hydra_with_client());
    let out = run(&mut w, "oidc-relation-changed");
    let message = "Ingress relation is required for OIDC to work correctly!";
    assert_eq!(out.juju.unit_status, blocked(message));
    assert!(out.ops().is_empty(), "{:?}", op_names(out.ops()));
    assert_eq!(out.pebble.service_status("django"), ServiceStatus::Active);

    // Ingress arrives: Active, with the redirect URI following the ingress URL.
    w.juju.relations.push(ingress);
    let out = run(&mut w, "ingress-relation-changed");
    assert_eq!(out.juju.unit_status, active(), "{}", out.report());
    let env = out.django_env();
    assert_eq!(env["DJANGO_OIDC_CLIENT_SECRET"], "abc");
    assert_eq!(env["DJANGO_BASE_URL"], "http://juju.test/");
    assert_eq!(our_app_bag(&out, "oidc"), client_request());
}

fn two_oauth_endpoints_are_not_supported(mode: Mode) {
    let mut w = oidc_world(
        mode,
        &[OIDC, "google: {interface: oauth, optional: true, limit: 1}"],
    );
    let out = run(&mut w, "config-changed");
    assert_eq!(
        out.juju.unit_status,
        blocked("Multiple OAuth relations are not supported at the moment")
    );
    assert!(out.ops().is_empty());
    // No endpoint is active, so a new relation gets no client request either.
    relate(&mut w, 31, "oidc", "hydra", &["hydra/0"]);
    run(&mut w, "oidc-relation-created");
    assert!(w.juju.relation("oidc").unwrap().local_app_data.is_empty());
}

fn oauth_scopes_without_openid(mode: Mode) {
    let mut w = oidc_world(mode, &[OIDC]);
    run(&mut w, "config-changed");
    w.juju
        .config
        .insert("oidc-scopes".into(), "profile email".into());
    let out = run(&mut w, "config-changed");
    let message =
        "The 'openid' scope is required for OAuth integration, please add it to the scopes.";
    assert_eq!(out.juju.unit_status, blocked(message), "even unrelated");
    assert!(out.ops().is_empty());

    w.juju
        .config
        .insert("oidc-scopes".into(), "openid profile".into());
    let out = run(&mut w, "config-changed");
    assert_eq!(out.juju.unit_status, active());
    assert_eq!(out.django_env()["DJANGO_OIDC_SCOPES"], "openid profile");
}

in_both_modes!(
    oauth_worked_example,
    oauth_malformed_then_fixed,
    oauth_client_request_follows_config_and_ingress,
    oauth_client_not_created_then_ingress_missing,
    two_oauth_endpoints_are_not_supported,
    oauth_scopes_without_openid,
);
