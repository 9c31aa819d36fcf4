//! The hook context: what Juju tells the charm through the environment of `dispatch`.
//!
//! [`HookContext::from_env`] turns the environment (`CONTRACT.md` A.3, A.4) into a typed
//! [`Event`] plus the unit, application and model identities. Juju exports optional
//! variables as empty strings, so an empty value is read as "absent" everywhere.

use std::collections::HashMap;
use std::path::PathBuf;

/// A relation id as Juju writes it (`db:7`): the endpoint and the integer id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RelationId {
    pub endpoint: String,
    pub id: u64,
}

impl RelationId {
    pub fn new(endpoint: impl Into<String>, id: u64) -> Self {
        RelationId {
            endpoint: endpoint.into(),
            id,
        }
    }

    /// Parse `<endpoint>:<int>` (the int after the last `:`).
    pub fn parse(text: &str) -> Option<RelationId> {
        let (endpoint, id) = text.rsplit_once(':')?;
        let id = id.parse().ok()?;
        if endpoint.is_empty() {
            return None;
        }
        Some(RelationId::new(endpoint, id))
    }
}

impl std::fmt::Display for RelationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.endpoint, self.id)
    }
}

/// The five relation hook kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationKind {
    Created,
    Joined,
    Changed,
    Departed,
    Broken,
}

/// A relation event with its identities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationEvent {
    pub kind: RelationKind,
    pub relation: RelationId,
    pub remote_unit: Option<String>,
    pub remote_app: Option<String>,
    /// Only for `-departed`: the unit leaving (may be this unit).
    pub departing_unit: Option<String>,
}

/// The four secret hook kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    Changed,
    Rotate,
    Remove,
    Expired,
}

/// A secret event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretEvent {
    pub kind: SecretKind,
    pub id: String,
    pub label: Option<String>,
    /// Only for `secret-remove` and `secret-expired`.
    pub revision: Option<u64>,
}

/// The workload (Pebble) hook kinds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkloadKind {
    PebbleReady,
    CustomNotice {
        id: Option<String>,
        notice_type: Option<String>,
        key: Option<String>,
    },
    CheckFailed {
        check: Option<String>,
    },
    CheckRecovered {
        check: Option<String>,
    },
}

/// The storage hook kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageKind {
    Attached,
    Detaching,
}

/// What Juju is running the charm for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Install,
    Start,
    Stop,
    Remove,
    ConfigChanged,
    UpgradeCharm,
    LeaderElected,
    LeaderSettingsChanged,
    UpdateStatus,
    CollectMetrics,
    PreSeriesUpgrade,
    PostSeriesUpgrade,
    Relation(RelationEvent),
    Secret(SecretEvent),
    Workload {
        container: String,
        kind: WorkloadKind,
    },
    Storage {
        kind: StorageKind,
        name: String,
        id: Option<String>,
        location: Option<String>,
    },
    Action {
        name: String,
        id: Option<String>,
    },
    /// A dispatch path this charm does not know: logged and ignored.
    Unknown(String),
}

/// Why the environment is not a hook context we can run in.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ContextError {
    #[error("required hook environment variable {0} is not set")]
    Missing(&'static str),
    #[error("hook environment variable {name} has an invalid value {value:?}")]
    Invalid { name: &'static str, value: String },
}

/// Everything the environment of one hook says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookContext {
    pub dispatch_path: String,
    pub event: Event,
    pub unit_name: String,
    pub app_name: String,
    pub unit_number: u64,
    pub model_name: String,
    pub model_uuid: String,
    pub juju_version: String,
    pub charm_dir: PathBuf,
    /// `JUJU_CHARM_HTTP_PROXY` and friends (empty means unset).
    pub http_proxy: Option<String>,
    pub https_proxy: Option<String>,
    pub no_proxy: Option<String>,
}

/// Read access to an environment: the process's, or a map in tests.
pub trait Env {
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Env for HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).cloned()
    }
}

impl Env for Vec<(&str, &str)> {
    fn get(&self, name: &str) -> Option<String> {
        self.iter()
            .rev()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }
}

/// A variable that is set and not empty.
fn opt(env: &dyn Env, name: &str) -> Option<String> {
    env.get(name).filter(|v| !v.is_empty())
}

fn required(env: &dyn Env, name: &'static str) -> Result<String, ContextError> {
    opt(env, name).ok_or(ContextError::Missing(name))
}

