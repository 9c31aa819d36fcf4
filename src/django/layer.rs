//! The `charm` layer (`DJANGO.md` 6.2): every service of the rock's original plan, with
//! the environment given to `django`, every `-worker` and, on the scheduler unit only,
//! every `-scheduler` service.

use std::collections::BTreeMap;

use indexmap::IndexMap;

use serde_json::Value;

use crate::pebble::layer::{Check, Layer, Override, Service, TcpCheck};
use crate::pyjson;

/// Where the rock's original services are kept in the container (`DJANGO.md` 6.1).
pub const ORIGINAL_SERVICES_PATH: &str = "/tmp/django/state/original-services.json";

/// The service fields kept in `original-services.json`, in its key order.
const KEPT_FIELDS: [&str; 21] = [
    "summary",
    "description",
    "startup",
    "override",
    "command",
    "after",
    "before",
    "requires",
    "environment",
    "user",
    "user-id",
    "group",
    "group-id",
    "working-dir",
    "on-success",
    "on-failure",
    "on-check-failure",
    "backoff-delay",
    "backoff-factor",
    "backoff-limit",
    "kill-delay",
];

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// `original-services.json`: services by name (byte order), each with its truthy fields
/// in `KEPT_FIELDS` order, as Python's `json.dumps` writes it.
pub fn original_services_json(services: &BTreeMap<String, Service>) -> String {
    let mut out = serde_json::Map::new();
    for (name, svc) in services {
        let full = serde_json::to_value(svc).unwrap_or(Value::Null);
        let mut kept = serde_json::Map::new();
        for field in KEPT_FIELDS {
            if let Some(v) = full.get(field).filter(|v| truthy(v)) {
                kept.insert(field.to_string(), v.clone());
            }
        }
        out.insert(name.clone(), Value::Object(kept));
    }
    pyjson::dumps(&Value::Object(out))
}

/// Read `original-services.json` back.
pub fn parse_original_services(text: &str) -> Result<IndexMap<String, Service>, String> {
    serde_json::from_str(text).map_err(|e| format!("invalid {ORIGINAL_SERVICES_PATH}: {e}"))
}

/// The name of the main service.
pub const DJANGO_SERVICE: &str = "django";
/// The label of the charm's layer.
pub const LAYER_LABEL: &str = "charm";

/// The check Pebble runs on Django, and what it does to `django` when the check fails.
pub const DJANGO_CHECK: &str = "django";
const ON_CHECK_FAILURE: &str = "restart";
/// The port Django listens on.
pub const DJANGO_PORT: i64 = 8000;

/// `checks.django` (`DJANGO.md` 6.2): a TCP dial of Django's port every 10 s, failing
/// after 3 misses. No `level`: Juju points the container's liveness and readiness probes
/// at Pebble's health, and a failing `alive`/`ready` check would make Kubernetes restart
/// the whole container while services are stopped on purpose or a long migration runs.
fn django_check() -> Check {
    Check {
        override_: Some(Override::Replace),
        period: Some("10s".into()),
        timeout: Some("3s".into()),
        threshold: Some(3),
        tcp: Some(TcpCheck {
            port: Some(DJANGO_PORT),
            host: None,
        }),
        ..Check::default()
    }
}

/// What kind of service a name denotes (matched case-insensitively).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceRole {
    Django,
    Worker,
    Scheduler,
    Other,
}

pub fn service_role(name: &str) -> ServiceRole {
    let lower = name.to_lowercase();
    if name == DJANGO_SERVICE {
        ServiceRole::Django
    } else if lower.ends_with("-worker") {
        ServiceRole::Worker
    } else if lower.ends_with("-scheduler") {
        ServiceRole::Scheduler
    } else {
        ServiceRole::Other
    }
}

