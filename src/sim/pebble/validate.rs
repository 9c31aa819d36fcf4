//! Pebble's layer and plan validation (`CONTRACT.md` E.3, E.10, E.11), with the
//! daemon's messages, so that the in-memory Pebble rejects exactly what the real one
//! rejects.
//!
//! Pebble checks in three stages and the messages say which: parsing a layer
//! (`cannot parse layer YAML: …`, including per-layer checks such as reserved names and
//! durations), combining it with the other layers (`layer "L" must define "override"
//! for service "S"`), and validating the combined plan (`plan must define "command"
//! for service "S"`, unknown services, before/after loops).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::util::{check_command_brackets, normalise_duration, parse_go_duration, shell_split};
use crate::pebble::layer::{Layer, Plan};

/// Why a layer was refused; `message` is Pebble's text, `status` the HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRejection {
    pub status: u16,
    pub message: String,
}

impl LayerRejection {
    fn bad_request(message: impl Into<String>) -> Self {
        LayerRejection {
            status: 400,
            message: message.into(),
        }
    }

    /// A failure of the parse stage, which the API prefixes.
    fn parse(message: impl AsRef<str>) -> Self {
        Self::bad_request(format!("cannot parse layer YAML: {}", message.as_ref()))
    }
}

const SERVICE_FIELDS: &[&str] = &[
    "summary",
    "description",
    "startup",
    "override",
    "command",
    "after",
    "before",
    "requires",
    "workload",
    "environment",
    "user-id",
    "user",
    "group-id",
    "group",
    "working-dir",
    "on-success",
    "on-failure",
    "on-check-failure",
    "backoff-delay",
    "backoff-factor",
    "backoff-limit",
    "kill-delay",
];
const CHECK_FIELDS: &[&str] = &[
    "override",
    "level",
    "startup",
    "period",
    "timeout",
    "threshold",
    "http",
    "tcp",
    "exec",
];
const HTTP_FIELDS: &[&str] = &["url", "headers"];
const TCP_FIELDS: &[&str] = &["port", "host"];
const EXEC_FIELDS: &[&str] = &[
    "command",
    "service-context",
    "environment",
    "user-id",
    "user",
    "group-id",
    "group",
    "working-dir",
];
const LOG_TARGET_FIELDS: &[&str] = &["override", "type", "location", "services", "labels"];
/// Sections registered by Pebble extensions: accepted, not modelled.
const EXTENSION_SECTIONS: &[&str] = &["workloads", "pairing"];

