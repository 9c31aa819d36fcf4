//! Juju secrets as the hook tools see them: how a read pins revisions, the metadata of
//! the secrets the charm creates, what `secret-info-get` says, and the private files
//! secret values travel through to `secret-add` / `secret-set`.

use std::io::Write;

use super::tools::SecretContent;

/// How `secret-get` pins revisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecretRead {
    /// The pinned revision (the first read pins the latest).
    #[default]
    Pinned,
    /// Read the latest and re-pin to it.
    Refresh,
    /// Read the latest once.
    Peek,
}

/// Who owns a secret the charm creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecretOwner {
    #[default]
    Application,
    Unit,
}

/// The optional metadata of `secret-add` / `secret-set`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SecretOptions {
    pub owner: SecretOwner,
    pub label: Option<String>,
    pub description: Option<String>,
    pub expire: Option<String>,
    pub rotate: Option<String>,
}

/// `secret-info-get` for one secret.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SecretInfo {
    /// The bare id (no `secret:` prefix), as Juju keys it.
    pub id: String,
    pub revision: Option<u64>,
    pub label: Option<String>,
    pub owner: Option<String>,
    pub description: Option<String>,
    pub rotation: Option<String>,
    pub expiry: Option<String>,
}

/// A secret's ID without its scheme and model: `secret:abc`, `secret://<model>/abc`
/// and `abc` are all `abc`.
pub fn bare_secret_id(id: &str) -> &str {
    let id = id.strip_prefix("secret:").unwrap_or(id);
    let id = id.strip_prefix("//").unwrap_or(id);
    id.rsplit('/').next().unwrap_or(id)
}

/// Secret values written to private files for `key#file=<path>` arguments, removed when
/// dropped.
pub(super) struct SecretFiles {
    dir: std::path::PathBuf,
    keys: Vec<String>,
}

impl SecretFiles {
    pub(super) fn write(content: &SecretContent) -> std::io::Result<SecretFiles> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let mut rnd = [0u8; 8];
        getrandom::fill(&mut rnd).map_err(|e| std::io::Error::other(e.to_string()))?;
        let suffix: String = rnd.iter().map(|b| format!("{b:02x}")).collect();
        let dir = std::env::temp_dir().join(format!("charm-secret-{suffix}"));
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        let files = SecretFiles {
            dir,
            keys: content.keys().cloned().collect(),
        };
        for (key, value) in content {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(files.dir.join(key))?;
            f.write_all(value.as_bytes())?;
        }
        Ok(files)
    }

    pub(super) fn args(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| format!("{k}#file={}", self.dir.join(k).display()))
            .collect()
    }
}

impl Drop for SecretFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
