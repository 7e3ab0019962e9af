//! What operators read: `/metrics` (on the main port, or on its own
//! address with `server.metrics_listen`), `/readyz` and `/status`.

use std::future::Future;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use tokio::net::TcpListener;

use super::ApiError;
use crate::batch::Batches;
use crate::engine::Engine;
use crate::status::Status;

/// Connections the metrics listener (`server.metrics_listen`) keeps open
/// at once: Prometheus scrapers are few.
pub const METRICS_CONNECTIONS: usize = 16;

/// The content type of the OpenMetrics text Prometheus scrapes.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `/readyz`, `/status` (with the jobs of `batches` when the job API is
/// on), and `/metrics` unless it has an address of its own.
pub fn routes(engine: &Engine, batches: Option<Arc<Batches>>) -> Router<Arc<Engine>> {
    let router = Router::new()
        .route("/readyz", get(readyz))
        .route("/status", get(status).layer(Extension(batches)));
    if engine.config().server.metrics_listen.is_some() {
        router
    } else {
        router.route("/metrics", get(metrics))
    }
}

/// `GET /metrics`: every metric, with the gauges read now.
async fn metrics(State(engine): State<Arc<Engine>>) -> Response {
    let text = engine.metrics().encode(&engine.gauges().await);
    ([(header::CONTENT_TYPE, OPENMETRICS)], text).into_response()
}

/// `GET /readyz`: 200 while the service can serve; 503, saying why, while
/// its storage is unusable or it is shutting down, so a load balancer
/// sends requests elsewhere.
async fn readyz(State(engine): State<Arc<Engine>>) -> (StatusCode, String) {
    match crate::status::readiness(&engine) {
        Ok(()) => (StatusCode::OK, "ready".into()),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why),
    }
}

/// `GET /status`: see [`crate::status`]. Behind the admin token when one
/// is configured.
async fn status(
    State(engine): State<Arc<Engine>>,
    Extension(batches): Extension<Option<Arc<Batches>>>,
    headers: HeaderMap,
) -> Result<Json<Status>, ApiError> {
    super::admin::viewer(&engine, &headers).await?;
    let status = crate::status::collect(&engine, batches.as_deref()).await;
    Ok(Json(status))
}

/// Serves `/metrics` alone on `listener` (`server.metrics_listen`) until
/// `shutdown` resolves.
pub async fn serve_metrics(
    listener: TcpListener,
    engine: Arc<Engine>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // A few scrapers, not the main port's share of the open-file limit.
    let limits = super::conn::Limits {
        max_connections: METRICS_CONNECTIONS,
        per_client: 0,
        ..super::conn::Limits::of(&engine.config().server)
    };
    let counts = engine.metrics().clone();
    let router = Router::new()
        .route("/metrics", get(metrics))
        .with_state(engine);
    super::conn::serve(listener, router, limits, counts, shutdown).await
}
