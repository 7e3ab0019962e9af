//! The store the service uses: a moka memory cache, bounded by bytes, in
//! front of any [`Backend`]. A backend that fails is logged and marked
//! unhealthy, and renders are then served from memory; the next good write
//! marks it healthy again.

mod retry;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use moka::future::Cache;

use super::{Backend, Key, Listed, Meta, Rendered, Retention, StoreError, Sweep};
use crate::metrics::{Metrics, labels};
use crate::supervisor::Supervisor;

/// How often the backend is swept even when nothing is written.
const SWEEP_EVERY: Duration = Duration::from_secs(600);

/// How often a render served from memory is marked used in the backend.
/// Sweeps order renders by last use to this precision, and a hit pays for
/// a backend write at most this often per render.
const TOUCH_EVERY: Duration = Duration::from_secs(600);

/// A render in memory, and when the backend last heard it was used.
#[derive(Clone)]
struct Slot {
    rendered: Arc<Rendered>,
    /// Seconds since the Unix epoch.
    touched: Arc<AtomicU64>,
}

impl Slot {
    fn new(rendered: Arc<Rendered>) -> Self {
        Self {
            rendered,
            touched: Arc::new(AtomicU64::new(unix_now())),
        }
    }

    /// Whether the backend should hear of a use now; claims it if so, so
    /// that concurrent hits tell it once.
    fn claim_touch(&self) -> bool {
        let now = unix_now();
        let last = self.touched.load(Ordering::Relaxed);
        now >= last + TOUCH_EVERY.as_secs()
            && self
                .touched
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The backend's health as the store last saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// The backend's name, such as `disk`.
    pub backend: &'static str,
    /// Whether the last operation on it worked.
    pub ok: bool,
    /// The last failure, while not ok.
    pub error: Option<String>,
    /// Whether replicas share the backend (see [`Backend::is_shared`]).
    pub shared: bool,
}

/// What a store holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Usage {
    /// Renders in memory.
    pub memory_entries: u64,
    /// Their bytes (with a little for their metadata).
    pub memory_bytes: u64,
    /// Renders in the backend.
    pub stored_entries: u64,
    /// Their bytes.
    pub stored_bytes: u64,
}

/// Memory over a backend; cheap to clone.
#[derive(Clone)]
pub struct Store {
    memory: Cache<Key, Slot>,
    backend: Arc<dyn Backend>,
    failure: Arc<Mutex<Option<String>>>,
    retention: Retention,
    /// Bytes in the backend as of the last sweep plus everything written
    /// since: an over-estimate, so a sweep runs before the limit is passed
    /// for long.
    stored_bytes: Arc<AtomicU64>,
    /// Files in the backend as of the last sweep.
    stored_entries: Arc<AtomicU64>,
    metrics: Arc<Metrics>,
    /// Renders whose write failed, to write again (see [`retry`]).
    pending: Arc<retry::Pending>,
}

impl Store {
    /// A store keeping at most `memory_bytes` in memory, over `backend`
    /// kept within `retention`.
    /// Evictions count in `metrics`.
    pub fn new(
        backend: Arc<dyn Backend>,
        memory_bytes: u64,
        retention: Retention,
        metrics: Arc<Metrics>,
    ) -> Self {
        let evictions = metrics.clone();
        let memory = Cache::builder()
            .max_capacity(memory_bytes)
            .weigher(|_k: &Key, v: &Slot| {
                u32::try_from(v.rendered.bytes.len().saturating_add(256)).unwrap_or(u32::MAX)
            })
            .eviction_listener(move |_k, _v, cause| {
                if cause.was_evicted() {
                    let layer = labels::Layer { layer: "memory" };
                    evictions.evictions.get_or_create(&layer).inc();
                }
            })
            .build();
        Self {
            pending: Arc::new(retry::Pending::new(metrics.clone())),
            metrics,
            memory,
            backend,
            failure: Arc::new(Mutex::new(None)),
            retention,
            stored_bytes: Arc::new(AtomicU64::new(0)),
            stored_entries: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Prepares the backend and applies the retention limits. A failure is
    /// logged; the store then runs from memory.
    pub async fn open(&self) {
        match self.backend.open().await {
            Ok(()) => {
                self.sweep().await;
            }
            Err(e) => {
                let hint = if e.is_permission_denied() {
                    "; this user may not write there: give the folder to it (chown), or mount a volume it owns"
                } else {
                    ""
                };
                tracing::error!(backend = self.backend.name(), error = %e, "storage unusable; serving from memory only{hint}");
                self.record(Err(&e));
            }
        }
    }

    /// Starts the periodic sweep, and the retry of failed writes, under
    /// `supervisor`.
    pub fn spawn_sweeper(&self, supervisor: &Supervisor) {
        let store = self.clone();
        supervisor.spawn("store-sweeper", move |stop| async move {
            let mut tick = tokio::time::interval(SWEEP_EVERY);
            let mut retry = tokio::time::interval(retry::RETRY_EVERY);
            tick.tick().await;
            retry.tick().await;
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    _ = tick.tick() => { store.sweep().await; }
                    _ = retry.tick() => { store.retry_pending().await; }
                }
            }
        });
    }

