//! Freshness: how long data, and a render made from it, may be served as
//! it is, by the clock the service serves by.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{CacheStatus, Served};
use crate::clock::SharedClock;
use crate::config::CacheConfig;
use crate::store::Rendered;

/// The clock and the cache's lifetimes; cheap to clone.
#[derive(Clone)]
pub(super) struct Freshness {
    clock: SharedClock,
    /// `cache.max_age`: data with every source.
    max_age: Duration,
    /// `cache.partial_max_age`: data with a source missing.
    partial_max_age: Duration,
    /// `cache.stale_max_age`: how long a client keeps a stale image.
    stale_max_age: Duration,
}

impl Freshness {
    pub(super) fn new(cache: &CacheConfig, clock: SharedClock) -> Self {
        Self {
            clock,
            max_age: cache.max_age,
            partial_max_age: cache.partial_max_age,
            stale_max_age: cache.stale_max_age,
        }
    }

    /// The clock.
    pub(super) fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// The time now, by the clock.
    pub(super) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Freshness left now for something made from data fetched at
    /// `data_at`, or `None` when expired.
    pub(super) fn fresh_for(&self, data_at: DateTime<Utc>, partial: bool) -> Option<Duration> {
        let lifetime = if partial {
            self.partial_max_age
        } else {
            self.max_age
        };
        let age = (self.clock.now() - data_at).to_std().unwrap_or_default();
        lifetime.checked_sub(age).filter(|d| !d.is_zero())
    }

    /// `rendered` served stale: kept briefly by the client, which asks
    /// again soon for the new one.
    pub(super) fn stale(&self, rendered: Arc<Rendered>) -> Served {
        Served {
            rendered,
            cache: CacheStatus::Stale,
            max_age: self.stale_max_age,
        }
    }
}