const RELATION_SUFFIXES: [(&str, RelationKind); 5] = [
    ("-relation-created", RelationKind::Created),
    ("-relation-joined", RelationKind::Joined),
    ("-relation-changed", RelationKind::Changed),
    ("-relation-departed", RelationKind::Departed),
    ("-relation-broken", RelationKind::Broken),
];

impl HookContext {
    /// Build the context from the hook environment.
    pub fn from_env(env: &dyn Env) -> Result<HookContext, ContextError> {
        let dispatch_path = required(env, "JUJU_DISPATCH_PATH")?;
        let unit_name = required(env, "JUJU_UNIT_NAME")?;
        let model_name = required(env, "JUJU_MODEL_NAME")?;
        let model_uuid = required(env, "JUJU_MODEL_UUID")?;
        let juju_version = required(env, "JUJU_VERSION")?;
        let (app_name, number) =
            unit_name
                .rsplit_once('/')
                .ok_or_else(|| ContextError::Invalid {
                    name: "JUJU_UNIT_NAME",
                    value: unit_name.clone(),
                })?;
        let unit_number = number.parse().map_err(|_| ContextError::Invalid {
            name: "JUJU_UNIT_NAME",
            value: unit_name.clone(),
        })?;
        let charm_dir = opt(env, "JUJU_CHARM_DIR")
            .or_else(|| opt(env, "CHARM_DIR"))
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."));
        let event = parse_event(env, &dispatch_path);
        Ok(HookContext {
            app_name: app_name.to_string(),
            unit_number,
            dispatch_path,
            event,
            unit_name,
            model_name,
            model_uuid,
            juju_version,
            charm_dir,
            http_proxy: opt(env, "JUJU_CHARM_HTTP_PROXY"),
            https_proxy: opt(env, "JUJU_CHARM_HTTPS_PROXY"),
            no_proxy: opt(env, "JUJU_CHARM_NO_PROXY"),
        })
    }

    /// The event's name (last element of the dispatch path).
    pub fn event_name(&self) -> &str {
        self.dispatch_path
            .rsplit('/')
            .next()
            .unwrap_or(&self.dispatch_path)
    }

    /// `(major, minor)` of `JUJU_VERSION`, when it has that form (`DJANGO.md` 7.1).
    pub fn juju_version_pair(&self) -> Option<(u64, u64)> {
        juju_version_pair(&self.juju_version)
    }

    /// Juju 3.4 or newer (Pebble log forwarding; `gunicorn.conf.py` logs to stdout).
    pub fn juju_at_least_3_4(&self) -> bool {
        self.juju_version_pair().is_some_and(|v| v >= (3, 4))
    }
}

/// The two leading decimal numbers of a Juju version: `3.6-beta1` → `(3, 6)`.
///
/// ```
/// use django_charm::juju::context::juju_version_pair;
/// assert_eq!(juju_version_pair("3.6-beta1"), Some((3, 6)));
/// assert_eq!(juju_version_pair("3.10.1"), Some((3, 10)));
/// assert_eq!(juju_version_pair("dev"), None);
/// ```
pub fn juju_version_pair(version: &str) -> Option<(u64, u64)> {
    let (major, rest) = version.split_once('.')?;
    let minor_end = rest.find(['.', '-']).unwrap_or(rest.len());
    let minor = &rest[..minor_end];
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(major) || !all_digits(minor) {
        return None;
    }
    Some((major.parse().ok()?, minor.parse().ok()?))
}

