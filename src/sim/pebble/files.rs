//! The container filesystem of the in-memory Pebble (`CONTRACT.md` E.8): writes, reads,
//! listings, directories and removal, with Pebble's per-path errors.

use super::*;

impl PebbleModel {
    pub(super) fn is_dir(&self, path: &str) -> bool {
        path == "/" || self.files.get(path).is_some_and(FsEntry::is_dir)
    }

    /// Write a file (one entry of a multipart `POST /v1/files`). Errors are per-file
    /// ([`PebbleError::Path`]).
    pub fn write_file(&mut self, path: &str, content: &[u8], options: &PushOptions) -> Result<()> {
        self.settle();
        let owner = &options.ownership;
        self.ops.push(PebbleOp::Push {
            path: path.to_string(),
            content: content.into(),
            make_dirs: options.make_dirs,
            permissions: owner.permissions.clone(),
            user: owner.user.clone(),
            user_id: owner.user_id,
            group: owner.group.clone(),
            group_id: owner.group_id,
        });
        if !path.starts_with('/') {
            return Err(path_error(
                path,
                "generic-file-error",
                format!("paths must be absolute, got {path:?}"),
            ));
        }
        let clean = clean_path(path);
        let ownership =
            Ownership::resolve(owner).map_err(|e| path_error(path, "generic-file-error", e))?;
        if options.make_dirs {
            self.make_dirs_all(&parent_of(&clean), None, &ownership)
                .map_err(|(kind, e)| {
                    path_error(path, kind, format!("cannot create directory: {e}"))
                })?;
        }
        check_permissions(&owner.permissions)
            .map_err(|e| path_error(path, "generic-file-error", e))?;
        let parent = parent_of(&clean);
        if !self.is_dir(&parent) {
            let (kind, why) = if self.files.contains_key(&parent) {
                ("generic-file-error", "not a directory")
            } else {
                ("not-found", "no such file or directory")
            };
            return Err(path_error(path, kind, format!("open {clean}: {why}")));
        }
        if self.is_dir(&clean) {
            return Err(path_error(
                path,
                "generic-file-error",
                format!("rename {clean}: file exists"),
            ));
        }
        let mut entry = FsEntry::file(content).with_ownership(&ownership);
        entry.permissions.clone_from(&owner.permissions);
        self.files.insert(clean, entry);
        Ok(())
    }

    /// `mkdir -p`: create `dir` and its missing parents; existing directories are kept.
    fn make_dirs_all(
        &mut self,
        dir: &str,
        permissions: Option<&str>,
        ownership: &Ownership,
    ) -> std::result::Result<(), (&'static str, String)> {
        let mut chain = ancestors(dir);
        if dir != "/" {
            chain.push(dir.to_string());
        }
        for path in &chain {
            if let Some(entry) = self.files.get(path)
                && !entry.is_dir()
            {
                return Err((
                    "generic-file-error",
                    format!("mkdir {path}: not a directory"),
                ));
            }
        }
        for path in chain {
            self.files.entry(path).or_insert_with(|| {
                let mut entry = FsEntry::directory().with_ownership(ownership);
                entry.permissions = permissions.map(str::to_string);
                entry
            });
        }
        Ok(())
    }

    /// Read a file (one path of `GET /v1/files?action=read`).
    pub fn read_file(&mut self, path: &str) -> Result<Vec<u8>> {
        self.settle();
        if !path.starts_with('/') {
            return Err(path_error(
                path,
                "generic-file-error",
                format!("paths must be absolute, got {path:?}"),
            ));
        }
        let clean = clean_path(path);
        if self.is_dir(&clean) {
            return Err(path_error(
                path,
                "generic-file-error",
                format!("can only read a regular file: {path:?}"),
            ));
        }
        match self.files.get(&clean) {
            Some(entry) => Ok(entry.content.0.clone()),
            None => Err(self.missing(path, &clean, "stat")),
        }
    }

    /// The error of `op` on a path that does not resolve.
    pub(super) fn missing(&self, path: &str, clean: &str, op: &str) -> PebbleError {
        let blocked = ancestors(clean)
            .into_iter()
            .any(|a| self.files.get(&a).is_some_and(|e| !e.is_dir()));
        if blocked {
            path_error(
                path,
                "generic-file-error",
                format!("{op} {clean}: not a directory"),
            )
        } else {
            path_error(
                path,
                "not-found",
                format!("{op} {clean}: no such file or directory"),
            )
        }
    }

