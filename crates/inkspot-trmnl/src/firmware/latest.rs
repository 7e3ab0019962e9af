//! TRMNL's published latest firmware (`trmnl.firmware_latest`, off by
//! default): `GET <url>` answers `{"version": "1.8.16", "url": "…bin"}`, as
//! trmnl.com's `/api/firmware/latest` does; the image is fetched within
//! [`MAX_IMAGE_BYTES`], checked (an ESP32 application image, a version) and
//! kept in the cache folder (beside the database, as `firmware-*` files the
//! render store's sweep leaves alone), so a restart without internet still
//! has it.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use super::catalog::Image;
use super::catalog::{MAX_IMAGE_BYTES, parse_version};

/// What the kept image is, beside it.
const MANIFEST: &str = "firmware-latest.json";

/// The first byte of an ESP32 application image (`ESP_IMAGE_HEADER_MAGIC`).
const ESP_IMAGE_MAGIC: u8 = 0xE9;

/// How long one check may take, the image's download included.
pub const FETCH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Why the published firmware was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LatestError {
    /// The request failed.
    #[error("{url}: {source}")]
    Http {
        /// What was asked.
        url: String,
        /// Why.
        source: reqwest::Error,
    },
    /// The answer was not 200.
    #[error("{url}: HTTP {status}")]
    Status {
        /// What was asked.
        url: String,
        /// Its status.
        status: u16,
    },
    /// The answer is not what TRMNL publishes, or the image not an image.
    #[error("{0}")]
    Refused(String),
    /// Keeping it on disk failed.
    #[error("cannot keep {path}: {source}")]
    Keep {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// What the latest-firmware endpoint answers.
#[derive(Debug, Deserialize)]
struct Published {
    version: String,
    url: String,
}

/// What is kept beside the image, to load it again at start.
#[derive(Debug, Serialize, Deserialize)]
struct Kept {
    file: String,
    version: String,
    models: Vec<String>,
    sha256: String,
}

/// The latest image published at `source`, for devices that send one of
/// `models`: asked, fetched and checked.
pub async fn fetch(
    client: &reqwest::Client,
    source: &str,
    models: &[String],
) -> Result<Image, LatestError> {
    let published: Published = serde_json::from_slice(&get(client, source, 64 * 1024).await?)
        .map_err(|e| {
            LatestError::Refused(format!("{source}: not {{\"version\", \"url\"}}: {e}"))
        })?;
    let version = parse_version(&published.version).ok_or_else(|| {
        LatestError::Refused(format!(
            "{source}: `{}` is not a version",
            published.version
        ))
    })?;
    if !published.url.starts_with("https://") && !published.url.starts_with("http://") {
        return Err(LatestError::Refused(format!(
            "{source}: the image's URL `{}` is not http(s)",
            published.url
        )));
    }
    let bytes = get(client, &published.url, MAX_IMAGE_BYTES as usize).await?;
    if bytes.first() != Some(&ESP_IMAGE_MAGIC) || bytes.len() < 1024 {
        return Err(LatestError::Refused(format!(
            "{}: not an ESP32 application image ({} bytes, first byte {:#04x})",
            published.url,
            bytes.len(),
            bytes.first().copied().unwrap_or(0)
        )));
    }
    Ok(Image {
        file: format!("trmnl-{version}.bin"),
        sha256: hex::encode(Sha256::digest(&bytes)),
        version,
        models: models
            .iter()
            .map(|m| m.trim().to_ascii_lowercase())
            .collect(),
        bytes,
    })
}

/// The body of `url`, at most `limit` bytes.
async fn get(client: &reqwest::Client, url: &str, limit: usize) -> Result<Bytes, LatestError> {
    let http = |source| LatestError::Http {
        url: url.to_string(),
        source,
    };
    let mut response = client.get(url).send().await.map_err(http)?;
    if !response.status().is_success() {
        let status = response.status().as_u16();
        return Err(LatestError::Status {
            url: url.to_string(),
            status,
        });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(http)? {
        if body.len() + chunk.len() > limit {
            return Err(LatestError::Refused(format!("{url}: over {limit} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
}

/// Keeps `image` in `dir` (written whole or not at all), with what it is.
pub fn keep(dir: &Path, image: &Image) -> Result<(), LatestError> {
    let failed = |path: &Path| {
        let path = path.to_path_buf();
        move |source| LatestError::Keep { path, source }
    };
    std::fs::create_dir_all(dir).map_err(failed(dir))?;
    let file = dir.join(format!("firmware-{}", image.file));
    write_atomic(&file, &image.bytes).map_err(failed(&file))?;
    let kept = Kept {
        file: image.file.clone(),
        version: image.version.to_string(),
        models: image.models.clone(),
        sha256: image.sha256.clone(),
    };
    let text = serde_json::to_vec_pretty(&kept).unwrap_or_default();
    let manifest = dir.join(MANIFEST);
    write_atomic(&manifest, &text).map_err(failed(&manifest))
}

/// The image kept in `dir`, when there is one and its bytes are still
/// those that were checked.
pub fn kept(dir: &Path) -> Option<Image> {
    let kept: Kept = serde_json::from_slice(&std::fs::read(dir.join(MANIFEST)).ok()?).ok()?;
    let plain = !kept.file.contains(['/', '\\']) && !kept.file.starts_with('.');
    let path = dir.join(format!("firmware-{}", kept.file));
    let bytes = std::fs::read(path).ok().filter(|_| plain)?;
    if hex::encode(Sha256::digest(&bytes)) != kept.sha256 || bytes.len() as u64 > MAX_IMAGE_BYTES {
        tracing::warn!(file = %kept.file, "the kept firmware image does not match its checksum; it is not offered");
        return None;
    }
    Some(Image {
        file: kept.file,
        version: parse_version(&kept.version)?,
        models: kept.models,
        sha256: kept.sha256,
        bytes: Bytes::from(bytes),
    })
}

/// Writes `bytes` to `path` through a temporary file renamed over it.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
