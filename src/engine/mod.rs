//! The engine: answers "the image of this request" from the store when a
//! fresh render exists, and otherwise submits one shared render job that
//! gets the spot's data (cached, fetched once however many ask), runs the
//! pipeline and stores the result. It owns the background work of the
//! service, and stops it at shutdown.
//!
//! Policy lives here and nowhere else: freshness, stale-while-revalidate,
//! the error picture, and what a failed render falls back to.

mod answer;
mod background;
mod error;
mod keys;
mod pictures;
mod quiet;
mod refresh;
mod shared;
mod templates;
mod trouble;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::AnyPool;

pub use answer::{CacheStatus, Look, RenderHandle, Served};
pub use error::{EngineError, RenderFailure, StartError};
pub use keys::store_key;
pub use trouble::{Failed, TemplateProblem};

use crate::clock::{SharedClock, SystemClock};
use crate::config::StorageBackend;
use crate::config::{Config, Spot};
use crate::coord::{Coordination, CoordinationStatus};
use crate::devices::{Limits, Registry};
use crate::flight::Stage;
use crate::flight::{JobPanicked, SingleFlight};
use crate::metrics::{DeviceGauges, Gauges, Metrics, labels};
use crate::pipeline::Pipeline;
use crate::request::{Catalog, RenderRequest, RequestError};
use crate::schedule::{Schedule, SpotStatus};
use crate::source::SpotData;
use crate::store::{Backend, DiskBackend, Health, Key, Rendered, Retention, Store, Usage};
use crate::supervisor::Supervisor;

