//! The hook tools of the in-memory Juju: each tool's argv interpreted against a
//! [`JujuState`] the way Juju does (`CONTRACT.md` C), with Juju's error texts and exit
//! codes.

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::Value;

use super::*;
use crate::juju::tools::{Databag, Status, StatusKind, ToolOutput, bare_secret_id};

/// A tool's answer under construction.
type Answer = Result<String, (i32, String)>;

fn ok_json(v: impl Serialize) -> Answer {
    serde_json::to_string(&v)
        .map(|s| s + "\n")
        .map_err(|e| (1, format!("cannot encode output: {e}")))
}

fn usage(msg: impl Into<String>) -> Answer {
    Err((2, msg.into()))
}

fn fail(msg: impl Into<String>) -> Answer {
    Err((1, msg.into()))
}

/// Go's `ParseBool`, which Juju's flags accept.
fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Parsed command line: flags with values, boolean flags, positionals.
#[derive(Debug, Default)]
struct Argv {
    flags: IndexMap<String, String>,
    bools: IndexMap<String, bool>,
    positional: Vec<String>,
}

impl Argv {
    fn flag(&self, names: &[&str]) -> Option<&str> {
        names
            .iter()
            .find_map(|n| self.flags.get(*n))
            .map(String::as_str)
    }
    fn on(&self, name: &str) -> bool {
        self.bools.get(name).copied().unwrap_or(false)
    }
}

/// Parse like Go's gnuflag: `--f=v`, `--f v`, `-f v`, `--` ends options.
fn parse_argv(args: &[String], valued: &[&str], boolean: &[&str]) -> Result<Argv, String> {
    let mut out = Argv::default();
    let mut i = 0;
    let mut only_positional = false;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if only_positional || arg == "-" || !arg.starts_with('-') {
            out.positional.push(arg.clone());
            continue;
        }
        if arg == "--" {
            only_positional = true;
            continue;
        }
        let body = arg.trim_start_matches('-');
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (body.to_string(), None),
        };
        if boolean.contains(&name.as_str()) {
            let value = match inline {
                Some(v) => parse_bool(&v).ok_or(format!("invalid boolean value {v:?}"))?,
                None => true,
            };
            out.bools.insert(name, value);
        } else if valued.contains(&name.as_str()) {
            let value = match inline {
                Some(v) => v,
                None => {
                    let v = args
                        .get(i)
                        .ok_or(format!("flag needs an argument: {arg}"))?;
                    i += 1;
                    v.clone()
                }
            };
            out.flags.insert(name, value);
        } else {
            return Err(format!("flag provided but not defined: {arg}"));
        }
    }
    Ok(out)
}

/// Run one hook tool against the state. Every call is recorded.
pub fn run_tool(
    state: &mut JujuState,
    scope: &HookScope,
    tool: &str,
    args: &[String],
    stdin: Option<&[u8]>,
) -> ToolOutput {
    state.calls.push(ToolCall {
        tool: tool.to_string(),
        args: args.to_vec(),
        stdin: stdin.map(|s| String::from_utf8_lossy(s).into_owned()),
    });
    if let Some(f) = state.failures.iter().find(|f| f.tool == tool) {
        return ToolOutput {
            code: f.code,
            stdout: vec![],
            stderr: f.stderr.clone().into_bytes(),
        };
    }
    let answer = dispatch(state, scope, tool, args, stdin);
    match answer {
        Ok(stdout) => ToolOutput {
            code: 0,
            stdout: stdout.into_bytes(),
            stderr: vec![],
        },
        Err((code, msg)) => ToolOutput {
            code,
            stdout: vec![],
            stderr: format!("ERROR {msg}\n").into_bytes(),
        },
    }
}