/// Parse layer YAML as strictly as Pebble does: unknown sections and unknown fields are
/// errors, null objects are errors, and `override` must be `merge` or `replace`.
pub fn parse_layer_strict(label: &str, text: &str) -> Result<Layer, LayerRejection> {
    let value: Value = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_saphyr::from_str(text)
            .map_err(|e| LayerRejection::parse(format!("cannot parse layer {label:?}: {e}")))?
    };
    let top = match &value {
        Value::Null => return Ok(Layer::default()),
        Value::Object(map) => map,
        _ => {
            return Err(LayerRejection::parse(format!(
                "cannot parse layer {label:?}: yaml: unmarshal errors:\n  cannot unmarshal into map"
            )));
        }
    };
    for key in top.keys() {
        let known = [
            "summary",
            "description",
            "services",
            "checks",
            "log-targets",
        ];
        if !known.contains(&key.as_str()) && !EXTENSION_SECTIONS.contains(&key.as_str()) {
            return Err(LayerRejection::parse(format!(
                "cannot parse layer {label:?}: unknown section {key:?}"
            )));
        }
    }
    let mut bad_override = None;
    for (section, fields, what, type_name) in [
        ("services", SERVICE_FIELDS, "service", "plan.Service"),
        ("checks", CHECK_FIELDS, "check", "plan.Check"),
        (
            "log-targets",
            LOG_TARGET_FIELDS,
            "log target",
            "plan.LogTarget",
        ),
    ] {
        let Some(entries) = top.get(section) else {
            continue;
        };
        let entries = match entries {
            Value::Null => continue,
            Value::Object(map) => map,
            _ => {
                return Err(section_error(
                    label,
                    section,
                    "cannot unmarshal into map".into(),
                ));
            }
        };
        for (name, entry) in entries {
            let object = match entry {
                Value::Null => {
                    return Err(LayerRejection::parse(format!(
                        "{what} object cannot be null for {what} {name:?}"
                    )));
                }
                Value::Object(object) => object,
                _ => {
                    return Err(section_error(
                        label,
                        section,
                        format!("cannot unmarshal into {type_name}"),
                    ));
                }
            };
            unknown_fields(label, section, object, fields, type_name)?;
            if section == "checks" {
                for (sub, sub_fields, sub_type) in [
                    ("http", HTTP_FIELDS, "plan.HTTPCheck"),
                    ("tcp", TCP_FIELDS, "plan.TCPCheck"),
                    ("exec", EXEC_FIELDS, "plan.ExecCheck"),
                ] {
                    if let Some(Value::Object(inner)) = object.get(sub) {
                        unknown_fields(label, section, inner, sub_fields, sub_type)?;
                    }
                }
            }
            if let Some(value) = object.get("override") {
                let ok = matches!(value.as_str(), Some("merge" | "replace"));
                if !ok && bad_override.is_none() {
                    bad_override = Some(format!(
                        "layer {label:?} has invalid \"override\" value for {what} {name:?}"
                    ));
                }
            }
            for key in [
                "backoff-delay",
                "backoff-limit",
                "kill-delay",
                "period",
                "timeout",
            ] {
                match object.get(key) {
                    None | Some(Value::String(_) | Value::Number(_) | Value::Bool(_)) => {}
                    Some(_) => {
                        return Err(section_error(
                            label,
                            section,
                            "duration must be a YAML string".into(),
                        ));
                    }
                }
            }
        }
    }
    // Pebble's parser takes any string here and refuses it when combining; our typed
    // parse would refuse it with a less useful message, so answer first.
    if let Some(message) = bad_override {
        return Err(LayerRejection::bad_request(message));
    }
    let layer = Layer::from_yaml(text).map_err(|e| {
        LayerRejection::parse(format!(
            "cannot parse layer {label:?}: {}",
            e.to_string()
                .trim_start_matches("cannot parse layer YAML: ")
        ))
    })?;
    validate_layer(label, &layer)?;
    Ok(layer)
}

fn section_error(label: &str, section: &str, detail: String) -> LayerRejection {
    LayerRejection::parse(format!(
        "cannot parse layer {label:?} section {section:?}: {detail}"
    ))
}

fn unknown_fields(
    label: &str,
    section: &str,
    object: &serde_json::Map<String, Value>,
    fields: &[&str],
    type_name: &str,
) -> Result<(), LayerRejection> {
    for key in object.keys() {
        if !fields.contains(&key.as_str()) {
            return Err(section_error(
                label,
                section,
                format!("yaml: unmarshal errors:\n  field {key} not found in type {type_name}"),
            ));
        }
    }
    Ok(())
}

