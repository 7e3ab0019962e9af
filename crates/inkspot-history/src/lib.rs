//! The history: every value a fetch extracts, kept in the database (SQLite
//! or PostgreSQL, the same one as devices and jobs), rolled up by the hour
//! as it is written, trimmed by retention, and read back for templates,
//! `/api/history` and `inkspot history`.
//!
//! [`Keeper`] implements the core's [`History`]: a fetch's batch is merged
//! into the spot's recent values at once (the render that follows draws
//! it) and queued for one writer task, so a slow or absent database never
//! delays a picture; what cannot be written is dropped, counted and logged
//! once.

pub mod conformance;
pub mod read;
mod recent;
pub mod retention;
pub mod rollup;
pub mod write;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use inkspot_core::clock::SharedClock;
use inkspot_core::config::{Config, Retention, Spot};
pub use inkspot_core::history::{Batch, History, Point, Recent, Sample, Unkept};
use inkspot_engine::supervisor::Supervisor;
use serde::{Deserialize, Serialize};
use sqlx::AnyPool;
use tokio::sync::mpsc;

pub use read::{Answer, MAX_RAW_ROWS, QueryError, Range, Row, SpotKept};

/// Samples waiting to be written at most; a fetch past it is dropped
/// (about 50 bytes a sample: 10 MB).
pub const MAX_QUEUED: usize = 200_000;

/// How often retention runs.
pub const RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// How long counting what is kept may wait on the database.
const LOAD_WAIT: Duration = Duration::from_secs(2);

/// What the history has done since start, for `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Samples written.
    pub written: AtomicU64,
    /// Samples dropped: the queue was full or the database refused them.
    pub dropped: AtomicU64,
    /// Retention runs.
    pub rollup_runs: AtomicU64,
    /// Hourly rollups made or brought up to date.
    pub hours_rolled: AtomicU64,
}

/// What the history keeps and has done: for `/status` and `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Kept {
    /// Raw samples kept.
    pub samples: i64,
    /// Hourly rollups kept.
    pub hours: i64,
    /// Their estimated size in the database.
    pub bytes: u64,
    /// `history.max_disk`.
    pub max_bytes: u64,
    /// Samples written since start.
    pub written: u64,
    /// Samples dropped since start (queue full, database away).
    pub dropped: u64,
    /// Retention runs since start.
    pub rollup_runs: u64,
    /// Samples waiting to be written.
    pub queued: usize,
    /// What the recent values templates read hold in memory.
    #[serde(default)]
    pub memory_bytes: u64,
    /// `history.max_memory`.
    #[serde(default)]
    pub max_memory_bytes: u64,
    /// By spot slug: how many samples and rollups, and the newest sample.
    pub spots: BTreeMap<String, SpotKept>,
}

/// How long a count of what is kept is reused: counting reads every row's
/// index entry.
const KEPT_FOR: Duration = Duration::from_secs(30);

/// The last count of what is kept (by spot, and the bytes), and when it
/// was last tried.
#[derive(Default)]
struct Counted {
    tried: Option<std::time::Instant>,
    counts: Option<(BTreeMap<String, SpotKept>, u64)>,
}

struct Job {
    slug: String,
    batch: Batch,
    now: DateTime<Utc>,
    kept: Retention,
}

/// The history kept in the database.
pub struct Keeper {
    pool: AnyPool,
    config: Arc<Config>,
    recent: recent::RecentCache,
    queue: mpsc::Sender<Job>,
    queued: Arc<AtomicUsize>,
    counters: Arc<Counters>,
    failing: Arc<AtomicBool>,
    /// The last count of what is kept, and when it was made.
    counted: tokio::sync::Mutex<Counted>,
}

