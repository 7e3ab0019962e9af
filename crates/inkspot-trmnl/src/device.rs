//! A device as the registry keeps it: its row, read back, and the tokens
//! for the URLs its answers point at.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use subtle::ConstantTimeEq;

use crate::{firmware, playlist};

/// A device as the registry keeps it.
#[derive(Debug, Clone, Serialize)]
pub struct Device {
    /// Its MAC address, `AA:BB:CC:DD:EE:FF`.
    pub mac: String,
    /// Its key; never serialized.
    #[serde(skip)]
    pub api_key: String,
    /// The six characters it shows on its setup screen.
    pub friendly_id: String,
    /// When it joined.
    pub created_at: DateTime<Utc>,
    /// When it last called `/api/display`.
    pub last_seen_at: Option<DateTime<Utc>>,
    /// The `Model` it last sent.
    pub model: Option<String>,
    /// The firmware it last reported.
    pub firmware: Option<String>,
    /// Its last battery voltage.
    pub battery_voltage: Option<f64>,
    /// Its battery, percent: the X's own gauge, else that voltage by
    /// [`battery_percent`].
    pub battery_percent: Option<i64>,
    /// Its last Wi-Fi signal, dBm.
    pub rssi: Option<i64>,
    /// How long it was awake last time, ms.
    pub wake_time_ms: Option<i64>,
    /// Its place in its playlist.
    pub playlist_position: i64,
    /// When the item at `playlist_position` went on its panel.
    pub playlist_since: Option<DateTime<Utc>>,
    /// When its last display call told it to call again.
    pub expected_at: Option<DateTime<Utc>>,
    /// The bytes of the image it was last given.
    pub image_bytes: Option<i64>,
    /// Its panel's byte limit for that image, when it has one.
    pub image_cap: Option<i64>,
    /// Until when `/api/setup` may give it its key again.
    pub pair_until: Option<DateTime<Utc>>,
    /// Why its last display call could show none of its playlist items.
    pub trouble: Option<String>,
    /// Its firmware updates: an offer awaiting its verdict, failures.
    pub firmware_update: firmware::UpdateState,
    /// Until when an operator paused it (away mode).
    pub paused_until: Option<DateTime<Utc>>,
    /// Why it last woke (`Update-Source`): `timer`, `button`,
    /// `powercycle` or `other`.
    pub wake_reason: Option<String>,
    /// Its last `WiFi-Band`.
    pub wifi_band: Option<String>,
}

impl Device {
    /// Whether `token` is this device's key, compared in constant time.
    pub fn has_key(&self, token: &str) -> bool {
        !token.is_empty() && bool::from(self.api_key.as_bytes().ct_eq(token.as_bytes()))
    }

    /// A token for a URL this device's answers point at (`purpose` names
    /// it: the sleep picture, a firmware download), for firmware that
    /// fetches such URLs without its headers: a keyed hash of its key,
    /// never the key itself.
    pub fn url_token(&self, purpose: &str) -> String {
        let key = blake3::hash(self.api_key.as_bytes());
        let token = blake3::keyed_hash(key.as_bytes(), purpose.as_bytes());
        token.to_hex()[..32].to_string()
    }

    /// Whether `token` is [`Device::url_token`] for `purpose`, compared in
    /// constant time.
    pub fn has_url_token(&self, purpose: &str, token: &str) -> bool {
        let expected = self.url_token(purpose);
        !token.is_empty() && bool::from(expected.as_bytes().ct_eq(token.as_bytes()))
    }

    pub(crate) fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            mac: row.try_get("mac")?,
            api_key: row.try_get("api_key")?,
            friendly_id: row.try_get("friendly_id")?,
            created_at: time(row, "created_at")?.unwrap_or_default(),
            last_seen_at: time(row, "last_seen_at")?,
            model: row.try_get("model")?,
            firmware: row.try_get("firmware")?,
            battery_voltage: row.try_get("battery_voltage")?,
            battery_percent: row.try_get("battery_percent")?,
            rssi: row.try_get("rssi")?,
            wake_time_ms: row.try_get("wake_time_ms")?,
            playlist_position: row.try_get("playlist_position")?,
            playlist_since: time(row, "playlist_since")?,
            expected_at: time(row, "expected_at")?,
            image_bytes: row.try_get("image_bytes")?,
            image_cap: row.try_get("image_cap")?,
            pair_until: time(row, "pair_until")?,
            trouble: row.try_get("trouble")?,
            firmware_update: firmware::UpdateState::from_row(row)?,
            paused_until: time(row, "paused_until")?,
            wake_reason: row.try_get("wake_reason")?,
            wifi_band: row.try_get("wifi_band")?,
        })
    }

    /// Whether `/api/setup` may give this device its key at `now`: before
    /// its first display call (its setup answer may have been lost), or
    /// inside a pairing window an operator opened. After that its key is
    /// not handed to whoever sends its MAC, which any radio nearby hears.
    pub fn may_pair(&self, now: DateTime<Utc>) -> bool {
        let open = self.pair_until.is_some_and(|until| until > now);
        self.last_seen_at.is_none() || open
    }

    /// Its place in its playlist.
    pub fn place(&self) -> playlist::Place {
        playlist::Place {
            position: self.playlist_position,
            since: self.playlist_since,
        }
    }
}

/// The time stored in `column` (RFC 3339 text, as every database here
/// keeps times); `None` when empty or unreadable.
pub(crate) fn time(row: &AnyRow, column: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    let text: Option<String> = row.try_get(column)?;
    Ok(text.as_deref().and_then(inkspot_db::parse_timestamp))
}

pub(crate) const COLUMNS: &str = "mac, api_key, friendly_id, created_at, last_seen_at, model, firmware, \
     battery_voltage, battery_percent, rssi, wake_time_ms, playlist_position, playlist_since, expected_at, image_bytes, image_cap, pair_until, trouble, \
     fw_offered, fw_offered_at, fw_downloaded_at, fw_failed_version, fw_failures, paused_until, \
     wake_reason, wifi_band";

/// The device `id` names among `list`: by friendly id (any case), MAC (any
/// form), or its name in `configured` (`[[devices]]`).
pub fn find(
    list: Vec<Device>,
    configured: &[inkspot_core::config::DeviceConfig],
    id: &str,
) -> Option<Device> {
    let named = configured
        .iter()
        .find(|d| {
            d.name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(id))
        })
        .map(|d| d.mac.clone());
    let mac = named.or_else(|| inkspot_core::config::normalize_mac(id));
    list.into_iter()
        .find(|d| d.friendly_id.eq_ignore_ascii_case(id) || Some(&d.mac) == mac.as_ref())
}
