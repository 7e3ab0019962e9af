//! Render files on disk: `<dir>/<spot>/<variant>.png` with its metadata in
//! `<variant>.meta.json`. Each file is written to a temporary file in the
//! same folder and renamed into place; the image goes first and the metadata,
//! which holds the image's checksum, last, so a crash between the two leaves
//! an image whose checksum does not match, which is never served.

use std::path::{Path, PathBuf};

use super::{Key, Meta, Rendered};

/// Prefix of temporary files; anything with it is debris from a crash.
const TMP_PREFIX: &str = ".tmp-";

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
        let folder = self.dir.join(&key.spot);
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
