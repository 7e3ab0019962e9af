//! The pages of crawl jobs in the database (`crawl_pages`): one row a
//! page, written as it is visited, deleted with the job's result.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{AnyPool, Row};

/// One page of a crawl.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageRow {
    /// Its place in the crawl, from 0 (the start page).
    pub n: i64,
    /// Its URL, normalised.
    pub url: String,
    /// Hops from the start page.
    pub depth: i64,
    /// The page whose link found it.
    pub parent: Option<String>,
    /// The URL after redirects.
    pub final_url: Option<String>,
    /// The document's HTTP status.
    pub status: Option<i64>,
    /// Its title.
    pub title: Option<String>,
    /// The picture's file in the download.
    pub file: Option<String>,
    /// The picture's blob in the storage backend.
    pub blob: Option<String>,
    /// Why it could not be taken.
    pub error: Option<String>,
    /// When it was taken.
    pub taken_at: Option<DateTime<Utc>>,
}

/// The `crawl_pages` table.
#[derive(Clone)]
pub struct Pages {
    pool: AnyPool,
}

impl Pages {
    /// The table in `pool`.
    pub fn new(pool: AnyPool) -> Self {
        Self { pool }
    }

    /// Records `page` of job `job` (again, when the job runs again).
    pub async fn put(&self, job: &str, page: &PageRow) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM crawl_pages WHERE job_id = $1 AND n = $2")
            .bind(job)
            .bind(page.n)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO crawl_pages (job_id, n, url, depth, parent, final_url, status, title, \
             file, blob_name, error, taken_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(job)
        .bind(page.n)
        .bind(&page.url)
        .bind(page.depth)
        .bind(&page.parent)
        .bind(&page.final_url)
        .bind(page.status)
        .bind(&page.title)
        .bind(&page.file)
        .bind(&page.blob)
        .bind(&page.error)
        .bind(page.taken_at.map(|t| t.to_rfc3339()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every page of job `job`, in the order visited.
    pub async fn of(&self, job: &str) -> Result<Vec<PageRow>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT n, url, depth, parent, final_url, status, title, file, blob_name, error, \
             taken_at FROM crawl_pages WHERE job_id = $1 ORDER BY n",
        )
        .bind(job)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let taken: Option<String> = row.try_get("taken_at")?;
                Ok(PageRow {
                    n: row.try_get("n")?,
                    url: row.try_get("url")?,
                    depth: row.try_get("depth")?,
                    parent: row.try_get("parent")?,
                    final_url: row.try_get("final_url")?,
                    status: row.try_get("status")?,
                    title: row.try_get("title")?,
                    file: row.try_get("file")?,
                    blob: row.try_get("blob_name")?,
                    error: row.try_get("error")?,
                    taken_at: taken
                        .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                        .map(|t| t.to_utc()),
                })
            })
            .collect()
    }

    /// Jobs whose pages are kept though their record is gone (pruned after
    /// a crash between the two deletes, say), at most 100 at a time.
    pub async fn orphans(&self) -> Result<Vec<String>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT DISTINCT job_id FROM crawl_pages \
             WHERE job_id NOT IN (SELECT id FROM jobs) LIMIT 100",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| r.try_get("job_id")).collect()
    }

    /// Forgets job `job`'s pages; their blobs are the caller's to delete.
    pub async fn forget(&self, job: &str) -> Result<Vec<String>, sqlx::Error> {
        let blobs = self
            .of(job)
            .await?
            .into_iter()
            .filter_map(|p| p.blob)
            .collect();
        sqlx::query("DELETE FROM crawl_pages WHERE job_id = $1")
            .bind(job)
            .execute(&self.pool)
            .await?;
        Ok(blobs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(n: i64) -> PageRow {
        PageRow {
            n,
            url: format!("http://example.com/{n}"),
            depth: 0,
            parent: None,
            final_url: None,
            status: Some(200),
            title: None,
            file: None,
            blob: Some(format!("job-x-page-{n:03}")),
            error: None,
            taken_at: None,
        }
    }

    /// Pages whose job record was pruned are found, and forgotten with
    /// their pictures' names; a live job's pages are not touched.
    #[tokio::test]
    async fn the_pages_of_a_pruned_job_are_found_and_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let pool = crate::db::open_sqlite(&dir.path().join("jobs.db"))
            .await
            .unwrap();
        let records = crate::Records::new(pool.clone());
        let now = chrono::Utc::now();
        records
            .insert("live", "k", "fp", "{}", &[], now)
            .await
            .unwrap();
        let pages = Pages::new(pool);
        for job in ["live", "gone"] {
            pages.put(job, &page(0)).await.unwrap();
            pages.put(job, &page(1)).await.unwrap();
        }
        assert_eq!(pages.orphans().await.unwrap(), ["gone"]);
        let blobs = pages.forget("gone").await.unwrap();
        assert_eq!(blobs, ["job-x-page-000", "job-x-page-001"]);
        assert!(pages.orphans().await.unwrap().is_empty());
        assert_eq!(pages.of("live").await.unwrap().len(), 2);
    }
}
