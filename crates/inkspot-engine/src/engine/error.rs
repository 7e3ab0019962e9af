//! What can go wrong when the engine answers, as types; the HTTP edge maps
//! them to statuses once.

use std::sync::Arc;
use std::time::Duration;

use crate::flight::JobPanicked;
use crate::pipeline::{BuildError, DrawError};
use crate::request::RequestError;
use crate::store::Rendered;

/// Errors that stop the engine from starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The pipeline (templates, HTTP client) cannot be built.
    #[error(transparent)]
    Pipeline(#[from] BuildError),
    /// The storage backend cannot be configured.
    #[error("storage: {0}")]
    Storage(#[from] crate::store::StoreError),
    /// The firmware folder (`trmnl.firmware_dir`) was refused.
    #[error("trmnl.firmware_dir: {0}")]
    Firmware(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The config asks for a backend this build leaves out.
    #[error("{0} needs a backend this build leaves out")]
    Unsupported(&'static str),
}

/// Why a render job produced no image; shared by every request that
/// waited on the job, hence `Clone`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RenderFailure {
    /// Every source of the spot failed.
    #[error("no data: {reason}")]
    NoData {
        /// Each failed source and why.
        reason: String,
        /// The error picture saying so, when it could be drawn.
        picture: Option<Arc<Rendered>>,
    },
    /// Filling, drawing or encoding failed.
    #[error("drawing failed: {cause}")]
    Draw {
        /// Why (logged, never sent to a client).
        cause: Arc<DrawError>,
        /// The error picture saying so, when it could be drawn.
        picture: Option<Arc<Rendered>>,
    },
    /// The job's task panicked.
    #[error(transparent)]
    Panicked(#[from] JobPanicked),
}

impl RenderFailure {
    /// The error picture, if one was drawn.
    pub fn picture(&self) -> Option<Arc<Rendered>> {
        match self {
            RenderFailure::NoData { picture, .. } | RenderFailure::Draw { picture, .. } => {
                picture.clone()
            }
            RenderFailure::Panicked(_) => None,
        }
    }
}

/// Why an image could not be served.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    /// The request names no spot, preset or option that exists.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// No render could be made and none was made before.
    #[error("no image for {spot}: {failure}")]
    Unavailable {
        /// The spot's name.
        spot: String,
        /// What failed.
        failure: RenderFailure,
    },
    /// `server.render_queue` renders are already waiting or running.
    #[error("too many renders in progress")]
    Busy {
        /// When to try again.
        retry_after: Duration,
        /// A picture saying so, for clients that show only pictures.
        picture: Option<Arc<Rendered>>,
    },
    /// This client already has `server.renders_per_client` renders of its
    /// own waiting or running.
    #[error("this client has {limit} renders in progress")]
    TooManyRenders {
        /// The limit per client.
        limit: usize,
        /// When to try again.
        retry_after: Duration,
        /// A picture saying so, for clients that show only pictures.
        picture: Option<Arc<Rendered>>,
    },
}
