//! The fetcher's share of coordination: failures remembered for every
//! replica, and per-host fetch permits across replicas, in Redis.

use std::time::Duration;

use inkspot_core::source::{FetchShare, Permit};

use super::{HostPermit, Shared, client};

/// A failure as replicas remember it in Redis.
#[derive(serde::Serialize, serde::Deserialize)]
struct Remembered {
    /// Why the URL failed.
    reason: String,
    /// When (UTC, RFC 3339).
    at: String,
}

#[async_trait::async_trait]
impl FetchShare for Shared {
    /// Remembers for every replica that `url` failed for `reason` at `at`,
    /// for `ttl`.
    async fn remember_failure(&self, url: &str, reason: &str, at: &str, ttl: Duration) {
        let key = self.redis.key("failure", &client::digest(url));
        let remembered = Remembered {
            reason: reason.to_string(),
            at: at.to_string(),
        };
        let Ok(value) = serde_json::to_string(&remembered) else {
            return;
        };
        self.call(self.redis.set_px(&key, &value, ttl)).await;
    }

    /// Forgets a failure of `url`, after it answered.
    async fn forget_failure(&self, url: &str) {
        let key = self.redis.key("failure", &client::digest(url));
        self.call(self.redis.del(&key)).await;
    }

    /// A failure of `url` another replica remembers: its reason and time.
    async fn recall_failure(&self, url: &str) -> Option<(String, String)> {
        let key = self.redis.key("failure", &client::digest(url));
        let value = self.call(self.redis.get(&key)).await??;
        let remembered: Remembered = serde_json::from_str(&value).ok()?;
        Some((remembered.reason, remembered.at))
    }

    /// One of `limit` permits for fetching from `host` across replicas,
    /// waited for until `deadline`; each is given back when dropped and
    /// expires after `hold` if its replica dies. `None`: go ahead with the
    /// replica's own limit only (alone, or past the deadline).
    async fn host_permit(
        &self,
        host: &str,
        limit: usize,
        hold: Duration,
        deadline: tokio::time::Instant,
    ) -> Option<Permit> {
        let shared = self;
        let key = shared.redis.key("host", host);
        let token = client::token();
        let mut pause = Duration::from_millis(10);
        loop {
            let taken = shared.redis.acquire_permit(&key, &token, limit, hold);
            if shared.call(taken).await? {
                return Some(Box::new(HostPermit {
                    redis: shared.redis.clone(),
                    key,
                    token,
                }));
            }
            if tokio::time::Instant::now() + pause >= deadline {
                return None;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }
}
