//! Writes that failed while the backend was away, kept and tried again, so
//! a render drawn during an outage of the shared storage still reaches it
//! once it is back. Meanwhile the render is served from memory.

use std::sync::Arc;
use std::time::Duration;

use super::super::{Key, Rendered};
use super::Store;

/// Renders kept for a retry at most; past it, a render waits for the next
/// time it is drawn.
const MAX_PENDING: usize = 256;

/// How often failed writes are tried again.
pub(super) const RETRY_EVERY: Duration = Duration::from_secs(10);

/// The document read to see whether a shared backend is back when no
/// write is pending.
const PROBE: &str = "probe";

impl Store {
    /// Keeps `rendered` to write under `key` again later; a newer render of
    /// the same key replaces an older one.
    pub(super) fn hold_for_retry(&self, key: &Key, rendered: Arc<Rendered>) {
        let mut pending = self.pending();
        if pending.len() < MAX_PENDING || pending.contains_key(key) {
            pending.insert(key.clone(), rendered);
        } else {
            tracing::debug!(%key, "too many writes pending; this one is not retried");
        }
    }

    /// Writes waiting for a retry.
    pub fn pending_writes(&self) -> usize {
        self.pending().len()
    }

    /// Tries the pending writes again, oldest first, stopping at the first
    /// failure. With none pending, a shared backend is probed with a read,
    /// so its outage and its recovery show without a write.
    pub(super) async fn retry_pending(&self) {
        let pending: Vec<(Key, Arc<Rendered>)> = self
            .pending()
            .iter()
            .map(|(k, r)| (k.clone(), r.clone()))
            .collect();
        if pending.is_empty() {
            // A shared backend is looked at even while healthy: its outage
            // shows in `/status` within a tick, though hits need no write.
            if self.backend.is_shared() {
                let probe = self.backend.get_document(PROBE).await;
                self.record(probe.as_ref().map(|_| ()));
            }
            return;
        }
        for (key, rendered) in pending {
            let result = self.backend.put(&key, &rendered).await;
            self.record(result.as_ref().map(|_| ()));
            if let Err(e) = result {
                tracing::debug!(%key, error = %e, "a pending write failed again");
                return;
            }
            let mut pending = self.pending();
            if pending.get(&key).is_some_and(|r| Arc::ptr_eq(r, &rendered)) {
                pending.remove(&key);
            }
        }
        tracing::info!("the storage is back; the renders drawn meanwhile are stored");
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<Key, Arc<Rendered>>> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
