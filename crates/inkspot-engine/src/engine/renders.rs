//! Render jobs: one per store key however many ask (the single-flight
//! table), and once across replicas (a render another replica stored is
//! taken as it is). A job gets the spot's data, draws it, stores the
//! result and notes how it ended; on failure it carries the error picture
//! for whoever has no older image.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::data::Data;
use super::fresh::Freshness;
use super::keys::Keys;
use super::pictures::Pictures;
use super::quiet::Quiet;
use super::trouble::{self, Trouble};
use super::{RenderFailure, RenderHandle};
use crate::coord::Coordination;
use crate::flight::{Busy, JobInfo, Owner, Progress, SingleFlight, Stage};
use crate::metrics::Metrics;
use crate::pipeline::{DrawError, Pipeline};
use crate::request::RenderRequest;
use crate::source::SpotData;
use crate::store::{Key, Rendered, Store};

/// The render jobs and what they need.
pub(super) struct Renders {
    flight: SingleFlight<Key, Arc<Rendered>, RenderFailure>,
    keys: Keys,
    data: Arc<Data>,
    pictures: Arc<Pictures>,
    /// Renders that failed lately, and templates that fail on their data.
    trouble: Trouble,
    pipeline: Pipeline,
    store: Store,
    coord: Coordination,
    fresh: Freshness,
    metrics: Arc<Metrics>,
}

/// What [`Renders::new`] is built from.
pub(super) struct RenderParts {
    /// `server.render_queue` and `server.renders_per_client`.
    pub queue: (usize, usize),
    /// The spots.
    pub catalog: crate::request::Catalog,
    pub pipeline: Pipeline,
    pub store: Store,
    pub coord: Coordination,
    pub fresh: Freshness,
    pub metrics: Arc<Metrics>,
    pub history: Arc<dyn crate::history::History>,
}

impl Renders {
    /// The render jobs over `parts`, with the spots' data and the pictures
    /// shown instead of a render.
    pub(super) fn new(parts: RenderParts) -> Self {
        let RenderParts {
            queue,
            catalog,
            pipeline,
            store,
            coord,
            fresh,
            metrics,
            history,
        } = parts;
        let quiet = Arc::new(Quiet::default());
        let data = Data::new(
            catalog,
            fresh.clone(),
            pipeline.clone(),
            coord.clone(),
            store.clone(),
            quiet.clone(),
            history,
        );
        let pictures = Pictures::new(
            fresh.clone(),
            pipeline.clone(),
            store.clone(),
            quiet.clone(),
        );
        let (data, pictures) = (Arc::new(data), Arc::new(pictures));
        Self {
            flight: SingleFlight::with_owner_limit(queue.0, queue.1),
            keys: Keys::new(pipeline.templates().current()),
            data,
            pictures,
            trouble: Trouble::new(quiet),
            pipeline,
            store,
            coord,
            fresh,
            metrics,
        }
    }

    /// The spots' data.
    pub(super) fn data(&self) -> &Arc<Data> {
        &self.data
    }

    /// The pictures shown instead of a render.
    pub(super) fn pictures(&self) -> &Pictures {
        &self.pictures
    }

    /// The store key of `request` with the templates in force.
    pub(super) fn key(&self, request: &RenderRequest) -> Key {
        self.keys.key(request, self.pipeline.templates().current())
    }

    /// The failures and template problems.
    pub(super) fn trouble(&self) -> &Trouble {
        &self.trouble
    }

    /// The render jobs in flight.
    pub(super) fn jobs(&self) -> Vec<JobInfo<Key>> {
        self.flight.list()
    }

    /// Submits or joins the render job of `request` under `key`, for
    /// `client`, drawing `data` when given, else the spot's fresh data.
    pub(super) fn submit(
        self: &Arc<Self>,
        client: Option<Owner>,
        request: RenderRequest,
        key: Key,
        data: Option<Arc<SpotData>>,
    ) -> Result<RenderHandle, Busy> {
        let renders = self.clone();
        // The job logs in the span of whoever started it (a request's id).
        let span = tracing::Span::current();
        self.flight.submit_as(client, key.clone(), move |progress| {
            let job = async move { renders.produce(&request, &key, progress, data).await };
            tracing::Instrument::instrument(job, span)
        })
    }

