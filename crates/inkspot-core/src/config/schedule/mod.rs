//! `[schedule]`: rendering ahead of requests, and the per-spot keys that
//! shape it (`refresh`, `active_hours`, `prerender`), with their defaults.

/// The rules this section must satisfy beyond its types, checked at load.
pub(super) mod checks;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::NaiveTime;
use serde::{Deserialize, Deserializer};

/// `[schedule]`: fetch and draw every spot before its render expires, so a
/// display never waits for an upstream.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleConfig {
    /// Whether spots are refreshed on a schedule. Off, a spot is fetched
    /// only when a request finds its render expired. Default `true`.
    pub enabled: bool,
    /// Spots refreshed at the same time, at most. Default `2`.
    pub concurrency: usize,
    /// Each run starts up to this much earlier than planned, at random, so
    /// servers with the same config do not all ask upstreams at the same
    /// second. At most a tenth of the spot's `refresh` is used. Default `1m`.
    #[serde(deserialize_with = "super::units::duration")]
    pub jitter: Duration,
    /// At start-up, refresh at once the spots whose renders on disk are
    /// missing or due; fresh ones wait for their turn. `false` waits for
    /// every spot's turn. Default `true`.
    pub startup: bool,
    /// A variant that clients asked for (a size, a preset) is drawn on
    /// every refresh until nobody has asked for it for this long. Default `24h`.
    #[serde(deserialize_with = "super::units::duration")]
    pub idle: Duration,
    /// Variants that requests may add to the schedule, over all spots;
    /// more are still drawn on request, but not ahead of it. Default `32`.
    pub max_requested: usize,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            concurrency: 2,
            jitter: Duration::from_secs(60),
            startup: true,
            idle: Duration::from_secs(24 * 3600),
            max_requested: 32,
        }
    }
}

/// The longest margin between a scheduled refresh and the expiry of the
/// render it replaces.
pub(super) const MAX_MARGIN: Duration = Duration::from_secs(300);

/// `active_hours = "06:00-21:00"`: the local times in which a spot is
/// refreshed. An end before the start crosses midnight (`"22:00-02:00"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActiveHours {
    /// The first minute of the window.
    pub start: NaiveTime,
    /// The first minute after it.
    pub end: NaiveTime,
}

impl ActiveHours {
    /// Whether the local time `t` is inside the window.
    pub fn contains(&self, t: NaiveTime) -> bool {
        if self.start <= self.end {
            self.start <= t && t < self.end
        } else {
            t >= self.start || t < self.end
        }
    }
}

impl FromStr for ActiveHours {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let form =
            "write it like \"06:00-21:00\" (24-hour local times; \"22:00-02:00\" crosses midnight)";
        let (a, b) = s
            .split_once('-')
            .ok_or_else(|| format!("`{s}` is not a time window; {form}"))?;
        let time = |t: &str| {
            NaiveTime::parse_from_str(t.trim(), "%H:%M")
                .map_err(|_| format!("`{}` is not a time of day; {form}", t.trim()))
        };
        let (start, end) = (time(a)?, time(b)?);
        if start == end {
            return Err(format!(
                "`{s}` starts and ends at the same time: a window needs a length (leave the key out for all day)"
            ));
        }
        Ok(Self { start, end })
    }
}

impl fmt::Display for ActiveHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}",
            self.start.format("%H:%M"),
            self.end.format("%H:%M")
        )
    }
}

/// An optional `active_hours` string.
pub(super) fn active_hours<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<ActiveHours>, D::Error> {
    let text: String = Deserialize::deserialize(d)?;
    text.parse().map(Some).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Spot};
    use rstest::rstest;

    fn t(s: &str) -> NaiveTime {
        NaiveTime::parse_from_str(s, "%H:%M").unwrap()
    }

    #[rstest]
    #[case("06:00-21:00", "05:59", false)]
    #[case("06:00-21:00", "06:00", true)]
    #[case("06:00-21:00", "20:59", true)]
    #[case("06:00-21:00", "21:00", false)]
    #[case("22:00-02:00", "23:30", true)]
    #[case("22:00-02:00", "01:59", true)]
    #[case("22:00-02:00", "02:00", false)]
    #[case("22:00-02:00", "12:00", false)]
    fn windows_hold_their_start_and_not_their_end(
        #[case] window: &str,
        #[case] at: &str,
        #[case] inside: bool,
    ) {
        let w: ActiveHours = window.parse().unwrap();
        assert_eq!(w.contains(t(at)), inside);
        assert_eq!(w.to_string(), window);
    }

    #[rstest]
    #[case("6am-9pm", "`6am` is not a time of day")]
    #[case("06:00", "is not a time window")]
    #[case("06:00-06:00", "starts and ends at the same time")]
    #[case("06:00-25:00", "`25:00` is not a time of day")]
    fn bad_windows_say_what_to_write(#[case] text: &str, #[case] says: &str) {
        let err = text.parse::<ActiveHours>().unwrap_err();
        assert!(err.contains(says), "{err}");
    }

    #[rstest]
    #[case(3600, 3300)]
    #[case(600, 540)]
    #[case(86400, 86100)]
    fn the_default_refresh_comes_before_expiry(#[case] max_age: u64, #[case] refresh: u64) {
        let mut config: Config = toml::from_str("").unwrap();
        config.cache.max_age = Duration::from_secs(max_age);
        let spot: Spot = toml::from_str("name = \"x\"").unwrap();
        assert_eq!(config.refresh_of(&spot), Duration::from_secs(refresh));
    }
}
