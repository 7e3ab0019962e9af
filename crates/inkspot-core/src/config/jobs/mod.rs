//! `[jobs]` and `[[api_keys]]`: the job API's limits, and the keys that
//! may use it.

/// The rules this section must satisfy beyond its types, checked at load.
pub(super) mod checks;

use std::time::Duration;

use bytesize::ByteSize;
use serde::Deserialize;

use super::Secret;

/// `[jobs]`: batches of renders and animations submitted to `/api/jobs`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    /// Renders one job may list. Default `64`.
    pub max_items: usize,
    /// Frames one animation may have. Default `48`.
    pub max_frames: usize,
    /// Pixels (width × height) one animation frame may have; at most
    /// `server.max_pixels`. Default `1048576` (1 Mi pixels: 1280×800).
    pub max_frame_pixels: u64,
    /// Renders and frames jobs may have in flight at once. The rest of the
    /// render queue and of the drawing threads stays for displays, so jobs
    /// cannot starve them. Default `1`.
    pub concurrency: usize,
    /// A job identical to one submitted this recently (or still queued or
    /// running) is answered with that job instead of a new one. Default `10m`.
    #[serde(deserialize_with = "super::units::duration")]
    pub dedupe_window: Duration,
    /// How long a finished job's result can be downloaded; then it is
    /// deleted and the job says `expired`. Default `24h`.
    #[serde(deserialize_with = "super::units::duration")]
    pub keep_results: Duration,
    /// The largest result one job may write (its zip or animation); a job
    /// that passes it fails, saying so. Default `64MiB`.
    #[serde(deserialize_with = "super::units::size")]
    pub max_result_bytes: ByteSize,
    /// The results of every key's jobs together, kept beside the renders
    /// (and apart from `cache.max_disk`); while they fill it, new jobs are
    /// answered 507 until results expire or are deleted. Default `1GiB`.
    #[serde(deserialize_with = "super::units::size")]
    pub max_disk: ByteSize,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            max_items: 64,
            max_frames: 48,
            max_frame_pixels: 1024 * 1024,
            concurrency: 1,
            dedupe_window: Duration::from_secs(600),
            keep_results: Duration::from_secs(86_400),
            max_result_bytes: ByteSize::mib(64),
            max_disk: ByteSize::gib(1),
        }
    }
}

/// `[[api_keys]]`: one client of the job API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// Who holds it, for logs and metrics (the key itself is never logged).
    pub name: String,
    /// The key, sent as `Authorization: Bearer <key>`; at least 16
    /// characters. Give this or `key_env`.
    #[serde(default)]
    pub key: Option<Secret>,
    /// The environment variable that holds the key, so it stays out of the
    /// file.
    #[serde(default)]
    pub key_env: Option<String>,
    /// Job API requests per minute with this key; `0` turns the limit off.
    /// Default `60`.
    #[serde(default = "default_per_minute")]
    pub per_minute: u32,
    /// Jobs of this key that may be queued or running at once. Default `4`.
    #[serde(default = "default_max_jobs")]
    pub max_jobs: usize,
    /// Bytes of results this key's jobs may keep at once; a job past it
    /// fails, and new ones are refused (429 `quota_exceeded`) until results
    /// expire or the key deletes them. Default `256MiB`.
    #[serde(default = "default_max_bytes", deserialize_with = "super::units::size")]
    pub max_bytes: ByteSize,
    /// Seconds of browser time this key's screenshot jobs and crawls may
    /// use in any hour (a picture shared from another job costs nothing);
    /// past it new ones are refused (429 `browser_quota`) and a running
    /// one's remaining pages fail, saying so. Default `600`.
    #[serde(default = "default_browser_seconds")]
    pub browser_seconds: u64,
}

fn default_browser_seconds() -> u64 {
    600
}

fn default_per_minute() -> u32 {
    60
}

fn default_max_jobs() -> usize {
    4
}

fn default_max_bytes() -> ByteSize {
    ByteSize::mib(256)
}
