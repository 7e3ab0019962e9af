//! The job records, in the service's database: each job's body, state,
//! per-item progress and result. Claiming a job is one conditional update,
//! so two runners never take the same one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use crate::db::{parse_timestamp, timestamp};

mod quota;
mod tally;
pub use tally::Tally;

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Accepted, waiting for a runner.
    Queued,
    /// Being worked on.
    Running,
    /// Finished; the result can be downloaded.
    Done,
    /// Finished without a result.
    Failed,
    /// Cancelled by its owner.
    Cancelled,
    /// Finished, and its result has been deleted.
    Expired,
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl State {
    /// The word stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Queued => "queued",
            State::Running => "running",
            State::Done => "done",
            State::Failed => "failed",
            State::Cancelled => "cancelled",
            State::Expired => "expired",
        }
    }

    fn parse(s: &str) -> State {
        match s {
            "queued" => State::Queued,
            "running" => State::Running,
            "done" => State::Done,
            "cancelled" => State::Cancelled,
            "expired" => State::Expired,
            _ => State::Failed,
        }
    }

    /// Whether the job will not change any more (but expire).
    pub fn is_finished(self) -> bool {
        !matches!(self, State::Queued | State::Running)
    }
}

/// The progress of one item: a render, or a frame of an animation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// Its name: the file in the zip, or the frame.
    pub name: String,
    /// `queued`, `running`, `done` or `failed`.
    pub state: String,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A stored result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Its media type.
    pub media_type: String,
    /// The file name it is downloaded as.
    pub file_name: String,
    /// Its size.
    pub bytes: u64,
    /// Its entity tag (a hash of the bytes).
    pub etag: String,
}

/// A job as stored.
#[derive(Debug, Clone)]
pub struct Record {
    /// Its id.
    pub id: String,
    /// The API key's name that submitted it.
    pub owner: String,
    /// The validated body, as JSON.
    pub spec: String,
    /// Where it is.
    pub state: State,
    /// Each item's progress.
    pub items: Vec<Item>,
    /// When it was accepted.
    pub created_at: DateTime<Utc>,
    /// When a runner took it.
    pub started_at: Option<DateTime<Utc>>,
    /// When it finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// When its result is deleted.
    pub expires_at: Option<DateTime<Utc>>,
    /// Why it failed.
    pub error: Option<String>,
    /// Its result, once done.
    pub output: Option<Output>,
}

const COLUMNS: &str = "id, owner, spec, state, items, created_at, started_at, finished_at, \
     expires_at, error, result_type, result_name, result_bytes, result_etag";

impl Record {
    /// `animation` or `renders`, for metrics and logs.
    pub fn kind(&self) -> &'static str {
        // The stored body is serialized with only the field it has.
        if self.spec.starts_with("{\"animation\"") {
            "animation"
        } else {
            "renders"
        }
    }

    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        let time = |col: &str| -> Result<Option<DateTime<Utc>>, sqlx::Error> {
            let s: Option<String> = row.try_get(col)?;
            Ok(s.as_deref().and_then(parse_timestamp))
        };
        let items: String = row.try_get("items")?;
        let state: String = row.try_get("state")?;
        let media_type: Option<String> = row.try_get("result_type")?;
        let output = match media_type {
            Some(media_type) => Some(Output {
                media_type,
                file_name: row
                    .try_get::<Option<String>, _>("result_name")?
                    .unwrap_or_default(),
                bytes: row.try_get::<Option<i64>, _>("result_bytes")?.unwrap_or(0) as u64,
                etag: row
                    .try_get::<Option<String>, _>("result_etag")?
                    .unwrap_or_default(),
            }),
            None => None,
        };
        Ok(Self {
            id: row.try_get("id")?,
            owner: row.try_get("owner")?,
            spec: row.try_get("spec")?,
            state: State::parse(&state),
            items: serde_json::from_str(&items).unwrap_or_default(),
            created_at: time("created_at")?.unwrap_or_default(),
            started_at: time("started_at")?,
            finished_at: time("finished_at")?,
            expires_at: time("expires_at")?,
            error: row.try_get("error")?,
            output,
        })
    }
}

/// The job records.
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
}

fn items_json(items: &[Item]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
}

#[cfg(test)]
mod tests;
