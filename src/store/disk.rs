//! Render files on disk: `<dir>/<spot>/<variant>.png` with its metadata in
//! `<variant>.meta.json`. Each file is written to a temporary file in the
//! same folder and renamed into place; the image goes first and the metadata,
//! which holds the image's checksum, last, so a crash between the two leaves
//! an image whose checksum does not match, which is never served.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::{Key, Meta, Rendered};

/// Prefix of temporary files; anything with it is debris from a crash.
const TMP_PREFIX: &str = ".tmp-";
/// An image without its metadata younger than this may be a write in
/// progress (the image is renamed into place first); older, it is debris.
const ORPHAN_GRACE: Duration = Duration::from_secs(60);

/// What a retention sweep found and did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sweep {
    /// Renders (image and metadata) deleted.
    pub removed: usize,
    /// Bytes left in the folder.
    pub kept_bytes: u64,
}

/// One render on disk: its files, their total size, and when it was stored.
struct Entry {
    files: Vec<PathBuf>,
    bytes: u64,
    stored: SystemTime,
    whole: bool,
}

/// Errors from the disk layer.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// The metadata file does not parse.
    #[error("bad metadata in {path}: {reason}")]
    BadMeta { path: PathBuf, reason: String },
    /// The image does not match its checksum (truncated or damaged).
    #[error("checksum mismatch for {0}")]
    Checksum(PathBuf),
    /// A blocking task was cancelled.
    #[error("disk task failed: {0}")]
    Task(String),
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> DiskError + use<> {
    let path = path.to_path_buf();
    move |source| DiskError::Io { op, path, source }
}

#[derive(Clone)]
pub struct Disk {
    dir: PathBuf,
}

impl Disk {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    fn paths(&self, key: &Key) -> (PathBuf, PathBuf, PathBuf) {
        let folder = self.dir.join(&*key.spot);
        let image = folder.join(format!("{}.img", key.variant));
        let meta = folder.join(format!("{}.meta.json", key.variant));
        (folder, image, meta)
    }

    /// Creates the folder and removes leftover temporary files.
    pub async fn prepare(&self) -> Result<(), DiskError> {
        let dir = self.dir.clone();
        blocking(move || {
            std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
            let mut removed = 0;
            for spot in std::fs::read_dir(&dir).map_err(io("list", &dir))?.flatten() {
                if !spot.path().is_dir() {
                    continue;
                }
                for file in std::fs::read_dir(spot.path())
                    .map_err(io("list", &dir))?
                    .flatten()
                {
                    if file.file_name().to_string_lossy().starts_with(TMP_PREFIX)
                        && std::fs::remove_file(file.path()).is_ok()
                    {
                        removed += 1;
                    }
                }
            }
            if removed > 0 {
                tracing::info!(removed, "removed temporary files left by an earlier run");
            }
            Ok(())
        })
        .await
    }

    /// Deletes renders stored longer ago than `max_age`, then the oldest
    /// until the folder holds at most `max_bytes`, so the newest are kept.
    pub async fn sweep(&self, max_bytes: u64, max_age: Duration) -> Result<Sweep, DiskError> {
        let dir = self.dir.clone();
        blocking(move || {
            let mut entries = list_entries(&dir)?;
            entries.sort_by_key(|e| std::cmp::Reverse(e.stored));
            let now = SystemTime::now();
            let mut sweep = Sweep::default();
            for entry in entries {
                let age = now.duration_since(entry.stored).unwrap_or_default();
                let keep = if entry.whole {
                    age <= max_age && sweep.kept_bytes + entry.bytes <= max_bytes
                } else {
                    age < ORPHAN_GRACE
                };
                if keep {
                    sweep.kept_bytes += entry.bytes;
                    continue;
                }
                // Metadata first: without it the image is never served.
                for file in entry.files.iter().rev() {
                    match std::fs::remove_file(file) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(io("remove", file)(e)),
                    }
                }
                sweep.removed += 1;
            }
            Ok(sweep)
        })
        .await
    }

    pub async fn read(&self, key: &Key) -> Result<Option<Rendered>, DiskError> {
        let (_, image, meta) = self.paths(key);
        blocking(move || {
            let meta_text = match std::fs::read(&meta) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(io("read", &meta)(e)),
            };
            let parsed: Meta =
                serde_json::from_slice(&meta_text).map_err(|e| DiskError::BadMeta {
                    path: meta.clone(),
                    reason: e.to_string(),
                })?;
            let bytes = std::fs::read(&image).map_err(io("read", &image))?;
            if blake3::hash(&bytes).to_hex().as_str() != parsed.checksum {
                return Err(DiskError::Checksum(image));
            }
            Ok(Some(Rendered {
                bytes: bytes.into(),
                meta: parsed,
            }))
        })
        .await
    }

    pub async fn write(&self, key: &Key, rendered: &Rendered) -> Result<(), DiskError> {
        let (folder, image, meta) = self.paths(key);
        let bytes = rendered.bytes.clone();
        let meta_json = serde_json::to_vec_pretty(&rendered.meta).expect("metadata serializes");
        blocking(move || {
            std::fs::create_dir_all(&folder).map_err(io("create", &folder))?;
            write_atomic(&folder, &image, &bytes)?;
            write_atomic(&folder, &meta, &meta_json)
        })
        .await
    }
}

