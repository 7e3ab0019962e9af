//! HTTP routes and handlers (axum), and the server loop.

pub(crate) mod admin;
pub mod conn;
mod error;
mod forwarded;
mod gallery;
pub mod history;
mod jobs;
pub(crate) mod limit;
mod observe;
mod ops;
mod query;
mod session;
mod trmnl;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use error::ApiError;
pub use jobs::MAX_JOB_BODY;
use limit::ClientLimiter;
pub use limit::{MAX_HEADER_BYTES, MAX_URI_BYTES};
pub use observe::{REQUEST_ID, RequestId};
pub use ops::serve_metrics;
pub use query::ImageQuery;

use crate::app::App;
use crate::engine::{Engine, EngineError, Served};

/// Handlers that need only the engine take it from the [`App`].
impl axum::extract::FromRef<App> for Arc<Engine> {
    fn from_ref(app: &App) -> Self {
        app.engine.clone()
    }
}

/// Builds the service over `app`: the routes, and around them, once, the
/// layers every request passes (panic guard, optional trace, timeout, size
/// and rate guard). Wrapping the router once rather than each route keeps a
/// cache hit from cloning a boxed service per layer. Client addresses for
/// rate limiting come from [`ConnectInfo`](axum::extract::ConnectInfo), as
/// [`serve`] sets it.
pub fn app(
    app: App,
) -> impl tower::Service<
    axum::extract::Request,
    Response = Response,
    Error = std::convert::Infallible,
    Future: Send + 'static,
> + Clone
+ Send
+ Sync
+ 'static {
    let server = &app.config().server;
    let timeout = server.request_timeout;
    let metrics = app.metrics.clone();
    let limiter = ClientLimiter::new(&server.rate_limit);
    let trusted: Arc<[ipnet::IpNet]> = server.trusted_proxies.clone().into();
    if let Some(limiter) = &limiter {
        limiter.spawn_cleanup(&app.supervisor);
    }
    let router = Router::new()
        .route("/image", get(image))
        .route("/spots", get(spots))
        .route("/healthz", get(healthz))
        .route("/api/history", get(history::history))
        .merge(trmnl::routes(&app))
        .merge(ops::routes(&app))
        .merge(gallery::routes())
        .merge(admin::routes())
        .merge(jobs::routes(app.jobs.clone()))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(app);
    // A span per request costs about as much as the rest of a cache hit, so
    // it is only made when someone will read it.
    let trace = tracing::enabled!(target: "tower_http", tracing::Level::DEBUG).then(|| {
        tower::ServiceBuilder::new()
            .map_response(IntoResponse::into_response)
            .layer(TraceLayer::new_for_http())
    });
    tower::ServiceBuilder::new()
        .map_response(IntoResponse::into_response)
        .map_response(harden)
        .layer(observe::ObserveLayer(metrics.clone()))
        .map_response(IntoResponse::into_response)
        // Last line of defence: a panic becomes a plain 500, never a dropped
        // connection or a message with internals.
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("a request handler panicked");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error; the server log has the details",
            )
            .into_response()
        }))
        .option_layer(trace)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        .layer(limit::GuardLayer {
            limiter,
            metrics,
            trusted,
        })
        .service(router)
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops
/// accepting and gives the requests in flight `server.shutdown_timeout` to
/// finish, and stops the engine's background tasks. Renders run on their
/// own tasks and write atomically, so one cut off by the exit is stored
/// whole or not at all.
pub async fn serve(
    listener: TcpListener,
    app: App,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let grace = app.config().server.shutdown_timeout;
    let stopping = Arc::new(tokio::sync::Notify::new());
    let signal = {
        let stopping = stopping.clone();
        async move {
            shutdown.await;
            stopping.notify_one();
        }
    };
    let limits = conn::Limits::of(&app.config().server);
    let metrics = app.metrics.clone();
    let server = conn::serve(listener, self::app(app.clone()), limits, metrics, signal);
    let server = std::pin::pin!(server);
    let result = tokio::select! {
        result = server => result,
        () = async {
            stopping.notified().await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(?grace, "requests still in flight at the shutdown timeout; exiting anyway");
            Ok(())
        }
    };
    app.shutdown(grace).await;
    result
}

