//! Retention: raw samples past their spot's `keep_raw` and rollups past
//! `keep_hourly` are deleted (their hours were rolled up as they were
//! written), past forecasts go, and the whole stays within
//! `history.max_disk`, the oldest rows first.

use chrono::{DateTime, Utc};
use inkspot_core::config::Config;
use sqlx::{AnyPool, Row};

use crate::read::{HOURLY_ROW_BYTES, RAW_ROW_BYTES};

/// What one run deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Raw samples.
    pub raw: u64,
    /// Hourly rollups.
    pub hours: u64,
}

/// Deletes what `config` no longer keeps at `now`.
pub async fn purge(
    pool: &AnyPool,
    config: &Config,
    now: DateTime<Utc>,
) -> Result<Purged, sqlx::Error> {
    let mut purged = Purged::default();
    let t = now.timestamp();
    let mut longest = config.history.retention(None);
    for spot in &config.spots {
        let kept = config.history.retention(spot.history.as_ref());
        longest.raw = longest.raw.max(kept.raw);
        longest.hourly = longest.hourly.max(kept.hourly);
        // From a whole hour on, as writes count it: an hour keeps all its
        // raw rows or none.
        purged.raw += delete(
            pool,
            "samples",
            "at",
            Some(&spot.slug()),
            crate::write::raw_start(now, kept),
        )
        .await?;
        purged.hours += delete(
            pool,
            "samples_hourly",
            "hour",
            Some(&spot.slug()),
            t - kept.hourly.as_secs() as i64,
        )
        .await?;
    }
    // Spots no longer configured keep no more than the longest retention.
    purged.raw += delete(
        pool,
        "samples",
        "at",
        None,
        t - longest.raw.as_secs() as i64,
    )
    .await?;
    purged.hours += delete(
        pool,
        "samples_hourly",
        "hour",
        None,
        t - longest.hourly.as_secs() as i64,
    )
    .await?;
    sqlx::query("DELETE FROM forecasts WHERE at < $1")
        .bind(t - 86_400)
        .execute(pool)
        .await?;
    let capped = cap(pool, config.history.max_disk.as_u64()).await?;
    purged.raw += capped.raw;
    purged.hours += capped.hours;
    Ok(purged)
}

async fn delete(
    pool: &AnyPool,
    table: &str,
    time: &str,
    spot: Option<&str>,
    before: i64,
) -> Result<u64, sqlx::Error> {
    let done = match spot {
        Some(slug) => {
            let sql = format!("DELETE FROM {table} WHERE spot = $1 AND {time} < $2");
            sqlx::query(&sql)
                .bind(slug)
                .bind(before)
                .execute(pool)
                .await?
        }
        None => {
            let sql = format!("DELETE FROM {table} WHERE {time} < $1");
            sqlx::query(&sql).bind(before).execute(pool).await?
        }
    };
    Ok(done.rows_affected())
}

async fn count(pool: &AnyPool, table: &str) -> Result<u64, sqlx::Error> {
    let sql = format!("SELECT COUNT(*) AS n FROM {table}");
    let n: i64 = sqlx::query(&sql).fetch_one(pool).await?.try_get("n")?;
    Ok(n.max(0) as u64)
}

/// Deletes the oldest rollups, then the oldest raw samples, until the
/// estimated size is within `max_bytes`.
async fn cap(pool: &AnyPool, max_bytes: u64) -> Result<Purged, sqlx::Error> {
    let raw = count(pool, "samples").await?;
    let hours = count(pool, "samples_hourly").await?;
    let size = raw * RAW_ROW_BYTES + hours * HOURLY_ROW_BYTES;
    if size <= max_bytes {
        return Ok(Purged::default());
    }
    let excess = size - max_bytes;
    let drop_hours = excess.div_ceil(HOURLY_ROW_BYTES).min(hours);
    let left = excess.saturating_sub(drop_hours * HOURLY_ROW_BYTES);
    let drop_raw = left.div_ceil(RAW_ROW_BYTES).min(raw);
    tracing::warn!(
        max_bytes,
        rollups = drop_hours,
        samples = drop_raw,
        "the history is past history.max_disk; deleting its oldest rows"
    );
    Ok(Purged {
        raw: oldest(pool, "samples", "at", drop_raw).await?,
        hours: oldest(pool, "samples_hourly", "hour", drop_hours).await?,
    })
}

/// Deletes about the `n` oldest rows of `table` (rows sharing the cut-off
/// time go together).
async fn oldest(pool: &AnyPool, table: &str, time: &str, n: u64) -> Result<u64, sqlx::Error> {
    if n == 0 {
        return Ok(0);
    }
    let sql = format!(
        "DELETE FROM {table} WHERE {time} <= (SELECT {time} FROM {table} ORDER BY {time} LIMIT 1 OFFSET $1)"
    );
    Ok(sqlx::query(&sql)
        .bind(n as i64 - 1)
        .execute(pool)
        .await?
        .rows_affected())
}
