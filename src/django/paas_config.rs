//! `paas-config.yaml` (`DJANGO.md` 15.4): the project's logging format, extra
//! Prometheus scrape jobs and the commands its custom actions run, validated strictly so
//! that a mistake is a clear Blocked status (and, in `build.rs`, a failed pack) rather
//! than a failing hook.
//!
//! Self-contained (`indexmap`, `serde_json`, `serde_saphyr`, `thiserror` only): the build
//! script includes this file to check the project's file at pack time.

use indexmap::IndexMap;
use serde_json::Value;

/// The file name, read from the charm directory.
pub const FILE_NAME: &str = "paas-config.yaml";

/// `framework_logging_format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoggingFormat {
    #[default]
    None,
    Json,
}

/// One static config of a scrape job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticConfig {
    pub targets: Vec<String>,
    /// `None` when the file gives no `labels`.
    pub labels: Option<IndexMap<String, String>>,
}

/// One custom scrape job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrapeJob {
    pub job_name: String,
    pub metrics_path: String,
    pub static_configs: Vec<StaticConfig>,
}

/// A custom action's command (`actions.<name>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionCommand {
    /// The argv, each element with `{param}` placeholders and `{{`/`}}` escapes.
    pub command: Vec<String>,
    /// Seconds.
    pub timeout: u64,
}

/// The timeout of a custom action's command when the file gives none, and its bounds.
pub const DEFAULT_ACTION_TIMEOUT: u64 = 600;
const MAX_ACTION_TIMEOUT: u64 = 3600;
/// The actions the charm itself implements: they cannot be bound to a command.
pub const BUILT_IN_ACTIONS: [&str; 2] = ["rotate-secret-key", "create-superuser"];

/// The validated file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PaasConfig {
    pub logging_format: LoggingFormat,
    pub scrape_jobs: Vec<ScrapeJob>,
    /// Custom actions bound to commands, by action name.
    pub actions: IndexMap<String, ActionCommand>,
}

/// One piece of a command argument: text as it is, or a parameter to substitute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgPiece<'a> {
    Text(std::borrow::Cow<'a, str>),
    Param(&'a str),
}

/// Split a command argument into text and `{param}` placeholders; `{{` and `}}` stand
/// for literal braces. `None` when a brace is unbalanced.
pub fn arg_pieces(arg: &str) -> Option<Vec<ArgPiece<'_>>> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut rest = arg;
    while let Some(at) = rest.find(['{', '}']) {
        text.push_str(&rest[..at]);
        let tail = &rest[at..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            text.push_str(&tail[..1]);
            rest = &tail[2..];
        } else if tail.starts_with('}') {
            return None;
        } else {
            let close = tail.find('}')?;
            let name = &tail[1..close];
            if name.contains('{') {
                return None;
            }
            if !text.is_empty() {
                pieces.push(ArgPiece::Text(std::mem::take(&mut text).into()));
            }
            pieces.push(ArgPiece::Param(name));
            rest = &tail[close + 1..];
        }
    }
    text.push_str(rest);
    if !text.is_empty() {
        pieces.push(ArgPiece::Text(text.into()));
    }
    Some(pieces)
}

/// What is wrong with the file; the status is `Invalid paas-config.yaml: <this>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PaasConfigError(pub String);

impl PaasConfigError {
    pub fn status_message(&self) -> String {
        format!("Invalid paas-config.yaml: {}", self.0)
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, PaasConfigError> {
    Err(PaasConfigError(msg.into()))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn mapping<'a>(
    v: &'a Value,
    path: &str,
) -> Result<&'a serde_json::Map<String, Value>, PaasConfigError> {
    match v {
        Value::Object(m) => Ok(m),
        other => err(format!(
            "{path}: expected a mapping, got {}",
            type_name(other)
        )),
    }
}

fn list<'a>(v: &'a Value, path: &str) -> Result<&'a Vec<Value>, PaasConfigError> {
    match v {
        Value::Array(l) => Ok(l),
        other => err(format!("{path}: expected a list, got {}", type_name(other))),
    }
}

