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
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

/// One fenced block.
struct Block {
    file: String,
    line: usize,
    lang: String,
    text: String,
    /// The `<!-- ... -->` comment right above it, if any.
    marker: Option<String>,
}

impl Block {
    fn at(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }
}

fn doc_files() -> Vec<PathBuf> {
    let mut files = vec![repo_path("README.md"), repo_path("SECURITY.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(repo_path("docs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

fn blocks() -> Vec<Block> {
    let mut out = Vec::new();
    for path in doc_files() {
        let file = path
            .strip_prefix(repo_path(""))
            .unwrap()
            .display()
            .to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let mut i = 0;
        while i < lines.len() {
            let Some(lang) = lines[i].strip_prefix("```") else {
                i += 1;
                continue;
            };
            let start = i;
            let end = (i + 1..lines.len())
                .find(|&j| lines[j].starts_with("```"))
                .unwrap_or_else(|| panic!("{file}:{}: an unclosed block", i + 1));
            let marker = lines[..start]
                .iter()
                .rev()
                .find(|l| !l.trim().is_empty())
                .and_then(|l| l.trim().strip_prefix("<!--"))
                .map(|l| l.trim_end_matches("-->").trim().to_string());
            out.push(Block {
                file: file.clone(),
                line: start + 1,
                lang: lang.trim().to_string(),
                text: lines[start + 1..end].join("\n"),
                marker,
            });
            i = end + 1;
        }
    }
    out
}

/// Command lines of a shell block: continuations joined, comments and
/// `$ ` prompts taken off, output lines of a `console` block left out.
fn commands(block: &Block) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in block.text.lines() {
        let line = if block.lang == "console" {
            match line.strip_prefix("$ ") {
                Some(command) => command,
                None => continue,
            }
        } else {
            line
        };
        let line = if open_quote(&current) {
            line.to_string()
        } else {
            strip_comment(line)
        };
        match line.strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(&line);
                // A quote left open goes on to the next line.
                if open_quote(&current) {
                    current.push(' ');
                    continue;
                }
                let command = std::mem::take(&mut current).trim().to_string();
                if !command.is_empty() {
                    out.push(command);
                }
            }
        }
    }
    out
}

/// Whether `text` ends inside a quote.
fn open_quote(text: &str) -> bool {
    let (mut single, mut double) = (false, false);
    for c in text.chars() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            _ => {}
        }
    }
    single || double
}

/// `line` without a `#` comment outside quotes.
fn strip_comment(line: &str) -> String {
    let (mut single, mut double) = (false, false);
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && (i == 0 || line[..i].ends_with(' ')) => {
                return line[..i].trim_end().to_string();
            }
            _ => {}
        }
    }
    line.to_string()
}

/// Shell words, with quotes removed and `$(...)` kept as one word.
fn words(command: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in command.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, ' ') => {
                if any || !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
                any = false;
            }
            (None, c) => word.push(c),
        }
    }
    if any || !word.is_empty() {
        out.push(word);
    }
    out
}

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