/// Per-layer checks (Pebble's parse stage): reserved label and names, durations,
/// commands, enumerations.
pub fn validate_layer(label: &str, layer: &Layer) -> Result<(), LayerRejection> {
    let duration = |section: &str, value: &Option<String>| -> Result<(), LayerRejection> {
        match value {
            Some(text) if parse_go_duration(text).is_none() => Err(section_error(
                label,
                section,
                format!("invalid duration {text:?}"),
            )),
            _ => Ok(()),
        }
    };
    for service in layer.services.values() {
        duration("services", &service.backoff_delay)?;
        duration("services", &service.backoff_limit)?;
        duration("services", &service.kill_delay)?;
    }
    for check in layer.checks.values() {
        duration("checks", &check.period)?;
        duration("checks", &check.timeout)?;
    }

    if label.starts_with("pebble-") {
        return Err(LayerRejection::parse(
            "cannot use reserved label prefix \"pebble-\"",
        ));
    }
    for (name, service) in &layer.services {
        if name.is_empty() {
            return Err(LayerRejection::parse(
                "cannot use empty string as service name",
            ));
        }
        if name == "pebble" {
            return Err(LayerRejection::parse(format!(
                "cannot use reserved service name {name:?}"
            )));
        }
        if name.starts_with('-') {
            return Err(LayerRejection::parse(format!(
                "cannot use service name {name:?}: starting with \"-\" not allowed"
            )));
        }
        if let Some(command) = &service.command {
            let words = shell_split(command).and_then(|w| check_command_brackets(&w));
            if let Err(e) = words {
                return Err(LayerRejection::parse(format!(
                    "plan service {name:?} command invalid: cannot parse service {name:?} command: {e}"
                )));
            }
        }
        let action_ok = |action: &str, extra: &str| {
            matches!(action, "" | "restart" | "shutdown" | "ignore") || action == extra
        };
        if let Some(action) = &service.on_success
            && !action_ok(action, "failure-shutdown")
        {
            return Err(LayerRejection::parse(format!(
                "plan service {name:?} on-success action {action:?} invalid"
            )));
        }
        if let Some(action) = &service.on_failure
            && !action_ok(action, "success-shutdown")
        {
            return Err(LayerRejection::parse(format!(
                "plan service {name:?} on-failure action {action:?} invalid"
            )));
        }
        for action in service.on_check_failure.values() {
            if !action_ok(action, "success-shutdown") {
                return Err(LayerRejection::parse(format!(
                    "plan service {name:?} on-check-failure action {action:?} invalid"
                )));
            }
        }
        if let Some(factor) = service.backoff_factor
            && factor < 1.0
        {
            return Err(LayerRejection::parse(format!(
                "plan service {name:?} backoff-factor must be 1.0 or greater, not {factor}"
            )));
        }
    }
    for (name, check) in &layer.checks {
        if name.is_empty() {
            return Err(LayerRejection::parse(
                "cannot use empty string as check name",
            ));
        }
        if let Some(level) = &check.level
            && !matches!(level.as_str(), "" | "alive" | "ready")
        {
            return Err(LayerRejection::parse(format!(
                "plan check {name:?} level must be \"alive\" or \"ready\""
            )));
        }
        if let Some(startup) = &check.startup
            && !matches!(startup.as_str(), "" | "enabled" | "disabled")
        {
            return Err(LayerRejection::parse(format!(
                "plan check {name:?} startup must be \"enabled\" or \"disabled\""
            )));
        }
        if check.period.as_deref().and_then(parse_go_duration) == Some(0) {
            return Err(LayerRejection::parse(format!(
                "plan check {name:?} period must not be zero"
            )));
        }
        if check.timeout.as_deref().and_then(parse_go_duration) == Some(0) {
            return Err(LayerRejection::parse(format!(
                "plan check {name:?} timeout must not be zero"
            )));
        }
        if let Some(command) = check.exec.as_ref().and_then(|e| e.command.as_ref())
            && let Err(e) = shell_split(command)
        {
            return Err(LayerRejection::parse(format!(
                "plan check {name:?} command invalid: {e}"
            )));
        }
    }
    for (name, target) in &layer.log_targets {
        if name.is_empty() {
            return Err(LayerRejection::parse(
                "cannot use empty string as log target name",
            ));
        }
        for key in target.labels.keys() {
            if key.starts_with("pebble_") {
                return Err(LayerRejection::parse(format!(
                    "log target {name:?}: label {key:?} uses reserved prefix \"pebble_\""
                )));
            }
        }
        if let Some(kind) = &target.kind
            && !LOG_TARGET_TYPES.contains(&kind.as_str())
        {
            return Err(LayerRejection::parse(format!(
                "log target {name:?} has unsupported type {kind:?}, must be \"loki\", \"opentelemetry\" or \"syslog\""
            )));
        }
    }
    Ok(())
}

const LOG_TARGET_TYPES: &[&str] = &["loki", "opentelemetry", "syslog"];

