//! An in-memory Juju that answers hook tools, for tests and `simulate`.
//!
//! [`JujuState`] is what a unit agent would know during one hook: config, relations with
//! their databags, secrets, leadership, ports, statuses. [`run_tool`] interprets a hook
//! tool's argv against it the way Juju does (`CONTRACT.md` C), including the error
//! texts and exit codes, so the typed client in [`crate::juju::tools`] is exercised on
//! the real argv. The same interpreter backs the test harness's fake hook-tool
//! executables, which keep the state in a JSON file between calls. Tests build that
//! state with [`bag`] and the builder methods of [`RelationState`] and [`SecretState`],
//! one set of fixtures for the unit tests, the harness and the integration tests.
//!
//! Like Juju, relation data, ports, secrets and unit state written by a hook take effect
//! only when the hook exits 0: [`JujuState::rollback_to`] undoes them otherwise, while
//! statuses and logs (which Juju applies at once) stay.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::juju::context::RelationId;
use crate::juju::metadata::CharmMeta;
use crate::juju::tools::{Databag, Status, ToolOutput, ToolRunner};

mod tools;
pub use tools::run_tool;

/// One relation as this unit sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct RelationState {
    pub id: u64,
    pub endpoint: String,
    /// The remote application (our own application for a peer relation).
    pub remote_app: String,
    /// The remote model's UUID, when the relation is cross-model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_model_uuid: Option<String>,
    /// Remote units (other units of this app for a peer relation) and their databags.
    pub remote_units: IndexMap<String, Databag>,
    pub remote_app_data: Databag,
    pub local_unit_data: Databag,
    /// Our application databag (for a peer relation, the one all units share).
    pub local_app_data: Databag,
}

/// The defaults of a charm's options, by name: what `config-get` answers for an option
/// that is not set ([`JujuState::config_defaults`]).
pub fn option_defaults(meta: &CharmMeta) -> serde_json::Map<String, Value> {
    meta.options
        .iter()
        .filter_map(|(name, option)| Some((name.clone(), option.default.clone()?)))
        .collect()
}

/// A databag from pairs, in order: how fixtures write relation data and secret contents.
pub fn bag(pairs: &[(&str, &str)]) -> Databag {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Builders for fixtures (unit tests, the scenario tests, the harness): a relation is
/// written as `RelationState::new(5, "redis", "redis-k8s").remote_units(&["redis-k8s/0"])`
/// rather than as a struct literal, so adding a field touches this file only.
impl RelationState {
    /// Relation `endpoint:id` to `remote_app`, with no remote unit and every bag empty.
    pub fn new(id: u64, endpoint: impl Into<String>, remote_app: impl Into<String>) -> Self {
        RelationState {
            id,
            endpoint: endpoint.into(),
            remote_app: remote_app.into(),
            ..RelationState::default()
        }
    }

    /// Remote units that have joined but published nothing yet.
    pub fn remote_units(mut self, units: &[&str]) -> Self {
        for unit in units {
            self.remote_units.insert(unit.to_string(), Databag::new());
        }
        self
    }

    /// A remote unit and the bag it published.
    pub fn remote_unit(mut self, unit: &str, data: Databag) -> Self {
        self.remote_units.insert(unit.to_string(), data);
        self
    }

    /// The remote application's bag (the provider's data).
    pub fn remote_app_data(mut self, data: Databag) -> Self {
        self.remote_app_data = data;
        self
    }

    /// Our application's bag (on a peer relation, the one all units share).
    pub fn local_app_data(mut self, data: Databag) -> Self {
        self.local_app_data = data;
        self
    }

    pub fn relation_id(&self) -> RelationId {
        RelationId::new(self.endpoint.clone(), self.id)
    }
}

/// One Juju secret visible to this unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct SecretState {
    /// `secret:<xid>`.
    pub id: String,
    /// Revisions, oldest first; the latest is the last.
    pub revisions: Vec<Databag>,
    /// The owner's label, or the consumer's label once assigned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// `application` or `unit` when this app owns the secret; `None` when consumed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The revision (1-based) this consumer is pinned to, once read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pinned: Option<usize>,
    /// `false`: the secret exists but is not granted to us (`permission denied`).
    #[serde(default = "yes")]
    pub granted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expire: Option<String>,
    /// Relation ids the secret is granted on (owner side).
    pub grants: Vec<u64>,
    /// Added in the hook running now: a `secret-set` in the same hook amends the add
    /// (its content replaces the first revision), as Juju does. Cleared when the hook
    /// ends.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pending: bool,
}

