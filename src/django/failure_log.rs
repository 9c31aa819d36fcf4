//! What the charm logs when a workload command it runs fails (the `gunicorn
//! --check-config` and the database migration): the command's exit status and the tail
//! of its output, where the operator finds the cause (`ModuleNotFoundError: ...`,
//! `OperationalError: connection ... refused`), with every secret value the charm knows
//! replaced by `[redacted]` first: Django prints settings and connection strings in its
//! tracebacks.
//!
//! The output of `createsuperuser` and of custom actions is never logged.

use std::collections::BTreeMap;

/// How much of the output is logged: its last lines, and at most this many bytes.
pub const TAIL_LINES: usize = 50;
pub const TAIL_BYTES: usize = 8 * 1024;
/// What a secret value is replaced with.
pub const REDACTED: &str = "[redacted]";
/// Values shorter than this are not redacted: replacing every `a` or `1` of a traceback
/// would destroy the output, and no secret worth the name is that short.
const MIN_SECRET_LEN: usize = 3;

/// The secret values among the workload environment and what the hook read from Juju
/// secrets: the Django secret key, passwords and secret keys of the integrations (also
/// inside connection URLs), and every value of every secret read (secret options,
/// credentials of integrations). Longest first, so that a secret containing another is
/// replaced whole.
pub fn secret_values<'a>(
    env: &'a BTreeMap<String, String>,
    secret_contents: &'a [String],
) -> Vec<&'a str> {
    let mut values: Vec<&str> = secret_contents.iter().map(String::as_str).collect();
    for (name, value) in env {
        if is_secret_name(name) {
            values.push(value);
        }
        if let Some(password) = url_password(value) {
            values.push(password);
        }
    }
    values.retain(|v| v.len() >= MIN_SECRET_LEN);
    values.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    values.dedup();
    values
}

/// Variables that carry a secret by name: `DJANGO_SECRET_KEY`, `S3_SECRET_KEY`,
/// `POSTGRESQL_DB_PASSWORD`, `DJANGO_OIDC_CLIENT_SECRET`, ...
fn is_secret_name(name: &str) -> bool {
    ["_PASSWORD", "SECRET_KEY", "_SECRET"]
        .iter()
        .any(|suffix| name.ends_with(suffix))
}

/// The password of a `scheme://user:password@host...` value, as written in it
/// (percent-encoded where the URL encodes it).
fn url_password(value: &str) -> Option<&str> {
    let (_, rest) = value.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let (userinfo, _) = authority.rsplit_once('@')?;
    let (_, password) = userinfo.split_once(':')?;
    Some(password)
}

/// Replace every occurrence of every secret in `text`.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for secret in secrets {
        if out.contains(secret) {
            out = out.replace(secret, REDACTED);
        }
    }
    out
}

/// The last [`TAIL_LINES`] lines of `text`, and of those at most the last
/// [`TAIL_BYTES`] bytes (cut at a character boundary).
pub fn tail(text: &str) -> &str {
    let text = text.trim_end_matches('\n');
    let start = text
        .rmatch_indices('\n')
        .nth(TAIL_LINES - 1)
        .map_or(0, |(at, _)| at + 1);
    let mut tail = &text[start..];
    if tail.len() > TAIL_BYTES {
        let mut cut = tail.len() - TAIL_BYTES;
        while !tail.is_char_boundary(cut) {
            cut += 1;
        }
        tail = &tail[cut..];
    }
    tail
}

/// The log message of a failed command: `<what> failed with exit status <N>:` and the
/// redacted tail of its output (stdout, then stderr).
pub fn failure_message(
    what: &str,
    exit_code: i64,
    stdout: &[u8],
    stderr: &[u8],
    secrets: &[&str],
) -> String {
    let mut output = String::from_utf8_lossy(stdout).into_owned();
    if !output.is_empty() && !output.ends_with('\n') && !stderr.is_empty() {
        output.push('\n');
    }
    output.push_str(&String::from_utf8_lossy(stderr));
    // Redact before cutting: a cut must not leave half a secret behind.
    let output = redact(&output, secrets);
    let tail = tail(&output);
    if tail.is_empty() {
        format!("{what} failed with exit status {exit_code}:")
    } else {
        format!("{what} failed with exit status {exit_code}:\n{tail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn secrets_come_from_secret_names_urls_and_secret_contents() {
        let env = env(&[
            ("DJANGO_SECRET_KEY", "django-key-123"),
            ("POSTGRESQL_DB_PASSWORD", "pg-pass"),
            (
                "POSTGRESQL_DB_CONNECT_STRING",
                "postgresql://u:pg-pass@h:5432/d",
            ),
            ("REDIS_DB_CONNECT_STRING", "redis://:r%40dis@redis:6379"),
            ("S3_SECRET_KEY", "SK-long"),
            ("DJANGO_OIDC_CLIENT_SECRET", "oidc-secret"),
            ("DJANGO_ALLOWED_HOSTS", "[\"example.com\"]"),
            ("DJANGO_TOKEN", "not-a-secret-option"),
            ("DJANGO_SHORT_PASSWORD", "ab"),
        ]);
        let contents = vec!["api-token-1".to_string(), "pg-pass".to_string()];
        let secrets = secret_values(&env, &contents);
        assert_eq!(
            secrets,
            [
                "django-key-123",
                "api-token-1",
                "oidc-secret",
                "SK-long",
                "pg-pass",
                "r%40dis"
            ]
        );
    }

    #[test]
    fn url_passwords() {
        assert_eq!(url_password("amqp://u:p%2Fw@h:5672/v"), Some("p%2Fw"));
        assert_eq!(url_password("https://u@h/x:y@z"), None);
        assert_eq!(url_password("http://h:80"), None);
        assert_eq!(url_password("plain"), None);
    }

    #[test]
    fn the_message_is_the_redacted_tail_of_stdout_then_stderr() {
        let secrets = ["hunter22"];
        let msg = failure_message(
            "database migration",
            1,
            b"Operations to perform:\n",
            b"OperationalError: password authentication failed (password hunter22)\n",
            &secrets,
        );
        assert_eq!(
            msg,
            "database migration failed with exit status 1:\nOperations to perform:\nOperationalError: password authentication failed (password [redacted])"
        );
        assert_eq!(
            failure_message("gunicorn configuration check", 2, b"", b"", &secrets),
            "gunicorn configuration check failed with exit status 2:"
        );
    }

    #[test]
    fn the_tail_keeps_the_last_50_lines_within_8_kib() {
        let lines: Vec<String> = (1..=80).map(|i| format!("line {i}")).collect();
        let text = lines.join("\n") + "\n";
        let t = tail(&text);
        assert!(t.starts_with("line 31\n"), "{t}");
        assert!(t.ends_with("line 80"));
        assert_eq!(t.lines().count(), 50);
        let long = "é".repeat(10_000);
        let t = tail(&long);
        assert!(t.len() <= TAIL_BYTES && t.len() >= TAIL_BYTES - 1);
        assert!(t.chars().all(|c| c == 'é'));
        assert_eq!(tail("one line"), "one line");
        assert_eq!(tail(""), "");
    }

    #[test]
    fn a_secret_cut_by_the_tail_is_already_redacted() {
        let secret = "s3cr3t-value";
        let text = format!("{}{secret}\nlast", "x".repeat(TAIL_BYTES));
        let msg = failure_message("check", 1, text.as_bytes(), b"", &[secret]);
        assert!(!msg.contains("s3cr3t"), "{msg}");
        assert!(msg.ends_with("[redacted]\nlast"));
    }
}
