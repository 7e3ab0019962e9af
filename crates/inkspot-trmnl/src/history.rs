//! What devices report: telemetry at each display call, kept as history,
//! and the entries they post to `/api/log`, each bounded per device.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use sqlx::AnyPool;

use super::{Limits, RegistryError, Telemetry, timestamp};

/// Each device's telemetry history and log entries, kept within
/// [`Limits`]; cheap to clone.
#[derive(Clone)]
pub struct Logbook {
    pool: AnyPool,
    limits: Limits,
}

/// What a display call gave the device.
#[derive(Debug, Clone, Default)]
pub struct Shown {
    /// When it was told to call again.
    pub expected_at: Option<DateTime<Utc>>,
    /// The bytes of the image it was given, if one was drawn.
    pub image_bytes: Option<i64>,
    /// Its panel's byte limit for it.
    pub image_cap: Option<i64>,
    /// Why no playlist item could be shown, when none could.
    pub trouble: Option<String>,
}

/// One display call's telemetry.
#[derive(Debug, Clone, Serialize)]
pub struct Reading {
    /// When it was made.
    pub at: String,
    /// Battery voltage.
    pub battery_voltage: Option<f64>,
    /// That voltage as a percentage.
    pub battery_percent: Option<i64>,
    /// Wi-Fi signal, dBm.
    pub rssi: Option<i64>,
    /// Firmware version.
    pub firmware: Option<String>,
    /// The `Model` header.
    pub model: Option<String>,
    /// How long it was awake the cycle before, ms.
    pub wake_time_ms: Option<i64>,
    /// Why it woke (`Update-Source`).
    pub wake_reason: Option<String>,
    /// `WiFi-Band`.
    pub wifi_band: Option<String>,
    /// `Temperature-Profile`.
    pub temperature_profile: Option<String>,
    /// `Image-Cached`.
    pub image_cached: Option<bool>,
}

impl Reading {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            at: row.try_get("at")?,
            battery_voltage: row.try_get("battery_voltage")?,
            battery_percent: row.try_get("battery_percent")?,
            rssi: row.try_get("rssi")?,
            firmware: row.try_get("firmware")?,
            model: row.try_get("model")?,
            wake_time_ms: row.try_get("wake_time_ms")?,
            wake_reason: row.try_get("wake_reason")?,
            wifi_band: row.try_get("wifi_band")?,
            temperature_profile: row.try_get("temperature_profile")?,
            image_cached: row
                .try_get::<Option<i64>, _>("image_cached")?
                .map(|v| v != 0),
        })
    }
}

impl Logbook {
    /// The logbook in an open database.
    pub fn new(pool: AnyPool, limits: Limits) -> Self {
        Self { pool, limits }
    }

