//! The embedded database: one connection pool and one migrated schema,
//! shared by the device registry and the job records. SQLite in the data
//! folder by default. Queries are written for sqlx's `Any` driver, so the
//! same ones can run on PostgreSQL.

use std::path::Path;

use chrono::{DateTime, Utc};
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

/// The migrations of the SQLite database.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The connection failed.
    #[error("database: {0}")]
    Connect(#[from] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("database migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Opens (creating it when missing) the SQLite database at `path` and
/// brings its schema up to date.
pub async fn open_sqlite(path: &Path) -> Result<AnyPool, DbError> {
    sqlx::any::install_default_drivers();
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let pool = AnyPoolOptions::new()
        .max_connections(4)
        .connect(&url)
        .await?;
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}

/// How times are stored: fixed width, so they sort as text in any database.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A stored time read back; `None` when it does not parse.
pub fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.to_utc())
}

/// Whether `e` is a unique constraint refusing a row.
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}
