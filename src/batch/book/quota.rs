//! What the stored results take: the bytes of finished jobs whose results
//! are still kept, per key and in all, against `[[api_keys]] max_bytes`
//! and `jobs.max_disk`.

use sqlx::Row;

use super::Book;

impl Book {
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
}
