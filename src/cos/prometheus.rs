//! `metrics-endpoint` (we provide `prometheus_scrape`, `INTERFACES.md` 15): scrape
//! metadata, scrape jobs (the framework job and `paas-config.yaml`'s), alert rules with
//! Juju topology labels, and the unit's address.

use serde_json::{Map, Value, json};

use crate::cos::{Asset, PROMETHEUS_ALERT_RULES, Topology, in_subdir};
use crate::django::env::unit_fqdn;
use crate::django::paas_config::{ScrapeJob, scheduler_port};
use crate::juju::tools::Databag;
use crate::pyjson;

pub const ENDPOINT: &str = "metrics-endpoint";
pub const INTERFACE: &str = "prometheus_scrape";

/// `scrape_metadata`.
pub fn scrape_metadata(t: &Topology) -> String {
    pyjson::dumps(&json!({
        "model": t.model,
        "model_uuid": t.model_uuid,
        "application": t.application,
        "unit": t.unit,
        "charm_name": t.charm_name,
    }))
}

/// `scrape_jobs`: the statsd exporter job, then the custom jobs with `@scheduler:PORT`
/// targets resolved to the scheduler unit.
pub fn scrape_jobs(jobs: &[ScrapeJob], app: &str, model: &str, scheduler_unit: u64) -> String {
    let mut out = vec![json!({
        "metrics_path": "/metrics",
        "static_configs": [{"targets": ["*:9102"]}],
    })];
    for job in jobs {
        let statics: Vec<Value> = job
            .static_configs
            .iter()
            .map(|sc| {
                let targets: Vec<Value> = sc
                    .targets
                    .iter()
                    .map(|t| match scheduler_port(t) {
                        Some(port) => Value::String(format!(
                            "{}:{port}",
                            unit_fqdn(app, scheduler_unit, model)
                        )),
                        None => Value::String(t.clone()),
                    })
                    .collect();
                let mut m = Map::new();
                m.insert("targets".into(), Value::Array(targets));
                if let Some(labels) = &sc.labels {
                    let labels: Map<String, Value> = labels
                        .iter()
                        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                        .collect();
                    m.insert("labels".into(), Value::Object(labels));
                }
                Value::Object(m)
            })
            .collect();
        out.push(json!({
            "metrics_path": job.metrics_path,
            "static_configs": statics,
            "job_name": job.job_name,
        }));
    }
    pyjson::dumps(&Value::Array(out))
}

