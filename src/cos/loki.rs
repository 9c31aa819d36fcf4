//! `logging` (we require `loki_push_api`, `INTERFACES.md` 17): Pebble log forwarding to
//! the Loki units' push endpoints, and the metadata and alert rules we publish.

use indexmap::IndexMap;
use serde_json::{Value, json};

use crate::cos::{Asset, LOKI_ALERT_RULES, Topology, prometheus};
use crate::juju::tools::Databag;
use crate::pebble::layer::{Layer, LogTarget, Override, Plan};
use crate::pyjson;

pub const ENDPOINT: &str = "logging";
pub const INTERFACE: &str = "loki_push_api";
/// The label of the log-forwarding layer.
pub const LAYER_LABEL: &str = "django-app-log-forwarding";

/// The push URL a Loki unit publishes (`endpoint` = `{"url": ...}`).
pub fn push_url(unit_bag: &Databag) -> Option<String> {
    let raw = unit_bag.get("endpoint")?;
    let v: Value = serde_json::from_str(raw).ok()?;
    v.get("url")?.as_str().map(String::from)
}

/// The active Loki units of one relation: all of them, or none when any remote unit has
/// no parseable endpoint.
pub fn active_units(units: &IndexMap<String, Databag>) -> Option<IndexMap<String, String>> {
    units
        .iter()
        .map(|(unit, bag)| push_url(bag).map(|url| (unit.clone(), url)))
        .collect()
}

fn is_disabled(target: &LogTarget) -> bool {
    target.services.iter().any(|s| s == "-all")
}

