//! What every database the history runs on must do, run against SQLite in
//! this crate's tests and against a real PostgreSQL in the service's: a
//! sample written once however often it comes, rollups that hold the right
//! numbers, retention that keeps the rollups of what it deletes, a query
//! that joins raw rows and rollups, forecasts replaced.
//!
//! Each check takes a freshly migrated, empty database.

use std::time::Duration;

use chrono::{DateTime, Utc};
use inkspot_core::config::Retention;
use inkspot_core::history::{Batch, Sample};
use sqlx::AnyPool;

use crate::read::{Range, kept, query};
use crate::write::write;

const DAY: i64 = 86_400;

fn time(t: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(t, 0).expect("a time in range")
}

/// A batch of `field` with one value every ten minutes over `hours` hours
/// ending at `end`: the value is the hour of the day (so each hour's
/// rollup is known) plus a tenth per ten minutes.
pub fn ten_minutes(field: &str, end: i64, hours: i64) -> Batch {
    let start = end - hours * 3600;
    let observed = (0..hours * 6)
        .map(|i| {
            let at = start + i * 600;
            Sample {
                field: field.to_string(),
                at: time(at),
                value: value_at(at),
            }
        })
        .collect();
    Batch {
        observed,
        ..Batch::default()
    }
}

/// The value [`ten_minutes`] puts at `at`.
pub fn value_at(at: i64) -> f64 {
    ((at.rem_euclid(DAY)) / 3600) as f64 + ((at.rem_euclid(3600)) / 600) as f64 / 10.0
}

fn kept_for(raw_days: u64) -> Retention {
    Retention {
        raw: Duration::from_secs(raw_days * DAY as u64),
        hourly: Duration::from_secs(400 * DAY as u64),
    }
}

/// Runs every check on `pool`, naming the database in failures.
pub async fn run(pool: &AnyPool, name: &str) {
    written_once(pool, name).await;
    rolled_up_and_joined(pool, name).await;
    forecasts_replaced(pool, name).await;
    texts_keep_their_latest(pool, name).await;
    a_late_sample_is_kept(pool, name).await;
}

/// A reading that comes later than newer ones (a buoy's row filled in
/// after it was `MM`) is kept, and its hour rolled up again with it.
pub async fn a_late_sample_is_kept(pool: &AnyPool, name: &str) {
    let now = 1_800_000_000 - 1_800_000_000 % DAY;
    let mut first = ten_minutes("buoy.wvht", now, 6);
    let late = first.observed.remove(20);
    write(pool, "late", &first, time(now), kept_for(10))
        .await
        .expect("write");
    let again = Batch {
        observed: vec![late.clone()],
        ..Batch::default()
    };
    let written = write(pool, "late", &again, time(now), kept_for(10))
        .await
        .expect("write");
    assert_eq!(written.raw, 1, "{name}: the late reading is kept");
    let hour = late.at.timestamp().div_euclid(3600) * 3600;
    let answer = query(
        pool,
        "late",
        "buoy.wvht",
        Range {
            from: hour,
            to: hour + 3599,
            step: Some(3600),
        },
        now - DAY,
    )
    .await
    .expect("query");
    assert_eq!(answer.observed.len(), 1, "{name}");
    assert_eq!(answer.observed[0].count, 6, "{name}: its hour counts it");
}

/// A text field keeps only its latest value.
pub async fn texts_keep_their_latest(pool: &AnyPool, name: &str) {
    let now = 1_800_000_000;
    for (i, text) in ["m", "ft"].iter().enumerate() {
        let batch = Batch {
            texts: vec![(
                "marine.unit".into(),
                time(now + i as i64 * 600),
                (*text).into(),
            )],
            ..Batch::default()
        };
        write(pool, "texts", &batch, time(now), kept_for(10))
            .await
            .expect("write");
    }
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT text_value, text_at FROM history_fields WHERE spot = 'texts' AND field = 'marine.unit'",
    )
    .fetch_all(pool)
    .await
    .expect("read");
    assert_eq!(
        rows,
        vec![("ft".to_string(), now + 600)],
        "{name}: one row, the latest"
    );
}

