//! The built-in COS assets of `DJANGO.md` 15.3: the Grafana dashboard, the Prometheus
//! alert rule (byte for byte) and the empty Loki rules directory.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

const TOPOLOGY: [&str; 4] = [
    "juju_model",
    "juju_model_uuid",
    "juju_application",
    "juju_unit",
];
const PROMETHEUS_DS: &str = "${prometheusds}";
const LOKI_DS: &str = "${lokids}";

fn cos(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("templates/cos")
        .join(path)
}

fn dashboard() -> Value {
    let text = std::fs::read_to_string(cos("grafana_dashboards/django.json")).unwrap();
    serde_json::from_str(&text).expect("the dashboard is JSON")
}

fn panels(dashboard: &Value) -> &Vec<Value> {
    dashboard["panels"].as_array().expect("panels is a list")
}

fn panel<'a>(dashboard: &'a Value, title: &str) -> &'a Value {
    panels(dashboard)
        .iter()
        .find(|p| p["title"] == title)
        .unwrap_or_else(|| panic!("no panel {title:?}"))
}

fn targets(panel: &Value) -> &Vec<Value> {
    panel["targets"].as_array().expect("targets is a list")
}

fn exprs(panel: &Value) -> Vec<&str> {
    targets(panel)
        .iter()
        .map(|t| t["expr"].as_str().expect("a target has an expr"))
        .collect()
}

fn datasource_uid(value: &Value) -> &str {
    value["datasource"]["uid"].as_str().unwrap_or("")
}

/// The label matcher that filters on one topology template variable.
fn topology_matcher(var: &str) -> String {
    format!("{var}=~\"${var}\"")
}

#[test]
fn dashboard_is_a_grafana_dashboard() {
    let d = dashboard();
    assert_eq!(d["title"], "Django Operator");
    assert!(d["uid"].as_str().is_some_and(|u| !u.is_empty()), "uid");
    assert!(
        d["schemaVersion"].as_u64().is_some_and(|v| v >= 30),
        "schemaVersion"
    );
    assert!(d["templating"]["list"].is_array(), "templating.list");

    let mut ids = HashSet::new();
    let mut cells = HashSet::new();
    for p in panels(&d) {
        let title = p["title"].as_str().expect("a panel has a title");
        assert!(p["type"].is_string(), "{title}: type");
        let id = p["id"].as_u64().expect("a panel has a numeric id");
        assert!(ids.insert(id), "{title}: panel id {id} is not unique");

        let grid = &p["gridPos"];
        let [h, w, x, y] = ["h", "w", "x", "y"].map(|k| {
            grid[k]
                .as_u64()
                .unwrap_or_else(|| panic!("{title}: gridPos.{k}"))
        });
        assert!(h > 0 && w > 0 && x + w <= 24, "{title}: gridPos {grid}");
        // Panels do not overlap on Grafana's 24-column grid.
        for row in y..y + h {
            for col in x..x + w {
                assert!(cells.insert((row, col)), "{title} overlaps another panel");
            }
        }

        let mut refs = HashSet::new();
        assert!(!targets(p).is_empty(), "{title}: no target");
        for t in targets(p) {
            let r = t["refId"].as_str().expect("a target has a refId");
            assert!(refs.insert(r), "{title}: refId {r} twice");
        }
    }
}

#[test]
fn panels_have_the_spec_titles_in_order() {
    let d = dashboard();
    let titles: Vec<&str> = panels(&d)
        .iter()
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        [
            "Request Count",
            "Status Code Count",
            "Request Per Sec",
            "2XX Rate",
            "3XX Rate",
            "4XX Rate",
            "5XX Rate",
            "Request Average Duration",
            "Request Duration Percentile",
            "Application Logs",
        ]
    );
}

#[test]
fn metric_panels_query_the_statsd_exporter_metrics() {
    let d = dashboard();
    for (title, metric) in [
        ("Request Count", "django_requests{"),
        ("Request Per Sec", "django_requests{"),
        ("Status Code Count", "django_response_code{"),
        ("2XX Rate", "django_response_code{"),
        ("3XX Rate", "django_response_code{"),
        ("4XX Rate", "django_response_code{"),
        ("5XX Rate", "django_response_code{"),
        ("Request Average Duration", "django_request_duration_sum{"),
        ("Request Average Duration", "django_request_duration_count{"),
        ("Request Duration Percentile", "django_request_duration{"),
    ] {
        for expr in exprs(panel(&d, title)) {
            assert!(
                expr.contains(metric),
                "{title}: {expr} does not use {metric}"
            );
        }
    }
    assert!(exprs(panel(&d, "Status Code Count"))[0].contains("by (status)"));
    for class in ["2", "3", "4", "5"] {
        let title = format!("{class}XX Rate");
        let [expr] = exprs(panel(&d, &title))[..] else {
            panic!("{title}: one query expected")
        };
        // The share of one status class among all responses.
        let (part, whole) = expr.split_once(" / ").expect("a ratio");
        assert!(
            part.contains(&format!("status=~\"{class}..\"")),
            "{title}: {expr}"
        );
        assert!(!whole.contains("status="), "{title}: {expr}");
    }
}

