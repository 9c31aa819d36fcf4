//! The simulated world: an in-memory Juju ([`juju`]) and Pebble ([`pebble`]) that answer
//! like the real ones, and `simulate`, which runs one event against them and shows what
//! the charm would do. The same machinery drives the unit and scenario tests and the
//! test harness's fake Pebble server. Dependencies run from here to the rest of the
//! crate, never back: `juju::` and `pebble::` hold only the real I/O and its types.
//!
//! A simulation is a YAML document (see the README for the format): the Juju side as a
//! [`JujuState`], the container as a [`PebbleModel`], and optionally the charm's
//! `charmcraft.yaml` and extra hook environment.

pub mod juju;
pub mod pebble;

use std::collections::{BTreeMap, HashMap};

use indexmap::IndexMap;
use serde::Deserialize;

use crate::charm::run_hook;
use crate::juju::context::HookContext;
use crate::juju::metadata::CharmMeta;
use crate::juju::status_memory::{Skipped, StatusMemory};
use crate::juju::tools::HookTools;
use crate::project::Project;
use crate::sim::juju::{HookScope, JujuState, MemoryJuju};
use crate::sim::pebble::{MemoryPebble, PebbleModel, PebbleOp};

/// The project file `build.rs` checked (the packed charm's own), the default metadata of
/// a simulation.
pub const CHARMCRAFT_YAML: &str = include_str!(concat!(env!("OUT_DIR"), "/charmcraft.yaml"));
/// The embedded example: Django with PostgreSQL and ingress.
pub const EXAMPLE: &str = include_str!("../../templates/simulate-example.yaml");

/// A simulation: the world before the event.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct Simulation {
    pub model: String,
    pub juju_version: String,
    /// The event run when none is given.
    pub event: String,
    /// The charm's `charmcraft.yaml`; the charm's own when absent.
    pub charmcraft: Option<String>,
    /// The project's `paas-config.yaml`, if it has one.
    pub paas_config: Option<String>,
    /// Extra hook environment (e.g. `JUJU_CHARM_HTTP_PROXY`), and event variables.
    pub env: IndexMap<String, String>,
    pub juju: JujuState,
    pub pebble: PebbleModel,
    pub pebble_reachable: bool,
    /// The statuses the charm remembers writing last (the file in its charm directory);
    /// absent: none, so every status is written.
    pub last_status: StatusMemory,
}

impl Default for Simulation {
    fn default() -> Self {
        Simulation {
            model: "test-model".into(),
            juju_version: "3.6.8".into(),
            event: "config-changed".into(),
            charmcraft: None,
            paas_config: None,
            env: IndexMap::new(),
            juju: JujuState {
                unit: "django-k8s/0".into(),
                model_uuid: "cbb1b3b6-8f1e-4f43-8b53-2a0a2f4c5a10".into(),
                leader: true,
                ..Default::default()
            },
            pebble: PebbleModel::default(),
            pebble_reachable: true,
            last_status: StatusMemory::default(),
        }
    }
}

/// What one event did.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub exit_code: u8,
    /// Juju after the hook (buffered changes dropped when the hook failed).
    pub juju: JujuState,
    pub pebble: PebbleModel,
    /// The status writes the charm skipped because they would change nothing (known
    /// in memory; through `dispatch`, only the calls show them).
    pub skipped_statuses: Vec<Skipped>,
    /// Index of the first tool call and Pebble op of this event.
    first_call: usize,
    first_op: usize,
}

/// The world a hook starts from.
pub struct HookInput {
    pub juju: JujuState,
    pub pebble: PebbleModel,
    /// Whether the container's Pebble can be reached.
    pub reachable: bool,
    pub last_status: StatusMemory,
}

/// What a hook left.
pub struct HookResult {
    pub exit_code: u8,
    pub juju: JujuState,
    pub pebble: PebbleModel,
    pub last_status: StatusMemory,
    pub skipped_statuses: Vec<Skipped>,
}

/// Why `simulate` refuses a `charmcraft.yaml` that still uses charmcraft extensions.
pub const EXTENSIONS_REFUSED: &str = "charmcraft.yaml uses extensions; this charm replaces the \
     django-framework extension: use the expanded form (charmcraft expand-extensions)";

