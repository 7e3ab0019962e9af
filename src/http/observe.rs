//! The outermost layer: each request gets an id (a safe `X-Request-Id` it
//! brought, or a new one), echoed in the answer and carried by every log
//! line of the request, and is counted in the metrics by route template,
//! status and cache result, with its duration.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;
use tracing::Instrument;
use tracing::instrument::Instrumented;

use crate::metrics::{Metrics, labels};

/// The header of request ids.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest request id taken from a client.
pub const MAX_REQUEST_ID: usize = 64;

/// A request's id, in its extensions for handlers that want it.
#[derive(Debug, Clone)]
pub struct RequestId(pub HeaderValue);

/// The id a client sent, when it is safe to log and echo: 1 to
/// [`MAX_REQUEST_ID`] characters of letters, digits and `._:-`.
fn safe(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    (1..=MAX_REQUEST_ID).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(b))
}

fn new_id() -> HeaderValue {
    let id = format!("{:016x}", rand::random::<u64>());
    HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("0"))
}

/// The span of the request with `id` on `route`: every log line inside it
/// carries the id.
pub fn request_span(id: &HeaderValue, route: &'static str) -> tracing::Span {
    tracing::info_span!("request", id = id.to_str().unwrap_or_default(), route)
}

/// Makes [`Observe`] services.
#[derive(Clone)]
pub struct ObserveLayer(pub Arc<Metrics>);

impl<S> tower::Layer<S> for ObserveLayer {
    type Service = Observe<S>;
    fn layer(&self, inner: S) -> Observe<S> {
        Observe {
            inner,
            metrics: self.0.clone(),
        }
    }
}

/// See the module documentation.
#[derive(Clone)]
pub struct Observe<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S> tower::Service<Request> for Observe<S>
where
    S: tower::Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Observed<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let id = request
            .headers()
            .get(&REQUEST_ID)
            .filter(|v| safe(v))
            .cloned()
            .unwrap_or_else(new_id);
        let route = labels::route(request.uri().path());
        // A span costs about a fifth of a cache hit: `/image` makes its own
        // only past a hit (see `Engine::image_in`).
        let span = if route == "/image" {
            tracing::Span::none()
        } else {
            request_span(&id, route)
        };
        request.extensions_mut().insert(RequestId(id.clone()));
        Observed {
            inner: self.inner.call(request).instrument(span),
            metrics: self.metrics.clone(),
            id: Some(id),
            route,
            started: Instant::now(),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of an [`Observe`]d request.
    pub struct Observed<F> {
        #[pin]
        inner: Instrumented<F>,
        metrics: Arc<Metrics>,
        id: Option<HeaderValue>,
        route: &'static str,
        started: Instant,
    }
}

impl<F, E> Future for Observed<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = match this.inner.poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Ready(Ok(response)) => response,
        };
        let cache = match response.headers().get("x-cache").map(HeaderValue::as_bytes) {
            Some(b"hit") => "hit",
            Some(b"miss") => "miss",
            Some(b"stale") => "stale",
            _ => "none",
        };
        let status = response.status().as_u16();
        this.metrics
            .request(this.route, status, cache, this.started.elapsed());
        if let Some(id) = this.id.take() {
            response.headers_mut().insert(REQUEST_ID, id);
        }
        Poll::Ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("abc-123", true)]
    #[case("4bf92f3577b34da6a3ce929d0e0e4736", true)]
    #[case("", false)]
    #[case("a b", false)]
    #[case("<script>", false)]
    #[case(&"x".repeat(65), false)]
    fn only_safe_ids_are_taken(#[case] id: &str, #[case] ok: bool) {
        assert_eq!(safe(&HeaderValue::from_str(id).unwrap()), ok);
    }
}
