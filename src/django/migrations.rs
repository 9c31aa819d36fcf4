//! Database migrations (`DJANGO.md` 9): which command runs, the status file, and the
//! Blocked text of a failure.

/// The migration status file in the workload container.
pub const STATUS_FILE: &str = "/tmp/django/state/database-migration-status";
/// The Django app directory in the rock.
pub const APP_DIR: &str = "/django/app";

/// The content of the status file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MigrationStatus {
    Pending,
    Completed,
    Failed,
}

impl MigrationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MigrationStatus::Pending => "PENDING",
            MigrationStatus::Completed => "COMPLETED",
            MigrationStatus::Failed => "FAILED",
        }
    }

    /// Read the file's content; anything unknown reads as `PENDING`.
    pub fn parse(content: &str) -> MigrationStatus {
        match content {
            "COMPLETED" => MigrationStatus::Completed,
            "FAILED" => MigrationStatus::Failed,
            _ => MigrationStatus::Pending,
        }
    }

    /// Whether the migration must run.
    pub fn needs_run(self) -> bool {
        self != MigrationStatus::Completed
    }
}

/// The candidate files in `/django/app`, in the order they are checked; the last one
/// that exists wins, so `manage.py` always takes precedence.
pub const CANDIDATES: [&str; 4] = ["migrate", "migrate.sh", "migrate.py", "manage.py"];

/// The migration command, given which candidate files exist.
pub fn migration_command(exists: impl Fn(&str) -> bool) -> Option<Vec<String>> {
    let file = CANDIDATES.iter().rev().find(|f| exists(f))?;
    let argv: Vec<&str> = match *file {
        "migrate" => vec!["/django/app/migrate"],
        "migrate.sh" => vec!["bash", "-eo", "pipefail", "migrate.sh"],
        "migrate.py" => vec!["python3", "migrate.py"],
        _ => vec!["python3", "manage.py", "migrate"],
    };
    Some(argv.into_iter().map(String::from).collect())
}

/// Python's `repr` of a list of strings: `['python3', 'manage.py', 'migrate']`.
pub fn python_list_repr(items: &[String]) -> String {
    let parts: Vec<String> = items.iter().map(|s| python_str_repr(s)).collect();
    format!("[{}]", parts.join(", "))
}

/// Python's `repr` of a string: single quotes unless the text has a `'` and no `"`.
pub fn python_str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::from(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// The Blocked message of a failed migration.
pub fn failure_message(command: &[String]) -> String {
    format!(
        "database migration command {} failed, will retry in next update-status",
        python_list_repr(command)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manage_py_wins_and_the_last_existing_candidate_is_chosen() {
        let with = |files: &'static [&'static str]| migration_command(move |f| files.contains(&f));
        assert_eq!(
            with(&["migrate.sh", "manage.py"]).unwrap(),
            ["python3", "manage.py", "migrate"]
        );
        assert_eq!(
            with(&["migrate", "migrate.sh"]).unwrap(),
            ["bash", "-eo", "pipefail", "migrate.sh"]
        );
        assert_eq!(with(&["migrate"]).unwrap(), ["/django/app/migrate"]);
        assert_eq!(
            with(&["migrate.py", "migrate"]).unwrap(),
            ["python3", "migrate.py"]
        );
        assert_eq!(with(&[]), None);
    }

    #[test]
    fn failure_text() {
        let cmd: Vec<String> = ["python3", "manage.py", "migrate"].map(String::from).into();
        assert_eq!(
            failure_message(&cmd),
            "database migration command ['python3', 'manage.py', 'migrate'] failed, will retry in next update-status"
        );
        assert_eq!(python_str_repr("it's"), "\"it's\"");
        assert_eq!(python_str_repr("a'b\"c"), "'a\\'b\"c'");
    }

    #[test]
    fn status_file_values() {
        assert_eq!(
            MigrationStatus::parse("COMPLETED"),
            MigrationStatus::Completed
        );
        assert_eq!(MigrationStatus::parse("FAILED"), MigrationStatus::Failed);
        assert_eq!(MigrationStatus::parse(""), MigrationStatus::Pending);
        assert!(MigrationStatus::Failed.needs_run());
        assert!(!MigrationStatus::Completed.needs_run());
    }
}