/// Every render under `dir`, grouped from its `<variant>.img` and
/// `<variant>.meta.json` files; `stored` is the newer of their times.
fn list_entries(dir: &Path) -> Result<Vec<Entry>, DiskError> {
    let mut by_variant: std::collections::HashMap<PathBuf, Entry> = Default::default();
    for spot in std::fs::read_dir(dir).map_err(io("list", dir))?.flatten() {
        if !spot.path().is_dir() {
            continue;
        }
        for file in std::fs::read_dir(spot.path())
            .map_err(io("list", &spot.path()))?
            .flatten()
        {
            let name = file.file_name().to_string_lossy().into_owned();
            let (stem, is_meta) = if let Some(stem) = name.strip_suffix(".meta.json") {
                (stem.to_string(), true)
            } else if let Some(stem) = name.strip_suffix(".img") {
                (stem.to_string(), false)
            } else {
                continue;
            };
            let Ok(meta) = file.metadata() else { continue };
            let stored = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            let entry = by_variant
                .entry(spot.path().join(stem))
                .or_insert_with(|| Entry {
                    files: Vec::new(),
                    bytes: 0,
                    stored,
                    whole: false,
                });
            entry.bytes += meta.len();
            entry.stored = entry.stored.max(stored);
            entry.whole |= is_meta;
            // Images before metadata, so removal in reverse drops metadata first.
            if is_meta {
                entry.files.push(file.path());
            } else {
                entry.files.insert(0, file.path());
            }
        }
    }
    Ok(by_variant.into_values().collect())
}

/// Writes `data` to a temporary file in `folder`, syncs it, and renames it
/// over `target`, so readers see the old file or the new one, never half.
fn write_atomic(folder: &Path, target: &Path, data: &[u8]) -> Result<(), DiskError> {
    use std::io::Write;
    let mut tmp = tempfile::Builder::new()
        .prefix(TMP_PREFIX)
        .tempfile_in(folder)
        .map_err(io("create temporary file in", folder))?;
    tmp.write_all(data).map_err(io("write", target))?;
    tmp.as_file().sync_all().map_err(io("sync", target))?;
    tmp.persist(target)
        .map_err(|e| io("rename into", target)(e.error))?;
    Ok(())
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, DiskError> + Send + 'static,
) -> Result<T, DiskError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| DiskError::Task(e.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn render(len: usize) -> Rendered {
        Rendered::new(vec![7; len], "image/png", Utc::now(), Utc::now(), false)
    }

    fn age(path: &Path, by: Duration) {
        let file = std::fs::File::options().append(true).open(path).unwrap();
        file.set_modified(SystemTime::now() - by).unwrap();
    }

    fn variants(dir: &Path) -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(dir.join("spot"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter_map(|n| n.strip_suffix(".meta.json").map(str::to_string))
            .collect();
        out.sort();
        out
    }

    #[tokio::test]
    async fn sweep_drops_old_renders_then_the_oldest_until_under_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let disk = Disk::new(dir.path().to_path_buf());
        disk.prepare().await.unwrap();
        // v0 is newest; each later one is an hour older; v4 is 9 days old.
        for i in 0..5 {
            disk.write(&Key::new("spot", &format!("v{i}")), &render(10_000))
                .await
                .unwrap();
            let (_, image, meta) = disk.paths(&Key::new("spot", &format!("v{i}")));
            let by = Duration::from_secs(if i == 4 { 9 * 86_400 } else { i * 3600 });
            age(&image, by);
            age(&meta, by);
        }
        let week = Duration::from_secs(7 * 86_400);
        let sweep = disk.sweep(u64::MAX, week).await.unwrap();
        assert_eq!(sweep.removed, 1);
        assert_eq!(variants(dir.path()), ["v0", "v1", "v2", "v3"]);

        // Room for two renders (each 10,000 bytes of image plus metadata).
        let sweep = disk.sweep(25_000, week).await.unwrap();
        assert_eq!(sweep.removed, 2);
        assert_eq!(variants(dir.path()), ["v0", "v1"]);
        assert!(sweep.kept_bytes <= 25_000 && sweep.kept_bytes > 20_000);
        assert!(disk.read(&Key::new("spot", "v0")).await.unwrap().is_some());
        assert!(disk.read(&Key::new("spot", "v2")).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn an_old_image_without_metadata_is_debris_and_a_new_one_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let disk = Disk::new(dir.path().to_path_buf());
        disk.prepare().await.unwrap();
        std::fs::create_dir(dir.path().join("spot")).unwrap();
        let old = dir.path().join("spot/old.img");
        let new = dir.path().join("spot/new.img");
        std::fs::write(&old, b"x").unwrap();
        std::fs::write(&new, b"x").unwrap();
        age(&old, Duration::from_secs(3600));
        let sweep = disk
            .sweep(u64::MAX, Duration::from_secs(86_400))
            .await
            .unwrap();
        assert_eq!(sweep.removed, 1);
        assert!(!old.exists() && new.exists());
    }
}