/// Security headers on pages and data, never on images (a display's
/// decoder may mind what it does not know): no type sniffing, no referrer
/// sent on, and for pages that set none, a policy that runs no script.
fn harden(mut response: Response) -> Response {
    let kind = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.as_bytes().to_ascii_lowercase());
    let Some(kind) = kind else {
        return response;
    };
    let page = kind.starts_with(b"text/html");
    if !page && !kind.starts_with(b"application/json") && !kind.starts_with(b"text/") {
        return response;
    }
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if page && !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
        );
    }
    response
}

fn spot_names(engine: &Engine) -> Vec<String> {
    engine
        .catalog()
        .spots()
        .iter()
        .map(|s| s.name.clone())
        .collect()
}

/// `GET /image?spot=NAME` (and `HEAD`).
async fn image(
    State(engine): State<Arc<Engine>>,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    // The request by value: reading its query and headers in place saves
    // copying them on every cache hit.
    let query = ImageQuery::parse(request.uri().query()).map_err(|e| {
        // Only a missing spot is helped by the list of spots; a bad
        // option names its allowed values instead.
        if e.code() == "missing_spot" {
            e.with_spots(spot_names(&engine))
        } else {
            e
        }
    })?;
    let server = &engine.config().server;
    if !server.custom_sizes && (query.options.width.is_some() || query.options.height.is_some()) {
        return Err(custom_size_refused(&engine));
    }
    let render = engine
        .catalog()
        .resolve(&query.spot, query.device.as_deref(), &query.options)
        .and_then(|r| match &query.layers {
            Some(picked) => engine.pick_layers(r, picked),
            None => Ok(r),
        })
        .map(|mut r| {
            r.preview = query.preview;
            r
        })
        .map_err(|e| ApiError::from_request(e, spot_names(&engine)))?;
    let owner = limit::render_owner(&request, server.rate_limit.loopback);
    let retry_after = engine.config().cache.error_retry_after.as_secs().max(1);
    let id = request.extensions().get::<RequestId>().map(|r| r.0.clone());
    let span = || match &id {
        Some(id) => observe::request_span(id, "/image"),
        None => tracing::Span::none(),
    };
    let served = engine.image_in(&render, owner, span).await.map_err(|e| {
        match &e {
            EngineError::Busy { .. } => engine.metrics().refuse("busy"),
            EngineError::TooManyRenders { .. } => engine.metrics().refuse("too_many_renders"),
            _ => {}
        }
        ApiError::from_engine(e, spot_names(&engine), retry_after).for_client(render.error_status)
    })?;
    Ok(image_response(&served, request.headers()))
}

/// The 400 for `width` or `height` when `server.custom_sizes` is off.
fn custom_size_refused(engine: &Engine) -> ApiError {
    let presets = engine.catalog().preset_names().join(", ");
    ApiError::bad_request(
        "custom_size_refused",
        format!(
            "this server draws only configured sizes (`server.custom_sizes = false`): leave out `width` and `height`, or use `device=` with one of: {presets}"
        ),
    )
}