/// The same samples written twice add nothing the second time.
pub async fn written_once(pool: &AnyPool, name: &str) {
    let now = 1_800_000_000;
    let batch = ten_minutes("buoy.wvht", now, 24);
    let first = write(pool, "once", &batch, time(now), kept_for(10))
        .await
        .expect("first write");
    assert_eq!(first.raw, 144, "{name}: every sample written");
    assert_eq!(first.hours, 24, "{name}: every hour rolled up");
    let second = write(pool, "once", &batch, time(now), kept_for(10))
        .await
        .expect("second write");
    assert_eq!(
        second.raw, 0,
        "{name}: a second fetch of the same data adds nothing"
    );
    let (spots, _) = kept(pool).await.expect("kept");
    assert_eq!(spots["once"].samples, 144, "{name}");
    assert_eq!(spots["once"].hours, 24, "{name}");
}

/// Raw rows past `keep_raw` are deleted, their rollups hold min, max, mean
/// and count, and a query across the boundary reads both.
pub async fn rolled_up_and_joined(pool: &AnyPool, name: &str) {
    let now = 1_800_000_000 - 1_800_000_000 % DAY;
    write(
        pool,
        "roll",
        &ten_minutes("buoy.wvht", now, 72),
        time(now - 1),
        kept_for(10),
    )
    .await
    .expect("write");
    // Retention of one day: what is older than a day is gone from the raw table.
    let cut = now - DAY;
    sqlx::query("DELETE FROM samples WHERE spot = $1 AND at < $2")
        .bind("roll")
        .bind(cut)
        .execute(pool)
        .await
        .expect("delete");
    let answer = query(
        pool,
        "roll",
        "buoy.wvht",
        Range {
            from: now - 3 * DAY,
            to: now,
            step: None,
        },
        cut,
    )
    .await
    .expect("query");
    let (hourly, raw): (Vec<_>, Vec<_>) = answer.observed.iter().partition(|r| r.at < cut);
    assert_eq!(
        hourly.len(),
        48,
        "{name}: two days of hourly rollups before the cut"
    );
    assert_eq!(raw.len(), 144, "{name}: a day of raw rows after it");
    for h in &hourly {
        assert_eq!(h.count, 6, "{name}: six samples an hour");
        let base = value_at(h.at);
        assert!(
            (h.min - base).abs() < 1e-9 && (h.max - (base + 0.5)).abs() < 1e-9,
            "{name}: {h:?}"
        );
        assert!(
            (h.value - (base + 0.25)).abs() < 1e-9,
            "{name}: the mean of {h:?}"
        );
    }
    let stepped = query(
        pool,
        "roll",
        "buoy.wvht",
        Range {
            from: now - 3 * DAY,
            to: now,
            step: Some(6 * 3600),
        },
        cut,
    )
    .await
    .expect("query by 6h");
    assert_eq!(
        stepped.observed.len(),
        12,
        "{name}: three days in six-hour steps"
    );
    assert!(
        stepped.observed.iter().all(|r| r.count == 36),
        "{name}: {:?}",
        stepped.observed
    );
}

/// A newer forecast replaces the one kept.
pub async fn forecasts_replaced(pool: &AnyPool, name: &str) {
    let now = 1_800_000_000;
    let forecast = |values: &[f64]| Batch {
        forecast: values
            .iter()
            .enumerate()
            .map(|(i, v)| Sample {
                field: "marine.wave".into(),
                at: time(now + (i as i64 + 1) * 3600),
                value: *v,
            })
            .collect(),
        forecast_fields: vec!["marine.wave".into()],
        units: [("marine.wave".to_string(), "ft".to_string())].into(),
        ..Batch::default()
    };
    write(
        pool,
        "ahead",
        &forecast(&[1.0, 2.0, 3.0]),
        time(now),
        kept_for(10),
    )
    .await
    .expect("write");
    write(
        pool,
        "ahead",
        &forecast(&[5.0, 6.0]),
        time(now),
        kept_for(10),
    )
    .await
    .expect("write");
    let answer = query(
        pool,
        "ahead",
        "marine.wave",
        Range {
            from: now,
            to: now + DAY,
            step: None,
        },
        now - DAY,
    )
    .await
    .expect("query");
    let values: Vec<f64> = answer.forecast.iter().map(|r| r.value).collect();
    assert_eq!(values, vec![5.0, 6.0], "{name}: the newer forecast only");
    assert_eq!(answer.unit.as_deref(), Some("ft"), "{name}");
    assert!(
        answer.observed.is_empty(),
        "{name}: forecasts are not observations"
    );
}
