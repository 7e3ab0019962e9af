//! The disk backend: in `<dir>/<spot>/`, each variant's image is
//! `<variant>.<hash>.img`, named by the first 64 bits of its checksum, and
//! its metadata `<variant>.meta.json`. Every file is written to a temporary
//! file in the same folder and renamed into place: the image first, the
//! metadata last, then older images of the variant are removed. A reader
//! reads the metadata and then the image it names, so it gets one whole
//! version or the other; one that loses a race with the removal reads the
//! metadata again. Images of the earlier layout (`<variant>.img`) are still
//! read. All file work runs on blocking threads.

mod files;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::{
    Blob, BlobStore, DocumentStore, Key, Listed, Meta, RenderStore, Rendered, Retention,
    StoreError, Sweep,
};
use files::{
    TMP_PREFIX, image_file, image_path, images_of, io, list_entries, list_renders, read_image,
    read_meta, write_atomic,
};

/// An image without its metadata younger than this may be a write in
/// progress (the image is renamed into place first); older, it is debris.
const ORPHAN_GRACE: Duration = Duration::from_secs(60);

/// How often a read starts again after losing a race with a writer.
const READ_ATTEMPTS: usize = 3;

/// Renders in a folder that survives restarts.
#[derive(Debug, Clone)]
pub struct DiskBackend {
    dir: PathBuf,
}

impl DiskBackend {
    /// A backend keeping its files under `dir`.
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// The spot's folder and the variant's metadata file.
    fn paths(&self, key: &Key) -> (PathBuf, PathBuf) {
        let folder = self.dir.join(key.spot());
        let meta = folder.join(format!("{}.meta.json", key.variant()));
        (folder, meta)
    }

    /// Documents sit beside the spots' folders, as `<name>.json`: listing
    /// and sweeping look only into folders, so they never touch them.
    fn document_path(&self, name: &str) -> Result<PathBuf, StoreError> {
        if !super::is_document_name(name) {
            return Err(StoreError::BadName(name.to_string()));
        }
        Ok(self.dir.join(format!("{name}.json")))
    }

    /// Blobs sit beside the documents, as `<name>.blob`.
    fn blob_path(&self, name: &str) -> Result<PathBuf, StoreError> {
        if !super::is_blob_name(name) {
            return Err(StoreError::BadName(name.to_string()));
        }
        Ok(self.dir.join(format!("{name}.blob")))
    }
}

#[async_trait::async_trait]
impl RenderStore for DiskBackend {
    fn name(&self) -> &'static str {
        "disk"
    }

    async fn open(&self) -> Result<(), StoreError> {
        let dir = self.dir.clone();
        blocking(move || {
            std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
            // A folder that exists but is not ours (a volume owned by
            // another user) shows here, at start-up, not at the first render.
            tempfile::Builder::new()
                .prefix(TMP_PREFIX)
                .tempfile_in(&dir)
                .map_err(io("write in", &dir))?;
            let mut removed = 0;
            for spot in std::fs::read_dir(&dir).map_err(io("list", &dir))?.flatten() {
                if !spot.path().is_dir() {
                    // A result half written when the process stopped.
                    let name = spot.file_name();
                    if name.to_string_lossy().starts_with(TMP_PREFIX)
                        && std::fs::remove_file(spot.path()).is_ok()
                    {
                        removed += 1;
                    }
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

    /// Deletes renders stored longer ago than the age limit, then the
    /// oldest until the folder holds at most the bytes, so the newest are
    /// kept. Images without metadata are debris once older than a minute.
    async fn sweep(&self, retention: Retention) -> Result<Sweep, StoreError> {
        let Retention { max_bytes, max_age } = retention;
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
                    sweep.kept += usize::from(entry.whole);
                    continue;
                }
                // Metadata first: without it the images are never served.
                for file in entry.files.iter().rev() {
                    remove(file)?;
                }
                sweep.removed += 1;
            }
            Ok(sweep)
        })
        .await
    }

    async fn get(&self, key: &Key) -> Result<Option<Rendered>, StoreError> {
        let (folder, meta_path) = self.paths(key);
        let variant = key.variant().to_string();
        blocking(move || {
            for _ in 0..READ_ATTEMPTS {
                let Some(meta) = read_meta(&meta_path)? else {
                    return Ok(None);
                };
                // None: a writer replaced this version since the metadata
                // was read; read the metadata again.
                let Some((path, bytes)) = read_image(&folder, &variant, &meta)? else {
                    continue;
                };
                let rendered = Rendered::from_parts(bytes.into(), meta);
                if !rendered.is_intact() {
                    return Err(StoreError::Checksum(path.display().to_string()));
                }
                return Ok(Some(rendered));
            }
            Ok(None)
        })
        .await
    }

    async fn meta(&self, key: &Key) -> Result<Option<Meta>, StoreError> {
        let (folder, meta_path) = self.paths(key);
        let variant = key.variant().to_string();
        blocking(move || {
            let meta = read_meta(&meta_path)?;
            // Metadata without its image describes nothing that can be served.
            Ok(meta.filter(|m| image_file(&folder, &variant, m).is_some()))
        })
        .await
    }

    async fn delete(&self, key: &Key) -> Result<bool, StoreError> {
        let (folder, meta_path) = self.paths(key);
        let variant = key.variant().to_string();
        blocking(move || {
            // Metadata first: without it the images are never served.
            let mut existed = remove(&meta_path)?;
            for image in images_of(&folder, &variant)? {
                existed |= remove(&image)?;
            }
            Ok(existed)
        })
        .await
    }

    async fn touch(&self, key: &Key) -> Result<bool, StoreError> {
        let (_, meta_path) = self.paths(key);
        blocking(move || {
            // The metadata's modification time is the render's last use:
            // sweeps order by it. Its contents stay as they are.
            let file = match std::fs::File::options().write(true).open(&meta_path) {
                Ok(file) => file,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
                Err(e) => return Err(io("open", &meta_path)(e)),
            };
            file.set_modified(SystemTime::now())
                .map_err(io("touch", &meta_path))?;
            Ok(true)
        })
        .await
    }

    async fn list(&self, slug: Option<&str>) -> Result<Vec<Listed>, StoreError> {
        let dir = self.dir.clone();
        let slug = slug.map(str::to_string);
        blocking(move || list_renders(&dir, slug.as_deref())).await
    }

    async fn put(&self, key: &Key, rendered: &Rendered) -> Result<(), StoreError> {
        let (folder, meta_path) = self.paths(key);
        let variant = key.variant().to_string();
        let bytes = rendered.bytes.clone();
        let image = image_path(&folder, &variant, &rendered.meta.checksum);
        let meta_json =
            serde_json::to_vec_pretty(&rendered.meta).map_err(|source| StoreError::BadMeta {
                path: meta_path.display().to_string(),
                source,
            })?;
        blocking(move || {
            std::fs::create_dir_all(&folder).map_err(io("create", &folder))?;
            // Written even when a file of that name exists: it may be damaged.
            write_atomic(&folder, &image, &bytes)?;
            write_atomic(&folder, &meta_path, &meta_json)?;
            for old in images_of(&folder, &variant)? {
                if old != image {
                    remove(&old)?;
                }
            }
            Ok(())
        })
        .await
    }
}

