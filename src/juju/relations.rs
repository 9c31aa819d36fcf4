//! What an integration reads of Juju, and nothing more: relation data and the secrets it
//! points to, through a read-only [`RelationReader`]. The charm's [`HookTools`] is one;
//! the integrations' unit tests use a plain-data one (`integrations::testing`).
//!
//! Reads stay lazy: what an integration reads next often depends on what it just read
//! (a unit's bag once the unit list is known, a secret once a bag names it).

use crate::juju::context::RelationId;
use crate::juju::tools::{Databag, HookTools, SecretContent, SecretRead, ToolError, ToolRunner};

/// Read access to relations and secrets. `None` answers mean "not there": a relation
/// that is gone, a secret that does not exist or is not granted.
pub trait RelationReader {
    /// The application bag of `app` (ours or the remote application's) on `rel`.
    fn app_bag(&mut self, rel: &RelationId, app: &str) -> Result<Option<Databag>, ToolError>;
    /// The bag of `unit` on `rel`.
    fn unit_bag(&mut self, rel: &RelationId, unit: &str) -> Result<Option<Databag>, ToolError>;
    /// The remote units of `rel`.
    fn units(&mut self, rel: &RelationId) -> Result<Option<Vec<String>>, ToolError>;
    /// The content of secret `id`, registering `label` for it when given.
    fn secret(
        &mut self,
        id: &str,
        label: Option<&str>,
        read: SecretRead,
    ) -> Result<Option<SecretContent>, ToolError>;
}

impl<R: ToolRunner + ?Sized> RelationReader for HookTools<R> {
    fn app_bag(&mut self, rel: &RelationId, app: &str) -> Result<Option<Databag>, ToolError> {
        self.relation_get(rel, app, true)
    }

    fn unit_bag(&mut self, rel: &RelationId, unit: &str) -> Result<Option<Databag>, ToolError> {
        self.relation_get(rel, unit, false)
    }

    fn units(&mut self, rel: &RelationId) -> Result<Option<Vec<String>>, ToolError> {
        self.relation_list(rel)
    }

    fn secret(
        &mut self,
        id: &str,
        label: Option<&str>,
        read: SecretRead,
    ) -> Result<Option<SecretContent>, ToolError> {
        self.secret_get(Some(id), label, read)
    }
}

/// A reader borrowed mutably is one too: how an unsized one (the charm's `HookTools`,
/// over a `dyn ToolRunner`) is passed as a `&mut dyn RelationReader`.
impl<T: RelationReader + ?Sized> RelationReader for &mut T {
    fn app_bag(&mut self, rel: &RelationId, app: &str) -> Result<Option<Databag>, ToolError> {
        (**self).app_bag(rel, app)
    }

    fn unit_bag(&mut self, rel: &RelationId, unit: &str) -> Result<Option<Databag>, ToolError> {
        (**self).unit_bag(rel, unit)
    }

    fn units(&mut self, rel: &RelationId) -> Result<Option<Vec<String>>, ToolError> {
        (**self).units(rel)
    }

    fn secret(
        &mut self,
        id: &str,
        label: Option<&str>,
        read: SecretRead,
    ) -> Result<Option<SecretContent>, ToolError> {
        (**self).secret(id, label, read)
    }
}