fn string(v: &Value, path: &str) -> Result<String, PaasConfigError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        other => err(format!(
            "{path}: expected a string, got {}",
            type_name(other)
        )),
    }
}

fn only_keys(
    map: &serde_json::Map<String, Value>,
    allowed: &[&str],
    prefix: &str,
) -> Result<(), PaasConfigError> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => err(format!("unknown key {prefix}{k}")),
        None => Ok(()),
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// Parse and validate the file's text, without the charm's actions to check custom
/// actions against (their names and parameters are then not checked). An empty or
/// whitespace-only file is the defaults.
pub fn parse(text: &str) -> Result<PaasConfig, PaasConfigError> {
    parse_for(text, None)
}

/// Parse and validate the file's text for a charm whose actions declare these
/// parameters (action name -> parameter names).
pub fn parse_for(
    text: &str,
    actions: Option<&IndexMap<String, Vec<String>>>,
) -> Result<PaasConfig, PaasConfigError> {
    if text.trim().is_empty() {
        return Ok(PaasConfig::default());
    }
    let doc: Value = serde_saphyr::from_str(text).map_err(|e| {
        // Our parser points at the start of an unclosed bracket or quote; a YAML reader
        // notices the problem where the input ends, and that is the position we report.
        let (line, column) = if e.to_string().contains("unclosed") {
            end_position(text)
        } else {
            match e.location() {
                Some(loc) => (loc.line(), loc.column()),
                None => end_position(text),
            }
        };
        PaasConfigError(format!("YAML parse error at line {line}, column {column}"))
    })?;
    if doc.is_null() {
        return Ok(PaasConfig::default());
    }
    let top = mapping(&doc, "paas-config.yaml")?;
    only_keys(
        top,
        &["framework_logging_format", "prometheus", "actions"],
        "",
    )?;
    let mut config = PaasConfig::default();
    match top.get("framework_logging_format") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s == "none" => {}
        Some(Value::String(s)) if s == "json" => config.logging_format = LoggingFormat::Json,
        Some(other) => {
            return err(format!(
                "framework_logging_format: expected none or json, got {}",
                match other {
                    Value::String(s) => format!("{s:?}"),
                    v => type_name(v).to_string(),
                }
            ));
        }
    }
    if let Some(prom) = top.get("prometheus").filter(|v| !v.is_null()) {
        let prom = mapping(prom, "prometheus")?;
        only_keys(prom, &["scrape_configs"], "prometheus.")?;
        if let Some(jobs) = prom.get("scrape_configs").filter(|v| !v.is_null()) {
            let jobs = list(jobs, "prometheus.scrape_configs")?;
            for (i, job) in jobs.iter().enumerate() {
                let path = format!("prometheus.scrape_configs[{i}]");
                let parsed = parse_job(job, &path)?;
                if config
                    .scrape_jobs
                    .iter()
                    .any(|j| j.job_name == parsed.job_name)
                {
                    return err(format!(
                        "{path}.job_name: duplicate job name {:?}",
                        parsed.job_name
                    ));
                }
                config.scrape_jobs.push(parsed);
            }
        }
    }
    if let Some(bound) = top.get("actions").filter(|v| !v.is_null()) {
        for (name, spec) in mapping(bound, "actions")? {
            let parsed = parse_action(name, spec, actions)?;
            config.actions.insert(name.clone(), parsed);
        }
    }
    Ok(config)
}

