//! The render store: a moka memory cache, bounded by bytes, over files on
//! disk that survive restarts. Disk writes are atomic and carry a checksum,
//! so a crash or a damaged file is never served.

mod disk;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use moka::future::Cache;
use serde::{Deserialize, Serialize};

pub use disk::DiskError;

/// Identifies one stored render: a configured spot and an output variant.
/// Both parts come from configuration or from our own hashing, never from
/// request text, because they become file names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    spot: String,
    variant: String,
}

impl Key {
    /// The key of `variant` of the spot with `slug`. Both must be made of
    /// `[a-z0-9-]` (slugs are validated at config load; variants are ours).
    pub fn new(slug: &str, variant: &str) -> Self {
        debug_assert!(is_file_safe(slug) && is_file_safe(variant));
        Self {
            spot: slug.to_string(),
            variant: variant.to_string(),
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
}

impl Store {
    /// A store keeping at most `memory_bytes` in memory, over files in `dir`.
    pub fn new(dir: PathBuf, memory_bytes: u64) -> Self {
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
        }
    }

    /// Prepares the folder: creates it and removes temporary files that a
    /// crash left behind. A failure is logged; the store then runs from memory.
    pub async fn open(&self) {
        if let Err(e) = self.disk.prepare().await {
            self.disk_ok.store(false, Ordering::Relaxed);
            tracing::error!(error = %e, "cache folder unusable; serving from memory only");
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
            Ok(()) => self.disk_ok.store(true, Ordering::Relaxed),
            Err(e) => {
                self.disk_ok.store(false, Ordering::Relaxed);
                tracing::error!(spot = key.spot(), error = %e, "cannot write render to the cache folder; serving from memory");
            }
        }
    }
}