impl Keeper {
    /// Keeps history in `pool` as `config` says, with its writer and
    /// retention tasks under `supervisor`; `clock` dates retention.
    pub fn start(
        pool: AnyPool,
        config: Arc<Config>,
        clock: SharedClock,
        supervisor: &Supervisor,
    ) -> Arc<Self> {
        let (queue, jobs) = mpsc::channel(1024);
        let max_memory = config.history.max_memory.as_u64() as usize;
        let keeper = Arc::new(Self {
            pool,
            config,
            recent: recent::RecentCache::new(max_memory),
            queue,
            queued: Arc::new(AtomicUsize::new(0)),
            counters: Arc::new(Counters::default()),
            failing: Arc::new(AtomicBool::new(false)),
            counted: tokio::sync::Mutex::new(Counted::default()),
        });
        let writer = keeper.clone();
        supervisor.spawn("history-writer", move |stop| async move {
            writer.write_all(jobs, stop).await;
        });
        let trimmer = keeper.clone();
        supervisor.spawn("history-retention", move |stop| async move {
            loop {
                trimmer.purge(clock.now()).await;
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(RETENTION_EVERY) => {}
                }
            }
        });
        keeper
    }

    /// What it has done since start.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The database it keeps history in.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Samples waiting to be written.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Keeps `batch` under `slug` with `kept`, as [`History::keep`] does
    /// for a spot.
    async fn keep_as(
        &self,
        slug: String,
        kept: Retention,
        batch: Batch,
        now: DateTime<Utc>,
    ) -> Arc<Recent> {
        if batch.is_empty() {
            // Data another replica fetched: its values are in the database.
            self.recent.forget(&slug);
        }
        let base = self.recent.get(&self.pool, &slug, now).await;
        let mut merged = (*base).clone();
        merged.merge(&batch, now);
        let merged = Arc::new(merged);
        self.recent.put(&slug, merged.clone());
        if batch.is_empty() {
            return merged;
        }
        let batch_len = batch.len();
        let n = batch_len.max(1);
        if self.queued.fetch_add(n, Ordering::Relaxed) + n > MAX_QUEUED {
            self.queued.fetch_sub(n, Ordering::Relaxed);
            self.counters
                .dropped
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            tracing::debug!(spot = %slug, "history queue full; the fetch's samples are dropped");
            return merged;
        }
        let job = Job {
            slug,
            batch,
            now,
            kept,
        };
        if self.queue.try_send(job).is_err() {
            self.queued.fetch_sub(n, Ordering::Relaxed);
            self.counters
                .dropped
                .fetch_add(batch_len as u64, Ordering::Relaxed);
        }
        merged
    }

    /// Keeps a device's sensor readings under [`device_key`], with the
    /// history's own retention (`history.keep_raw`, `history.keep_hourly`),
    /// and returns the device's recent values.
    pub async fn keep_device(
        &self,
        friendly_id: &str,
        batch: Batch,
        now: DateTime<Utc>,
    ) -> Arc<Recent> {
        let kept = self.config.history.retention(None);
        self.keep_as(device_key(friendly_id), kept, batch, now)
            .await
    }

    /// A device's recent readings as this replica holds them, without
    /// reading the database (for status pages, which must not wait on it).
    pub fn peek_device(&self, friendly_id: &str) -> Option<Arc<Recent>> {
        self.recent.peek(&device_key(friendly_id))
    }

    /// How long `spot`'s history is kept.
    pub fn retention(&self, spot: &Spot) -> Retention {
        self.config.history.retention(spot.history.as_ref())
    }

    /// `field` of `spot` over `range`, raw where raw samples are kept at
    /// `now`, hourly before.
    pub async fn query(
        &self,
        spot: &Spot,
        field: &str,
        range: Range,
        now: DateTime<Utc>,
    ) -> Result<Answer, QueryError> {
        let raw_from = now.timestamp() - self.retention(spot).raw.as_secs() as i64;
        read::query(&self.pool, &spot.slug(), field, range, raw_from).await
    }

    /// `field` (a sensor's kind) of the TRMNL `friendly_id` over `range`,
    /// kept as every spot's history is by default.
    pub async fn query_device(
        &self,
        friendly_id: &str,
        field: &str,
        range: Range,
        now: DateTime<Utc>,
    ) -> Result<Answer, QueryError> {
        let kept = self.config.history.retention(None);
        let raw_from = now.timestamp() - kept.raw.as_secs() as i64;
        read::query(&self.pool, &device_key(friendly_id), field, range, raw_from).await
    }

    /// What is kept, by spot slug, and its estimated bytes.
    pub async fn kept(
        &self,
    ) -> Result<(std::collections::BTreeMap<String, SpotKept>, u64), sqlx::Error> {
        read::kept(&self.pool).await
    }

    /// What is kept and what was done: the counters always, the rows as
    /// last counted (at most every 30 seconds, tried again no sooner when
    /// the database does not answer; none before a first count).
    pub async fn summary(&self) -> Kept {
        let mut counted = self.counted.lock().await;
        if counted.tried.is_none_or(|at| at.elapsed() > KEPT_FOR) {
            counted.tried = Some(std::time::Instant::now());
            if let Ok(Ok(counts)) = tokio::time::timeout(LOAD_WAIT, self.kept()).await {
                counted.counts = Some(counts);
            }
        }
        let (spots, bytes) = counted.counts.clone().unwrap_or_default();
        let c = &self.counters;
        Kept {
            samples: spots.values().map(|s| s.samples).sum(),
            hours: spots.values().map(|s| s.hours).sum(),
            bytes,
            max_bytes: self.config.history.max_disk.as_u64(),
            written: c.written.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            rollup_runs: c.rollup_runs.load(Ordering::Relaxed),
            queued: self.queued(),
            memory_bytes: self.recent.bytes() as u64,
            max_memory_bytes: self.config.history.max_memory.as_u64(),
            spots,
        }
    }

    /// Runs retention as of `now`: what it deleted, or `None` when the
    /// database failed (logged).
    pub async fn purge(&self, now: DateTime<Utc>) -> Option<retention::Purged> {
        match retention::purge(&self.pool, &self.config, now).await {
            Ok(purged) => {
                self.counters.rollup_runs.fetch_add(1, Ordering::Relaxed);
                Some(purged)
            }
            Err(error) => {
                tracing::warn!(%error, "history retention failed; it runs again within the hour");
                None
            }
        }
    }

    /// Waits until every queued batch is written (for tests and shutdown).
    pub async fn flush(&self) {
        while self.queued() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn write_all(
        &self,
        mut jobs: mpsc::Receiver<Job>,
        stop: tokio_util::sync::CancellationToken,
    ) {
        loop {
            let job = tokio::select! {
                job = jobs.recv() => job,
                () = stop.cancelled() => {
                    // What is queued is written before stopping.
                    jobs.close();
                    jobs.recv().await
                }
            };
            let Some(job) = job else { return };
            self.write_one(job).await;
        }
    }

    async fn write_one(&self, job: Job) {
        let n = job.batch.len();
        match write::write(&self.pool, &job.slug, &job.batch, job.now, job.kept).await {
            Ok(written) => {
                self.counters
                    .written
                    .fetch_add(written.raw, Ordering::Relaxed);
                self.counters
                    .hours_rolled
                    .fetch_add(written.hours, Ordering::Relaxed);
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!("history samples are written again");
                }
            }
            Err(error) => {
                self.counters.dropped.fetch_add(n as u64, Ordering::Relaxed);
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(spot = %job.slug, %error, "cannot write history samples; they are dropped (counted in inkspot_history_samples_dropped_total) until the database takes them again; pictures are drawn as usual");
                }
            }
        }
        self.queued.fetch_sub(n.max(1), Ordering::Relaxed);
    }
}

pub use inkspot_core::history::device_key;

#[async_trait::async_trait]
impl History for Keeper {
    async fn keep(&self, spot: &Spot, batch: Batch, now: DateTime<Utc>) -> Arc<Recent> {
        self.keep_as(spot.slug(), self.retention(spot), batch, now)
            .await
    }

    async fn recent(&self, spot: &Spot, now: DateTime<Utc>) -> Arc<Recent> {
        self.recent.get(&self.pool, &spot.slug(), now).await
    }

    async fn recent_device(&self, friendly_id: &str, now: DateTime<Utc>) -> Arc<Recent> {
        self.recent
            .get(&self.pool, &device_key(friendly_id), now)
            .await
    }
}

#[cfg(test)]
mod tests;
