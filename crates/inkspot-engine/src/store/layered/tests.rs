//! The memory layer over a real disk backend, through a real outage: the
//! backend's folder replaced by a file, so every write fails, then put back.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::*;
use crate::store::DiskBackend;
use crate::store::conformance::sample;

#[test]
fn a_memory_hit_tells_the_backend_once_per_interval() {
    let slot = Slot::new(Arc::new(sample(10, 1, "2026-11-22T17:00:00Z")));
    assert!(!slot.claim_touch(), "just stored: the backend knows");
    slot.touched
        .store(unix_now() - TOUCH_EVERY.as_secs(), Ordering::Relaxed);
    assert!(slot.claim_touch(), "an interval later: tell it");
    assert!(!slot.claim_touch(), "told once, not by every hit");
}

/// A store over a disk folder that is a file for now, so every write fails.
async fn broken_store(
    memory: u64,
    max_disk: u64,
) -> (tempfile::TempDir, std::path::PathBuf, Store) {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("cache");
    std::fs::write(&dir, b"not a folder").unwrap();
    let retention = Retention {
        max_bytes: max_disk,
        max_age: Duration::from_secs(3600),
    };
    let backend = Arc::new(DiskBackend::new(dir.clone()));
    let store = Store::new(backend, memory, retention, Arc::new(Metrics::new()));
    (root, dir, store)
}

fn folder_bytes(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    for spot in std::fs::read_dir(dir).unwrap().flatten() {
        if spot.path().is_dir() {
            for file in std::fs::read_dir(spot.path()).unwrap().flatten() {
                total += file.metadata().unwrap().len();
            }
        }
    }
    total
}

/// 60 renders of 100 kB while the storage fails, with 1 MiB of memory:
/// what the store keeps alive for a retry stays within its memory, and
/// what it gives up is counted.
#[tokio::test]
async fn renders_waiting_for_a_failed_storage_stay_within_the_memory_limit() {
    let memory = 1024 * 1024;
    let (_root, _dir, store) = broken_store(memory, 64 * 1024 * 1024).await;
    let mut alive = Vec::new();
    for i in 0..60u8 {
        let key = Key::new("spot", &format!("v{i}"));
        let rendered = Arc::new(sample(100_000, i, "2026-11-22T17:00:00Z"));
        alive.push(Arc::downgrade(&rendered));
        store.put(&key, rendered).await;
    }
    store.memory.run_pending_tasks().await;
    // moka evicts as it runs its pending work.
    store.memory.run_pending_tasks().await;
    let held: usize = alive
        .iter()
        .filter_map(std::sync::Weak::upgrade)
        .map(|r| r.bytes.len())
        .sum();
    assert!(
        held as u64 <= memory,
        "{held} bytes of renders still held with {memory} of memory"
    );
    store.retry_pending().await;
    assert!(store.metrics.pending_dropped.get() > 0, "drops are counted");
    assert!(store.pending_writes() < 60);
}

/// Writes retried after an outage are counted and swept as first writes
/// are: the folder ends within `max_disk`.
#[tokio::test]
async fn writes_retried_after_an_outage_keep_the_disk_limit() {
    let max_disk = 300_000;
    let (_root, dir, store) = broken_store(64 * 1024 * 1024, max_disk).await;
    let mut kept = Vec::new();
    for i in 0..20u8 {
        let key = Key::new("spot", &format!("v{i}"));
        let rendered = Arc::new(sample(50_000, i, "2026-11-22T17:00:00Z"));
        kept.push(rendered.clone());
        store.put(&key, rendered).await;
    }
    assert_eq!(store.pending_writes(), 20);
    assert!(!store.health().ok);
    std::fs::remove_file(&dir).unwrap();
    std::fs::create_dir(&dir).unwrap();
    store.retry_pending().await;
    assert_eq!(store.pending_writes(), 0, "all written");
    assert!(store.health().ok);
    let on_disk = folder_bytes(&dir);
    assert!(
        on_disk <= max_disk,
        "{on_disk} bytes in the folder against max_disk {max_disk}"
    );
    assert!(store.usage().await.stored_bytes <= max_disk);
}
