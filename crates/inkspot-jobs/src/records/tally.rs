//! How many jobs are in each state, for `/status`: a finished job whose
//! result is past its time counts as expired, as its own status says,
//! even before the sweep deletes the result.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use crate::db::{parse_timestamp, timestamp};
use sqlx::AnyPool;

/// Jobs by state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Tally {
    /// Accepted, waiting for a runner.
    pub queued: i64,
    /// Being worked on.
    pub running: i64,
    /// Finished, with a result to download.
    pub done: i64,
    /// Finished without a result.
    pub failed: i64,
    /// Cancelled by their owners.
    pub cancelled: i64,
    /// Finished, and their results deleted.
    pub expired: i64,
    /// When the oldest job still queued was submitted: a queue that does
    /// not move shows here.
    pub oldest_queued_at: Option<DateTime<Utc>>,
}

impl Tally {
    /// The jobs kept in `pool`, by state, at `now`.
    pub(super) async fn count(pool: &AnyPool, now: DateTime<Utc>) -> Result<Self, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT CASE WHEN state IN ('done', 'failed') AND expires_at <= $1 THEN 'expired' \
             ELSE state END \
             AS shown, COUNT(*) AS n, MIN(created_at) AS oldest FROM jobs GROUP BY shown",
        )
        .bind(timestamp(now))
        .fetch_all(pool)
        .await?;
        let mut tally = Tally::default();
        for row in rows {
            let shown: String = row.try_get("shown")?;
            let n: i64 = row.try_get("n")?;
            let slot = match shown.as_str() {
                "queued" => {
                    let oldest: Option<String> = row.try_get("oldest")?;
                    tally.oldest_queued_at = oldest.as_deref().and_then(parse_timestamp);
                    &mut tally.queued
                }
                "running" => &mut tally.running,
                "done" => &mut tally.done,
                "cancelled" => &mut tally.cancelled,
                "expired" => &mut tally.expired,
                _ => &mut tally.failed,
            };
            *slot += n;
        }
        Ok(tally)
    }
}
