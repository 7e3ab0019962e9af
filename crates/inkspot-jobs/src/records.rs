//! The job records, in the service's database: each job's body, state,
//! per-item progress and result. Claiming a job is one conditional update,
//! so two runners never take the same one.

use chrono::{DateTime, Utc};
use sqlx::{AnyPool, Row};

use crate::db::timestamp;

mod record;
mod tally;
use record::{COLUMNS, items_json};
pub use record::{Item, Output, Record, State};
pub use tally::Tally;

#[derive(Clone)]
pub struct Records {
    pool: AnyPool,
}

impl Records {
    /// The records in an open database.
    pub fn new(pool: AnyPool) -> Self {
        Self { pool }
    }

    /// Stores a new queued job.
    pub async fn insert(
        &self,
        id: &str,
        owner: &str,
        fingerprint: &str,
        spec: &str,
        items: &[Item],
        now: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO jobs (id, owner, fingerprint, spec, state, items, created_at) \
             VALUES ($1, $2, $3, $4, 'queued', $5, $6)",
        )
        .bind(id)
        .bind(owner)
        .bind(fingerprint)
        .bind(spec)
        .bind(items_json(items))
        .bind(timestamp(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The job `id`.
    pub async fn get(&self, id: &str) -> Result<Option<Record>, sqlx::Error> {
        let sql = format!("SELECT {COLUMNS} FROM jobs WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(Record::from_row).transpose()
    }

    /// The newest job of `owner` with `fingerprint` that is queued or
    /// running, or was accepted since `since`, is done, and still has its
    /// result at `now`. Another key's identical job is not shared: its id
    /// and result are that key's.
    pub async fn same_as(
        &self,
        owner: &str,
        fingerprint: &str,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT id FROM jobs WHERE fingerprint = $1 AND owner = $4 \
             AND (state IN ('queued', 'running') \
             OR (state = 'done' AND created_at >= $2 AND expires_at > $3)) \
             ORDER BY created_at DESC LIMIT 1",
        )
        .bind(fingerprint)
        .bind(timestamp(since))
        .bind(timestamp(now))
        .bind(owner)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| r.try_get("id")).transpose()
    }

    /// How many of `owner`'s jobs are queued or running.
    pub async fn active(&self, owner: &str) -> Result<i64, sqlx::Error> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM jobs WHERE owner = $1 AND state IN ('queued', 'running')",
        )
        .bind(owner)
        .fetch_one(&self.pool)
        .await?;
        row.try_get("n")
    }

    /// Takes the oldest queued job for this runner, if any: only one
    /// runner's update finds it still queued.
    pub async fn claim(&self, now: DateTime<Utc>) -> Result<Option<Record>, sqlx::Error> {
        loop {
            let row = sqlx::query(
                "SELECT id FROM jobs WHERE state = 'queued' ORDER BY created_at, id LIMIT 1",
            )
            .fetch_optional(&self.pool)
            .await?;
            let Some(row) = row else { return Ok(None) };
            let id: String = row.try_get("id")?;
            let taken = sqlx::query(
                "UPDATE jobs SET state = 'running', started_at = $1, heartbeat_at = $1 \
                 WHERE id = $2 AND state = 'queued'",
            )
            .bind(timestamp(now))
            .bind(&id)
            .execute(&self.pool)
            .await?;
            if taken.rows_affected() == 1 {
                return self.get(&id).await;
            }
        }
    }

    /// Records the items' progress of a running job, and that its runner is
    /// alive; `false` when it is no longer running (cancelled).
    pub async fn progress(
        &self,
        id: &str,
        items: &[Item],
        now: DateTime<Utc>,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE jobs SET items = $1, heartbeat_at = $2 WHERE id = $3 AND state = 'running'",
        )
        .bind(items_json(items))
        .bind(timestamp(now))
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Finishes a running job: done with `output`, or failed with `error`.
    /// `false` when it was no longer running (cancelled meanwhile).
    pub async fn finish(
        &self,
        id: &str,
        items: &[Item],
        outcome: Result<Output, String>,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, sqlx::Error> {
        let (state, error, output) = match outcome {
            Ok(output) => ("done", None, Some(output)),
            Err(error) => ("failed", Some(error), None),
        };
        let done = sqlx::query(
            "UPDATE jobs SET state = $1, items = $2, finished_at = $3, expires_at = $4, \
             error = $5, result_type = $6, result_name = $7, result_bytes = $8, result_etag = $9 \
             WHERE id = $10 AND state = 'running'",
        )
        .bind(state)
        .bind(items_json(items))
        .bind(timestamp(now))
        .bind(timestamp(expires_at))
        .bind(error)
        .bind(output.as_ref().map(|o| o.media_type.clone()))
        .bind(output.as_ref().map(|o| o.file_name.clone()))
        .bind(output.as_ref().map(|o| o.bytes as i64))
        .bind(output.as_ref().map(|o| o.etag.clone()))
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Marks the job `id` `to` (cancelled or expired) unless it already
    /// is; returns whether it changed.
    pub async fn close(
        &self,
        id: &str,
        to: State,
        now: DateTime<Utc>,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE jobs SET state = $1, finished_at = COALESCE(finished_at, $2) \
             WHERE id = $3 AND state NOT IN ('cancelled', 'expired')",
        )
        .bind(to.as_str())
        .bind(timestamp(now))
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Finished jobs whose results are due to be deleted at `now`.
    pub async fn due(&self, now: DateTime<Utc>) -> Result<Vec<String>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id FROM jobs WHERE state IN ('done', 'failed') AND expires_at <= $1",
        )
        .bind(timestamp(now))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| r.try_get("id")).collect()
    }

    /// Deletes the records of jobs that finished before `before` and have
    /// no result any more; returns how many.
    pub async fn prune(&self, before: DateTime<Utc>) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(
            "DELETE FROM jobs WHERE state IN ('failed', 'cancelled', 'expired') AND finished_at < $1",
        )
        .bind(timestamp(before))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Says that this runner is still working on the running job `id`.
    pub async fn beat(&self, id: &str, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE jobs SET heartbeat_at = $1 WHERE id = $2 AND state = 'running'")
            .bind(timestamp(now))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Puts back in the queue running jobs whose runner has not been heard
    /// from since `before` (all of them when `None`: at start-up, when no
    /// other runner shares the database). Returns how many.
    pub async fn requeue(&self, before: Option<DateTime<Utc>>) -> Result<u64, sqlx::Error> {
        let done = match before {
            None => {
                sqlx::query("UPDATE jobs SET state = 'queued' WHERE state = 'running'")
                    .execute(&self.pool)
                    .await?
            }
            Some(t) => sqlx::query(
                "UPDATE jobs SET state = 'queued' WHERE state = 'running' AND heartbeat_at < $1",
            )
            .bind(timestamp(t))
            .execute(&self.pool)
            .await?,
        };
        Ok(done.rows_affected())
    }

    /// Bytes of results kept for `owner`'s jobs, or every key's.
    pub async fn result_bytes(&self, owner: Option<&str>) -> Result<u64, sqlx::Error> {
        // CAST: SUM is NUMERIC on PostgreSQL, which the Any driver cannot read.
        const SUM: &str = "SELECT CAST(COALESCE(SUM(result_bytes), 0) AS BIGINT) AS n FROM jobs \
                           WHERE state = 'done'";
        let row = match owner {
            Some(owner) => {
                let sql = format!("{SUM} AND owner = $1");
                sqlx::query(&sql).bind(owner).fetch_one(&self.pool).await?
            }
            None => sqlx::query(SUM).fetch_one(&self.pool).await?,
        };
        let n: i64 = row.try_get("n")?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Marks the done job `id` failed with `error`: its stored result was
    /// found damaged and has been deleted.
    pub async fn damaged(
        &self,
        id: &str,
        error: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE jobs SET state = 'failed', error = $1, finished_at = COALESCE(finished_at, $2), \
             result_type = NULL, result_name = NULL, result_bytes = NULL, result_etag = NULL \
             WHERE id = $3 AND state = 'done'",
        )
        .bind(error)
        .bind(crate::db::timestamp(now))
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Up to `limit` of `owner`'s jobs, newest first, older than the job
    /// `before` when given (the page after the one that ended with it).
    pub async fn list(
        &self,
        owner: &str,
        limit: usize,
        before: Option<&Record>,
    ) -> Result<Vec<Record>, sqlx::Error> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = match before {
            Some(last) => {
                let sql = format!(
                    "SELECT {COLUMNS} FROM jobs WHERE owner = $1 \
                     AND (created_at < $2 OR (created_at = $2 AND id < $3)) \
                     ORDER BY created_at DESC, id DESC LIMIT $4"
                );
                sqlx::query(&sql)
                    .bind(owner)
                    .bind(crate::db::timestamp(last.created_at))
                    .bind(&last.id)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                let sql = format!(
                    "SELECT {COLUMNS} FROM jobs WHERE owner = $1 \
                     ORDER BY created_at DESC, id DESC LIMIT $2"
                );
                sqlx::query(&sql)
                    .bind(owner)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter().map(Record::from_row).collect()
    }

    /// The jobs kept, by state, at `now`.
    pub async fn tally(&self, now: DateTime<Utc>) -> Result<Tally, sqlx::Error> {
        Tally::count(&self.pool, now).await
    }
}

#[cfg(test)]
mod tests;