fn image_response(served: &Served, request: &HeaderMap) -> Response {
    let rendered = &served.rendered;
    let head = rendered.head();
    let mut headers = HeaderMap::with_capacity(8);
    headers.insert(header::ETAG, head.etag.clone());
    headers.insert(header::LAST_MODIFIED, head.last_modified.clone());
    headers.insert(header::CACHE_CONTROL, cache_control(served.max_age));
    headers.insert("x-cache", HeaderValue::from_static(served.cache.as_str()));

    let status = if not_modified(request, rendered.etag(), rendered.meta.rendered_at) {
        StatusCode::NOT_MODIFIED
    } else {
        headers.insert(header::CONTENT_TYPE, head.content_type.clone());
        headers.insert(header::CONTENT_LENGTH, head.content_length.clone());
        StatusCode::OK
    };
    let body = match status {
        StatusCode::OK => axum::body::Body::from(rendered.bytes.clone()),
        _ => axum::body::Body::empty(),
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// `Cache-Control` for an image a client may keep for `max_age`.
fn cache_control(max_age: std::time::Duration) -> HeaderValue {
    HeaderValue::from_str(&format!("public, max-age={}", max_age.as_secs()))
        .expect("digits are a valid header value")
}

/// RFC 9110 §13.2.2: `If-None-Match` wins; `If-Modified-Since` counts only
/// without it.
fn not_modified(request: &HeaderMap, etag: &str, modified: DateTime<Utc>) -> bool {
    if let Some(inm) = request.get(header::IF_NONE_MATCH) {
        let Ok(inm) = inm.to_str() else { return false };
        let bare = etag.trim_start_matches("W/");
        return inm
            .split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.trim_start_matches("W/") == bare);
    }
    if let Some(since) = request
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
    {
        let since: DateTime<Utc> = since.into();
        return modified.timestamp() <= since.timestamp();
    }
    false
}

#[derive(Serialize)]
struct SpotInfo {
    name: String,
    slug: String,
    image_url: String,
    width: u32,
    height: u32,
    last_render: Option<DateTime<Utc>>,
    /// When the next image is expected: the next scheduled run plus the
    /// time a run takes.
    next_image_at: Option<DateTime<Utc>>,
    /// The spot's schedule: next and last run, failures, what it draws.
    schedule: Option<crate::schedule::SpotStatus>,
}

/// `GET /spots`: the configured spots, when each was last drawn, and its
/// schedule.
async fn spots(State(engine): State<Arc<Engine>>) -> axum::Json<Vec<SpotInfo>> {
    let mut out = Vec::new();
    for (index, spot) in engine.catalog().spots().iter().enumerate() {
        let slug = spot.slug();
        out.push(SpotInfo {
            name: spot.name.clone(),
            image_url: format!("/image?spot={slug}"),
            slug,
            width: spot.width,
            height: spot.height,
            last_render: engine.store().last_rendered(&spot.slug()).await,
            next_image_at: engine.next_image_at(index),
            schedule: engine.schedule_status(index),
        });
    }
    axum::Json(out)
}

/// `GET /healthz`: 200 while the service answers; the body says when the
/// storage is failing and renders live in memory only.
async fn healthz(State(engine): State<Arc<Engine>>) -> String {
    let health = engine.store().health();
    if health.ok {
        "ok".to_string()
    } else {
        format!(
            "ok, degraded: the {} storage is failing; renders are kept in memory only",
            health.backend
        )
    }
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint; try /image?spot=NAME, /spots or /healthz",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "only GET and HEAD are served",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const ETAG: &str = "\"abc\"";

    #[rstest]
    #[case(&[("if-none-match", "\"abc\"")], true)]
    #[case(&[("if-none-match", "W/\"abc\"")], true)]
    #[case(&[("if-none-match", "\"x\", \"abc\"")], true)]
    #[case(&[("if-none-match", "*")], true)]
    #[case(&[("if-none-match", "\"x\"")], false)]
    #[case(&[("if-none-match", "\"x\""), ("if-modified-since", "Sun, 01 Jan 2040 00:00:00 GMT")], false)]
    #[case(&[("if-modified-since", "Sun, 01 Jan 2040 00:00:00 GMT")], true)]
    #[case(&[("if-modified-since", "Sun, 01 Jan 2000 00:00:00 GMT")], false)]
    #[case(&[("if-modified-since", "garbage")], false)]
    #[case(&[], false)]
    fn conditional_requests(#[case] sent: &[(&'static str, &'static str)], #[case] expect: bool) {
        let mut headers = HeaderMap::new();
        for (k, v) in sent {
            headers.insert(*k, HeaderValue::from_static(v));
        }
        let modified = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(not_modified(&headers, ETAG, modified), expect);
    }
}
