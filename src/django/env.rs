//! The application environment (`DJANGO.md` 3.1): one map from the gathered state, in
//! the spec's assembly order, where a later write replaces an earlier one.

use std::collections::BTreeMap;

use indexmap::IndexMap;

use crate::django::state::CharmState;
use crate::pyjson;

/// The environment of the `django`, `-worker` and (on the scheduler unit) `-scheduler`
/// services, and of the commands the charm runs in the container.
pub fn app_environment(state: &CharmState) -> BTreeMap<String, String> {
    let mut env: IndexMap<String, String> = IndexMap::new();
    let mut set = |k: &str, v: String| {
        env.insert(k.to_string(), v);
    };

    // 1. User-defined options.
    for (k, v) in &state.config.user_env {
        set(k, v.clone());
    }
    // 2. Framework options.
    if let Some(debug) = state.config.debug {
        set("DJANGO_DEBUG", debug.to_string());
    }
    if let Some(key) = &state.config.secret_key {
        set("DJANGO_SECRET_KEY", key.clone());
    }
    set("DJANGO_ALLOWED_HOSTS", allowed_hosts(state));
    // 3. Base URL.
    set("DJANGO_BASE_URL", state.base_url.clone());
    // 4. The peer secret key, unless configured.
    if state.config.secret_key.is_none()
        && let Some(key) = &state.peer.secret_key
    {
        set("DJANGO_SECRET_KEY", key.clone());
    }
    // 5. Proxies: each pair only when non-empty.
    for (lower, upper, value) in [
        ("http_proxy", "HTTP_PROXY", &state.proxy.http),
        ("https_proxy", "HTTPS_PROXY", &state.proxy.https),
        ("no_proxy", "NO_PROXY", &state.proxy.no_proxy),
    ] {
        if let Some(v) = value.as_ref().filter(|v| !v.is_empty()) {
            set(lower, v.clone());
            set(upper, v.clone());
        }
    }
    // 6. The other units' FQDNs.
    if state.peer.secret_key.is_some() && !state.peer.other_units.is_empty() {
        set("DJANGO_PEER_FQDNS", peer_fqdns(state));
    }
    // 7. Integrations.
    for (k, v) in &state.integration_env {
        set(k, v.clone());
    }
    env.into_iter().collect()
}

/// `DJANGO_ALLOWED_HOSTS`: the configured hosts plus the base URL's host (`DJANGO.md` 5).
pub fn allowed_hosts(state: &CharmState) -> String {
    let mut hosts = state.config.allowed_hosts.clone();
    if let Some(host) = url_hostname(&state.base_url)
        && !hosts.contains(&host)
    {
        hosts.push(host);
    }
    pyjson::dumps_strings(&hosts)
}

/// Python's `urlsplit(url).hostname`: lower-cased, no userinfo, port or brackets.
pub fn url_hostname(url: &str) -> Option<String> {
    let rest = url.split_once("://").map(|(_, r)| r)?;
    let netloc = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = netloc.rsplit_once('@').map(|(_, h)| h).unwrap_or(netloc);
    let host = if let Some(bracketed) = host_port.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    if host.is_empty() {
        None
    } else {
        Some(host.to_lowercase())
    }
}

/// `DJANGO_PEER_FQDNS`: the other units in numeric order (`DJANGO.md` 3.7).
fn peer_fqdns(state: &CharmState) -> String {
    let mut numbers: Vec<u64> = state
        .peer
        .other_units
        .iter()
        .filter_map(|u| u.rsplit_once('/').and_then(|(_, n)| n.parse().ok()))
        .collect();
    numbers.sort_unstable();
    numbers
        .iter()
        .map(|n| unit_fqdn(&state.app, *n, &state.model))
        .collect::<Vec<_>>()
        .join(",")
}

