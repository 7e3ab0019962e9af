//! The rules for `[history]` and each spot's `history`.

use std::time::Duration;

use super::super::Config;
use super::super::locate::{Collector, Seg, key};
use super::Retention;

/// Raw samples are rolled up by the hour, so they must outlive one.
const MIN_RAW: Duration = Duration::from_secs(2 * 3600);

/// Every retention long enough to roll up, and rollups kept at least as
/// long as the raw rows they summarise.
pub(in crate::config) fn check_history(c: &mut Collector, config: &Config) {
    let at = |k: &str| vec![key("history"), key(k)];
    check_retention(c, config.history.retention(None), &at);
    if config.history.max_memory.as_u64() < 1024 * 1024 {
        c.add(&at("max_memory"), "must be at least 1MiB");
    }
    if config.history.max_disk.as_u64() < 1024 * 1024 {
        c.add(&at("max_disk"), "must be at least 1MiB");
    }
    for (i, spot) in config.spots.iter().enumerate() {
        if let Some(own) = &spot.history {
            let at = |k: &str| vec![key("spots"), Seg::Index(i), key("history"), key(k)];
            check_retention(c, config.history.retention(Some(own)), &at);
        }
    }
}

fn check_retention(c: &mut Collector, kept: Retention, at: &dyn Fn(&str) -> Vec<Seg>) {
    if kept.raw < MIN_RAW {
        c.add(
            &at("keep_raw"),
            "must be at least 2h: raw samples are rolled up by the hour",
        );
    }
    if kept.hourly < kept.raw {
        c.add(
            &at("keep_hourly"),
            "must be at least as long as `keep_raw`: the hourly rollups summarise the raw samples",
        );
    }
}