fn dispatch(
    state: &mut JujuState,
    scope: &HookScope,
    tool: &str,
    args: &[String],
    stdin: Option<&[u8]>,
) -> Answer {
    match tool {
        "config-get" => config_get(state, args),
        "relation-ids" => relation_ids(state, scope, args),
        "relation-list" => relation_list(state, scope, args),
        "relation-get" => relation_get(state, scope, args),
        "relation-set" => relation_set(state, scope, args, stdin),
        "relation-model-get" => relation_model_get(state, scope, args),
        "is-leader" => ok_json(state.leader),
        "status-set" => status_set(state, args),
        "status-get" => status_get(state, args),
        "juju-log" => juju_log(state, args),
        "open-port" | "close-port" => port(state, tool, args),
        "opened-ports" => ok_json(&state.opened_ports),
        "network-get" => network_get(state, scope, args),
        "goal-state" => goal_state(state),
        "secret-get" => secret_get(state, args),
        "secret-add" => secret_add(state, args),
        "secret-set" => secret_set(state, args),
        "secret-ids" => {
            let ids: Vec<String> = state
                .secrets
                .iter()
                .filter(|s| s.owner.is_some())
                .map(|s| bare_secret_id(&s.id).to_string())
                .collect();
            if ids.is_empty() {
                ok_json(Value::Null)
            } else {
                ok_json(ids)
            }
        }
        "secret-info-get" => secret_info_get(state, args),
        "secret-grant" | "secret-revoke" => secret_grant(state, scope, tool, args),
        "secret-remove" => secret_remove(state, args),
        "action-get" | "action-set" | "action-fail" | "action-log" => action(state, tool, args),
        "application-version-set" => {
            let a = parse_argv(args, &[], &[]).or_else(usage_err)?;
            state.workload_version = a.positional.first().cloned();
            Ok(String::new())
        }
        "state-get" => state_get(state, args),
        "state-set" => state_set(state, args, stdin),
        "state-delete" => {
            let a = parse_argv(args, &[], &[]).or_else(usage_err)?;
            for k in &a.positional {
                state.unit_state.shift_remove(k);
            }
            Ok(String::new())
        }
        other => fail(format!("unknown hook tool {other:?}")),
    }
}

fn usage_err<T>(msg: String) -> Result<T, (i32, String)> {
    Err((2, msg))
}

fn config_get(state: &JujuState, args: &[String]) -> Answer {
    let a = parse_argv(args, &["format"], &["a", "all"]).or_else(usage_err)?;
    let config = state.effective_config();
    match a.positional.first() {
        Some(key) => ok_json(config.get(key).cloned().unwrap_or(Value::Null)),
        None => ok_json(&config),
    }
}

/// The relation a `-r` flag (or the hook's own relation) names.
fn find_relation<'a>(
    state: &'a mut JujuState,
    scope: &HookScope,
    a: &Argv,
) -> Result<&'a mut RelationState, (i32, String)> {
    let text = match a.flag(&["r", "relation"]) {
        Some(t) => t.to_string(),
        None => match &scope.relation_id {
            Some(t) => t.clone(),
            None => return Err((2, "no relation id specified".into())),
        },
    };
    let id: Option<u64> = text.rsplit(':').next().and_then(|n| n.parse().ok());
    match id.and_then(|id| state.relations.iter_mut().find(|r| r.id == id)) {
        Some(r) => Ok(r),
        None => Err((
            2,
            format!("invalid value {text:?} for option -r: relation not found"),
        )),
    }
}

fn relation_ids(state: &JujuState, scope: &HookScope, args: &[String]) -> Answer {
    let a = parse_argv(args, &["format"], &[]).or_else(usage_err)?;
    let endpoint = match a.positional.first() {
        Some(e) => e.clone(),
        None => match scope
            .relation_id
            .as_deref()
            .and_then(|r| r.rsplit_once(':'))
        {
            Some((ep, _)) => ep.to_string(),
            None => return usage("no endpoint name specified"),
        },
    };
    let mut ids: Vec<String> = state
        .relations
        .iter()
        .filter(|r| r.endpoint == endpoint)
        .map(|r| format!("{}:{}", r.endpoint, r.id))
        .collect();
    ids.sort();
    ok_json(ids)
}

fn relation_list(state: &mut JujuState, scope: &HookScope, args: &[String]) -> Answer {
    let a = parse_argv(args, &["format", "r", "relation"], &["app"]).or_else(usage_err)?;
    let rel = find_relation(state, scope, &a)?;
    if a.on("app") {
        ok_json(&rel.remote_app)
    } else {
        ok_json(rel.remote_units.keys().collect::<Vec<_>>())
    }
}

