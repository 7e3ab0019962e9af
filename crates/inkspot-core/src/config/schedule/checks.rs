//! The rules for `[schedule]` and each spot's `refresh` and `prerender`.

use std::time::Duration;

use super::super::Config;
use super::super::locate::Seg;
use super::super::locate::{Collector, key};

/// Refreshing more often than this asks too much of public upstreams.
const MIN_REFRESH: Duration = Duration::from_secs(60);

/// `[schedule]` in range; every spot's refresh polite and its prerender
/// presets known.
pub(in crate::config) fn check_schedule(c: &mut Collector, config: &Config) {
    let schedule = &config.schedule;
    if schedule.concurrency == 0 {
        c.add(&[key("schedule"), key("concurrency")], "must be at least 1");
    }
    if schedule.idle.is_zero() {
        c.add(&[key("schedule"), key("idle")], "must be longer than zero");
    }
    let known: Vec<&str> = config.presets.keys().map(String::as_str).collect();
    for (i, spot) in config.spots.iter().enumerate() {
        let at = |k: &str| vec![key("spots"), Seg::Index(i), key(k)];
        if let Some(refresh) = spot.refresh {
            if refresh < MIN_REFRESH {
                c.add(
                    &at("refresh"),
                    "must be at least 1m: public upstreams update hourly at best, and asking more often only loads them",
                );
            } else if refresh > config.cache.max_age {
                let max_age = humantime::format_duration(config.cache.max_age);
                c.warn(
                    &at("refresh"),
                    format!(
                        "is longer than `cache.max_age` ({max_age}): each render expires before the next refresh, and devices get the old image in between"
                    ),
                );
            }
        }
        for (j, name) in spot.prerender.iter().enumerate() {
            if !config.presets.contains_key(name) {
                let mut path = at("prerender");
                path.push(Seg::Index(j));
                c.add(
                    &path,
                    format!("unknown preset `{name}`; known: {}", known.join(", ")),
                );
            }
        }
    }
}
