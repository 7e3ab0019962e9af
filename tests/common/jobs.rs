//! A job API client for the tests: submit, poll until finished, download.

use std::time::Duration;

use serde_json::Value;

use super::client;

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
