//! `[trmnl]`, `[database]` and `[[devices]]`: TRMNL devices served by the
//! bring-your-own-server API, and where their state is kept.

/// The rules this section must satisfy beyond its types, checked at load.
pub(super) mod checks;
mod sleep;

pub use sleep::{SleepPeriod, Weekdays};

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, de};

use super::{ActiveHours, OutputOptions, PlaylistItem};

/// `[trmnl]`: how TRMNL devices are answered.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrmnlConfig {
    /// Whether a device not in `[[devices]]` that calls `/api/setup` joins,
    /// with a new key; off, it is told its MAC is not registered.
    /// Default `false`.
    pub auto_join: bool,
    /// The playlist of a device with none of its own (see
    /// `devices.playlist`). Default: every spot, in config order.
    pub default_playlist: Vec<PlaylistItem>,
    /// How long a device sleeps when its spot has no scheduled refresh.
    /// Default `15m`.
    #[serde(deserialize_with = "super::units::duration")]
    pub refresh: Duration,
    /// The shortest sleep a device is told (`refresh_rate`). Default `60s`.
    #[serde(deserialize_with = "super::units::duration")]
    pub min_refresh: Duration,
    /// The longest sleep a device is told, quiet hours aside. Default `1h`.
    #[serde(deserialize_with = "super::units::duration")]
    pub max_refresh: Duration,
    /// The address devices reach this server at, such as
    /// `"http://192.168.1.20:8080"`: image URLs start with it. Default: the
    /// scheme and `Host` of the device's own request.
    pub public_url: Option<String>,
    /// `/api/log` entries kept per device. Default `50`.
    pub keep_logs: usize,
    /// The largest `/api/log` body accepted. Default `64KiB`.
    #[serde(deserialize_with = "super::units::size")]
    pub max_log_bytes: bytesize::ByteSize,
    /// Telemetry rows kept per device, newest first. Default `2000` (three
    /// weeks at one wake every 15 minutes).
    pub keep_history: usize,
    /// How long the `sleep` double-click puts a device to sleep, keeping
    /// its image, at most `24h`. Default `8h`.
    #[serde(deserialize_with = "super::units::duration")]
    pub sleep: Duration,
    /// Display calls a device may make per minute; past it, it is answered
    /// 429 with a longer `refresh_rate`. `0` turns the limit off. Default
    /// `6`.
    pub rate_limit: u32,
    /// How long `inkspot devices pair MAC` lets a set-up device fetch its
    /// key again from `/api/setup` (after a reset). Default `15m`.
    #[serde(deserialize_with = "super::units::duration")]
    pub pairing_window: Duration,
    /// The most devices the registry keeps; past it no device joins by
    /// `auto_join` (configured ones always may). Default `100`.
    pub max_devices: usize,
    /// Devices one client address may join by `auto_join` per hour.
    /// Default `10`.
    pub joins_per_hour: u32,
    /// The folder of firmware images offered to devices, relative to the
    /// config's folder, with a `firmware.toml` declaring each image's
    /// version, models and SHA-256 (checked at start). Default: none, no
    /// updates.
    pub firmware_dir: Option<PathBuf>,
    /// Where TRMNL publishes its latest firmware, asked every 6 hours when
    /// set: `"https://trmnl.com/api/firmware/latest"` answers `{"version",
    /// "url"}`. The image is fetched, checked (an ESP32 application image
    /// within 16 MiB) and kept in the cache folder. Default: off.
    pub firmware_latest: Option<String>,
    /// The `Model` values the published latest image is built for.
    /// Default `["og"]` (TRMNL OG).
    pub firmware_latest_models: Vec<String>,
    /// Whether every device may be offered a firmware update;
    /// `devices.firmware_updates` overrides it per device. Default `false`.
    pub firmware_updates: bool,
    /// The battery, percent, a device needs for an update offer unless it
    /// is on USB power. Default `50`.
    pub update_min_battery: u8,
    /// Local times (in the device's `timezone`) in which updates are
    /// offered, e.g. `"02:00-05:00"`. Default: any time.
    #[serde(deserialize_with = "super::schedule::active_hours")]
    pub update_hours: Option<ActiveHours>,
    /// Offers of one version a device may fail (come back still on its old
    /// version) before that version is held from it until an operator
    /// clears it. Default `2`.
    pub update_attempts: u32,
}

