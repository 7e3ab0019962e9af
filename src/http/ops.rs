//! What operators read: `/metrics` (on the main port, or on its own
//! address with `server.metrics_listen`), `/readyz` and `/status`.

use std::future::Future;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tokio::net::TcpListener;

use super::ApiError;
use crate::app::App;
use crate::status::Status;

/// Connections the metrics listener (`server.metrics_listen`) keeps open
/// at once: Prometheus scrapers are few.
pub const METRICS_CONNECTIONS: usize = 16;

/// The content type of the OpenMetrics text Prometheus scrapes.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `/readyz`, `/status`, and `/metrics` unless it has an address of its
/// own.
pub fn routes(app: &App) -> Router<App> {
    let router = Router::new()
        .route("/readyz", get(readyz))
        .route("/status", get(status));
    if app.config().server.metrics_listen.is_some() {
        router
    } else {
        router.route("/metrics", get(metrics))
    }
}

/// `GET /metrics`: every metric, with the gauges read now.
async fn metrics(State(app): State<App>) -> Response {
    let text = app.metrics.encode(&crate::app::gauges(&app).await);
    ([(header::CONTENT_TYPE, OPENMETRICS)], text).into_response()
}

/// `GET /readyz`: 200 while the service can serve; 503, saying why, while
/// its storage is unusable or it is shutting down, so a load balancer
/// sends requests elsewhere.
async fn readyz(State(app): State<App>) -> (StatusCode, String) {
    match crate::status::readiness(&app) {
        Ok(()) => (StatusCode::OK, "ready".into()),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why),
    }
}

/// `GET /status`: see [`crate::status`]. Behind the admin token when one
/// is configured.
async fn status(State(app): State<App>, headers: HeaderMap) -> Result<Json<Status>, ApiError> {
    super::admin::viewer(&app, &headers).await?;
    let status = crate::status::collect(&app).await;
    Ok(Json(status))
}

/// Serves `/metrics` alone on `listener` (`server.metrics_listen`) until
/// `shutdown` resolves.
pub async fn serve_metrics(
    listener: TcpListener,
    app: App,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // A few scrapers, not the main port's share of the open-file limit.
    let limits = super::conn::Limits {
        max_connections: METRICS_CONNECTIONS,
        per_client: 0,
        ..super::conn::Limits::of(&app.config().server)
    };
    let counts = app.metrics.clone();
    let router = Router::new()
        .route("/metrics", get(metrics))
        .with_state(app);
    super::conn::serve(listener, router, limits, counts, shutdown).await
}
