//! The ingress v2 requirer (`INTERFACES.md` 13): the data we publish for the provider and
//! the URL it gives back.

use serde_json::Value;

use crate::integrations::Readiness;
use crate::integrations::url::normalise_url;
use crate::juju::tools::Databag;
use crate::pyjson;

pub const ENDPOINT: &str = "ingress";
pub const INTERFACE: &str = "ingress";

/// The provider's URL (`ingress` app-bag key holding `{"url": ...}`), normalised.
pub fn provider_url(remote_app_bag: Option<&Databag>) -> Readiness<String> {
    let Some(raw) = remote_app_bag.and_then(|b| b.get("ingress")) else {
        return Readiness::NotReady;
    };
    let Ok(value) = serde_json::from_str::<Value>(raw) else {
        return Readiness::Invalid;
    };
    let Some(url) = value.get("url").and_then(Value::as_str) else {
        return Readiness::Invalid;
    };
    match normalise_url(url, true) {
        Ok(u) => Readiness::Ready(u),
        Err(_) => Readiness::Invalid,
    }
}

/// Our application bag (leader): JSON-encoded values, defaults omitted.
pub fn requirer_app_data(model: &str, app: &str, port_open: bool) -> Databag {
    let mut bag = Databag::new();
    bag.insert("model".into(), pyjson::dumps(&Value::from(model)));
    bag.insert("name".into(), pyjson::dumps(&Value::from(app)));
    bag.insert("port".into(), "8000".into());
    bag.insert("strip-prefix".into(), "true".into());
    if port_open {
        bag.insert("is_port_open".into(), "true".into());
    }
    bag
}

/// Our unit bag: `host` (the unit's FQDN) and `ip` (the `ingress` bind address).
pub fn requirer_unit_data(fqdn: &str, ip: Option<&str>) -> Databag {
    let mut bag = Databag::new();
    bag.insert("host".into(), pyjson::dumps(&Value::from(fqdn)));
    if let Some(ip) = ip {
        bag.insert("ip".into(), pyjson::dumps(&Value::from(ip)));
    }
    bag
}

/// The `relation-set` payload that clears `existing` and writes `new`: keys that go away
/// are set to `""`, which Juju deletes.
pub fn replace_bag(existing: &Databag, new: &Databag) -> Databag {
    let mut out: Databag = existing
        .keys()
        .filter(|k| !new.contains_key(*k))
        .map(|k| (k.clone(), String::new()))
        .collect();
    out.extend(new.iter().map(|(k, v)| (k.clone(), v.clone())));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::testing::bag;

    #[test]
    fn provider_urls() {
        assert_eq!(provider_url(None), Readiness::NotReady);
        assert_eq!(provider_url(Some(&bag(&[]))), Readiness::NotReady);
        assert_eq!(
            provider_url(Some(&bag(&[("ingress", r#"{"url": "http://juju.test"}"#)]))),
            Readiness::Ready("http://juju.test/".into())
        );
        assert_eq!(
            provider_url(Some(&bag(&[(
                "ingress",
                r#"{"url": "http://juju.test/prod-blog"}"#
            )]))),
            Readiness::Ready("http://juju.test/prod-blog".into())
        );
        for bad in [
            "not json",
            r#"{"url": "ftp://x/"}"#,
            r#"{"url": 3}"#,
            r#"{"nourl": 1}"#,
            r#"{"url": "http://"}"#,
        ] {
            assert_eq!(
                provider_url(Some(&bag(&[("ingress", bad)]))),
                Readiness::Invalid,
                "{bad}"
            );
        }
    }

    #[test]
    fn requirer_bags() {
        assert_eq!(
            requirer_app_data("prod", "blog", false),
            bag(&[
                ("model", "\"prod\""),
                ("name", "\"blog\""),
                ("port", "8000"),
                ("strip-prefix", "true")
            ])
        );
        assert_eq!(
            requirer_app_data("prod", "blog", true)["is_port_open"],
            "true"
        );
        assert_eq!(
            requirer_unit_data(
                "blog-0.blog-endpoints.prod.svc.cluster.local",
                Some("10.1.0.17")
            ),
            bag(&[
                ("host", "\"blog-0.blog-endpoints.prod.svc.cluster.local\""),
                ("ip", "\"10.1.0.17\"")
            ])
        );
        assert!(!requirer_unit_data("h", None).contains_key("ip"));
    }

    #[test]
    fn replacing_a_bag_clears_what_juju_put_there() {
        let existing = bag(&[("egress-subnets", "10.0.0.1/32"), ("host", "\"old\"")]);
        let new = bag(&[("host", "\"new\"")]);
        assert_eq!(
            replace_bag(&existing, &new),
            bag(&[("egress-subnets", ""), ("host", "\"new\"")])
        );
    }
}
