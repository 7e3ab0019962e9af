//! The engine: answers "the image of this spot" from the store when a fresh
//! render exists, and otherwise runs one shared job per spot and variant
//! that fetches, fills the template, draws and stores.
//!
//! Jobs run as their own tasks, so a device that hangs up does not cancel a
//! render half-way, and every request that arrives while a job runs waits on
//! that same job: 50 cold requests make one fetch per source.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use tokio::sync::Semaphore;

use crate::config::{Config, Spot};
use crate::render::Renderer;
use crate::source::{self, Fetcher, SpotData};
use crate::store::{Key, Rendered, Store};
use crate::template::{Context, ERROR_TEMPLATE, TemplateError, Templates};

/// MIME type of PNG output.
pub const PNG: &str = "image/png";

/// Errors that stop the engine from starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A template does not load.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// The HTTP client cannot be built.
    #[error(transparent)]
    Fetch(#[from] source::FetchError),
}

/// Why an image could not be served.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    /// No configured spot has that name or slug.
    #[error("unknown spot `{0}`")]
    UnknownSpot(String),
    /// Every source failed and there is no earlier render to fall back on.
    #[error("no data for {spot}: {reason}")]
    Unavailable {
        /// The spot's name.
        spot: String,
        /// What failed, fit to show a user.
        reason: String,
        /// A PNG drawn from `error.svg` that says so, when it could be drawn.
        image: Option<Bytes>,
    },
    /// Filling the template, drawing or encoding failed: a server-side fault.
    #[error("render failed: {0}")]
    Render(String),
}

/// Where a served image came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// A fresh render from the store.
    Hit,
    /// Rendered for this request.
    Miss,
    /// An older render, served because a new one could not be made.
    Stale,
}

impl CacheStatus {
    /// The `X-Cache` header value.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "hit",
            CacheStatus::Miss => "miss",
            CacheStatus::Stale => "stale",
        }
    }
}

/// An image ready to send.
#[derive(Debug, Clone)]
pub struct Served {
    /// The image and its metadata.
    pub rendered: Arc<Rendered>,
    /// Where it came from.
    pub cache: CacheStatus,
    /// How long a client may keep it.
    pub max_age: Duration,
}

/// What one job produced.
#[derive(Clone)]
enum Outcome {
    Rendered(Arc<Rendered>),
    AllFailed {
        reason: String,
        image: Option<Bytes>,
    },
}

type Job = Shared<BoxFuture<'static, Result<Outcome, EngineError>>>;

/// The configured spots and everything needed to draw them.
pub struct Engine {
    config: Config,
    lookup: HashMap<String, usize>,
    fetcher: Fetcher,
    templates: Templates,
    renderer: Renderer,
    store: Store,
    render_limit: Arc<Semaphore>,
    jobs: Mutex<HashMap<Key, Job>>,
}

