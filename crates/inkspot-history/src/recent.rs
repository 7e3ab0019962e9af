//! The spots' recent values, as their templates read them: loaded from the
//! database once, then kept up to date by each fetch in memory, so the
//! render that follows a fetch draws it before it is written. A load that
//! fails is not tried again for a while, so a database that is away costs
//! a fetch at most one wait.

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

struct Entry {
    recent: Arc<Recent>,
    /// Whether the database's values are in it.
    loaded: bool,
    /// When a load last failed.
    failed: Option<Instant>,
}

/// Each configured spot's recent values, by slug.
#[derive(Default)]
pub(crate) struct RecentCache {
    map: Mutex<HashMap<String, Entry>>,
}

impl RecentCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The spot's values: loaded once from `pool` (what a fetch put here
    /// meanwhile joined to them), else what this replica has.
    pub(crate) async fn get(&self, pool: &AnyPool, slug: &str, now: DateTime<Utc>) -> Arc<Recent> {
        {
            let map = self.lock();
            if let Some(e) = map.get(slug)
                && (e.loaded || e.failed.is_some_and(|at| at.elapsed() < RETRY))
            {
                return e.recent.clone();
            }
        }
        let loaded = tokio::time::timeout(LOAD_WAIT, crate::read::recent(pool, slug, now)).await;
        let mut map = self.lock();
        let entry = map.entry(slug.to_string()).or_insert_with(|| Entry {
            recent: Arc::default(),
            loaded: false,
            failed: None,
        });
        match loaded {
            Ok(Ok(mut recent)) => {
                // A fetch kept while this was loading is newer than it.
                recent.absorb(&entry.recent);
                entry.recent = Arc::new(recent);
                entry.loaded = true;
                entry.failed = None;
            }
            _ => entry.failed = Some(Instant::now()),
        }
        entry.recent.clone()
    }

    /// Replaces the spot's values with `recent` (a fetch merged in).
    pub(crate) fn put(&self, slug: &str, recent: Arc<Recent>) {
        let mut map = self.lock();
        match map.get_mut(slug) {
            Some(entry) => entry.recent = recent,
            None => {
                map.insert(
                    slug.to_string(),
                    Entry {
                        recent,
                        loaded: false,
                        failed: None,
                    },
                );
            }
        }
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