impl Default for TrmnlConfig {
    fn default() -> Self {
        Self {
            auto_join: false,
            default_playlist: Vec::new(),
            refresh: Duration::from_secs(900),
            min_refresh: Duration::from_secs(60),
            max_refresh: Duration::from_secs(3600),
            public_url: None,
            keep_logs: 50,
            max_log_bytes: bytesize::ByteSize::kib(64),
            keep_history: 2000,
            sleep: Duration::from_secs(8 * 3600),
            rate_limit: 6,
            pairing_window: Duration::from_secs(15 * 60),
            max_devices: 100,
            joins_per_hour: 10,
            firmware_dir: None,
            firmware_latest: None,
            firmware_latest_models: vec!["og".to_string()],
            firmware_updates: false,
            update_min_battery: 50,
            update_hours: None,
            update_attempts: 2,
        }
    }
}

/// `[database]`: where devices, keys, telemetry, logs and jobs are kept.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// The SQLite file, relative to the config's folder; created when
    /// missing. Default: `inkspot.db` in the cache folder, the one folder
    /// the service must be able to write (the Docker image's volume).
    pub path: Option<PathBuf>,
    /// A PostgreSQL database instead, shared by replicas:
    /// `postgres://user:password@host:5432/inkspot`. Default: the
    /// `INKSPOT_DATABASE_URL` environment variable; unset, SQLite.
    pub url: Option<super::Secret>,
}

/// What the device's double-click does, as the firmware names it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpecialFunction {
    /// Nothing.
    None,
    /// Show the device's name and friendly id.
    Identify,
    /// Sleep until the next image (or the end of quiet hours).
    Sleep,
    /// Back to the first item of the playlist, drawn now.
    #[default]
    RestartPlaylist,
    /// Add a Wi-Fi network (handled on the device).
    AddWifi,
    /// Show the previous image again (handled on the device).
    Rewind,
    /// Send the image to the owner (acknowledged only).
    SendToMe,
    /// Guest Wi-Fi mode (acknowledged only).
    GuestMode,
}

impl SpecialFunction {
    /// The name the firmware expects back in `action`.
    pub fn name(self) -> &'static str {
        match self {
            SpecialFunction::None => "none",
            SpecialFunction::Identify => "identify",
            SpecialFunction::Sleep => "sleep",
            SpecialFunction::RestartPlaylist => "restart_playlist",
            SpecialFunction::AddWifi => "add_wifi",
            SpecialFunction::Rewind => "rewind",
            SpecialFunction::SendToMe => "send_to_me",
            SpecialFunction::GuestMode => "guest_mode",
        }
    }
}

fn yes() -> bool {
    true
}

