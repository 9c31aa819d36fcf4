//! Finds the project's `charmcraft.yaml`, refuses to build a charm whose project file
//! breaks the rules the django-framework extension enforced at pack time (`DJANGO.md`
//! 1.6) or whose `paas-config.yaml` is invalid (the same check, with the same messages,
//! as the charm makes at run time), and copies `charmcraft.yaml` to `OUT_DIR` for
//! `simulate` to embed.
//!
//! `charmcraft pack` builds each part from a copy of the project that leaves
//! `charmcraft.yaml` out, and names the project directory in `CRAFT_PROJECT_DIR`: the
//! file is looked for there first, then beside `Cargo.toml`. A charm built without its
//! project file is a broken charm, so finding neither fails the build.

#[path = "src/django/pack_check.rs"]
#[allow(dead_code)]
mod pack_check;

#[path = "src/django/paas_config.rs"]
#[allow(dead_code)]
mod paas_config;

#[path = "src/juju/action_params.rs"]
mod action_params;

use std::path::PathBuf;

fn main() {
    println!("cargo::rerun-if-env-changed=CRAFT_PROJECT_DIR");
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::var_os("CRAFT_PROJECT_DIR").filter(|d| !d.is_empty()) {
        candidates.push(PathBuf::from(dir).join("charmcraft.yaml"));
    }
    if let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR") {
        candidates.push(PathBuf::from(dir).join("charmcraft.yaml"));
    }
    for path in &candidates {
        // Also watch the files that are not there yet: creating one changes the answer.
        println!("cargo::rerun-if-changed={}", path.display());
        println!(
            "cargo::rerun-if-changed={}",
            path.with_file_name(paas_config::FILE_NAME).display()
        );
    }
    let Some((path, text)) = candidates
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok().map(|t| (p, t)))
    else {
        let looked: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
        fail(&[format!(
            "charmcraft.yaml not found (looked for {}): a charm is built from its project file",
            looked.join(", ")
        )]);
    };
    let project: serde_json::Value = match serde_saphyr::from_str(&text) {
        Ok(v) => v,
        Err(e) => fail(&[format!("{} is not valid YAML: {e}", path.display())]),
    };
    let errors = pack_check::check(&project);
    if !errors.is_empty() {
        fail(&errors);
    }
    // paas-config.yaml sits beside charmcraft.yaml in the project.
    let paas_config_path = path.with_file_name(paas_config::FILE_NAME);
    if let Ok(text) = std::fs::read_to_string(&paas_config_path) {
        let actions = action_params::declared_action_params(
            project
                .get("actions")
                .and_then(serde_json::Value::as_object)
                .into_iter()
                .flatten(),
        );
        if let Err(e) = paas_config::parse_for(&text, Some(&actions)) {
            fail(&[e.status_message()]);
        }
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    if let Err(e) = std::fs::write(out.join("charmcraft.yaml"), &text) {
        fail(&[format!("cannot copy charmcraft.yaml to OUT_DIR: {e}")]);
    }
}

/// Stop the build with these errors: cargo shows a failed build script's stderr whole
/// (the rule messages span lines, which `cargo::error=` cannot carry).
fn fail(errors: &[String]) -> ! {
    for e in errors {
        eprintln!("{e}");
    }
    std::process::exit(1);
}
