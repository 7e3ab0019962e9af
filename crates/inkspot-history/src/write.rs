//! Writing one fetch's batch: new raw samples (a sample already kept is
//! not written again), the hourly rollups of the hours they touch, rollups
//! straight from samples older than the raw retention, the forecast
//! replaced, units and text values. One transaction per batch.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use inkspot_core::config::Retention;
use inkspot_core::history::{Batch, Sample};
use sqlx::{Any, AnyPool, Row, Transaction};

use crate::rollup::{Hour, hours_of};

/// Rows per `INSERT`: within both databases' limits on parameters.
const CHUNK: usize = 200;

/// What one write did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    /// Raw samples added.
    pub raw: u64,
    /// Hours rolled up.
    pub hours: u64,
    /// Forecast rows written.
    pub forecast: u64,
}

/// Writes `batch` of the spot `slug`, fetched at `now`, kept as `kept`.
pub async fn write(
    pool: &AnyPool,
    slug: &str,
    batch: &Batch,
    now: DateTime<Utc>,
    kept: Retention,
) -> Result<Written, sqlx::Error> {
    let raw_from = now.timestamp() - kept.raw.as_secs() as i64;
    let hourly_from = now.timestamp() - kept.hourly.as_secs() as i64;
    let mut by_field: BTreeMap<&str, Vec<&Sample>> = BTreeMap::new();
    for s in &batch.observed {
        by_field.entry(&s.field).or_default().push(s);
    }
    // What is kept already is read before the transaction, so that the
    // transaction's first statement writes: SQLite then takes its write
    // lock at once (waiting its turn) instead of failing to upgrade a read.
    let mut plans = Vec::new();
    for (field, samples) in by_field {
        let (recent, old): (Vec<&Sample>, Vec<&Sample>) = samples
            .into_iter()
            .partition(|s| s.at.timestamp() >= raw_from);
        let fresh = unkept(pool, slug, field, &recent).await?;
        let old: Vec<(i64, f64)> = old
            .iter()
            .map(|s| (s.at.timestamp(), s.value))
            .filter(|(t, _)| *t >= hourly_from)
            .collect();
        plans.push((field, fresh, hours_of(&old)));
    }
    let mut tx = pool.begin().await?;
    let mut written = Written::default();
    for (field, fresh, old_hours) in plans {
        written.raw += add_raw(&mut tx, slug, field, &fresh).await?;
        written.hours += roll_up(&mut tx, slug, field, &fresh).await?;
        written.hours += add_old_hours(&mut tx, slug, field, &old_hours).await?;
    }
    written.forecast = replace_forecasts(&mut tx, slug, batch, now).await?;
    describe_fields(&mut tx, slug, batch).await?;
    tx.commit().await?;
    Ok(written)
}

/// The samples of `field` not kept yet, as times and values.
async fn unkept(
    pool: &AnyPool,
    slug: &str,
    field: &str,
    samples: &[&Sample],
) -> Result<Vec<(i64, f64)>, sqlx::Error> {
    let Some(first) = samples.iter().map(|s| s.at.timestamp()).min() else {
        return Ok(Vec::new());
    };
    let last = samples
        .iter()
        .map(|s| s.at.timestamp())
        .max()
        .unwrap_or(first);
    let kept: BTreeSet<i64> = sqlx::query(
        "SELECT at FROM samples WHERE spot = $1 AND field = $2 AND at >= $3 AND at <= $4",
    )
    .bind(slug)
    .bind(field)
    .bind(first)
    .bind(last)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| r.try_get::<i64, _>("at"))
    .collect::<Result<_, _>>()?;
    let mut fresh: BTreeMap<i64, f64> = BTreeMap::new();
    for s in samples {
        let at = s.at.timestamp();
        if !kept.contains(&at) {
            fresh.insert(at, s.value);
        }
    }
    Ok(fresh.into_iter().collect())
}

/// Inserts `fresh` samples; a row another replica wrote meanwhile is left
/// as it is. Returns how many were added.
async fn add_raw(
    tx: &mut Transaction<'_, Any>,
    slug: &str,
    field: &str,
    fresh: &[(i64, f64)],
) -> Result<u64, sqlx::Error> {
    let mut added = 0;
    for chunk in fresh.chunks(CHUNK) {
        let sql = values_sql(
            "INSERT INTO samples (spot, field, at, value) VALUES ",
            4,
            chunk.len(),
            " ON CONFLICT (spot, field, at) DO NOTHING",
        );
        let mut q = sqlx::query(&sql);
        for (at, value) in chunk {
            q = q.bind(slug).bind(field).bind(*at).bind(*value);
        }
        added += q.execute(&mut **tx).await?.rows_affected();
    }
    Ok(added)
}

