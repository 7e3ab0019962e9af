//! Pictures shared between replicas. When the storage backend is shared
//! (S3), a page taken for a job is also kept there for
//! `browser.share_window`, indexed in the jobs database (`shared_shots`),
//! so a job on another replica that asks for the same page with the same
//! options takes it from there instead of visiting the page again. Two
//! replicas asked at the same moment may each take it; once one has, the
//! others share it.

use chrono::{DateTime, Utc};
use sqlx::{AnyPool, Row as _};

use super::Taken;
use crate::db::{parse_timestamp, timestamp};
use crate::engine::Engine;

/// Why a shared picture could not be kept or read: logged, never a job's
/// failure (the page is then taken here).
#[derive(Debug, thiserror::Error)]
pub enum SharedError {
    /// The jobs database failed.
    #[error("the jobs database: {0}")]
    Db(#[from] sqlx::Error),
    /// The storage backend failed.
    #[error("the storage: {0}")]
    Store(#[from] crate::store::StoreError),
    /// A file could not be written or read.
    #[error("a file: {0}")]
    Io(#[from] std::io::Error),
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// A row's values besides its key and picture.
struct Row {
    final_url: String,
    status: i64,
    title: String,
    links: String,
    taken_at: String,
}

impl Row {
    /// `query` with the row's values and `blob` as its parameters $1 to $6.
    fn bind<'q>(&'q self, query: Query<'q>, blob: &'q str) -> Query<'q> {
        query
            .bind(&self.final_url)
            .bind(self.status)
            .bind(&self.title)
            .bind(&self.links)
            .bind(&self.taken_at)
            .bind(blob)
    }

    fn of(taken: &Taken, now: DateTime<Utc>) -> Self {
        Self {
            final_url: taken.final_url.clone(),
            status: i64::from(taken.status),
            title: taken.title.clone(),
            links: serde_json::to_string(&taken.links).unwrap_or_else(|_| "[]".into()),
            taken_at: timestamp(now),
        }
    }
}

/// The shared pictures: rows in `shared_shots`, blobs in the backend.
pub struct SharedShots {
    pool: AnyPool,
    engine: std::sync::Arc<Engine>,
}

impl SharedShots {
    /// Shared pictures in `pool` and `engine`'s store.
    pub fn new(pool: AnyPool, engine: std::sync::Arc<Engine>) -> Self {
        Self { pool, engine }
    }

    /// The picture kept under `key`, taken at `since` or later.
    pub async fn get(
        &self,
        key: &str,
        since: DateTime<Utc>,
        encoding: crate::shot::Encoding,
    ) -> Result<Option<Taken>, SharedError> {
        let row = sqlx::query(
            "SELECT blob_name, final_url, status, title, links, taken_at FROM shared_shots \
             WHERE share_key = $1 AND taken_at >= $2",
        )
        .bind(key)
        .bind(timestamp(since))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let blob: String = row.try_get("blob_name")?;
        let Some(opened) = self.engine.store().open_blob(&blob).await? else {
            return Ok(None);
        };
        let links: String = row.try_get("links")?;
        let taken_at: String = row.try_get("taken_at")?;
        Ok(Some(Taken {
            image: opened.read_all().await?,
            encoding,
            final_url: row.try_get("final_url")?,
            status: u16::try_from(row.try_get::<i64, _>("status")?).unwrap_or(0),
            title: row.try_get("title")?,
            links: serde_json::from_str(&links).unwrap_or_default(),
            at: parse_timestamp(&taken_at).unwrap_or(since),
        }))
    }

    /// Keeps `taken` under `key`, taken at `now`, replacing an older one.
    /// Two replicas keeping the same page at once leave one row and one
    /// picture: each swaps the row only from the picture it read, and the
    /// picture that lost is deleted.
    pub async fn put(
        &self,
        key: &str,
        taken: &Taken,
        now: DateTime<Utc>,
    ) -> Result<(), SharedError> {
        let store = self.engine.store();
        let blob = format!(
            "shot-{}-{}",
            &key[..32.min(key.len())],
            now.timestamp_millis()
        );
        let (image, dir) = (taken.image.clone(), store.scratch_dir());
        let path = tokio::task::spawn_blocking(move || {
            let mut file = tempfile::Builder::new()
                .prefix(".tmp-shot-")
                .tempfile_in(dir)?;
            std::io::Write::write_all(&mut file, &image)?;
            Ok::<_, std::io::Error>(file.into_temp_path())
        })
        .await
        .map_err(std::io::Error::other)??;
        store.put_blob(&blob, &path).await?;
        let _ = path.keep();
        let row = Row::of(taken, now);
        let insert = sqlx::query(
            "INSERT INTO shared_shots (final_url, status, title, links, taken_at, blob_name, \
             share_key) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (share_key) DO NOTHING",
        );
        let inserted = row
            .bind(insert, &blob)
            .bind(key)
            .execute(&self.pool)
            .await?;
        if inserted.rows_affected() == 1 {
            return Ok(());
        }
        // A row is there: swapped only if it still names the picture read.
        let swapped = match self.blob_of(key).await? {
            // The same name from another replica in the same millisecond:
            // one picture, already in the row.
            Some(old) if old == blob => return Ok(()),
            Some(old) => {
                let update = sqlx::query(
                    "UPDATE shared_shots SET final_url = $1, status = $2, title = $3, links = $4, \
                     taken_at = $5, blob_name = $6 WHERE share_key = $7 AND blob_name = $8",
                );
                let done = row
                    .bind(update, &blob)
                    .bind(key)
                    .bind(&old)
                    .execute(&self.pool)
                    .await?;
                (done.rows_affected() == 1).then_some(old)
            }
            None => None,
        };
        let unused = swapped.unwrap_or(blob);
        store.delete_blob(&unused).await?;
        Ok(())
    }

    async fn blob_of(&self, key: &str) -> Result<Option<String>, sqlx::Error> {
        let row = sqlx::query("SELECT blob_name FROM shared_shots WHERE share_key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| r.try_get("blob_name")).transpose()
    }

    /// Deletes the pictures taken before `before`, at most 500 at a time;
    /// returns how many.
    pub async fn sweep(&self, before: DateTime<Utc>) -> Result<usize, SharedError> {
        let rows = sqlx::query(
            "SELECT share_key, blob_name FROM shared_shots WHERE taken_at < $1 LIMIT 500",
        )
        .bind(timestamp(before))
        .fetch_all(&self.pool)
        .await?;
        for row in &rows {
            let (key, blob): (String, String) =
                (row.try_get("share_key")?, row.try_get("blob_name")?);
            self.engine.store().delete_blob(&blob).await?;
            sqlx::query("DELETE FROM shared_shots WHERE share_key = $1 AND blob_name = $2")
                .bind(key)
                .bind(blob)
                .execute(&self.pool)
                .await?;
        }
        Ok(rows.len())
    }
}