    /// Records a display call's telemetry at `now` and what it was
    /// `shown`: the device's latest values, and a row of history.
    pub async fn seen(
        &self,
        mac: &str,
        t: &Telemetry,
        shown: &Shown,
        now: DateTime<Utc>,
    ) -> Result<(), RegistryError> {
        let at = timestamp(now);
        let percent = t.battery();
        sqlx::query(
            "UPDATE devices SET last_seen_at = $1, model = COALESCE($2, model), \
             firmware = COALESCE($3, firmware), battery_voltage = COALESCE($4, battery_voltage), \
             battery_percent = COALESCE($5, battery_percent), rssi = COALESCE($6, rssi), \
             wake_time_ms = COALESCE($7, wake_time_ms), expected_at = $8, \
             image_bytes = COALESCE($9, image_bytes), image_cap = COALESCE($10, image_cap), \
             trouble = $11, wake_reason = COALESCE($12, wake_reason), \
             wifi_band = COALESCE($13, wifi_band) WHERE mac = $14",
        )
        .bind(&at)
        .bind(t.model.clone())
        .bind(t.firmware.clone())
        .bind(t.battery_voltage)
        .bind(percent)
        .bind(t.rssi)
        .bind(t.wake_time_ms)
        .bind(shown.expected_at.map(timestamp))
        .bind(shown.image_bytes)
        .bind(shown.image_cap)
        .bind(shown.trouble.clone())
        .bind(t.wake_reason)
        .bind(t.wifi_band.clone())
        .bind(mac)
        .execute(&self.pool)
        .await?;
        sqlx::query(
            "INSERT INTO telemetry (mac, at, battery_voltage, battery_percent, rssi, firmware, model, wake_time_ms, \
             wake_reason, wifi_band, temperature_profile, image_cached) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(mac)
        .bind(&at)
        .bind(t.battery_voltage)
        .bind(percent)
        .bind(t.rssi)
        .bind(t.firmware.clone())
        .bind(t.model.clone())
        .bind(t.wake_time_ms)
        .bind(t.wake_reason)
        .bind(t.wifi_band.clone())
        .bind(t.temperature_profile.clone())
        .bind(t.image_cached.map(i64::from))
        .execute(&self.pool)
        .await?;
        // Only the newest `keep_history` rows stay.
        sqlx::query(
            "DELETE FROM telemetry WHERE mac = $1 AND at <= \
             (SELECT at FROM telemetry WHERE mac = $1 ORDER BY at DESC LIMIT 1 OFFSET $2)",
        )
        .bind(mac)
        .bind(self.limits.keep_history as i64)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Keeps log `entries` of `mac` posted at `now`, and only the newest
    /// `keep_logs` of them.
    pub async fn add_logs(
        &self,
        mac: &str,
        entries: &[String],
        now: DateTime<Utc>,
    ) -> Result<(), RegistryError> {
        let at = timestamp(now);
        let last: Option<i64> =
            sqlx::query("SELECT MAX(seq) AS seq FROM device_logs WHERE mac = $1")
                .bind(mac)
                .fetch_one(&self.pool)
                .await?
                .try_get("seq")?;
        let mut seq = last.unwrap_or(0);
        for entry in entries {
            seq += 1;
            sqlx::query("INSERT INTO device_logs (mac, at, entry, seq) VALUES ($1, $2, $3, $4)")
                .bind(mac)
                .bind(&at)
                .bind(entry)
                .bind(seq)
                .execute(&self.pool)
                .await?;
        }
        sqlx::query("DELETE FROM device_logs WHERE mac = $1 AND seq <= $2")
            .bind(mac)
            .bind(seq - self.limits.keep_logs as i64)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The log entries of `mac` kept, oldest first.
    pub async fn logs(&self, mac: &str) -> Result<Vec<String>, RegistryError> {
        let rows = sqlx::query("SELECT entry FROM device_logs WHERE mac = $1 ORDER BY seq")
            .bind(mac)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get("entry"))
            .collect::<Result<_, _>>()?)
    }

    /// The newest `limit` telemetry readings of `mac`, newest first.
    pub async fn history(&self, mac: &str, limit: usize) -> Result<Vec<Reading>, RegistryError> {
        let rows = sqlx::query(
            "SELECT at, battery_voltage, battery_percent, rssi, firmware, model, wake_time_ms, \
             wake_reason, wifi_band, temperature_profile, image_cached \
             FROM telemetry WHERE mac = $1 ORDER BY at DESC LIMIT $2",
        )
        .bind(mac)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(Reading::from_row)
            .collect::<Result<_, _>>()?)
    }

    /// How many telemetry rows `mac` has.
    pub async fn history_len(&self, mac: &str) -> Result<i64, RegistryError> {
        Ok(
            sqlx::query("SELECT COUNT(*) AS n FROM telemetry WHERE mac = $1")
                .bind(mac)
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Limits, Registry};
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-23T10:00:00Z".parse().unwrap()
    }

    #[tokio::test]
    async fn telemetry_and_logs_are_kept_within_their_limits() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::open(
            &dir.path().join("d.db"),
            Limits {
                keep_logs: 3,
                keep_history: 2,
            },
        )
        .await
        .unwrap();
        let mac = "AA:BB:CC:DD:EE:03";
        registry.join(mac, None, now()).await.unwrap();
        let t = Telemetry {
            battery_voltage: Some(4.0),
            rssi: Some(-61),
            firmware: Some("1.8.15".into()),
            model: Some("og".into()),
            wake_time_ms: Some(1200),
            ..Telemetry::default()
        };
        registry
            .logbook()
            .seen(mac, &t, &Shown::default(), now())
            .await
            .unwrap();
        registry
            .logbook()
            .seen(mac, &Telemetry::default(), &Shown::default(), now())
            .await
            .unwrap();
        let d = registry.by_mac(mac).await.unwrap().unwrap();
        assert_eq!(
            d.battery_voltage,
            Some(4.0),
            "a call without a value keeps the last"
        );
        assert_eq!(d.battery_percent, Some(90));
        assert_eq!(d.rssi, Some(-61));
        assert_eq!(registry.logbook().history_len(mac).await.unwrap(), 2);
        for (minutes, rssi) in [(1, -70), (2, -75)] {
            let later = now() + chrono::Duration::minutes(minutes);
            let t = Telemetry {
                rssi: Some(rssi),
                ..Telemetry::default()
            };
            registry
                .logbook()
                .seen(mac, &t, &Shown::default(), later)
                .await
                .unwrap();
        }
        let history = registry.logbook().history(mac, 10).await.unwrap();
        let rssi: Vec<_> = history.iter().map(|r| r.rssi).collect();
        assert_eq!(rssi, [Some(-75), Some(-70)], "the newest two, newest first");

        let entries: Vec<String> = (0..5).map(|i| format!("{{\"id\":{i}}}")).collect();
        registry
            .logbook()
            .add_logs(mac, &entries, now())
            .await
            .unwrap();
        assert_eq!(
            registry.logbook().logs(mac).await.unwrap(),
            ["{\"id\":2}", "{\"id\":3}", "{\"id\":4}"],
            "the newest three"
        );
    }
}