fn relation_get(state: &mut JujuState, scope: &HookScope, args: &[String]) -> Answer {
    let a = parse_argv(args, &["format", "r", "relation"], &["app"]).or_else(usage_err)?;
    let unit = state.unit.clone();
    let app = state.app().to_string();
    let leader = state.leader;
    let rel = find_relation(state, scope, &a)?;
    let key = a.positional.first().filter(|k| k.as_str() != "-").cloned();
    let mut wants_app = a.on("app");
    let owner = match a.positional.get(1) {
        Some(o) => o.clone(),
        None if wants_app => match &scope.remote_app {
            Some(r) => r.clone(),
            None => return usage("no unit or application specified"),
        },
        None => match (&scope.remote_unit, &scope.remote_app) {
            (Some(u), _) => u.clone(),
            (None, Some(r)) => {
                wants_app = true;
                r.clone()
            }
            (None, None) => return usage("no unit or application specified"),
        },
    };
    let is_peer = rel.remote_app == app;
    let bag: &Databag = if wants_app {
        let owner_app = owner.split('/').next().unwrap_or(&owner);
        if owner_app == app {
            if !leader && !is_peer {
                return fail("permission denied");
            }
            &rel.local_app_data
        } else if owner_app == rel.remote_app {
            &rel.remote_app_data
        } else {
            return fail(format!("application {owner_app:?} not found in relation"));
        }
    } else {
        if !owner.contains('/') {
            return usage(format!(
                "expected unit name, got application name {owner:?}"
            ));
        }
        if owner == unit {
            &rel.local_unit_data
        } else {
            match rel.remote_units.get(&owner) {
                Some(b) => b,
                None => return fail(format!("unit {owner:?} not found in relation")),
            }
        }
    };
    match key {
        Some(k) => ok_json(bag.get(&k)),
        None => ok_json(bag),
    }
}

fn relation_set(
    state: &mut JujuState,
    scope: &HookScope,
    args: &[String],
    stdin: Option<&[u8]>,
) -> Answer {
    let a = parse_argv(args, &["r", "relation", "file", "format"], &["app"]).or_else(usage_err)?;
    let leader = state.leader;
    let mut updates: Databag = Databag::new();
    if let Some(file) = a.flag(&["file"]) {
        let text = if file == "-" {
            String::from_utf8_lossy(stdin.unwrap_or_default()).into_owned()
        } else {
            std::fs::read_to_string(file).map_err(|e| (1, e.to_string()))?
        };
        // JSON is what ops sends; Juju YAML-decodes a map of strings.
        let map: IndexMap<String, Value> = serde_saphyr::from_str(&text)
            .map_err(|e| (1, format!("cannot parse settings: {e}")))?;
        for (k, v) in map {
            match v {
                Value::String(s) => updates.insert(k, s),
                Value::Null => updates.insert(k, String::new()),
                other => return fail(format!("value of {k:?} is not a string: {other}")),
            };
        }
    }
    for kv in &a.positional {
        match kv.split_once('=') {
            Some((k, v)) => updates.insert(k.to_string(), v.to_string()),
            None => return usage(format!("expected \"key=value\", got {kv:?}")),
        };
    }
    let app = a.on("app");
    if app && !leader {
        return fail("cannot write relation settings");
    }
    let rel = find_relation(state, scope, &a)?;
    let bag = if app {
        &mut rel.local_app_data
    } else {
        &mut rel.local_unit_data
    };
    for (k, v) in updates {
        if v.is_empty() {
            bag.shift_remove(&k);
        } else {
            bag.insert(k, v);
        }
    }
    Ok(String::new())
}

fn relation_model_get(state: &mut JujuState, scope: &HookScope, args: &[String]) -> Answer {
    let a = parse_argv(args, &["format", "r", "relation"], &[]).or_else(usage_err)?;
    let model = state.model_uuid.clone();
    let rel = find_relation(state, scope, &a)?;
    let uuid = rel.remote_model_uuid.clone().unwrap_or(model);
    ok_json(serde_json::json!({ "uuid": uuid }))
}

