//! The pictures the engine draws when there is no render to serve: the
//! error picture, "busy" for a display turned away, and notices such as
//! the one that identifies a device.

use std::sync::Arc;

use super::{BUSY_RETRY_AFTER, Engine, EngineError};
use crate::jobs::Busy;
use crate::request::RenderRequest;
use crate::store::Rendered;

impl Engine {
    /// The error for a request turned away with `busy`. A client that shows
    /// only pictures (`error_status = 200`) gets one saying so, drawn once
    /// per spot and output and kept, so a flood costs no drawing.
    pub(super) async fn turned_away(&self, request: &RenderRequest, busy: Busy) -> EngineError {
        let picture = if request.error_status == 200 {
            let reason = "busy drawing other images; this one comes in a few seconds";
            let draw = self.error_picture(request, reason);
            let key = (request.index, request.output);
            self.busy_pictures.optionally_get_with(key, draw).await
        } else {
            None
        };
        let retry_after = BUSY_RETRY_AFTER;
        match busy {
            Busy::Full { .. } => EngineError::Busy {
                retry_after,
                picture,
            },
            Busy::Owner { limit } => EngineError::TooManyRenders {
                limit,
                retry_after,
                picture,
            },
        }
    }

    pub(super) async fn error_picture(
        &self,
        request: &RenderRequest,
        reason: &str,
    ) -> Option<Arc<Rendered>> {
        let now = self.clock.now();
        match self.pipeline.error_picture(request, reason, now).await {
            Ok(picture) => Some(Arc::new(picture)),
            Err(e) => {
                tracing::error!(spot = %request.spot.name, error = %e, "cannot draw the error picture");
                None
            }
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
        let now = self.clock.now();
        match self
            .pipeline
            .notice_picture(request, title, text, now)
            .await
        {
            Ok(picture) => Some(picture),
            Err(e) => {
                tracing::error!(error = %e, "cannot draw a notice");
                None
            }
        }
    }
}