fn parse_event(env: &dyn Env, path: &str) -> Event {
    if let Some(action) = path.strip_prefix("actions/") {
        if action.is_empty() || action.contains('/') {
            return Event::Unknown(path.to_string());
        }
        return Event::Action {
            name: action.to_string(),
            id: opt(env, "JUJU_ACTION_UUID"),
        };
    }
    let Some(hook) = path.strip_prefix("hooks/") else {
        return Event::Unknown(path.to_string());
    };
    match hook {
        "install" => return Event::Install,
        "start" => return Event::Start,
        "stop" => return Event::Stop,
        "remove" => return Event::Remove,
        "config-changed" => return Event::ConfigChanged,
        "upgrade-charm" => return Event::UpgradeCharm,
        "leader-elected" => return Event::LeaderElected,
        "leader-settings-changed" => return Event::LeaderSettingsChanged,
        "update-status" => return Event::UpdateStatus,
        "collect-metrics" => return Event::CollectMetrics,
        "pre-series-upgrade" => return Event::PreSeriesUpgrade,
        "post-series-upgrade" => return Event::PostSeriesUpgrade,
        _ => {}
    }
    if let Some(kind) = secret_kind(hook) {
        return match opt(env, "JUJU_SECRET_ID") {
            Some(id) => Event::Secret(SecretEvent {
                kind,
                id,
                label: opt(env, "JUJU_SECRET_LABEL"),
                revision: opt(env, "JUJU_SECRET_REVISION").and_then(|r| r.parse().ok()),
            }),
            None => Event::Unknown(path.to_string()),
        };
    }
    for (suffix, kind) in RELATION_SUFFIXES {
        if let Some(endpoint) = hook.strip_suffix(suffix) {
            let relation = opt(env, "JUJU_RELATION_ID").and_then(|r| RelationId::parse(&r));
            return match relation {
                Some(relation) if !endpoint.is_empty() => Event::Relation(RelationEvent {
                    kind,
                    relation,
                    remote_unit: opt(env, "JUJU_REMOTE_UNIT"),
                    remote_app: opt(env, "JUJU_REMOTE_APP"),
                    departing_unit: opt(env, "JUJU_DEPARTING_UNIT"),
                }),
                _ => Event::Unknown(path.to_string()),
            };
        }
    }
    for (suffix, kind) in [
        ("-storage-attached", StorageKind::Attached),
        ("-storage-detaching", StorageKind::Detaching),
    ] {
        if let Some(name) = hook.strip_suffix(suffix).filter(|n| !n.is_empty()) {
            return Event::Storage {
                kind,
                name: name.to_string(),
                id: opt(env, "JUJU_STORAGE_ID"),
                location: opt(env, "JUJU_STORAGE_LOCATION"),
            };
        }
    }
    let workload = [
        "-pebble-ready",
        "-pebble-custom-notice",
        "-pebble-check-failed",
        "-pebble-check-recovered",
    ];
    for suffix in workload {
        if let Some(container) = hook.strip_suffix(suffix).filter(|c| !c.is_empty()) {
            let kind = match suffix {
                "-pebble-ready" => WorkloadKind::PebbleReady,
                "-pebble-custom-notice" => WorkloadKind::CustomNotice {
                    id: opt(env, "JUJU_NOTICE_ID"),
                    notice_type: opt(env, "JUJU_NOTICE_TYPE"),
                    key: opt(env, "JUJU_NOTICE_KEY"),
                },
                "-pebble-check-failed" => WorkloadKind::CheckFailed {
                    check: opt(env, "JUJU_PEBBLE_CHECK_NAME"),
                },
                _ => WorkloadKind::CheckRecovered {
                    check: opt(env, "JUJU_PEBBLE_CHECK_NAME"),
                },
            };
            let container = opt(env, "JUJU_WORKLOAD_NAME").unwrap_or_else(|| container.into());
            return Event::Workload { container, kind };
        }
    }
    Event::Unknown(path.to_string())
}

