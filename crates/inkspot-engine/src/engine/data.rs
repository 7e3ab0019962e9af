//! A spot's data: fresh from the cache, else fetched by one job however
//! many ask, and once across replicas: fresh data another replica fetched
//! is read from the shared storage (a document beside the renders) instead
//! of fetching again. A failure is never kept as data, so the next request
//! tries again; the last fetch, failed or not, is kept for `/status`.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::fresh::Freshness;
use super::quiet::Quiet;
use crate::coord::Coordination;
use crate::flight::{JobPanicked, SingleFlight};
use crate::history::History;
use crate::pipeline::Pipeline;
use crate::request::{Catalog, RenderRequest};
use crate::source::SpotData;
use crate::store::Store;

/// The name of the document that holds a spot's last good fetch.
fn document(slug: &str) -> String {
    format!("data-{slug}")
}

/// The spots' data and the fetches in flight.
pub(super) struct Data {
    fresh: Freshness,
    pipeline: Pipeline,
    coord: Coordination,
    store: Store,
    quiet: Arc<Quiet>,
    /// Where each fetch's values are kept, and the spot's recent ones read.
    history: Arc<dyn History>,
    /// Fetched data by spot slug; fresh while younger than its lifetime.
    cache: moka::future::Cache<String, Arc<SpotData>>,
    /// The last fetch of each spot, failed or not, for the status page.
    last: moka::future::Cache<String, Arc<SpotData>>,
    /// The fetch of each spot in flight.
    flight: SingleFlight<String, Arc<SpotData>, JobPanicked>,
    /// The spots, for a mashup's parts.
    catalog: Catalog,
}

impl Data {
    pub(super) fn new(
        catalog: Catalog,
        fresh: Freshness,
        pipeline: Pipeline,
        coord: Coordination,
        store: Store,
        quiet: Arc<Quiet>,
        history: Arc<dyn History>,
    ) -> Self {
        let capacity = catalog.spots().len() as u64 * 2 + 16;
        Self {
            fresh,
            pipeline,
            coord,
            store,
            quiet,
            history,
            cache: moka::future::Cache::new(capacity),
            last: moka::future::Cache::new(capacity),
            flight: SingleFlight::new(usize::MAX),
            catalog,
        }
    }

    /// The spots of the mashup `request` asks for, in its layout's order,
    /// each as drawn at the mashup's output.
    pub(super) fn parts_of(&self, request: &RenderRequest) -> Vec<RenderRequest> {
        self.catalog.parts_of(request)
    }

    /// Whether a part of the mashup `request` asks for has data fetched
    /// after `data_at` (its render's): a part's change is the mashup's.
    pub(super) async fn parts_newer_than(
        &self,
        request: &RenderRequest,
        data_at: DateTime<Utc>,
    ) -> bool {
        for part in self.parts_of(request) {
            if let Some(data) = self.cache.get(&part.spot.slug()).await
                && data.fetched_at > data_at
            {
                return true;
            }
        }
        false
    }

    /// A mashup's data: each part's fresh data (cached, or fetched as that
    /// spot's own), together. Not kept itself: it is rebuilt from its
    /// parts' at each ask, so a part's new data is the mashup's at once.
    async fn mashup(self: &Arc<Self>, request: &RenderRequest) -> Arc<SpotData> {
        let parts = self.parts_of(request);
        let each = parts.iter().map(|part| Box::pin(self.fresh(part)));
        let data = futures_util::future::join_all(each).await;
        let names: Vec<String> = parts.iter().map(|p| p.spot.name.clone()).collect();
        Arc::new(SpotData::of_parts(&names, data))
    }

    /// The pipeline fetches run.
    pub(super) fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// Fresh data for the request's spot: cached, or fetched once however
    /// many ask.
    pub(super) async fn fresh(self: &Arc<Self>, request: &RenderRequest) -> Arc<SpotData> {
        if request.spot.mashup.is_some() {
            return self.mashup(request).await;
        }
        if let Some(data) = self.cache.get(&request.spot.slug()).await
            && self
                .fresh
                .fresh_for(data.fetched_at, data.is_partial())
                .is_some()
        {
            return data;
        }
        self.fetch(request, None).await
    }

    /// The spot's last good data, however old.
    pub(super) async fn cached(&self, slug: &str) -> Option<Arc<SpotData>> {
        self.cache.get(slug).await
    }

    /// The spot's last fetch, failed or not.
    pub(super) async fn last(&self, slug: &str) -> Option<Arc<SpotData>> {
        self.last.get(slug).await
    }

