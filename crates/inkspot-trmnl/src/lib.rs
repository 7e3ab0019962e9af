//! The device registry: TRMNL devices, their keys, telemetry and logs,
//! kept in the service's database ([`inkspot_db`]).

pub mod answer;
pub mod firmware;
mod history;
pub mod models;
pub mod playlist;
pub mod screen;
pub mod sensors;
pub mod sleep;
mod telemetry;
pub mod wake;

use std::path::Path;

use chrono::{DateTime, Utc};
use rand::Rng;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};
use subtle::ConstantTimeEq;

use inkspot_db::{is_unique_violation, timestamp};

pub use history::{Logbook, Reading, Shown};
pub use telemetry::{Telemetry, battery_percent};

/// Why the registry failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A query or the connection failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// The database could not be opened.
    #[error(transparent)]
    Open(#[from] inkspot_db::DbError),
}

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

    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
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
fn time(row: &AnyRow, column: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    let text: Option<String> = row.try_get(column)?;
    Ok(text.as_deref().and_then(inkspot_db::parse_timestamp))
}

const COLUMNS: &str = "mac, api_key, friendly_id, created_at, last_seen_at, model, firmware, \
     battery_voltage, battery_percent, rssi, wake_time_ms, playlist_position, playlist_since, expected_at, image_bytes, image_cap, pair_until, trouble, \
     fw_offered, fw_offered_at, fw_downloaded_at, fw_failed_version, fw_failures, paused_until, \
     wake_reason, wifi_band";

/// How much each device keeps.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `/api/log` entries.
    pub keep_logs: usize,
    /// Telemetry readings.
    pub keep_history: usize,
}