/// Builders for fixtures, like [`RelationState`]'s.
impl SecretState {
    /// Secret `id`, granted to this unit (as a consumer), with `content` as its only
    /// revision.
    pub fn new(id: impl Into<String>, content: Databag) -> Self {
        SecretState {
            id: id.into(),
            revisions: vec![content],
            granted: true,
            ..SecretState::default()
        }
    }

    /// Secret `id` owned by this application under `label`, with `content` as its only
    /// revision.
    pub fn owned(id: impl Into<String>, label: &str, content: Databag) -> Self {
        SecretState {
            owner: Some("application".into()),
            label: Some(label.into()),
            ..SecretState::new(id, content)
        }
    }

    /// A newer revision: it becomes the latest.
    pub fn revision(mut self, content: Databag) -> Self {
        self.revisions.push(content);
        self
    }

    /// This consumer has read, and is pinned to, `revision` (1-based).
    pub fn pinned(mut self, revision: usize) -> Self {
        self.pinned = Some(revision);
        self
    }

    /// Whether it is granted to us: `false` makes every read `permission denied`.
    pub fn granted(mut self, granted: bool) -> Self {
        self.granted = granted;
        self
    }
}

fn yes() -> bool {
    true
}

/// A failure injected for one tool: every call to it exits with this code and stderr.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct ToolFailure {
    pub tool: String,
    pub code: i32,
    pub stderr: String,
}

/// One hook tool call, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct ToolCall {
    pub tool: String,
    pub args: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
}

/// A status change, in the order they were made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    pub application: bool,
    pub status: Status,
}

/// One `juju-log` line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    pub level: String,
    pub message: String,
}

/// What the action has reported so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct ActionState {
    pub params: serde_json::Map<String, Value>,
    pub results: IndexMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
    pub logs: Vec<String>,
}

/// The relation and remote unit Juju sets for a relation hook, used for the tools'
/// defaults (`JUJU_RELATION_ID`, `JUJU_REMOTE_UNIT`, `JUJU_REMOTE_APP`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct HookScope {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relation_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_unit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_app: Option<String>,
}

/// Everything one unit's agent knows, plus what the hooks did to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct JujuState {
    /// This unit, e.g. `django-k8s/0`.
    pub unit: String,
    pub model_uuid: String,
    pub leader: bool,
    /// The options set (`juju config`), as written: what the operator chose.
    pub config: serde_json::Map<String, Value>,
    /// The defaults of the charm's options, from its metadata: `config-get` answers
    /// with them for options `config` does not set, as Juju does. A simulation fills
    /// them in from its `charmcraft.yaml`.
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub config_defaults: serde_json::Map<String, Value>,
    pub relations: Vec<RelationState>,
    pub secrets: Vec<SecretState>,
    /// Binding → bind address (`network-get`).
    pub bind_addresses: IndexMap<String, String>,
    /// `goal-state` units and their status; empty means just this unit, `active`.
    pub goal_units: IndexMap<String, String>,
    pub opened_ports: Vec<String>,
    /// Unit state (`state-get` / `state-set`).
    pub unit_state: Databag,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<ActionState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit_status: Option<Status>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_status: Option<Status>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload_version: Option<String>,
    pub status_history: Vec<StatusChange>,
    pub logs: Vec<LogLine>,
    pub calls: Vec<ToolCall>,
    pub failures: Vec<ToolFailure>,
    /// Counter for new secret ids.
    pub next_secret: u64,
}

impl JujuState {
    /// The application name (the unit name before `/`).
    pub fn app(&self) -> &str {
        self.unit.split('/').next().unwrap_or(&self.unit)
    }

    /// What `config-get` prints: the options set, and the default of every option not
    /// set that has one.
    pub fn effective_config(&self) -> serde_json::Map<String, Value> {
        let mut config = self.config.clone();
        for (key, default) in &self.config_defaults {
            if !config.contains_key(key) {
                config.insert(key.clone(), default.clone());
            }
        }
        config
    }

    pub fn relation(&self, endpoint: &str) -> Option<&RelationState> {
        self.relations.iter().find(|r| r.endpoint == endpoint)
    }

    pub fn relation_mut(&mut self, endpoint: &str) -> Option<&mut RelationState> {
        self.relations.iter_mut().find(|r| r.endpoint == endpoint)
    }

