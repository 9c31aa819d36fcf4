//! Pebble layers and plans: the service, check and log-target definitions, their YAML
//! form, and Pebble's rules for combining layers (`CONTRACT.md` E.10, E.11).
//!
//! The same combine rules serve the charm (to tell whether adding a layer would change
//! the plan) and the in-memory Pebble (to be the plan). Only fields that are set are
//! serialised, so a layer says exactly what it means to override.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `override: merge | replace`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Override {
    #[default]
    Replace,
    Merge,
}

/// One `services.<name>` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub struct Service {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub startup: Option<String>,
    #[serde(rename = "override", skip_serializing_if = "Option::is_none")]
    pub override_: Option<Override>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub before: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_success: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub on_check_failure: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backoff_delay: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backoff_factor: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backoff_limit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kill_delay: Option<String>,
}

/// `checks.<name>.http`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct HttpCheck {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

/// `checks.<name>.tcp`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TcpCheck {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// `checks.<name>.exec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub struct ExecCheck {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_context: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
}

/// One `checks.<name>` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Check {
    #[serde(rename = "override", skip_serializing_if = "Option::is_none")]
    pub override_: Option<Override>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub startup: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpCheck>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpCheck>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecCheck>,
}

/// One `log-targets.<name>` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct LogTarget {
    #[serde(rename = "override", skip_serializing_if = "Option::is_none")]
    pub override_: Option<Override>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A layer, or a combined plan (same shape; a plan's entries keep their `override`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub struct Layer {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub services: BTreeMap<String, Service>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checks: BTreeMap<String, Check>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub log_targets: BTreeMap<String, LogTarget>,
}

/// The combined plan Pebble reports.
pub type Plan = Layer;

/// Errors turning YAML into a layer or back.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum LayerYamlError {
    #[error("cannot parse layer YAML: {0}")]
    Parse(String),
    #[error("cannot serialise layer: {0}")]
    Serialise(String),
}

impl Layer {
    /// Parse layer or plan YAML (`{}` and an empty document give an empty layer).
    /// Unknown keys are ignored here; the fake Pebble server checks them strictly.
    pub fn from_yaml(text: &str) -> Result<Layer, LayerYamlError> {
        if text.trim().is_empty() {
            return Ok(Layer::default());
        }
        // The position only: the parser's message quotes the input, and a plan holds the
        // application's environment (secret keys, passwords), which must not be logged.
        serde_saphyr::from_str(text).map_err(|e| {
            LayerYamlError::Parse(match e.location() {
                Some(loc) => format!(
                    "invalid YAML at line {}, column {}",
                    loc.line(),
                    loc.column()
                ),
                None => "invalid YAML".to_string(),
            })
        })
    }

    /// The layer as YAML text for `POST /v1/layers`.
    pub fn to_yaml(&self) -> Result<String, LayerYamlError> {
        // Every string quoted, no block scalars: nothing is left to a reader's folding or
        // type-guessing rules (Pebble reads this with Go's yaml.v3).
        let options = serde_saphyr::ser_options! {
            quote_all: true,
            prefer_block_scalars: false,
        };
        serde_saphyr::to_string_with_options(self, options)
            .map_err(|e| LayerYamlError::Serialise(e.to_string()))
    }

    /// Combine `newer` on top of this layer with Pebble's override rules (E.11). Used for
    /// `combine: true` into an existing label and for building the plan from layers.
    pub fn combine(&mut self, newer: &Layer) {
        if newer.summary.is_some() {
            self.summary.clone_from(&newer.summary);
        }
        if newer.description.is_some() {
            self.description.clone_from(&newer.description);
        }
        for (name, svc) in &newer.services {
            match (svc.override_, self.services.get_mut(name)) {
                (Some(Override::Merge), Some(old)) => old.merge(svc),
                _ => {
                    self.services.insert(name.clone(), svc.clone());
                }
            }
        }
        for (name, check) in &newer.checks {
            match (check.override_, self.checks.get_mut(name)) {
                (Some(Override::Merge), Some(old)) => old.merge(check),
                _ => {
                    self.checks.insert(name.clone(), check.clone());
                }
            }
        }
        for (name, target) in &newer.log_targets {
            match (target.override_, self.log_targets.get_mut(name)) {
                (Some(Override::Merge), Some(old)) => old.merge(target),
                _ => {
                    self.log_targets.insert(name.clone(), target.clone());
                }
            }
        }
    }

