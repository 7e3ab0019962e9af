//! The browser's jobs: pictures of pages and crawls, taken through the
//! pipeline's [`Camera`]. A page taken with the same options within
//! `browser.share_window` is shared by every job that asks, whoever its
//! key ("Bob and Alice"): one visit, each job its own result.

mod budget;
mod crawl;
mod pages;
mod shared;
mod shots;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use budget::{BrowserTime, Budget};
pub use crawl::Hosts;
pub(crate) use crawl::{Crawler, crawl};
pub use pages::{PageRow, Pages};
pub use shared::{SharedError, SharedShots};
pub(crate) use shots::{Shooter, screenshots};

use crate::config::Config;
use crate::shot::{Camera, Encoding, Page, ShotError, ShotRequest};
use crate::spec::ShotOptions;

/// The most bytes of pictures kept for sharing.
pub const SHARED_BYTES: u64 = 64 * 1024 * 1024;

/// A picture taken, as the jobs keep it.
#[derive(Debug)]
pub struct Taken {
    /// The picture.
    pub image: Vec<u8>,
    /// How it is encoded (the job's `format`).
    pub encoding: Encoding,
    /// The URL after redirects.
    pub final_url: String,
    /// The document's HTTP status.
    pub status: u16,
    /// Its title.
    pub title: String,
    /// Its links, resolved (crawls only).
    pub links: Vec<String>,
    /// When it was taken.
    pub at: DateTime<Utc>,
}

/// One row of a result's `index.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IndexRow {
    /// The page asked for.
    pub url: String,
    /// The URL after redirects.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub final_url: Option<String>,
    /// The document's HTTP status.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub status: Option<u16>,
    /// Its title.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub title: Option<String>,
    /// The picture's file in the zip.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub file: Option<String>,
    /// When it was taken.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub time: Option<DateTime<Utc>>,
    /// Why it could not be taken.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    /// Hops from the start page (crawls).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub depth: Option<u32>,
    /// The page whose link found it (crawls).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub parent: Option<String>,
}

/// The camera, and the pictures shared within the window: in memory, and
/// between replicas when the storage is shared.
pub struct Browsing {
    camera: Arc<dyn Camera>,
    shared: moka::future::Cache<String, Arc<Taken>>,
    replicas: Option<SharedShots>,
    window: Duration,
}

impl Browsing {
    /// Takes pictures with `camera`, shared for `browser.share_window`,
    /// and through `replicas` when given.
    pub fn new(config: &Config, camera: Arc<dyn Camera>, replicas: Option<SharedShots>) -> Self {
        let shared = moka::future::Cache::builder()
            .time_to_live(config.browser.share_window.max(Duration::from_millis(1)))
            .weigher(|_, taken: &Arc<Taken>| {
                let links: usize = taken.links.iter().map(String::len).sum();
                u32::try_from(taken.image.len() + links + 1024).unwrap_or(u32::MAX)
            })
            .max_capacity(SHARED_BYTES)
            .build();
        Self {
            camera,
            shared,
            replicas,
            window: config.browser.share_window,
        }
    }