impl Simulation {
    pub fn from_yaml(text: &str) -> Result<Simulation, String> {
        let sim: Simulation =
            serde_saphyr::from_str(text).map_err(|e| format!("invalid simulation state: {e}"))?;
        if !sim.juju.config_defaults.is_empty() {
            return Err(
                "invalid simulation state: juju.config-defaults is not part of a state: \
                 the option defaults come from charmcraft.yaml"
                    .to_string(),
            );
        }
        Ok(sim)
    }

    /// Refuse a `charmcraft.yaml` with a top-level `extensions:` key: the extension
    /// would give the charm its container, peer relation and options, which this charm
    /// only knows in their expanded form, so running it would show a charm Juju never
    /// runs.
    pub fn check_charmcraft(&self) -> Result<(), String> {
        let Some(text) = self.charmcraft.as_deref() else {
            return Ok(());
        };
        // A text that is not a mapping is left for the metadata parser to report.
        let uses_extensions = serde_saphyr::from_str::<serde_json::Value>(text)
            .ok()
            .is_some_and(|project| project.get("extensions").is_some());
        if uses_extensions {
            return Err(EXTENSIONS_REFUSED.to_string());
        }
        Ok(())
    }

    pub fn project(&self) -> Result<Project, String> {
        self.check_charmcraft()?;
        Project::from_texts(
            self.charmcraft.as_deref().unwrap_or(CHARMCRAFT_YAML),
            self.paas_config.as_deref(),
        )
        .map_err(|e| e.to_string())
    }

    /// The hook environment of `event` (`config-changed`, `postgresql-relation-changed`,
    /// `django-app-pebble-ready`, `secret-changed`, an action name, ...).
    pub fn hook_env(&self, event: &str, meta: &CharmMeta) -> HashMap<String, String> {
        let mut env: HashMap<String, String> = HashMap::new();
        let mut set = |k: &str, v: &str| {
            env.insert(k.to_string(), v.to_string());
        };
        let is_action = meta.actions.iter().any(|a| a == event);
        let path = if is_action {
            format!("actions/{event}")
        } else {
            format!("hooks/{event}")
        };
        set("JUJU_DISPATCH_PATH", &path);
        set("JUJU_HOOK_NAME", if is_action { "" } else { event });
        set("JUJU_UNIT_NAME", &self.juju.unit);
        set("JUJU_MODEL_NAME", &self.model);
        set("JUJU_MODEL_UUID", &self.juju.model_uuid);
        set("JUJU_VERSION", &self.juju_version);
        set("JUJU_CHARM_DIR", ".");
        for kind in ["created", "joined", "changed", "departed", "broken"] {
            let Some(endpoint) = event.strip_suffix(&format!("-relation-{kind}")) else {
                continue;
            };
            if let Some(rel) = self.juju.relation(endpoint) {
                set("JUJU_RELATION", endpoint);
                set("JUJU_RELATION_ID", &format!("{endpoint}:{}", rel.id));
                set("JUJU_REMOTE_APP", &rel.remote_app);
                if matches!(kind, "joined" | "changed" | "departed")
                    && let Some(unit) = rel.remote_units.keys().next()
                {
                    set("JUJU_REMOTE_UNIT", unit);
                    if kind == "departed" {
                        set("JUJU_DEPARTING_UNIT", unit);
                    }
                }
            }
        }
        for container in &meta.containers {
            if event.starts_with(&format!("{container}-pebble-")) {
                set("JUJU_WORKLOAD_NAME", container);
            }
        }
        if event.starts_with("secret-")
            && let Some(secret) = self.juju.secrets.first()
        {
            set("JUJU_SECRET_ID", &secret.id);
        }
        for (k, v) in &self.env {
            env.insert(k.clone(), v.clone());
        }
        env
    }