#[async_trait::async_trait]
impl DocumentStore for DiskBackend {
    async fn get_document(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.document_path(name)?;
        blocking(move || match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("read", &path)(e)),
        })
        .await
    }

    async fn put_document(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let path = self.document_path(name)?;
        let (dir, bytes) = (self.dir.clone(), bytes.to_vec());
        blocking(move || {
            std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
            write_atomic(&dir, &path, &bytes)
        })
        .await
    }
}

#[async_trait::async_trait]
impl BlobStore for DiskBackend {
    fn scratch_dir(&self) -> PathBuf {
        self.dir.clone()
    }

    async fn put_blob(&self, name: &str, file: &Path) -> Result<u64, StoreError> {
        let target = self.blob_path(name)?;
        let (dir, file) = (self.dir.clone(), file.to_path_buf());
        blocking(move || {
            std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
            let len = std::fs::metadata(&file).map_err(io("read", &file))?.len();
            std::fs::File::open(&file)
                .and_then(|f| f.sync_all())
                .map_err(io("sync", &file))?;
            if std::fs::rename(&file, &target).is_err() {
                // Another file system: copy beside the target, then rename.
                let mut tmp = tempfile::Builder::new()
                    .prefix(TMP_PREFIX)
                    .tempfile_in(&dir)
                    .map_err(io("create temporary file in", &dir))?;
                let mut src = std::fs::File::open(&file).map_err(io("read", &file))?;
                std::io::copy(&mut src, &mut tmp).map_err(io("write", &target))?;
                tmp.as_file().sync_all().map_err(io("sync", &target))?;
                tmp.persist(&target)
                    .map_err(|e| io("rename into", &target)(e.error))?;
                remove(&file)?;
            }
            Ok(len)
        })
        .await
    }

    async fn open_blob(&self, name: &str) -> Result<Option<Blob>, StoreError> {
        let path = self.blob_path(name)?;
        let file = match tokio::fs::File::open(&path).await {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io("open", &path)(e)),
        };
        let len = file.metadata().await.map_err(io("read", &path))?.len();
        let body = Box::pin(tokio_util::io::ReaderStream::new(file));
        Ok(Some(Blob { len, body }))
    }

    async fn delete_blob(&self, name: &str) -> Result<bool, StoreError> {
        let path = self.blob_path(name)?;
        blocking(move || remove(&path)).await
    }
}

/// Removes `path`; `false` when it was not there.
fn remove(path: &Path) -> Result<bool, StoreError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io("remove", path)(e)),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f).await?
}

#[cfg(test)]
mod tests;