    /// A picture another replica took within the window, if any.
    async fn shared_by_replicas(&self, key: &str, encoding: Encoding) -> Option<Taken> {
        let replicas = self.replicas.as_ref()?;
        let since = Utc::now() - chrono::Duration::from_std(self.window).unwrap_or_default();
        match replicas.get(key, since, encoding).await {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read a picture shared by replicas; taking the page here");
                None
            }
        }
    }

    /// Offers `taken` to the other replicas.
    async fn share_with_replicas(&self, key: &str, taken: &Taken) {
        if let Some(replicas) = &self.replicas
            && let Err(e) = replicas.put(key, taken, Utc::now()).await
        {
            tracing::warn!(error = %e, "cannot share a picture with the other replicas");
        }
    }

    /// Forgets the pictures shared by replicas that are past the window.
    pub async fn sweep(&self) {
        let Some(replicas) = &self.replicas else {
            return;
        };
        let before = Utc::now() - chrono::Duration::from_std(self.window).unwrap_or_default();
        if let Err(e) = replicas.sweep(before).await {
            tracing::warn!(error = %e, "cannot delete old pictures shared by replicas");
        }
    }

    /// The picture of `url` with `options`: the one taken within the
    /// window, the one being taken now, or a new one; and the browser time
    /// this call spent (nothing for a shared picture).
    pub async fn take(
        &self,
        url: &url::Url,
        options: &ShotOptions,
        links: bool,
        now: DateTime<Utc>,
    ) -> (Result<Arc<Taken>, Arc<ShotError>>, Duration) {
        let key = serde_json::json!({ "url": url.as_str(), "options": options, "links": links });
        let key = blake3::hash(key.to_string().as_bytes())
            .to_hex()
            .to_string();
        let request = request(url, options, links);
        let took = std::sync::Mutex::new(Duration::ZERO);
        let taken = self
            .shared
            .try_get_with(key.clone(), async {
                if let Some(found) = self.shared_by_replicas(&key, options.format).await {
                    return Ok(Arc::new(found));
                }
                let started = std::time::Instant::now();
                let shot = self.camera.shoot(request).await;
                *took.lock().unwrap_or_else(|e| e.into_inner()) = started.elapsed();
                let shot = shot?;
                let taken = Taken {
                    image: shot.image,
                    encoding: options.format,
                    final_url: shot.final_url,
                    status: shot.status,
                    title: shot.title,
                    links: shot.links,
                    at: now,
                };
                self.share_with_replicas(&key, &taken).await;
                Ok(Arc::new(taken))
            })
            .await;
        let took = *took.lock().unwrap_or_else(|e| e.into_inner());
        (taken, took)
    }

    /// The text at `url`, under the pages' address rules.
    pub async fn text(&self, url: &url::Url, max: usize) -> Result<Option<String>, ShotError> {
        self.camera.fetch_text(url, max).await
    }
}

fn request(url: &url::Url, options: &ShotOptions, links: bool) -> ShotRequest {
    let mut request = ShotRequest::new(Page::Url(url.clone()), options.width, options.height);
    request.wait_for = options.wait_for.clone();
    request.delay = (options.delay_ms > 0).then(|| Duration::from_millis(options.delay_ms));
    request.full_page = options.full_page;
    request.links = links;
    request.job = true;
    request.encoding = options.format;
    request
}

/// What the owner of a page that failed is told: the browser's reason,
/// which names the page and the rule, nothing internal.
pub fn describe(e: &ShotError) -> String {
    e.to_string()
}

/// A page that answered an error status: taken, and said so.
pub fn status_problem(status: u16) -> Option<String> {
    (status >= 400).then(|| format!("the page answered HTTP {status}"))
}

/// A screenshots job's or crawl's result as one JSON document: its
/// `index.json`, each row with its picture as base64 (`image`), for
/// clients that want every answer in one body.
pub fn results(zip_bytes: &[u8]) -> Result<serde_json::Value, String> {
    use base64::Engine as _;
    use std::io::Read;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes))
        .map_err(|e| format!("the result is not a zip: {e}"))?;
    let index: Vec<IndexRow> = {
        let mut file = archive.by_name("index.json").map_err(|_| {
            "the result has no index.json: it is not a screenshots job or crawl".to_string()
        })?;
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(|e| e.to_string())?;
        serde_json::from_str(&text).map_err(|e| e.to_string())?
    };
    let mut rows = Vec::with_capacity(index.len());
    for row in index {
        let mut value = serde_json::to_value(&row).unwrap_or_default();
        if let Some(name) = &row.file {
            let mut bytes = Vec::new();
            archive
                .by_name(name)
                .map_err(|e| e.to_string())?
                .read_to_end(&mut bytes)
                .map_err(|e| e.to_string())?;
            value["image"] = base64::engine::general_purpose::STANDARD
                .encode(&bytes)
                .into();
            let encoding = crate::shot::Encoding::of_file(name).unwrap_or_default();
            value["media_type"] = encoding.media_type().into();
        }
        rows.push(value);
    }
    Ok(serde_json::json!({ "results": rows }))
}
