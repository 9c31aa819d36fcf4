//! Configuration: `config-get` values and option specs turned into what the charm needs
//! (`DJANGO.md` 3.2–3.5): the user-defined options as `DJANGO_<NAME>` values, the
//! framework options, the `webserver-*` settings, and which options are missing or
//! invalid.
//!
//! Secrets referenced by `type: secret` options are resolved by the caller first
//! ([`key_secret_uri`], then [`user_secret_uris`]) and handed over as [`Secrets`], so
//! this module stays free of I/O and is tested directly.

use indexmap::IndexMap;
use serde_json::Value;

use crate::juju::metadata::{CharmMeta, OptionType};
use crate::juju::tools::SecretContent;
use crate::pyjson::python_float_repr;

/// Prefixes of options that belong to the framework, never to the user.
const RESERVED_PREFIXES: [&str; 3] = ["django-", "webserver-", "app-"];
/// User options whose variable would clash with a framework variable.
const RESERVED_NAMES: [&str; 3] = ["debug", "secret_key", "allowed_hosts"];

/// The `webserver-*` options that go into `gunicorn.conf.py` (`DJANGO.md` 3.5, 7).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WebserverOptions {
    pub workers: Option<i64>,
    pub threads: Option<i64>,
    pub keepalive: Option<i64>,
    pub timeout: Option<i64>,
    pub worker_class: Option<String>,
}

/// The configuration as the charm uses it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConfigState {
    /// `DJANGO_<NAME>` → value, in option order, secret options expanded.
    pub user_env: IndexMap<String, String>,
    pub debug: Option<bool>,
    /// From `django-secret-key` or the `django-secret-key-id` secret.
    pub secret_key: Option<String>,
    /// `django-allowed-hosts` split and stripped (`DJANGO.md` 5).
    pub allowed_hosts: Vec<String>,
    pub webserver: WebserverOptions,
    /// Framework options that are invalid (row 0a).
    pub invalid_framework: Vec<String>,
    /// Mandatory user options that are unset (row 0c; stops the services).
    pub missing: Vec<String>,
    /// User options that are invalid (row 0c).
    pub invalid_user: Vec<String>,
}

impl ConfigState {
    /// The Blocked message for row 0a, if any.
    pub fn framework_error(&self) -> Option<String> {
        if self.invalid_framework.is_empty() {
            None
        } else {
            Some(format!(
                "invalid options: {}",
                option_list(&self.invalid_framework)
            ))
        }
    }

    /// The Blocked message for row 0c, if any.
    pub fn user_error(&self) -> Option<String> {
        match (self.missing.is_empty(), self.invalid_user.is_empty()) {
            (true, true) => None,
            (false, true) => Some(format!("missing options: {}", option_list(&self.missing))),
            (true, false) => Some(format!(
                "invalid options: {}",
                option_list(&self.invalid_user)
            )),
            (false, false) => Some(format!(
                "missing options: {}; invalid options: {}",
                option_list(&self.missing),
                option_list(&self.invalid_user)
            )),
        }
    }
}

/// Option names as the status shows them: `_` as `-`, sorted, joined by `, `.
fn option_list(names: &[String]) -> String {
    let mut shown: Vec<String> = names.iter().map(|n| n.replace('_', "-")).collect();
    shown.sort();
    shown.dedup();
    shown.join(", ")
}

/// Whether an option is the user's (becomes `DJANGO_<NAME>`).
pub fn is_user_option(name: &str) -> bool {
    !RESERVED_PREFIXES.iter().any(|p| name.starts_with(p))
        && !RESERVED_NAMES.contains(&name.replace('-', "_").as_str())
}

/// `DJANGO_` + the name upper-cased with `-` → `_`.
pub fn django_env_name(name: &str) -> String {
    format!("DJANGO_{}", name.to_uppercase().replace('-', "_"))
}