/// `toml` blocks, merged into the shipped config, pass `inkspot check`,
/// with the shipped templates and those the docs define.
#[test]
fn every_config_block_passes_check() {
    let shipped: toml::Table = std::fs::read_to_string(repo_path("config.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let mut checked = 0;
    for block in blocks().iter().filter(|b| b.lang == "toml") {
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
        let out = Command::new(env!("CARGO_BIN_EXE_inkspot"))
            .arg("check")
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
                    let target = repo_path(&format!("tests/{word}.rs"));
                    assert!(target.is_file(), "{}: no test target {word}", block.at());
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

/// The offline demo, served from a copy of its config with its cache in a
/// temporary folder, and an API key and admin token for the docs' `$KEY`.
async fn offline_demo(dir: &Path) -> App {
    let text = std::fs::read_to_string(repo_path("examples/offline.toml")).unwrap();
    let text = text
        .replace("dir = \"../templates\"", "dir = \"templates\"")
        .replace("dir = \"../cache/offline\"", "dir = \"cache\"");
    std::os::unix::fs::symlink(repo_path("templates"), dir.join("templates")).unwrap();
    std::os::unix::fs::symlink(repo_path("examples/recorded"), dir.join("recorded")).unwrap();
    let keys = format!("\n[[api_keys]]\nname = \"docs\"\nkey = \"{DOCS_KEY}\"\n");
    std::fs::write(dir.join("config.toml"), format!("{text}{keys}")).unwrap();
    let config = inkspot::load_config(&dir.join("config.toml")).expect("the offline demo loads");
    let clock = inkspot::clock::ManualClock::new("2026-11-22T17:30:00Z".parse().unwrap());
    App::start_config(config, std::sync::Arc::new(clock)).await
}

const DOCS_KEY: &str = "a-key-for-the-docs-0123456789abcdef";

/// A `curl` command line as a request to `base`: method, URL, headers,
/// body. `$KEY` is the demo's key, `<etag>` the last ETag seen and
/// `3f9c...` the last job's id.
fn request(words: &[String], base: &str, etag: &str, job: &str) -> reqwest::RequestBuilder {
    let fill = |s: &str| {
        s.replace("$KEY", DOCS_KEY)
            .replace("<etag>", etag.trim_matches('"'))
            .replace("3f9c...", job)
            .replace("http://localhost:8080", base)
            .replace("http://192.168.1.10:8080", base)
    };
    let mut method = reqwest::Method::GET;
    let (mut url, mut headers, mut body) = (String::new(), Vec::new(), None);
    let mut i = 1;
    while i < words.len() {
        let w = &words[i];
        match w.as_str() {
            "-H" => {
                headers.push(fill(&words[i + 1]));
                i += 1;
            }
            "-d" => {
                body = Some(fill(&words[i + 1]));
                method = reqwest::Method::POST;
                i += 1;
            }
            "-X" => {
                method = words[i + 1].parse().unwrap();
                i += 1;
            }
            "-I" => method = reqwest::Method::HEAD,
            "-o" => i += 1,
            _ if w.starts_with("http") => url = fill(w),
            _ => {}
        }
        i += 1;
    }
    let mut r = client().request(method, url);
    for h in headers {
        let (k, v) = h.split_once(": ").unwrap();
        r = r.header(k, v);
    }
    if let Some(body) = body {
        r = r.header("content-type", "application/json").body(body);
    }
    r
}

/// Every `curl` of the docs, in order, against the offline demo: none gets
/// an error; and every other URL of the service in any block (an ESPHome
/// config, a Kindle script) answers.
#[tokio::test]
async fn every_curl_and_url_in_the_docs_answers() {
    let dir = tempfile::tempdir().unwrap();
    let app = offline_demo(dir.path()).await;
    let (mut etag, mut job) = (String::new(), String::new());
    let mut checked = 0;
    let url =
        regex::Regex::new(r#"https?://(localhost|192\.168\.1\.10):8080(/[^\s'"`)]*)"#).unwrap();
    for block in blocks() {
        let curls: Vec<Vec<String>> = if ["sh", "console"].contains(&block.lang.as_str()) {
            commands(&block)
                .iter()
                .map(|c| words(c))
                .filter(|w| w.first().is_some_and(|f| f == "curl"))
                .collect()
        } else {
            Vec::new()
        };
        for w in &curls {
            let r = request(w, &app.url, &etag, &job).send().await.unwrap();
            let status = r.status().as_u16();
            if let Some(tag) = r.headers().get("etag") {
                etag = tag.to_str().unwrap().to_string();
            }
            let body = r.bytes().await.unwrap();
            assert!(
                status < 400,
                "{}: `{}` answered {status}: {}",
                block.at(),
                w.join(" "),
                String::from_utf8_lossy(&body)
            );
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body)
                && let Some(id) = v["id"].as_str()
            {
                job = id.to_string();
                // Later commands of the block read or download this job.
                for _ in 0..200 {
                    let s: serde_json::Value = client()
                        .get(format!("{}/api/jobs/{job}", app.url))
                        .bearer_auth(DOCS_KEY)
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    if s["status"] != "queued" && s["status"] != "running" {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
            checked += 1;
        }
        if curls.is_empty() {
            for m in url.captures_iter(&block.text) {
                let path = m[2].replace("$KEY", DOCS_KEY);
                let r = client()
                    .get(format!("{}{path}", app.url))
                    .send()
                    .await
                    .unwrap();
                assert!(
                    r.status().as_u16() < 400,
                    "{}: {path} answered {}",
                    block.at(),
                    r.status()
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 15, "only {checked} requests");
    app.stop().await;
}