#[test]
fn percentile_panel_shows_the_three_quantiles() {
    let d = dashboard();
    let p = panel(&d, "Request Duration Percentile");
    let quantiles: Vec<&str> = exprs(p)
        .into_iter()
        .map(|e| {
            let (_, rest) = e.split_once("quantile=\"").expect("a quantile matcher");
            rest.split('"').next().unwrap()
        })
        .collect();
    assert_eq!(quantiles, ["0.5", "0.9", "0.99"]);
}

#[test]
fn logs_panel_reads_loki_for_the_selected_units() {
    let d = dashboard();
    let p = panel(&d, "Application Logs");
    assert_eq!(p["type"], "logs");
    assert_eq!(p["datasource"]["type"], "loki");
    assert_eq!(datasource_uid(p), LOKI_DS);
    for t in targets(p) {
        assert_eq!(datasource_uid(t), LOKI_DS);
        let expr = t["expr"].as_str().unwrap();
        for var in TOPOLOGY {
            assert!(expr.contains(&topology_matcher(var)), "{expr} lacks {var}");
        }
    }
}

#[test]
fn prometheus_queries_use_the_cos_datasource_and_the_topology() {
    let d = dashboard();
    let mut prometheus_panels = 0;
    for p in panels(&d) {
        if p["type"] == "logs" {
            continue;
        }
        prometheus_panels += 1;
        let title = p["title"].as_str().unwrap();
        assert_eq!(p["datasource"]["type"], "prometheus", "{title}");
        assert_eq!(datasource_uid(p), PROMETHEUS_DS, "{title}");
        for t in targets(p) {
            assert_eq!(datasource_uid(t), PROMETHEUS_DS, "{title}");
            let expr = t["expr"].as_str().unwrap();
            // Every selector of a django_* metric is filtered by all four variables.
            let selectors = expr.matches("django_").count();
            assert!(selectors > 0, "{title}: {expr}");
            for var in TOPOLOGY {
                assert_eq!(
                    expr.matches(&topology_matcher(var)).count(),
                    selectors,
                    "{title}: {expr} does not filter every selector on {var}"
                );
            }
        }
    }
    assert_eq!(prometheus_panels, 9);
}

#[test]
fn template_variables_are_defined() {
    let d = dashboard();
    let list = d["templating"]["list"].as_array().unwrap();
    let var = |name: &str| {
        list.iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no template variable {name}"))
    };
    for (name, query) in [("prometheusds", "prometheus"), ("lokids", "loki")] {
        assert_eq!(var(name)["type"], "datasource");
        assert_eq!(var(name)["query"], query);
    }
    for name in TOPOLOGY {
        let v = var(name);
        assert_eq!(v["type"], "query");
        assert_eq!(v["datasource"], PROMETHEUS_DS);
        let query = v["query"]["query"].as_str().unwrap();
        assert!(query.ends_with(&format!(",{name})")), "{name}: {query}");
    }
    let names: HashSet<&str> = list.iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert_eq!(
        names.len(),
        list.len(),
        "a template variable is defined twice"
    );
}

#[test]
fn every_datasource_is_a_cos_placeholder() {
    fn walk<'a>(value: &'a Value, found: &mut Vec<&'a Value>) {
        match value {
            Value::Object(map) => {
                if let Some(ds) = map.get("datasource") {
                    found.push(ds);
                }
                map.values().for_each(|v| walk(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, found)),
            _ => {}
        }
    }
    let d = dashboard();
    let mut found = Vec::new();
    walk(&d["panels"], &mut found);
    walk(&d["templating"], &mut found);
    assert!(!found.is_empty());
    for ds in found {
        let uid = ds["uid"].as_str().or(ds.as_str()).unwrap_or("");
        assert!([PROMETHEUS_DS, LOKI_DS].contains(&uid), "datasource {ds}");
    }
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn prometheus_alert_rule_is_the_spec_file() {
    let bytes = std::fs::read(cos("prometheus_alert_rules/django.rule")).unwrap();
    assert_eq!(bytes.len(), 283);
    assert_eq!(
        sha256_hex(&bytes),
        "fe80016285711128d5cfbd7fe8708e48cc56955f0d92a31907aa9f454cbbfb4b"
    );
}

#[test]
fn no_loki_alert_rules_are_shipped() {
    let entries: Vec<String> = std::fs::read_dir(cos("loki_alert_rules"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries, [".gitkeep"]);
    assert!(
        std::fs::read(cos("loki_alert_rules/.gitkeep"))
            .unwrap()
            .is_empty()
    );
}
