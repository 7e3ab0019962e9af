//! The docs' `curl` commands, run in order against the offline demo, and
//! every other URL of the service in a block (an ESPHome config, a Kindle
//! script), requested.

use std::path::Path;

use super::blocks::{blocks, commands, words};
use crate::common::*;

/// The offline demo, served from a copy of its config with its cache in a
/// temporary folder, and an API key and admin token for the docs' `$KEY`.
async fn offline_demo(dir: &Path) -> App {
    let text = std::fs::read_to_string(repo_path("examples/offline.toml")).unwrap();
    let text = text
        .replace("dir = \"../templates\"", "dir = \"templates\"")
        .replace("dir = \"../cache/offline\"", "dir = \"cache\"");
    std::os::unix::fs::symlink(repo_path("templates"), dir.join("templates")).unwrap();
    std::os::unix::fs::symlink(repo_path("examples/recorded"), dir.join("recorded")).unwrap();
    // No rate limit: the test polls each job the docs start.
    let keys = format!("\n[[api_keys]]\nname = \"docs\"\nkey = \"{DOCS_KEY}\"\nper_minute = 0\n");
    std::fs::write(dir.join("config.toml"), format!("{text}{keys}")).unwrap();
    let config = inkspot::load_config(&dir.join("config.toml")).expect("the offline demo loads");
    let clock = inkspot::clock::ManualClock::new("2026-11-22T17:30:00Z".parse().unwrap());
    App::start_config(config, std::sync::Arc::new(clock)).await
}

/// The key the docs' `$KEY` stands for: the one the job helpers send.
const DOCS_KEY: &str = crate::common::jobs::KEY;

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
            // A job accepted: later commands of the block read it.
            if status == 202
                && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body)
                && let Some(id) = v["id"].as_str()
            {
                job = id.to_string();
                crate::common::jobs::Jobs::new(&app.url).wait(&job).await;
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