/// `[[devices]]`: one TRMNL device. The config is the source of truth for
/// its settings; its key and telemetry live in the database.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceConfig {
    /// The MAC address the device sends in `ID`, `AA:BB:CC:DD:EE:FF`
    /// (any case). Required.
    pub mac: String,
    /// A name for status pages. Default: the MAC.
    #[serde(default)]
    pub name: Option<String>,
    /// The panel: `og_png`, `og_plus`, `og_bwry`, `v2` (TRMNL X),
    /// `reterminal_e1002`, `kindle`, for a device whose `Model` header and
    /// size inkspot does not know. Default: from those headers.
    #[serde(default)]
    pub model: Option<String>,
    /// What it shows in turn, each for one wake or its `duration`: spots by
    /// name or slug, or tables `{ spot, preset, duration, hours }`.
    /// Default: `trmnl.default_playlist`.
    #[serde(default)]
    pub playlist: Vec<PlaylistItem>,
    /// How long it sleeps when its spot has no scheduled refresh. Default
    /// `trmnl.refresh`.
    #[serde(default, deserialize_with = "super::units::opt_duration")]
    pub refresh: Option<Duration>,
    /// Local times (in `timezone`) in which it sleeps through, e.g.
    /// `"22:00-06:00"`: it is told to wake when they end.
    #[serde(default, deserialize_with = "super::schedule::active_hours")]
    pub quiet_hours: Option<ActiveHours>,
    /// Periods it sleeps through, each on some weekdays, in `timezone`:
    /// `[{ days = "mon-fri", hours = "23:00-06:30" }]` (`days` default
    /// every day). It is told to wake when the last of adjoining periods
    /// ends, and is shown the sleep picture first.
    #[serde(default)]
    pub sleep: Vec<SleepPeriod>,
    /// Whether a device going to sleep (a `sleep` period, or paused) is
    /// shown a picture that says until when. Default `true`.
    #[serde(default = "yes")]
    pub sleep_picture: bool,
    /// IANA time zone of `quiet_hours`, `sleep` and of its playlist's
    /// `hours`.
    /// Default UTC.
    #[serde(skip)]
    pub timezone: Option<chrono_tz::Tz>,
    /// `timezone` as written; parsed at load.
    #[serde(default, rename = "timezone")]
    pub(super) timezone_name: Option<String>,
    /// What its double-click does. Default `restart_playlist`.
    #[serde(default)]
    pub special_function: SpecialFunction,
    /// Whether it may be offered a firmware update from
    /// `trmnl.firmware_dir`. Default `trmnl.firmware_updates`.
    #[serde(default)]
    pub firmware_updates: Option<bool>,
}

/// The `devices` key: `[[devices]]` TRMNL devices, or, in configs written
/// for an earlier version, `[devices.NAME]` output presets (now
/// `[presets.NAME]`), which load with a warning.
#[derive(Debug, Clone)]
pub enum Devices {
    /// `[[devices]]`
    List(Vec<DeviceConfig>),
    /// `[devices.NAME]`, the former name of `[presets.NAME]`.
    Presets(BTreeMap<String, OutputOptions>),
}

impl Default for Devices {
    fn default() -> Self {
        Devices::List(Vec::new())
    }
}

impl Devices {
    /// The configured TRMNL devices.
    pub fn list(&self) -> &[DeviceConfig] {
        match self {
            Devices::List(list) => list,
            Devices::Presets(_) => &[],
        }
    }
}

impl<'de> Deserialize<'de> for Devices {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Either;
        impl<'de> Visitor<'de> for Either {
            type Value = Devices;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("[[devices]] tables, each with a `mac`")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Devices, A::Error> {
                Deserialize::deserialize(de::value::SeqAccessDeserializer::new(seq))
                    .map(Devices::List)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Devices, A::Error> {
                Deserialize::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(Devices::Presets)
            }
        }
        d.deserialize_any(Either)
    }
}

/// A MAC address in the form devices send it: six pairs of hex digits
/// separated by colons, upper case; `None` if `text` is not one.
pub fn normalize_mac(text: &str) -> Option<String> {
    let parts: Vec<&str> = text.trim().split([':', '-']).collect();
    let ok = parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()));
    ok.then(|| parts.join(":").to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("aa:bb:cc:dd:ee:ff", Some("AA:BB:CC:DD:EE:FF"))]
    #[case(" AA-BB-CC-DD-EE-01 ", Some("AA:BB:CC:DD:EE:01"))]
    #[case("AA:BB:CC:DD:EE", None)]
    #[case("AA:BB:CC:DD:EE:GG", None)]
    #[case("", None)]
    fn macs_are_normalized(#[case] text: &str, #[case] mac: Option<&str>) {
        assert_eq!(normalize_mac(text).as_deref(), mac);
    }
}