/// The in-cluster FQDN of unit `n`.
pub fn unit_fqdn(app: &str, n: u64, model: &str) -> String {
    format!("{app}-{n}.{app}-endpoints.{model}.svc.cluster.local")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::django::config::ConfigState;
    use crate::django::state::{PeerState, Proxies};

    /// DJANGO.md 3.9 without the secret option and the database.
    fn worked_example() -> CharmState {
        let mut config = ConfigState {
            debug: Some(false),
            allowed_hosts: vec!["www.example.com".into(), "example.com".into()],
            ..Default::default()
        };
        for (k, v) in [
            ("DJANGO_GREETING", "hi"),
            ("DJANGO_MAX_ITEMS", "25"),
            ("DJANGO_RATIO", "0.5"),
            ("DJANGO_BETA", "true"),
        ] {
            config.user_env.insert(k.into(), v.into());
        }
        CharmState {
            app: "blog".into(),
            model: "prod".into(),
            unit: "blog/1".into(),
            unit_number: 1,
            config,
            base_url: "http://blog.prod:8000".into(),
            peer: PeerState {
                related: true,
                secret_key: Some("Zq9".into()),
                secret_key_id: None,
                other_units: vec!["blog/0".into(), "blog/2".into(), "blog/10".into()],
            },
            proxy: Proxies {
                http: Some("http://squid.internal:3128".into()),
                https: None,
                no_proxy: Some("127.0.0.1,localhost".into()),
            },
            ..Default::default()
        }
    }

    #[test]
    fn worked_example_environment() {
        let env = app_environment(&worked_example());
        let expected: BTreeMap<String, String> = [
            ("DJANGO_GREETING", "hi"),
            ("DJANGO_MAX_ITEMS", "25"),
            ("DJANGO_RATIO", "0.5"),
            ("DJANGO_BETA", "true"),
            ("DJANGO_DEBUG", "false"),
            ("DJANGO_ALLOWED_HOSTS", r#"["www.example.com", "example.com", "blog.prod"]"#),
            ("DJANGO_BASE_URL", "http://blog.prod:8000"),
            ("DJANGO_SECRET_KEY", "Zq9"),
            ("http_proxy", "http://squid.internal:3128"),
            ("HTTP_PROXY", "http://squid.internal:3128"),
            ("no_proxy", "127.0.0.1,localhost"),
            ("NO_PROXY", "127.0.0.1,localhost"),
            (
                "DJANGO_PEER_FQDNS",
                "blog-0.blog-endpoints.prod.svc.cluster.local,blog-2.blog-endpoints.prod.svc.cluster.local,blog-10.blog-endpoints.prod.svc.cluster.local",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(env, expected);
    }

    #[test]
    fn configured_secret_key_wins_over_the_peer_key() {
        let mut s = worked_example();
        s.config.secret_key = Some("configured".into());
        assert_eq!(app_environment(&s)["DJANGO_SECRET_KEY"], "configured");
    }

    #[test]
    fn allowed_hosts_examples() {
        let mut s = worked_example();
        s.config.allowed_hosts = vec![];
        s.base_url = "http://django-k8s.test-model:8000".into();
        assert_eq!(allowed_hosts(&s), r#"["django-k8s.test-model"]"#);
        s.base_url = "http://juju.test/".into();
        assert_eq!(allowed_hosts(&s), r#"["juju.test"]"#);
        s.config.allowed_hosts = vec!["django-k8s.prod".into()];
        s.base_url = "https://Django-K8s.prod/".into();
        assert_eq!(allowed_hosts(&s), r#"["django-k8s.prod"]"#);
        s.config.allowed_hosts = vec!["test.local".into()];
        s.base_url = "http://u:p@[::1]:8000/x".into();
        assert_eq!(allowed_hosts(&s), r#"["test.local", "::1"]"#);
    }

    #[test]
    fn no_peer_fqdns_without_other_units() {
        let mut s = worked_example();
        s.peer.other_units.clear();
        assert!(!app_environment(&s).contains_key("DJANGO_PEER_FQDNS"));
    }
}