/// Opens the database; a failure is logged, and the service runs without
/// devices and jobs rather than not at all. A PostgreSQL database that does
/// not answer yet gets a pool that connects when it does, and its schema
/// is brought up to date then, by a task under `supervisor`.
async fn open_database(config: &Config, supervisor: &Supervisor) -> Option<AnyPool> {
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

/// `Retry-After` of a request turned away because the render queue is full:
/// about the time a queue of renders takes to drain.
pub const BUSY_RETRY_AFTER: Duration = Duration::from_secs(5);

/// The configured spots and everything needed to serve them.
pub struct Engine {
    config: Config,
    catalog: Catalog,
    pipeline: Pipeline,
    /// The metrics of requests, fetches and renders.
    metrics: Arc<Metrics>,
    store: Store,
    clock: SharedClock,
    supervisor: Supervisor,
    /// Fetched data by spot slug; fresh while younger than its lifetime.
    data: moka::future::Cache<String, Arc<SpotData>>,
    /// The last fetch of each spot, failed or not, for the status page.
    last_fetch: moka::future::Cache<String, Arc<SpotData>>,
    fetches: SingleFlight<String, Arc<SpotData>, JobPanicked>,
    renders: SingleFlight<Key, Arc<Rendered>, RenderFailure>,
    keys: keys::Keys,
    /// TRMNL devices, their keys and telemetry; `None` when the database
    /// cannot be opened (logged at start): images are still served.
    devices: Option<Registry>,
    /// The database devices and jobs are kept in; `None` when it cannot be
    /// opened.
    database: Option<AnyPool>,
    /// Pictures of "busy", by spot and output, for displays turned away.
    busy_pictures: moka::future::Cache<(usize, crate::render::Output), Arc<Rendered>>,
    /// Renders that failed lately, and templates that fail on their data.
    trouble: trouble::Trouble,
    /// What has been logged of failures that last.
    quiet: quiet::Quiet,
    /// Work shared with other replicas; alone by default.
    coord: Coordination,
    /// The plan and state of scheduled refreshes; `None` when off.
    schedule: Option<Arc<Schedule>>,
    /// When it started, by the wall clock and by the monotonic one.
    started: (DateTime<Utc>, std::time::Instant),
}

impl Engine {
    /// Starts the engine for a validated `config` on the system clock.
    pub async fn new(config: Config) -> Result<Arc<Self>, StartError> {
        Self::with_clock(config, Arc::new(SystemClock)).await
    }

    /// Starts the engine reading time from `clock`: builds the pipeline,
    /// opens the store on the cache folder, and starts the template watcher,
    /// the store sweeper and the scheduler under its supervisor.
    pub async fn with_clock(config: Config, clock: SharedClock) -> Result<Arc<Self>, StartError> {
        let mut pipeline = Pipeline::new(&config)?;
        let supervisor = Supervisor::new();
        let coord = Coordination::start(&config.coordination, &supervisor);
        if let Some(share) = coord.fetch_share() {
            pipeline.share(share);
        }
        let metrics = Arc::new(Metrics::new());
        pipeline.observe(metrics.clone());
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
        let store = Store::new(
            backend,
            config.cache.memory.as_u64(),
            retention,
            metrics.clone(),
        );
        store.open().await;
        store.spawn_sweeper(&supervisor);
        let database = open_database(&config, &supervisor).await;
        let limits = Limits {
            keep_logs: config.trmnl.keep_logs,
            keep_history: config.trmnl.keep_history,
        };
        let devices = database.clone().map(|pool| Registry::new(pool, limits));
        let catalog = Catalog::new(&config);
        let schedule = config
            .schedule
            .enabled
            .then(|| Arc::new(Schedule::new(&config, &catalog)));
        let engine = Arc::new(Self {
            catalog,
            data: moka::future::Cache::new(config.spots.len() as u64 * 2 + 16),
            last_fetch: moka::future::Cache::new(config.spots.len() as u64 * 2 + 16),
            fetches: SingleFlight::new(usize::MAX),
            renders: SingleFlight::with_owner_limit(
                config.server.render_queue,
                config.server.renders_per_client,
            ),
            keys: keys::Keys::new(pipeline.templates().current()),
            busy_pictures: moka::future::Cache::new(64),
            trouble: trouble::Trouble::new(),
            quiet: quiet::Quiet::default(),
            devices,
            database,
            config,
            pipeline,
            metrics,
            store,
            started: (Utc::now(), std::time::Instant::now()),
            clock,
            supervisor,
            schedule,
            coord,
        });
        engine.spawn_template_watcher();
        engine.spawn_scheduler();
        Ok(engine)
    }

    /// Stops the background work and waits for it, at most `grace`.
    pub async fn shutdown(&self, grace: Duration) {
        self.supervisor.shutdown(grace).await;
    }

    /// The metrics of this engine's requests, fetches and renders.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The state the metrics show as gauges: the render queue, the cache
    /// layers and the devices.
    pub async fn gauges(&self) -> Gauges {
        let jobs = self.renders.list();
        let queued = jobs.iter().filter(|j| j.stage == Stage::Queued).count();
        let usage = self.store_usage().await;
        let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        Gauges {
            queued: queued as i64,
            in_flight: (jobs.len() - queued) as i64,
            memory: (as_i64(usage.memory_entries), as_i64(usage.memory_bytes)),
            disk: (as_i64(usage.stored_entries), as_i64(usage.stored_bytes)),
            services: self.services_up().await,
            pending_writes: as_i64(self.store.pending_writes() as u64),
            devices: self.device_gauges().await,
        }
    }

    /// Whether each service this replica uses answers: its storage, its
    /// database, and Redis when replicas coordinate.
    async fn services_up(&self) -> Vec<(&'static str, bool)> {
        let database = match &self.database {
            Some(pool) => crate::db::ping(pool).await.is_ok(),
            None => false,
        };
        let mut up = vec![("storage", self.store_health().ok), ("database", database)];
        if self.coord.is_shared() {
            up.push((
                "coordination",
                self.coord.status().state == crate::coord::LinkState::Connected,
            ));
        }
        up
    }

    async fn device_gauges(&self) -> Vec<(labels::Device, DeviceGauges)> {
        let Some(registry) = &self.devices else {
            return Vec::new();
        };
        let list = registry.list().await.unwrap_or_default();
        let configured = self.config.devices.list();
        list.into_iter()
            .map(|d| {
                let name = configured.iter().find(|c| c.mac == d.mac);
                let labels = labels::Device {
                    device: d.friendly_id.clone(),
                    name: name.and_then(|c| c.name.clone()).unwrap_or_default(),
                };
                let last_seen = d
                    .last_seen_at
                    .as_deref()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.timestamp());
                let gauges = DeviceGauges {
                    last_seen,
                    volts: d.battery_voltage,
                    percent: d.battery_percent,
                    rssi: d.rssi,
                };
                (labels, gauges)
            })
            .collect()
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

    /// What the store holds, in memory and in its backend.
    pub async fn store_usage(&self) -> Usage {
        self.store.usage().await
    }

    /// The spot's last fetch, failed or not.
    pub async fn last_data(&self, slug: &str) -> Option<Arc<SpotData>> {
        self.last_fetch.get(slug).await
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The configured spots and presets.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The pipeline the render jobs run.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// The owner of the background tasks.
    pub fn supervisor(&self) -> &Supervisor {
        &self.supervisor
    }

    /// The clock.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// How this replica coordinates with others, as `/status` shows it.
    pub fn coordination(&self) -> CoordinationStatus {
        self.coord.status()
    }

    /// The health of the storage behind the memory cache.
    pub fn store_health(&self) -> Health {
        self.store.health()
    }

    /// Reloads the templates now if their folder changed (the watcher does
    /// this every two seconds). Blocking: it reads the folder.
    pub fn reload_templates_if_changed(&self) -> bool {
        self.pipeline.templates().reload_if_changed()
    }

    /// When any render of `spot` was last drawn, in any output; read from
    /// the metadata alone.
    pub async fn last_render(&self, spot: &Spot) -> Option<DateTime<Utc>> {
        self.store
            .list(Some(&spot.slug()))
            .await
            .into_iter()
            .map(|l| l.meta.rendered_at)
            .max()
    }

    /// The database, unless it could not be opened.
    pub fn database(&self) -> Option<&AnyPool> {
        self.database.as_ref()
    }

    /// The render store, for results beside the renders (the job API's).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// `request` drawing only the layers `picked`, which its template must
    /// declare.
    pub fn pick_layers(
        &self,
        request: RenderRequest,
        picked: &[String],
    ) -> Result<RenderRequest, RequestError> {
        let templates = self.pipeline.templates().current();
        let declared = templates.layers(request.template());
        if let Some(name) = picked
            .iter()
            .find(|p| !declared.iter().any(|l| l.name == **p))
        {
            let names: Vec<&str> = declared.iter().map(|l| l.name.as_str()).collect();
            let known = if names.is_empty() {
                format!("template `{}` declares no layers", request.template())
            } else {
                format!("layers: {}", names.join(", "))
            };
            let name = crate::text::ellipsize(name, 40);
            return Err(RequestError::UnknownLayer { name, known });
        }
        Ok(request.with_layers(picked))
    }

    /// The TRMNL device registry, unless its database could not be opened.
    pub fn devices(&self) -> Option<&Registry> {
        self.devices.as_ref()
    }

    /// The schedule, when scheduled refreshes are on.
    pub fn schedule(&self) -> Option<&Arc<Schedule>> {
        self.schedule.as_ref()
    }

    /// The schedule of the spot at `index` as the status page shows it.
    pub fn schedule_status(&self, index: usize) -> Option<SpotStatus> {
        let schedule = self.schedule.as_ref()?;
        Some(schedule.status(index, self.clock.now()))
    }

    /// When the next image of the spot at `index` is expected: its next
    /// scheduled run plus the time a run takes. `None` without a running
    /// schedule.
    pub fn next_image_at(&self, index: usize) -> Option<DateTime<Utc>> {
        self.schedule.as_ref()?.next_image_at(index)
    }

    /// How long data, or a render made from it, stays fresh.
    fn lifetime(&self, partial: bool) -> Duration {
        if partial {
            self.config.cache.partial_max_age
        } else {
            self.config.cache.max_age
        }
    }

    /// Freshness left now for something made from data fetched at
    /// `data_at`, or `None` when expired.
    fn fresh_for(&self, data_at: DateTime<Utc>, partial: bool) -> Option<Duration> {
        let age = (self.clock.now() - data_at).to_std().unwrap_or_default();
        self.lifetime(partial)
            .checked_sub(age)
            .filter(|d| !d.is_zero())
    }
}
