//! The spots' (and devices') recent values, as their templates read them:
//! loaded from the database once, then kept up to date by each fetch in
//! memory, so the render that follows a fetch draws it before it is
//! written. A load that fails is not tried again for a while, so a
//! database that is away costs a fetch at most one wait. The values held
//! are bounded in bytes (`history.max_memory`): past it, the least
//! recently used are dropped, to be read from the database again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use inkspot_core::history::Recent;
use sqlx::AnyPool;

/// How long loading a spot's recent values may wait on the database.
const LOAD_WAIT: Duration = Duration::from_secs(2);
/// How long after a failed load the next one is tried.
const RETRY: Duration = Duration::from_secs(30);
/// How long after a fetch wrote an entry its samples may still wait in the
/// writer's queue: such an entry is dropped only when nothing else can be.
const WRITTEN_FOR: Duration = Duration::from_secs(60);

struct Entry {
    recent: Arc<Recent>,
    /// Whether the database's values are in it.
    loaded: bool,
    /// When a load last failed.
    failed: Option<Instant>,
    /// What `recent` holds, as [`Recent::approx_bytes`] counts it.
    bytes: usize,
    /// When it was last read or written.
    used: Instant,
    /// When a fetch last wrote it (its samples may still be queued).
    put: Option<Instant>,
}

impl Entry {
    fn new(recent: Arc<Recent>) -> Self {
        Self {
            bytes: recent.approx_bytes(),
            recent,
            loaded: false,
            failed: None,
            used: Instant::now(),
            put: None,
        }
    }

    fn set(&mut self, recent: Arc<Recent>) {
        self.bytes = recent.approx_bytes();
        self.recent = recent;
    }
}

/// Each spot's and device's recent values, by key, within a byte bound.
pub(crate) struct RecentCache {
    map: Mutex<HashMap<String, Entry>>,
    max_bytes: usize,
}

impl RecentCache {
    /// An empty cache holding at most `max_bytes` of values.
    pub(crate) fn new(max_bytes: usize) -> Self {
        Self {
            map: Mutex::default(),
            max_bytes,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What the values held take now.
    pub(crate) fn bytes(&self) -> usize {
        self.lock().values().map(|e| e.bytes).sum()
    }

    /// Drops the least recently used entries other than `keep` until the
    /// rest fit the bound: first those no fetch wrote in the last
    /// [`WRITTEN_FOR`] (their samples are in the database by then), then,
    /// if that is not enough, any. A dropped entry is read from the
    /// database again when asked.
    fn shrink(&self, map: &mut HashMap<String, Entry>, keep: &str) {
        let mut total: usize = map.values().map(|e| e.bytes).sum();
        for settled_only in [true, false] {
            while total > self.max_bytes {
                let oldest = map
                    .iter()
                    .filter(|(k, _)| k.as_str() != keep)
                    .filter(|(_, e)| {
                        !settled_only || e.put.is_none_or(|at| at.elapsed() > WRITTEN_FOR)
                    })
                    .min_by_key(|(_, e)| e.used)
                    .map(|(k, _)| k.clone());
                let Some(oldest) = oldest else {
                    break;
                };
                if let Some(gone) = map.remove(&oldest) {
                    total -= gone.bytes;
                    tracing::debug!(key = %oldest, bytes = gone.bytes, "recent values dropped to stay within history.max_memory");
                }
            }
        }
    }

    /// The values held for `key`, without reading the database.
    pub(crate) fn peek(&self, key: &str) -> Option<Arc<Recent>> {
        self.lock().get(key).map(|e| e.recent.clone())
    }

    /// The spot's values: loaded once from `pool` (what a fetch put here
    /// meanwhile joined to them), else what this replica has.
    pub(crate) async fn get(&self, pool: &AnyPool, slug: &str, now: DateTime<Utc>) -> Arc<Recent> {
        {
            let mut map = self.lock();
            if let Some(e) = map.get_mut(slug)
                && (e.loaded || e.failed.is_some_and(|at| at.elapsed() < RETRY))
            {
                e.used = Instant::now();
                return e.recent.clone();
            }
        }
        let loaded = tokio::time::timeout(LOAD_WAIT, crate::read::recent(pool, slug, now)).await;
        let mut map = self.lock();
        let entry = map
            .entry(slug.to_string())
            .or_insert_with(|| Entry::new(Arc::default()));
        entry.used = Instant::now();
        match loaded {
            Ok(Ok(mut recent)) => {
                // A fetch kept while this was loading is newer than it.
                recent.absorb(&entry.recent);
                entry.set(Arc::new(recent));
                entry.loaded = true;
                entry.failed = None;
            }
            _ => entry.failed = Some(Instant::now()),
        }
        let recent = entry.recent.clone();
        self.shrink(&mut map, slug);
        recent
    }

    /// Replaces the spot's values with `recent` (a fetch merged in).
    pub(crate) fn put(&self, slug: &str, recent: Arc<Recent>) {
        let mut map = self.lock();
        match map.get_mut(slug) {
            Some(entry) => {
                entry.set(recent);
                entry.used = Instant::now();
                entry.put = Some(Instant::now());
            }
            None => {
                let mut entry = Entry::new(recent);
                entry.put = Some(Instant::now());
                map.insert(slug.to_string(), entry);
            }
        }
        self.shrink(&mut map, slug);
    }

    /// Reads the spot's values from the database again at the next get:
    /// another replica wrote them.
    pub(crate) fn forget(&self, slug: &str) {
        if let Some(entry) = self.lock().get_mut(slug) {
            entry.loaded = false;
            entry.failed = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inkspot_core::history::Point;

    fn values(points: usize) -> Arc<Recent> {
        let mut recent = Recent::default();
        let series = (0..points as i64).map(|i| Point::new(i, 1.0)).collect();
        recent.observed.insert("buoy.wvht".into(), series);
        Arc::new(recent)
    }

    /// Past the bound the least recently used go; the one just written
    /// stays even when it alone is over it.
    #[test]
    fn the_values_held_stay_within_their_bytes() {
        let one = values(1000).approx_bytes();
        let cache = RecentCache::new(one * 2 + one / 2);
        cache.put("a", values(1000));
        cache.put("b", values(1000));
        assert!(cache.bytes() <= one * 2 + one / 2);
        std::thread::sleep(Duration::from_millis(2));
        cache.put("a", values(1000));
        cache.put("c", values(1000));
        let held: Vec<String> = {
            let mut k: Vec<String> = cache.lock().keys().cloned().collect();
            k.sort();
            k
        };
        assert_eq!(held, ["a", "c"], "b was the least recently used");
        cache.put("huge", values(10_000));
        assert_eq!(cache.lock().keys().collect::<Vec<_>>(), ["huge"]);
    }
}
