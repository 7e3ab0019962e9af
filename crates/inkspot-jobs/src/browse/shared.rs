//! Pictures shared between replicas. When the storage backend is shared
//! (S3), a page taken for a job is also kept there for
//! `browser.share_window`, indexed in the jobs database (`shared_shots`),
//! so a job on another replica that asks for the same page with the same
//! options takes it from there instead of visiting the page again. Two
//! replicas asked at the same moment may each take it; once one has, the
//! others share it.

use chrono::{DateTime, Utc};
use sqlx::{AnyPool, Row};

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

    /// Keeps `taken` under `key`, replacing an older one.
    pub async fn put(&self, key: &str, taken: &Taken) -> Result<(), SharedError> {
        let store = self.engine.store();
        let blob = format!(
            "shot-{}-{}",
            &key[..32.min(key.len())],
            taken.at.timestamp_millis()
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
        let old = self.blob_of(key).await?;
        sqlx::query("DELETE FROM shared_shots WHERE share_key = $1")
            .bind(key)
            .execute(&self.pool)
            .await?;
        let inserted = sqlx::query(
            "INSERT INTO shared_shots (share_key, blob_name, final_url, status, title, links, \
             taken_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (share_key) DO NOTHING",
        )
        .bind(key)
        .bind(&blob)
        .bind(&taken.final_url)
        .bind(i64::from(taken.status))
        .bind(&taken.title)
        .bind(serde_json::to_string(&taken.links).unwrap_or_else(|_| "[]".into()))
        .bind(timestamp(taken.at))
        .execute(&self.pool)
        .await?;
        // Another replica's row won the race: its picture serves.
        if inserted.rows_affected() == 0 {
            store.delete_blob(&blob).await?;
        }
        if let Some(old) = old.filter(|old| *old != blob) {
            store.delete_blob(&old).await?;
        }
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
