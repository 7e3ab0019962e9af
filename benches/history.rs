//! What the history costs. A fetch: extracting 20 numeric fields with
//! their times, merging them into the spot's recent values, and writing
//! the batch (one new sample a field, or 20 columns of 45 days of rows of
//! which one is new). A chart: the reads a template and `/api/history`
//! make against a year of data for 100 spots. On SQLite, and on
//! PostgreSQL when its binaries are installed (`initdb`, as the tests
//! start it); without them the PostgreSQL cases are skipped and say so.
//! Run with `cargo bench --bench history`; figures in docs/performance.md.

use std::hint::black_box;
use std::time::Duration;

use chrono::{DateTime, Utc};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use inkspot::config::{Retention, Source};
use inkspot::history::read::{Range, query, recent};
use inkspot::history::write::write;
use inkspot::history::{Batch, Recent};
use inkspot::source::extract_at;
use inkspot::source::series::Moment;
use sqlx::AnyPool;

const SPOTS: i64 = 100;
const FIELDS: [&str; 2] = ["buoy.wvht", "buoy.period"];
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 - 1_800_000_000 % DAY, 0).unwrap()
}

fn kept() -> Retention {
    Retention {
        raw: Duration::from_secs(10 * DAY as u64),
        hourly: Duration::from_secs(400 * DAY as u64),
    }
}