    /// Undo what a failed hook buffered (relation data, ports, secrets, unit state), as
    /// Juju does when a hook exits non-zero; statuses, logs and calls stay.
    pub fn rollback_to(&mut self, before: &JujuState) {
        self.relations.clone_from(&before.relations);
        self.secrets.clone_from(&before.secrets);
        self.opened_ports.clone_from(&before.opened_ports);
        self.unit_state.clone_from(&before.unit_state);
        self.next_secret = before.next_secret;
    }

    /// The hook that started from `before` ended with `exit_code`: a failed hook's
    /// buffered changes are dropped, and secrets added in it are no longer pending.
    pub fn end_hook(&mut self, before: &JujuState, exit_code: i32) {
        if exit_code != 0 {
            self.rollback_to(before);
        }
        for secret in &mut self.secrets {
            secret.pending = false;
        }
    }

    /// The `juju-log` messages, one per line.
    pub fn log_text(&self) -> String {
        self.logs
            .iter()
            .map(|l| format!("{} {}\n", l.level, l.message))
            .collect()
    }
}

/// The in-memory Juju as a [`ToolRunner`].
#[derive(Debug, Clone, Default)]
pub struct MemoryJuju {
    pub state: JujuState,
    pub scope: HookScope,
}

impl MemoryJuju {
    pub fn new(state: JujuState, scope: HookScope) -> Self {
        MemoryJuju { state, scope }
    }
}

