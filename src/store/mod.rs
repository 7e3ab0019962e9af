//! The render store: a moka memory cache, bounded by bytes, over files on
//! disk that survive restarts. Disk writes are atomic and carry a checksum,
//! so a crash or a damaged file is never served.

mod disk;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use moka::future::Cache;
use serde::{Deserialize, Serialize};

pub use disk::{DiskError, Sweep};

/// How often the cache folder is swept even when nothing is written.
const SWEEP_EVERY: Duration = Duration::from_secs(600);

/// How much the cache folder may keep.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Most bytes in the folder; the oldest renders go first.
    pub max_bytes: u64,
    /// Renders stored longer ago than this are deleted.
    pub max_age: Duration,
}

/// Identifies one stored render: a configured spot and an output variant.
/// Both parts come from configuration or from our own hashing, never from
/// request text, because they become file names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    // Shared strings: a key is cloned on every cache hit.
    spot: Arc<str>,
    variant: Arc<str>,
}

impl Key {
    /// The key of `variant` of the spot with `slug`. Both must be made of
    /// `[a-z0-9-]` (slugs are validated at config load; variants are ours).
    pub fn new(slug: &str, variant: &str) -> Self {
        debug_assert!(is_file_safe(slug) && is_file_safe(variant));
        Self {
            spot: slug.into(),
            variant: variant.into(),
        }
    }

    /// The spot's slug.
    pub fn spot(&self) -> &str {
        &self.spot
    }
}

fn is_file_safe(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Facts about a render, kept beside its bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// When it was drawn (or first drawn with these exact bytes).
    pub rendered_at: DateTime<Utc>,
    /// When the data it shows was fetched; freshness counts from here.
    pub data_at: DateTime<Utc>,
    /// True when some sources or fields failed; such renders expire sooner.
    pub partial: bool,
    /// MIME type of the bytes.
    pub content_type: String,
    /// Hex BLAKE3 of the bytes; the ETag and the integrity check.
    pub checksum: String,
}

/// A stored image.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The encoded image.
    pub bytes: Bytes,
    /// Its metadata.
    pub meta: Meta,
}

impl Rendered {
    /// Wraps freshly encoded bytes, computing the checksum.
    pub fn new(
        bytes: Vec<u8>,
        content_type: &str,
        rendered_at: DateTime<Utc>,
        data_at: DateTime<Utc>,
        partial: bool,
    ) -> Self {
        let checksum = blake3::hash(&bytes).to_hex().to_string();
        Self {
            bytes: Bytes::from(bytes),
            meta: Meta {
                rendered_at,
                data_at,
                partial,
                content_type: content_type.to_string(),
                checksum,
            },
        }
    }

    /// A strong ETag: the first 128 bits of the checksum, quoted.
    pub fn etag(&self) -> String {
        format!("\"{}\"", &self.meta.checksum[..32])
    }
}

/// Memory over disk.
#[derive(Clone)]
pub struct Store {
    memory: Cache<Key, Arc<Rendered>>,
    disk: disk::Disk,
    /// False after the cache folder failed; true again after a good write.
    disk_ok: Arc<AtomicBool>,
    retention: Retention,
    /// Bytes in the folder as of the last sweep plus everything written
    /// since: an over-estimate, so a sweep runs before the limit is passed
    /// for long.
    disk_bytes: Arc<AtomicU64>,
}

impl Store {
    /// A store keeping at most `memory_bytes` in memory, over files in `dir`
    /// kept within `retention`.
    pub fn new(dir: PathBuf, memory_bytes: u64, retention: Retention) -> Self {
        let memory = Cache::builder()
            .max_capacity(memory_bytes)
            .weigher(|_k: &Key, v: &Arc<Rendered>| {
                u32::try_from(v.bytes.len().saturating_add(256)).unwrap_or(u32::MAX)
            })
            .build();
        Self {
            memory,
            disk: disk::Disk::new(dir),
            disk_ok: Arc::new(AtomicBool::new(true)),
            retention,
            disk_bytes: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Prepares the folder: creates it, removes temporary files that a
    /// crash left behind, applies the retention limits, and sweeps again
    /// every few minutes. A failure is logged; the store then runs from memory.
    pub async fn open(&self) {
        if let Err(e) = self.disk.prepare().await {
            self.disk_ok.store(false, Ordering::Relaxed);
            tracing::error!(error = %e, "cache folder unusable; serving from memory only");
            return;
        }
        self.sweep().await;
        let store = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_EVERY);
            tick.tick().await;
            loop {
                tick.tick().await;
                store.sweep().await;
            }
        });
    }

    /// Applies the retention limits to the cache folder now.
    pub async fn sweep(&self) -> Option<Sweep> {
        self.sweep_to(self.retention.max_bytes).await
    }

    /// Sweeps down to `max_bytes` and the age limit.
    async fn sweep_to(&self, max_bytes: u64) -> Option<Sweep> {
        let max_age = self.retention.max_age;
        match self.disk.sweep(max_bytes, max_age).await {
            Ok(sweep) => {
                self.disk_bytes.store(sweep.kept_bytes, Ordering::Relaxed);
                if sweep.removed > 0 {
                    tracing::info!(
                        removed = sweep.removed,
                        kept_bytes = sweep.kept_bytes,
                        "cache folder swept"
                    );
                }
                Some(sweep)
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot sweep the cache folder");
                None
            }
        }
    }

    /// Whether the cache folder worked the last time it was used.
    pub fn disk_ok(&self) -> bool {
        self.disk_ok.load(Ordering::Relaxed)
    }

    /// The latest render for `key`, from memory or else from disk.
    pub async fn get(&self, key: &Key) -> Option<Arc<Rendered>> {
        if let Some(hit) = self.memory.get(key).await {
            return Some(hit);
        }
        match self.disk.read(key).await {
            Ok(Some(rendered)) => {
                let rendered = Arc::new(rendered);
                self.memory.insert(key.clone(), rendered.clone()).await;
                Some(rendered)
            }
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(spot = key.spot(), error = %e, "ignoring unreadable cache file");
                None
            }
        }
    }

    /// Stores `rendered` under `key`: memory at once, then disk. A disk
    /// failure is logged and the render is still served from memory.
    pub async fn put(&self, key: &Key, rendered: Arc<Rendered>) {
        self.memory.insert(key.clone(), rendered.clone()).await;
        match self.disk.write(key, &rendered).await {
            Ok(()) => {
                self.disk_ok.store(true, Ordering::Relaxed);
                let written = rendered.bytes.len() as u64 + 512;
                let total = self.disk_bytes.fetch_add(written, Ordering::Relaxed) + written;
                if total > self.retention.max_bytes {
                    // Down to 90%, so the next sweep is many writes away
                    // rather than one: a sweep walks the whole folder.
                    self.sweep_to(self.retention.max_bytes / 10 * 9).await;
                }
            }
            Err(e) => {
                self.disk_ok.store(false, Ordering::Relaxed);
                tracing::error!(spot = key.spot(), error = %e, "cannot write render to the cache folder; serving from memory");
            }
        }
    }
}