    /// The render job's work, done once across replicas: a render another
    /// replica stored since this one last looked (from data at least as
    /// new as `data`, when given) is taken as it is.
    async fn produce(
        &self,
        request: &RenderRequest,
        key: &Key,
        progress: Progress,
        data: Option<Arc<SpotData>>,
    ) -> Result<Arc<Rendered>, RenderFailure> {
        if !self.coord.is_shared() {
            return self.produce_here(request, key, progress, data).await;
        }
        let seen = self.store.meta(key).await.map(|m| m.data_at);
        let at_least = data.as_ref().map(|d| d.fetched_at);
        let check = || self.rendered_elsewhere(key, seen, at_least);
        let work = || async {
            let result = self.produce_here(request, key, progress, data).await;
            let ok = result.is_ok();
            (result, ok)
        };
        self.coord.once(&format!("render:{key}"), check, work).await
    }

    /// A fresh render of `key` in the shared storage that is newer than
    /// `seen` and drawn from data fetched at or after `at_least`.
    async fn rendered_elsewhere(
        &self,
        key: &Key,
        seen: Option<DateTime<Utc>>,
        at_least: Option<DateTime<Utc>>,
    ) -> Option<Result<Arc<Rendered>, RenderFailure>> {
        let meta = self.store.stored_meta(key).await?;
        let newer = seen.is_none_or(|s| meta.data_at > s);
        let recent = at_least.is_none_or(|t| meta.data_at >= t);
        let fresh = self.fresh.fresh_for(meta.data_at, meta.partial).is_some();
        if !(newer && recent && fresh) {
            return None;
        }
        self.store.reload(key).await.map(Ok)
    }

    /// The render job's work on this replica: data, drawing, storing,
    /// noted in the failures and counted in the metrics.
    async fn produce_here(
        &self,
        request: &RenderRequest,
        key: &Key,
        progress: Progress,
        data: Option<Arc<SpotData>>,
    ) -> Result<Arc<Rendered>, RenderFailure> {
        let result = self.draw_and_store(request, key, progress, data).await;
        let slug = request.spot.slug();
        self.trouble
            .ended(key, &slug, &result, self.fresh.now())
            .await;
        let outcome = if result.is_ok() { "ok" } else { "failed" };
        let spot = request.spot.name.clone();
        let labels = crate::metrics::labels::SpotOutcome { spot, outcome };
        self.metrics.renders.get_or_create(&labels).inc();
        result
    }

    async fn draw_and_store(
        &self,
        request: &RenderRequest,
        key: &Key,
        progress: Progress,
        data: Option<Arc<SpotData>>,
    ) -> Result<Arc<Rendered>, RenderFailure> {
        progress.set(Stage::Fetching);
        let data = match data {
            Some(data) => data,
            None => self.data.fresh(request).await,
        };
        if data.all_failed() {
            // The fetch logged it, once.
            let reason = data.failure_summary();
            tracing::debug!(spot = %request.spot.name, %reason, "no data, so no image");
            let picture = self
                .pictures
                .error(request, trouble::NO_DATA, &reason)
                .await;
            return Err(RenderFailure::NoData { reason, picture });
        }
        progress.set(Stage::Drawing);
        let now = self.fresh.now();
        let drawn = if request.spot.mashup.is_some() {
            let spots = self.data.parts_of(request).into_iter().map(|p| p.spot);
            let parts = spots.zip(data.parts.iter().cloned()).collect();
            self.pipeline.draw_mashup(request, &data, parts, now).await
        } else {
            self.pipeline.draw(request, &data, now).await
        };
        let mut rendered = match drawn {
            Ok(rendered) => rendered,
            Err(cause) => {
                self.trouble.draw_failed(&request.spot, &cause);
                // A page's failure (a wait that timed out, a refused
                // address) is the operator's to fix and safe to show.
                let reason = match &cause {
                    DrawError::Shot(e) => format!("the page could not be taken: {e}"),
                    _ => "the template could not be drawn; the server log has the details".into(),
                };
                let picture = self
                    .pictures
                    .error(request, trouble::NOT_DRAWN, &reason)
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
        self.trouble.drawn(&request.spot);
        let rendered = Arc::new(rendered);
        self.store.put(key, rendered.clone()).await;
        Ok(rendered)
    }
}
