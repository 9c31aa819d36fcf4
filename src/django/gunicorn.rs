//! `gunicorn.conf.py` (`DJANGO.md` 7.1) and the worker-class rules of the `django`
//! command (`DJANGO.md` 8), as pure functions.

use crate::django::config::WebserverOptions;

/// Where the file lives in the container.
pub const GUNICORN_CONF_PATH: &str = "/django/gunicorn.conf.py";
/// The log directory made before the file is written (`DJANGO.md` 7.2).
pub const LOG_DIR: &str = "/var/log/django";
/// Where Python caches the compiled `gunicorn.conf.py`, and the names it uses there.
/// The cache is keyed on the source's mtime (in seconds) and size, so a file rewritten
/// within the same second at the same size (the restore after a failed check) would
/// load the cached bytecode of the file it replaced.
pub const BYTECODE_DIR: &str = "/django/__pycache__";
pub const BYTECODE_PATTERN: &str = "gunicorn.conf.*.pyc";
/// gunicorn 25.1 and newer open a control socket under `$HOME` by default, which the
/// rock's `_daemon_` (home `/nonexistent`) cannot write: put it where it can.
const CONTROL_SOCKET: &str = "control_socket = '/tmp/gunicorn.ctl'";
/// The line that makes gunicorn use the JSON logging module.
const LOGGER_CLASS_LINE: &str = "logger_class = GunicornJsonLogger\n";

const TRACING_IMPORTS: [&str; 4] = [
    "from opentelemetry import trace",
    "from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter",
    "from opentelemetry.sdk.trace import TracerProvider",
    "from opentelemetry.sdk.trace.export import BatchSpanProcessor",
];
const ACCESS_LOG_FORMAT: &str = r#"access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %({x-request-id}o)s'"#;
const TRACING_POST_FORK: [&str; 3] = [
    "    trace.set_tracer_provider(TracerProvider())",
    "    span_processor = BatchSpanProcessor(OTLPSpanExporter())",
    "    trace.get_tracer_provider().add_span_processor(span_processor)",
];
const JSON_POST_FORK: [&str; 6] = [
    "    _original_wsgi = worker.app.wsgi",
    "",
    "    def _patched_wsgi():",
    "        return OtelSpanMiddleware(_original_wsgi())",
    "",
    "    worker.app.wsgi = _patched_wsgi",
];

/// Our JSON logging module (`DJANGO.md` 7.1), shipped in the binary.
const JSON_LOGGER_FILE: &str = include_str!("../../templates/json_logger.py");

/// The module text as it goes into `gunicorn.conf.py`: without its final newline.
pub fn json_logger_module() -> &'static str {
    JSON_LOGGER_FILE
        .strip_suffix('\n')
        .unwrap_or(JSON_LOGGER_FILE)
}

/// What the file depends on besides the `webserver-*` options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GunicornFeatures<'a> {
    /// Juju 3.4 or newer: logs to stdout/stderr, forwarded by Pebble.
    pub juju_3_4: bool,
    /// The tracing relation gives an OTLP HTTP endpoint.
    pub tracing: bool,
    /// `framework_logging_format: json`: the JSON logging module (without its final
    /// newline).
    pub json_logger: Option<&'a str>,
}

