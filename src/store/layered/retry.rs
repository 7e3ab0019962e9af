//! Writes that failed while the backend was away, tried again, so a render
//! drawn during an outage of the shared storage still reaches it once it
//! is back. Meanwhile the render is served from memory.
//!
//! The retry list holds keys and weak references: the bytes are the memory
//! cache's, and a render it evicts is gone from the list too. So the list
//! adds nothing to `cache.memory`, however long the outage and however
//! large the renders; what it drops is counted in
//! `inkspot_storage_pending_dropped_total` and drawn again when next asked.

use std::sync::{Arc, Weak};
use std::time::Duration;

use indexmap::IndexMap;

use super::super::{Key, Rendered};
use super::Store;

/// Keys kept for a retry at most (a key is a few dozen bytes); past it the
/// oldest is dropped first.
pub(super) const MAX_PENDING: usize = 4096;

/// How often failed writes are tried again.
pub(super) const RETRY_EVERY: Duration = Duration::from_secs(10);

/// The document read to see whether a shared backend is back when no
/// write is pending.
const PROBE: &str = "probe";

/// The renders waiting for a write, oldest first.
pub(super) type Pending = IndexMap<Key, Weak<Rendered>>;

impl Store {
    /// Keeps `rendered` to write under `key` again later; a newer render of
    /// the same key replaces an older one and goes to the back.
    pub(super) fn hold_for_retry(&self, key: &Key, rendered: &Arc<Rendered>) {
        let mut pending = self.pending();
        pending.shift_remove(key);
        pending.insert(key.clone(), Arc::downgrade(rendered));
        let mut dropped = 0;
        while pending.len() > MAX_PENDING {
            pending.shift_remove_index(0);
            dropped += 1;
        }
        drop(pending);
        self.dropped_pending(dropped);
    }

    /// Writes waiting for a retry.
    pub fn pending_writes(&self) -> usize {
        self.pending().len()
    }

    /// Counts `n` pending writes given up.
    fn dropped_pending(&self, n: u64) {
        if n > 0 {
            self.metrics.pending_dropped.inc_by(n);
            tracing::debug!(
                dropped = n,
                "pending writes given up; those renders are drawn again when asked for"
            );
        }
    }

    /// Tries the pending writes again, oldest first, stopping at the first
    /// failure; a render the memory cache no longer holds is dropped. With
    /// none pending, a shared backend is probed with a read, so its outage
    /// and its recovery show without a write.
    pub(super) async fn retry_pending(&self) {
        let pending: Vec<(Key, Weak<Rendered>)> = self
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
        // Renders the memory cache let go are given up first, whatever
        // their place: they cannot be written, and should not wait.
        let mut live = Vec::with_capacity(pending.len());
        for (key, weak) in pending {
            match weak.upgrade() {
                Some(rendered) => live.push((key, weak, rendered)),
                None => {
                    self.forget(&key, &weak);
                    self.dropped_pending(1);
                }
            }
        }
        let mut written = 0;
        for (key, weak, rendered) in live {
            if let Err(e) = self.write(&key, &rendered).await {
                tracing::debug!(%key, error = %e, "a pending write failed again");
                return;
            }
            self.forget(&key, &weak);
            written += 1;
        }
        if written > 0 {
            tracing::info!(
                written,
                "the storage is back; the renders drawn meanwhile are stored"
            );
        }
    }

    /// Takes `key` off the list, unless a newer render replaced `weak`.
    fn forget(&self, key: &Key, weak: &Weak<Rendered>) {
        let mut pending = self.pending();
        if pending.get(key).is_some_and(|r| r.ptr_eq(weak)) {
            pending.shift_remove(key);
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