/// The combine-stage check: every entry of every layer names its `override`.
pub fn require_overrides(label: &str, layer: &Layer) -> Result<(), LayerRejection> {
    let missing = |what: &str, name: &str| {
        LayerRejection::bad_request(format!(
            "layer {label:?} must define \"override\" for {what} {name:?}"
        ))
    };
    for (name, service) in &layer.services {
        if service.override_.is_none() {
            return Err(missing("service", name));
        }
    }
    for (name, check) in &layer.checks {
        if check.override_.is_none() {
            return Err(missing("check", name));
        }
    }
    for (name, target) in &layer.log_targets {
        if target.override_.is_none() {
            return Err(missing("log target", name));
        }
    }
    Ok(())
}

/// Validate a combined plan (Pebble's `Plan.Validate`).
pub fn validate_plan(plan: &Plan) -> Result<(), LayerRejection> {
    for (name, service) in &plan.services {
        if service.command.as_deref().unwrap_or("").is_empty() {
            return Err(LayerRejection::bad_request(format!(
                "plan must define \"command\" for service {name:?}"
            )));
        }
    }
    for (name, check) in &plan.checks {
        let mut kinds = 0;
        if let Some(http) = &check.http {
            if http.url.as_deref().unwrap_or("").is_empty() {
                return Err(LayerRejection::bad_request(format!(
                    "plan must set \"url\" for http check {name:?}"
                )));
            }
            kinds += 1;
        }
        if let Some(tcp) = &check.tcp {
            if tcp.port.unwrap_or(0) == 0 {
                return Err(LayerRejection::bad_request(format!(
                    "plan must set \"port\" for tcp check {name:?}"
                )));
            }
            kinds += 1;
        }
        if let Some(exec) = &check.exec {
            if exec.command.as_deref().unwrap_or("").is_empty() {
                return Err(LayerRejection::bad_request(format!(
                    "plan must set \"command\" for exec check {name:?}"
                )));
            }
            if let Some(context) = exec.service_context.as_deref().filter(|c| !c.is_empty())
                && !plan.services.contains_key(context)
            {
                return Err(LayerRejection::bad_request(format!(
                    "plan check {name:?} service context specifies non-existent service {context:?}"
                )));
            }
            kinds += 1;
        }
        if kinds != 1 {
            return Err(LayerRejection::bad_request(format!(
                "plan must specify one of \"http\", \"tcp\", or \"exec\" for check {name:?}"
            )));
        }
    }
    for (name, target) in &plan.log_targets {
        if target.kind.as_deref().unwrap_or("").is_empty() {
            return Err(LayerRejection::bad_request(format!(
                "plan must define \"type\" (\"loki\", \"opentelemetry\" or \"syslog\") for log target {name:?}"
            )));
        }
        for service in &target.services {
            let service = service.strip_prefix('-').unwrap_or(service);
            if service != "all" && !plan.services.contains_key(service) {
                return Err(LayerRejection::bad_request(format!(
                    "log target {name:?} specifies unknown service {service:?}"
                )));
            }
        }
        if target.location.as_deref().unwrap_or("").is_empty() {
            return Err(LayerRejection::bad_request(format!(
                "plan must define \"location\" for log target {name:?}"
            )));
        }
    }
    let all: Vec<String> = plan.services.keys().cloned().collect();
    start_order(plan, &all).map_err(LayerRejection::bad_request)?;
    Ok(())
}

/// The plan as Pebble reports it: no top-level summary/description, durations printed
/// the Go way, and a check's default threshold shown.
pub fn normalise_plan(mut plan: Plan) -> Plan {
    plan.summary = None;
    plan.description = None;
    for service in plan.services.values_mut() {
        for text in [
            &mut service.backoff_delay,
            &mut service.backoff_limit,
            &mut service.kill_delay,
        ]
        .into_iter()
        .flatten()
        {
            *text = normalise_duration(text);
        }
    }
    for check in plan.checks.values_mut() {
        for text in [&mut check.period, &mut check.timeout]
            .into_iter()
            .flatten()
        {
            *text = normalise_duration(text);
        }
        if check.threshold.unwrap_or(0) == 0 {
            check.threshold = Some(3);
        }
    }
    plan
}

