use std::sync::Arc;
use std::sync::atomic::Ordering;

use inkspot_core::clock::ManualClock;
use inkspot_core::history::{Batch, History};

use super::*;

async fn sqlite() -> (tempfile::TempDir, AnyPool) {
    let dir = tempfile::tempdir().unwrap();
    let pool = inkspot_db::open_sqlite(&dir.path().join("inkspot.db"))
        .await
        .unwrap();
    (dir, pool)
}

#[tokio::test]
async fn sqlite_passes_the_conformance_suite() {
    let (_dir, pool) = sqlite().await;
    conformance::run(&pool, "sqlite").await;
}

fn config(text: &str) -> Arc<Config> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("templates")).unwrap();
    std::fs::write(dir.path().join("templates/t.svg"), "<svg/>").unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, text).unwrap();
    let config = inkspot_core::config::Config::load(&path).unwrap();
    Arc::new(config)
}

const CONFIG: &str = r#"
[templates]
dir = "templates"
[history]
keep_raw = "1d"
[[spots]]
name = "Linda Mar"
template = "t"
[[spots.sources]]
id = "buoy"
url = "file://x.txt"
format = "text"
[spots.sources.fields]
wvht = { column = "WVHT", type = "number", rows = "all" }
"#;

#[tokio::test]
async fn retention_deletes_raw_rows_past_keep_raw_and_keeps_their_rollups() {
    let (_dir, pool) = sqlite().await;
    let config = config(CONFIG);
    let now = chrono::DateTime::from_timestamp(1_800_000_000 - 1_800_000_000 % 86_400, 0).unwrap();
    // The retention task's own first run, at start, sees a clock before
    // the data: it deletes nothing, and this test's run decides.
    let clock = ManualClock::new(now - chrono::Duration::days(3));
    let supervisor = Supervisor::new();
    let keeper = Keeper::start(
        pool.clone(),
        config.clone(),
        Arc::new(clock.clone()),
        &supervisor,
    );
    let spot = &config.spots[0];
    // A fetch a day, each of that day's samples: raw when written.
    for day in (0..3).rev() {
        let end = now - chrono::Duration::days(day);
        let batch = conformance::ten_minutes("buoy.wvht", end.timestamp(), 24);
        let recent = keeper.keep(spot, batch, end).await;
        assert!(
            recent.observed["buoy.wvht"].len() >= 144,
            "the render sees the fetch at once"
        );
    }
    keeper.flush().await;
    assert_eq!(keeper.kept().await.unwrap().0["linda-mar"].samples, 432);
    let purged = keeper.purge(now).await.unwrap();
    assert_eq!(purged.raw, 288, "two days past keep_raw = 1d");
    let (spots, bytes) = keeper.kept().await.unwrap();
    assert_eq!(spots["linda-mar"].samples, 6 * 24, "one day of raw rows");
    assert_eq!(spots["linda-mar"].hours, 72, "three days of rollups");
    assert!(bytes > 0);
    let range = Range {
        from: now.timestamp() - 3 * 86_400,
        to: now.timestamp(),
        step: None,
    };
    let answer = keeper.query(spot, "buoy.wvht", range, now).await.unwrap();
    assert_eq!(
        answer.observed.len(),
        48 + 144,
        "rollups before the cut, raw rows after"
    );
    let (hourly, raw): (Vec<_>, Vec<_>) = answer
        .observed
        .iter()
        .partition(|r| r.at < now.timestamp() - 86_400);
    assert!(hourly.iter().all(|h| h.count == 6 && h.min < h.max));
    assert!(raw.iter().all(|r| r.count == 1));
    assert_eq!(keeper.counters().written.load(Ordering::Relaxed), 432);
    assert_eq!(keeper.counters().hours_rolled.load(Ordering::Relaxed), 72);
    assert!(keeper.counters().rollup_runs.load(Ordering::Relaxed) >= 1);
    supervisor.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn samples_the_database_refuses_are_dropped_and_counted() {
    let (_dir, pool) = sqlite().await;
    let config = config(CONFIG);
    let now = chrono::Utc::now();
    let supervisor = Supervisor::new();
    let keeper = Keeper::start(
        pool.clone(),
        config.clone(),
        Arc::new(ManualClock::new(now)),
        &supervisor,
    );
    let spot = &config.spots[0];
    keeper.recent(spot, now).await;
    pool.close().await;
    let recent = keeper
        .keep(
            spot,
            conformance::ten_minutes("buoy.wvht", now.timestamp(), 2),
            now,
        )
        .await;
    assert_eq!(
        recent.observed["buoy.wvht"].len(),
        12,
        "the picture still gets the values"
    );
    keeper.flush().await;
    assert_eq!(keeper.counters().dropped.load(Ordering::Relaxed), 12);
    assert_eq!(keeper.counters().written.load(Ordering::Relaxed), 0);
    supervisor.shutdown(Duration::from_secs(5)).await;
}

/// A spot's own `history = { keep_raw }` keeps its raw rows longer than
/// `[history]` says for the others.
#[tokio::test]
async fn a_spot_keeps_its_own_retention() {
    let (_dir, pool) = sqlite().await;
    let text = format!(
        "{CONFIG}\n[[spots]]\nname = \"Long\"\ntemplate = \"t\"\nhistory = {{ keep_raw = \"3d\" }}\n[[spots.sources]]\nid = \"buoy\"\nurl = \"file://x.txt\"\nformat = \"text\"\n[spots.sources.fields]\nwvht = {{ column = \"WVHT\", type = \"number\", rows = \"all\" }}\n"
    );
    let config = config(&text);
    let now = chrono::DateTime::from_timestamp(1_800_000_000 - 1_800_000_000 % 86_400, 0).unwrap();
    let supervisor = Supervisor::new();
    let keeper = Keeper::start(
        pool.clone(),
        config.clone(),
        Arc::new(ManualClock::new(now)),
        &supervisor,
    );
    // Written while both still keep three days raw, then trimmed.
    for spot in &config.spots {
        let batch = conformance::ten_minutes("buoy.wvht", now.timestamp(), 72);
        write::write(
            &pool,
            &spot.slug(),
            &batch,
            now,
            keeper.retention(&config.spots[1]),
        )
        .await
        .unwrap();
    }
    keeper.purge(now).await.unwrap();
    let (spots, _) = keeper.kept().await.unwrap();
    assert_eq!(spots["linda-mar"].samples, 144, "[history] keep_raw = 1d");
    assert_eq!(spots["long"].samples, 432, "its own keep_raw = 3d");
    assert_eq!((spots["linda-mar"].hours, spots["long"].hours), (72, 72));
    supervisor.shutdown(Duration::from_secs(5)).await;
}

/// Past `history.max_disk`, retention deletes the oldest rollups first.
#[tokio::test]
async fn the_history_stays_within_max_disk() {
    let (_dir, pool) = sqlite().await;
    let config = config(&CONFIG.replace(
        "keep_raw = \"1d\"",
        "keep_raw = \"1d\"\nmax_disk = \"1MiB\"",
    ));
    let now = chrono::DateTime::from_timestamp(1_800_000_000 - 1_800_000_000 % 86_400, 0).unwrap();
    let supervisor = Supervisor::new();
    let keeper = Keeper::start(
        pool.clone(),
        config.clone(),
        Arc::new(ManualClock::new(now)),
        &supervisor,
    );
    // 20 fields of 30 days, one sample an hour: 14,400 rollups, about
    // 1.4 MB by the estimate.
    let mut batch = Batch::default();
    for f in 0..20 {
        for h in 1..=30 * 24 {
            batch.observed.push(inkspot_core::history::Sample {
                field: format!("buoy.f{f}"),
                at: now - chrono::Duration::hours(h),
                value: h as f64,
            });
        }
    }
    write::write(
        &pool,
        "linda-mar",
        &batch,
        now,
        keeper.retention(&config.spots[0]),
    )
    .await
    .unwrap();
    let before = keeper.kept().await.unwrap();
    assert!(before.1 > 1024 * 1024, "over the cap: {}", before.1);
    // (The retention task's own first run may have been first.)
    keeper.purge(now).await.unwrap();
    let (spots, bytes) = keeper.kept().await.unwrap();
    assert!(bytes <= 1024 * 1024, "within the cap: {bytes}");
    // The newest hours stay.
    let newest: i64 = sqlx::query_scalar("SELECT MAX(hour) FROM samples_hourly")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(newest, (now - chrono::Duration::hours(1)).timestamp());
    assert!(spots["linda-mar"].hours < 14_400);
    supervisor.shutdown(Duration::from_secs(5)).await;
}

/// An answer is bounded: a range holding more raw samples than one answer
/// may is refused, naming the way to ask for it.
#[tokio::test]
async fn a_query_reads_a_bounded_number_of_samples() {
    let (_dir, pool) = sqlite().await;
    let now = 1_800_000_000 - 1_800_000_000 % 86_400;
    let end = now + (read::MAX_RAW_ROWS as i64 / 6 + 48) * 3600;
    sqlx::query(
        "INSERT INTO samples (spot, field, at, value) \
         WITH RECURSIVE r(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM r WHERE x < $1) \
         SELECT 'big', 'f.x', $2 + r.x * 60, 1.0 FROM r",
    )
    .bind(read::MAX_RAW_ROWS as i64 + 10)
    .bind(now)
    .execute(&pool)
    .await
    .unwrap();
    let all = Range {
        from: now,
        to: end,
        step: None,
    };
    let err = read::query(&pool, "big", "f.x", all, now - 86_400)
        .await
        .unwrap_err();
    assert!(matches!(err, read::QueryError::TooMany(_)), "{err}");
    assert!(err.to_string().contains("step=1h"), "{err}");
    let day = Range {
        from: now,
        to: now + 86_400,
        step: None,
    };
    let answer = read::query(&pool, "big", "f.x", day, now - 86_400)
        .await
        .unwrap();
    assert_eq!(answer.observed.len(), 1441, "a day of minutes reads");
}

/// A device's sensor readings are written under `device:<friendly id>`
/// (never a spot's slug) and read back by another keeper over the same
/// database, as a replica or a restart would.
#[tokio::test]
async fn a_devices_readings_are_kept_under_its_own_key() {
    let (_dir, pool) = sqlite().await;
    let config = config(CONFIG);
    let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let supervisor = Supervisor::new();
    let clock = Arc::new(ManualClock::new(now));
    let keeper = Keeper::start(pool.clone(), config.clone(), clock.clone(), &supervisor);
    let batch = conformance::ten_minutes("temperature", now.timestamp(), 2);
    let recent = keeper.keep_device("ABC123", batch, now).await;
    assert_eq!(recent.observed["temperature"].len(), 12);
    keeper.flush().await;
    let (kept, _) = keeper.kept().await.unwrap();
    assert_eq!(kept["device:abc123"].samples, 12, "{kept:?}");
    assert!(!kept.contains_key("linda-mar"));

    let other = Keeper::start(pool, config, clock, &supervisor);
    let read = other.recent_device("abc123", now).await;
    assert_eq!(read.observed["temperature"].len(), 12);
    assert_eq!(device_key("ABC123"), "device:abc123");
}
