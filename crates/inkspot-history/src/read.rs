//! Reading the history back: a spot's recent values for its templates,
//! a field's rows over a range (raw where they are kept, hourly rollups
//! before), and what is kept, for `/status` and `/metrics`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use inkspot_core::history::{FORECAST_HOURS, Point, RECENT_HOURS, Recent};
use serde::Serialize;
use sqlx::{AnyPool, Row as _};

/// Bytes one raw sample takes in the database, with its share of the
/// indexes: measured on SQLite (see `docs/operations.md`), and used to
/// keep the history within `history.max_disk`.
pub const RAW_ROW_BYTES: u64 = 90;
/// Bytes one hourly rollup takes, measured likewise.
pub const HOURLY_ROW_BYTES: u64 = 100;

/// The spot `slug`'s values of the [`RECENT_HOURS`] before `now` and its
/// forecasts, with their units.
pub async fn recent(pool: &AnyPool, slug: &str, now: DateTime<Utc>) -> Result<Recent, sqlx::Error> {
    let from = now.timestamp() - RECENT_HOURS * 3600;
    let mut out = Recent::default();
    let rows = sqlx::query(
        "SELECT field, at, value FROM samples WHERE spot = $1 AND at >= $2 ORDER BY field, at",
    )
    .bind(slug)
    .bind(from)
    .fetch_all(pool)
    .await?;
    for r in rows {
        let field: String = r.try_get("field")?;
        out.observed
            .entry(field)
            .or_default()
            .push(Point::new(r.try_get("at")?, r.try_get("value")?));
    }
    let ahead = now.timestamp() + FORECAST_HOURS * 3600;
    let rows = sqlx::query(
        "SELECT field, at, value FROM forecasts WHERE spot = $1 AND at <= $2 ORDER BY field, at",
    )
    .bind(slug)
    .bind(ahead)
    .fetch_all(pool)
    .await?;
    for r in rows {
        let field: String = r.try_get("field")?;
        out.forecast
            .entry(field)
            .or_default()
            .push(Point::new(r.try_get("at")?, r.try_get("value")?));
    }
    let rows =
        sqlx::query("SELECT field, unit FROM history_fields WHERE spot = $1 AND unit IS NOT NULL")
            .bind(slug)
            .fetch_all(pool)
            .await?;
    for r in rows {
        out.units.insert(r.try_get("field")?, r.try_get("unit")?);
    }
    Ok(out)
}

/// The most raw samples one query reads; an answer of more is refused
/// (ask in steps). Rollups are bounded by the range: 800 days is 19,200.
pub const MAX_RAW_ROWS: usize = 100_000;

/// Why a query has no answer.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// The range holds more raw samples than one answer may.
    #[error("the range holds more than {0} samples; ask for it in steps (step=1h)")]
    TooMany(usize),
}

/// One row of an answer: a sample, or a bucket's mean with its extremes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// The sample's time, or the bucket's start; Unix seconds.
    pub at: i64,
    /// The value, or the bucket's mean.
    pub value: f64,
    /// The bucket's smallest value.
    pub min: f64,
    /// The bucket's largest value.
    pub max: f64,
    /// How many samples it stands for.
    pub count: i64,
}

/// A field's rows over a range.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Answer {
    /// The field's unit, where known.
    pub unit: Option<String>,
    /// Observations, oldest first.
    pub observed: Vec<Row>,
    /// The latest forecast inside the range, oldest first.
    pub forecast: Vec<Row>,
}

/// What to read: `from..=to` in Unix seconds, in buckets of `step`
/// seconds (raw samples without one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// The start.
    pub from: i64,
    /// The end.
    pub to: i64,
    /// The bucket's length; `None` for raw samples.
    pub step: Option<i64>,
}

/// The field's rows over `range`: raw samples from `raw_from` on (the
/// start of the raw retention) and hourly rollups before it; with a step
/// of an hour or more, rollups throughout.
pub async fn query(
    pool: &AnyPool,
    slug: &str,
    field: &str,
    range: Range,
    raw_from: i64,
) -> Result<Answer, QueryError> {
    let hourly_only = range.step.is_some_and(|s| s >= 3600);
    // Whole hours before the raw rows start come from the rollups.
    let raw_from = (raw_from + 3599).div_euclid(3600) * 3600;
    let split = if hourly_only {
        range.to + 1
    } else {
        raw_from.clamp(range.from, range.to + 1)
    };
    let mut rows = hourly(pool, slug, field, range.from, split.min(range.to + 1) - 1).await?;
    if split <= range.to {
        let samples = raw(pool, "samples", slug, field, split, range.to).await?;
        if samples.len() > MAX_RAW_ROWS {
            return Err(QueryError::TooMany(MAX_RAW_ROWS));
        }
        rows.extend(samples);
    }
    let forecast = raw(pool, "forecasts", slug, field, range.from, range.to).await?;
    let unit = sqlx::query("SELECT unit FROM history_fields WHERE spot = $1 AND field = $2")
        .bind(slug)
        .bind(field)
        .fetch_optional(pool)
        .await?
        .and_then(|r| r.try_get::<Option<String>, _>("unit").ok().flatten());
    Ok(Answer {
        unit,
        observed: bucket(rows, range.step),
        forecast: bucket(forecast, range.step),
    })
}

