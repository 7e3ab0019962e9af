//! Writing one fetch's batch, in a few statements whatever the number of
//! fields: the samples newer than each field's newest kept one (and a
//! sample already kept is never written again, so two replicas writing
//! the same fetch keep one row), the hourly rollups of the hours they
//! touch, rollups straight from samples older than the raw retention for
//! hours not rolled up yet, the forecast replaced, units and text values.
//! One transaction per batch.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use inkspot_core::config::Retention;
use inkspot_core::history::Batch;
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

/// One field's value at a time: `(field, Unix seconds, value)`.
type Row3 = (String, i64, f64);

/// What a batch adds, worked out before the transaction.
#[derive(Default)]
struct Plan {
    /// Raw samples newer than what is kept.
    fresh: Vec<Row3>,
    /// Hours made straight from samples older than the raw retention.
    old_hours: Vec<(String, Hour)>,
}

/// Writes `batch` of the spot `slug`, fetched at `now`, kept as `kept`.
pub async fn write(
    pool: &AnyPool,
    slug: &str,
    batch: &Batch,
    now: DateTime<Utc>,
    kept: Retention,
) -> Result<Written, sqlx::Error> {
    // What is kept already is read before the transaction, so that the
    // transaction's first statement writes: SQLite then takes its write
    // lock at once (waiting its turn) instead of failing to upgrade a read.
    let plan = plan(pool, slug, batch, now, kept).await?;
    let mut tx = pool.begin().await?;
    let raw = add_raw(&mut tx, slug, &plan.fresh).await?;
    let hours = roll_up(&mut tx, slug, &plan.fresh).await?
        + put_hours(&mut tx, slug, &plan.old_hours, "DO NOTHING").await?;
    let forecast = replace_forecasts(&mut tx, slug, batch, now).await?;
    let written = Written {
        raw,
        hours,
        forecast,
    };
    describe_fields(&mut tx, slug, batch).await?;
    tx.commit().await?;
    Ok(written)
}

/// How far before a field's newest kept sample a new one is still looked
/// for (a reading filled in late, a replica's fetch written out of turn);
/// older ones are taken as kept already.
const LOOKBACK: i64 = 6 * 3600;

/// Each field's samples not kept yet (newer than its newest kept one, or
/// within [`LOOKBACK`] of it and missing), and for samples older than the
/// raw retention, the hours newer than its newest rollup. The raw
/// retention starts on a whole hour, so an hour is rolled up either from
/// its raw rows or straight from the samples, never half from each.
async fn plan(
    pool: &AnyPool,
    slug: &str,
    batch: &Batch,
    now: DateTime<Utc>,
    kept: Retention,
) -> Result<Plan, sqlx::Error> {
    let raw_from = raw_start(now, kept);
    let hourly_from = now.timestamp() - kept.hourly.as_secs() as i64;
    let fields: BTreeSet<&str> = batch.observed.iter().map(|s| s.field.as_str()).collect();
    let newest = newest(pool, slug, &fields).await?;
    let near = near_newest(pool, slug, &newest).await?;
    let mut fresh: BTreeMap<(&str, i64), f64> = BTreeMap::new();
    let mut old: BTreeMap<&str, Vec<(i64, f64)>> = BTreeMap::new();
    for s in &batch.observed {
        let at = s.at.timestamp();
        let (raw, hour) = newest
            .get(s.field.as_str())
            .copied()
            .unwrap_or((None, None));
        if at >= raw_from {
            let unkept = match raw {
                None => true,
                Some(n) if at > n => true,
                Some(n) => at > n - LOOKBACK && !near.contains(&(s.field.clone(), at)),
            };
            if unkept {
                fresh.insert((&s.field, at), s.value);
            }
        } else if at >= hourly_from && hour.is_none_or(|h| at.div_euclid(3600) * 3600 > h) {
            old.entry(&s.field).or_default().push((at, s.value));
        }
    }
    let old_hours = old
        .into_iter()
        .flat_map(|(field, rows)| {
            hours_of(&rows)
                .into_iter()
                .map(move |h| (field.to_string(), h))
        })
        .collect();
    Ok(Plan {
        fresh: fresh
            .into_iter()
            .map(|((f, at), v)| (f.to_string(), at, v))
            .collect(),
        old_hours,
    })
}

