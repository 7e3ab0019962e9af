//! Where each device stands with firmware updates, kept in its row of
//! `devices` (migration 0009): the version it was offered and has not come
//! back from, and the offers of one version it failed.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use crate::{RegistryError, time, timestamp};

/// A device's firmware updates, as its row keeps them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateState {
    /// The version it was offered at its last offer and has not yet come
    /// back from.
    pub offered: Option<String>,
    /// When it was last offered an update.
    pub offered_at: Option<DateTime<Utc>>,
    /// When it downloaded the image of its pending offer.
    pub downloaded_at: Option<DateTime<Utc>>,
    /// The version its failures are of.
    pub failed_version: Option<String>,
    /// Offers of `failed_version` it came back from still on its old
    /// version.
    pub failures: i64,
}

impl UpdateState {
    pub(crate) fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            offered: row.try_get("fw_offered")?,
            offered_at: time(row, "fw_offered_at")?,
            downloaded_at: time(row, "fw_downloaded_at")?,
            failed_version: row.try_get("fw_failed_version")?,
            failures: row.try_get("fw_failures")?,
        })
    }

    /// Whether `version` is held from it: it failed `attempts` offers of
    /// that version.
    pub fn holds(&self, version: &str, attempts: u32) -> bool {
        self.failed_version.as_deref() == Some(version) && self.failures >= i64::from(attempts)
    }

    /// The version held from it after `attempts` failed offers, if one is.
    pub fn held(&self, attempts: u32) -> Option<&str> {
        self.failed_version
            .as_deref()
            .filter(|v| self.holds(v, attempts))
    }
}

/// The devices' firmware offers and their verdicts, over the registry's
/// pool.
#[derive(Clone)]
pub struct Updates {
    pool: AnyPool,
}

impl Updates {
    /// Over an open database.
    pub fn new(pool: AnyPool) -> Self {
        Self { pool }
    }

    /// `mac` is offered `version` at `now`, in place of `pending` (the
    /// offer its row held when read, if any); `false` when another call
    /// made or judged an offer meanwhile: two calls at once never both
    /// offer.
    pub async fn offered(
        &self,
        mac: &str,
        version: &str,
        now: DateTime<Utc>,
        pending: Option<&str>,
    ) -> Result<bool, RegistryError> {
        let done = sqlx::query(
            "UPDATE devices SET fw_offered = $1, fw_offered_at = $2, fw_downloaded_at = NULL \
             WHERE mac = $3 AND COALESCE(fw_offered, '') = $4",
        )
        .bind(version)
        .bind(timestamp(now))
        .bind(mac)
        .bind(pending.unwrap_or(""))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// `mac` came back from its offer of `offered`: on the new version
    /// (`failed` is `None`), or still on the old one, its failures of that
    /// version now `failed`. `false` when another call judged it first.
    pub async fn judged(
        &self,
        mac: &str,
        offered: &str,
        failed: Option<(&str, i64)>,
    ) -> Result<bool, RegistryError> {
        let (version, failures) = failed.map_or((None, 0), |(v, n)| (Some(v), n));
        let done = sqlx::query(
            "UPDATE devices SET fw_offered = NULL, fw_downloaded_at = NULL, fw_failed_version = $1, \
             fw_failures = $2 WHERE mac = $3 AND fw_offered = $4",
        )
        .bind(version)
        .bind(failures)
        .bind(mac)
        .bind(offered)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The device `mac` downloaded the image of its pending offer at
    /// `now`; `false` when it has no pending offer.
    pub async fn downloaded(&self, mac: &str, now: DateTime<Utc>) -> Result<bool, RegistryError> {
        let done = sqlx::query(
            "UPDATE devices SET fw_downloaded_at = $1 WHERE mac = $2 AND fw_offered IS NOT NULL",
        )
        .bind(timestamp(now))
        .bind(mac)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Forgets `mac`'s failed offers, so the version held from it is
    /// offered again; `false` when there is no such device.
    pub async fn clear(&self, mac: &str) -> Result<bool, RegistryError> {
        let done = sqlx::query("UPDATE devices SET fw_offered = NULL, fw_downloaded_at = NULL, fw_failed_version = NULL, fw_failures = 0 WHERE mac = $1")
            .bind(mac)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
