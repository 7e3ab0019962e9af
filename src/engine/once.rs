//! Work shared by replicas: a spot's fetch and each render happen on one
//! replica at a time, through the coordination's claims. The others wait
//! for its notice and take its result from the shared storage: the data
//! as a document beside the renders, the render itself. Alone (no Redis,
//! or Redis away) both run here, under this replica's own single-flight.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{Engine, RenderFailure};
use crate::flight::Progress;
use crate::request::RenderRequest;
use crate::source::SpotData;
use crate::store::{Key, Rendered};

/// The name of the document that holds a spot's last good fetch.
fn data_document(slug: &str) -> String {
    format!("data-{slug}")
}

impl Engine {
    /// The render job's work, done once across replicas: a render another
    /// replica stored since this one last looked (from data at least as
    /// new as `data`, when given) is taken as it is.
    pub(super) async fn produce(
        self: &Arc<Self>,
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
        let name = format!("render:{key}");
        let check = || self.rendered_elsewhere(key, seen, at_least);
        let work = || async {
            let result = self.produce_here(request, key, progress, data).await;
            let ok = result.is_ok();
            (result, ok)
        };
        self.coord.once(&name, check, work).await
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
        let fresh = self.fresh_for(meta.data_at, meta.partial).is_some();
        if !(newer && recent && fresh) {
            return None;
        }
        self.store.reload(key).await.map(Ok)
    }

    /// The spot's sources fetched once across replicas: fresh data another
    /// replica fetched since this one's last (and at or after `not_before`)
    /// is read from the shared storage; otherwise this replica fetches and
    /// stores it there.
    pub(super) async fn fetch_once(
        self: &Arc<Self>,
        request: &RenderRequest,
        not_before: Option<DateTime<Utc>>,
    ) -> Arc<SpotData> {
        let fetch = || async {
            let data = Arc::new(self.pipeline.fetch(request, &*self.clock).await);
            (data, true)
        };
        if !self.coord.is_shared() {
            return fetch().await.0;
        }
        let slug = request.spot.slug();
        let local = self.data.get(&slug).await.map(|d| d.fetched_at);
        // Shared data must be newer than both what this replica has and
        // what the caller asks for.
        let local = local.max(not_before.map(|t| t - chrono::Duration::milliseconds(1)));
        let name = format!("fetch:{slug}");
        let check = || self.fetched_elsewhere(&slug, local);
        let work = || async {
            let (data, _) = fetch().await;
            // Only data worth drawing is shared; a failure is shared as the
            // failures of its sources, remembered by URL.
            if !data.all_failed() {
                self.share_data(&slug, &data).await;
            }
            let ok = !data.all_failed();
            (data, ok)
        };
        self.coord.once(&name, check, work).await
    }

    /// Fresh data of the spot `slug` in the shared storage, newer than
    /// `local`.
    async fn fetched_elsewhere(
        &self,
        slug: &str,
        local: Option<DateTime<Utc>>,
    ) -> Option<Arc<SpotData>> {
        let bytes = self.store.document(&data_document(slug)).await?;
        let data: SpotData = match serde_json::from_slice(&bytes) {
            Ok(data) => data,
            Err(e) => {
                tracing::warn!(spot = slug, error = %e, "ignoring unreadable shared data");
                return None;
            }
        };
        let newer = local.is_none_or(|l| data.fetched_at > l);
        let fresh = self.fresh_for(data.fetched_at, data.is_partial()).is_some();
        (newer && fresh).then(|| Arc::new(data))
    }

    async fn share_data(&self, slug: &str, data: &SpotData) {
        match serde_json::to_vec(data) {
            Ok(bytes) => self.store.put_document(&data_document(slug), &bytes).await,
            Err(e) => tracing::warn!(spot = slug, error = %e, "cannot share fetched data"),
        }
    }
}
