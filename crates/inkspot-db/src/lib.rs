//! The database: one connection pool and one migrated schema, shared by
//! the device registry and the job records. SQLite in the data folder by
//! default, or PostgreSQL (`database.url`) for replicas that share state.
//! Queries and migrations are written once, for sqlx's `Any` driver, in
//! SQL both accept.

use std::path::Path;

use chrono::{DateTime, Utc};
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

/// The migrations, for either database. On PostgreSQL sqlx holds an
/// advisory lock while they run, so replicas starting at once apply each
/// one once.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The connection failed.
    #[error("database: {0}")]
    Connect(#[from] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("database migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The SQLite file's path cannot be used.
    #[error("the database file {path}: {why}")]
    Path {
        /// The path as configured.
        path: String,
        /// Why not.
        why: String,
    },
}

/// Opens (creating it when missing) the SQLite database at `path` and
/// brings its schema up to date.
pub async fn open_sqlite(path: &Path) -> Result<AnyPool, DbError> {
    sqlx::any::install_default_drivers();
    let url = sqlite_url(path)?;
    let pool = AnyPoolOptions::new()
        .max_connections(4)
        .connect(&url)
        .await?;
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}

/// The URL sqlx's `Any` driver opens the SQLite file at `path` by, made
/// from the path: its folder created and made absolute (so `..` and a
/// relative start survive, which a URL's parser would take for a host or
/// fold away) and every character a URL cannot hold escaped.
fn sqlite_url(path: &Path) -> Result<String, DbError> {
    let unusable = |why: String| DbError::Path {
        path: path.display().to_string(),
        why,
    };
    let name = path
        .file_name()
        .ok_or_else(|| unusable("it names no file".into()))?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)
        .map_err(|e| unusable(format!("cannot create its folder: {e}")))?;
    let dir = std::fs::canonicalize(&dir).map_err(|e| unusable(e.to_string()))?;
    let file = url::Url::from_file_path(dir.join(name))
        .map_err(|()| unusable("it is not a path a URL can name".into()))?;
    // `file:///a/b` as `sqlite:///a/b`: the same escaped absolute path.
    Ok(format!("sqlite{}?mode=rwc", &file.as_str()["file".len()..]))
}

/// How long a query waits for a PostgreSQL connection: short, since a
/// device call waits on it, and falls back when the database is away.
const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Connects to the PostgreSQL database at `url` and brings its schema up
/// to date.
pub async fn open_postgres(url: &str) -> Result<AnyPool, DbError> {
    let pool = lazy_postgres(url)?;
    // The first connection may take longer than a query's wait.
    let first = tokio::time::timeout(std::time::Duration::from_secs(10), pool.acquire());
    match first.await {
        Ok(connection) => drop(connection?),
        Err(_) => return Err(DbError::from(sqlx::Error::PoolTimedOut)),
    }
    migrate(&pool).await?;
    Ok(pool)
}

/// A pool for the PostgreSQL database at `url` that connects when used:
/// a replica starts while the database is away, and [`migrate`] brings
/// the schema up to date once it answers.
pub fn lazy_postgres(url: &str) -> Result<AnyPool, DbError> {
    sqlx::any::install_default_drivers();
    let pool = AnyPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_lazy(url)?;
    Ok(pool)
}

/// Brings the schema of `pool`'s database up to date.
pub async fn migrate(pool: &AnyPool) -> Result<(), DbError> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// Whether the database answers, within two seconds.
pub async fn ping(pool: &AnyPool) -> Result<(), DbError> {
    let query = sqlx::query("SELECT 1").execute(pool);
    match tokio::time::timeout(std::time::Duration::from_secs(2), query).await {
        Ok(result) => result.map(|_| ()).map_err(DbError::from),
        Err(_) => Err(DbError::from(sqlx::Error::PoolTimedOut)),
    }
}

/// Where the config keeps its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A SQLite file.
    Sqlite(std::path::PathBuf),
    /// A PostgreSQL URL (it may hold a password: never logged).
    Postgres(String),
}

impl Target {
    /// The database `config` names.
    pub fn of(config: &inkspot_core::config::Config) -> Self {
        match &config.database.url {
            Some(url) => Target::Postgres(url.expose().to_string()),
            None => Target::Sqlite(config.database_path()),
        }
    }

    /// Opens it and brings its schema up to date.
    pub async fn open(&self) -> Result<AnyPool, DbError> {
        match self {
            Target::Sqlite(path) => open_sqlite(path).await,
            Target::Postgres(url) => open_postgres(url).await,
        }
    }

    /// What logs may say about it: the file, or the host without the
    /// user and password.
    pub fn describe(&self) -> String {
        match self {
            Target::Sqlite(path) => path.display().to_string(),
            Target::Postgres(url) => match url::Url::parse(url) {
                Ok(u) => format!(
                    "postgres {}:{}{}",
                    u.host_str().unwrap_or("?"),
                    u.port().unwrap_or(5432),
                    u.path()
                ),
                Err(_) => "postgres".into(),
            },
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A relative path with `..`, and characters a URL must escape, open
    /// the file at that very place.
    #[tokio::test]
    async fn a_sqlite_path_is_opened_where_it_points() {
        let root = tempfile::tempdir().unwrap();
        let examples = root.path().join("examples");
        std::fs::create_dir(&examples).unwrap();
        let path = examples.join("../cache dir/#1?/inkspot.db");
        let pool = open_sqlite(&path).await.unwrap();
        sqlx::query("SELECT 1").execute(&pool).await.unwrap();
        pool.close().await;
        let made = root.path().join("cache dir/#1?/inkspot.db");
        assert!(made.is_file(), "created at {}", made.display());
        assert!(!examples.join("inkspot.db").exists());
    }
}