/// Group names keep only `[a-zA-Z0-9_:]`.
fn sanitise(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A rule with the topology labels added after its own.
fn with_topology(rule: &Map<String, Value>, t: &Topology) -> Value {
    let mut rule = rule.clone();
    let mut labels = match rule.get("labels") {
        Some(Value::Object(l)) => l.clone(),
        _ => Map::new(),
    };
    labels.insert("juju_model".into(), t.model.clone().into());
    labels.insert("juju_model_uuid".into(), t.model_uuid.clone().into());
    labels.insert("juju_application".into(), t.application.clone().into());
    labels.insert("juju_charm".into(), t.charm_name.clone().into());
    rule.insert("labels".into(), Value::Object(labels));
    Value::Object(rule)
}

const RULE_EXTENSIONS: [&str; 4] = [".rule", ".rules", ".yml", ".yaml"];

fn stem(name: &str) -> &str {
    RULE_EXTENSIONS
        .iter()
        .find_map(|ext| name.strip_suffix(ext))
        .unwrap_or(name)
}

/// The groups of one rule file; unparseable files are skipped.
fn file_groups(asset: &Asset, t: &Topology) -> Vec<Value> {
    let Ok(Value::Object(doc)) = serde_saphyr::from_str::<Value>(&asset.content) else {
        return vec![];
    };
    let identifier = t.identifier();
    if let Some(Value::Array(groups)) = doc.get("groups") {
        return groups
            .iter()
            .filter_map(|g| {
                let g = g.as_object()?;
                let name = g.get("name")?.as_str()?;
                let mut full = format!("{identifier}_{name}");
                if !full.ends_with("_rules") {
                    full.push_str("_rules");
                }
                let mut out = g.clone();
                out.insert("name".into(), Value::String(sanitise(&full)));
                if let Some(Value::Array(rules)) = g.get("rules") {
                    let rules: Vec<Value> = rules
                        .iter()
                        .filter_map(|r| r.as_object().map(|r| with_topology(r, t)))
                        .collect();
                    out.insert("rules".into(), Value::Array(rules));
                }
                Some(Value::Object(out))
            })
            .collect();
    }
    if doc.contains_key("alert") {
        let name = sanitise(&format!("{identifier}_{}_rules", stem(&asset.name)));
        return vec![json!({"name": name, "rules": [with_topology(&doc, t)]})];
    }
    vec![]
}

/// The generic host-health group appended to every rule set.
fn host_health(t: &Topology) -> Value {
    let down = json!({
        "alert": "HostDown",
        "expr": "up < 1",
        "for": "5m",
        "labels": {"severity": "critical"},
        "annotations": {
            "summary": "Host '{{ $labels.instance }}' is down.",
            "description": "Juju application '{{ $labels.juju_application }}' in model '{{ $labels.juju_model }}' is down. Prometheus has been unable to scrape it during at least the past five minutes."
        }
    });
    let missing = json!({
        "alert": "HostMetricsMissing",
        "expr": "absent(up)",
        "for": "5m",
        "labels": {"severity": "warning"},
        "annotations": {
            "summary": "Unit '{{ $labels.juju_unit }}' of application '{{ $labels.juju_application }}' is down or failing to remote write.",
            "description": "`Up` missing for unit '{{ $labels.juju_unit }}' of application {{ $labels.juju_application }} in model {{ $labels.juju_model }}. Please ensure the unit or the collector scraping it is up and is able to successfully reach the metrics backend."
        }
    });
    let rules: Vec<Value> = [down, missing]
        .iter()
        .filter_map(|r| r.as_object().map(|r| with_topology(r, t)))
        .collect();
    json!({
        "name": sanitise(&format!("{}_HostHealth_rules", t.identifier())),
        "rules": rules,
    })
}

/// The rule groups of the rule files in `subdir` (sorted by name), with topology
/// labels; Loki's rules are built the same way (`INTERFACES.md` 17).
pub fn rule_groups(assets: &[Asset], subdir: &str, t: &Topology) -> Vec<Value> {
    let mut files: Vec<&Asset> = in_subdir(assets, subdir)
        .filter(|a| RULE_EXTENSIONS.iter().any(|e| a.name.ends_with(e)))
        .collect();
    files.sort_by(|a, b| a.name.cmp(&b.name));
    files.iter().flat_map(|a| file_groups(a, t)).collect()
}

/// `alert_rules`: `{"groups": [...]}` from the merged rule files, then HostHealth.
pub fn alert_rules(assets: &[Asset], t: &Topology) -> String {
    let mut groups = rule_groups(assets, PROMETHEUS_ALERT_RULES, t);
    groups.push(host_health(t));
    pyjson::dumps(&json!({ "groups": groups }))
}

/// The leader's app bag.
pub fn app_data(t: &Topology, jobs: &str, rules: &str) -> Databag {
    [
        ("scrape_metadata", scrape_metadata(t)),
        ("scrape_jobs", jobs.to_string()),
        ("alert_rules", rules.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Every unit's bag: the address is the bind address when it is an IP, else the FQDN.
pub fn unit_data(app: &str, unit_number: u64, model: &str, bind: Option<&str>) -> Databag {
    let fqdn = unit_fqdn(app, unit_number, model);
    let address = match bind {
        Some(b) if b.parse::<std::net::IpAddr>().is_ok() => b.to_string(),
        _ => fqdn.clone(),
    };
    [
        ("prometheus_scrape_unit_address", address),
        (
            "prometheus_scrape_unit_name",
            format!("{app}/{unit_number}"),
        ),
        ("prometheus_scrape_unit_fqdn", fqdn),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cos::builtin_assets;
    use crate::django::paas_config::parse;

    fn topology() -> Topology {
        Topology {
            model: "prod".into(),
            model_uuid: "3f1a2b4c-0000-4000-8000-000000000000".into(),
            application: "blog".into(),
            unit: "blog/0".into(),
            charm_name: "blog".into(),
        }
    }

    #[test]
    fn builtin_rule_group_matches_the_spec_example() {
        let rules: Value =
            serde_json::from_str(&alert_rules(&builtin_assets(), &topology())).unwrap();
        let groups = rules["groups"].as_array().unwrap();
        assert_eq!(
            pyjson::dumps(&groups[0]),
            r#"{"name": "prod_3f1a2b4c_blog_django_rules", "rules": [{"alert": "DjangoTargetMissing", "expr": "up == 0", "for": "2m", "labels": {"severity": "critical", "juju_model": "prod", "juju_model_uuid": "3f1a2b4c-0000-4000-8000-000000000000", "juju_application": "blog", "juju_charm": "blog"}, "annotations": {"summary": "Prometheus target missing (instance {{ $labels.instance }})", "description": "Django has disappeared. An exporter might be crashed.\n  VALUE = {{ $value }}\n  LABELS = {{ $labels }}"}}]}"#
        );
        assert_eq!(groups[1]["name"], "prod_3f1a2b4c_blog_HostHealth_rules");
        assert_eq!(groups[1]["rules"][0]["alert"], "HostDown");
        assert_eq!(groups[1]["rules"][1]["labels"]["severity"], "warning");
        assert_eq!(groups[1]["rules"][1]["labels"]["juju_charm"], "blog");
        assert_eq!(groups.len(), 2);
    }

    #[test]
    fn custom_group_files_keep_their_groups() {
        let mut assets = builtin_assets();
        assets.push(Asset {
            subdir: PROMETHEUS_ALERT_RULES.into(),
            name: "custom_celery.yaml".into(),
            content: "groups:\n  - name: celery-queue\n    rules:\n      - alert: QueueLong\n        expr: q > 10\n  - name: x_rules\n    rules: []\n".into(),
        });
        let rules: Value = serde_json::from_str(&alert_rules(&assets, &topology())).unwrap();
        let names: Vec<&str> = rules["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "prod_3f1a2b4c_blog_celery_queue_rules",
                "prod_3f1a2b4c_blog_x_rules",
                "prod_3f1a2b4c_blog_django_rules",
                "prod_3f1a2b4c_blog_HostHealth_rules"
            ]
        );
        assert_eq!(
            rules["groups"][0]["rules"][0]["labels"]["juju_model"],
            "prod"
        );
    }

    #[test]
    fn scrape_jobs_with_paas_config_and_the_scheduler() {
        let config = parse("prometheus:\n  scrape_configs:\n    - job_name: celery\n      static_configs:\n        - targets: ['@scheduler:9808', 'x:1']\n          labels: {app: celery}\n").unwrap();
        assert_eq!(
            scrape_jobs(&config.scrape_jobs, "blog", "prod", 2),
            r#"[{"metrics_path": "/metrics", "static_configs": [{"targets": ["*:9102"]}]}, {"metrics_path": "/metrics", "static_configs": [{"targets": ["blog-2.blog-endpoints.prod.svc.cluster.local:9808", "x:1"], "labels": {"app": "celery"}}], "job_name": "celery"}]"#
        );
        assert_eq!(
            scrape_jobs(&[], "blog", "prod", 0),
            r#"[{"metrics_path": "/metrics", "static_configs": [{"targets": ["*:9102"]}]}]"#
        );
    }

    #[test]
    fn metadata_and_unit_bag() {
        assert_eq!(
            scrape_metadata(&topology()),
            r#"{"model": "prod", "model_uuid": "3f1a2b4c-0000-4000-8000-000000000000", "application": "blog", "unit": "blog/0", "charm_name": "blog"}"#
        );
        let bag = unit_data("blog", 1, "prod", Some("10.1.2.3"));
        assert_eq!(bag["prometheus_scrape_unit_address"], "10.1.2.3");
        assert_eq!(bag["prometheus_scrape_unit_name"], "blog/1");
        assert_eq!(
            bag["prometheus_scrape_unit_fqdn"],
            "blog-1.blog-endpoints.prod.svc.cluster.local"
        );
        assert_eq!(
            unit_data("blog", 1, "prod", Some("host.example"))["prometheus_scrape_unit_address"],
            "blog-1.blog-endpoints.prod.svc.cluster.local"
        );
    }
}