/// One entry of `actions`: the name first (when the charm's actions are known), then the
/// command, each argument, then the timeout.
fn parse_action(
    name: &str,
    spec: &Value,
    declared: Option<&IndexMap<String, Vec<String>>>,
) -> Result<ActionCommand, PaasConfigError> {
    let path = format!("actions.{name}");
    if BUILT_IN_ACTIONS.contains(&name) {
        return err(format!("{path}: {name} is built in"));
    }
    let params = match declared {
        Some(declared) => match declared.get(name) {
            Some(params) => Some(params),
            None => return err(format!("{path}: not an action of this charm")),
        },
        None => None,
    };
    let map = mapping(spec, &path)?;
    only_keys(map, &["command", "timeout"], &format!("{path}."))?;
    let argv = match map.get("command") {
        Some(Value::Array(argv)) if !argv.is_empty() => argv,
        _ => {
            return err(format!(
                "{path}.command: must be a non-empty list of strings"
            ));
        }
    };
    let mut command = Vec::new();
    for (i, arg) in argv.iter().enumerate() {
        let arg_path = format!("{path}.command[{i}]");
        let arg = match arg {
            Value::String(s) if !s.is_empty() => s,
            _ => return err(format!("{arg_path}: must be a non-empty string")),
        };
        let Some(pieces) = arg_pieces(arg) else {
            return err(format!("{arg_path}: unbalanced brace"));
        };
        if let Some(params) = params {
            for piece in &pieces {
                if let ArgPiece::Param(p) = piece
                    && !params.iter().any(|known| known == p)
                {
                    return err(format!("{arg_path}: {{{p}}} is not a parameter of {name}"));
                }
            }
        }
        command.push(arg.clone());
    }
    let timeout = match map.get("timeout") {
        None | Some(Value::Null) => DEFAULT_ACTION_TIMEOUT,
        Some(Value::Number(n)) => match n.as_u64() {
            Some(t) if (1..=MAX_ACTION_TIMEOUT).contains(&t) => t,
            _ => return err(timeout_error(&path)),
        },
        Some(_) => return err(timeout_error(&path)),
    };
    Ok(ActionCommand { command, timeout })
}

fn timeout_error(path: &str) -> String {
    format!("{path}.timeout: must be an integer from 1 to {MAX_ACTION_TIMEOUT}")
}

fn parse_job(job: &Value, path: &str) -> Result<ScrapeJob, PaasConfigError> {
    let map = mapping(job, path)?;
    only_keys(
        map,
        &["job_name", "metrics_path", "static_configs"],
        &format!("{path}."),
    )?;
    let job_name = match map.get("job_name") {
        None | Some(Value::Null) => return err(format!("{path}.job_name: missing")),
        Some(v) => string(v, &join(path, "job_name"))?,
    };
    let metrics_path = match map.get("metrics_path") {
        None | Some(Value::Null) => "/metrics".to_string(),
        Some(v) => string(v, &join(path, "metrics_path"))?,
    };
    let statics = match map.get("static_configs") {
        None | Some(Value::Null) => return err(format!("{path}.static_configs: missing")),
        Some(v) => list(v, &join(path, "static_configs"))?,
    };
    let mut static_configs = Vec::new();
    for (i, sc) in statics.iter().enumerate() {
        let sc_path = format!("{path}.static_configs[{i}]");
        let sc_map = mapping(sc, &sc_path)?;
        only_keys(sc_map, &["targets", "labels"], &format!("{sc_path}."))?;
        let targets = match sc_map.get("targets") {
            None | Some(Value::Null) => return err(format!("{sc_path}.targets: missing")),
            Some(v) => list(v, &join(&sc_path, "targets"))?,
        };
        let mut parsed_targets = Vec::new();
        for (t, target) in targets.iter().enumerate() {
            let t_path = format!("{sc_path}.targets[{t}]");
            let target = string(target, &t_path)?;
            if target.starts_with("@scheduler") && scheduler_port(&target).is_none() {
                return err(format!("{t_path}: {target:?} must be @scheduler:<port>"));
            }
            parsed_targets.push(target);
        }
        let labels = match sc_map.get("labels") {
            None | Some(Value::Null) => None,
            Some(v) => {
                let l_path = join(&sc_path, "labels");
                let m = mapping(v, &l_path)?;
                let mut labels = IndexMap::new();
                for (k, v) in m {
                    labels.insert(k.clone(), string(v, &format!("{l_path}.{k}"))?);
                }
                Some(labels)
            }
        };
        static_configs.push(StaticConfig {
            targets: parsed_targets,
            labels,
        });
    }
    Ok(ScrapeJob {
        job_name,
        metrics_path,
        static_configs,
    })
}

/// The 1-based line and column just past the end of `text`.
fn end_position(text: &str) -> (u64, u64) {
    let line = text.matches('\n').count() as u64 + 1;
    let last = text.rsplit('\n').next().unwrap_or("");
    (line, last.chars().count() as u64 + 1)
}