/// The log-forwarding layer for `active` units (unit → push URL), given the current
/// plan; `None` when there is nothing to add.
pub fn forwarding_layer(
    plan: &Plan,
    active: &IndexMap<String, String>,
    t: &Topology,
) -> Option<Layer> {
    let mut layer = Layer::default();
    for (name, target) in &plan.log_targets {
        if !active.contains_key(name) && !is_disabled(target) {
            layer.log_targets.insert(
                name.clone(),
                LogTarget {
                    override_: Some(Override::Replace),
                    kind: Some("loki".into()),
                    location: Some("(removed)".into()),
                    services: vec!["-all".into()],
                    labels: Default::default(),
                },
            );
        }
    }
    let short: String = t.model_uuid.chars().take(8).collect();
    for (unit, url) in active {
        let labels = [
            ("product", "Juju".to_string()),
            ("charm", t.charm_name.clone()),
            ("juju_model", t.model.clone()),
            ("juju_model_uuid", t.model_uuid.clone()),
            ("juju_application", t.application.clone()),
            ("juju_unit", t.unit.clone()),
            ("job", format!("juju_{}_{short}_{}", t.model, t.application)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        layer.log_targets.insert(
            unit.clone(),
            LogTarget {
                override_: Some(Override::Replace),
                kind: Some("loki".into()),
                location: Some(url.clone()),
                services: vec!["all".into()],
                labels,
            },
        );
    }
    (!layer.log_targets.is_empty()).then_some(layer)
}

/// The leader's app bag: `metadata` and `alert_rules` (sorted keys).
pub fn app_data(assets: &[Asset], t: &Topology) -> Databag {
    let metadata = json!({
        "model": t.model,
        "model_uuid": t.model_uuid,
        "application": t.application,
        "unit": t.unit,
        "charm_name": t.charm_name,
    });
    // Built like the Prometheus rules (INTERFACES.md 17 and 15), from the Loki files.
    let groups = prometheus::rule_groups(assets, LOKI_ALERT_RULES, t);
    let rules = if groups.is_empty() {
        json!({})
    } else {
        json!({ "groups": groups })
    };
    [
        ("metadata".to_string(), pyjson::dumps(&metadata)),
        ("alert_rules".to_string(), pyjson::dumps(&sort_keys(&rules))),
    ]
    .into_iter()
    .collect()
}

/// A JSON value with every object's keys sorted (Python's `sort_keys=True`).
fn sort_keys(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sort_keys(&m[k])))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(sort_keys).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cos::builtin_assets;

    fn topology() -> Topology {
        Topology {
            model: "cos".into(),
            model_uuid: "12345678-aaaa-4000-8000-000000000000".into(),
            application: "blog".into(),
            unit: "blog/0".into(),
            charm_name: "django-k8s".into(),
        }
    }

    fn units(pairs: &[(&str, Option<&str>)]) -> IndexMap<String, Databag> {
        pairs
            .iter()
            .map(|(u, url)| {
                let mut bag = Databag::new();
                if let Some(url) = url {
                    bag.insert("endpoint".into(), format!("{{\"url\": \"{url}\"}}"));
                }
                (u.to_string(), bag)
            })
            .collect()
    }

    #[test]
    fn targets_for_active_units_and_removed_ones() {
        let url =
            "http://loki-k8s-0.loki-k8s-endpoints.cos.svc.cluster.local:3100/loki/api/v1/push";
        let active = active_units(&units(&[("loki-k8s/0", Some(url))])).unwrap();
        let plan = Layer::from_yaml(
            "log-targets:\n  loki-k8s/1: {override: replace, type: loki, location: x, services: [all]}\n  old: {override: replace, type: loki, location: '(removed)', services: ['-all']}\n",
        )
        .unwrap();
        let layer = forwarding_layer(&plan, &active, &topology()).unwrap();
        let t = &layer.log_targets["loki-k8s/0"];
        assert_eq!(t.location.as_deref(), Some(url));
        assert_eq!(t.services, ["all"]);
        assert_eq!(t.labels["job"], "juju_cos_12345678_blog");
        assert_eq!(t.labels["juju_unit"], "blog/0");
        assert_eq!(t.labels["charm"], "django-k8s");
        assert_eq!(t.labels["product"], "Juju");
        let removed = &layer.log_targets["loki-k8s/1"];
        assert_eq!(removed.location.as_deref(), Some("(removed)"));
        assert_eq!(removed.services, ["-all"]);
        assert!(!layer.log_targets.contains_key("old"));
        // Nothing active and nothing enabled: no layer.
        assert_eq!(
            forwarding_layer(&Layer::default(), &IndexMap::new(), &topology()),
            None
        );
    }

    #[test]
    fn a_relation_counts_only_when_every_unit_has_an_endpoint() {
        assert_eq!(
            active_units(&units(&[("l/0", Some("http://a")), ("l/1", None)])),
            None
        );
        assert_eq!(active_units(&units(&[])).unwrap().len(), 0);
    }

    #[test]
    fn custom_loki_rules_are_grouped_like_prometheus_rules() {
        let mut assets = builtin_assets();
        assets.push(Asset {
            subdir: LOKI_ALERT_RULES.into(),
            name: "custom_errors.rule".into(),
            content:
                "alert: TooManyErrors\nexpr: count_over_time({job=\"x\"} |= \"ERROR\" [5m]) > 10\n"
                    .into(),
        });
        assets.push(Asset {
            subdir: LOKI_ALERT_RULES.into(),
            name: "custom_notes.txt".into(),
            content: "not a rule".into(),
        });
        let bag = app_data(&assets, &topology());
        assert_eq!(
            bag["alert_rules"],
            r#"{"groups": [{"name": "cos_12345678_blog_custom_errors_rules", "rules": [{"alert": "TooManyErrors", "expr": "count_over_time({job=\"x\"} |= \"ERROR\" [5m]) > 10", "labels": {"juju_application": "blog", "juju_charm": "django-k8s", "juju_model": "cos", "juju_model_uuid": "12345678-aaaa-4000-8000-000000000000"}}]}]}"#
        );
    }

    #[test]
    fn app_bag_without_custom_rules() {
        let bag = app_data(&builtin_assets(), &topology());
        assert_eq!(
            bag["metadata"],
            r#"{"model": "cos", "model_uuid": "12345678-aaaa-4000-8000-000000000000", "application": "blog", "unit": "blog/0", "charm_name": "django-k8s"}"#
        );
        assert_eq!(bag["alert_rules"], "{}");
    }
}