    /// Renders and bytes in memory, and in the backend (as of its last
    /// sweep, plus what was written since).
    pub async fn usage(&self) -> Usage {
        // The memory layer counts lazily; bring its counts up to date.
        self.memory.run_pending_tasks().await;
        Usage {
            memory_entries: self.memory.entry_count(),
            memory_bytes: self.memory.weighted_size(),
            stored_entries: self.stored_entries.load(Ordering::Relaxed),
            stored_bytes: self.stored_bytes.load(Ordering::Relaxed),
        }
    }

    /// The backend's health.
    pub fn health(&self) -> Health {
        let error = self
            .failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        Health {
            backend: self.backend.name(),
            ok: error.is_none(),
            error,
            shared: self.backend.is_shared(),
        }
    }

    fn record(&self, result: Result<(), &StoreError>) {
        let mut failure = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
        *failure = result.err().map(ToString::to_string);
    }

    /// Applies the retention limits now.
    pub async fn sweep(&self) -> Option<Sweep> {
        self.sweep_to(self.retention.max_bytes).await
    }

    async fn sweep_to(&self, max_bytes: u64) -> Option<Sweep> {
        let retention = Retention {
            max_bytes,
            ..self.retention
        };
        match self.backend.sweep(retention).await {
            Ok(sweep) => {
                self.stored_bytes.store(sweep.kept_bytes, Ordering::Relaxed);
                self.stored_entries
                    .store(sweep.kept as u64, Ordering::Relaxed);
                let layer = labels::Layer { layer: "disk" };
                let removed = self.metrics.evictions.get_or_create(&layer);
                removed.inc_by(sweep.removed as u64);
                if sweep.removed > 0 {
                    tracing::info!(
                        removed = sweep.removed,
                        kept_bytes = sweep.kept_bytes,
                        "storage swept"
                    );
                }
                Some(sweep)
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot sweep the storage");
                None
            }
        }
    }

