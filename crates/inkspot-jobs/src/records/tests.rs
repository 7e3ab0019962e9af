//! The job records on a real SQLite database: claims are exclusive, a
//! closed job takes no more progress, duplicates are found in their window,
//! interrupted jobs are queued again, and old records are pruned.

use chrono::{DateTime, Duration, Utc};

use super::*;

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn item(name: &str) -> Item {
    Item {
        name: name.into(),
        state: "queued".into(),
        error: None,
    }
}

async fn records() -> (tempfile::TempDir, Records) {
    let dir = tempfile::tempdir().unwrap();
    let pool = crate::db::open_sqlite(&dir.path().join("jobs.db"))
        .await
        .unwrap();
    (dir, Records::new(pool))
}

#[tokio::test]
async fn a_job_is_claimed_once_and_a_closed_one_takes_no_progress() {
    let (_dir, records) = records().await;
    let now = at("2026-11-24T10:00:00Z");
    records
        .insert("a", "shop", "fp", "{}", &[item("x")], now)
        .await
        .unwrap();
    records
        .insert(
            "b",
            "shop",
            "fp2",
            "{}",
            &[item("y")],
            now + Duration::seconds(1),
        )
        .await
        .unwrap();
    assert_eq!(records.active("shop").await.unwrap(), 2);
    let first = records.claim(now).await.unwrap().unwrap();
    let second = records.claim(now).await.unwrap().unwrap();
    assert_eq!(
        (first.id.as_str(), second.id.as_str()),
        ("a", "b"),
        "oldest first, each once"
    );
    assert!(
        records.claim(now).await.unwrap().is_none(),
        "nothing left to claim"
    );
    assert!(records.progress("a", &[item("x")], now).await.unwrap());
    assert!(records.close("a", State::Cancelled, now).await.unwrap());
    assert!(
        !records.progress("a", &[item("x")], now).await.unwrap(),
        "cancelled"
    );
    let output = Output {
        media_type: "image/png".into(),
        file_name: "x.png".into(),
        bytes: 3,
        etag: "e".into(),
    };
    let expires = now + Duration::hours(1);
    let finished = records
        .finish("a", &[], Ok(output.clone()), now, expires)
        .await
        .unwrap();
    assert!(!finished, "a cancelled job is not finished over");
    assert!(
        records
            .finish("b", &[], Ok(output.clone()), now, expires)
            .await
            .unwrap()
    );
    let b = records.get("b").await.unwrap().unwrap();
    assert_eq!((b.state, b.output), (State::Done, Some(output)));
    assert_eq!(records.active("shop").await.unwrap(), 0);
}

#[tokio::test]
async fn duplicates_interrupted_jobs_expiry_and_pruning() {
    let (_dir, records) = records().await;
    let t0 = at("2026-11-24T10:00:00Z");
    records
        .insert("a", "shop", "fp", "{}", &[], t0)
        .await
        .unwrap();
    assert_eq!(
        records
            .same_as("shop", "fp", t0, t0)
            .await
            .unwrap()
            .as_deref(),
        Some("a"),
        "queued"
    );
    records.claim(t0).await.unwrap();
    // A runner silent since t0: put back by a sweep after it, not before.
    assert_eq!(records.requeue(Some(t0)).await.unwrap(), 0);
    // Its runner beats at t0 + 4 min: a sweep at t0 + 5 min does not take it.
    records.beat("a", t0 + Duration::minutes(4)).await.unwrap();
    let five = t0 + Duration::minutes(5);
    assert_eq!(
        records
            .requeue(Some(five - Duration::minutes(2)))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        records
            .requeue(Some(t0 + Duration::minutes(5)))
            .await
            .unwrap(),
        1
    );
    records.claim(t0).await.unwrap();
    let output = Output {
        media_type: "application/zip".into(),
        file_name: "a.zip".into(),
        bytes: 1,
        etag: "e".into(),
    };
    let expires = t0 + Duration::hours(1);
    records
        .finish("a", &[], Ok(output), t0, expires)
        .await
        .unwrap();
    let later = t0 + Duration::minutes(20);
    assert_eq!(
        records
            .same_as("shop", "fp", later - Duration::minutes(30), later)
            .await
            .unwrap()
            .as_deref(),
        Some("a")
    );
    assert!(
        records
            .same_as("shop", "fp", later - Duration::minutes(10), later)
            .await
            .unwrap()
            .is_none(),
        "outside the window"
    );
    let window = t0 - Duration::minutes(1);
    let found = records
        .same_as("shop", "fp", window, expires)
        .await
        .unwrap();
    assert!(found.is_none(), "within the window, but its result is gone");
    assert!(
        records
            .due(t0 + Duration::minutes(59))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(records.due(expires).await.unwrap(), ["a"]);
    assert!(records.close("a", State::Expired, expires).await.unwrap());
    assert_eq!(
        records.prune(t0).await.unwrap(),
        0,
        "finished at t0, not before"
    );
    assert_eq!(records.prune(t0 + Duration::seconds(1)).await.unwrap(), 1);
    assert!(records.get("a").await.unwrap().is_none());
}