/// Recomputes from the raw rows the rollups of the hours `added` touches.
async fn roll_up(
    tx: &mut Transaction<'_, Any>,
    slug: &str,
    field: &str,
    added: &[(i64, f64)],
) -> Result<u64, sqlx::Error> {
    let touched: BTreeSet<i64> = added
        .iter()
        .map(|(t, _)| t.div_euclid(3600) * 3600)
        .collect();
    let (Some(&first), Some(&last)) = (touched.first(), touched.last()) else {
        return Ok(0);
    };
    let rows: Vec<(i64, f64)> = sqlx::query(
        "SELECT at, value FROM samples WHERE spot = $1 AND field = $2 AND at >= $3 AND at < $4 ORDER BY at",
    )
    .bind(slug)
    .bind(field)
    .bind(first)
    .bind(last + 3600)
    .fetch_all(&mut **tx)
    .await?
    .iter()
    .map(|r| Ok((r.try_get("at")?, r.try_get("value")?)))
    .collect::<Result<_, sqlx::Error>>()?;
    let hours: Vec<Hour> = hours_of(&rows)
        .into_iter()
        .filter(|h| touched.contains(&h.hour))
        .collect();
    put_hours(tx, slug, field, &hours, "DO UPDATE SET lo = excluded.lo, hi = excluded.hi, total = excluded.total, n = excluded.n, last_value = excluded.last_value, last_at = excluded.last_at").await
}

/// Rollups made straight from samples older than the raw retention, for
/// hours not rolled up yet (a second fetch of the same file adds nothing).
async fn add_old_hours(
    tx: &mut Transaction<'_, Any>,
    slug: &str,
    field: &str,
    hours: &[Hour],
) -> Result<u64, sqlx::Error> {
    put_hours(tx, slug, field, hours, "DO NOTHING").await
}

async fn put_hours(
    tx: &mut Transaction<'_, Any>,
    slug: &str,
    field: &str,
    hours: &[Hour],
    on_conflict: &str,
) -> Result<u64, sqlx::Error> {
    let mut done = 0;
    for chunk in hours.chunks(CHUNK / 2) {
        let sql = values_sql(
            "INSERT INTO samples_hourly (spot, field, hour, lo, hi, total, n, last_value, last_at) VALUES ",
            9,
            chunk.len(),
            &format!(" ON CONFLICT (spot, field, hour) {on_conflict}"),
        );
        let mut q = sqlx::query(&sql);
        for h in chunk {
            q = q
                .bind(slug)
                .bind(field)
                .bind(h.hour)
                .bind(h.lo)
                .bind(h.hi)
                .bind(h.total)
                .bind(h.n)
                .bind(h.last_value)
                .bind(h.last_at);
        }
        done += q.execute(&mut **tx).await?.rows_affected();
    }
    Ok(done)
}

/// Each forecast field's rows replaced by this batch's.
async fn replace_forecasts(
    tx: &mut Transaction<'_, Any>,
    slug: &str,
    batch: &Batch,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let mut written = 0;
    for field in &batch.forecast_fields {
        sqlx::query("DELETE FROM forecasts WHERE spot = $1 AND field = $2")
            .bind(slug)
            .bind(field)
            .execute(&mut **tx)
            .await?;
        let mut rows: BTreeMap<i64, f64> = BTreeMap::new();
        for s in batch.forecast.iter().filter(|s| &s.field == field) {
            rows.insert(s.at.timestamp(), s.value);
        }
        let rows: Vec<(i64, f64)> = rows.into_iter().collect();
        for chunk in rows.chunks(CHUNK) {
            let sql = values_sql(
                "INSERT INTO forecasts (spot, field, at, value, issued) VALUES ",
                5,
                chunk.len(),
                " ON CONFLICT (spot, field, at) DO UPDATE SET value = excluded.value, issued = excluded.issued",
            );
            let mut q = sqlx::query(&sql);
            for (at, value) in chunk {
                q = q
                    .bind(slug)
                    .bind(field.as_str())
                    .bind(*at)
                    .bind(*value)
                    .bind(now.timestamp());
            }
            written += q.execute(&mut **tx).await?.rows_affected();
        }
    }
    Ok(written)
}

/// Units and text values, one row per field.
async fn describe_fields(
    tx: &mut Transaction<'_, Any>,
    slug: &str,
    batch: &Batch,
) -> Result<(), sqlx::Error> {
    for (field, unit) in &batch.units {
        sqlx::query(
            "INSERT INTO history_fields (spot, field, unit) VALUES ($1, $2, $3) \
             ON CONFLICT (spot, field) DO UPDATE SET unit = excluded.unit",
        )
        .bind(slug)
        .bind(field)
        .bind(unit)
        .execute(&mut **tx)
        .await?;
    }
    for (field, at, text) in &batch.texts {
        sqlx::query(
            "INSERT INTO history_fields (spot, field, text_value, text_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (spot, field) DO UPDATE SET text_value = excluded.text_value, text_at = excluded.text_at",
        )
        .bind(slug)
        .bind(field)
        .bind(text)
        .bind(at.timestamp())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// `head` followed by `rows` groups of `width` numbered parameters, then
/// `tail`.
fn values_sql(head: &str, width: usize, rows: usize, tail: &str) -> String {
    let mut sql = String::from(head);
    for r in 0..rows {
        if r > 0 {
            sql.push(',');
        }
        sql.push('(');
        for c in 0..width {
            if c > 0 {
                sql.push(',');
            }
            sql.push_str(&format!("${}", r * width + c + 1));
        }
        sql.push(')');
    }
    sql.push_str(tail);
    sql
}
