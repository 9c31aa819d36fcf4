//! Refuses to build a charm whose `charmcraft.yaml` breaks the rules the django-framework
//! extension enforced at pack time (`DJANGO.md` 1.6): `charmcraft pack` runs this build.

#[path = "src/django/pack_check.rs"]
#[allow(dead_code)]
mod pack_check;

fn main() {
    println!("cargo::rerun-if-changed=charmcraft.yaml");
    let Ok(text) = std::fs::read_to_string("charmcraft.yaml") else {
        return;
    };
    let project: serde_json::Value = match serde_saphyr::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("charmcraft.yaml is not valid YAML: {e}");
            std::process::exit(1);
        }
    };
    let errors = pack_check::check(&project);
    if !errors.is_empty() {
        for e in &errors {
            eprintln!("{e}");
        }
        std::process::exit(1);
    }
}