fn status_set(state: &mut JujuState, args: &[String]) -> Answer {
    let a = parse_argv(args, &[], &["application"]).or_else(usage_err)?;
    let kind = match a.positional.first().map(String::as_str) {
        Some("active") => StatusKind::Active,
        Some("blocked") => StatusKind::Blocked,
        Some("waiting") => StatusKind::Waiting,
        Some("maintenance") => StatusKind::Maintenance,
        Some(other) => {
            return usage(format!(
                "invalid status {other:?}, expected one of [maintenance blocked waiting active]"
            ));
        }
        None => return usage("invalid args, require <status> [message]"),
    };
    let message = a.positional[1..].join(" ");
    let status = Status::new(kind, message);
    let application = a.on("application");
    if application {
        if !state.leader {
            return fail("this unit is not the leader");
        }
        state.app_status = Some(status.clone());
    } else {
        state.unit_status = Some(status.clone());
    }
    state.status_history.push(StatusChange {
        application,
        status,
    });
    Ok(String::new())
}

fn status_get(state: &JujuState, args: &[String]) -> Answer {
    let a = parse_argv(args, &["format"], &["application", "include-data"]).or_else(usage_err)?;
    let shown = |s: &Option<Status>| {
        let (status, message) = s
            .as_ref()
            .map(|s| (s.kind.as_str(), s.message.clone()))
            .unwrap_or(("unknown", String::new()));
        serde_json::json!({"message": message, "status": status, "status-data": {}})
    };
    if a.on("application") {
        if !state.leader {
            return fail("finding application status: this unit is not the leader");
        }
        let mut app = shown(&state.app_status);
        app["units"] = serde_json::json!({ state.unit.clone(): shown(&state.unit_status) });
        ok_json(serde_json::json!({ "application-status": app }))
    } else {
        ok_json(shown(&state.unit_status))
    }
}

fn juju_log(state: &mut JujuState, args: &[String]) -> Answer {
    let a = parse_argv(args, &["l", "log-level"], &["debug"]).or_else(usage_err)?;
    let level = match a.flag(&["l", "log-level"]) {
        Some(l) => l.to_ascii_uppercase(),
        None if a.on("debug") => "DEBUG".to_string(),
        None => "INFO".to_string(),
    };
    if a.positional.is_empty() {
        return usage("no message specified");
    }
    state.logs.push(LogLine {
        level,
        message: a.positional.join(" "),
    });
    Ok(String::new())
}

fn port(state: &mut JujuState, tool: &str, args: &[String]) -> Answer {
    let a = parse_argv(args, &["endpoints"], &[]).or_else(usage_err)?;
    let Some(spec) = a.positional.first() else {
        return usage("no port or range specified");
    };
    let normalised = if spec == "icmp" || spec.contains('/') {
        spec.clone()
    } else {
        format!("{spec}/tcp")
    };
    let (num, proto) = normalised.split_once('/').unwrap_or((&normalised, ""));
    let valid_num = normalised == "icmp"
        || num
            .split('-')
            .all(|p| p.parse::<u16>().is_ok_and(|n| n > 0));
    if !valid_num || !(normalised == "icmp" || proto == "tcp" || proto == "udp") {
        return usage(format!("invalid port or range {spec:?}"));
    }
    if tool == "open-port" {
        if !state.opened_ports.contains(&normalised) {
            state.opened_ports.push(normalised);
        }
    } else {
        state.opened_ports.retain(|p| p != &normalised);
    }
    Ok(String::new())
}

fn network_get(state: &mut JujuState, scope: &HookScope, args: &[String]) -> Answer {
    let a = parse_argv(
        args,
        &["format", "r", "relation"],
        &[
            "bind-address",
            "ingress-address",
            "egress-subnets",
            "primary-address",
        ],
    )
    .or_else(usage_err)?;
    if a.flag(&["r", "relation"]).is_some() {
        find_relation(state, scope, &a)?;
    }
    let Some(binding) = a.positional.first() else {
        return usage("no arguments specified");
    };
    let Some(addr) = state.bind_addresses.get(binding) else {
        return fail(format!("no network config found for binding {binding:?}"));
    };
    ok_json(serde_json::json!({
        "bind-addresses": [{"mac-address": "", "interface-name": "eth0",
            "addresses": [{"hostname": "", "value": addr, "cidr": ""}]}],
        "egress-subnets": [format!("{addr}/32")],
        "ingress-addresses": [addr],
    }))
}

