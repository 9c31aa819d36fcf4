//! The statuses the charm last wrote, remembered across hooks so that a `status-set`
//! that would change nothing is skipped: each one is a round trip to the controller and
//! an entry in `juju show-status-log`.
//!
//! The memory is a small JSON file in the charm directory ([`FILE`]): kept across hooks,
//! lost with the pod, like ops' unit state. It is trusted only while nothing else may
//! have set the status, so:
//! * the application entry is dropped on `leader-elected` and whenever `is-leader` says
//!   no (a new leader always writes once);
//! * the whole memory is dropped on `install` and `upgrade-charm` (Juju may set the
//!   workload status itself around them), and when a hook fails;
//! * before the first status that is really written in a hook, the file is removed, and
//!   it is written again (atomically: a temporary file, then a rename) only when the
//!   hook succeeds, so a hook killed half-way leaves no memory rather than a wrong one;
//! * a missing, unreadable or corrupt file is "unknown": every status is written.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::juju::tools::Status;

/// The file's name in the charm directory.
pub const FILE: &str = ".last-status.json";

/// The last unit status and (while leader) application status the charm wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StatusMemory {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<Status>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application: Option<Status>,
}

impl StatusMemory {
    /// The memory in `path`; nothing when the file is missing, unreadable or corrupt.
    pub fn load(path: &Path) -> StatusMemory {
        std::fs::read(path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// Write the memory to `path` atomically: a temporary file beside it, then a rename.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let text = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, path)
    }

    fn entry(&mut self, application: bool) -> &mut Option<Status> {
        if application {
            &mut self.application
        } else {
            &mut self.unit
        }
    }
}

/// A status write the memory made unnecessary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub application: bool,
    pub status: Status,
}

/// The memory during one hook: what it says, where it is kept (none in a simulation,
/// whose world holds it), and what the hook did with it.
#[derive(Debug, Clone, Default)]
pub struct StatusBook {
    memory: StatusMemory,
    file: Option<PathBuf>,
    /// The memory differs from the file's.
    changed: bool,
    /// The file was removed in this hook (see the module documentation).
    removed: bool,
    skipped: Vec<Skipped>,
}

impl StatusBook {
    pub fn new(memory: StatusMemory, file: Option<PathBuf>) -> StatusBook {
        StatusBook {
            memory,
            file,
            ..StatusBook::default()
        }
    }

    /// Whether writing `status` would change nothing; when so, the skip is recorded.
    pub fn unchanged(&mut self, application: bool, status: &Status) -> bool {
        if self.memory.entry(application).as_ref() != Some(status) {
            return false;
        }
        self.skipped.push(Skipped {
            application,
            status: status.clone(),
        });
        true
    }

    /// About to write a status: the file goes first, so that a hook that dies before
    /// its end leaves no memory that could be wrong.
    pub fn before_write(&mut self) {
        self.remove_file();
    }

    /// `status` was written.
    pub fn written(&mut self, application: bool, status: &Status) {
        *self.memory.entry(application) = Some(status.clone());
        self.changed = true;
    }

    /// Forget the application entry (`application_only`) or everything.
    pub fn forget(&mut self, application_only: bool) {
        let forgotten = if application_only {
            self.memory.application.take().is_some()
        } else {
            std::mem::take(&mut self.memory) != StatusMemory::default()
        };
        if forgotten {
            self.remove_file();
            self.changed = true;
        }
    }

    fn remove_file(&mut self) {
        if self.removed {
            return;
        }
        if let Some(file) = &self.file {
            // Nothing to do when it is not there; any other failure leaves a file the
            // end of the hook rewrites or removes again.
            let _ = std::fs::remove_file(file);
        }
        self.removed = true;
    }

    /// The hook ended: keep the memory when it succeeded, drop it when it failed (Juju
    /// retries the hook, and what it wrote before failing is not worth trusting).
    /// Returns the memory the next hook starts from.
    pub fn finish(&mut self, success: bool) -> StatusMemory {
        if !success {
            self.memory = StatusMemory::default();
            self.removed = false;
            self.remove_file();
            return StatusMemory::default();
        }
        if let Some(file) = &self.file
            && self.changed
            && self.memory.save(file).is_err()
        {
            let _ = std::fs::remove_file(file);
        }
        self.changed = false;
        self.memory.clone()
    }

    /// What the memory says now.
    pub fn memory(&self) -> &StatusMemory {
        &self.memory
    }

    /// The writes skipped in this hook.
    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn active() -> Status {
        Status::active()
    }

    /// A temporary directory and the memory file's path in it (gone with the directory).
    fn memory_file() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        (dir, path)
    }

    /// A memory of both statuses active, saved at `path`.
    fn both_active_saved(path: &Path) -> StatusMemory {
        let memory = StatusMemory {
            unit: Some(active()),
            application: Some(active()),
        };
        memory.save(path).unwrap();
        memory
    }

    #[test]
    fn a_missing_or_corrupt_file_is_unknown() {
        let (_dir, path) = memory_file();
        assert_eq!(StatusMemory::load(&path), StatusMemory::default());
        std::fs::write(&path, "{not json").unwrap();
        assert_eq!(StatusMemory::load(&path), StatusMemory::default());
        std::fs::write(&path, r#"{"unit": {"kind": "sleeping", "message": ""}}"#).unwrap();
        assert_eq!(StatusMemory::load(&path), StatusMemory::default());
    }

    #[test]
    fn the_memory_survives_a_hook_that_succeeds_and_is_written_atomically() {
        let (dir, path) = memory_file();
        let mut book = StatusBook::new(StatusMemory::load(&path), Some(path.clone()));
        assert!(!book.unchanged(false, &active()));
        book.before_write();
        book.written(false, &active());
        let kept = book.finish(true);
        assert_eq!(kept.unit, Some(active()));
        assert_eq!(StatusMemory::load(&path), kept);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [FILE], "no temporary file left behind");

        let mut next = StatusBook::new(StatusMemory::load(&path), Some(path.clone()));
        assert!(next.unchanged(false, &active()));
        assert!(
            !next.unchanged(true, &active()),
            "never written for the app"
        );
        assert_eq!(
            next.skipped(),
            [Skipped {
                application: false,
                status: active()
            }]
        );
    }

    #[test]
    fn the_file_goes_before_a_write_and_with_a_failed_hook() {
        let (_dir, path) = memory_file();
        both_active_saved(&path);
        let mut book = StatusBook::new(StatusMemory::load(&path), Some(path.clone()));
        book.before_write();
        assert!(!path.exists(), "a hook killed now leaves no memory");
        book.written(false, &Status::blocked("x"));
        assert_eq!(book.finish(false), StatusMemory::default());
        assert!(!path.exists());
    }

    #[test]
    fn forgetting_the_application_keeps_the_unit() {
        let (_dir, path) = memory_file();
        let memory = both_active_saved(&path);
        let mut book = StatusBook::new(memory, Some(path.clone()));
        book.forget(true);
        assert!(!book.unchanged(true, &active()));
        assert!(book.unchanged(false, &active()));
        book.finish(true);
        assert_eq!(
            StatusMemory::load(&path),
            StatusMemory {
                unit: Some(active()),
                application: None
            }
        );
        let mut book = StatusBook::new(StatusMemory::load(&path), Some(path.clone()));
        book.forget(false);
        assert_eq!(book.finish(true), StatusMemory::default());
        assert_eq!(StatusMemory::load(&path), StatusMemory::default());
    }
}
