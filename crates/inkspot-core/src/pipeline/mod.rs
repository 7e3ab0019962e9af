//! The one render pipeline: fetch a spot's sources, fill its template, draw
//! and encode. Every entry point goes through it: the service's render
//! jobs, `inkspot render`, `inkspot check --fetch` and the benchmarks. It
//! caches nothing; the engine decides when to call it. The same data and the
//! same request give the same bytes, whoever asks.

mod browse;
mod mashup;

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::artifact::Rendered;
use crate::clock::Clock;
use crate::config::Config;
use crate::flight::{Cpu, CpuError};
use crate::observe::{Observe, Unobserved};
use crate::render::{Raster, RenderError, Renderer};
use crate::request::RenderRequest;
use crate::shot::{Camera, NoCamera, ShotError};
use crate::source::{FetchError, FetchShare, Fetcher, SpotData, gather};
use crate::template::{Context, Frame, LiveTemplates, TemplateError, Templates};

/// Why a pipeline could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A template does not load.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// The HTTP client cannot be built.
    #[error(transparent)]
    Fetch(#[from] FetchError),
}

/// Why a drawing failed.
#[derive(Debug, thiserror::Error)]
pub enum DrawError {
    /// Filling the template failed.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// The filled template could not be drawn or encoded.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// The drawing thread did not return.
    #[error(transparent)]
    Cpu(#[from] CpuError),
    /// The browser could not take the picture.
    #[error(transparent)]
    Shot(#[from] ShotError),
}

pub use browse::{fit, screenshot};
pub use mashup::{Part, render_mashup};

/// Fetcher, templates and renderer, with the limit on CPU work.
#[derive(Clone)]
pub struct Pipeline {
    observer: Arc<dyn Observe>,
    fetcher: Fetcher,
    templates: Arc<LiveTemplates>,
    renderer: Renderer,
    cpu: Cpu,
    browsing: browse::Browsing,
}

impl Pipeline {
    /// The pipeline `config` describes: templates compiled, fonts loaded
    /// once, and `server.render_concurrency` drawings at a time.
    pub fn new(config: &Config) -> Result<Self, BuildError> {
        Self::with_fetcher(config, Fetcher::new(&config.fetch, &config.base_dir)?)
    }

    /// Like [`Pipeline::new`] with a given fetcher (`check --fetch` uses
    /// one that remembers no failures).
    pub fn with_fetcher(config: &Config, fetcher: Fetcher) -> Result<Self, BuildError> {
        let dir = config.templates_dir();
        let renderer = Renderer::new(&dir, true);
        Ok(Self {
            observer: Arc::new(Unobserved),
            fetcher,
            templates: Arc::new(LiveTemplates::load(&dir, crate::toolkit(&renderer))?),
            renderer,
            cpu: Cpu::new(config.server.render_concurrency()),
            browsing: browse::Browsing {
                camera: Arc::new(NoCamera),
                templates_dir: Arc::new(dir),
            },
        })
    }

    /// Takes screenshot spots' and HTML templates' pictures with `camera`
    /// (without one, they fail saying how to get a browser).
    pub fn photograph(&mut self, camera: Arc<dyn Camera>) {
        self.browsing.camera = camera;
    }

    /// Shares remembered failures and per-host fetch permits with the
    /// other replicas through `shared`.
    pub fn share(&mut self, shared: Arc<dyn FetchShare>) {
        self.fetcher.share(shared);
    }

    /// Tells `observer` of every fetch and stage from now on.
    pub fn observe(&mut self, observer: Arc<dyn Observe>) {
        self.fetcher.observe(observer.clone());
        self.observer = observer;
    }

    /// The browser that takes pictures (or the one that says there is none).
    pub fn camera(&self) -> &Arc<dyn Camera> {
        &self.browsing.camera
    }

    /// The templates in force, and their watcher.
    pub fn templates(&self) -> &Arc<LiveTemplates> {
        &self.templates
    }

    /// The fetcher.
    pub fn fetcher(&self) -> &Fetcher {
        &self.fetcher
    }

    /// The limit on CPU work.
    pub fn cpu(&self) -> &Cpu {
        &self.cpu
    }

    /// Fetches every source of the request's spot; `clock` dates the data.
    pub async fn fetch(&self, request: &RenderRequest, clock: &dyn Clock) -> SpotData {
        let started = std::time::Instant::now();
        let data = gather(&self.fetcher, &request.spot, clock).await;
        self.observer.stage("fetch", started.elapsed());
        data
    }

    /// The template context: `now` is the data's fetch time, so identical
    /// data fills the template identically.
    /// The request's layers (of those its template declares in
    /// `templates`) are drawn.
    pub fn context(request: &RenderRequest, data: &SpotData, templates: &Templates) -> Context {
        let (w, h) = (request.output.width, request.output.height);
        let declared = templates.layers(request.template());
        Context::new(&request.spot, w, h, Some(data), data.fetched_at)
            .with_layers(declared, request.layers.as_deref())
            .with_inks(request.output.palette)
    }

    /// The filled SVG, before drawing: for template work, and for comparing
    /// renderers on the same input.
    pub fn fill(&self, request: &RenderRequest, data: &SpotData) -> Result<String, DrawError> {
        let templates = self.templates.current();
        let context = Self::context(request, data, &templates);
        Ok(templates.render(request.template(), &context)?)
    }

    /// Fills, draws and encodes `data` for `request` on a blocking thread
    /// behind the CPU limit; `now` is the render time.
    pub async fn draw(
        &self,
        request: &RenderRequest,
        data: &SpotData,
        now: DateTime<Utc>,
    ) -> Result<Rendered, DrawError> {
        let templates = self.templates.current();
        let context = Self::context(request, data, &templates);
        let bytes = match self.browsing.source_of(request, &context, &templates)? {
            browse::Source::Browser(shot) => {
                self.browsing.shoot(self, *shot, request.output).await?
            }
            browse::Source::Svg => {
                let template = request.template().to_string();
                self.encode(move |t| t.render(&template, &context), request)
                    .await?
            }
        };
        Ok(rendered(request, bytes, data, now))
    }

    /// Draws the mashup `request` asks for: each of `parts` in its region
    /// by its own template, through one output stage, on a blocking thread
    /// behind the CPU limit. `data` is the mashup's (its parts' together).
    pub async fn draw_mashup(
        &self,
        request: &RenderRequest,
        data: &SpotData,
        parts: Vec<Part>,
        now: DateTime<Utc>,
    ) -> Result<Rendered, DrawError> {
        let Some(mashup) = request.spot.mashup.clone() else {
            return self.draw(request, data, now).await;
        };
        let (templates, renderer, output) = (
            self.templates.current(),
            self.renderer.clone(),
            request.output,
        );
        let bytes = self
            .cpu
            .run(move || mashup::draw(&templates, &renderer, &mashup, &parts, &output, now))
            .await??;
        Ok(rendered(request, bytes, data, now))
    }

    /// Fills the template of `request` with `data` as the animation
    /// `frame` (for checking what a frame says).
    pub fn fill_frame(
        &self,
        request: &RenderRequest,
        data: &SpotData,
        frame: Frame,
    ) -> Result<String, DrawError> {
        let templates = self.templates.current();
        let context = Self::context(request, data, &templates).with_frame(frame);
        Ok(templates.render(request.template(), &context)?)
    }

    /// Fills and draws `data` for `request` as the animation `frame`, on
    /// a blocking thread behind the CPU limit: the pixels as the output's
    /// colours and levels make them, not encoded.
    pub async fn draw_frame(
        &self,
        request: &RenderRequest,
        data: &SpotData,
        frame: Frame,
    ) -> Result<Raster, DrawError> {
        let templates = self.templates.current();
        let context = Self::context(request, data, &templates).with_frame(frame);
        let output = request.output;
        if let browse::Source::Browser(shot) =
            self.browsing.source_of(request, &context, &templates)?
        {
            let pixmap = self.browsing.shoot_pixels(self, *shot, output).await?;
            return Ok(Raster::from_pixmap(&pixmap, &output));
        }
        let template = request.template().to_string();
        let renderer = self.renderer.clone();
        self.cpu
            .run(move || -> Result<Raster, DrawError> {
                let svg = templates.render(&template, &context)?;
                let tree = renderer.parse(&svg)?;
                let pixmap = renderer.draw(&tree, output.width, output.height)?;
                Ok(Raster::from_pixmap(&pixmap, &output))
            })
            .await?
    }

    /// Draws `error.svg` for `request`, saying `reason`, at `now`.
    pub async fn error_picture(
        &self,
        request: &RenderRequest,
        headline: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Rendered, DrawError> {
        let fill = crate::template::Templates::render_error;
        let title = Title::Headline(headline);
        self.message(request, title, reason, fill, now).await
    }

    /// Draws a notice for `request`'s output at `now`: `title` over
    /// `text`, such as the picture that identifies a device.
    pub async fn notice_picture(
        &self,
        request: &RenderRequest,
        title: &str,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<Rendered, DrawError> {
        let fill = crate::template::Templates::render_notice;
        self.message(request, Title::Name(title), text, fill, now)
            .await
    }

    /// A picture that says `text` under `title`, filled by `fill`; marked
    /// partial when it is an error.
    async fn message(
        &self,
        request: &RenderRequest,
        title: Title<'_>,
        text: &str,
        fill: fn(&crate::template::Templates, &Context) -> Result<String, TemplateError>,
        now: DateTime<Utc>,
    ) -> Result<Rendered, DrawError> {
        let (w, h) = (request.output.width, request.output.height);
        let mut context = Context::new(&request.spot, w, h, None, now);
        let is_error = match title {
            Title::Name(name) => {
                context.spot.insert("name".into(), name.into());
                false
            }
            Title::Headline(headline) => {
                context.headline = Some(headline.to_string());
                true
            }
        };
        context.reason = Some(text.to_string());
        let bytes = self.encode(move |t| fill(t, &context), request).await?;
        Ok(Rendered::new(
            bytes,
            request.output.media_type(),
            now,
            now,
            is_error,
        ))
    }

    async fn encode(
        &self,
        fill: impl FnOnce(&crate::template::Templates) -> Result<String, TemplateError> + Send + 'static,
        request: &RenderRequest,
    ) -> Result<Vec<u8>, DrawError> {
        let templates = self.templates.current();
        let renderer = self.renderer.clone();
        let output = request.output;
        let metrics = self.observer.clone();
        self.cpu
            .run(move || -> Result<Vec<u8>, DrawError> {
                let started = std::time::Instant::now();
                let svg = fill(&templates)?;
                metrics.stage("fill", started.elapsed());
                let (bytes, times) = renderer.render_timed(&svg, &output)?;
                metrics.stage("draw", times.draw);
                metrics.stage("encode", times.encode);
                Ok(bytes)
            })
            .await?
    }

    /// Fetches and draws once, storing nothing: what `inkspot render` does.
    /// Returns the data too, so the caller can report what failed.
    pub async fn render(
        &self,
        request: &RenderRequest,
        clock: &dyn Clock,
    ) -> (SpotData, Option<Result<Rendered, DrawError>>) {
        let data = self.fetch(request, clock).await;
        if data.all_failed() {
            return (data, None);
        }
        let drawn = self.draw(request, &data, clock.now()).await;
        (data, Some(drawn))
    }
}

/// `bytes` drawn for `request` from `data` at `now`.
fn rendered(
    request: &RenderRequest,
    bytes: Vec<u8>,
    data: &SpotData,
    now: DateTime<Utc>,
) -> Rendered {
    Rendered::new(
        bytes,
        request.output.media_type(),
        now,
        data.fetched_at,
        data.is_partial(),
    )
}

/// What a message picture puts above its text.
#[derive(Clone, Copy)]
enum Title<'a> {
    /// A name in place of the spot's (a notice).
    Name(&'a str),
    /// Under the spot's name, the kind of trouble (an error picture).
    Headline(&'a str),
}

/// Templates fit text with the renderer's own layout and fonts.
impl crate::template::Measure for Renderer {
    fn width(&self, text: &str, size: f64, bold: bool) -> f64 {
        self.text_width(text, size, bold)
    }
}
