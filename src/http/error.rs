//! The one place where errors become HTTP answers: a status, a stable code,
//! a public message, and a log line for anything that is the server's fault.

use std::sync::Arc;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::engine::{EngineError, RenderFailure};
use crate::request::RequestError;
use crate::store::Rendered;
use crate::text::ellipsize;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    spots: Option<Vec<String>>,
    retry_after: Option<u64>,
    /// The state of the thing asked about (a job's), when it explains.
    state: Option<&'static str>,
    /// A picture of the problem, sent instead of JSON to a display.
    picture: Option<Arc<Rendered>>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    spots: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'a str>,
}

impl ApiError {
    /// A 400 naming what was wrong with the request.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// An answer with any status.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            spots: None,
            retry_after: None,
            state: None,
            picture: None,
        }
    }

    /// Adds `status` to the body: the state that explains the answer.
    pub fn with_state(mut self, state: &'static str) -> Self {
        self.state = Some(state);
        self
    }

    /// The stable code, such as `missing_spot`.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// Lists the configured spots in the body, to help a user who mistyped one.
    pub fn with_spots(mut self, spots: Vec<String>) -> Self {
        self.spots = Some(spots);
        self
    }

    /// Adds a `Retry-After` header, in seconds.
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// For a client that shows only a 200's body (`error_status = 200`): an
    /// error picture goes with 200, a `Cache-Control` as short as
    /// `Retry-After`, and `X-Error-Code` still naming the problem. JSON
    /// answers keep their status.
    pub fn for_client(mut self, error_status: u16) -> Self {
        if error_status == 200 && self.picture.is_some() {
            self.status = StatusCode::OK;
        }
        self
    }

    /// Maps an engine error, logging server-side faults once.
    pub fn from_engine(e: EngineError, spots: Vec<String>, retry_after: u64) -> Self {
        match e {
            EngineError::Request(e) => Self::from_request(e, spots),
            EngineError::Unavailable { spot, failure } => {
                Self::unavailable(&spot, failure, retry_after)
            }
            EngineError::Busy {
                retry_after,
                picture,
            } => {
                tracing::warn!("render queue full; turning a request away");
                let secs = retry_after.as_secs().max(1);
                let mut err = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "busy",
                    format!("too many images are being drawn; try again in {secs} s"),
                )
                .with_retry_after(secs);
                err.picture = picture;
                err
            }
            EngineError::TooManyRenders {
                limit,
                retry_after,
                picture,
            } => {
                let secs = retry_after.as_secs().max(1);
                let mut err = Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_renders",
                    format!("this address already has {limit} new images being drawn; try again in {secs} s"),
                )
                .with_retry_after(secs);
                err.picture = picture;
                err
            }
        }
    }

    /// Maps a request that names nothing renderable.
    pub fn from_request(e: RequestError, spots: Vec<String>) -> Self {
        match e {
            RequestError::UnknownSpot(name) => Self::new(
                StatusCode::NOT_FOUND,
                "unknown_spot",
                format!("no spot named `{}`", ellipsize(&name, 100)),
            )
            .with_spots(spots),
            e @ RequestError::UnknownPreset { .. } => {
                Self::bad_request("unknown_device", e.to_string())
            }
            RequestError::BadOption(e) => Self::bad_request("invalid_parameter", e.to_string()),
            e @ RequestError::TooLarge { .. } => {
                Self::bad_request("image_too_large", e.to_string())
            }
            e @ RequestError::UnknownLayer { .. } => {
                Self::bad_request("unknown_layer", e.to_string())
            }
        }
    }

    /// The 503 for a spot with no image: the error picture when there is
    /// one, since a display cannot read JSON.
    fn unavailable(spot: &str, failure: RenderFailure, retry_after: u64) -> Self {
        let picture = failure.picture();
        let (code, message) = match &failure {
            RenderFailure::NoData { reason, .. } => {
                // The render job logged it, once for every waiting client.
                ("upstream_failed", format!("no data for {spot}: {reason}"))
            }
            RenderFailure::Draw { cause, .. }
                if matches!(cause.as_ref(), crate::pipeline::DrawError::Shot(_)) =>
            {
                // The browser's reasons name what the operator configured
                // (the page, its wait), nothing internal.
                (
                    "page_failed",
                    format!("the page of {spot} could not be taken: {cause}"),
                )
            }
            RenderFailure::Draw { .. } | RenderFailure::Panicked(_) => {
                // The cause was logged where it happened.
                let message = format!(
                    "the image of {spot} could not be drawn; the server log has the details"
                );
                ("render_failed", message)
            }
        };
        let mut err =
            Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message).with_retry_after(retry_after);
        err.picture = picture;
        err
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = match self.picture {
            // A display cannot read JSON: give it a picture of the problem.
            Some(picture) => (
                self.status,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(picture.meta.content_type.as_str()),
                )],
                picture.bytes.clone(),
            )
                .into_response(),
            None => (
                self.status,
                Json(Body {
                    error: &self.message,
                    code: self.code,
                    spots: self.spots.as_deref(),
                    status: self.state,
                }),
            )
                .into_response(),
        };
        let headers = response.headers_mut();
        // A picture answered with 200 would be kept by caches and devices
        // like an image: for no longer than the retry.
        let cache = match (self.status, self.retry_after) {
            (StatusCode::OK, Some(secs)) => HeaderValue::from_str(&format!("max-age={secs}"))
                .unwrap_or(HeaderValue::from_static("no-store")),
            _ => HeaderValue::from_static("no-store"),
        };
        headers.insert(header::CACHE_CONTROL, cache);
        headers.insert("x-error-code", HeaderValue::from_static(self.code));
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
