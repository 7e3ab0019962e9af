//! The engine: answers "the image of this spot" from the store when a fresh
//! render exists, and otherwise runs one shared job per spot and variant
//! that fetches, fills the template, draws and stores.
//!
//! Jobs run as their own tasks, so a device that hangs up does not cancel a
//! render half-way, and every request that arrives while a job runs waits on
//! that same job: 50 cold requests make one fetch per source.

mod flight;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;

use crate::config::{Config, Spot};
use crate::render::{InvalidOption, Output, OutputOptions, Renderer, output};
use crate::source::{self, Fetcher, SpotData};
use crate::store::{Key, Rendered, Retention, Store};
use crate::template::{Context, ERROR_TEMPLATE, TemplateError, Templates};
use flight::Flights;

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
    /// No preset has that name.
    #[error("unknown device `{name}`; known: {known}")]
    UnknownDevice {
        /// What was asked for.
        name: String,
        /// The preset names.
        known: String,
    },
    /// An output option is out of range.
    #[error(transparent)]
    BadOption(#[from] InvalidOption),
    /// Every source failed and there is no earlier render to fall back on.
    #[error("no data for {spot}: {reason}")]
    Unavailable {
        /// The spot's name.
        spot: String,
        /// What failed, fit to show a user.
        reason: String,
        /// An image drawn from `error.svg` that says so, in the requested
        /// format, with its MIME type, when it could be drawn.
        image: Option<(Bytes, &'static str)>,
    },
    /// `server.render_queue` renders are already waiting or running.
    #[error("too many renders in progress")]
    Busy {
        /// When to try again.
        retry_after: Duration,
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

/// What one render job produced.
#[derive(Clone)]
enum Outcome {
    Rendered(Arc<Rendered>),
    AllFailed {
        reason: String,
        image: Option<(Bytes, &'static str)>,
    },
    Failed(EngineError),
}

/// `Retry-After` of a request turned away because the render queue is full:
/// about the time a queue of renders takes to drain.
pub const BUSY_RETRY_AFTER: Duration = Duration::from_secs(5);

/// How often the templates folder is checked for changes.
const TEMPLATE_POLL: Duration = Duration::from_secs(2);

/// The configured spots and everything needed to draw them.
pub struct Engine {
    config: Config,
    lookup: HashMap<String, usize>,
    presets: BTreeMap<String, OutputOptions>,
    fetcher: Fetcher,
    templates: RwLock<Arc<Templates>>,
    templates_stamp: RwLock<Vec<(String, SystemTime, u64)>>,
    renderer: Renderer,
    store: Store,
    /// Fetched data by spot slug; fresh while younger than its lifetime.
    data: moka::future::Cache<String, Arc<SpotData>>,
    fetches: Flights<String, Arc<SpotData>>,
    renders: Flights<Key, Outcome>,
    render_limit: Arc<Semaphore>,
    /// Cache keys by spot index and output: building one hashes the output
    /// and formats strings, too slow to repeat on every hit. Emptied when
    /// templates change, since keys carry their version.
    keys: RwLock<HashMap<(usize, Output), Key>>,
}

/// The most cache keys remembered; past it the table starts again, so odd
/// sizes asked once cannot grow it without bound.
const MAX_KEYS: usize = 4096;

impl Engine {
    /// Builds the engine for a validated `config`: compiles templates, loads
    /// fonts once, opens the cache folder, and watches the templates folder
    /// so a changed template invalidates its renders.
    pub async fn new(config: Config) -> Result<Arc<Self>, StartError> {
        let templates_dir = config.templates_dir();
        let templates = Templates::load(&templates_dir)?;
        let renderer = Renderer::new(&templates_dir, true);
        let fetcher = Fetcher::new(&config.fetch, &config.base_dir)?;
        let retention = Retention {
            max_bytes: config.cache.max_disk.as_u64(),
            max_age: config.cache.max_disk_age,
        };
        let store = Store::new(config.cache_dir(), config.cache.memory.as_u64(), retention);
        store.open().await;
        let mut lookup = HashMap::new();
        for (i, spot) in config.spots.iter().enumerate() {
            lookup.insert(spot.name.to_lowercase(), i);
            lookup.insert(spot.slug(), i);
        }
        let mut presets = output::builtin_presets();
        presets.extend(config.devices.clone());
        let engine = Arc::new(Self {
            render_limit: Arc::new(Semaphore::new(config.server.render_concurrency())),
            data: moka::future::Cache::new(config.spots.len() as u64 * 2 + 16),
            templates_stamp: RwLock::new(templates_stamp(&templates_dir)),
            templates: RwLock::new(Arc::new(templates)),
            config,
            lookup,
            presets,
            fetcher,
            renderer,
            store,
            fetches: Flights::new(),
            renders: Flights::new(),
            keys: RwLock::new(HashMap::new()),
        });
        let weak = Arc::downgrade(&engine);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(TEMPLATE_POLL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(engine) = weak.upgrade() else { break };
                engine.reload_templates_if_changed();
            }
        });
        Ok(engine)
    }

    /// Reloads the templates when a file in their folder changed. A template
    /// that no longer compiles is logged and the previous set kept.
    pub fn reload_templates_if_changed(&self) {
        let dir = self.config.templates_dir();
        let stamp = templates_stamp(&dir);
        if *self.templates_stamp.read().expect("stamp lock") == stamp {
            return;
        }
        *self.templates_stamp.write().expect("stamp lock") = stamp;
        match Templates::load(&dir) {
            Ok(t) => {
                tracing::info!(dir = %dir.display(), "templates changed: reloaded");
                // Under the keys lock, so no key of the old version is
                // remembered after the swap (see `key`).
                let mut keys = self.keys.write().expect("keys lock");
                *self.templates.write().expect("templates lock") = Arc::new(t);
                keys.clear();
            }
            Err(e) => {
                tracing::error!(error = %e, "templates changed but do not load; keeping the previous ones")
            }
        }
    }

    fn templates(&self) -> Arc<Templates> {
        self.templates.read().expect("templates lock").clone()
    }

    /// Whether renders are reaching the cache folder.
    pub fn disk_ok(&self) -> bool {
        self.store.disk_ok()
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
        self.find_index(name).map(|i| &self.config.spots[i])
    }

    fn find_index(&self, name: &str) -> Option<usize> {
        self.lookup
            .get(name)
            .or_else(|| self.lookup.get(&name.to_lowercase()))
            .copied()
    }

    /// The fetcher, for drawing from data fetched outside the cache.
    pub fn fetcher(&self) -> &Fetcher {
        &self.fetcher
    }

    /// The names of the device presets.
    pub fn device_names(&self) -> Vec<&str> {
        self.presets.keys().map(String::as_str).collect()
    }

    /// The output for `spot`: its default device, then the requested
    /// `device`, then the explicit `options`, each overriding the one before.
    pub fn output(
        &self,
        spot: &Spot,
        device: Option<&str>,
        options: &OutputOptions,
    ) -> Result<Output, EngineError> {
        let mut merged = OutputOptions::default();
        for name in [spot.device.as_deref(), device].into_iter().flatten() {
            let preset = self
                .presets
                .get(name)
                .ok_or_else(|| EngineError::UnknownDevice {
                    name: name.to_string(),
                    known: self.device_names().join(", "),
                })?;
            merged = merged.overlay(preset);
        }
        Ok(merged.overlay(options).resolve(spot.width, spot.height))
    }

    /// The store key of spot number `index` drawn as `output`.
    fn key(&self, index: usize, output: &Output) -> Key {
        if let Some(key) = self.keys.read().expect("keys lock").get(&(index, *output)) {
            return key.clone();
        }
        let spot = &self.config.spots[index];
        let templates = self.templates();
        let version = templates.version(&spot.template).unwrap_or("none");
        let key = Key::new(&spot.slug(), &format!("{}-{version}", output.variant()));
        let mut keys = self.keys.write().expect("keys lock");
        if !Arc::ptr_eq(&templates, &self.templates()) {
            // The templates changed while this key was made: use it once,
            // do not remember it.
            return key;
        }
        if keys.len() >= MAX_KEYS {
            keys.clear();
        }
        keys.insert((index, *output), key.clone());
        key
    }

    /// How long data, or a render made from it, stays fresh.
    fn lifetime(&self, partial: bool) -> Duration {
        if partial {
            self.config.cache.partial_max_age
        } else {
            self.config.cache.max_age
        }
    }

    /// Freshness left at `now` for something made from data fetched at
    /// `data_at`, or `None` when expired.
    fn fresh_for(
        &self,
        data_at: DateTime<Utc>,
        partial: bool,
        now: DateTime<Utc>,
    ) -> Option<Duration> {
        let age = (now - data_at).to_std().unwrap_or_default();
        self.lifetime(partial)
            .checked_sub(age)
            .filter(|d| !d.is_zero())
    }

    /// The image for the spot named `name` as `device` and `options` ask.
    pub async fn image_for(
        self: &Arc<Self>,
        name: &str,
        device: Option<&str>,
        options: &OutputOptions,
    ) -> Result<Served, EngineError> {
        let index = self
            .find_index(name)
            .ok_or_else(|| EngineError::UnknownSpot(name.to_string()))?;
        let spot = &self.config.spots[index];
        let output = self.output(spot, device, options)?;
        let key = self.key(index, &output);
        let existing = self.store.get(&key).await;
        if let Some(rendered) = &existing
            && let Some(left) =
                self.fresh_for(rendered.meta.data_at, rendered.meta.partial, Utc::now())
        {
            return Ok(Served {
                rendered: rendered.clone(),
                cache: CacheStatus::Hit,
                max_age: left,
            });
        }
        let engine = self.clone();
        let (job_spot, job_key) = (spot.clone(), key.clone());
        let job = self
            .renders
            .try_run(key.clone(), self.config.server.render_queue, async move {
                engine.produce(&job_spot, &output, &job_key).await
            });
        if let Some(rendered) = existing
            && (self.config.cache.serve_stale || job.is_none())
        {
            // Stale while revalidate: the job runs on its own task; this
            // device gets the previous image now, the next one the new. With
            // the queue full, an old image still beats a 503.
            if job.is_none() {
                tracing::debug!(spot = %spot.name, "render queue full: serving stale without refresh");
            }
            drop(job);
            return Ok(Served {
                rendered,
                cache: CacheStatus::Stale,
                max_age: self.config.cache.stale_max_age,
            });
        }
        let Some(job) = job else {
            return Err(EngineError::Busy {
                retry_after: BUSY_RETRY_AFTER,
            });
        };
        let outcome = job
            .await
            .unwrap_or_else(|| Outcome::Failed(EngineError::Render("render task panicked".into())));
        match outcome {
            Outcome::Rendered(rendered) => Ok(Served {
                max_age: self
                    .fresh_for(rendered.meta.data_at, rendered.meta.partial, Utc::now())
                    .unwrap_or_default(),
                rendered,
                cache: CacheStatus::Miss,
            }),
            Outcome::Failed(e) => Err(e),
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

    /// When the spot's default output was last drawn, if it was.
    pub async fn last_render(&self, spot: &Spot) -> Option<DateTime<Utc>> {
        let output = self.output(spot, None, &OutputOptions::default()).ok()?;
        let index = self.find_index(&spot.slug())?;
        self.store
            .get(&self.key(index, &output))
            .await
            .map(|r| r.meta.rendered_at)
    }

    /// Fresh data for `spot`: cached, or fetched once however many ask.
    async fn spot_data(self: &Arc<Self>, spot: &Spot) -> Arc<SpotData> {
        let slug = spot.slug();
        if let Some(data) = self.data.get(&slug).await
            && self
                .fresh_for(data.fetched_at, data.is_partial(), Utc::now())
                .is_some()
        {
            return data;
        }
        let engine = self.clone();
        let job_spot = spot.clone();
        let fetched = self
            .fetches
            .run(slug.clone(), async move {
                let data = Arc::new(source::gather(&engine.fetcher, &job_spot).await);
                // A failure is never kept as data: the next request tries again.
                if !data.all_failed() {
                    engine.data.insert(job_spot.slug(), data.clone()).await;
                }
                data
            })
            .await;
        fetched.unwrap_or_else(|| Arc::new(SpotData::failed(spot, "fetch task panicked")))
    }

    /// Gets data, draws and stores one render.
    async fn produce(self: &Arc<Self>, spot: &Spot, output: &Output, key: &Key) -> Outcome {
        let data = self.spot_data(spot).await;
        if data.all_failed() {
            let reason = failure_summary(&data);
            let image = self.error_image(spot, output, &reason).await;
            return Outcome::AllFailed { reason, image };
        }
        let mut rendered = match self.draw(spot, output, &data).await {
            Ok(r) => r,
            Err(e) => return Outcome::Failed(e),
        };
        // Identical bytes keep their first Last-Modified, so devices polling
        // with If-Modified-Since see no change either.
        if let Some(old) = self.store.get(key).await
            && old.meta.checksum == rendered.meta.checksum
        {
            rendered.meta.rendered_at = old.meta.rendered_at;
        }
        let rendered = Arc::new(rendered);
        self.store.put(key, rendered.clone()).await;
        Outcome::Rendered(rendered)
    }

    /// Fills the spot's template with `data` and encodes it for `output`.
    /// The template's `now` is the data's fetch time, so the same data
    /// always gives the same bytes and the same ETag.
    pub async fn draw(
        &self,
        spot: &Spot,
        output: &Output,
        data: &SpotData,
    ) -> Result<Rendered, EngineError> {
        let context = data_context(spot, output, data);
        let bytes = self.encode(&spot.template, context, output).await?;
        Ok(Rendered::new(
            bytes,
            output.content_type(),
            Utc::now(),
            data.fetched_at,
            data.is_partial(),
        ))
    }

    /// Fills `template` and draws it on a blocking thread behind the render
    /// limit, so the async threads stay free for cache hits.
    async fn encode(
        &self,
        template: &str,
        context: Context,
        output: &Output,
    ) -> Result<Vec<u8>, EngineError> {
        let _permit = self
            .render_limit
            .acquire()
            .await
            .map_err(|_| EngineError::Render("render limit closed".into()))?;
        let templates = self.templates();
        let renderer = self.renderer.clone();
        let (template, output) = (template.to_string(), *output);
        tokio::task::spawn_blocking(move || {
            let svg = templates
                .render(&template, &context)
                .map_err(|e| EngineError::Render(e.to_string()))?;
            renderer
                .render(&svg, &output)
                .map_err(|e| EngineError::Render(e.to_string()))
        })
        .await
        .map_err(|e| EngineError::Render(format!("render task failed: {e}")))?
    }

    /// Draws `error.svg` for `spot` and `output` with `reason`; `None`
    /// (logged) if even that fails.
    async fn error_image(
        &self,
        spot: &Spot,
        output: &Output,
        reason: &str,
    ) -> Option<(Bytes, &'static str)> {
        let mut context = Context::new(spot, output.width, output.height, None, Utc::now());
        context.reason = Some(reason.to_string());
        match self.encode(ERROR_TEMPLATE, context, output).await {
            Ok(bytes) => Some((Bytes::from(bytes), output.content_type())),
            Err(e) => {
                tracing::error!(spot = %spot.name, error = %e, "cannot draw the error image");
                None
            }
        }
    }

    /// The filled SVG of `spot` for `output` and `data`, before drawing:
    /// for template work and for comparing renderers on the same input.
    pub fn svg(
        &self,
        spot: &Spot,
        output: &Output,
        data: &SpotData,
    ) -> Result<String, EngineError> {
        let context = data_context(spot, output, data);
        self.templates()
            .render(&spot.template, &context)
            .map_err(|e| EngineError::Render(e.to_string()))
    }

    /// Fetches and draws `spot` once for `device` and `options`, without
    /// touching the store: for `inkspot render`. Returns the render and what
    /// failed along the way.
    pub async fn render_once(
        &self,
        spot: &Spot,
        device: Option<&str>,
        options: &OutputOptions,
    ) -> Result<(Rendered, SpotData), EngineError> {
        let output = self.output(spot, device, options)?;
        let data = source::gather(&self.fetcher, spot).await;
        if data.all_failed() {
            return Err(EngineError::Unavailable {
                spot: spot.name.clone(),
                reason: failure_summary(&data),
                image: None,
            });
        }
        let rendered = self.draw(spot, &output, &data).await?;
        Ok((rendered, data))
    }
}

/// The template context for `data` drawn as `output`; `now` is the fetch
/// time, so identical data fills the template identically.
fn data_context(spot: &Spot, output: &Output, data: &SpotData) -> Context {
    Context::new(
        spot,
        output.width,
        output.height,
        Some(data),
        data.fetched_at,
    )
}

/// A fingerprint of the templates folder: names, modification times, sizes.
fn templates_stamp(dir: &std::path::Path) -> Vec<(String, SystemTime, u64)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            Some((
                e.file_name().to_string_lossy().into_owned(),
                meta.modified().ok()?,
                meta.len(),
            ))
        })
        .collect();
    out.sort();
    out
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