    /// Fetches the request's spot now, or joins the fetch in flight, and
    /// keeps the data unless every source failed. Data another replica
    /// fetched is taken when fresh, and fetched at or after `not_before`
    /// when given (a scheduled run wants data newer than its start).
    pub(super) async fn fetch(
        self: &Arc<Self>,
        request: &RenderRequest,
        not_before: Option<DateTime<Utc>>,
    ) -> Arc<SpotData> {
        if request.spot.mashup.is_some() {
            return self.mashup(request).await;
        }
        let data = self.clone();
        let job_request = request.clone();
        let fetch = self
            .flight
            .submit(request.spot.slug(), move |_| async move {
                Ok(data.fetch_now(&job_request, not_before).await)
            });
        // The fetch table is unbounded, so submitting never meets `Busy`.
        let data = match fetch {
            Ok(job) => job.wait().await.ok(),
            Err(_) => None,
        };
        data.unwrap_or_else(|| {
            let now = self.fresh.now();
            Arc::new(SpotData::failed(
                &request.spot,
                "the fetch task failed",
                now,
            ))
        })
    }

    /// The fetch job: once across replicas, logged when that is news, and
    /// kept.
    async fn fetch_now(
        &self,
        request: &RenderRequest,
        not_before: Option<DateTime<Utc>>,
    ) -> Arc<SpotData> {
        let data = self.fetch_once(request, not_before).await;
        let data = self.keep(&request.spot, data).await;
        self.quiet.fetched(&request.spot, &data);
        let slug = request.spot.slug();
        self.last.insert(slug.clone(), data.clone()).await;
        // A failure is never kept as data: the next request tries again.
        if !data.all_failed() {
            self.cache.insert(slug, data.clone()).await;
        }
        data
    }

    /// Hands the fetch's values to the history, and gives the data the
    /// spot's recent values for its templates. Data another replica
    /// fetched has no values of its own: the history read back has them.
    async fn keep(&self, spot: &crate::config::Spot, data: Arc<SpotData>) -> Arc<SpotData> {
        let mut data = Arc::unwrap_or_clone(data);
        if data.all_failed() {
            return Arc::new(data);
        }
        let batch = std::mem::take(&mut data.samples);
        let now = self.fresh.now();
        let mut recent = self.history.keep(spot, batch, now).await;
        // The readings of the TRMNL the spot names join its values, as of
        // this fetch.
        if let Some(id) = &spot.sensors_of {
            let device = self.history.recent_device(id, now).await;
            let prefix = crate::history::device_prefix(id);
            recent = Arc::new(recent.with_device(&device, &prefix));
        }
        data.recent = Some(recent);
        Arc::new(data)
    }

    /// The spot's sources fetched once across replicas: fresh data another
    /// replica fetched since this one's last (and at or after `not_before`)
    /// is read from the shared storage; otherwise this replica fetches and
    /// stores it there.
    async fn fetch_once(
        &self,
        request: &RenderRequest,
        not_before: Option<DateTime<Utc>>,
    ) -> Arc<SpotData> {
        let fetch = || async {
            let data = self.pipeline.fetch(request, &**self.fresh.clock()).await;
            (Arc::new(data), true)
        };
        if !self.coord.is_shared() {
            return fetch().await.0;
        }
        let slug = request.spot.slug();
        let local = self.cache.get(&slug).await.map(|d| d.fetched_at);
        // Shared data must be newer than both what this replica has and
        // what the caller asks for.
        let local = local.max(not_before.map(|t| t - chrono::Duration::milliseconds(1)));
        let check = || self.fetched_elsewhere(&slug, local);
        let work = || async {
            let (data, _) = fetch().await;
            // Only data worth drawing is shared; a failure is shared as the
            // failures of its sources, remembered by URL.
            let ok = !data.all_failed();
            if ok {
                self.share(&slug, &data).await;
            }
            (data, ok)
        };
        self.coord.once(&format!("fetch:{slug}"), check, work).await
    }

    /// Fresh data of the spot `slug` in the shared storage, newer than
    /// `local`.
    async fn fetched_elsewhere(
        &self,
        slug: &str,
        local: Option<DateTime<Utc>>,
    ) -> Option<Arc<SpotData>> {
        let bytes = self.store.document(&document(slug)).await?;
        let data: SpotData = match serde_json::from_slice(&bytes) {
            Ok(data) => data,
            Err(e) => {
                tracing::warn!(spot = slug, error = %e, "ignoring unreadable shared data");
                return None;
            }
        };
        let newer = local.is_none_or(|l| data.fetched_at > l);
        let fresh = self
            .fresh
            .fresh_for(data.fetched_at, data.is_partial())
            .is_some();
        (newer && fresh).then(|| Arc::new(data))
    }

    async fn share(&self, slug: &str, data: &SpotData) {
        match serde_json::to_vec(data) {
            Ok(bytes) => self.store.put_document(&document(slug), &bytes).await,
            Err(e) => tracing::warn!(spot = slug, error = %e, "cannot share fetched data"),
        }
    }
}