    /// The render for `key`, from memory or else from the backend. Either
    /// way the backend hears that it was used (from memory, at most every
    /// [`TOUCH_EVERY`]), so sweeps remove what nobody asks for first.
    pub async fn get(&self, key: &Key) -> Option<Arc<Rendered>> {
        if let Some(hit) = self.memory.get(key).await {
            if hit.claim_touch() {
                self.touch(key).await;
            }
            return Some(hit.rendered);
        }
        match self.backend.get(key).await {
            Ok(Some(rendered)) => {
                let rendered = Arc::new(rendered);
                self.memory
                    .insert(key.clone(), Slot::new(rendered.clone()))
                    .await;
                self.touch(key).await;
                Some(rendered)
            }
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(%key, error = %e, "ignoring an unreadable stored render");
                None
            }
        }
    }

    async fn touch(&self, key: &Key) {
        if let Err(e) = self.backend.touch(key).await {
            tracing::debug!(%key, error = %e, "cannot mark a render as used");
        }
    }

    /// The metadata for `key`, without reading an image that is not in memory.
    pub async fn meta(&self, key: &Key) -> Option<Meta> {
        if let Some(hit) = self.memory.get(key).await {
            return Some(hit.rendered.meta.clone());
        }
        self.backend.meta(key).await.ok().flatten()
    }

    /// The metadata for `key` in the backend, whatever memory holds: what
    /// another replica may have stored since.
    pub async fn stored_meta(&self, key: &Key) -> Option<Meta> {
        self.backend.meta(key).await.ok().flatten()
    }

    /// The render for `key` read again from the backend into memory, for
    /// one another replica stored.
    pub async fn reload(&self, key: &Key) -> Option<Arc<Rendered>> {
        let rendered = Arc::new(self.backend.get(key).await.ok().flatten()?);
        self.memory
            .insert(key.clone(), Slot::new(rendered.clone()))
            .await;
        Some(rendered)
    }

    /// When any render of the spot `slug` was last drawn, in any output;
    /// read from the metadata alone.
    pub async fn last_rendered(&self, slug: &str) -> Option<chrono::DateTime<chrono::Utc>> {
        let listed = self.list(Some(slug)).await;
        listed.into_iter().map(|l| l.meta.rendered_at).max()
    }

    /// Every stored render of the spot `slug`, or of every spot.
    pub async fn list(&self, slug: Option<&str>) -> Vec<Listed> {
        match self.backend.list(slug).await {
            Ok(list) => list,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the storage");
                Vec::new()
            }
        }
    }

    /// The document `name`, or `None` when there is none or it cannot be
    /// read (logged).
    pub async fn document(&self, name: &str) -> Option<Vec<u8>> {
        match self.backend.get_document(name).await {
            Ok(doc) => doc,
            Err(e) => {
                tracing::warn!(document = name, error = %e, "cannot read a stored document");
                None
            }
        }
    }

    /// Stores the document `name`; a failure is logged and marks the
    /// backend unhealthy, as a failed render write does.
    pub async fn put_document(&self, name: &str, bytes: &[u8]) {
        let result = self.backend.put_document(name, bytes).await;
        if let Err(e) = &result {
            tracing::warn!(document = name, error = %e, "cannot store a document");
        }
        self.record(result.as_ref().map(|_| ()));
    }

    /// A local folder for a result being written (see [`Backend::scratch_dir`]).
    pub fn scratch_dir(&self) -> std::path::PathBuf {
        self.backend.scratch_dir()
    }

    /// Stores the finished local `file` as the blob `name`; returns its size.
    pub async fn put_blob(&self, name: &str, file: &std::path::Path) -> Result<u64, StoreError> {
        let result = self.backend.put_blob(name, file).await;
        self.record(result.as_ref().map(|_| ()));
        result
    }

    /// The blob `name`, to stream.
    pub async fn open_blob(&self, name: &str) -> Result<Option<super::Blob>, StoreError> {
        self.backend.open_blob(name).await
    }

    /// Deletes the blob `name`; `false` when there was none.
    pub async fn delete_blob(&self, name: &str) -> Result<bool, StoreError> {
        self.backend.delete_blob(name).await
    }

    /// Stores `rendered` under `key`: memory at once, then the backend. A
    /// backend failure is logged and the render is still served from memory.
    pub async fn put(&self, key: &Key, rendered: Arc<Rendered>) {
        self.memory
            .insert(key.clone(), Slot::new(rendered.clone()))
            .await;
        if let Err(e) = self.write(key, &rendered).await {
            tracing::error!(%key, error = %e, "cannot store a render; serving it from memory, and writing it again later");
            self.pending.hold(key, &rendered);
        }
    }

    /// Writes waiting for a retry.
    pub fn pending_writes(&self) -> usize {
        self.pending.len()
    }

    /// Tries the pending writes again, oldest first, stopping at the first
    /// failure. With none pending, a shared backend is probed with a read,
    /// so its outage and its recovery show in `/status` within a tick,
    /// though hits need no write.
    pub(super) async fn retry_pending(&self) {
        if self.pending.len() == 0 {
            if self.backend.is_shared() {
                let probe = self.backend.get_document(retry::PROBE).await;
                self.record(probe.as_ref().map(|_| ()));
            }
            return;
        }
        let mut written = 0;
        for live in self.pending.live() {
            if let Err(e) = self.write(&live.key, &live.rendered).await {
                tracing::debug!(key = %live.key, error = %e, "a pending write failed again");
                return;
            }
            self.pending.written(&live);
            written += 1;
        }
        if written > 0 {
            tracing::info!(
                written,
                "the storage is back; the renders drawn meanwhile are stored"
            );
        }
    }

    /// Writes `rendered` to the backend and counts it against the disk
    /// limit, sweeping when it is passed: the one way a render reaches the
    /// backend, first try or retry alike.
    async fn write(&self, key: &Key, rendered: &Rendered) -> Result<(), StoreError> {
        let result = self.backend.put(key, rendered).await;
        self.record(result.as_ref().map(|_| ()));
        result?;
        let written = rendered.bytes.len() as u64 + 512;
        let total = self.stored_bytes.fetch_add(written, Ordering::Relaxed) + written;
        if total > self.retention.max_bytes {
            // Down to 90%, so the next sweep is many writes away rather
            // than one: a sweep walks the whole backend.
            self.sweep_to(self.retention.max_bytes / 10 * 9).await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