    /// The plan that results from applying `layers` bottom to top.
    pub fn combine_all<'a>(layers: impl IntoIterator<Item = &'a Layer>) -> Layer {
        let mut plan = Layer::default();
        for layer in layers {
            plan.combine(layer);
        }
        plan
    }
}

fn set_if_some<T: Clone>(old: &mut Option<T>, new: &Option<T>) {
    if new.is_some() {
        old.clone_from(new);
    }
}

fn merge_map(old: &mut BTreeMap<String, String>, new: &BTreeMap<String, String>) {
    for (k, v) in new {
        old.insert(k.clone(), v.clone());
    }
}

impl Service {
    /// Merge a newer definition into this one (`override: merge`). The `override` of
    /// the earlier definition stays: Pebble's `Service.Merge` leaves it alone, so a
    /// merged service still shows `override: replace` in the plan.
    pub fn merge(&mut self, newer: &Service) {
        set_if_some(&mut self.summary, &newer.summary);
        set_if_some(&mut self.description, &newer.description);
        set_if_some(&mut self.startup, &newer.startup);
        set_if_some(&mut self.command, &newer.command);
        self.after.extend(newer.after.iter().cloned());
        self.before.extend(newer.before.iter().cloned());
        self.requires.extend(newer.requires.iter().cloned());
        set_if_some(&mut self.workload, &newer.workload);
        merge_map(&mut self.environment, &newer.environment);
        set_if_some(&mut self.user_id, &newer.user_id);
        set_if_some(&mut self.user, &newer.user);
        set_if_some(&mut self.group_id, &newer.group_id);
        set_if_some(&mut self.group, &newer.group);
        set_if_some(&mut self.working_dir, &newer.working_dir);
        set_if_some(&mut self.on_success, &newer.on_success);
        set_if_some(&mut self.on_failure, &newer.on_failure);
        merge_map(&mut self.on_check_failure, &newer.on_check_failure);
        set_if_some(&mut self.backoff_delay, &newer.backoff_delay);
        set_if_some(&mut self.backoff_factor, &newer.backoff_factor);
        set_if_some(&mut self.backoff_limit, &newer.backoff_limit);
        set_if_some(&mut self.kill_delay, &newer.kill_delay);
    }

    /// Whether Pebble starts this service on replan/autostart.
    pub fn is_enabled(&self) -> bool {
        self.startup.as_deref() == Some("enabled")
    }
}

impl Check {
    /// Merge a newer definition into this one (`override: merge`).
    pub fn merge(&mut self, newer: &Check) {
        set_if_some(&mut self.level, &newer.level);
        set_if_some(&mut self.startup, &newer.startup);
        set_if_some(&mut self.period, &newer.period);
        set_if_some(&mut self.timeout, &newer.timeout);
        set_if_some(&mut self.threshold, &newer.threshold);
        match (&mut self.http, &newer.http) {
            (Some(old), Some(new)) => {
                set_if_some(&mut old.url, &new.url);
                merge_map(&mut old.headers, &new.headers);
            }
            (old @ None, Some(new)) => *old = Some(new.clone()),
            _ => {}
        }
        match (&mut self.tcp, &newer.tcp) {
            (Some(old), Some(new)) => {
                set_if_some(&mut old.port, &new.port);
                set_if_some(&mut old.host, &new.host);
            }
            (old @ None, Some(new)) => *old = Some(new.clone()),
            _ => {}
        }
        match (&mut self.exec, &newer.exec) {
            (Some(old), Some(new)) => {
                set_if_some(&mut old.command, &new.command);
                set_if_some(&mut old.service_context, &new.service_context);
                merge_map(&mut old.environment, &new.environment);
                set_if_some(&mut old.user_id, &new.user_id);
                set_if_some(&mut old.user, &new.user);
                set_if_some(&mut old.group_id, &new.group_id);
                set_if_some(&mut old.group, &new.group);
                set_if_some(&mut old.working_dir, &new.working_dir);
            }
            (old @ None, Some(new)) => *old = Some(new.clone()),
            _ => {}
        }
    }
}