/// Where raw samples start for a write at `now`: `kept.raw` before it,
/// down to the whole hour.
pub fn raw_start(now: DateTime<Utc>, kept: Retention) -> i64 {
    (now.timestamp() - kept.raw.as_secs() as i64).div_euclid(3600) * 3600
}

/// The samples kept within [`LOOKBACK`] of each field's newest, as
/// `(field, time)`.
async fn near_newest(
    pool: &AnyPool,
    slug: &str,
    newest: &HashMap<String, (Option<i64>, Option<i64>)>,
) -> Result<HashSet<(String, i64)>, sqlx::Error> {
    let mut out = HashSet::new();
    let fields: Vec<(&str, i64)> = newest
        .iter()
        .filter_map(|(f, (raw, _))| raw.map(|n| (f.as_str(), n - LOOKBACK)))
        .collect();
    for chunk in fields.chunks(CHUNK / 2) {
        let Some(from) = chunk.iter().map(|(_, from)| *from).min() else {
            continue;
        };
        let list: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 3)).collect();
        let sql = format!(
            "SELECT field, at FROM samples WHERE spot = $1 AND field IN ({}) AND at > $2",
            list.join(",")
        );
        let mut q = sqlx::query(&sql).bind(slug).bind(from);
        for (field, _) in chunk {
            q = q.bind(*field);
        }
        for r in q.fetch_all(pool).await? {
            out.insert((r.try_get("field")?, r.try_get("at")?));
        }
    }
    Ok(out)
}

/// Each field's newest raw sample and newest rollup hour, in one query.
async fn newest(
    pool: &AnyPool,
    slug: &str,
    fields: &BTreeSet<&str>,
) -> Result<HashMap<String, (Option<i64>, Option<i64>)>, sqlx::Error> {
    let mut out = HashMap::new();
    let fields: Vec<&str> = fields.iter().copied().collect();
    for chunk in fields.chunks(CHUNK / 2) {
        let parts: Vec<String> = (0..chunk.len())
            .map(|i| {
                let f = i + 2;
                format!(
                    "SELECT ${f} AS field, \
                     (SELECT MAX(at) FROM samples WHERE spot = $1 AND field = ${f}) AS raw, \
                     (SELECT MAX(hour) FROM samples_hourly WHERE spot = $1 AND field = ${f}) AS hour"
                )
            })
            .collect();
        let sql = parts.join(" UNION ALL ");
        let mut q = sqlx::query(&sql).bind(slug);
        for field in chunk {
            q = q.bind(*field);
        }
        for r in q.fetch_all(pool).await? {
            out.insert(r.try_get("field")?, (r.try_get("raw")?, r.try_get("hour")?));
        }
    }
    Ok(out)
}

/// Inserts `fresh` samples; a row another replica wrote meanwhile is left
/// as it is. Returns how many were added.
async fn add_raw(
    tx: &mut Transaction<'_, Any>,
    slug: &str,
    fresh: &[Row3],
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
        for (field, at, value) in chunk {
            q = q.bind(slug).bind(field.as_str()).bind(*at).bind(*value);
        }
        added += q.execute(&mut **tx).await?.rows_affected();
    }
    Ok(added)
}