    /// Run `event` on the in-memory Juju and Pebble; the simulation then holds the world
    /// after it, so events chain.
    pub fn run(&mut self, event: &str) -> Result<Outcome, String> {
        let project = self.project()?;
        self.run_with(event, |env, input| {
            let ctx = HookContext::from_env(env).map_err(|e| e.to_string())?;
            let scope = HookScope {
                relation_id: env.get("JUJU_RELATION_ID").cloned(),
                remote_unit: env.get("JUJU_REMOTE_UNIT").cloned(),
                remote_app: env.get("JUJU_REMOTE_APP").cloned(),
            };
            let mut tools = HookTools::new(MemoryJuju::new(input.juju, scope));
            tools.remember_statuses(input.last_status, None);
            let mut pebble = MemoryPebble {
                model: input.pebble,
                reachable: input.reachable,
            };
            let exit_code = run_hook(&ctx, &project, &mut tools, &mut pebble);
            let (last_status, skipped_statuses) = tools
                .statuses()
                .map(|book| (book.memory().clone(), book.skipped().to_vec()))
                .unwrap_or_default();
            Ok(HookResult {
                exit_code,
                juju: tools.into_runner().state,
                pebble: pebble.model,
                last_status,
                skipped_statuses,
            })
        })
    }

    /// Run `event` with `execute`, which gets the hook environment and the world before
    /// the hook, and returns what the hook left. Buffered Juju changes are dropped when
    /// the hook fails.
    pub fn run_with<F>(&mut self, event: &str, execute: F) -> Result<Outcome, String>
    where
        F: FnOnce(&HashMap<String, String>, HookInput) -> Result<HookResult, String>,
    {
        let project = self.project()?;
        let env = self.hook_env(event, &project.meta);
        // Juju answers `config-get` with the metadata's defaults for options not set.
        self.juju.config_defaults = crate::sim::juju::option_defaults(&project.meta);
        // An action runs with its parameters; none given means none.
        if env["JUJU_DISPATCH_PATH"].starts_with("actions/") && self.juju.action.is_none() {
            self.juju.action = Some(crate::sim::juju::ActionState::default());
        }
        let before = self.juju.clone();
        let first_call = self.juju.calls.len();
        let first_op = self.pebble.ops.len();
        let result = execute(
            &env,
            HookInput {
                juju: self.juju.clone(),
                pebble: self.pebble.clone(),
                reachable: self.pebble_reachable,
                last_status: self.last_status.clone(),
            },
        )?;
        let HookResult {
            exit_code,
            mut juju,
            pebble,
            last_status,
            skipped_statuses,
        } = result;
        juju.end_hook(&before, i32::from(exit_code));
        self.juju = juju.clone();
        self.pebble = pebble.clone();
        self.last_status = last_status;
        Ok(Outcome {
            exit_code,
            juju,
            pebble,
            skipped_statuses,
            first_call,
            first_op,
        })
    }
}

impl Outcome {
    /// The environment of the `django` service in the plan after the event.
    pub fn django_env(&self) -> BTreeMap<String, String> {
        self.pebble
            .plan()
            .services
            .get("django")
            .map(|s| s.environment.clone())
            .unwrap_or_default()
    }

    /// The Pebble operations of this event.
    pub fn ops(&self) -> &[PebbleOp] {
        &self.pebble.ops[self.first_op..]
    }

    /// The hook tool calls of this event.
    pub fn calls(&self) -> &[crate::sim::juju::ToolCall] {
        &self.juju.calls[self.first_call..]
    }

    /// A human-readable report: status, environment, layer, files, commands, databag
    /// writes.
    pub fn report(&self) -> String {
        let mut out = String::new();
        let status = |s: &Option<crate::juju::tools::Status>| {
            s.as_ref()
                .map(|s| format!("{} {:?}", s.kind.as_str(), s.message))
                .unwrap_or_else(|| "unknown".into())
        };
        out.push_str(&format!("exit code: {}\n", self.exit_code));
        out.push_str(&format!(
            "unit status: {}\n",
            status(&self.juju.unit_status)
        ));
        out.push_str(&format!(
            "application status: {}\n",
            status(&self.juju.app_status)
        ));
        for skip in &self.skipped_statuses {
            let whose = if skip.application {
                "application"
            } else {
                "unit"
            };
            out.push_str(&format!("{whose} status unchanged: {}\n", skip.status));
        }
        out.push_str(&format!(
            "opened ports: {}\n",
            self.juju.opened_ports.join(", ")
        ));
        let tools: Vec<&str> = self.calls().iter().map(|c| c.tool.as_str()).collect();
        out.push_str(&format!(
            "hook tool calls ({}): {}\n",
            tools.len(),
            tools.join(" ")
        ));
        out.push_str("\ndjango environment:\n");
        for (k, v) in self.django_env() {
            out.push_str(&format!("  {k}={v}\n"));
        }
        out.push_str("\nPebble operations:\n");
        for op in self.ops() {
            out.push_str(&format!("  {}\n", describe_op(op)));
        }
        out.push_str("\nplan:\n");
        let plan = self.pebble.plan().to_yaml().unwrap_or_default();
        for line in plan.lines() {
            out.push_str(&format!("  {line}\n"));
        }
        out.push_str("\ndatabag writes:\n");
        for call in self.calls().iter().filter(|c| c.tool == "relation-set") {
            out.push_str(&format!(
                "  relation-set {} {}\n",
                call.args.join(" "),
                call.stdin.as_deref().unwrap_or("")
            ));
        }
        if let Some(action) = &self.juju.action {
            out.push_str("\naction:\n");
            if let Some(m) = &action.failed {
                out.push_str(&format!("  failed: {m:?}\n"));
            }
            for (k, v) in &action.results {
                out.push_str(&format!("  result {k}={v}\n"));
            }
        }
        let logs: Vec<_> = self.juju.logs.iter().collect();
        if !logs.is_empty() {
            out.push_str("\nlog:\n");
            for l in logs {
                out.push_str(&format!("  {} {}\n", l.level, l.message));
            }
        }
        out
    }
}

