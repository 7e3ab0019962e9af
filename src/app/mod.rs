//! The composition root. [`App::start`] builds every part of the service
//! from the config, once: the metrics, coordination with other replicas,
//! the pipeline, the storage, the database, the device registry, the
//! engine and the job API; and it starts every background task under one
//! supervisor, which [`App::shutdown`] stops. [`App`] is the state the
//! HTTP routers share; each handler takes the parts it needs.

mod database;
mod firmware;
mod gauges;

pub use firmware::load as load_firmware;
pub use gauges::gauges;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::AnyPool;

use crate::browser::Browser;
use crate::clock::{SharedClock, SystemClock};
use crate::config::{Config, StorageBackend};
use crate::coord::Coordination;
use crate::devices::firmware::Firmware;
use crate::devices::{Limits, Registry};
use crate::engine::{Engine, Parts, StartError};
use crate::history::{History, Keeper, Unkept};
use crate::jobs::JobService;
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::store::{Backend, DiskBackend, Retention, Store};
use crate::supervisor::Supervisor;

/// Every part of a running service; cheap to clone.
#[derive(Clone)]
pub struct App {
    /// Images: the cache, renders, the schedule.
    pub engine: Arc<Engine>,
    /// TRMNL devices, their keys and telemetry; `None` when the database
    /// cannot be opened (logged at start): images are still served.
    pub devices: Option<Registry>,
    /// The database devices, jobs and sessions are kept in; `None` when it
    /// cannot be opened.
    pub database: Option<AnyPool>,
    /// The job API; `None` without API keys or a database.
    pub jobs: Option<Arc<JobService>>,
    /// The history of fetched values; `None` when `history.enabled` is
    /// off or there is no database.
    pub history: Option<Arc<Keeper>>,
    /// The browser of screenshot spots and HTML templates, started on
    /// first use.
    pub browser: Browser,
    /// The firmware images devices are offered (`trmnl.firmware_dir`);
    /// `None` without that folder.
    pub firmware: Option<Arc<Firmware>>,
    /// Every metric of this service.
    pub metrics: Arc<Metrics>,
    /// The owner of every background task.
    pub supervisor: Supervisor,
    /// When it started, by the wall clock and by the monotonic one.
    started: (DateTime<Utc>, Instant),
}

impl App {
    /// Starts the service for a validated `config` on the system clock.
    pub async fn start(config: Config) -> Result<Self, StartError> {
        Self::with_clock(config, Arc::new(SystemClock)).await
    }

    /// Starts the service reading time from `clock`.
    pub async fn with_clock(config: Config, clock: SharedClock) -> Result<Self, StartError> {
        let started = (Utc::now(), Instant::now());
        let supervisor = Supervisor::new();
        let metrics = Arc::new(Metrics::new());
        let coord = Coordination::start(&config.coordination, &supervisor);
        let mut pipeline = Pipeline::new(&config)?;
        pipeline.observe(metrics.clone());
        let browser = Browser::new(&config.browser);
        pipeline.photograph(Arc::new(browser.clone()));
        if let Some(share) = coord.fetch_share() {
            pipeline.share(share);
        }
        let firmware = load_firmware(&config)?;
        if let Some(firmware) = &firmware {
            firmware::spawn_latest(firmware.clone(), &config, &supervisor);
        }
        let store = open_store(&config, &metrics, &supervisor).await?;
        let database = database::open(&config, &supervisor).await;
        let limits = Limits {
            keep_logs: config.trmnl.keep_logs,
            keep_history: config.trmnl.keep_history,
        };
        let devices = database.clone().map(|pool| Registry::new(pool, limits));
        let history = database
            .clone()
            .filter(|_| config.history.enabled)
            .map(|pool| Keeper::start(pool, Arc::new(config.clone()), clock.clone(), &supervisor));
        let kept: Arc<dyn History> = match &history {
            Some(keeper) => keeper.clone(),
            None => Arc::new(Unkept),
        };
        let engine = Engine::new(Parts {
            config,
            pipeline,
            store,
            coord,
            metrics: metrics.clone(),
            clock,
            history: kept,
        });
        engine.spawn_background(&supervisor);
        let jobs = JobService::start(engine.clone(), database.clone(), &supervisor);
        Ok(Self {
            engine,
            devices,
            database,
            jobs,
            history,
            browser,
            firmware,
            metrics,
            supervisor,
            started,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        self.engine.config()
    }

    /// When the process started it, by the wall clock (not the data
    /// clock, which a demo holds still).
    pub fn started_at(&self) -> DateTime<Utc> {
        self.started.0
    }

    /// How long it has been running.
    pub fn uptime(&self) -> Duration {
        self.started.1.elapsed()
    }

    /// Stops the background work and waits for it, at most `grace`.
    pub async fn shutdown(&self, grace: Duration) {
        self.supervisor.shutdown(grace).await;
        self.browser.shutdown().await;
    }
}

/// The render store `config` describes, opened, with its sweeper running
/// under `supervisor`.
async fn open_store(
    config: &Config,
    metrics: &Arc<Metrics>,
    supervisor: &Supervisor,
) -> Result<Store, StartError> {
    let retention = Retention {
        max_bytes: config.cache.max_disk.as_u64(),
        max_age: config.cache.max_disk_age,
    };
    let backend: Arc<dyn Backend> = match config.storage.backend {
        StorageBackend::Disk => Arc::new(DiskBackend::new(config.cache_dir())),
        #[cfg(feature = "s3")]
        StorageBackend::S3 => Arc::new(crate::store::S3Backend::new(&config.storage)?),
        // The config's validation refuses S3 in a build without it.
        #[cfg(not(feature = "s3"))]
        StorageBackend::S3 => return Err(StartError::Unsupported("storage.backend = \"s3\"")),
    };
    let memory = config.cache.memory.as_u64();
    let store = Store::new(backend, memory, retention, metrics.clone());
    store.open().await;
    store.spawn_sweeper(supervisor);
    Ok(store)
}
