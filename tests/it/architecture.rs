//! The shape of the workspace, checked from its source: the core crate
//! depends on no database, Redis, object store, web framework or metrics
//! registry; its `config` depends on no other module; and in each crate the
//! modules' dependencies have no cycle, so data flows one way (see
//! docs/architecture.md).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The `src` folder of every crate of the workspace: the server's and
/// each of `crates/`.
fn crate_sources() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sources = vec![root.join("src")];
    for entry in std::fs::read_dir(root.join("crates")).unwrap() {
        sources.push(entry.unwrap().path().join("src"));
    }
    sources
}

/// The core crate's `src` folder.
fn core_source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/inkspot-core/src")
}

/// Top-level module of the crate in `src` → the top-level modules its code
/// names as `crate::X`.
fn dependencies(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let src = src.to_path_buf();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut files = vec![src.clone()];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let rel = path
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let module = rel
            .split('/')
            .next()
            .unwrap()
            .trim_end_matches(".rs")
            .to_string();
        if module == "lib" || module == "main" || !rel.ends_with(".rs") {
            continue;
        }
        let deps = graph.entry(module.clone()).or_default();
        let text = std::fs::read_to_string(&path).unwrap();
        for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for part in line.split("crate::").skip(1) {
                let name: String = part
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name != module {
                    deps.insert(name);
                }
            }
        }
    }
    graph
}

/// Whether `src/top/name` is a module (a file or a folder).
fn is_module(src: &Path, top: &str, name: &str) -> bool {
    src.join(top).join(format!("{name}.rs")).exists() || src.join(top).join(name).is_dir()
}

/// The names a line takes from `prefix`: `prefix::a` and `prefix::{a, b::c}`.
fn names_after(line: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in line.split(prefix).skip(1) {
        let group = part
            .strip_prefix('{')
            .and_then(|g| g.split_once('}'))
            .map(|g| g.0);
        let items: Vec<&str> = match group {
            Some(group) => group.split(',').collect(),
            None => vec![part],
        };
        for item in items {
            let name: String = item
                .trim()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.push(name);
            }
        }
    }
    out
}

/// Second-level module (`config::validate`, or `config` for its own
/// `mod.rs`) of the crate in `src` → the second-level modules its code
/// outside tests names, through `crate::a::b` or its siblings' `super::b`.
fn submodule_dependencies(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut files = vec![src.to_path_buf()];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let rel = path
            .strip_prefix(src)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let parts: Vec<&str> = rel.trim_end_matches(".rs").split('/').collect();
        if parts.len() < 2 || !rel.ends_with(".rs") {
            continue;
        }
        let top = parts[0];
        let me = match parts[1] {
            "mod" => top.to_string(),
            second => format!("{top}::{second}"),
        };
        let text = std::fs::read_to_string(&path).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let deps = graph.entry(me.clone()).or_default();
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for part in line.split("crate::").skip(1) {
                let mut names = part.split("::");
                let first = names.next().unwrap_or_default();
                let first: String = first
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                let second = names.next().unwrap_or_default();
                let second: String = second
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                let target = if !second.is_empty() && is_module(src, &first, &second) {
                    format!("{first}::{second}")
                } else {
                    first
                };
                if !target.is_empty() && target != me && !me.starts_with(&format!("{target}::")) {
                    deps.insert(target);
                }
            }
            if parts.len() == 2 && parts[1] != "mod" {
                for name in names_after(line, "super::") {
                    let target = if is_module(src, top, &name) {
                        format!("{top}::{name}")
                    } else {
                        top.to_string()
                    };
                    if target != me {
                        deps.insert(target);
                    }
                }
            }
        }
    }
    graph
}

#[test]
fn config_depends_on_no_other_module() {
    let graph = dependencies(&core_source());
    assert_eq!(
        graph["config"],
        BTreeSet::new(),
        "config imports {:?}",
        graph["config"]
    );
}

#[test]
fn module_dependencies_have_no_cycle() {
    let (mut modules, mut submodules) = (0, 0);
    for src in crate_sources() {
        let graph = dependencies(&src);
        modules += graph.len();
        no_cycle(&graph);
        let inner = submodule_dependencies(&src);
        submodules += inner.keys().filter(|k| k.contains("::")).count();
        no_cycle(&inner);
    }
    // The sources were read: the workspace has dozens of each.
    assert!(
        modules > 20 && submodules > 40,
        "{modules} modules, {submodules} submodules"
    );
}

fn no_cycle(graph: &BTreeMap<String, BTreeSet<String>>) {
    // Depth-first search; a module met again on the current path closes a cycle.
    fn visit<'a>(
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        module: &'a str,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) {
        if let Some(at) = path.iter().position(|m| *m == module) {
            panic!("dependency cycle: {} -> {module}", path[at..].join(" -> "));
        }
        if !done.insert(module) {
            return;
        }
        path.push(module);
        for dep in graph.get(module).into_iter().flatten() {
            visit(graph, dep, path, done);
        }
        path.pop();
    }
    let mut done = BTreeSet::new();
    for module in graph.keys() {
        visit(graph, module, &mut Vec::new(), &mut done);
    }
}