/// Build the layer from the original services.
pub fn desired_layer(
    original: &IndexMap<String, Service>,
    environment: &BTreeMap<String, String>,
    django_command: Option<&str>,
    is_scheduler_unit: bool,
) -> Layer {
    let mut layer = Layer::default();
    for (name, svc) in original {
        let mut svc = svc.clone();
        // Pebble rejects a layer entry without `override`; the plan always has one.
        if svc.override_.is_none() {
            svc.override_ = Some(Override::Replace);
        }
        match service_role(name) {
            ServiceRole::Django => {
                svc.override_ = Some(Override::Replace);
                svc.environment = environment.clone();
                if let Some(cmd) = django_command {
                    svc.command = Some(cmd.to_string());
                }
                // Merged into what the rock declares; ours wins for our check.
                svc.on_check_failure
                    .insert(DJANGO_CHECK.into(), ON_CHECK_FAILURE.into());
                layer.checks.insert(DJANGO_CHECK.into(), django_check());
            }
            ServiceRole::Worker => svc.environment = environment.clone(),
            ServiceRole::Scheduler if is_scheduler_unit => svc.environment = environment.clone(),
            ServiceRole::Scheduler => svc.startup = Some("disabled".into()),
            ServiceRole::Other => {}
        }
        layer.services.insert(name.clone(), svc);
    }
    layer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rock() -> IndexMap<String, Service> {
        let yaml = r#"
services:
  Another-Real-WorkeR: {override: merge, command: /bin/w2, startup: enabled}
  Celery-Beat-Scheduler: {override: replace, command: /bin/beat, startup: enabled}
  django:
    override: replace
    command: /bin/python3 -m gunicorn -c /django/gunicorn.conf.py django_app.wsgi:application -k [ sync ]
    startup: enabled
    after: [statsd-exporter]
    user: _daemon_
  statsd-exporter: {override: merge, command: /bin/statsd_exporter, startup: enabled, user: _daemon_, summary: statsd exporter service}
"#;
        Layer::from_yaml(yaml)
            .unwrap()
            .services
            .into_iter()
            .collect()
    }

    fn env() -> BTreeMap<String, String> {
        [("DJANGO_TOKEN".to_string(), "abc".to_string())].into()
    }

    #[test]
    fn django_workers_and_scheduler_on_the_scheduler_unit() {
        let layer = desired_layer(&rock(), &env(), None, true);
        let django = &layer.services["django"];
        assert_eq!(django.environment, env());
        assert_eq!(django.after, vec!["statsd-exporter"]);
        assert_eq!(django.user.as_deref(), Some("_daemon_"));
        assert_eq!(django.startup.as_deref(), Some("enabled"));
        assert_eq!(layer.services["Another-Real-WorkeR"].environment, env());
        assert_eq!(
            layer.services["Another-Real-WorkeR"].override_,
            Some(Override::Merge)
        );
        assert_eq!(layer.services["Celery-Beat-Scheduler"].environment, env());
        assert_eq!(layer.services["statsd-exporter"], rock()["statsd-exporter"]);
        assert!(layer.summary.is_none() && layer.log_targets.is_empty());
    }

    #[test]
    fn django_gets_a_tcp_check_that_restarts_it() {
        let mut rock = rock();
        rock.get_mut("django").unwrap().on_check_failure.extend([
            ("other".to_string(), "ignore".to_string()),
            ("django".to_string(), "shutdown".to_string()),
        ]);
        let layer = desired_layer(&rock, &env(), None, true);
        let spec = Layer::from_yaml(
            "checks:\n  django:\n    override: replace\n    period: 10s\n    timeout: 3s\n    threshold: 3\n    tcp: {port: 8000}\n",
        )
        .unwrap();
        assert_eq!(layer.checks, spec.checks, "exactly the spec's check");
        assert_eq!(layer.checks["django"].level, None, "no level");
        assert_eq!(
            layer.services["django"].on_check_failure,
            [("django", "restart"), ("other", "ignore")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .into()
        );
        assert!(
            layer.services["statsd-exporter"]
                .on_check_failure
                .is_empty()
        );
    }

    #[test]
    fn schedulers_are_disabled_elsewhere_without_environment() {
        let layer = desired_layer(&rock(), &env(), None, false);
        let beat = &layer.services["Celery-Beat-Scheduler"];
        assert_eq!(beat.startup.as_deref(), Some("disabled"));
        assert!(beat.environment.is_empty());
        assert_eq!(layer.services["Another-Real-WorkeR"].environment, env());
    }

    #[test]
    fn original_services_file_format() {
        let plan = Layer::from_yaml(
            "services:\n  worker: {override: replace, command: /bin/w, startup: enabled, user-id: 0, group-id: 0, kill-delay: 5s}\n",
        )
        .unwrap();
        assert_eq!(
            original_services_json(&plan.services),
            r#"{"worker": {"startup": "enabled", "override": "replace", "command": "/bin/w", "kill-delay": "5s"}}"#
        );
        let rock: BTreeMap<String, Service> = rock()
            .into_iter()
            .filter(|(n, _)| n == "django" || n == "statsd-exporter")
            .collect();
        let text = original_services_json(&rock);
        assert_eq!(
            text,
            r#"{"django": {"startup": "enabled", "override": "replace", "command": "/bin/python3 -m gunicorn -c /django/gunicorn.conf.py django_app.wsgi:application -k [ sync ]", "after": ["statsd-exporter"], "user": "_daemon_"}, "statsd-exporter": {"summary": "statsd exporter service", "startup": "enabled", "override": "merge", "command": "/bin/statsd_exporter", "user": "_daemon_"}}"#
        );
        let back = parse_original_services(&text).unwrap();
        assert_eq!(
            back.keys().collect::<Vec<_>>(),
            ["django", "statsd-exporter"]
        );
        assert_eq!(back["django"], rock["django"]);
        assert!(parse_original_services("{").is_err());
    }

    #[test]
    fn rewritten_command() {
        let cmd = "/bin/python3 -m gunicorn -c /django/gunicorn.conf.py django_app.wsgi:application -k [ gevent ]";
        let layer = desired_layer(&rock(), &env(), Some(cmd), false);
        assert_eq!(layer.services["django"].command.as_deref(), Some(cmd));
    }
}
