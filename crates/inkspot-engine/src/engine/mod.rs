//! The engine: answers "the image of this request" from the store when a
//! fresh render exists, and otherwise submits one shared render job that
//! gets the spot's data (cached, fetched once however many ask), runs the
//! pipeline and stores the result.
//!
//! Policy lives here and nowhere else: freshness, stale-while-revalidate,
//! the error picture, and what a failed render falls back to. Each part is
//! its own type: [`fresh`] (lifetimes), [`answer`] (serving what is
//! stored), [`data`] (a spot's data), [`renders`] (render jobs),
//! [`pictures`] (what is shown instead of a render), and the background
//! work: [`runner`] (the schedule) and [`templates`] (the folder watcher).
//! A miss is [`Engine::image_in`]: look up, else submit or join the render
//! job, else serve stale, else the failure.

mod answer;
mod data;
mod error;
mod fresh;
mod keys;
mod layers;
mod pictures;
mod quiet;
mod renders;
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
use crate::config::{Config, OutputOptions};
use crate::coord::{Coordination, CoordinationStatus};
use crate::flight::{Busy, JobInfo, Owner};
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::request::{Catalog, RenderRequest, RequestError};
use crate::schedule::{Schedule, SpotStatus};
use crate::source::SpotData;
use crate::store::{Key, Rendered, Store};
use crate::supervisor::Supervisor;
use answer::Lookup;
use fresh::Freshness;
use renders::{RenderParts, Renders};

/// `Retry-After` of a request turned away because the render queue is full:
/// about the time a queue of renders takes to drain.
pub const BUSY_RETRY_AFTER: Duration = Duration::from_secs(5);

/// How long background work waits before asking again for room in a full
/// render queue: displays come first.
const QUEUE_FULL_WAIT: Duration = Duration::from_millis(250);

