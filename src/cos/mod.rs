//! Canonical Observability Stack: the assets the charm publishes (Grafana dashboards,
//! Prometheus and Loki alert rules), built-in and from the project's `cos_custom/`
//! (`DJANGO.md` 15.3), and the relation data of `metrics-endpoint` ([`prometheus`]),
//! `grafana-dashboard` ([`grafana`]) and `logging` ([`loki`]).

pub mod grafana;
pub mod loki;
pub mod prometheus;

use std::path::Path;

/// The subdirectories assets live in.
pub const GRAFANA_DASHBOARDS: &str = "grafana_dashboards";
pub const PROMETHEUS_ALERT_RULES: &str = "prometheus_alert_rules";
pub const LOKI_ALERT_RULES: &str = "loki_alert_rules";
const SUBDIRS: [&str; 3] = [GRAFANA_DASHBOARDS, LOKI_ALERT_RULES, PROMETHEUS_ALERT_RULES];

/// One asset file of the merged set (`cos_merged/<subdir>/<name>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asset {
    pub subdir: String,
    pub name: String,
    pub content: String,
}

/// The built-in assets, embedded in the binary.
pub fn builtin_assets() -> Vec<Asset> {
    vec![
        Asset {
            subdir: GRAFANA_DASHBOARDS.into(),
            name: "django.json".into(),
            content: include_str!("../../templates/cos/grafana_dashboards/django.json").into(),
        },
        Asset {
            subdir: PROMETHEUS_ALERT_RULES.into(),
            name: "django.rule".into(),
            content: include_str!("../../templates/cos/prometheus_alert_rules/django.rule").into(),
        },
    ]
}

/// The files of `cos_custom/` as `(subdir, name, content)`; `None` when the directory
/// holds anything but the three known subdirectories of regular files, in which case
/// only the built-in assets are used.
pub fn read_custom_dir(dir: &Path) -> Option<Vec<Asset>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(_) => return Some(vec![]),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.ok()?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !SUBDIRS.contains(&name.as_str()) || !entry.file_type().ok()?.is_dir() {
            return None;
        }
        for file in std::fs::read_dir(entry.path()).ok()? {
            let file = file.ok()?;
            if !file.file_type().ok()?.is_file() {
                return None;
            }
            out.push(Asset {
                subdir: name.clone(),
                name: file.file_name().to_string_lossy().into_owned(),
                content: std::fs::read_to_string(file.path()).ok()?,
            });
        }
    }
    Some(out)
}

/// The merged set: built-ins plus the custom files, prefixed `custom_`.
pub fn merge(builtin: Vec<Asset>, custom: Option<Vec<Asset>>) -> Vec<Asset> {
    let mut all = builtin;
    for mut asset in custom.unwrap_or_default() {
        asset.name = format!("custom_{}", asset.name);
        all.push(asset);
    }
    all.sort_by(|a, b| (&a.subdir, &a.name).cmp(&(&b.subdir, &b.name)));
    all
}

/// The merged files of one subdirectory, sorted by name.
pub fn in_subdir<'a>(assets: &'a [Asset], subdir: &'a str) -> impl Iterator<Item = &'a Asset> {
    assets.iter().filter(move |a| a.subdir == subdir)
}

/// The Juju topology of this unit.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Topology {
    pub model: String,
    pub model_uuid: String,
    pub application: String,
    pub unit: String,
    pub charm_name: String,
}

impl Topology {
    /// `<model>_<first 8 of uuid>_<app>`.
    pub fn identifier(&self) -> String {
        let short: String = self.model_uuid.chars().take(8).collect();
        format!("{}_{}_{}", self.model, short, self.application)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_files_are_prefixed_and_anything_else_disables_them() {
        let dir = tempfile::tempdir().unwrap();
        let grafana = dir.path().join("grafana_dashboards");
        std::fs::create_dir(&grafana).unwrap();
        std::fs::write(grafana.join("x.json"), "{}").unwrap();
        let custom = read_custom_dir(dir.path());
        let merged = merge(builtin_assets(), custom);
        let names: Vec<String> = merged
            .iter()
            .map(|a| format!("{}/{}", a.subdir, a.name))
            .collect();
        assert_eq!(
            names,
            [
                "grafana_dashboards/custom_x.json",
                "grafana_dashboards/django.json",
                "prometheus_alert_rules/django.rule"
            ]
        );
        std::fs::write(dir.path().join("README"), "x").unwrap();
        assert_eq!(read_custom_dir(dir.path()), None);
        assert_eq!(merge(builtin_assets(), None).len(), 2);
        assert_eq!(read_custom_dir(&dir.path().join("absent")), Some(vec![]));
    }

    #[test]
    fn identifier() {
        let t = Topology {
            model: "prod".into(),
            model_uuid: "3f1a2b4c-0000-4000-8000-000000000000".into(),
            application: "blog".into(),
            ..Default::default()
        };
        assert_eq!(t.identifier(), "prod_3f1a2b4c_blog");
    }
}
