//! What fetching shares with other replicas: failures remembered for
//! `fetch.failure_ttl`, and per-host permits. The server implements it over
//! Redis; a lone replica has none and keeps both to itself.

use std::time::Duration;

/// A per-host permit held across replicas; given back when dropped.
pub type Permit = Box<dyn Send + Sync>;

/// Failures and host permits shared with the other replicas.
#[async_trait::async_trait]
pub trait FetchShare: Send + Sync + 'static {
    /// Remembers for every replica that `url` failed for `reason` at `at`
    /// (RFC 3339), for `ttl`.
    async fn remember_failure(&self, url: &str, reason: &str, at: &str, ttl: Duration);
    /// Forgets a failure of `url`, after it answered.
    async fn forget_failure(&self, url: &str);
    /// A failure of `url` another replica remembers: its reason and time.
    async fn recall_failure(&self, url: &str) -> Option<(String, String)>;
    /// One of `limit` permits for fetching from `host`, waited for until
    /// `deadline`, expiring after `hold` if this replica dies. `None`: go
    /// ahead with this replica's own limit only.
    async fn host_permit(
        &self,
        host: &str,
        limit: usize,
        hold: Duration,
        deadline: tokio::time::Instant,
    ) -> Option<Permit>;
}
