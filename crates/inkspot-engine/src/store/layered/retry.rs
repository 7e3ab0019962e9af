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

use std::sync::{Mutex, MutexGuard, PoisonError};

use super::super::{Key, Rendered};
use crate::metrics::Metrics;

/// Keys kept for a retry at most (a key is a few dozen bytes); past it the
/// oldest is dropped first.
pub(super) const MAX_PENDING: usize = 4096;

/// How often failed writes are tried again.
pub(super) const RETRY_EVERY: Duration = Duration::from_secs(10);

/// The document read to see whether a shared backend is back when no
/// write is pending.
pub(super) const PROBE: &str = "probe";

/// The renders waiting for a write, oldest first, by weak reference.
pub(super) struct Pending {
    list: Mutex<IndexMap<Key, Weak<Rendered>>>,
    metrics: Arc<Metrics>,
}

/// A pending write whose render the memory cache still holds.
pub(super) struct Live {
    pub key: Key,
    weak: Weak<Rendered>,
    pub rendered: Arc<Rendered>,
}

impl Pending {
    pub(super) fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            list: Mutex::new(IndexMap::new()),
            metrics,
        }
    }

    /// Keeps `rendered` to write under `key` again later; a newer render of
    /// the same key replaces an older one and goes to the back.
    pub(super) fn hold(&self, key: &Key, rendered: &Arc<Rendered>) {
        let mut list = self.list();
        list.shift_remove(key);
        list.insert(key.clone(), Arc::downgrade(rendered));
        let mut dropped = 0;
        while list.len() > MAX_PENDING {
            list.shift_remove_index(0);
            dropped += 1;
        }
        drop(list);
        self.dropped(dropped);
    }

    /// Writes waiting for a retry.
    pub(super) fn len(&self) -> usize {
        self.list().len()
    }

    /// The pending writes whose renders the memory cache still holds,
    /// oldest first. Renders it let go are given up first, whatever their
    /// place: they cannot be written, and should not wait.
    pub(super) fn live(&self) -> Vec<Live> {
        let pending: Vec<(Key, Weak<Rendered>)> = self
            .list()
            .iter()
            .map(|(k, r)| (k.clone(), r.clone()))
            .collect();
        let mut live = Vec::with_capacity(pending.len());
        for (key, weak) in pending {
            match weak.upgrade() {
                Some(rendered) => live.push(Live {
                    key,
                    weak,
                    rendered,
                }),
                None => {
                    self.forget_weak(&key, &weak);
                    self.dropped(1);
                }
            }
        }
        live
    }

    /// Takes a written render off the list, unless a newer one replaced it.
    pub(super) fn written(&self, live: &Live) {
        self.forget_weak(&live.key, &live.weak);
    }

    fn forget_weak(&self, key: &Key, weak: &Weak<Rendered>) {
        let mut list = self.list();
        if list.get(key).is_some_and(|r| r.ptr_eq(weak)) {
            list.shift_remove(key);
        }
    }

    /// Counts `n` pending writes given up.
    fn dropped(&self, n: u64) {
        if n > 0 {
            self.metrics.pending_dropped.inc_by(n);
            tracing::debug!(
                dropped = n,
                "pending writes given up; those renders are drawn again when asked for"
            );
        }
    }

    fn list(&self) -> MutexGuard<'_, IndexMap<Key, Weak<Rendered>>> {
        self.list.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
