//! The device registry: TRMNL devices, their keys, telemetry and logs,
//! kept in the service's database ([`inkspot_db`]).

pub mod answer;
mod device;
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
use sqlx::{AnyPool, Row};

use inkspot_db::{is_unique_violation, timestamp};

pub(crate) use device::{COLUMNS, time};
pub use device::{Device, find};
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