fn goal_state(state: &JujuState) -> Answer {
    let mut units = serde_json::Map::new();
    if state.goal_units.is_empty() {
        units.insert(
            state.unit.clone(),
            serde_json::json!({"status": "active", "since": "2025-01-01 00:00:00Z"}),
        );
    }
    for (name, status) in &state.goal_units {
        units.insert(
            name.clone(),
            serde_json::json!({"status": status, "since": "2025-01-01 00:00:00Z"}),
        );
    }
    ok_json(serde_json::json!({"units": units, "relations": {}}))
}

fn find_secret<'a>(
    state: &'a mut JujuState,
    id: Option<&str>,
    label: Option<&str>,
) -> Result<&'a mut SecretState, (i32, String)> {
    let found = match id {
        Some(id) => state
            .secrets
            .iter_mut()
            .find(|s| bare_secret_id(&s.id) == bare_secret_id(id)),
        None => match label {
            Some(l) => state
                .secrets
                .iter_mut()
                .find(|s| s.label.as_deref() == Some(l)),
            None => return Err((2, "require either a secret URI or label".into())),
        },
    };
    match found {
        Some(s) => Ok(s),
        None => Err((
            1,
            format!("secret {:?} not found", id.or(label).unwrap_or_default()),
        )),
    }
}

fn secret_get(state: &mut JujuState, args: &[String]) -> Answer {
    let a = parse_argv(args, &["format", "label"], &["peek", "refresh"]).or_else(usage_err)?;
    if a.on("peek") && a.on("refresh") {
        return usage("specify one of --peek or --refresh but not both");
    }
    let id = a.positional.first().map(String::as_str);
    let key = a.positional.get(1).cloned();
    let label = a.flag(&["label"]).map(String::from);
    let secret = find_secret(
        state,
        id,
        if id.is_some() { None } else { label.as_deref() },
    )?;
    if !secret.granted {
        return fail("permission denied");
    }
    if id.is_some()
        && let Some(l) = &label
    {
        secret.label = Some(l.clone());
    }
    let latest = secret.revisions.len();
    if latest == 0 {
        return fail(format!("secret {:?} not found", secret.id));
    }
    let revision = if a.on("peek") {
        latest
    } else if a.on("refresh") {
        // Owners are pinned too (Juju 3.1.7 and later): only --refresh moves them on.
        secret.pinned = Some(latest);
        latest
    } else {
        *secret.pinned.get_or_insert(latest)
    };
    let content = &secret.revisions[revision.clamp(1, latest) - 1];
    match key {
        Some(k) => ok_json(content.get(&k)),
        None => ok_json(content),
    }
}

/// Content from `key=value`, `key#base64=...` and `key#file=path` arguments.
fn secret_content(positional: &[String]) -> Result<Databag, (i32, String)> {
    use base64::Engine;
    let mut content = Databag::new();
    for arg in positional {
        let Some((key, value)) = arg.split_once('=') else {
            return Err((2, format!("invalid key value {arg:?}")));
        };
        let (key, value) = if let Some(k) = key.strip_suffix("#file") {
            let v = std::fs::read_to_string(value).map_err(|e| (1, e.to_string()))?;
            (k, v)
        } else if let Some(k) = key.strip_suffix("#base64") {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(value)
                .map_err(|e| (2, e.to_string()))?;
            (k, String::from_utf8_lossy(&bytes).into_owned())
        } else {
            (key, value.to_string())
        };
        if value.is_empty() {
            return Err((1, "empty secret value".into()));
        }
        content.insert(key.to_string(), value);
    }
    Ok(content)
}

const SECRET_FLAGS: [&str; 7] = [
    "label",
    "description",
    "expire",
    "rotate",
    "owner",
    "file",
    "format",
];

