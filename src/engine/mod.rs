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
mod once;
mod pictures;
mod quiet;
mod runner;
mod templates;
mod trouble;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use answer::{CacheStatus, Look, RenderHandle, Served};
pub use error::{EngineError, RenderFailure, StartError};
pub use keys::store_key;
pub use trouble::{Failed, TemplateProblem};

use crate::clock::SharedClock;
use crate::config::{Config, Spot};
use crate::coord::{Coordination, CoordinationStatus};
use crate::flight::{JobPanicked, SingleFlight};
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::request::{Catalog, RenderRequest, RequestError};
use crate::schedule::{Schedule, SpotStatus};
use crate::source::SpotData;
use crate::store::{Health, Key, Rendered, Store, Usage};
use crate::supervisor::Supervisor;

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
    /// Fetched data by spot slug; fresh while younger than its lifetime.
    data: moka::future::Cache<String, Arc<SpotData>>,
    /// The last fetch of each spot, failed or not, for the status page.
    last_fetch: moka::future::Cache<String, Arc<SpotData>>,
    fetches: SingleFlight<String, Arc<SpotData>, JobPanicked>,
    renders: SingleFlight<Key, Arc<Rendered>, RenderFailure>,
    keys: keys::Keys,
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
}

/// What the engine is made of; the composition root (`crate::app`) builds
/// each part.
pub struct Parts {
    /// The validated config.
    pub config: Config,
    /// The pipeline render jobs run.
    pub pipeline: Pipeline,
    /// The opened render store.
    pub store: Store,
    /// Work shared with other replicas.
    pub coord: Coordination,
    /// The metrics renders and runs count in.
    pub metrics: Arc<Metrics>,
    /// The clock freshness and the schedule read.
    pub clock: SharedClock,
}

impl Engine {
    /// The engine over `parts`. Its background work starts with
    /// [`Engine::spawn_background`].
    pub fn new(parts: Parts) -> Arc<Self> {
        let Parts {
            config,
            pipeline,
            store,
            coord,
            metrics,
            clock,
        } = parts;
        let catalog = Catalog::new(&config);
        let schedule = config
            .schedule
            .enabled
            .then(|| Arc::new(Schedule::new(&config, &catalog)));
        let spots = config.spots.len() as u64 * 2 + 16;
        Arc::new(Self {
            catalog,
            data: moka::future::Cache::new(spots),
            last_fetch: moka::future::Cache::new(spots),
            fetches: SingleFlight::new(usize::MAX),
            renders: SingleFlight::with_owner_limit(
                config.server.render_queue,
                config.server.renders_per_client,
            ),
            keys: keys::Keys::new(pipeline.templates().current()),
            busy_pictures: moka::future::Cache::new(64),
            trouble: trouble::Trouble::new(),
            quiet: quiet::Quiet::default(),
            config,
            pipeline,
            metrics,
            store,
            clock,
            schedule,
            coord,
        })
    }

    /// Starts the engine's background work under `supervisor`: the
    /// template watcher, and the scheduler when the schedule is on.
    pub fn spawn_background(self: &Arc<Self>, supervisor: &Supervisor) {
        self.spawn_template_watcher(supervisor);
        self.spawn_scheduler(supervisor);
    }

    /// The metrics of this engine's requests, fetches and renders.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
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