/// Recomputes from the raw rows the rollups of the hours `added` touches.
async fn roll_up(
    tx: &mut Transaction<'_, Any>,
    slug: &str,
    added: &[Row3],
) -> Result<u64, sqlx::Error> {
    let touched: BTreeSet<(&str, i64)> = added
        .iter()
        .map(|(f, t, _)| (f.as_str(), t.div_euclid(3600) * 3600))
        .collect();
    let (Some(first), Some(last)) = (
        touched.iter().map(|(_, h)| *h).min(),
        touched.iter().map(|(_, h)| *h).max(),
    ) else {
        return Ok(0);
    };
    let mut rows: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    let fields: BTreeSet<&str> = touched.iter().map(|(f, _)| *f).collect();
    // By field, so the primary key's index (spot, field, at) is used.
    let list: Vec<String> = (0..fields.len()).map(|i| format!("${}", i + 4)).collect();
    let sql = format!(
        "SELECT field, at, value FROM samples WHERE spot = $1 AND field IN ({}) AND at >= $2 AND at < $3",
        list.join(",")
    );
    let mut q = sqlx::query(&sql).bind(slug).bind(first).bind(last + 3600);
    for field in &fields {
        q = q.bind(*field);
    }
    let found = q.fetch_all(&mut **tx).await?;
    for r in found {
        let field: String = r.try_get("field")?;
        rows.entry(field)
            .or_default()
            .push((r.try_get("at")?, r.try_get("value")?));
    }
    let hours: Vec<(String, Hour)> = rows
        .iter()
        .flat_map(|(field, rows)| hours_of(rows).into_iter().map(move |h| (field.clone(), h)))
        .filter(|(field, h)| touched.contains(&(field.as_str(), h.hour)))
        .collect();
    put_hours(tx, slug, &hours, "DO UPDATE SET lo = excluded.lo, hi = excluded.hi, total = excluded.total, n = excluded.n, last_value = excluded.last_value, last_at = excluded.last_at").await
}

async fn put_hours(
    tx: &mut Transaction<'_, Any>,
    slug: &str,
    hours: &[(String, Hour)],
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
        for (field, h) in chunk {
            q = q
                .bind(slug)
                .bind(field.as_str())
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
    let fields: BTreeSet<&str> = batch.forecast_fields.iter().map(String::as_str).collect();
    for field in &fields {
        sqlx::query("DELETE FROM forecasts WHERE spot = $1 AND field = $2")
            .bind(slug)
            .bind(*field)
            .execute(&mut **tx)
            .await?;
    }
    let rows: BTreeMap<(&str, i64), f64> = batch
        .forecast
        .iter()
        .filter(|s| fields.contains(s.field.as_str()))
        .map(|s| ((s.field.as_str(), s.at.timestamp()), s.value))
        .collect();
    let rows: Vec<_> = rows.into_iter().collect();
    let mut written = 0;
    for chunk in rows.chunks(CHUNK) {
        // Another replica may write the same forecast at once.
        let sql = values_sql(
            "INSERT INTO forecasts (spot, field, at, value, issued) VALUES ",
            5,
            chunk.len(),
            " ON CONFLICT (spot, field, at) DO UPDATE SET value = excluded.value, issued = excluded.issued",
        );
        let mut q = sqlx::query(&sql);
        for ((field, at), value) in chunk {
            q = q
                .bind(slug)
                .bind(*field)
                .bind(*at)
                .bind(*value)
                .bind(now.timestamp());
        }
        written += q.execute(&mut **tx).await?.rows_affected();
    }
    Ok(written)
}

/// Units and text values, in one statement each.
async fn describe_fields(
    tx: &mut Transaction<'_, Any>,
    slug: &str,
    batch: &Batch,
) -> Result<(), sqlx::Error> {
    let units: Vec<_> = batch.units.iter().collect();
    for chunk in units.chunks(CHUNK) {
        let sql = values_sql(
            "INSERT INTO history_fields (spot, field, unit) VALUES ",
            3,
            chunk.len(),
            " ON CONFLICT (spot, field) DO UPDATE SET unit = excluded.unit",
        );
        let mut q = sqlx::query(&sql);
        for (field, unit) in chunk {
            q = q.bind(slug).bind(field.as_str()).bind(unit.as_str());
        }
        q.execute(&mut **tx).await?;
    }
    // One row per field: the last text of each wins.
    let texts: BTreeMap<&str, (i64, &str)> = batch
        .texts
        .iter()
        .map(|(f, at, t)| (f.as_str(), (at.timestamp(), t.as_str())))
        .collect();
    let texts: Vec<_> = texts.into_iter().collect();
    for chunk in texts.chunks(CHUNK) {
        let sql = values_sql(
            "INSERT INTO history_fields (spot, field, text_value, text_at) VALUES ",
            4,
            chunk.len(),
            " ON CONFLICT (spot, field) DO UPDATE SET text_value = excluded.text_value, text_at = excluded.text_at",
        );
        let mut q = sqlx::query(&sql);
        for (field, (at, text)) in chunk {
            q = q.bind(slug).bind(*field).bind(*text).bind(*at);
        }
        q.execute(&mut **tx).await?;
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
