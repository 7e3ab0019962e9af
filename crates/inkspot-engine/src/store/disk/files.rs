//! The files of the disk backend: their names, reading them, listing them,
//! and writing one atomically.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::store::{Checksum, Key, Listed, Meta, StoreError};

/// Prefix of temporary files; anything with it is debris from a crash.
pub(super) const TMP_PREFIX: &str = ".tmp-";

/// One render on disk: its files, their total size, and when it was stored.
pub(super) struct Entry {
    /// Images first, metadata last, so removal in reverse drops metadata first.
    pub files: Vec<PathBuf>,
    pub bytes: u64,
    pub stored: SystemTime,
    /// Whether it has its metadata.
    pub whole: bool,
}

pub(super) fn io(
    op: &'static str,
    path: &Path,
) -> impl FnOnce(std::io::Error) -> StoreError + use<> {
    let path = path.display().to_string();
    move |source| StoreError::Io { op, path, source }
}

/// The image file of `variant` with `checksum`.
pub(super) fn image_path(folder: &Path, variant: &str, checksum: &Checksum) -> PathBuf {
    let hash = checksum.to_string();
    folder.join(format!("{variant}.{}.img", &hash[..16]))
}

/// The image file the metadata describes, if it exists: by checksum, or in
/// the earlier layout.
pub(super) fn image_file(folder: &Path, variant: &str, meta: &Meta) -> Option<PathBuf> {
    [
        image_path(folder, variant, &meta.checksum),
        folder.join(format!("{variant}.img")),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

/// The image the metadata describes and its path, or `None` when it is gone.
pub(super) fn read_image(
    folder: &Path,
    variant: &str,
    meta: &Meta,
) -> Result<Option<(PathBuf, Vec<u8>)>, StoreError> {
    let Some(path) = image_file(folder, variant, meta) else {
        return Ok(None);
    };
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some((path, bytes))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io("read", &path)(e)),
    }
}

/// Every image file of `variant`, of any version or layout.
pub(super) fn images_of(folder: &Path, variant: &str) -> Result<Vec<PathBuf>, StoreError> {
    let entries = match std::fs::read_dir(folder) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io("list", folder)(e)),
    };
    Ok(entries
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.ends_with(".img") && variant_of(&name) == Some(variant)
        })
        .map(|e| e.path())
        .collect())
}

/// The variant a file belongs to: its name up to the first dot (variants
/// are `[a-z0-9-]`).
fn variant_of(name: &str) -> Option<&str> {
    name.split_once('.').map(|(variant, _)| variant)
}

/// The metadata at `path`, or `None` when there is no such file.
pub(super) fn read_meta(path: &Path) -> Result<Option<Meta>, StoreError> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io("read", path)(e)),
    };
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|source| StoreError::BadMeta {
            path: path.display().to_string(),
            source,
        })
}

/// Every whole render under `dir` (for the spot `slug` only, if given), with
/// its metadata; damaged metadata is skipped, as it is never served.
pub(super) fn list_renders(dir: &Path, slug: Option<&str>) -> Result<Vec<Listed>, StoreError> {
    let spots: Vec<PathBuf> = match slug {
        Some(slug) => vec![dir.join(slug)],
        None => std::fs::read_dir(dir)
            .map_err(io("list", dir))?
            .flatten()
            .map(|e| e.path())
            .collect(),
    };
    let mut out = Vec::new();
    for folder in spots.iter().filter(|p| p.is_dir()) {
        let Some(spot) = folder.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        for file in std::fs::read_dir(folder)
            .map_err(io("list", folder))?
            .flatten()
        {
            let name = file.file_name().to_string_lossy().into_owned();
            let Some(key) = name
                .strip_suffix(".meta.json")
                .and_then(|variant| Key::parse(spot, variant))
            else {
                continue;
            };
            let Ok(Some(meta)) = read_meta(&file.path()) else {
                continue;
            };
            let Some(image) = image_file(folder, key.variant(), &meta) else {
                continue;
            };
            let bytes = image.metadata().map(|m| m.len()).unwrap_or(0);
            out.push(Listed { key, meta, bytes });
        }
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

/// Every render under `dir`, grouped by variant from its image and
/// metadata files; `stored` is the newest of their times.
pub(super) fn list_entries(dir: &Path) -> Result<Vec<Entry>, StoreError> {
    let mut by_variant: HashMap<PathBuf, Entry> = HashMap::new();
    for spot in std::fs::read_dir(dir).map_err(io("list", dir))?.flatten() {
        if !spot.path().is_dir() {
            continue;
        }
        for file in std::fs::read_dir(spot.path())
            .map_err(io("list", &spot.path()))?
            .flatten()
        {
            let name = file.file_name().to_string_lossy().into_owned();
            let is_meta = name.ends_with(".meta.json");
            let variant = match variant_of(&name) {
                Some(v) if is_meta || name.ends_with(".img") => v,
                _ => continue,
            };
            let Ok(meta) = file.metadata() else { continue };
            let stored = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            let entry = by_variant
                .entry(spot.path().join(variant))
                .or_insert_with(|| Entry {
                    files: Vec::new(),
                    bytes: 0,
                    stored,
                    whole: false,
                });
            entry.bytes += meta.len();
            entry.stored = entry.stored.max(stored);
            entry.whole |= is_meta;
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
pub(super) fn write_atomic(folder: &Path, target: &Path, data: &[u8]) -> Result<(), StoreError> {
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