impl LogTarget {
    /// Merge a newer definition into this one (`override: merge`).
    pub fn merge(&mut self, newer: &LogTarget) {
        set_if_some(&mut self.kind, &newer.kind);
        set_if_some(&mut self.location, &newer.location);
        self.services.extend(newer.services.iter().cloned());
        merge_map(&mut self.labels, &newer.labels);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(yaml: &str) -> Service {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn merge_overwrites_set_scalars_appends_lists_and_merges_maps() {
        let mut base = Layer::default();
        base.services.insert(
            "web".into(),
            svc("override: replace\ncommand: /bin/web\nstartup: enabled\nafter: [db]\nenvironment: {A: '1', B: '2'}\n"),
        );
        let mut top = Layer::default();
        top.services.insert(
            "web".into(),
            svc("override: merge\nafter: [cache]\nenvironment: {B: '3', C: '4'}\nuser: app\n"),
        );
        base.combine(&top);
        let web = &base.services["web"];
        assert_eq!(web.command.as_deref(), Some("/bin/web"));
        assert_eq!(web.startup.as_deref(), Some("enabled"));
        assert_eq!(web.after, vec!["db", "cache"]);
        assert_eq!(web.user.as_deref(), Some("app"));
        assert_eq!(
            web.environment,
            BTreeMap::from([
                ("A".to_string(), "1".to_string()),
                ("B".to_string(), "3".to_string()),
                ("C".to_string(), "4".to_string())
            ])
        );
        assert_eq!(web.override_, Some(Override::Replace));
    }

    #[test]
    fn replace_drops_the_earlier_definition() {
        let mut base = Layer::default();
        base.services.insert(
            "web".into(),
            svc("override: replace\ncommand: /bin/web\nuser: app\nenvironment: {A: '1'}\n"),
        );
        let mut top = Layer::default();
        top.services.insert(
            "web".into(),
            svc("override: replace\ncommand: /bin/other\n"),
        );
        base.combine(&top);
        assert_eq!(
            base.services["web"],
            svc("override: replace\ncommand: /bin/other\n")
        );
    }

    #[test]
    fn yaml_round_trip_keeps_strings_that_look_like_other_types() {
        let mut layer = Layer::default();
        let mut s = svc("override: replace\ncommand: /bin/web\n");
        for (k, v) in [
            ("BOOL", "true"),
            ("NUM", "8000"),
            ("EMPTY", ""),
            ("NULL", "null"),
            ("DASH", "- x"),
            ("COLON", "a: b"),
            ("JSON", "[\"a.test\", \"b\"]"),
            ("MULTI", "line1\nline2"),
            ("QUOTE", "it's \"q\""),
            ("HASH", "#not a comment"),
            ("UNICODE", "café ☕"),
        ] {
            s.environment.insert(k.into(), v.into());
        }
        s.backoff_delay = Some("1s".into());
        layer.services.insert("django".into(), s);
        let text = layer.to_yaml().unwrap();
        assert_eq!(Layer::from_yaml(&text).unwrap(), layer, "{text}");
    }

    #[test]
    fn parse_errors_do_not_quote_the_plan() {
        let err = Layer::from_yaml(
            "services:\n  django:\n    environment: {DJANGO_SECRET_KEY: s3cr3t-value\n",
        )
        .unwrap_err();
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
        assert!(err.to_string().contains("line"), "{err}");
    }

    #[test]
    fn empty_plan_parses() {
        assert_eq!(Layer::from_yaml("{}\n").unwrap(), Layer::default());
        assert_eq!(Layer::from_yaml("").unwrap(), Layer::default());
    }
}
