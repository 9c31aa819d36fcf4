//! The shape of the source tree the README's layout promises: no import cycle between
//! the top-level modules of `src/`, and no source file over 1,000 lines of product code
//! (an inline `#[cfg(test)]` module, or one in its own `tests.rs`, aside).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The product code of a file: up to its first `#[cfg(test)]`, without comments.
fn product_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .take_while(|l| l.trim() != "#[cfg(test)]")
        .map(String::from)
        .collect()
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Top-level module → the top-level modules its product code names as `crate::<m>`.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = vec![];
    rust_files(&src(), &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(src()).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if top == "lib" || top == "main" || top.starts_with("bin") {
            continue;
        }
        let code: String = product_lines(&file)
            .into_iter()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let deps = graph.entry(top.clone()).or_default();
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + "crate::".len()..];
            let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
                group
                    .split('}')
                    .next()
                    .unwrap()
                    .split(',')
                    .map(|p| p.trim().split("::").next().unwrap())
                    .collect()
            } else {
                vec![
                    rest.split(|c: char| !c.is_alphanumeric() && c != '_')
                        .next()
                        .unwrap(),
                ]
            };
            for name in names {
                if !name.is_empty() && name != top {
                    deps.insert(name.to_string());
                }
            }
        }
    }
    graph
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let graph = module_graph();
    assert!(graph["charm"].contains("reconcile"), "the graph is read");
    fn visit(
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        let node = path.last().unwrap().clone();
        for dep in graph.get(&node).into_iter().flatten() {
            assert!(
                !path.contains(dep),
                "import cycle: {} -> {dep}",
                path.join(" -> ")
            );
            if done.contains(dep) {
                continue;
            }
            path.push(dep.clone());
            visit(graph, path, done);
            path.pop();
        }
        done.insert(node);
    }
    let mut done = BTreeSet::new();
    for module in graph.keys() {
        visit(&graph, &mut vec![module.clone()], &mut done);
    }
}

#[test]
fn no_source_file_over_1000_lines_of_product_code() {
    let mut files = vec![];
    rust_files(&src(), &mut files);
    let long: Vec<String> = files
        .iter()
        // A `tests.rs` is an inline test module moved to its own file.
        .filter(|f| !f.ends_with("tests.rs"))
        .map(|f| (f.strip_prefix(src()).unwrap(), product_lines(f).len()))
        .filter(|(_, n)| *n > 1000)
        .map(|(f, n)| format!("{}: {n}", f.display()))
        .collect();
    assert!(long.is_empty(), "{long:?}");
}