impl Engine {
    /// Builds the engine for a validated `config`: compiles templates, loads
    /// fonts once, and opens the cache folder.
    pub async fn new(config: Config) -> Result<Arc<Self>, StartError> {
        let templates_dir = config.templates_dir();
        let templates = Templates::load(&templates_dir)?;
        let renderer = Renderer::new(&templates_dir, true);
        let fetcher = Fetcher::new(&config.fetch, &config.base_dir)?;
        let store = Store::new(config.cache_dir(), config.cache.memory.as_u64());
        store.open().await;
        let mut lookup = HashMap::new();
        for (i, spot) in config.spots.iter().enumerate() {
            lookup.insert(spot.name.to_lowercase(), i);
            lookup.insert(spot.slug(), i);
        }
        Ok(Arc::new(Self {
            render_limit: Arc::new(Semaphore::new(config.server.render_concurrency())),
            config,
            lookup,
            fetcher,
            templates,
            renderer,
            store,
            jobs: Mutex::new(HashMap::new()),
        }))
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The configured spots.
    pub fn spots(&self) -> &[Spot] {
        &self.config.spots
    }

    /// Finds a spot by name (any case) or slug.
    pub fn find(&self, name: &str) -> Option<&Spot> {
        let i = self
            .lookup
            .get(name)
            .or_else(|| self.lookup.get(&name.to_lowercase()))?;
        Some(&self.config.spots[*i])
    }

    fn key(&self, spot: &Spot) -> Key {
        let version = self.templates.version(&spot.template).unwrap_or("none");
        Key::new(&spot.slug(), &format!("png-{version}"))
    }

    /// How long a render stays fresh.
    fn lifetime(&self, rendered: &Rendered) -> Duration {
        if rendered.meta.partial {
            self.config.cache.partial_max_age
        } else {
            self.config.cache.max_age
        }
    }

    /// Freshness left at `now`, or `None` when expired.
    fn fresh_for(&self, rendered: &Rendered, now: DateTime<Utc>) -> Option<Duration> {
        let age = (now - rendered.meta.rendered_at)
            .to_std()
            .unwrap_or_default();
        self.lifetime(rendered)
            .checked_sub(age)
            .filter(|d| !d.is_zero())
    }

    /// The image for the spot named `name`.
    pub async fn image(self: &Arc<Self>, name: &str) -> Result<Served, EngineError> {
        let spot = self
            .find(name)
            .ok_or_else(|| EngineError::UnknownSpot(name.to_string()))?;
        let key = self.key(spot);
        if let Some(rendered) = self.store.get(&key).await
            && let Some(left) = self.fresh_for(&rendered, Utc::now())
        {
            return Ok(Served {
                rendered,
                cache: CacheStatus::Hit,
                max_age: left,
            });
        }
        match self.job(spot, key.clone()).await? {
            Outcome::Rendered(rendered) => Ok(Served {
                max_age: self.lifetime(&rendered),
                rendered,
                cache: CacheStatus::Miss,
            }),
            Outcome::AllFailed { reason, image } => match self.store.get(&key).await {
                Some(rendered) => Ok(Served {
                    rendered,
                    cache: CacheStatus::Stale,
                    max_age: self.config.cache.stale_max_age,
                }),
                None => Err(EngineError::Unavailable {
                    spot: spot.name.clone(),
                    reason,
                    image,
                }),
            },
        }
    }

    /// When the spot's current render was made, if there is one.
    pub async fn last_render(&self, spot: &Spot) -> Option<DateTime<Utc>> {
        self.store
            .get(&self.key(spot))
            .await
            .map(|r| r.meta.rendered_at)
    }

    /// Joins the running job for `key`, or starts one.
    fn job(self: &Arc<Self>, spot: &Spot, key: Key) -> Job {
        let mut jobs = self.jobs.lock().expect("job table lock");
        if let Some(job) = jobs.get(&key) {
            return job.clone();
        }
        let engine = self.clone();
        let spot = spot.clone();
        let task_key = key.clone();
        // The lock is held until the job is in the table, so the task's own
        // removal below always happens after its insertion.
        let handle = tokio::spawn(async move {
            let outcome = engine.produce(&spot, &task_key).await;
            engine
                .jobs
                .lock()
                .expect("job table lock")
                .remove(&task_key);
            outcome
        });
        let job = async move {
            handle
                .await
                .unwrap_or_else(|e| Err(EngineError::Render(format!("render task failed: {e}"))))
        }
        .boxed()
        .shared();
        jobs.insert(key, job.clone());
        job
    }

    /// Fetches, draws and stores one render.
    async fn produce(&self, spot: &Spot, key: &Key) -> Result<Outcome, EngineError> {
        let data = source::gather(&self.fetcher, spot).await;
        if data.all_failed() {
            let reason = failure_summary(&data);
            let image = self.error_image(spot, &reason).await;
            return Ok(Outcome::AllFailed { reason, image });
        }
        let rendered = Arc::new(self.draw(spot, &data).await?);
        self.store.put(key, rendered.clone()).await;
        Ok(Outcome::Rendered(rendered))
    }

    /// Fills the spot's template with `data` and encodes it, on a blocking
    /// thread behind the render limit.
    pub async fn draw(&self, spot: &Spot, data: &SpotData) -> Result<Rendered, EngineError> {
        let now = Utc::now();
        let context = Context::new(spot, spot.width, spot.height, Some(data), now);
        let bytes = self
            .draw_png(&spot.template, context, spot.width, spot.height)
            .await?;
        Ok(Rendered::new(bytes, PNG, now, data.is_partial()))
    }

    async fn draw_png(
        &self,
        template: &str,
        context: Context,
        width: u32,
        height: u32,
    ) -> Result<Vec<u8>, EngineError> {
        let _permit = self
            .render_limit
            .acquire()
            .await
            .map_err(|_| EngineError::Render("render limit closed".into()))?;
        let svg = self
            .templates
            .render(template, &context)
            .map_err(|e| EngineError::Render(e.to_string()))?;
        let renderer = self.renderer.clone();
        tokio::task::spawn_blocking(move || renderer.png(&svg, width, height))
            .await
            .map_err(|e| EngineError::Render(format!("render task failed: {e}")))?
            .map_err(|e| EngineError::Render(e.to_string()))
    }

    /// Draws `error.svg` for `spot` with `reason`; `None` (logged) if even
    /// that fails.
    async fn error_image(&self, spot: &Spot, reason: &str) -> Option<Bytes> {
        let mut context = Context::new(spot, spot.width, spot.height, None, Utc::now());
        context.reason = Some(reason.to_string());
        match self
            .draw_png(ERROR_TEMPLATE, context, spot.width, spot.height)
            .await
        {
            Ok(bytes) => Some(Bytes::from(bytes)),
            Err(e) => {
                tracing::error!(spot = %spot.name, error = %e, "cannot draw the error image");
                None
            }
        }
    }

    /// Fetches and draws `spot` once without touching the store: for
    /// `inkspot render`. Returns the render and what failed along the way.
    pub async fn render_once(&self, spot: &Spot) -> Result<(Rendered, SpotData), EngineError> {
        let data = source::gather(&self.fetcher, spot).await;
        if data.all_failed() {
            return Err(EngineError::Unavailable {
                spot: spot.name.clone(),
                reason: failure_summary(&data),
                image: None,
            });
        }
        let rendered = self.draw(spot, &data).await?;
        Ok((rendered, data))
    }

    /// The fetcher, for `inkspot check --fetch`.
    pub fn fetcher(&self) -> &Fetcher {
        &self.fetcher
    }
}

/// One line naming every failed source and why.
fn failure_summary(data: &SpotData) -> String {
    let parts: Vec<String> = data
        .errors
        .iter()
        .filter(|e| e.field.is_none())
        .map(|e| format!("{}: {}", e.source, e.reason))
        .collect();
    if parts.is_empty() {
        "every source failed".to_string()
    } else {
        parts.join("; ")
    }
}
