//! The rules for `[trmnl]` and `[[devices]]`: playlists name spots.

use super::super::Config;
use super::super::locate::Seg;
use super::{Collector, key};

/// Every playlist entry names a configured spot, by name or slug.
pub(super) fn check_devices(c: &mut Collector, config: &Config) {
    let known = |entry: &str| {
        config
            .spots
            .iter()
            .any(|s| s.name.eq_ignore_ascii_case(entry) || s.slug() == entry)
    };
    let names: Vec<&str> = config.spots.iter().map(|s| s.name.as_str()).collect();
    let message = |entry: &str| format!("no spot named `{entry}`; spots: {}", names.join(", "));
    for (j, entry) in config.trmnl.default_playlist.iter().enumerate() {
        if !known(entry) {
            let path = [key("trmnl"), key("default_playlist"), Seg::Index(j)];
            c.add(&path, message(entry));
        }
    }
    for (i, device) in config.devices.list().iter().enumerate() {
        for (j, entry) in device.playlist.iter().enumerate() {
            if !known(entry) {
                let path = [
                    key("devices"),
                    Seg::Index(i),
                    key("playlist"),
                    Seg::Index(j),
                ];
                c.add(&path, message(entry));
            }
        }
    }
}
