//! The charm's project files as they ship in the packed charm, loaded once per hook:
//! Juju's metadata ([`CharmMeta`]), `paas-config.yaml` (validated; its errors are a
//! Blocked status, not a failed hook) and the COS assets (built in, merged with the
//! project's `cos_custom/`).

use std::path::Path;

use crate::cos::{self, Asset};
use crate::django::paas_config::{self, PaasConfig, PaasConfigError};
use crate::juju::metadata::{CharmMeta, MetadataError};

/// Everything the charm reads from its own files.
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    pub meta: CharmMeta,
    /// `paas-config.yaml`, validated (defaults when absent).
    pub paas_config: Result<PaasConfig, PaasConfigError>,
    /// The merged COS assets (built-in plus `cos_custom/`).
    pub cos_assets: Vec<Asset>,
}

impl Default for Project {
    fn default() -> Self {
        Project {
            meta: CharmMeta::default(),
            paas_config: Ok(PaasConfig::default()),
            cos_assets: cos::builtin_assets(),
        }
    }
}

impl Project {
    /// The packed charm in `charm_dir`, with `paas-config.yaml` read from `working_dir`
    /// (the charm directory under Juju).
    pub fn load(charm_dir: &Path, working_dir: &Path) -> Result<Project, MetadataError> {
        let meta = CharmMeta::load(charm_dir)?;
        Ok(Project {
            paas_config: paas_config::load(working_dir, Some(&meta.action_params)),
            meta,
            cos_assets: cos::merge(
                cos::builtin_assets(),
                cos::read_custom_dir(&charm_dir.join("cos_custom")),
            ),
        })
    }

    /// A project given as texts (what `simulate` runs with): its `charmcraft.yaml` and
    /// `paas-config.yaml`, if any; the built-in COS assets.
    pub fn from_texts(
        charmcraft_yaml: &str,
        paas_config_yaml: Option<&str>,
    ) -> Result<Project, MetadataError> {
        let meta = CharmMeta::from_charmcraft_yaml(charmcraft_yaml)?;
        Ok(Project {
            paas_config: paas_config_yaml.map_or(Ok(PaasConfig::default()), |text| {
                paas_config::parse_for(text, Some(&meta.action_params))
            }),
            meta,
            cos_assets: cos::builtin_assets(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::django::paas_config::LoggingFormat;

    #[test]
    fn a_packed_charm_with_its_paas_config_and_custom_assets() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("metadata.yaml"),
            "name: blog\ncontainers: {django-app: {resource: img}}\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("paas-config.yaml"),
            "framework_logging_format: json\n",
        )
        .unwrap();
        let rules = dir.path().join("cos_custom/prometheus_alert_rules");
        std::fs::create_dir_all(&rules).unwrap();
        std::fs::write(rules.join("extra.rule"), "groups: []\n").unwrap();
        let project = Project::load(dir.path(), dir.path()).unwrap();
        assert_eq!(project.meta.name, "blog");
        assert_eq!(
            project.paas_config.unwrap().logging_format,
            LoggingFormat::Json
        );
        assert_eq!(
            project.cos_assets.len(),
            cos::builtin_assets().len() + 1,
            "{:?}",
            project.cos_assets
        );
        // paas-config.yaml comes from the working directory.
        let elsewhere = tempfile::tempdir().unwrap();
        let project = Project::load(dir.path(), elsewhere.path()).unwrap();
        assert_eq!(project.paas_config, Ok(PaasConfig::default()));
    }

    #[test]
    fn texts_of_a_simulation() {
        let project = Project::from_texts("name: x\n", Some("a: [1\n")).unwrap();
        assert_eq!(project.meta.name, "x");
        assert!(project.paas_config.is_err());
        assert_eq!(project.cos_assets, cos::builtin_assets());
        assert!(Project::from_texts("name: [", None).is_err());
    }
}
