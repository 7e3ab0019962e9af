//! The docs as a newcomer uses them. Every fenced block of README.md,
//! SECURITY.md and docs/*.md is checked by what it is, and a block of a
//! kind this file does not know fails, so a new one cannot go unchecked:
//!
//! - `toml`: merged into the shipped `config.toml` (a spot of the same name
//!   is an excerpt of that spot), it passes `inkspot check`;
//! - `sh`, `console`, `ini`: each `inkspot` command line (also as
//!   `cargo run --release --`, in `docker run`, in `ExecStart=`) parses;
//!   each `curl` runs against the offline demo and gets no error; each file
//!   named (`scripts/test`, `deploy/...`, `--test NAME`) exists;
//! - `yaml` and every other block: each URL of the service in it answers
//!   without error; `json` parses; `svg` marked `<!-- template: NAME -->` is
//!   a template the `toml` blocks may use;
//! - `text` (diagrams) and `caddy` (another program's config) hold no
//!   command of inkspot's and are only read.
//!
//! Every relative link resolves to a file.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use super::blocks::{blocks, commands, doc_files, words};
use crate::common::*;

/// Every relative link of every page points at a file that exists.
#[test]
fn every_link_in_the_docs_resolves() {
    let link = regex::Regex::new(r"\]\(([^)#\s]+)(#[^)]*)?\)").unwrap();
    let mut checked = 0;
    for path in doc_files() {
        let text = std::fs::read_to_string(&path).unwrap();
        for m in link.captures_iter(&text) {
            let target = &m[1];
            if target.starts_with("http://") || target.starts_with("https://") {
                continue;
            }
            let resolved = path.parent().unwrap().join(target);
            assert!(
                resolved.exists(),
                "{}: a link to `{target}` leads nowhere",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(checked > 20, "only {checked} links");
}

/// The README is what a newcomer reads first: short, with the rest in
/// docs/ and linked from it.
#[test]
fn the_readme_is_a_guide_that_links_every_page() {
    let readme = std::fs::read_to_string(repo_path("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(lines <= 300, "README.md has {lines} lines");
    for path in doc_files().iter().skip(2) {
        let name = path.file_name().unwrap().to_string_lossy();
        if name.ends_with(".md") {
            assert!(
                readme.contains(&format!("(docs/{name})")),
                "README.md links docs/{name}"
            );
        }
    }
}

/// Every block is of a kind this file checks.
#[test]
fn every_block_is_of_a_kind_that_is_checked() {
    let known = [
        "toml", "sh", "console", "ini", "yaml", "json", "svg", "jinja", "text", "caddy",
    ];
    for block in blocks() {
        assert!(
            known.contains(&block.lang.as_str()),
            "{}: a block of kind `{}`, which nothing checks; give it a kind from {known:?}",
            block.at(),
            block.lang
        );
    }
}

/// `jinja` blocks compile, and declare the layers they use.
#[test]
fn every_jinja_block_compiles() {
    for block in blocks().iter().filter(|b| b.lang == "jinja") {
        let env = minijinja::Environment::new();
        let compiled = env.template_from_str(&block.text);
        assert!(compiled.is_ok(), "{}: {:?}", block.at(), compiled.err());
        let layers = inkspot::template::layers::declared(&block.text);
        assert!(
            layers.is_ok_and(|l| !l.is_empty()),
            "{}: its layers",
            block.at()
        );
    }
}

/// `json` blocks parse.
#[test]
fn every_json_block_parses() {
    for block in blocks().iter().filter(|b| b.lang == "json") {
        let parsed: Result<serde_json::Value, _> = serde_json::from_str(&block.text);
        assert!(parsed.is_ok(), "{}: {:?}", block.at(), parsed.err());
    }
}

/// The templates the docs define (`<!-- template: NAME -->` above an
/// `svg` block), by name.
fn doc_templates() -> BTreeMap<String, String> {
    blocks()
        .into_iter()
        .filter(|b| b.lang == "svg")
        .filter_map(|b| {
            let name = b
                .marker
                .as_deref()?
                .strip_prefix("template:")?
                .trim()
                .to_string();
            Some((name, b.text))
        })
        .collect()
}

/// `config` with `block`'s tables merged in: arrays of tables appended,
/// except a spot named as a shipped one, whose keys replace that spot's;
/// other tables merged key by key.
fn merged(config: &mut toml::Table, block: &toml::Table) {
    for (key, value) in block {
        match (key.as_str(), value, config.get_mut(key)) {
            ("spots", toml::Value::Array(spots), Some(toml::Value::Array(shipped))) => {
                for spot in spots {
                    let name = spot.get("name");
                    match shipped.iter_mut().find(|s| s.get("name") == name) {
                        Some(toml::Value::Table(old)) => {
                            for (k, v) in spot.as_table().unwrap() {
                                old.insert(k.clone(), v.clone());
                            }
                        }
                        _ => shipped.push(spot.clone()),
                    }
                }
            }
            (_, toml::Value::Array(items), Some(toml::Value::Array(old))) => {
                old.extend(items.iter().cloned());
            }
            (_, toml::Value::Table(table), Some(toml::Value::Table(old))) => {
                for (k, v) in table {
                    old.insert(k.clone(), v.clone());
                }
            }
            _ => {
                config.insert(key.clone(), value.clone());
            }
        }
    }
}

/// The first line of the docs' `firmware.toml` block, which is not a
/// config block.
const FIRMWARE_MANIFEST: &str = "# firmware/firmware.toml";

/// The docs' firmware folder: its `firmware.toml` as written, each image
/// it declares made up, and its `sha256` (elided in the docs) the made-up
/// image's, so that the service's own loader reads the manifest's keys.
fn write_firmware(dir: &Path, manifest: &str) {
    use sha2::Digest;
    std::fs::create_dir_all(dir).unwrap();
    let mut table: toml::Table = manifest.parse().unwrap();
    let entries = table["firmware"].as_array_mut().expect("[[firmware]]");
    for entry in entries {
        let entry = entry.as_table_mut().unwrap();
        let file = entry["file"].as_str().unwrap().to_string();
        let bytes = format!("a firmware image called {file}");
        std::fs::write(dir.join(&file), &bytes).unwrap();
        let sha = hex::encode(sha2::Sha256::digest(bytes.as_bytes()));
        entry.insert("sha256".into(), toml::Value::String(sha));
    }
    std::fs::write(dir.join("firmware.toml"), table.to_string()).unwrap();
}

/// `toml` blocks, merged into the shipped config, pass `inkspot check`,
/// with the shipped templates and those the docs define.
#[test]
fn every_config_block_passes_check() {
    let shipped: toml::Table = std::fs::read_to_string(repo_path("config.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let mut checked = 0;
    let all = blocks();
    let manifest = all.iter().find(|b| b.text.starts_with(FIRMWARE_MANIFEST));
    for block in all.iter().filter(|b| b.lang == "toml") {
        if block.text.starts_with(FIRMWARE_MANIFEST) {
            continue;
        }
        let table: toml::Table = block
            .text
            .parse()
            .unwrap_or_else(|e| panic!("{}: not TOML: {e}", block.at()));
        let mut config = shipped.clone();
        merged(&mut config, &table);
        let dir = tempfile::tempdir().unwrap();
        let templates = dir.path().join("templates");
        std::fs::create_dir(&templates).unwrap();
        for entry in std::fs::read_dir(repo_path("templates")).unwrap().flatten() {
            if entry.path().is_file() {
                std::fs::copy(entry.path(), templates.join(entry.file_name())).unwrap();
            }
        }
        for (name, text) in doc_templates() {
            std::fs::write(templates.join(format!("{name}.svg")), text).unwrap();
        }
        std::fs::write(dir.path().join("config.toml"), config.to_string()).unwrap();
        if config
            .get("trmnl")
            .and_then(|t| t.get("firmware_dir"))
            .is_some()
        {
            let manifest = manifest.expect("a firmware.toml block beside the firmware_dir one");
            write_firmware(&dir.path().join("firmware"), &manifest.text);
        }
        // The docs' screenshot spots read a token from the environment,
        // as a reader's would.
        let out = Command::new(env!("CARGO_BIN_EXE_inkspot"))
            .arg("check")
            .env("HA_TOKEN", "a-token-the-reader-sets")
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: `inkspot check` fails:\n{}",
            block.at(),
            text_of(&out)
        );
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} config blocks");
}

/// The arguments of an `inkspot` command line in `words`, wherever it is
/// (`inkspot ...`, `cargo run --release -- ...`, the image of `docker run
/// ... inkspot ...`, `ExecStart=/usr/local/bin/inkspot ...`).
fn inkspot_args(words: &[String]) -> Option<Vec<String>> {
    let first = words.first()?;
    if first == "inkspot" || first.ends_with("/inkspot") || first.ends_with("bin/inkspot") {
        return Some(words[1..].to_vec());
    }
    if first == "cargo" && words.get(1).is_some_and(|w| w == "run") {
        let dashes = words.iter().position(|w| w == "--")?;
        return Some(words[dashes + 1..].to_vec());
    }
    if first == "docker" && words.get(1).is_some_and(|w| w == "run") {
        let image = words.iter().rposition(|w| w == "inkspot")?;
        return Some(words[image + 1..].to_vec());
    }
    None
}

/// Each `inkspot` command of a shell, console or systemd block parses as
/// the binary parses it (its help is asked for, so nothing runs), and the
/// files it names exist.
#[test]
fn every_inkspot_command_parses() {
    let mut checked = 0;
    for block in blocks()
        .iter()
        .filter(|b| ["sh", "console", "ini"].contains(&b.lang.as_str()))
    {
        let lines: Vec<String> = if block.lang == "ini" {
            block
                .text
                .lines()
                .filter_map(|l| l.strip_prefix("ExecStart="))
                .map(str::to_string)
                .collect()
        } else {
            commands(block)
        };
        for line in lines {
            let Some(args) = inkspot_args(&words(&line)) else {
                continue;
            };
            let mut help = args.clone();
            help.push("--help".into());
            let out = Command::new(env!("CARGO_BIN_EXE_inkspot"))
                .args(&help)
                .env_remove("INKSPOT_CONFIG")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}: `inkspot {}` does not parse:\n{}",
                block.at(),
                args.join(" "),
                text_of(&out)
            );
            for pair in args.windows(2) {
                if pair[0] == "--config" && !pair[1].starts_with('/') {
                    assert!(
                        repo_path(&pair[1]).is_file(),
                        "{}: no file {}",
                        block.at(),
                        pair[1]
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 8, "only {checked} commands");
}

/// Files and test targets that shell blocks name exist.
#[test]
fn every_file_a_command_names_exists() {
    for block in blocks().iter().filter(|b| b.lang == "sh") {
        for line in commands(block) {
            let w = words(&line);
            for (i, word) in w.iter().enumerate() {
                let named = word.starts_with("scripts/")
                    || word.starts_with("deploy/")
                    || (i > 0 && w[i - 1] == "-f" && word.ends_with(".yml"));
                if named {
                    assert!(repo_path(word).exists(), "{}: no file {word}", block.at());
                }
                if i > 0 && w[i - 1] == "--test" {
                    let file = repo_path(&format!("tests/{word}.rs"));
                    let dir = repo_path(&format!("tests/{word}/main.rs"));
                    assert!(
                        file.is_file() || dir.is_file(),
                        "{}: no test target {word}",
                        block.at()
                    );
                }
            }
            if w.first().is_some_and(|f| f == "docker") && w.get(1).is_some_and(|s| s == "build") {
                assert!(
                    repo_path("Dockerfile").is_file(),
                    "{}: no Dockerfile",
                    block.at()
                );
            }
        }
    }
}