/// A new key: 128 bits from a CSPRNG (rand's thread generator, ChaCha
/// seeded from the operating system), as hex.
pub fn new_key() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `token` could be a key a TRMNL server issued (trmnl.com's are
/// 22 characters of URL-safe base64, BYOS servers' hex or the same
/// alphabet): 16 to 64 characters of `A-Z a-z 0-9 - _`. Only such a token
/// is adopted from a device that calls with a key of another server.
pub fn looks_like_key(token: &str) -> bool {
    (16..=64).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A friendly id: six characters a person can read off a screen.
fn new_friendly_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..6)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// The devices, over a connection pool.
#[derive(Clone)]
pub struct Registry {
    pool: AnyPool,
    logbook: Logbook,
    /// Each device as last read or written, by MAC: what a display call
    /// is answered from while the database cannot be reached.
    known: moka::future::Cache<String, Device>,
}

impl Registry {
    /// Opens (creating it when missing) the SQLite database at `path` and
    /// brings its schema up to date; each device keeps what `limits` say.
    pub async fn open(path: &Path, limits: Limits) -> Result<Self, RegistryError> {
        let pool = inkspot_db::open_sqlite(path).await?;
        Ok(Self::new(pool, limits))
    }

    /// The registry in an open database.
    pub fn new(pool: AnyPool, limits: Limits) -> Self {
        Self {
            logbook: Logbook::new(pool.clone(), limits),
            pool,
            known: moka::future::Cache::new(10_000),
        }
    }

    /// The devices' telemetry and logs.
    pub fn logbook(&self) -> &Logbook {
        &self.logbook
    }

    /// The devices' firmware offers and their verdicts.
    pub fn updates(&self) -> firmware::Updates {
        firmware::Updates::new(self.pool.clone())
    }

    /// The device with `mac`.
    pub async fn by_mac(&self, mac: &str) -> Result<Option<Device>, RegistryError> {
        let sql = format!("SELECT {COLUMNS} FROM devices WHERE mac = $1");
        let row = sqlx::query(&sql)
            .bind(mac)
            .fetch_optional(&self.pool)
            .await?;
        let device = row.as_ref().map(Device::from_row).transpose()?;
        if let Some(device) = &device {
            self.known.insert(device.mac.clone(), device.clone()).await;
        }
        Ok(device)
    }

    /// The device with `mac` as this replica last read it from the
    /// database, for answering it while the database is away.
    pub async fn last_known(&self, mac: &str) -> Option<Device> {
        self.known.get(mac).await
    }

    /// The device whose key is `key`, for clients that send no `ID`; the
    /// key found is compared again in constant time.
    pub async fn by_key(&self, key: &str) -> Result<Option<Device>, RegistryError> {
        let sql = format!("SELECT {COLUMNS} FROM devices WHERE api_key = $1");
        let row = sqlx::query(&sql)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        let device = row.as_ref().map(Device::from_row).transpose()?;
        Ok(device.filter(|d| d.has_key(key)))
    }

    /// Every device, by MAC.
    pub async fn list(&self) -> Result<Vec<Device>, RegistryError> {
        let sql = format!("SELECT {COLUMNS} FROM devices ORDER BY mac");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        Ok(rows
            .iter()
            .map(Device::from_row)
            .collect::<Result<_, _>>()?)
    }

    /// Registers `mac` with `key` (a new one when `None`) and a new friendly
    /// id at `now`. A MAC registered meanwhile (two setups at once) keeps
    /// its first record, which is returned.
    pub async fn join(
        &self,
        mac: &str,
        key: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Device, RegistryError> {
        for _ in 0..5 {
            let key = key.map_or_else(new_key, str::to_string);
            let inserted = sqlx::query(
                "INSERT INTO devices (mac, api_key, friendly_id, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(mac)
            .bind(&key)
            .bind(new_friendly_id())
            .bind(timestamp(now))
            .execute(&self.pool)
            .await;
            if let Some(device) = self.by_mac(mac).await? {
                return Ok(device);
            }
            // Not there: a friendly id or key that clashed; try new ones.
            if let Err(e) = inserted
                && !is_unique_violation(&e)
            {
                return Err(e.into());
            }
        }
        Err(RegistryError::Db(sqlx::Error::RowNotFound))
    }

    /// How many devices there are.
    pub async fn count(&self) -> Result<i64, RegistryError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM devices")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    /// Lets `/api/setup` give the device `mac` its key until `until`;
    /// `false` when there is no such device.
    pub async fn open_pairing(
        &self,
        mac: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, RegistryError> {
        let done = sqlx::query("UPDATE devices SET pair_until = $1 WHERE mac = $2")
            .bind(timestamp(until))
            .bind(mac)
            .execute(&self.pool)
            .await?;
        self.known.invalidate(mac).await;
        Ok(done.rows_affected() == 1)
    }

    /// Closes the device's pairing window: used once, it is not left open
    /// for whoever else sends the MAC.
    pub async fn close_pairing(&self, mac: &str) -> Result<(), RegistryError> {
        sqlx::query("UPDATE devices SET pair_until = NULL WHERE mac = $1")
            .bind(mac)
            .execute(&self.pool)
            .await?;
        self.known.invalidate(mac).await;
        Ok(())
    }

    /// Pauses the device `mac` until `until` (away mode), or with `None`
    /// wakes it at its next call; `false` when there is no such device.
    pub async fn set_pause(
        &self,
        mac: &str,
        until: Option<DateTime<Utc>>,
    ) -> Result<bool, RegistryError> {
        let done = sqlx::query("UPDATE devices SET paused_until = $1 WHERE mac = $2")
            .bind(until.map(timestamp))
            .bind(mac)
            .execute(&self.pool)
            .await?;
        self.known.invalidate(mac).await;
        Ok(done.rows_affected() == 1)
    }

    /// Moves the device to `position` in its playlist, shown since `since`.
    pub async fn set_place(
        &self,
        mac: &str,
        position: i64,
        since: DateTime<Utc>,
    ) -> Result<(), RegistryError> {
        // Kept in memory too, so that while the database is away the device
        // goes on through its playlist from here, not from where the
        // database last had it (which would show it the same item again).
        if let Some(mut known) = self.known.get(mac).await {
            known.playlist_position = position;
            known.playlist_since = Some(since);
            self.known.insert(mac.to_string(), known).await;
        }
        sqlx::query(
            "UPDATE devices SET playlist_position = $1, playlist_since = $2 WHERE mac = $3",
        )
        .bind(position)
        .bind(timestamp(since))
        .bind(mac)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        keep_logs: 3,
        keep_history: 10,
    };

    fn now() -> DateTime<Utc> {
        "2026-11-23T10:00:00Z".parse().unwrap()
    }

    /// With the database gone, a device's place moves on in memory, where
    /// its next call is answered from.
    #[tokio::test]
    async fn the_last_known_place_moves_on_while_the_database_is_away() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::open(&dir.path().join("d.db"), LIMITS)
            .await
            .unwrap();
        let mac = "AA:BB:CC:DD:EE:07";
        registry.join(mac, None, now()).await.unwrap();
        registry.by_mac(mac).await.unwrap();
        registry.pool.close().await;
        let later = now() + chrono::Duration::minutes(5);
        assert!(registry.set_place(mac, 2, later).await.is_err());
        let known = registry.last_known(mac).await.unwrap();
        assert_eq!(known.playlist_position, 2);
        assert_eq!(known.playlist_since, Some(later));
    }

    #[tokio::test]
    async fn devices_join_once_and_keep_their_keys_across_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("devices.db");
        let registry = Registry::open(&path, LIMITS).await.unwrap();
        let a = registry
            .join("AA:BB:CC:DD:EE:01", None, now())
            .await
            .unwrap();
        assert_eq!(a.api_key.len(), 32);
        assert_eq!(a.friendly_id.len(), 6);
        let again = registry
            .join("AA:BB:CC:DD:EE:01", None, now())
            .await
            .unwrap();
        assert_eq!(
            again.api_key, a.api_key,
            "a second join keeps the first key"
        );
        let adopted = registry
            .join("AA:BB:CC:DD:EE:02", Some("their-old-key"), now())
            .await
            .unwrap();
        assert!(adopted.has_key("their-old-key"));
        assert!(!adopted.has_key("their-old-kez"));
        assert!(!adopted.has_key(""));
        drop(registry);

        let reopened = Registry::open(&path, LIMITS).await.unwrap();
        let a2 = reopened.by_mac("AA:BB:CC:DD:EE:01").await.unwrap().unwrap();
        assert_eq!(a2.api_key, a.api_key);
        assert_eq!(
            reopened.by_key(&a.api_key).await.unwrap().unwrap().mac,
            a.mac
        );
        assert!(reopened.by_key("nope").await.unwrap().is_none());
        assert_eq!(reopened.list().await.unwrap().len(), 2);
    }
}