/// The port of an `@scheduler:<digits>` target.
pub fn scheduler_port(target: &str) -> Option<&str> {
    let port = target.strip_prefix("@scheduler:")?;
    (!port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())).then_some(port)
}

/// Read the file from `dir`, for a charm whose actions declare these parameters:
/// absent is the defaults.
pub fn load(
    dir: &std::path::Path,
    actions: Option<&IndexMap<String, Vec<String>>>,
) -> Result<PaasConfig, PaasConfigError> {
    match std::fs::read_to_string(dir.join(FILE_NAME)) {
        Ok(text) => parse_for(&text, actions),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(PaasConfig::default()),
        Err(e) => err(format!("cannot read the file: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(text: &str) -> String {
        parse(text).unwrap_err().status_message()
    }

    #[test]
    fn defaults() {
        assert_eq!(parse("").unwrap(), PaasConfig::default());
        assert_eq!(parse("  \n\t\n").unwrap(), PaasConfig::default());
        assert_eq!(
            parse("framework_logging_format: null\n").unwrap(),
            PaasConfig::default()
        );
        assert_eq!(
            parse("framework_logging_format: none\n").unwrap(),
            PaasConfig::default()
        );
        assert_eq!(
            parse("framework_logging_format: json\n")
                .unwrap()
                .logging_format,
            LoggingFormat::Json
        );
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path(), None).unwrap(), PaasConfig::default());
    }

    #[test]
    fn spec_examples() {
        assert_eq!(
            msg("a: [1\n"),
            "Invalid paas-config.yaml: YAML parse error at line 2, column 1"
        );
        assert_eq!(
            msg("a: [1"),
            "Invalid paas-config.yaml: YAML parse error at line 1, column 6"
        );
        assert_eq!(
            msg("a: b: c\n"),
            "Invalid paas-config.yaml: YAML parse error at line 1, column 5"
        );
        assert_eq!(
            msg("framework_logging_format: json\ncolour: blue\n"),
            "Invalid paas-config.yaml: unknown key colour"
        );
        assert_eq!(
            msg("prometheus:\n  scrape_configs:\n    - static_configs: [{targets: [a]}]\n"),
            "Invalid paas-config.yaml: prometheus.scrape_configs[0].job_name: missing"
        );
    }

    #[test]
    fn every_schema_rule() {
        for (text, expected) in [
            (
                "framework_logging_format: xml\n",
                "framework_logging_format: expected none or json, got \"xml\"",
            ),
            (
                "framework_logging_format: 3\n",
                "framework_logging_format: expected none or json, got a number",
            ),
            (
                "prometheus: 3\n",
                "prometheus: expected a mapping, got a number",
            ),
            ("prometheus: {other: 1}\n", "unknown key prometheus.other"),
            (
                "prometheus: {scrape_configs: {}}\n",
                "prometheus.scrape_configs: expected a list, got a mapping",
            ),
            (
                "prometheus: {scrape_configs: [3]}\n",
                "prometheus.scrape_configs[0]: expected a mapping, got a number",
            ),
            (
                "prometheus: {scrape_configs: [{job_name: j, static_configs: [], extra: 1}]}\n",
                "unknown key prometheus.scrape_configs[0].extra",
            ),
            (
                "prometheus: {scrape_configs: [{job_name: 7, static_configs: []}]}\n",
                "prometheus.scrape_configs[0].job_name: expected a string, got a number",
            ),
            (
                "prometheus: {scrape_configs: [{job_name: j}]}\n",
                "prometheus.scrape_configs[0].static_configs: missing",
            ),
            (
                "prometheus: {scrape_configs: [{job_name: j, metrics_path: [], static_configs: []}]}\n",
                "prometheus.scrape_configs[0].metrics_path: expected a string, got a list",
            ),
            (
                "prometheus: {scrape_configs: [{job_name: j, static_configs: [{}]}]}\n",
                "prometheus.scrape_configs[0].static_configs[0].targets: missing",
            ),
            (
                "prometheus: {scrape_configs: [{job_name: j, static_configs: [{targets: [1]}]}]}\n",
                "prometheus.scrape_configs[0].static_configs[0].targets[0]: expected a string, got a number",
            ),
            (
                "prometheus: {scrape_configs: [{job_name: j, static_configs: [{targets: [a], labels: {k: 1}}]}]}\n",
                "prometheus.scrape_configs[0].static_configs[0].labels.k: expected a string, got a number",
            ),
            (
                "prometheus: {scrape_configs: [{job_name: j, static_configs: [{targets: [a], x: 1}]}]}\n",
                "unknown key prometheus.scrape_configs[0].static_configs[0].x",
            ),
            (
                "prometheus: {scrape_configs: [{job_name: j, static_configs: [{targets: ['@scheduler:80a']}]}]}\n",
                "prometheus.scrape_configs[0].static_configs[0].targets[0]: \"@scheduler:80a\" must be @scheduler:<port>",
            ),
            (
                "prometheus: {scrape_configs: [{job_name: j, static_configs: []}, {job_name: j, static_configs: []}]}\n",
                "prometheus.scrape_configs[1].job_name: duplicate job name \"j\"",
            ),
            ("- a\n", "paas-config.yaml: expected a mapping, got a list"),
        ] {
            assert_eq!(
                msg(text),
                format!("Invalid paas-config.yaml: {expected}"),
                "{text}"
            );
        }
    }

    #[test]
    fn a_full_file() {
        let text = "framework_logging_format: json\nprometheus:\n  scrape_configs:\n    - job_name: celery\n      static_configs:\n        - targets: ['@scheduler:9808']\n          labels: {app: celery}\n    - job_name: other\n      metrics_path: /stats\n      static_configs:\n        - targets: [localhost:8081, '*:9000']\n";
        let c = parse(text).unwrap();
        assert_eq!(c.logging_format, LoggingFormat::Json);
        assert_eq!(c.scrape_jobs.len(), 2);
        assert_eq!(c.scrape_jobs[0].metrics_path, "/metrics");
        assert_eq!(
            c.scrape_jobs[0].static_configs[0].targets,
            ["@scheduler:9808"]
        );
        assert_eq!(
            c.scrape_jobs[0].static_configs[0].labels.as_ref().unwrap()["app"],
            "celery"
        );
        assert_eq!(c.scrape_jobs[1].metrics_path, "/stats");
        assert_eq!(c.scrape_jobs[1].static_configs[0].labels, None);
        assert_eq!(scheduler_port("@scheduler:9808"), Some("9808"));
        assert_eq!(scheduler_port("@scheduler:"), None);
    }

    fn declared() -> IndexMap<String, Vec<String>> {
        [
            ("load-sample-data", vec!["fixture", "verbosity"]),
            ("rotate-secret-key", vec![]),
            ("create-superuser", vec!["username", "email"]),
        ]
        .into_iter()
        .map(|(n, p)| (n.to_string(), p.into_iter().map(String::from).collect()))
        .collect()
    }

    fn action_msg(text: &str) -> String {
        parse_for(text, Some(&declared()))
            .unwrap_err()
            .status_message()
    }

    #[test]
    fn custom_actions_are_bound_to_commands() {
        let text = "actions:\n  load-sample-data:\n    command: [python3, manage.py, loaddata, '{fixture}', '--v={{{verbosity}}}']\n";
        let c = parse_for(text, Some(&declared())).unwrap();
        assert_eq!(
            c.actions["load-sample-data"],
            ActionCommand {
                command: vec![
                    "python3".into(),
                    "manage.py".into(),
                    "loaddata".into(),
                    "{fixture}".into(),
                    "--v={{{verbosity}}}".into()
                ],
                timeout: 600
            }
        );
        let c = parse_for(
            "actions:\n  load-sample-data: {command: [x], timeout: 3600}\n",
            Some(&declared()),
        )
        .unwrap();
        assert_eq!(c.actions["load-sample-data"].timeout, 3600);
        assert!(
            parse_for("actions:\n", Some(&declared()))
                .unwrap()
                .actions
                .is_empty()
        );
    }

    #[test]
    fn custom_action_errors_name_the_place() {
        for (text, expected) in [
            (
                "actions:\n  migrate-all: {command: [x]}\n",
                "actions.migrate-all: not an action of this charm",
            ),
            (
                "actions:\n  create-superuser: {command: [x]}\n",
                "actions.create-superuser: create-superuser is built in",
            ),
            (
                "actions:\n  rotate-secret-key: {command: [x]}\n",
                "actions.rotate-secret-key: rotate-secret-key is built in",
            ),
            (
                "actions:\n  load-sample-data: {}\n",
                "actions.load-sample-data.command: must be a non-empty list of strings",
            ),
            (
                "actions:\n  load-sample-data: {command: []}\n",
                "actions.load-sample-data.command: must be a non-empty list of strings",
            ),
            (
                "actions:\n  load-sample-data: {command: python3 manage.py}\n",
                "actions.load-sample-data.command: must be a non-empty list of strings",
            ),
            (
                "actions:\n  load-sample-data: {command: [python3, '']}\n",
                "actions.load-sample-data.command[1]: must be a non-empty string",
            ),
            (
                "actions:\n  load-sample-data: {command: [python3, 3]}\n",
                "actions.load-sample-data.command[1]: must be a non-empty string",
            ),
            (
                "actions:\n  load-sample-data: {command: [python3, '{fixture']}\n",
                "actions.load-sample-data.command[1]: unbalanced brace",
            ),
            (
                "actions:\n  load-sample-data: {command: [python3, 'a}b']}\n",
                "actions.load-sample-data.command[1]: unbalanced brace",
            ),
            (
                "actions:\n  load-sample-data: {command: [python3, '{a{b}']}\n",
                "actions.load-sample-data.command[1]: unbalanced brace",
            ),
            (
                "actions:\n  load-sample-data: {command: [python3, '{file}']}\n",
                "actions.load-sample-data.command[1]: {file} is not a parameter of load-sample-data",
            ),
            (
                "actions:\n  load-sample-data: {command: [x], timeout: 0}\n",
                "actions.load-sample-data.timeout: must be an integer from 1 to 3600",
            ),
            (
                "actions:\n  load-sample-data: {command: [x], timeout: 3601}\n",
                "actions.load-sample-data.timeout: must be an integer from 1 to 3600",
            ),
            (
                "actions:\n  load-sample-data: {command: [x], timeout: 1.5}\n",
                "actions.load-sample-data.timeout: must be an integer from 1 to 3600",
            ),
            (
                "actions:\n  load-sample-data: {command: [x], timeout: '60'}\n",
                "actions.load-sample-data.timeout: must be an integer from 1 to 3600",
            ),
            (
                "actions:\n  load-sample-data: {command: [x], shell: true}\n",
                "unknown key actions.load-sample-data.shell",
            ),
            ("actions: [x]\n", "actions: expected a mapping, got a list"),
        ] {
            assert_eq!(
                action_msg(text),
                format!("Invalid paas-config.yaml: {expected}"),
                "{text}"
            );
        }
        // Without the charm's actions, names and parameters are not checked.
        assert!(parse("actions:\n  anything: {command: ['{x}']}\n").is_ok());
    }

    #[test]
    fn argument_pieces() {
        assert_eq!(
            arg_pieces("--file={fixture}.yaml").unwrap(),
            [
                ArgPiece::Text("--file=".into()),
                ArgPiece::Param("fixture"),
                ArgPiece::Text(".yaml".into())
            ]
        );
        assert_eq!(
            arg_pieces("{{literal}}").unwrap(),
            [ArgPiece::Text("{literal}".into())]
        );
        assert_eq!(
            arg_pieces("{{{a}}}").unwrap(),
            [
                ArgPiece::Text("{".into()),
                ArgPiece::Param("a"),
                ArgPiece::Text("}".into())
            ]
        );
        assert_eq!(arg_pieces("{}").unwrap(), [ArgPiece::Param("")]);
        assert_eq!(
            arg_pieces("plain").unwrap(),
            [ArgPiece::Text("plain".into())]
        );
        for bad in ["{", "}", "a{b", "a}b", "{a{b}}"] {
            assert_eq!(arg_pieces(bad), None, "{bad}");
        }
    }
}