fn secret_add(state: &mut JujuState, args: &[String]) -> Answer {
    let a = parse_argv(args, &SECRET_FLAGS, &[]).or_else(usage_err)?;
    let content = secret_content(&a.positional)?;
    if content.is_empty() {
        return usage("missing secret value or filename");
    }
    let owner = a.flag(&["owner"]).unwrap_or("application").to_string();
    if owner == "application" && !state.leader {
        return fail("permission denied");
    }
    let label = a.flag(&["label"]);
    if let Some(l) = label
        && state
            .secrets
            .iter()
            .any(|s| s.owner.is_some() && s.label.as_deref() == Some(l))
    {
        return fail(format!("secret with label {l:?} already exists"));
    }
    state.next_secret += 1;
    let id = format!("secret:c{:019}", state.next_secret);
    state.secrets.push(SecretState {
        id: id.clone(),
        revisions: vec![content],
        label: a.flag(&["label"]).map(String::from),
        owner: Some(owner),
        pinned: None,
        granted: true,
        description: a.flag(&["description"]).map(String::from),
        rotate: a.flag(&["rotate"]).map(String::from),
        expire: a.flag(&["expire"]).map(String::from),
        grants: vec![],
        pending: true,
    });
    Ok(format!("{id}\n"))
}

fn secret_set(state: &mut JujuState, args: &[String]) -> Answer {
    let a = parse_argv(args, &SECRET_FLAGS, &[]).or_else(usage_err)?;
    let Some(id) = a.positional.first().cloned() else {
        return usage("missing secret URI");
    };
    let content = secret_content(&a.positional[1..])?;
    let secret = find_secret(state, Some(&id), None)?;
    if secret.owner.is_none() {
        return fail("permission denied");
    }
    if !content.is_empty() {
        if secret.pending {
            // Not committed yet: the set amends the add.
            if let Some(first) = secret.revisions.last_mut() {
                *first = content;
            }
        } else {
            secret.revisions.push(content);
        }
    }
    if let Some(l) = a.flag(&["label"]) {
        secret.label = Some(l.into());
    }
    if let Some(d) = a.flag(&["description"]) {
        secret.description = Some(d.into());
    }
    if let Some(r) = a.flag(&["rotate"]) {
        secret.rotate = Some(r.into());
    }
    if let Some(e) = a.flag(&["expire"]) {
        secret.expire = Some(e.into());
    }
    Ok(String::new())
}

fn secret_info_get(state: &mut JujuState, args: &[String]) -> Answer {
    let a = parse_argv(args, &["format", "label"], &[]).or_else(usage_err)?;
    let id = a.positional.first().map(String::as_str);
    let label = a.flag(&["label"]).map(String::from);
    if id.is_some() && label.is_some() {
        return usage("specify either a secret URI or label but not both");
    }
    let secret = find_secret(state, id, label.as_deref())?;
    if secret.owner.is_none() {
        return fail(format!(
            "secret {:?} not found",
            id.or(label.as_deref()).unwrap_or_default()
        ));
    }
    let mut info = serde_json::Map::new();
    info.insert("revision".into(), Value::from(secret.revisions.len()));
    for (k, v) in [
        ("label", &secret.label),
        ("owner", &secret.owner),
        ("description", &secret.description),
        ("rotation", &secret.rotate),
        ("expiry", &secret.expire),
    ] {
        if let Some(v) = v {
            info.insert(k.into(), Value::from(v.clone()));
        }
    }
    ok_json(serde_json::json!({ bare_secret_id(&secret.id): info }))
}

fn secret_grant(state: &mut JujuState, scope: &HookScope, tool: &str, args: &[String]) -> Answer {
    let a = parse_argv(args, &["r", "relation", "unit", "app"], &[]).or_else(usage_err)?;
    let Some(id) = a.positional.first().cloned() else {
        return usage("missing secret URI");
    };
    let rel_id = if a.flag(&["r", "relation"]).is_some() {
        Some(find_relation(state, scope, &a)?.id)
    } else if tool == "secret-grant" {
        return usage("missing relation");
    } else {
        None
    };
    let secret = find_secret(state, Some(&id), None)?;
    match (tool, rel_id) {
        ("secret-grant", Some(r)) => {
            if !secret.grants.contains(&r) {
                secret.grants.push(r);
            }
        }
        (_, Some(r)) => secret.grants.retain(|g| *g != r),
        _ => secret.grants.clear(),
    }
    Ok(String::new())
}