    /// `GET /v1/files?action=list`: the entries of a directory (or the path itself, for
    /// a file or with `itself`), filtered by a glob on the name. Errors are API errors
    /// (404 for a missing path).
    pub fn list_entries(
        &mut self,
        path: &str,
        pattern: Option<&str>,
        itself: bool,
    ) -> Result<Vec<(String, FsEntry)>> {
        self.settle();
        const WHAT: &str = "GET /v1/files";
        if !path.starts_with('/') {
            return Err(api_error(
                400,
                WHAT,
                format!("path must be absolute, got {path:?}"),
            ));
        }
        let clean = clean_path(path);
        let entry = if clean == "/" {
            Some(FsEntry::directory())
        } else {
            self.files.get(&clean).cloned()
        };
        let Some(entry) = entry else {
            let (kind, message) = match self.missing(path, &clean, "stat") {
                PebbleError::Path { kind, message, .. } => (kind, message),
                other => ("generic-file-error".to_string(), other.to_string()),
            };
            return Err(PebbleError::Api {
                status: if kind == "not-found" { 404 } else { 400 },
                what: WHAT.to_string(),
                message,
                kind: Some(kind),
            });
        };
        let candidates: Vec<(String, FsEntry)> = if !entry.is_dir() || itself {
            vec![(clean, entry)]
        } else {
            self.files
                .iter()
                .filter(|(p, _)| *p != "/" && parent_of(p) == clean)
                .map(|(p, e)| (p.clone(), e.clone()))
                .collect()
        };
        let mut out = Vec::new();
        for (full, entry) in candidates {
            if let Some(pattern) = pattern.filter(|p| !p.is_empty()) {
                let matched =
                    glob_match(pattern, &base_name(&full)).map_err(|_| PebbleError::Api {
                        status: 400,
                        what: WHAT.to_string(),
                        message: "syntax error in pattern".to_string(),
                        kind: Some("generic-file-error".to_string()),
                    })?;
                if !matched {
                    continue;
                }
            }
            out.push((full, entry));
        }
        Ok(out)
    }

    /// [`Self::list_entries`] as the [`FileInfo`]s the `Pebble` trait returns.
    pub fn list_files(
        &mut self,
        path: &str,
        pattern: Option<&str>,
        itself: bool,
    ) -> Result<Vec<FileInfo>> {
        Ok(self
            .list_entries(path, pattern, itself)?
            .into_iter()
            .map(|(full, entry)| FileInfo {
                name: base_name(&full),
                kind: if entry.is_dir() { "directory" } else { "file" }.to_string(),
                size: (!entry.is_dir()).then_some(entry.content.0.len() as u64),
                permissions: entry.permissions().to_string(),
                user: Some(entry.user_name().to_string()),
                group: Some(entry.group_name().to_string()),
                path: full,
            })
            .collect())
    }

    /// Make a directory (one entry of `POST /v1/files` `make-dirs`).
    pub fn make_dir(&mut self, path: &str, options: &MakeDirOptions) -> Result<()> {
        self.settle();
        let owner = &options.ownership;
        self.ops.push(PebbleOp::MakeDir {
            path: path.to_string(),
            make_parents: options.make_parents,
            permissions: owner.permissions.clone(),
            user: owner.user.clone(),
            user_id: owner.user_id,
            group: owner.group.clone(),
            group_id: owner.group_id,
        });
        if !path.starts_with('/') {
            return Err(path_error(
                path,
                "generic-file-error",
                format!("paths must be absolute, got {path:?}"),
            ));
        }
        check_permissions(&owner.permissions)
            .map_err(|e| path_error(path, "generic-file-error", e))?;
        let ownership =
            Ownership::resolve(owner).map_err(|e| path_error(path, "generic-file-error", e))?;
        let clean = clean_path(path);
        if options.make_parents {
            return self
                .make_dirs_all(&clean, owner.permissions.as_deref(), &ownership)
                .map_err(|(kind, e)| path_error(path, kind, e));
        }
        if clean == "/" || self.files.contains_key(&clean) {
            return Err(path_error(
                path,
                "generic-file-error",
                format!("mkdir {clean}: file exists"),
            ));
        }
        if !self.is_dir(&parent_of(&clean)) {
            return Err(self.missing(path, &clean, "mkdir"));
        }
        let mut entry = FsEntry::directory().with_ownership(&ownership);
        entry.permissions.clone_from(&owner.permissions);
        self.files.insert(clean, entry);
        Ok(())
    }

    /// Remove a path (one entry of `POST /v1/files` `remove`).
    pub fn remove_path(&mut self, path: &str, recursive: bool) -> Result<()> {
        self.settle();
        self.ops.push(PebbleOp::Remove {
            path: path.to_string(),
            recursive,
        });
        if !path.starts_with('/') {
            return Err(path_error(
                path,
                "generic-file-error",
                format!("paths must be absolute, got {path:?}"),
            ));
        }
        let clean = clean_path(path);
        if clean == "/" {
            return Err(path_error(
                path,
                "generic-file-error",
                "remove /: device or resource busy",
            ));
        }
        let below = format!("{clean}/");
        let has_children = self.files.keys().any(|k| k.starts_with(&below));
        if !self.files.contains_key(&clean) {
            if recursive {
                return Ok(());
            }
            return Err(self.missing(path, &clean, "remove"));
        }
        if has_children && !recursive {
            return Err(path_error(
                path,
                "generic-file-error",
                format!("remove {clean}: directory not empty"),
            ));
        }
        self.files
            .retain(|k, _| *k != clean && !k.starts_with(&below));
        Ok(())
    }
}
