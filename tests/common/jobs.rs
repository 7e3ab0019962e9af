//! A job API client for the tests: submit, poll until finished, download.

use std::time::Duration;

use std::io::Read;

use serde_json::Value;
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{Site, client, report_page};

/// The key the job tests configure.
pub const KEY: &str = "a-job-api-key-for-the-tests";

/// `[[api_keys]]` with [`KEY`], `per_minute` and `max_jobs`.
pub fn api_key(per_minute: u32, max_jobs: usize) -> String {
    format!(
        "[[api_keys]]\nname = \"shop\"\nkey = \"{KEY}\"\nper_minute = {per_minute}\nmax_jobs = {max_jobs}\n"
    )
}

pub struct Jobs {
    pub base: String,
    pub key: String,
    pub client: reqwest::Client,
}

impl Jobs {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.to_string(),
            key: KEY.to_string(),
            client: client(),
        }
    }

    /// POSTs `body`; returns the answer.
    pub async fn post(&self, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}/api/jobs", self.base))
            .bearer_auth(&self.key)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Submits `body`, which must be accepted; returns the answer's JSON.
    pub async fn submit(&self, body: &Value) -> Value {
        let r = self.post(body).await;
        assert_eq!(r.status(), 202, "{:?}", r.text().await);
        let location = r.headers()["location"].to_str().unwrap().to_string();
        let json: Value = r.json().await.unwrap();
        assert_eq!(json["status_url"], location.as_str());
        json
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap()
    }

    pub async fn status(&self, id: &str) -> Value {
        let r = self.get(&format!("/api/jobs/{id}")).await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    /// Polls job `id` until it is no longer queued or running.
    pub async fn wait(&self, id: &str) -> Value {
        for _ in 0..600 {
            let s = self.status(id).await;
            if s["status"] != "queued" && s["status"] != "running" {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("job {id} never finished");
    }

    /// Polls job `id` until `done` items are finished.
    pub async fn wait_items(&self, id: &str, done: u64) -> Value {
        for _ in 0..600 {
            let s = self.status(id).await;
            if s["progress"]["done"].as_u64().unwrap() >= done {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("job {id} never reached {done} items");
    }

    pub async fn download(&self, id: &str) -> reqwest::Response {
        self.get(&format!("/api/jobs/{id}/download")).await
    }

    pub async fn delete(&self, id: &str) -> reqwest::Response {
        self.client
            .delete(format!("{}/api/jobs/{id}", self.base))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap()
    }
}

pub async fn page(server: &MockServer, route: &str, wave: &str, delay_ms: u64) {
    Mock::given(path(route))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(report_page(wave, route))
                .set_delay(Duration::from_millis(delay_ms)),
        )
        .mount(server)
        .await;
}

/// Requests the upstream received for `route`.
pub async fn hits(server: &MockServer, route: &str) -> usize {
    let requests = server.received_requests().await.unwrap_or_default();
    requests.iter().filter(|r| r.url.path() == route).count()
}

/// A site with spots Alpha and Bravo from `upstream`, and `extra` config.
pub async fn site(upstream: &MockServer, delay_ms: u64, extra: &str) -> Site {
    page(upstream, "/alpha", "1.0", 0).await;
    page(upstream, "/bravo", "3.0", delay_ms).await;
    let site = Site::new();
    let base = upstream.uri();
    let alpha = format!("{base}/alpha");
    let bravo = format!("{base}/bravo");
    site.write_spots_config(&[("Alpha", &alpha), ("Bravo", &bravo)], extra);
    site
}

pub fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut file = archive.by_index(i).unwrap();
            let year = file.last_modified().map(|t| t.year());
            assert!(
                year.is_some_and(|y| y >= 2026),
                "dated by its render: {year:?}"
            );
            let mut out = Vec::new();
            file.read_to_end(&mut out).unwrap();
            (file.name().to_string(), out)
        })
        .collect()
}