fn secret_remove(state: &mut JujuState, args: &[String]) -> Answer {
    let a = parse_argv(args, &["revision"], &[]).or_else(usage_err)?;
    let Some(id) = a.positional.first().cloned() else {
        return usage("missing secret URI");
    };
    find_secret(state, Some(&id), None)?;
    match a.flag(&["revision"]).map(str::parse::<usize>) {
        Some(Ok(rev)) => {
            if let Some(s) = state
                .secrets
                .iter_mut()
                .find(|s| bare_secret_id(&s.id) == bare_secret_id(&id))
                && rev >= 1
                && rev <= s.revisions.len()
            {
                // Keep positions stable: an emptied revision reads as removed.
                s.revisions[rev - 1] = Databag::new();
            }
        }
        Some(Err(_)) => return usage("invalid revision"),
        None => state
            .secrets
            .retain(|s| bare_secret_id(&s.id) != bare_secret_id(&id)),
    }
    Ok(String::new())
}

fn action(state: &mut JujuState, tool: &str, args: &[String]) -> Answer {
    let Some(action) = state.action.as_mut() else {
        return fail("not running an action");
    };
    let a = parse_argv(args, &["format"], &[]).or_else(usage_err)?;
    match tool {
        "action-get" => match a.positional.first() {
            Some(path) => {
                let mut v = Value::Object(action.params.clone());
                for seg in path.split('.') {
                    v = v.get(seg).cloned().unwrap_or(Value::Null);
                }
                ok_json(v)
            }
            None => ok_json(&action.params),
        },
        "action-set" => {
            let mut updates = Vec::new();
            for kv in &a.positional {
                let Some((k, v)) = kv.split_once('=') else {
                    return usage(format!("argument {kv:?} must be of the form key=value"));
                };
                let top = k.split('.').next().unwrap_or(k);
                if ["stdout", "stdout-encoding", "stderr", "stderr-encoding"].contains(&top) {
                    return usage(format!("cannot set reserved action key {top:?}"));
                }
                let valid = k.split('.').all(|seg| {
                    !seg.is_empty()
                        && seg
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                        && !seg.starts_with('-')
                        && !seg.ends_with('-')
                });
                if !valid {
                    return usage(format!(
                        "key {k:?} must start and end with lowercase alphanumeric, and contain only lowercase alphanumeric, hyphens and periods"
                    ));
                }
                updates.push((k.to_string(), v.to_string()));
            }
            action.results.extend(updates);
            Ok(String::new())
        }
        "action-fail" => {
            action.failed = Some(if a.positional.is_empty() {
                "action failed without reason given, check action for errors".into()
            } else {
                a.positional.join(" ")
            });
            Ok(String::new())
        }
        _ => {
            action.logs.push(a.positional.join(" "));
            Ok(String::new())
        }
    }
}

fn state_get(state: &JujuState, args: &[String]) -> Answer {
    let a = parse_argv(args, &["format"], &["strict"]).or_else(usage_err)?;
    match a.positional.first() {
        Some(k) => match state.unit_state.get(k) {
            Some(v) => ok_json(v),
            None if a.on("strict") => fail(format!("key {k:?} not found")),
            None => ok_json(""),
        },
        None if state.unit_state.is_empty() => ok_json(Value::Null),
        None => ok_json(&state.unit_state),
    }
}

fn state_set(state: &mut JujuState, args: &[String], stdin: Option<&[u8]>) -> Answer {
    let a = parse_argv(args, &["file"], &[]).or_else(usage_err)?;
    if let Some(file) = a.flag(&["file"]) {
        let text = if file == "-" {
            String::from_utf8_lossy(stdin.unwrap_or_default()).into_owned()
        } else {
            std::fs::read_to_string(file).map_err(|e| (1, e.to_string()))?
        };
        let map: IndexMap<String, String> =
            serde_saphyr::from_str(&text).map_err(|e| (1, format!("cannot parse state: {e}")))?;
        state.unit_state.extend(map);
    }
    for kv in &a.positional {
        match kv.split_once('=') {
            Some((k, v)) => state.unit_state.insert(k.into(), v.into()),
            None => return usage(format!("expected \"key=value\", got {kv:?}")),
        };
    }
    Ok(String::new())
}