/// The crates `package` depends on to build (not its tests), as
/// `cargo tree` lists them with the workspace's lock file.
fn dependency_tree(package: &str) -> BTreeSet<String> {
    let output = std::process::Command::new(env!("CARGO"))
        .args([
            "tree", "--locked", "-e", "normal", "--prefix", "none", "-p", package,
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// The crates stand in layers, each using only those below it: core;
/// engine and database; TRMNL and the job API, apart; the server. The
/// engine knows no database, TRMNL and the job API no web framework.
#[test]
fn each_crate_uses_only_those_below_it() {
    let layers: [(&str, &[&str]); 8] = [
        (
            "inkspot-core",
            &[
                "inkspot-engine",
                "inkspot-db",
                "inkspot-trmnl",
                "inkspot-history",
                "inkspot-browser",
                "chromiumoxide",
                "inkspot",
            ],
        ),
        (
            "inkspot-engine",
            &[
                "inkspot-db",
                "inkspot-trmnl",
                "inkspot-history",
                "inkspot-browser",
                "chromiumoxide",
                "inkspot",
                "sqlx",
                "axum",
            ],
        ),
        // The browser is a backend of the core's render stage: it knows
        // no engine, database, devices or jobs.
        (
            "inkspot-browser",
            &[
                "inkspot-engine",
                "inkspot-db",
                "inkspot-trmnl",
                "inkspot-jobs",
                "inkspot-history",
                "inkspot",
                "sqlx",
                "axum",
            ],
        ),
        (
            "inkspot-db",
            &["inkspot-engine", "inkspot-trmnl", "inkspot", "axum"],
        ),
        (
            "inkspot-trmnl",
            &["inkspot", "inkspot-jobs", "inkspot-history", "axum"],
        ),
        (
            "inkspot-jobs",
            &[
                "inkspot",
                "inkspot-trmnl",
                "inkspot-history",
                "inkspot-browser",
                "axum",
            ],
        ),
        (
            "inkspot-history",
            &["inkspot", "inkspot-trmnl", "inkspot-jobs", "axum"],
        ),
        // The test kit starts servers; it knows nothing of inkspot.
        (
            "inkspot-testkit",
            &["inkspot", "inkspot-core", "inkspot-engine", "inkspot-db"],
        ),
    ];
    for (package, above) in layers {
        let tree = dependency_tree(package);
        assert!(
            tree.contains(package),
            "the tree of {package} was read: {tree:?}"
        );
        let found: Vec<&&str> = above.iter().filter(|a| tree.contains(**a)).collect();
        assert!(found.is_empty(), "{package} depends on {found:?}");
    }
}

#[test]
fn the_core_crate_has_no_server_in_it() {
    let tree = dependency_tree("inkspot-core");
    assert!(tree.contains("resvg"), "the tree was read: {tree:?}");
    // (reqwest brings tower-http as a client; axum is the server's.)
    let server = [
        "sqlx",
        "redis",
        "object_store",
        "axum",
        "prometheus-client",
        "moka",
    ];
    let found: Vec<&String> = tree
        .iter()
        .filter(|name| server.contains(&name.as_str()) || name.starts_with("aws-"))
        .collect();
    assert!(found.is_empty(), "inkspot-core depends on {found:?}");
}

/// Every `.rs` file under `src`, with its text up to its tests.
fn sources(src: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut files = vec![src.to_path_buf()];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text
                .split("#[cfg(test)]")
                .next()
                .unwrap_or_default()
                .to_string();
            out.push((path, code));
        }
    }
    out
}

/// The name of the type an inherent `impl` line is for: `impl Name {`,
/// `impl<T> Name<T> {`; not `impl Trait for Name`.
fn inherent_impl(line: &str) -> Option<String> {
    let rest = line.strip_prefix("impl")?;
    let rest = match rest.strip_prefix('<') {
        Some(generic) => &generic[generic.find('>')? + 1..],
        None => rest,
    };
    if !rest.starts_with(' ') || rest.contains(" for ") || !rest.trim_end().ends_with('{') {
        return None;
    }
    let name: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    name.starts_with(|c: char| c.is_ascii_uppercase())
        .then_some(name)
}

/// A reader finds all of a type's own methods in one file: no inherent
/// `impl` of a type is spread over several (types of the same name in
/// different modules are told apart by where they are defined).
#[test]
fn no_type_has_its_methods_spread_over_files() {
    let mut types = 0;
    for src in crate_sources() {
        let files = sources(&src);
        let mut defined: BTreeMap<String, usize> = BTreeMap::new();
        let mut impls: BTreeMap<String, BTreeSet<PathBuf>> = BTreeMap::new();
        for (path, code) in &files {
            for line in code.lines() {
                let line = line.trim_start();
                let declared = [
                    "pub struct ",
                    "pub(crate) struct ",
                    "pub(super) struct ",
                    "struct ",
                    "pub enum ",
                    "enum ",
                ]
                .iter()
                .find_map(|p| line.strip_prefix(p));
                if let Some(rest) = declared {
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    *defined.entry(name).or_default() += 1;
                }
                if let Some(name) = inherent_impl(line) {
                    impls.entry(name).or_default().insert(path.clone());
                }
            }
        }
        types += impls.len();
        let spread: Vec<_> = impls
            .iter()
            .filter(|(name, files)| files.len() > 1 && defined.get(*name) == Some(&1))
            .collect();
        assert!(spread.is_empty(), "methods spread over files: {spread:?}");
    }
    assert!(
        types > 50,
        "the sources were read: {types} types with methods"
    );
}
