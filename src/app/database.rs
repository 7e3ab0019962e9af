//! Opening the database at start: a failure is logged and the service
//! runs on without devices and jobs; a PostgreSQL database that does not
//! answer yet is tried again until it does.

use std::time::Duration;

use sqlx::AnyPool;

use crate::config::Config;
use crate::supervisor::Supervisor;

/// Opens the database; a failure is logged, and the service runs without
/// devices and jobs rather than not at all. A PostgreSQL database that does
/// not answer yet gets a pool that connects when it does, and its schema
/// is brought up to date then, by a task under `supervisor`.
pub(super) async fn open(config: &Config, supervisor: &Supervisor) -> Option<AnyPool> {
    let target = crate::db::Target::of(config);
    let error = match target.open().await {
        Ok(pool) => return Some(pool),
        Err(e) => e,
    };
    let database = target.describe();
    let crate::db::Target::Postgres(url) = &target else {
        tracing::error!(%database, %error, "cannot open the database; TRMNL devices are answered as not registered and the job API is off until it can be (images are served as usual)");
        return None;
    };
    let pool = crate::db::lazy_postgres(url).ok()?;
    tracing::error!(%database, %error, "cannot reach the database; devices are told to come back later, and it is tried again every 5 seconds (images are served as usual)");
    let lazy = pool.clone();
    supervisor.spawn("database-retry", move |stop| async move {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
            if crate::db::migrate(&lazy).await.is_ok() {
                tracing::info!(%database, "the database answers; devices and jobs are back");
                return;
            }
        }
    });
    Some(pool)
}