impl ToolRunner for MemoryJuju {
    fn run(
        &mut self,
        tool: &str,
        args: &[String],
        stdin: Option<&[u8]>,
    ) -> std::io::Result<ToolOutput> {
        Ok(run_tool(&mut self.state, &self.scope, tool, args, stdin))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::juju::tools::{HookTools, SecretOptions, SecretRead};

    fn state() -> JujuState {
        serde_json::from_value(serde_json::json!({
            "unit": "django-k8s/0",
            "model-uuid": "uuid-1",
            "leader": true,
            "config": {"token": "abc", "django-debug": false},
            "relations": [
                {"id": 3, "endpoint": "postgresql", "remote-app": "pg",
                 "remote-units": {"pg/0": {"ingress-address": "10.0.0.1"}},
                 "remote-app-data": {"endpoints": "pg:5432", "database": "blog"}},
                {"id": 1, "endpoint": "secret-storage", "remote-app": "django-k8s",
                 "remote-units": {"django-k8s/1": {}},
                 "local-app-data": {"django_secret_key": "k"}}
            ],
            "secrets": [
                {"id": "secret:user1", "revisions": [{"username": "u", "password": "p1"}, {"username": "u", "password": "p2"}]},
                {"id": "secret:hidden", "revisions": [{"a": "b"}], "granted": false}
            ]
        }))
        .unwrap()
    }

    fn tools(leader: bool) -> HookTools<MemoryJuju> {
        let mut s = state();
        s.leader = leader;
        HookTools::new(MemoryJuju::new(s, HookScope::default()))
    }

    #[test]
    fn config_get_answers_unset_options_with_their_defaults() {
        let mut s = state();
        s.config_defaults = serde_json::json!({"django-debug": true, "greeting": "hello"})
            .as_object()
            .unwrap()
            .clone();
        let mut t = HookTools::new(MemoryJuju::new(s, HookScope::default()));
        let config = t.config_get().unwrap();
        assert_eq!(config["token"], "abc");
        assert_eq!(
            config["django-debug"], false,
            "a set value beats the default"
        );
        assert_eq!(config["greeting"], "hello");
        let one = |key: &str| {
            let out = run_tool(
                &mut t.runner().state.clone(),
                &HookScope::default(),
                "config-get",
                &[key.to_string(), "--format=json".to_string()],
                None,
            );
            String::from_utf8(out.stdout).unwrap()
        };
        assert_eq!(one("greeting"), "\"hello\"\n");
        assert_eq!(one("motto"), "null\n");
        assert!(!t.runner().state.config.contains_key("greeting"));
    }

    #[test]
    fn relation_reads_through_the_typed_client() {
        let mut t = tools(true);
        let pg = RelationId::new("postgresql", 3);
        assert_eq!(t.relation_ids("postgresql").unwrap(), vec![pg.clone()]);
        assert_eq!(t.relation_list(&pg).unwrap().unwrap(), vec!["pg/0"]);
        assert_eq!(t.relation_remote_app(&pg).unwrap().as_deref(), Some("pg"));
        let bag = t.relation_get(&pg, "pg", true).unwrap().unwrap();
        assert_eq!(bag["database"], "blog");
        assert_eq!(
            t.relation_get(&RelationId::new("postgresql", 9), "pg", true)
                .unwrap(),
            None
        );
    }

    #[test]
    fn non_leader_cannot_read_or_write_its_own_app_bag_except_on_peers() {
        let mut t = tools(false);
        let pg = RelationId::new("postgresql", 3);
        assert_eq!(t.relation_get(&pg, "django-k8s", true).unwrap(), None);
        let peer = RelationId::new("secret-storage", 1);
        let shared = t.relation_get(&peer, "django-k8s", true).unwrap().unwrap();
        assert_eq!(shared["django_secret_key"], "k");
        let data = bag(&[("database", "x")]);
        let err = t.relation_set(&pg, &data, true).unwrap_err();
        assert!(
            err.to_string().contains("cannot write relation settings"),
            "{err}"
        );
    }

    #[test]
    fn relation_set_merges_and_empty_deletes() {
        let mut t = tools(true);
        let pg = RelationId::new("postgresql", 3);
        let data = bag(&[("a", "1"), ("b", "2")]);
        t.relation_set(&pg, &data, false).unwrap();
        let del = bag(&[("a", "")]);
        t.relation_set(&pg, &del, false).unwrap();
        let ours = t.relation_get(&pg, "django-k8s/0", false).unwrap().unwrap();
        assert_eq!(ours.get("a"), None);
        assert_eq!(ours["b"], "2");
    }

    #[test]
    fn secrets_pin_refresh_and_hide() {
        let mut t = tools(true);
        // Consumers are pinned to the revision of their first read... which is the latest.
        let c = t
            .secret_get(Some("secret:user1"), None, SecretRead::Pinned)
            .unwrap()
            .unwrap();
        assert_eq!(c["password"], "p2");
        assert_eq!(
            t.secret_get(Some("secret:nope"), None, SecretRead::Refresh)
                .unwrap(),
            None
        );
        assert_eq!(
            t.secret_get(Some("secret:hidden"), None, SecretRead::Refresh)
                .unwrap(),
            None
        );
        let content = bag(&[("value", "s3cr3t")]);
        let id = t.secret_add(&content, &SecretOptions::default()).unwrap();
        assert!(id.starts_with("secret:"));
        assert_eq!(t.secret_ids().unwrap().len(), 1);
        let got = t
            .secret_get(Some(&id), None, SecretRead::Refresh)
            .unwrap()
            .unwrap();
        assert_eq!(got["value"], "s3cr3t");
        let info = t.secret_info_get(Some(&id), None).unwrap().unwrap();
        assert_eq!(info.revision, Some(1));
    }

    #[test]
    fn rollback_undoes_buffered_changes_but_keeps_statuses() {
        let mut t = tools(true);
        let before = t.runner().state.clone();
        let pg = RelationId::new("postgresql", 3);
        let data = bag(&[("x", "1")]);
        t.relation_set(&pg, &data, true).unwrap();
        t.open_port("8000/tcp").unwrap();
        t.status_set(&Status::blocked("x"), false).unwrap();
        let mut after = t.into_runner().state;
        after.rollback_to(&before);
        assert!(
            after
                .relation("postgresql")
                .unwrap()
                .local_app_data
                .is_empty()
        );
        assert!(after.opened_ports.is_empty());
        assert_eq!(after.unit_status, Some(Status::blocked("x")));
    }

    #[test]
    fn injected_failures_and_bad_status() {
        let mut s = state();
        s.failures.push(ToolFailure {
            tool: "config-get".into(),
            code: 1,
            stderr: "ERROR connection refused".into(),
        });
        let mut t = HookTools::new(MemoryJuju::new(s, HookScope::default()));
        assert!(t.config_get().is_err());
        let out = run_tool(
            &mut t.runner_mut().state,
            &HookScope::default(),
            "status-set",
            &["error".to_string()],
            None,
        );
        assert_eq!(out.code, 2);
        assert!(String::from_utf8_lossy(&out.stderr).contains("invalid status \"error\""));
    }

    #[test]
    fn ports_and_action_tools() {
        let mut t = tools(true);
        t.set_ports(&["8000/tcp"]).unwrap();
        assert_eq!(t.opened_ports().unwrap(), vec!["8000/tcp"]);
        assert!(t.action_get().is_err(), "not in an action");
        t.runner_mut().state.action = Some(ActionState::default());
        t.action_set(&[("password", "x")]).unwrap();
        assert!(t.action_set(&[("stdout", "x")]).is_err());
        t.action_fail("nope").unwrap();
        let action = t.runner().state.action.clone().unwrap();
        assert_eq!(action.results["password"], "x");
        assert_eq!(action.failed.as_deref(), Some("nope"));
    }
}
