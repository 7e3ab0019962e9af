//! The rules for `[trmnl]` and `[[devices]]`: playlists name spots and
//! presets, and the sleeps a device is told make sense.

use std::time::Duration;

use super::super::locate::Seg;
use super::super::locate::{Collector, key};
use super::super::{Config, PlaylistItem};

/// The longest sleep the firmware is told (a day).
const MAX_SLEEP: Duration = Duration::from_secs(86_400);

pub(in crate::config) fn check_devices(c: &mut Collector, config: &Config) {
    let trmnl = &config.trmnl;
    if trmnl.min_refresh > trmnl.max_refresh {
        c.add(
            &[key("trmnl"), key("min_refresh")],
            "is longer than `trmnl.max_refresh`",
        );
    }
    if trmnl.sleep.is_zero() || trmnl.sleep > MAX_SLEEP {
        c.add(
            &[key("trmnl"), key("sleep")],
            "must be between 1s and 24h: the firmware sleeps at most a day",
        );
    }
    if trmnl.update_min_battery > 100 {
        c.add(
            &[key("trmnl"), key("update_min_battery")],
            "is a percentage: 0 to 100",
        );
    }
    if let Some(url) = &trmnl.firmware_latest
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        c.add(
            &[key("trmnl"), key("firmware_latest")],
            format!(
                "`{url}` is not an http(s) URL, such as \"https://trmnl.com/api/firmware/latest\""
            ),
        );
    }
    if trmnl.firmware_latest.is_some()
        && trmnl
            .firmware_latest_models
            .iter()
            .all(|m| m.trim().is_empty())
    {
        c.add(
            &[key("trmnl"), key("firmware_latest_models")],
            "name the `Model` values the published image is built for, such as [\"og\"]",
        );
    }
    if trmnl.update_attempts == 0 {
        c.add(
            &[key("trmnl"), key("update_attempts")],
            "must be at least 1: with 0 no device is ever offered an update",
        );
    }
    let at = [key("trmnl"), key("default_playlist")];
    check_playlist(c, config, &at, &trmnl.default_playlist);
    for (i, device) in config.devices.list().iter().enumerate() {
        let at = [key("devices"), Seg::Index(i), key("playlist")];
        check_playlist(c, config, &at, &device.playlist);
    }
}

/// Every item names a configured spot (by name or slug) and a known
/// preset, and stays on the panel for a while if it says how long.
fn check_playlist(c: &mut Collector, config: &Config, at: &[Seg], items: &[PlaylistItem]) {
    let names: Vec<&str> = config.spots.iter().map(|s| s.name.as_str()).collect();
    let presets: Vec<&str> = config.presets.keys().map(String::as_str).collect();
    for (j, item) in items.iter().enumerate() {
        let path = |k: Option<&str>| {
            let mut p = at.to_vec();
            p.push(Seg::Index(j));
            p.extend(k.map(key));
            p
        };
        let known = config
            .spots
            .iter()
            .any(|s| s.name.eq_ignore_ascii_case(&item.spot) || s.slug() == item.spot);
        if !known {
            let message = format!("no spot named `{}`; spots: {}", item.spot, names.join(", "));
            // A bare name is located at the item; a table at its `spot`.
            let is_table = item.preset.is_some() || item.duration.is_some() || item.hours.is_some();
            c.add(&path(is_table.then_some("spot")), message);
        }
        if let Some(preset) = &item.preset
            && !config.presets.contains_key(preset)
        {
            let message = format!("unknown preset `{preset}`; known: {}", presets.join(", "));
            c.add(&path(Some("preset")), message);
        }
        if item.duration.is_some_and(|d| d < Duration::from_secs(1)) {
            c.add(&path(Some("duration")), "must be at least 1s");
        }
    }
}