/// A JSON source of 20 numeric fields, each a current value with its time.
fn twenty() -> (Source, String) {
    let mut fields = String::new();
    let mut current = String::from(r#""time":"2027-01-15T08:00""#);
    for i in 0..20 {
        fields.push_str(&format!("f{i} = {{ pointer = \"/current/f{i}\", times = \"/current/time\", type = \"number\" }}\n"));
        current.push_str(&format!(r#","f{i}":{}.{i}"#, i + 1));
    }
    let source = format!("id = \"s\"\nurl = \"file://x\"\nformat = \"json\"\n[fields]\n{fields}");
    (
        toml::from_str(&source).unwrap(),
        format!(r#"{{"current_units":{{"f0":"ft"}},"current":{{{current}}}}}"#),
    )
}

/// 20 fields of 45 days of ten-minute rows up to `end`, as `rows = "all"`
/// gives them.
fn forty_five_days(end: i64) -> Batch {
    let mut batch = Batch::default();
    for f in 0..20 {
        for i in 0..45 * 144 {
            let at = end - i * 600;
            batch.observed.push(inkspot::history::Sample {
                field: format!("buoy.c{f}"),
                at: DateTime::from_timestamp(at, 0).unwrap(),
                value: (at % 97) as f64 / 10.0,
            });
        }
    }
    batch
}

/// This process's user and system CPU time, in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command's closing parenthesis: utime and stime
    // are the 12th and 13th of them, in clock ticks (100 a second).
    let rest = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<f64> = rest
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    fields
        .get(11)
        .zip(fields.get(12))
        .map_or(0.0, |(u, s)| (u + s) / 100.0)
}

fn fetch_cost(c: &mut Criterion, rt: &tokio::runtime::Runtime, pool: &AnyPool, db: &str) {
    let (source, body) = twenty();
    let moment = Moment {
        now: now(),
        tz: Some(chrono_tz::America::Los_Angeles),
    };
    let mut g = c.benchmark_group(format!("history-fetch-{db}"));
    if db == "sqlite" {
        g.bench_function("extract 20 fields with their times", |b| {
            b.iter(|| extract_at(&source, black_box(&body), moment).unwrap())
        });
        let (_, batch) = extract_at(&source, &body, moment).unwrap();
        g.bench_function("merge into the recent values", |b| {
            b.iter_batched(
                || (Recent::default(), batch.clone()),
                |(mut r, batch)| r.merge(&batch, now()),
                BatchSize::SmallInput,
            )
        });
    }
    // Each write one new sample a field, ten minutes after the last.
    let mut at = now().timestamp() - 30 * DAY;
    g.bench_function("write 20 new samples", |b| {
        b.iter_batched(
            || {
                at += 600;
                let mut batch = Batch::default();
                for f in 0..20 {
                    batch.observed.push(inkspot::history::Sample {
                        field: format!("json.f{f}"),
                        at: DateTime::from_timestamp(at, 0).unwrap(),
                        value: 1.0,
                    });
                }
                (batch, DateTime::from_timestamp(at, 0).unwrap())
            },
            |(batch, t)| {
                rt.block_on(write(pool, "fetch", &batch, t, kept()))
                    .unwrap()
            },
            BatchSize::SmallInput,
        )
    });
    let cpu = cpu_seconds();
    let started = std::time::Instant::now();
    for _ in 0..500 {
        at += 600;
        let mut batch = Batch::default();
        for f in 0..20 {
            batch.observed.push(inkspot::history::Sample {
                field: format!("json.f{f}"),
                at: DateTime::from_timestamp(at, 0).unwrap(),
                value: 1.0,
            });
        }
        rt.block_on(write(
            pool,
            "fetch",
            &batch,
            DateTime::from_timestamp(at, 0).unwrap(),
            kept(),
        ))
        .unwrap();
    }
    println!(
        "{db}: a write of 20 new samples takes {:.2} ms, {:.2} ms of this process's CPU",
        started.elapsed().as_secs_f64() * 2.0,
        (cpu_seconds() - cpu) * 2.0
    );
    let mut end = now().timestamp() - 20 * DAY;
    rt.block_on(write(
        pool,
        "ndbc",
        &forty_five_days(end),
        DateTime::from_timestamp(end, 0).unwrap(),
        kept(),
    ))
    .unwrap();
    g.sample_size(20);
    g.bench_function("write 20 columns of 45 days, one row new", |b| {
        b.iter_batched(
            || {
                end += 600;
                (
                    forty_five_days(end),
                    DateTime::from_timestamp(end, 0).unwrap(),
                )
            },
            |(batch, t)| rt.block_on(write(pool, "ndbc", &batch, t, kept())).unwrap(),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

/// A year of hourly rollups and ten days of ten-minute samples, for each
/// of 100 spots and 2 fields, made by the database itself; the size of
/// the SQLite `file`, when there is one, is read before and after each
/// table, for the bytes a row takes.
async fn a_year(pool: &AnyPool, file: Option<&std::path::Path>) {
    let size = async || -> Option<u64> {
        let file = file?;
        // The file once its write-ahead log is checkpointed into it.
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(pool)
            .await
            .ok()?;
        std::fs::metadata(file).ok().map(|m| m.len())
    };
    let end = now().timestamp();
    let before = size().await;
    for s in 0..SPOTS {
        for field in FIELDS {
            let spot = format!("spot-{s}");
            sqlx::query(
                "INSERT INTO samples_hourly (spot, field, hour, lo, hi, total, n, last_value, last_at) \
                 WITH RECURSIVE h(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM h WHERE x < 8759) \
                 SELECT $1, $2, $3 + h.x * 3600, 1.0, 2.0, 9.0, 6, 1.5, $3 + h.x * 3600 + 3000 FROM h",
            )
            .bind(&spot)
            .bind(field)
            .bind(end - 365 * DAY)
            .execute(pool)
            .await
            .unwrap();
        }
    }
    let hourly = size().await;
    for s in 0..SPOTS {
        for field in FIELDS {
            let spot = format!("spot-{s}");
            sqlx::query(
                "INSERT INTO samples (spot, field, at, value) \
                 WITH RECURSIVE r(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM r WHERE x < 1439) \
                 SELECT $1, $2, $3 + r.x * 600, 1.5 FROM r",
            )
            .bind(&spot)
            .bind(field)
            .bind(end - 10 * DAY)
            .execute(pool)
            .await
            .unwrap();
        }
    }
    let raw = size().await;
    if let (Some(a), Some(b), Some(c)) = (before, hourly, raw) {
        let rollups = (SPOTS * FIELDS.len() as i64 * 8760) as u64;
        let samples = (SPOTS * FIELDS.len() as i64 * 1440) as u64;
        println!(
            "sqlite: {} bytes a rollup, {} bytes a sample, indexes included",
            (b - a) / rollups,
            (c - b) / samples
        );
    }
}

fn chart_cost(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    pool: &AnyPool,
    db: &str,
    file: Option<&std::path::Path>,
) {
    let started = std::time::Instant::now();
    rt.block_on(a_year(pool, file));
    println!(
        "{db}: a year of 100 spots written in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let mut g = c.benchmark_group(format!("history-chart-{db}"));
    let t = now().timestamp();
    g.bench_function(
        "a spot's recent values for its template (72 h, every field)",
        |b| b.iter(|| rt.block_on(recent(pool, "spot-42", now())).unwrap()),
    );
    g.bench_function("24 h of one field, raw", |b| {
        b.iter(|| {
            rt.block_on(query(
                pool,
                "spot-42",
                "buoy.wvht",
                Range {
                    from: t - DAY,
                    to: t,
                    step: None,
                },
                t - 10 * DAY,
            ))
            .unwrap()
        })
    });
    g.bench_function("a year of one field by the day", |b| {
        b.iter(|| {
            rt.block_on(query(
                pool,
                "spot-42",
                "buoy.wvht",
                Range {
                    from: t - 365 * DAY,
                    to: t,
                    step: Some(DAY),
                },
                t - 10 * DAY,
            ))
            .unwrap()
        })
    });
    g.bench_function("24 h of one field by the hour", |b| {
        b.iter(|| {
            rt.block_on(query(
                pool,
                "spot-42",
                "buoy.wvht",
                Range {
                    from: t - DAY,
                    to: t,
                    step: Some(HOUR),
                },
                t - 10 * DAY,
            ))
            .unwrap()
        })
    });
    g.finish();
}

fn history(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = rt
        .block_on(inkspot::db::open_sqlite(&dir.path().join("inkspot.db")))
        .unwrap();
    fetch_cost(c, &rt, &sqlite, "sqlite");
    let file = dir.path().join("inkspot.db");
    chart_cost(c, &rt, &sqlite, "sqlite", Some(&file));
    if !inkspot_testkit::postgres::available() {
        println!("SKIPPED: PostgreSQL: no initdb here; install Debian's postgresql to measure it");
        return;
    }
    let pg = inkspot_testkit::postgres::Postgres::start();
    let pool = rt
        .block_on(inkspot::db::Target::Postgres(pg.url.clone()).open())
        .unwrap();
    fetch_cost(c, &rt, &pool, "postgres");
    chart_cost(c, &rt, &pool, "postgres", None);
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = history
}
criterion_main!(benches);
