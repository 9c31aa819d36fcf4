//! The pack-time rules the django-framework extension enforced (`DJANGO.md` 1.6), run
//! by `build.rs` on the project's `charmcraft.yaml` so that a charm breaking them does
//! not build. Self-contained (only `serde_json`) because the build script includes it.

use serde_json::Value;

/// The options the extension itself declares.
const EXTENSION_OPTIONS: [&str; 9] = [
    "webserver-keepalive",
    "webserver-threads",
    "webserver-timeout",
    "webserver-workers",
    "webserver-worker-class",
    "django-debug",
    "django-secret-key",
    "django-secret-key-id",
    "django-allowed-hosts",
];

/// Python truthiness, which the extension used for `default`.
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

/// The errors of a parsed `charmcraft.yaml`; empty when it may be packed.
pub fn check(project: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    let Some(options) = project
        .get("config")
        .and_then(|c| c.get("options"))
        .and_then(Value::as_object)
    else {
        return errors;
    };
    let with_default: Vec<&str> = options
        .iter()
        .filter(|(_, spec)| {
            spec.get("optional") == Some(&Value::Bool(false))
                && spec.get("default").is_some_and(truthy)
        })
        .map(|(name, _)| name.as_str())
        .collect();
    if !with_default.is_empty() {
        errors.push(format!(
            "Non-optional configuration options can not have default values.\nPlease either remove the default value or set optional field to true or remove it for the {} configuration option(s).",
            with_default.join(", ")
        ));
    }
    let reserved: Vec<&str> = options
        .keys()
        .map(String::as_str)
        .filter(|name| {
            (name.starts_with("django-") || name.starts_with("webserver-"))
                && !EXTENSION_OPTIONS.contains(name)
        })
        .collect();
    if !reserved.is_empty() {
        errors.push(format!(
            "The configuration option prefixes 'django-' and 'webserver-' are reserved for the Django framework; rename the {} configuration option(s).",
            reserved.join(", ")
        ));
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mandatory_options_with_a_truthy_default_fail() {
        let project = json!({"config": {"options": {
            "a": {"type": "string", "optional": false, "default": "x"},
            "b": {"type": "int", "optional": false, "default": 0},
            "c": {"type": "boolean", "optional": false, "default": false},
            "d": {"type": "string", "optional": false, "default": ""},
            "e": {"type": "int", "optional": false, "default": 3},
            "f": {"type": "string", "optional": true, "default": "x"},
        }}});
        assert_eq!(
            check(&project),
            [
                "Non-optional configuration options can not have default values.\nPlease either remove the default value or set optional field to true or remove it for the a, e configuration option(s)."
            ]
        );
    }

    #[test]
    fn reserved_prefixes() {
        let project = json!({"config": {"options": {
            "django-debug": {"type": "boolean", "default": false},
            "django-extra": {"type": "string"},
            "webserver-x": {"type": "string"},
            "token": {"type": "string"},
        }}});
        let errors = check(&project);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("the django-extra, webserver-x configuration option(s)"));
        assert!(check(&json!({})).is_empty());
    }

    #[test]
    fn the_repository_charm_may_be_packed() {
        let text = include_str!(concat!(env!("OUT_DIR"), "/charmcraft.yaml"));
        let project: Value = serde_saphyr::from_str(text).unwrap();
        assert!(check(&project).is_empty());
    }
}