fn secret_kind(hook: &str) -> Option<SecretKind> {
    Some(match hook {
        "secret-changed" => SecretKind::Changed,
        "secret-rotate" => SecretKind::Rotate,
        "secret-remove" => SecretKind::Remove,
        "secret-expired" => SecretKind::Expired,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(extra: &[(&str, &str)]) -> Result<HookContext, ContextError> {
        let mut env: Vec<(&str, &str)> = vec![
            ("JUJU_UNIT_NAME", "django-k8s/3"),
            ("JUJU_MODEL_NAME", "prod"),
            ("JUJU_MODEL_UUID", "cbb1b3b6-0000-4000-8000-000000000000"),
            ("JUJU_VERSION", "3.6.8"),
            (
                "JUJU_CHARM_DIR",
                "/var/lib/juju/agents/unit-django-k8s-3/charm",
            ),
            ("JUJU_HOOK_NAME", ""),
            ("JUJU_CHARM_HTTP_PROXY", ""),
            ("JUJU_CHARM_HTTPS_PROXY", ""),
            ("JUJU_CHARM_NO_PROXY", "127.0.0.1"),
        ];
        env.extend_from_slice(extra);
        HookContext::from_env(&env)
    }

    fn event(path: &str, extra: &[(&str, &str)]) -> Event {
        let mut env = vec![("JUJU_DISPATCH_PATH", path)];
        env.extend_from_slice(extra);
        ctx(&env).unwrap().event
    }

    #[test]
    fn identities_and_proxies() {
        let c = ctx(&[("JUJU_DISPATCH_PATH", "hooks/install")]).unwrap();
        assert_eq!(c.app_name, "django-k8s");
        assert_eq!(c.unit_number, 3);
        assert_eq!(c.model_name, "prod");
        assert_eq!(c.http_proxy, None, "empty string means unset");
        assert_eq!(c.no_proxy.as_deref(), Some("127.0.0.1"));
        assert_eq!(c.event, Event::Install);
        assert_eq!(c.event_name(), "install");
    }

    #[test]
    fn missing_required_variable_is_named() {
        let env: Vec<(&str, &str)> = vec![("JUJU_DISPATCH_PATH", "hooks/install")];
        assert_eq!(
            HookContext::from_env(&env),
            Err(ContextError::Missing("JUJU_UNIT_NAME"))
        );
        assert!(matches!(
            ctx(&[
                ("JUJU_DISPATCH_PATH", "hooks/install"),
                ("JUJU_UNIT_NAME", "nounit")
            ]),
            Err(ContextError::Invalid { .. })
        ));
    }

    #[test]
    fn unit_hooks() {
        for (path, ev) in [
            ("hooks/install", Event::Install),
            ("hooks/start", Event::Start),
            ("hooks/stop", Event::Stop),
            ("hooks/remove", Event::Remove),
            ("hooks/config-changed", Event::ConfigChanged),
            ("hooks/upgrade-charm", Event::UpgradeCharm),
            ("hooks/leader-elected", Event::LeaderElected),
            (
                "hooks/leader-settings-changed",
                Event::LeaderSettingsChanged,
            ),
            ("hooks/update-status", Event::UpdateStatus),
            ("hooks/collect-metrics", Event::CollectMetrics),
            ("hooks/pre-series-upgrade", Event::PreSeriesUpgrade),
            ("hooks/post-series-upgrade", Event::PostSeriesUpgrade),
        ] {
            assert_eq!(event(path, &[]), ev, "{path}");
        }
    }

    #[test]
    fn relation_hooks_with_empty_remote_unit() {
        let rel = |kind, remote_unit: Option<&str>, departing: Option<&str>| {
            Event::Relation(RelationEvent {
                kind,
                relation: RelationId::new("postgresql", 7),
                remote_unit: remote_unit.map(String::from),
                remote_app: Some("pg".into()),
                departing_unit: departing.map(String::from),
            })
        };
        let common = [
            ("JUJU_RELATION", "postgresql"),
            ("JUJU_RELATION_ID", "postgresql:7"),
            ("JUJU_REMOTE_APP", "pg"),
        ];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut v = common.to_vec();
            v.extend_from_slice(extra);
            v
        };
        assert_eq!(
            event(
                "hooks/postgresql-relation-created",
                &with(&[("JUJU_REMOTE_UNIT", "")])
            ),
            rel(RelationKind::Created, None, None)
        );
        assert_eq!(
            event(
                "hooks/postgresql-relation-joined",
                &with(&[("JUJU_REMOTE_UNIT", "pg/0")])
            ),
            rel(RelationKind::Joined, Some("pg/0"), None)
        );
        assert_eq!(
            event(
                "hooks/postgresql-relation-changed",
                &with(&[("JUJU_REMOTE_UNIT", "pg/0")])
            ),
            rel(RelationKind::Changed, Some("pg/0"), None)
        );
        assert_eq!(
            event(
                "hooks/postgresql-relation-departed",
                &with(&[
                    ("JUJU_REMOTE_UNIT", "pg/0"),
                    ("JUJU_DEPARTING_UNIT", "pg/0")
                ])
            ),
            rel(RelationKind::Departed, Some("pg/0"), Some("pg/0"))
        );
        assert_eq!(
            event(
                "hooks/postgresql-relation-broken",
                &with(&[("JUJU_REMOTE_UNIT", "")])
            ),
            rel(RelationKind::Broken, None, None)
        );
        // A relation hook without a relation id is not one we can act on.
        assert_eq!(
            event("hooks/secret-storage-relation-created", &[]),
            Event::Unknown("hooks/secret-storage-relation-created".into())
        );
    }

    #[test]
    fn hyphenated_endpoint_names_keep_their_hyphens() {
        let ev = event(
            "hooks/secret-storage-relation-changed",
            &[
                ("JUJU_RELATION_ID", "secret-storage:0"),
                ("JUJU_REMOTE_UNIT", "django-k8s/1"),
                ("JUJU_REMOTE_APP", "django-k8s"),
            ],
        );
        let Event::Relation(r) = ev else {
            panic!("not a relation event")
        };
        assert_eq!(r.relation, RelationId::new("secret-storage", 0));
    }

    #[test]
    fn secret_hooks() {
        let ev = event(
            "hooks/secret-changed",
            &[("JUJU_SECRET_ID", "secret:abc"), ("JUJU_SECRET_LABEL", "")],
        );
        assert_eq!(
            ev,
            Event::Secret(SecretEvent {
                kind: SecretKind::Changed,
                id: "secret:abc".into(),
                label: None,
                revision: None
            })
        );
        for (path, kind) in [
            ("hooks/secret-rotate", SecretKind::Rotate),
            ("hooks/secret-remove", SecretKind::Remove),
            ("hooks/secret-expired", SecretKind::Expired),
        ] {
            let ev = event(
                path,
                &[
                    ("JUJU_SECRET_ID", "secret://uuid/abc"),
                    ("JUJU_SECRET_LABEL", "db"),
                    ("JUJU_SECRET_REVISION", "3"),
                ],
            );
            assert_eq!(
                ev,
                Event::Secret(SecretEvent {
                    kind,
                    id: "secret://uuid/abc".into(),
                    label: Some("db".into()),
                    revision: Some(3)
                })
            );
        }
    }

    #[test]
    fn workload_hooks() {
        let w = |kind| Event::Workload {
            container: "django-app".into(),
            kind,
        };
        assert_eq!(
            event(
                "hooks/django-app-pebble-ready",
                &[("JUJU_WORKLOAD_NAME", "django-app")]
            ),
            w(WorkloadKind::PebbleReady)
        );
        assert_eq!(
            event(
                "hooks/django-app-pebble-custom-notice",
                &[
                    ("JUJU_WORKLOAD_NAME", "django-app"),
                    ("JUJU_NOTICE_ID", "4"),
                    ("JUJU_NOTICE_TYPE", "custom"),
                    ("JUJU_NOTICE_KEY", "example.com/foo")
                ]
            ),
            w(WorkloadKind::CustomNotice {
                id: Some("4".into()),
                notice_type: Some("custom".into()),
                key: Some("example.com/foo".into())
            })
        );
        assert_eq!(
            event(
                "hooks/django-app-pebble-check-failed",
                &[
                    ("JUJU_WORKLOAD_NAME", "django-app"),
                    ("JUJU_PEBBLE_CHECK_NAME", "up")
                ]
            ),
            w(WorkloadKind::CheckFailed {
                check: Some("up".into())
            })
        );
        assert_eq!(
            event(
                "hooks/django-app-pebble-check-recovered",
                &[
                    ("JUJU_WORKLOAD_NAME", "django-app"),
                    ("JUJU_PEBBLE_CHECK_NAME", "up")
                ]
            ),
            w(WorkloadKind::CheckRecovered {
                check: Some("up".into())
            })
        );
    }

    #[test]
    fn storage_hooks() {
        assert_eq!(
            event(
                "hooks/data-storage-attached",
                &[
                    ("JUJU_STORAGE_ID", "data/0"),
                    ("JUJU_STORAGE_LOCATION", "/srv/data"),
                    ("JUJU_STORAGE_KIND", "filesystem")
                ]
            ),
            Event::Storage {
                kind: StorageKind::Attached,
                name: "data".into(),
                id: Some("data/0".into()),
                location: Some("/srv/data".into())
            }
        );
        assert!(matches!(
            event("hooks/data-storage-detaching", &[]),
            Event::Storage {
                kind: StorageKind::Detaching,
                ..
            }
        ));
    }

    #[test]
    fn actions_keep_hyphens_and_have_an_empty_hook_name() {
        assert_eq!(
            event(
                "actions/create-superuser",
                &[
                    ("JUJU_ACTION_UUID", "42"),
                    ("JUJU_ACTION_NAME", "create-superuser")
                ]
            ),
            Event::Action {
                name: "create-superuser".into(),
                id: Some("42".into())
            }
        );
    }

    #[test]
    fn unknown_paths() {
        for path in ["hooks/no-such-hook", "something/else", "actions/", "hooks/"] {
            assert_eq!(event(path, &[]), Event::Unknown(path.into()), "{path}");
        }
    }

    #[test]
    fn juju_versions() {
        for (v, newer) in [
            ("3.6-beta1", true),
            ("3.4.0", true),
            ("3.4-rc1", true),
            ("4.0.0", true),
            ("3.10.1", true),
            ("3.3.1", false),
            ("2.9.46", false),
            ("", false),
            ("three.four", false),
            ("3", false),
        ] {
            assert_eq!(
                juju_version_pair(v).is_some_and(|p| p >= (3, 4)),
                newer,
                "{v}"
            );
        }
    }
}
