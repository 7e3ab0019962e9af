//! Answering a request: a fresh render, a stale one while a job refreshes
//! it, the job's result, or the error picture; and the render job itself.

use std::sync::Arc;
use std::time::Duration;

use super::{Engine, EngineError, RenderFailure};
use crate::config::OutputOptions;
use crate::flight::{Busy, JobHandle, Owner, Progress, Stage};
use crate::request::RenderRequest;
use crate::schedule::Schedule;
use crate::source::SpotData;
use crate::store::{Key, Rendered};
use chrono::{DateTime, Utc};

/// Where a served image came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// A fresh render from the store.
    Hit,
    /// Rendered for this request.
    Miss,
    /// An older render, served because a new one could not be made yet.
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

/// What there is for a request that must not wait: [`Engine::look`].
#[derive(Debug, Clone)]
pub enum Look {
    /// An image to serve, fresh or stale.
    Ready(Served),
    /// No image yet: its first render is on its way.
    Preparing,
    /// No image: its last render failed, as this says.
    Failed(Arc<super::Failed>),
}

/// A render job, as submitted or joined.
pub type RenderHandle = JobHandle<Key, Arc<Rendered>, RenderFailure>;

impl Engine {
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
        let (existing, served, scheduled) = self.lookup(request, &key).await;
        if let Some(served) = served {
            return Ok(served);
        }
        let slow = self.render_or_stale(request, client, key, existing, scheduled);
        tracing::Instrument::instrument(slow, span()).await
    }

    async fn render_or_stale(
        self: &Arc<Self>,
        request: &RenderRequest,
        client: Option<Owner>,
        key: Key,
        existing: Option<Arc<Rendered>>,
        scheduled: Option<(&Schedule, DateTime<Utc>)>,
    ) -> Result<Served, EngineError> {
        let job = self.submit_with(client, request.clone(), key.clone(), None);
        if let Some(rendered) = existing
            && (self.config.cache.serve_stale || job.is_err())
        {
            // Stale while revalidate: the job runs on its own task; this
            // device gets the previous image now, the next one the new. With
            // the queue full, an old image still beats a 503.
            if job.is_err() {
                tracing::debug!(spot = %request.spot.name, "render queue full: serving stale without refresh");
            }
            return Ok(self.stale(rendered));
        }
        let job = match job {
            Ok(job) => job,
            Err(busy) => return Err(self.turned_away(request, busy).await),
        };
        match job.wait().await {
            Ok(rendered) => {
                let fresh = self.fresh_for(rendered.meta.data_at, rendered.meta.partial);
                let now = self.clock.now();
                let max_age = scheduled.and_then(|(s, _)| s.keep_for(request.index, now));
                Ok(Served {
                    max_age: max_age.or(fresh).unwrap_or_default(),
                    rendered,
                    cache: CacheStatus::Miss,
                })
            }
            // A failed render never hides a good one that exists: this
            // key's, or one the template drew before it was edited.
            Err(failure) => {
                let good = match self.store.get(&key).await {
                    Some(rendered) => Some(rendered),
                    None => self.earlier_render(&key).await,
                };
                match good {
                    Some(rendered) => Ok(self.stale(rendered)),
                    None => Err(EngineError::Unavailable {
                        spot: request.spot.name.clone(),
                        failure,
                    }),
                }
            }
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
        let (existing, served, _) = self.lookup(request, &key).await;
        if let Some(served) = served {
            return Look::Ready(served);
        }
        // A full queue is no error here: the device comes back soon.
        let _ = self.submit_with(None, request.clone(), key.clone(), None);
        if let Some(rendered) = existing {
            return Look::Ready(self.stale(rendered));
        }
        let Some(failed) = self.trouble.failure(&key).await else {
            return Look::Preparing;
        };
        // As for `/image`: a good render from before a template edit beats
        // the error picture.
        match self.earlier_render(&key).await {
            Some(rendered) => Look::Ready(self.stale(rendered)),
            None => Look::Failed(failed),
        }
    }

    /// The stored render under `key`, how to serve it without a job if it
    /// can be (fresh, or kept by the schedule), and the schedule when it
    /// draws this variant.
    pub(super) async fn lookup(
        &self,
        request: &RenderRequest,
        key: &Key,
    ) -> (
        Option<Arc<Rendered>>,
        Option<Served>,
        Option<(&Schedule, DateTime<Utc>)>,
    ) {
        let scheduled = self.scheduled(request);
        let existing = self.store.get(key).await;
        let served = existing.as_ref().and_then(|rendered| {
            let fresh = self.fresh_for(rendered.meta.data_at, rendered.meta.partial);
            match scheduled {
                Some((schedule, now)) => {
                    self.as_scheduled(schedule, now, request.index, rendered, fresh)
                }
                None => fresh.map(|left| Served {
                    rendered: rendered.clone(),
                    cache: CacheStatus::Hit,
                    max_age: left,
                }),
            }
        });
        (existing, served, scheduled)
    }

    /// The schedule and the time, when its runner is running and draws
    /// this variant. Notes the request, so the variant joins the schedule.
    fn scheduled(&self, request: &RenderRequest) -> Option<(&Schedule, DateTime<Utc>)> {
        let schedule = self.schedule.as_deref()?;
        let now = self.clock.now();
        let covered = if request.preview {
            schedule.covers(request.index, &request.output)
        } else {
            schedule.note(request.index, &request.output, now)
        };
        (covered && schedule.is_alive()).then_some((schedule, now))
    }

    /// A stored render of a scheduled variant, kept until the next image is
    /// expected. `None` when a request should refresh it instead: expired
    /// while the spot is not backing off (this variant missed the last run),
    /// or the schedule has fallen behind.
    fn as_scheduled(
        &self,
        schedule: &Schedule,
        now: DateTime<Utc>,
        index: usize,
        rendered: &Arc<Rendered>,
        fresh: Option<Duration>,
    ) -> Option<Served> {
        let plan = schedule.plan(index);
        let cache = match fresh {
            Some(_) => CacheStatus::Hit,
            None => CacheStatus::Stale,
        };
        let max_age = if !plan.is_active(now) {
            // Nothing is fetched outside active hours: the last image holds
            // until the window opens and a run has drawn the next one.
            let opens = (plan.window_opens(now) - now).to_std().unwrap_or_default();
            opens + schedule.run_time(index)
        } else {
            match schedule.keep_for(index, now) {
                Some(left) if fresh.is_some() || schedule.is_backing_off(index) => left,
                // Overdue, or this variant missed the last run: a request
                // refreshes it as without a schedule.
                _ => {
                    return fresh.map(|left| Served {
                        rendered: rendered.clone(),
                        cache,
                        max_age: left,
                    });
                }
            }
        };
        Some(Served {
            rendered: rendered.clone(),
            cache,
            max_age,
        })
    }

    fn stale(&self, rendered: Arc<Rendered>) -> Served {
        Served {
            rendered,
            cache: CacheStatus::Stale,
            max_age: self.config.cache.stale_max_age,
        }
    }

    /// The store key of `request` with the templates in force.
    pub fn key(&self, request: &RenderRequest) -> Key {
        self.keys.key(request, self.pipeline.templates().current())
    }

    /// Submits a render job for `request`, or joins the one in flight. The
    /// scheduler and the job API use this; `/image` does through
    /// [`Engine::image`].
    pub fn submit(self: &Arc<Self>, request: RenderRequest) -> Result<RenderHandle, Busy> {
        let key = self.key(&request);
        self.submit_with(None, request, key, None)
    }

    /// Submits or joins the render job of `request` under `key`, for
    /// `client`, drawing `data` when given, else the spot's data as
    /// [`Engine::spot_data`] finds it.
    pub(super) fn submit_with(
        self: &Arc<Self>,
        client: Option<Owner>,
        request: RenderRequest,
        key: Key,
        data: Option<Arc<SpotData>>,
    ) -> Result<RenderHandle, Busy> {
        let engine = self.clone();
        // The job logs in the span of whoever started it (a request's id).
        let span = tracing::Span::current();
        self.renders
            .submit_as(client, key.clone(), move |progress| {
                let job = async move { engine.produce(&request, &key, progress, data).await };
                tracing::Instrument::instrument(job, span)
            })
    }

    /// The render jobs in flight.
    pub fn render_jobs(&self) -> Vec<crate::flight::JobInfo<Key>> {
        self.renders.list()
    }

    /// The render job's work on this replica: data, drawing, storing,
    /// counted in the metrics. On failure it draws the error picture for
    /// whoever has no older image.
    pub(super) async fn produce_here(
        self: &Arc<Self>,
        request: &RenderRequest,
        key: &Key,
        progress: Progress,
        data: Option<Arc<SpotData>>,
    ) -> Result<Arc<Rendered>, RenderFailure> {
        let result = self.draw_and_store(request, key, progress, data).await;
        let slug = request.spot.slug();
        let now = self.clock.now();
        self.trouble.ended(key, &slug, &result, now).await;
        let outcome = if result.is_ok() { "ok" } else { "failed" };
        let spot = request.spot.name.clone();
        let labels = crate::metrics::labels::SpotOutcome { spot, outcome };
        self.metrics().renders.get_or_create(&labels).inc();
        result
    }

    async fn draw_and_store(
        self: &Arc<Self>,
        request: &RenderRequest,
        key: &Key,
        progress: Progress,
        data: Option<Arc<SpotData>>,
    ) -> Result<Arc<Rendered>, RenderFailure> {
        progress.set(Stage::Fetching);
        let data = match data {
            Some(data) => data,
            None => self.spot_data(request).await,
        };
        if data.all_failed() {
            // The fetch logged it, once.
            let reason = data.failure_summary();
            tracing::debug!(spot = %request.spot.name, %reason, "no data, so no image");
            let picture = self
                .error_picture(request, super::trouble::NO_DATA, &reason)
                .await;
            return Err(RenderFailure::NoData { reason, picture });
        }
        progress.set(Stage::Drawing);
        let mut rendered = match self.pipeline.draw(request, &data, self.clock.now()).await {
            Ok(r) => r,
            Err(cause) => {
                let subject = format!("draw:{}", request.spot.slug());
                if let Some(repeated) = self.quiet.failing(&subject, &cause.to_string()) {
                    tracing::error!(spot = %request.spot.name, error = %cause, repeated, "render failed");
                }
                let reason = "the template could not be drawn; the server log has the details";
                let picture = self
                    .error_picture(request, super::trouble::NOT_DRAWN, reason)
                    .await;
                let cause = Arc::new(cause);
                return Err(RenderFailure::Draw { cause, picture });
            }
        };
        // Identical bytes keep their first Last-Modified, so devices polling
        // with If-Modified-Since see no change either.
        if let Some(old) = self.store.meta(key).await
            && old.checksum == rendered.meta.checksum
        {
            rendered = rendered.first_drawn_at(old.rendered_at);
        }
        self.quiet
            .recovered(&format!("draw:{}", request.spot.slug()));
        let rendered = Arc::new(rendered);
        self.store.put(key, rendered.clone()).await;
        Ok(rendered)
    }

    /// Fresh data for the request's spot: cached, or fetched once however
    /// many ask.
    pub(super) async fn spot_data(self: &Arc<Self>, request: &RenderRequest) -> Arc<SpotData> {
        let slug = request.spot.slug();
        if let Some(data) = self.data.get(&slug).await
            && self.fresh_for(data.fetched_at, data.is_partial()).is_some()
        {
            return data;
        }
        self.fetch_shared(request, None).await
    }

    /// Fetches the request's spot now, or joins the fetch in flight, and
    /// keeps the data unless every source failed. Data another replica
    /// fetched is taken when fresh, and fetched at or after `not_before`
    /// when given (a scheduled run wants data newer than its start).
    pub(super) async fn fetch_shared(
        self: &Arc<Self>,
        request: &RenderRequest,
        not_before: Option<DateTime<Utc>>,
    ) -> Arc<SpotData> {
        let slug = request.spot.slug();
        let engine = self.clone();
        let job_request = request.clone();
        let fetch = self.fetches.submit(slug, move |_| async move {
            let data = engine.fetch_once(&job_request, not_before).await;
            engine.quiet.fetched(&job_request.spot, &data);
            let slug = job_request.spot.slug();
            engine.last_fetch.insert(slug, data.clone()).await;
            // A failure is never kept as data: the next request tries again.
            if !data.all_failed() {
                engine
                    .data
                    .insert(job_request.spot.slug(), data.clone())
                    .await;
            }
            Ok(data)
        });
        // The fetch table is unbounded, so submitting never meets `Busy`.
        let data = match fetch {
            Ok(job) => job.wait().await.ok(),
            Err(_) => None,
        };
        data.unwrap_or_else(|| {
            let now = self.clock.now();
            Arc::new(SpotData::failed(
                &request.spot,
                "the fetch task failed",
                now,
            ))
        })
    }
}