fn describe_op(op: &PebbleOp) -> String {
    match op {
        PebbleOp::AddLayer { label, combine, .. } => {
            format!("add layer {label:?} (combine: {combine})")
        }
        PebbleOp::ServiceAction { action, services } => {
            format!("{} {}", action.as_str(), services.join(", "))
        }
        PebbleOp::Push {
            path, user, group, ..
        } => format!(
            "write {path}{}",
            match (user, group) {
                (Some(u), Some(g)) => format!(" ({u}:{g})"),
                _ => String::new(),
            }
        ),
        PebbleOp::MakeDir { path, .. } => format!("make dir {path}"),
        PebbleOp::Remove { path, .. } => format!("remove {path}"),
        PebbleOp::Exec {
            command,
            user,
            working_dir,
            ..
        } => format!(
            "exec {command:?}{}{}",
            user.as_ref()
                .map(|u| format!(" as {u}"))
                .unwrap_or_default(),
            working_dir
                .as_ref()
                .map(|d| format!(" in {d}"))
                .unwrap_or_default()
        ),
        PebbleOp::Signal { signal, services } => {
            format!("signal {signal} to {}", services.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_answers_config_get_with_the_metadata_defaults_under_the_state_config() {
        let mut sim = Simulation::from_yaml(EXAMPLE).unwrap();
        sim.juju.config.shift_remove("django-debug");
        let written = sim.juju.config.clone();
        let outcome = sim.run("config-changed").unwrap();
        assert_eq!(outcome.django_env()["DJANGO_DEBUG"], "false");
        assert_eq!(
            outcome.juju.config, written,
            "the state's config stays as written"
        );
        assert_eq!(
            outcome.juju.config_defaults,
            *serde_json::json!({"django-debug": false})
                .as_object()
                .unwrap()
        );
    }

    #[test]
    fn a_state_cannot_write_the_defaults_itself() {
        let err =
            Simulation::from_yaml("juju:\n  config-defaults: {django-debug: true}\n").unwrap_err();
        assert!(
            err.contains("juju.config-defaults is not part of a state"),
            "{err}"
        );
    }

    #[test]
    fn a_charmcraft_yaml_with_extensions_is_refused() {
        let mut sim = Simulation::from_yaml(EXAMPLE).unwrap();
        assert_eq!(sim.check_charmcraft(), Ok(()));
        sim.charmcraft = Some(CHARMCRAFT_YAML.to_string());
        assert_eq!(sim.check_charmcraft(), Ok(()));
        sim.charmcraft = Some("name: blog\nextensions: [django-framework]\n".into());
        assert_eq!(sim.check_charmcraft(), Err(EXTENSIONS_REFUSED.to_string()));
        assert_eq!(
            sim.run("config-changed").unwrap_err(),
            EXTENSIONS_REFUSED.to_string()
        );
        // A key of the same name deeper down is not the extensions list.
        sim.charmcraft = Some("name: blog\nparts:\n  x:\n    extensions: []\n".into());
        assert_eq!(sim.check_charmcraft(), Ok(()));
    }
}
