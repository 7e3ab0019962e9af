//! `[history]`: how long the values every fetch extracts are kept, and a
//! spot's own `history = { ... }` overriding it.

/// The rules this section must satisfy beyond its types, checked at load.
pub(super) mod checks;

use std::time::Duration;

use bytesize::ByteSize;
use serde::Deserialize;

/// `[history]`: every numeric field a fetch extracts is kept as a sample in
/// the database (the same one as devices and jobs), then rolled up hourly.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistoryConfig {
    /// Whether samples are kept at all. Default `true`.
    pub enabled: bool,
    /// How long raw samples are kept. Default `10d`.
    #[serde(deserialize_with = "super::units::duration")]
    pub keep_raw: Duration,
    /// How long the hourly rollups (min, max, mean, last, count) are kept.
    /// Default `400d`.
    #[serde(deserialize_with = "super::units::duration")]
    pub keep_hourly: Duration,
    /// The most the samples and rollups may take in the database; past it,
    /// the oldest rows go first. Default `512MiB`.
    #[serde(deserialize_with = "super::units::size")]
    pub max_disk: ByteSize,
    /// The most the spots' and devices' recent values (what templates'
    /// `history()` reads) may hold in memory; past it, the least recently
    /// used are dropped and read from the database again when asked.
    /// Default `64MiB`.
    #[serde(deserialize_with = "super::units::size")]
    pub max_memory: ByteSize,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            keep_raw: Duration::from_secs(10 * 86_400),
            keep_hourly: Duration::from_secs(400 * 86_400),
            max_disk: ByteSize::mib(512),
            max_memory: ByteSize::mib(64),
        }
    }
}

/// A spot's `history = { keep_raw = "30d", keep_hourly = "2y" }`: its own
/// retention, either key falling back to `[history]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpotHistory {
    /// Raw samples kept this long instead of `history.keep_raw`.
    #[serde(default, deserialize_with = "super::units::opt_duration")]
    pub keep_raw: Option<Duration>,
    /// Hourly rollups kept this long instead of `history.keep_hourly`.
    #[serde(default, deserialize_with = "super::units::opt_duration")]
    pub keep_hourly: Option<Duration>,
}

/// How long one spot's samples are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Raw samples.
    pub raw: Duration,
    /// Hourly rollups.
    pub hourly: Duration,
}

impl HistoryConfig {
    /// The retention of a spot with `own` overrides.
    pub fn retention(&self, own: Option<&SpotHistory>) -> Retention {
        Retention {
            raw: own.and_then(|o| o.keep_raw).unwrap_or(self.keep_raw),
            hourly: own.and_then(|o| o.keep_hourly).unwrap_or(self.keep_hourly),
        }
    }
}