async fn raw(
    pool: &AnyPool,
    table: &str,
    slug: &str,
    field: &str,
    from: i64,
    to: i64,
) -> Result<Vec<Row>, sqlx::Error> {
    let sql = format!(
        "SELECT at, value FROM {table} WHERE spot = $1 AND field = $2 AND at >= $3 AND at <= $4 ORDER BY at LIMIT {}",
        MAX_RAW_ROWS + 1
    );
    sqlx::query(&sql)
        .bind(slug)
        .bind(field)
        .bind(from)
        .bind(to)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| {
            let value: f64 = r.try_get("value")?;
            Ok(Row {
                at: r.try_get("at")?,
                value,
                min: value,
                max: value,
                count: 1,
            })
        })
        .collect()
}

async fn hourly(
    pool: &AnyPool,
    slug: &str,
    field: &str,
    from: i64,
    to: i64,
) -> Result<Vec<Row>, sqlx::Error> {
    if to < from {
        return Ok(Vec::new());
    }
    sqlx::query(
        "SELECT hour, lo, hi, total, n FROM samples_hourly WHERE spot = $1 AND field = $2 AND hour >= $3 AND hour <= $4 ORDER BY hour",
    )
    .bind(slug)
    .bind(field)
    .bind(from.div_euclid(3600) * 3600)
    .bind(to)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        let n: i64 = r.try_get("n")?;
        let total: f64 = r.try_get("total")?;
        Ok(Row { at: r.try_get("hour")?, value: total / n.max(1) as f64, min: r.try_get("lo")?, max: r.try_get("hi")?, count: n })
    })
    .collect()
}

/// `rows` in buckets of `step` seconds: each the mean weighted by count,
/// with the extremes; unchanged without a step.
fn bucket(rows: Vec<Row>, step: Option<i64>) -> Vec<Row> {
    let Some(step) = step.filter(|s| *s > 0) else {
        return rows;
    };
    let mut out: Vec<(Row, f64)> = Vec::new();
    for r in rows {
        let at = r.at.div_euclid(step) * step;
        match out.last_mut() {
            Some((b, total)) if b.at == at => {
                b.min = b.min.min(r.min);
                b.max = b.max.max(r.max);
                b.count += r.count;
                *total += r.value * r.count as f64;
            }
            _ => out.push((Row { at, ..r.clone() }, r.value * r.count as f64)),
        }
    }
    out.into_iter()
        .map(|(mut b, total)| {
            b.value = total / b.count.max(1) as f64;
            b
        })
        .collect()
}

/// What the history keeps of one spot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct SpotKept {
    /// Raw samples.
    pub samples: i64,
    /// Hourly rollups.
    pub hours: i64,
    /// The time of the newest sample.
    pub newest: Option<DateTime<Utc>>,
}

/// What the history keeps, by spot slug, and its estimated size in bytes.
pub async fn kept(pool: &AnyPool) -> Result<(BTreeMap<String, SpotKept>, u64), sqlx::Error> {
    let mut out: BTreeMap<String, SpotKept> = BTreeMap::new();
    for r in sqlx::query("SELECT spot, COUNT(*) AS n, MAX(at) AS newest FROM samples GROUP BY spot")
        .fetch_all(pool)
        .await?
    {
        let entry = out.entry(r.try_get("spot")?).or_default();
        entry.samples = r.try_get("n")?;
        entry.newest = r
            .try_get::<Option<i64>, _>("newest")?
            .and_then(|t| DateTime::from_timestamp(t, 0));
    }
    for r in sqlx::query("SELECT spot, COUNT(*) AS n FROM samples_hourly GROUP BY spot")
        .fetch_all(pool)
        .await?
    {
        out.entry(r.try_get("spot")?).or_default().hours = r.try_get("n")?;
    }
    let bytes = out
        .values()
        .map(|k| k.samples as u64 * RAW_ROW_BYTES + k.hours as u64 * HOURLY_ROW_BYTES)
        .sum();
    Ok((out, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_weigh_each_row_by_its_count() {
        let row = |at, value, count| Row {
            at,
            value,
            min: value,
            max: value,
            count,
        };
        let rows = vec![row(0, 1.0, 1), row(600, 4.0, 3), row(3600, 2.0, 1)];
        let out = bucket(rows, Some(3600));
        assert_eq!(out.len(), 2);
        assert_eq!(
            (
                out[0].at,
                out[0].value,
                out[0].min,
                out[0].max,
                out[0].count
            ),
            (0, 3.25, 1.0, 4.0, 4)
        );
        assert_eq!(out[1].at, 3600);
    }
}