/// The order to start `names` and everything they require (`requires`), honouring
/// `before`/`after`. Errors are Pebble's (`service "x" does not exist`, loops).
pub fn start_order(plan: &Plan, names: &[String]) -> Result<Vec<String>, String> {
    let mut members = BTreeSet::new();
    let mut pending: Vec<String> = names.to_vec();
    while let Some(name) = pending.pop() {
        if !members.insert(name.clone()) {
            continue;
        }
        let service = plan
            .services
            .get(&name)
            .ok_or_else(|| format!("service {name:?} does not exist"))?;
        pending.extend(service.requires.iter().cloned());
    }
    sort_members(plan, &members, false)
}

/// The order to stop `names` and every service that requires them, dependants first.
pub fn stop_order(plan: &Plan, names: &[String]) -> Result<Vec<String>, String> {
    let mut dependants: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, service) in &plan.services {
        for required in &service.requires {
            dependants
                .entry(required.as_str())
                .or_default()
                .push(name.as_str());
        }
    }
    let mut members = BTreeSet::new();
    let mut pending: Vec<String> = names.to_vec();
    while let Some(name) = pending.pop() {
        if !plan.services.contains_key(&name) {
            return Err(format!("service {name:?} does not exist"));
        }
        if !members.insert(name.clone()) {
            continue;
        }
        if let Some(more) = dependants.get(name.as_str()) {
            pending.extend(more.iter().map(|s| s.to_string()));
        }
    }
    sort_members(plan, &members, true)
}

/// Topologically sort `members` by their before/after edges (ties alphabetical).
fn sort_members(
    plan: &Plan,
    members: &BTreeSet<String>,
    stop: bool,
) -> Result<Vec<String>, String> {
    // edges[a] contains b when a must be started before b.
    let mut edges: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for name in members {
        edges.entry(name.as_str()).or_default();
        let Some(service) = plan.services.get(name) else {
            continue;
        };
        for after in &service.after {
            if members.contains(after) {
                edges
                    .entry(after.as_str())
                    .or_default()
                    .insert(name.as_str());
            }
        }
        for before in &service.before {
            if members.contains(before) {
                edges
                    .entry(name.as_str())
                    .or_default()
                    .insert(before.as_str());
            }
        }
    }
    if stop {
        let mut reversed: BTreeMap<&str, BTreeSet<&str>> =
            edges.keys().map(|k| (*k, BTreeSet::new())).collect();
        for (from, tos) in &edges {
            for to in tos {
                reversed.entry(to).or_default().insert(from);
            }
        }
        edges = reversed;
    }
    let mut indegree: BTreeMap<&str, usize> = edges.keys().map(|k| (*k, 0)).collect();
    for tos in edges.values() {
        for to in tos {
            *indegree.entry(to).or_default() += 1;
        }
    }
    let mut ready: BTreeSet<&str> = indegree
        .iter()
        .filter(|(_, d)| **d == 0)
        .map(|(k, _)| *k)
        .collect();
    let mut order = Vec::new();
    while let Some(next) = ready.pop_first() {
        order.push(next.to_string());
        if let Some(tos) = edges.get(next) {
            for to in tos {
                if let Some(d) = indegree.get_mut(to) {
                    *d -= 1;
                    if *d == 0 {
                        ready.insert(to);
                    }
                }
            }
        }
    }
    if order.len() == edges.len() {
        return Ok(order);
    }
    Err(format!(
        "services in before/after loop: {}",
        loop_members(&edges, &order).join(", ")
    ))
}

/// The services of one before/after loop among those Kahn's algorithm could not place.
fn loop_members(edges: &BTreeMap<&str, BTreeSet<&str>>, placed: &[String]) -> Vec<String> {
    let left: Vec<&str> = edges
        .keys()
        .filter(|k| !placed.iter().any(|p| p == *k))
        .copied()
        .collect();
    let reaches = |from: &str, to: &str| -> bool {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from];
        while let Some(node) = stack.pop() {
            for next in edges.get(node).into_iter().flatten() {
                if *next == to {
                    return true;
                }
                if seen.insert(*next) {
                    stack.push(next);
                }
            }
        }
        false
    };
    for start in &left {
        if reaches(start, start) {
            return left
                .iter()
                .filter(|other| reaches(start, other) && reaches(other, start))
                .map(|s| s.to_string())
                .collect();
        }
    }
    left.iter().map(|s| s.to_string()).collect()
}
