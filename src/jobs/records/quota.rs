//! A key's view of the records: what its stored results take (against
//! `[[api_keys]] max_bytes` and, for all keys, `jobs.max_disk`), and its
//! jobs, newest first, a page at a time.

use sqlx::Row;

use super::{COLUMNS, Record, Records};

impl Records {
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
}