/// A config value as the environment carries it: strings unchanged, the rest as JSON
/// with Python's number formatting.
pub fn env_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if !(n.is_i64() || n.is_u64()) => python_float_repr(f),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// The contents of the secrets `type: secret` options point to, by URI, resolved
/// before [`read_config`]: `None` when the secret is missing or not granted. A URI not
/// in the map counts as `None`.
pub type Secrets = IndexMap<String, Option<SecretContent>>;

fn lookup<'a>(secrets: &'a Secrets, uri: &str) -> Option<&'a SecretContent> {
    secrets.get(uri).and_then(Option::as_ref)
}

/// The `django-secret-key-id` secret [`read_config`] uses, when it uses one: the ID is
/// set and `django-secret-key` is not. Resolved first.
pub fn key_secret_uri(values: &serde_json::Map<String, Value>) -> Option<&str> {
    let plain_key = values.get("django-secret-key").and_then(Value::as_str);
    values
        .get("django-secret-key-id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .filter(|_| plain_key.is_none_or(str::is_empty))
}

/// The secrets of the user's `type: secret` options that [`read_config`] uses, in
/// option order, one per option (a URI twice when two options name it); none when the
/// framework options are invalid, given the key's secret in `secrets`. Resolved after
/// [`key_secret_uri`]'s.
pub fn user_secret_uris(
    values: &serde_json::Map<String, Value>,
    meta: &CharmMeta,
    secrets: &Secrets,
) -> Vec<String> {
    if !framework_options(values, secrets)
        .invalid_framework
        .is_empty()
    {
        return Vec::new();
    }
    meta.options
        .iter()
        .filter(|(name, spec)| is_user_option(name) && spec.kind == OptionType::Secret)
        .filter_map(|(name, _)| values.get(name).filter(|v| !v.is_null()))
        .map(env_value)
        .collect()
}

/// The framework options (`DJANGO.md` 3.4, 3.5): debug, webserver, allowed hosts and
/// the secret key.
fn framework_options(values: &serde_json::Map<String, Value>, secrets: &Secrets) -> ConfigState {
    let mut state = ConfigState {
        debug: values.get("django-debug").and_then(Value::as_bool),
        ..Default::default()
    };

    let int = |name: &str| values.get(name).and_then(Value::as_i64);
    state.webserver = WebserverOptions {
        workers: int("webserver-workers"),
        threads: int("webserver-threads"),
        keepalive: int("webserver-keepalive"),
        timeout: int("webserver-timeout"),
        worker_class: values
            .get("webserver-worker-class")
            .and_then(Value::as_str)
            .map(String::from),
    };

    if let Some(hosts) = values.get("django-allowed-hosts").and_then(Value::as_str)
        && !hosts.is_empty()
    {
        state.allowed_hosts = hosts.split(',').map(|h| h.trim().to_string()).collect();
    }

    let plain_key = values.get("django-secret-key").and_then(Value::as_str);
    let key_id = values
        .get("django-secret-key-id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty());
    // An empty key is an error on its own, but fine beside a secret id (DJANGO.md 4).
    if plain_key == Some("") && key_id.is_none() {
        state.invalid_framework.push("django-secret-key".into());
    }
    match key_id {
        Some(id) => {
            if plain_key.is_some_and(|k| !k.is_empty()) {
                state.invalid_framework.push("django-secret-key-id".into());
            } else {
                match lookup(secrets, id) {
                    Some(content) if content.len() == 1 && content.contains_key("value") => {
                        state.secret_key = content.get("value").cloned();
                    }
                    _ => state.invalid_framework.push("django-secret-key-id".into()),
                }
            }
        }
        None => {
            if let Some(k) = plain_key.filter(|k| !k.is_empty()) {
                state.secret_key = Some(k.to_string());
            }
        }
    }
    state
}

/// Build the configuration state from `config-get` values, the option specs and the
/// secrets the options point to ([`key_secret_uri`], then [`user_secret_uris`]).
pub fn read_config(
    values: &serde_json::Map<String, Value>,
    meta: &CharmMeta,
    secrets: &Secrets,
) -> ConfigState {
    // Framework options first (DJANGO.md 3.4).
    let mut state = framework_options(values, secrets);
    if !state.invalid_framework.is_empty() {
        return state;
    }

    for (name, spec) in &meta.options {
        if !is_user_option(name) {
            continue;
        }
        let Some(value) = values.get(name).filter(|v| !v.is_null()) else {
            if spec.is_mandatory() {
                state.missing.push(name.clone());
            }
            continue;
        };
        if spec.kind == OptionType::Secret {
            let uri = env_value(value);
            match lookup(secrets, &uri) {
                Some(content) => {
                    for (key, v) in content {
                        let var = format!(
                            "{}_{}",
                            django_env_name(name),
                            key.to_uppercase().replace('-', "_")
                        );
                        state.user_env.insert(var, v.clone());
                    }
                }
                None => state.invalid_user.push(name.clone()),
            }
        } else {
            state
                .user_env
                .insert(django_env_name(name), env_value(value));
        }
    }
    // Options set in Juju but unknown to the metadata still follow the naming rule.
    for (name, value) in values {
        if is_user_option(name) && !meta.options.contains_key(name) && !value.is_null() {
            state
                .user_env
                .insert(django_env_name(name), env_value(value));
        }
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::juju::metadata::OptionSpec;

    fn meta(options: &[(&str, OptionType, Option<bool>)]) -> CharmMeta {
        let mut m = CharmMeta::default();
        for (name, kind, optional) in options {
            m.options.insert(
                name.to_string(),
                OptionSpec {
                    kind: *kind,
                    default: None,
                    description: None,
                    optional: *optional,
                },
            );
        }
        m
    }

    fn values(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    /// Resolved secrets: `uri` → its content.
    fn secrets(uri: &str, content: &[(&str, &str)]) -> Secrets {
        let content: SecretContent = content
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        [(uri.to_string(), Some(content))].into_iter().collect()
    }

    fn no_secrets() -> Secrets {
        Secrets::new()
    }

    #[test]
    fn option_values_as_the_environment_carries_them() {
        let v: Value =
            serde_json::from_str(r#"[3, 1, 0.5, 1e21, 1e-05, true, false, "", "x y"]"#).unwrap();
        let shown: Vec<String> = v.as_array().unwrap().iter().map(env_value).collect();
        assert_eq!(
            shown,
            [
                "3", "1", "0.5", "1e+21", "1e-05", "true", "false", "", "x y"
            ]
        );
    }

    #[test]
    fn user_options_become_django_variables() {
        let m = meta(&[
            ("greeting", OptionType::String, None),
            ("max-items", OptionType::Int, None),
            ("ratio", OptionType::Float, None),
            ("beta", OptionType::Boolean, None),
            ("unset-one", OptionType::String, None),
            ("app-internal", OptionType::String, None),
            ("secret-key", OptionType::String, None),
            ("django-debug", OptionType::Boolean, None),
            ("webserver-workers", OptionType::Int, None),
        ]);
        let v = values(serde_json::json!({
            "greeting": "hi", "max-items": 25, "ratio": 0.5, "beta": true,
            "app-internal": "x", "secret-key": "clash", "django-debug": false,
            "webserver-workers": 4
        }));
        let state = read_config(&v, &m, &no_secrets());
        assert_eq!(
            state.user_env.into_iter().collect::<Vec<_>>(),
            [
                ("DJANGO_GREETING", "hi"),
                ("DJANGO_MAX_ITEMS", "25"),
                ("DJANGO_RATIO", "0.5"),
                ("DJANGO_BETA", "true"),
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        assert_eq!(state.debug, Some(false));
        assert_eq!(state.webserver.workers, Some(4));
    }

    #[test]
    fn secret_options_expand_per_key() {
        let m = meta(&[("api-credentials", OptionType::Secret, None)]);
        let v = values(serde_json::json!({"api-credentials": "secret:abc"}));
        assert_eq!(key_secret_uri(&v), None);
        assert_eq!(user_secret_uris(&v, &m, &no_secrets()), ["secret:abc"]);
        let resolved = secrets("secret:abc", &[("token", "abc"), ("client-id", "c1")]);
        let state = read_config(&v, &m, &resolved);
        assert_eq!(state.user_env["DJANGO_API_CREDENTIALS_TOKEN"], "abc");
        assert_eq!(state.user_env["DJANGO_API_CREDENTIALS_CLIENT_ID"], "c1");
        let unreadable = read_config(&v, &m, &no_secrets());
        assert_eq!(
            unreadable.user_error().as_deref(),
            Some("invalid options: api-credentials")
        );
    }

    #[test]
    fn missing_mandatory_options_sorted() {
        let m = meta(&[
            ("non-optional-string", OptionType::String, Some(false)),
            ("non-optional-bool", OptionType::Boolean, Some(false)),
            ("non-optional-int", OptionType::Int, Some(false)),
            ("non-optional-float", OptionType::Float, Some(false)),
            ("non-optional-secret", OptionType::Secret, Some(false)),
            ("optional-one", OptionType::String, Some(true)),
        ]);
        let state = read_config(&serde_json::Map::new(), &m, &no_secrets());
        assert_eq!(
            state.user_error().as_deref(),
            Some(
                "missing options: non-optional-bool, non-optional-float, non-optional-int, non-optional-secret, non-optional-string"
            )
        );
    }

    #[test]
    fn framework_secret_key_rules() {
        let m = meta(&[("django-secret-key", OptionType::String, None)]);
        let empty = read_config(
            &values(serde_json::json!({"django-secret-key": ""})),
            &m,
            &no_secrets(),
        );
        assert_eq!(
            empty.framework_error().as_deref(),
            Some("invalid options: django-secret-key")
        );

        let both = values(
            serde_json::json!({"django-secret-key": "plain", "django-secret-key-id": "secret:k"}),
        );
        assert_eq!(key_secret_uri(&both), None, "the key's secret is not read");
        let s = read_config(&both, &m, &no_secrets());
        assert_eq!(
            s.framework_error().as_deref(),
            Some("invalid options: django-secret-key-id")
        );

        let wrong_key = secrets("secret:k", &[("key", "x")]);
        let id_only = values(serde_json::json!({"django-secret-key-id": "secret:k"}));
        assert_eq!(key_secret_uri(&id_only), Some("secret:k"));
        let s = read_config(&id_only, &m, &wrong_key);
        assert_eq!(
            s.framework_error().as_deref(),
            Some("invalid options: django-secret-key-id")
        );

        let good = secrets("secret:k", &[("value", "from-secret")]);
        let with_empty_plain = values(
            serde_json::json!({"django-secret-key": "", "django-secret-key-id": "secret:k"}),
        );
        assert_eq!(key_secret_uri(&with_empty_plain), Some("secret:k"));
        let s = read_config(&with_empty_plain, &m, &good);
        assert_eq!(s.framework_error(), None);
        assert_eq!(s.secret_key.as_deref(), Some("from-secret"));
    }

    #[test]
    fn allowed_hosts_are_split_and_stripped_keeping_empties() {
        let s = read_config(
            &values(serde_json::json!({"django-allowed-hosts": "www.example.com, example.com,,b"})),
            &CharmMeta::default(),
            &no_secrets(),
        );
        assert_eq!(s.allowed_hosts, ["www.example.com", "example.com", "", "b"]);
    }

    #[test]
    fn both_missing_and_invalid_are_joined() {
        let s = ConfigState {
            missing: vec!["b_opt".into(), "a-opt".into()],
            invalid_user: vec!["c".into()],
            ..Default::default()
        };
        assert_eq!(
            s.user_error().as_deref(),
            Some("missing options: a-opt, b-opt; invalid options: c")
        );
    }
}