/// The content of `gunicorn.conf.py`.
pub fn gunicorn_conf(options: &WebserverOptions, features: GunicornFeatures<'_>) -> String {
    let mut out = String::new();
    if features.tracing {
        out.push_str(&TRACING_IMPORTS.join("\n"));
        out.push_str("\n\n");
    }
    if let Some(module) = features.json_logger {
        out.push('\n');
        out.push_str(module);
        out.push('\n');
        out.push_str(LOGGER_CLASS_LINE);
    }
    let (access, error) = if features.juju_3_4 {
        ("'-'", "'-'")
    } else {
        (
            "'/var/log/django/access.log'",
            "'/var/log/django/error.log'",
        )
    };
    let mut lines = vec![
        "bind = ['0.0.0.0:8000']".to_string(),
        "chdir = '/django/app'".to_string(),
        format!("accesslog = {access}"),
        format!("errorlog = {error}"),
        "statsd_host = 'localhost:9125'".to_string(),
        CONTROL_SOCKET.to_string(),
    ];
    for (name, value) in [
        ("workers", options.workers),
        ("threads", options.threads),
        ("keepalive", options.keepalive),
        ("timeout", options.timeout),
    ] {
        if let Some(v) = value {
            lines.push(format!("{name} = {v}"));
        }
    }
    out.push_str(&lines.join("\n"));
    if features.tracing {
        out.push('\n');
        out.push_str(ACCESS_LOG_FORMAT);
        out.push_str("\n\n\n");
    } else if features.json_logger.is_some() {
        out.push_str("\n\n");
    }
    if features.tracing || features.json_logger.is_some() {
        out.push_str("def post_fork(server, worker):\n");
        let mut body: Vec<&str> = Vec::new();
        if features.tracing {
            body.extend(TRACING_POST_FORK);
        }
        if features.json_logger.is_some() {
            body.extend(JSON_POST_FORK);
        }
        for line in body {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The JSON logger settings of a `gunicorn.conf.py` (the module and its `logger_class`
/// line; empty without them). gunicorn sets its logger up once, when it starts, and keeps
/// it across a `SIGHUP` reload: a change here needs a restart.
pub fn logger_settings(conf: &str) -> &str {
    let Some(at) = conf.find(LOGGER_CLASS_LINE) else {
        return "";
    };
    let head = &conf[..at + LOGGER_CLASS_LINE.len()];
    let imports = TRACING_IMPORTS.join("\n") + "\n\n";
    head.strip_prefix(imports.as_str()).unwrap_or(head)
}

/// Why the worker class blocks the charm (`DJANGO.md` 8).
pub const INVALID_WORKER_CLASS: &str =
    "Only 'gevent' and 'sync' are allowed. https://bit.ly/django-async-doc";
pub const GEVENT_MISSING: &str =
    "gunicorn[gevent] must be installed in the rock. https://bit.ly/django-async-doc";
pub const NO_WORKER_CLASS_ARG: &str = "Worker class is set through `juju config` but the `-k` worker class argument is not in the service command.";

/// Whether a configured worker class is allowed.
pub fn worker_class_valid(class: &str) -> bool {
    class == "sync" || class == "gevent"
}

/// The `django` command has no `-k <class>` to set the worker class with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoWorkerClassArgument;

/// The `django` command with the worker class applied: `Ok(None)` when it already uses
/// the class (`DJANGO.md` 8).
pub fn command_with_worker_class(
    command: &str,
    class: &str,
) -> Result<Option<String>, NoWorkerClassArgument> {
    let tokens = shlex_split(command).ok_or(NoWorkerClassArgument)?;
    let k = tokens
        .iter()
        .position(|t| t == "-k")
        .ok_or(NoWorkerClassArgument)?;
    let mut at = k + 1;
    if tokens.get(at).map(String::as_str) == Some("[") {
        at += 1;
    }
    match tokens.get(at) {
        Some(current) if current == class => Ok(None),
        Some(_) => {
            let mut new = tokens.clone();
            new[at] = class.to_string();
            Ok(Some(new.join(" ")))
        }
        None => Err(NoWorkerClassArgument),
    }
}

/// The command run with `--check-config`: shlex tokens without `[`/`]`.
pub fn check_config_argv(command: &str) -> Option<Vec<String>> {
    let mut argv: Vec<String> = shlex_split(command)?
        .into_iter()
        .filter(|t| t != "[" && t != "]")
        .collect();
    argv.push("--check-config".into());
    Some(argv)
}

/// Split like a POSIX shell (Python's `shlex.split`): whitespace separates words,
/// single quotes are literal, double quotes allow `\` before `\`, `"`, `$`, `` ` `` and
/// newline, a backslash outside quotes escapes the next character. `None` on an
/// unterminated quote or a trailing backslash.
pub fn shlex_split(s: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => word.push(c),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => {
                            let next = chars.next()?;
                            if !matches!(next, '\\' | '"' | '$' | '`' | '\n') {
                                word.push('\\');
                            }
                            word.push(next);
                        }
                        c => word.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.push(chars.next()?);
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    const IMPORTS: &str = "from opentelemetry import trace\nfrom opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter\nfrom opentelemetry.sdk.trace import TracerProvider\nfrom opentelemetry.sdk.trace.export import BatchSpanProcessor";
    const BASE: &str = "bind = ['0.0.0.0:8000']\nchdir = '/django/app'\naccesslog = '-'\nerrorlog = '-'\nstatsd_host = 'localhost:9125'\ncontrol_socket = '/tmp/gunicorn.ctl'";
    const TRACE_BODY: &str = "def post_fork(server, worker):\n    trace.set_tracer_provider(TracerProvider())\n    span_processor = BatchSpanProcessor(OTLPSpanExporter())\n    trace.get_tracer_provider().add_span_processor(span_processor)\n";
    const JSON_BODY: &str = "    _original_wsgi = worker.app.wsgi\n\n    def _patched_wsgi():\n        return OtelSpanMiddleware(_original_wsgi())\n\n    worker.app.wsgi = _patched_wsgi\n";

    fn new() -> GunicornFeatures<'static> {
        GunicornFeatures {
            juju_3_4: true,
            ..Default::default()
        }
    }

    #[test]
    fn plain_file_with_all_options_and_no_trailing_newline() {
        let opts = WebserverOptions {
            workers: Some(4),
            threads: Some(2),
            keepalive: Some(5),
            timeout: Some(30),
            worker_class: None,
        };
        assert_eq!(
            gunicorn_conf(&opts, new()),
            format!("{BASE}\nworkers = 4\nthreads = 2\nkeepalive = 5\ntimeout = 30")
        );
        assert_eq!(gunicorn_conf(&WebserverOptions::default(), new()), BASE);
    }

    #[test]
    fn old_juju_logs_to_files() {
        let text = gunicorn_conf(&WebserverOptions::default(), GunicornFeatures::default());
        assert!(text.contains(
            "accesslog = '/var/log/django/access.log'\nerrorlog = '/var/log/django/error.log'\n"
        ));
    }

    #[test]
    fn logger_settings_are_the_json_module_and_its_logger_class() {
        let m = "class GunicornJsonLogger: pass";
        let plain = gunicorn_conf(&WebserverOptions::default(), new());
        assert_eq!(logger_settings(&plain), "");
        let json = GunicornFeatures {
            json_logger: Some(m),
            ..new()
        };
        let expected = format!("\n{m}\nlogger_class = GunicornJsonLogger\n");
        let opts = WebserverOptions {
            workers: Some(3),
            ..Default::default()
        };
        assert_eq!(logger_settings(&gunicorn_conf(&opts, json)), expected);
        // Tracing and the options are not logger settings: SIGHUP applies them.
        let both = GunicornFeatures {
            tracing: true,
            ..json
        };
        assert_eq!(
            logger_settings(&gunicorn_conf(&WebserverOptions::default(), both)),
            expected
        );
        let other_module = GunicornFeatures {
            json_logger: Some("class GunicornJsonLogger: x = 1"),
            ..new()
        };
        assert_ne!(
            logger_settings(&gunicorn_conf(&opts, other_module)),
            expected
        );
    }

    #[test]
    fn tracing_only() {
        let f = GunicornFeatures {
            tracing: true,
            ..new()
        };
        assert_eq!(
            gunicorn_conf(&WebserverOptions::default(), f),
            format!("{IMPORTS}\n\n{BASE}\n{ACCESS_LOG_FORMAT}\n\n\n{TRACE_BODY}")
        );
    }

    #[test]
    fn json_only_and_both() {
        let m = "class GunicornJsonLogger: pass";
        let json = GunicornFeatures {
            json_logger: Some(m),
            ..new()
        };
        assert_eq!(
            gunicorn_conf(&WebserverOptions::default(), json),
            format!(
                "\n{m}\nlogger_class = GunicornJsonLogger\n{BASE}\n\ndef post_fork(server, worker):\n{JSON_BODY}"
            )
        );
        let both = GunicornFeatures {
            tracing: true,
            json_logger: Some(m),
            ..new()
        };
        let opts = WebserverOptions {
            workers: Some(2),
            ..Default::default()
        };
        assert_eq!(
            gunicorn_conf(&opts, both),
            format!(
                "{IMPORTS}\n\n\n{m}\nlogger_class = GunicornJsonLogger\n{BASE}\nworkers = 2\n{ACCESS_LOG_FORMAT}\n\n\n{TRACE_BODY}{JSON_BODY}"
            )
        );
    }

    #[test]
    fn worker_class_rewrite() {
        let cmd = "/bin/python3 -m gunicorn -c /django/gunicorn.conf.py django_app.wsgi:application -k [ sync ]";
        assert_eq!(command_with_worker_class(cmd, "sync"), Ok(None));
        assert_eq!(
            command_with_worker_class(cmd, "gevent"),
            Ok(Some("/bin/python3 -m gunicorn -c /django/gunicorn.conf.py django_app.wsgi:application -k [ gevent ]".into()))
        );
        assert_eq!(
            command_with_worker_class(
                "/bin/python3 -m gunicorn 'app:application' -k sync",
                "gevent"
            ),
            Ok(Some(
                "/bin/python3 -m gunicorn app:application -k gevent".into()
            ))
        );
        assert_eq!(
            command_with_worker_class("/bin/python3 -m gunicorn app", "sync"),
            Err(NoWorkerClassArgument)
        );
        assert!(worker_class_valid("gevent") && worker_class_valid("sync"));
        assert!(!worker_class_valid("eventlet"));
    }

    #[test]
    fn check_config_command() {
        let cmd = "/bin/python3 -m gunicorn -c /django/gunicorn.conf.py django_app.wsgi:application -k [ sync ]";
        assert_eq!(
            check_config_argv(cmd).unwrap(),
            [
                "/bin/python3",
                "-m",
                "gunicorn",
                "-c",
                "/django/gunicorn.conf.py",
                "django_app.wsgi:application",
                "-k",
                "sync",
                "--check-config"
            ]
        );
    }

    #[test]
    fn shlex_rules() {
        assert_eq!(
            shlex_split(r#"a 'b c' "d \"e\" \x" f\ g"#).unwrap(),
            ["a", "b c", r#"d "e" \x"#, "f g"]
        );
        assert_eq!(shlex_split("'unterminated"), None);
        assert_eq!(shlex_split("  ").unwrap(), Vec::<String>::new());
        assert_eq!(shlex_split("''").unwrap(), [""]);
    }
}