/// The configured spots and everything needed to serve them.
pub struct Engine {
    config: Config,
    catalog: Catalog,
    fresh: Freshness,
    /// The render jobs, the spots' data and the pictures shown instead.
    renders: Arc<Renders>,
    store: Store,
    /// Work shared with other replicas; alone by default.
    coord: Coordination,
    /// The plan and state of scheduled refreshes; `None` when off.
    schedule: Option<Arc<Schedule>>,
    /// The metrics of requests, fetches and renders.
    metrics: Arc<Metrics>,
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
    /// Where fetched values are kept, and read back for templates.
    pub history: Arc<dyn crate::history::History>,
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
            history,
        } = parts;
        let catalog = Catalog::new(&config);
        let schedule = config
            .schedule
            .enabled
            .then(|| Arc::new(Schedule::new(&config, &catalog)));
        let fresh = Freshness::new(&config.cache, clock);
        let renders = Arc::new(Renders::new(RenderParts {
            queue: (config.server.render_queue, config.server.renders_per_client),
            catalog: catalog.clone(),
            pipeline,
            store: store.clone(),
            coord: coord.clone(),
            fresh: fresh.clone(),
            metrics: metrics.clone(),
            history,
        }));
        Arc::new(Self {
            config,
            catalog,
            fresh,
            renders,
            store,
            coord,
            schedule,
            metrics,
        })
    }

    /// Starts the engine's background work under `supervisor`: the
    /// template watcher, and the scheduler when the schedule is on.
    pub fn spawn_background(self: &Arc<Self>, supervisor: &Supervisor) {
        templates::spawn_watcher(self.clone(), supervisor);
        runner::spawn(self.clone(), supervisor);
    }

    /// The image for the spot named `name` as `preset` and `options` ask.
    pub async fn image_for(
        self: &Arc<Self>,
        name: &str,
        preset: Option<&str>,
        options: &OutputOptions,
    ) -> Result<Served, EngineError> {
        let request = self.catalog.resolve(name, preset, options)?;
        self.image(&request, None).await
    }

    /// The image for `request`: fresh from the store, else stale while a
    /// job refreshes it, else what the job makes. A new job counts against
    /// `client`'s own limit of renders in progress. A variant the schedule
    /// draws is answered as the schedule says, until the next image.
    pub async fn image(
        self: &Arc<Self>,
        request: &RenderRequest,
        client: Option<Owner>,
    ) -> Result<Served, EngineError> {
        self.image_in(request, client, tracing::Span::current).await
    }

    /// [`Engine::image`], with what goes beyond a cache hit (a render to
    /// start or wait for, and the render job itself) in the span `span`
    /// makes. It is made only then, so a hit costs no span.
    pub async fn image_in(
        self: &Arc<Self>,
        request: &RenderRequest,
        client: Option<Owner>,
        span: impl FnOnce() -> tracing::Span,
    ) -> Result<Served, EngineError> {
        let key = self.key(request);
        let found = self.lookup().find(request, &key).await;
        if let Some(served) = found.served {
            return Ok(served);
        }
        let keep = found
            .scheduled
            .and_then(|(s, now)| s.keep_for(request.index, now));
        let miss = self.miss(request, client, key, found.existing, keep);
        tracing::Instrument::instrument(miss, span()).await
    }

    /// A miss: the render job of `request` (submitted, or joined), unless
    /// an `existing` render may be served stale meanwhile; a failed job
    /// falls back to any good render before the error. `keep`: how long
    /// the schedule keeps a new render.
    async fn miss(
        self: &Arc<Self>,
        request: &RenderRequest,
        client: Option<Owner>,
        key: Key,
        existing: Option<Arc<Rendered>>,
        keep: Option<Duration>,
    ) -> Result<Served, EngineError> {
        let job = self
            .renders
            .submit(client, request.clone(), key.clone(), None);
        if let Some(rendered) = existing
            && (self.config.cache.serve_stale || job.is_err())
        {
            // Stale while revalidate: the job runs on its own task; this
            // device gets the previous image now, the next one the new. With
            // the queue full, an old image still beats a 503.
            if job.is_err() {
                tracing::debug!(spot = %request.spot.name, "render queue full: serving stale without refresh");
            }
            return Ok(self.fresh.stale(rendered));
        }
        let job = match job {
            Ok(job) => job,
            Err(busy) => return Err(self.renders.pictures().turned_away(request, busy).await),
        };
        match job.wait().await {
            Ok(rendered) => {
                let fresh = self
                    .fresh
                    .fresh_for(rendered.meta.data_at, rendered.meta.partial);
                Ok(Served {
                    max_age: keep.or(fresh).unwrap_or_default(),
                    rendered,
                    cache: CacheStatus::Miss,
                })
            }
            // A failed render never hides a good one that exists: this
            // key's, or one the template drew before it was edited.
            Err(failure) => match self.good_render(&key).await {
                Some(rendered) => Ok(self.fresh.stale(rendered)),
                None => Err(EngineError::Unavailable {
                    spot: request.spot.name.clone(),
                    failure,
                }),
            },
        }
    }

    /// A good render of `key` to fall back on: its own, or one an earlier
    /// version of its template drew.
    async fn good_render(&self, key: &Key) -> Option<Arc<Rendered>> {
        match self.store.get(key).await {
            Some(rendered) => Some(rendered),
            None => self.renders.pictures().earlier(key).await,
        }
    }

    /// The stored image for `request` without waiting, for clients that
    /// must not wait on a render (a TRMNL display call): fresh or stale, as
    /// [`Engine::image`] would serve it. When there is none, or it is due
    /// and the schedule is not refreshing it, a render job is started, and
    /// the next call finds its result. Without an image it says whether
    /// one is being drawn for the first time or its last render failed.
    pub async fn look(self: &Arc<Self>, request: &RenderRequest) -> Look {
        let key = self.key(request);
        let found = self.lookup().find(request, &key).await;
        if let Some(served) = found.served {
            return Look::Ready(served);
        }
        // A full queue is no error here: the device comes back soon.
        let _ = self
            .renders
            .submit(None, request.clone(), key.clone(), None);
        if let Some(rendered) = found.existing {
            return Look::Ready(self.fresh.stale(rendered));
        }
        let Some(failed) = self.renders.trouble().failure(&key).await else {
            return Look::Preparing;
        };
        // As for `/image`: a good render from before a template edit beats
        // the error picture.
        match self.renders.pictures().earlier(&key).await {
            Some(rendered) => Look::Ready(self.fresh.stale(rendered)),
            None => Look::Failed(failed),
        }
    }

    /// The image `request` would be served now from the store when there
    /// is one, else the result of the shared render job: for work no
    /// display is waiting on (the job API). A full render queue is waited
    /// out, not refused.
    pub async fn current(
        self: &Arc<Self>,
        request: &RenderRequest,
    ) -> Result<Arc<Rendered>, RenderFailure> {
        let key = self.key(request);
        if let Some(served) = self.lookup().find(request, &key).await.served {
            return Ok(served.rendered);
        }
        loop {
            match self
                .renders
                .submit(None, request.clone(), key.clone(), None)
            {
                Ok(job) => return job.wait().await,
                Err(_) => tokio::time::sleep(QUEUE_FULL_WAIT).await,
            }
        }
    }

    /// Fresh data for the request's spot: cached, or fetched once however
    /// many ask, as renders get it.
    pub async fn data_for(&self, request: &RenderRequest) -> Arc<SpotData> {
        self.renders.data().fresh(request).await
    }

    /// Submits a render job for `request`, or joins the one in flight. The
    /// scheduler and the job API use this; `/image` does through
    /// [`Engine::image`].
    pub fn submit(&self, request: RenderRequest) -> Result<RenderHandle, Busy> {
        let key = self.key(&request);
        self.renders.submit(None, request, key, None)
    }

    /// The store key of `request` with the templates in force.
    pub fn key(&self, request: &RenderRequest) -> Key {
        self.renders.key(request)
    }

    fn lookup(&self) -> Lookup<'_> {
        Lookup {
            fresh: &self.fresh,
            store: &self.store,
            schedule: self.schedule.as_deref(),
            data: self.renders.data(),
        }
    }

    /// A notice drawn as `request`'s output: `title` over `text`. Nothing
    /// is stored; `None` (logged) if it cannot be drawn.
    pub async fn notice(
        &self,
        request: &RenderRequest,
        title: &str,
        text: &str,
    ) -> Option<Rendered> {
        self.renders.pictures().notice(request, title, text).await
    }

    /// The render jobs in flight.
    pub fn render_jobs(&self) -> Vec<JobInfo<Key>> {
        self.renders.jobs()
    }

    /// Fills each spot's templates with its last good data; logs each that
    /// fails and keeps it as the spot's template problem. Returns how many
    /// spots fail.
    pub async fn try_templates(&self) -> usize {
        templates::try_all(self).await
    }

    /// The spot's template problem: its template failing on its data.
    pub fn template_problem(&self, slug: &str) -> Option<TemplateProblem> {
        self.renders.trouble().template_problem(slug)
    }

    /// Reloads the templates now if their folder changed (the watcher does
    /// this every two seconds). Blocking: it reads the folder.
    pub fn reload_templates_if_changed(&self) -> bool {
        self.pipeline().templates().reload_if_changed()
    }

    /// `request` drawing only the layers `picked`, which its template must
    /// declare.
    pub fn pick_layers(
        &self,
        request: RenderRequest,
        picked: &[String],
    ) -> Result<RenderRequest, RequestError> {
        layers::pick(&self.pipeline().templates().current(), request, picked)
    }

    /// The metrics of this engine's requests, fetches and renders.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
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
        self.renders.data().pipeline()
    }

    /// The clock.
    pub fn clock(&self) -> &SharedClock {
        self.fresh.clock()
    }

    /// The render store, for results beside the renders (the job API's).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// How this replica coordinates with others, as `/status` shows it.
    pub fn coordination(&self) -> CoordinationStatus {
        self.coord.status()
    }

    /// The spot's last fetch, failed or not.
    pub async fn last_data(&self, slug: &str) -> Option<Arc<SpotData>> {
        self.renders.data().last(slug).await
    }

    /// The schedule, when scheduled refreshes are on.
    pub fn schedule(&self) -> Option<&Arc<Schedule>> {
        self.schedule.as_ref()
    }

    /// The schedule of the spot at `index` as the status page shows it.
    pub fn schedule_status(&self, index: usize) -> Option<SpotStatus> {
        let schedule = self.schedule.as_ref()?;
        Some(schedule.status(index, self.fresh.now()))
    }

    /// When the next image of the spot at `index` is expected: its next
    /// scheduled run plus the time a run takes. `None` without a running
    /// schedule.
    pub fn next_image_at(&self, index: usize) -> Option<DateTime<Utc>> {
        self.schedule.as_ref()?.next_image_at(index)
    }
}
