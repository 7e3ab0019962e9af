//! Renders for work no display is waiting on (the job API): the image a
//! request would be served now, or one drawn for it, sharing renders and
//! data with the image cache; and a spot's data, for drawing frames.

use std::sync::Arc;
use std::time::Duration;

use super::{Engine, RenderFailure};
use crate::request::RenderRequest;
use crate::source::SpotData;
use crate::store::Rendered;

/// How long background work waits before asking again for room in a full
/// render queue: displays come first.
const QUEUE_FULL_WAIT: Duration = Duration::from_millis(250);

impl Engine {
    /// The image `request` would be served now from the store when there
    /// is one, else the result of the shared render job. A full render
    /// queue is waited out, not refused.
    pub async fn current(
        self: &Arc<Self>,
        request: &RenderRequest,
    ) -> Result<Arc<Rendered>, RenderFailure> {
        let key = self.key(request);
        let (_, served, _) = self.lookup(request, &key).await;
        if let Some(served) = served {
            return Ok(served.rendered);
        }
        loop {
            match self.submit_with(None, request.clone(), key.clone(), None) {
                Ok(job) => return job.wait().await,
                Err(_) => tokio::time::sleep(QUEUE_FULL_WAIT).await,
            }
        }
    }

    /// Fresh data for the request's spot: cached, or fetched once however
    /// many ask, as renders get it.
    pub async fn data_for(self: &Arc<Self>, request: &RenderRequest) -> Arc<SpotData> {
        self.spot_data(request).await
    }
}
