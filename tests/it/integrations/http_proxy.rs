//! The `http-proxy` integration: our request, the provider's response and user secret
//! as the proxy variables, and the model's proxies before and after it.

use django_charm::juju::tools::Databag;

use super::*;

pub(super) const HTTP_PROXY: &str = "http-proxy: {interface: http_proxy, limit: 1}";

/// The model's proxies in the hook environment.
fn with_model_proxies(w: &mut World) {
    w.env.insert(
        "JUJU_CHARM_HTTP_PROXY".into(),
        "http://model-proxy.internal:3128".into(),
    );
    w.env.insert(
        "JUJU_CHARM_HTTPS_PROXY".into(),
        "http://model-proxy.internal:3129".into(),
    );
}

/// Our request after `http-proxy-relation-joined`, checked byte for byte; its id.
fn http_proxy_request(out: &Outcome) -> String {
    let ours = our_app_bag(out, "http-proxy");
    assert_eq!(ours.len(), 1, "{ours:?}");
    let requests: serde_json::Value = serde_json::from_str(&ours["requests"]).unwrap();
    let id = requests[0]["requirer"].as_str().unwrap().to_string();
    let b = id.as_bytes();
    assert_eq!(b.len(), 36, "{id}");
    assert!(
        [8, 13, 18, 23].iter().all(|i| b[*i] == b'-')
            && b[14] == b'4'
            && b"89ab".contains(&b[19])
            && id
                .bytes()
                .all(|c| c == b'-' || c.is_ascii_digit() || (b'a'..=b'f').contains(&c)),
        "a lower-case v4 UUID: {id}"
    );
    assert_eq!(
        ours["requests"],
        format!(r#"[{{"auth": [], "domains": [], "requirer": "{id}"}}]"#)
    );
    id
}

fn http_proxy_responses(id: &str) -> Databag {
    bag(&[(
        "responses",
        &format!(
            r#"[{{"requirer": "{id}", "status": "ready", "auth": "srcip+userpass", "http_proxy": "http://squid.internal:3128", "https_proxy": "http://squid.internal:3129/", "user": "secret:proxy-user"}}]"#
        ),
    )])
}

pub(super) const PROXY_MESSAGE: &str =
    "http-proxy relation data is either unavailable, invalid or not usable.";

fn http_proxy_worked_example(mode: Mode) {
    let mut w = world_requiring(mode, &[HTTP_PROXY]);
    with_model_proxies(&mut w);
    let out = run(&mut w, "config-changed");
    let env = out.django_env();
    assert_eq!(env["HTTP_PROXY"], "http://model-proxy.internal:3128");
    assert_eq!(env["https_proxy"], "http://model-proxy.internal:3129");

    relate(
        &mut w,
        9,
        "http-proxy",
        "squid-forward-proxy",
        &["squid-forward-proxy/0"],
    );
    let (created, joined) = created_and_joined(&mut w, "http-proxy");
    assert!(our_app_bag(&created, "http-proxy").is_empty());
    let id = http_proxy_request(&joined);
    // An upgrade asks again under the same id.
    let out = run(&mut w, "upgrade-charm");
    assert_eq!(http_proxy_request(&out), id);

    // Related, no response yet: blocked, nothing touched.
    let out = w.run("http-proxy-relation-changed");
    assert_blocked_untouched(&out, PROXY_MESSAGE);

    add_secret(
        &mut w,
        "secret:proxy-user",
        &[("username", "proxyuser1"), ("password", "pr0xy-pass")],
    );
    provider_app_data(&mut w, "http-proxy", http_proxy_responses(&id));
    let before = current_env(&w);
    let out = run(&mut w, "http-proxy-relation-changed");
    assert_eq!(out.juju.unit_status, active(), "{}", out.report());
    assert_no_migration(&out);
    let http = "http://proxyuser1:pr0xy-pass@squid.internal:3128";
    let https = "http://proxyuser1:pr0xy-pass@squid.internal:3129";
    assert_eq!(
        changes(&before, &out.django_env()),
        set(&[
            ("http_proxy", http),
            ("HTTP_PROXY", http),
            ("https_proxy", https),
            ("HTTPS_PROXY", https),
        ])
    );
    let env = out.django_env();
    assert_eq!(env["no_proxy"], "127.0.0.1,localhost");
    assert_eq!(env["NO_PROXY"], "127.0.0.1,localhost");

    // Broken: the model's proxies are back in that same hook.
    let before = current_env(&w);
    let out = run(&mut w, "http-proxy-relation-broken");
    w.juju.relations.retain(|r| r.endpoint != "http-proxy");
    assert_eq!(out.juju.unit_status, active(), "{}", out.report());
    let http = "http://model-proxy.internal:3128";
    let https = "http://model-proxy.internal:3129";
    assert_eq!(
        changes(&before, &out.django_env()),
        set(&[
            ("http_proxy", http),
            ("HTTP_PROXY", http),
            ("https_proxy", https),
            ("HTTPS_PROXY", https),
        ])
    );
}

fn http_proxy_malformed_then_fixed(mode: Mode) {
    let mut w = world_requiring(mode, &[HTTP_PROXY]);
    with_model_proxies(&mut w);
    run(&mut w, "config-changed");
    relate(
        &mut w,
        9,
        "http-proxy",
        "squid-forward-proxy",
        &["squid-forward-proxy/0"],
    );
    let (_, joined) = created_and_joined(&mut w, "http-proxy");
    let id = http_proxy_request(&joined);
    provider_app_data(&mut w, "http-proxy", bag(&[("responses", "[{not json")]));
    let out = w.run("http-proxy-relation-changed");
    assert_blocked_untouched(&out, PROXY_MESSAGE);

    add_secret(
        &mut w,
        "secret:proxy-user",
        &[("username", "proxyuser1"), ("password", "pr0xy-pass")],
    );
    provider_app_data(&mut w, "http-proxy", http_proxy_responses(&id));
    let out = run(&mut w, "http-proxy-relation-changed");
    assert_eq!(out.juju.unit_status, active(), "{}", out.report());
    assert_eq!(
        out.django_env()["HTTPS_PROXY"],
        "http://proxyuser1:pr0xy-pass@squid.internal:3129"
    );
}

in_both_modes!(http_proxy_worked_example, http_proxy_malformed_then_fixed,);
