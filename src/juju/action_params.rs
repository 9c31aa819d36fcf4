//! The parameters each action declares, read from an `actions` mapping (`actions.yaml`,
//! or the `actions` of `charmcraft.yaml`). Self-contained: `build.rs` includes it to
//! check `paas-config.yaml` against the project's actions at pack time.

use indexmap::IndexMap;
use serde_json::Value;

/// Each action's declared parameter names, from an `actions` mapping (`actions.yaml`,
/// or the `actions` of `charmcraft.yaml`).
pub fn declared_action_params<'a>(
    actions: impl IntoIterator<Item = (&'a String, &'a Value)>,
) -> IndexMap<String, Vec<String>> {
    actions
        .into_iter()
        .map(|(name, spec)| {
            let params = spec
                .get("params")
                .and_then(Value::as_object)
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default();
            (name.clone(), params)
        })
        .collect()
}
