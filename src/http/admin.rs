//! Management endpoints, behind the admin token (`server.admin_token` or
//! `INKSPOT_ADMIN_TOKEN`, sent as `Authorization: Bearer <token>` and
//! compared in constant time). Without a token they are off: 404.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::get;
use serde::Serialize;
use subtle::ConstantTimeEq;

use super::ApiError;
use crate::devices::Device;
use crate::engine::Engine;

/// The management routes.
pub fn routes() -> Router<Arc<Engine>> {
    Router::new().route("/api/devices", get(devices))
}

/// Passes a request that carries the admin token.
fn authorize(engine: &Engine, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = &engine.config().server.admin_token else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "management endpoints are off: set server.admin_token or INKSPOT_ADMIN_TOKEN",
        ));
    };
    let sent = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if bool::from(sent.as_bytes().ct_eq(token.expose().as_bytes())) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send the admin token as `Authorization: Bearer <token>`",
        ))
    }
}

/// A device as `/api/devices` lists it.
#[derive(Serialize)]
struct DeviceInfo {
    /// The name in `[[devices]]`, if it is configured there.
    name: Option<String>,
    /// Whether it is in `[[devices]]` (else it joined by itself).
    configured: bool,
    #[serde(flatten)]
    device: Device,
}

/// `GET /api/devices`: every device with its latest telemetry; keys are
/// never included.
async fn devices(
    State(engine): State<Arc<Engine>>,
    headers: HeaderMap,
) -> Result<Json<Vec<DeviceInfo>>, ApiError> {
    authorize(&engine, &headers)?;
    let unavailable = || {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            "the device database cannot be read; the server log has the details",
        )
    };
    let registry = engine.devices().ok_or_else(unavailable)?;
    let list = registry.list().await.map_err(|e| {
        tracing::error!(error = %e, "device database");
        unavailable()
    })?;
    let configured = engine.config().devices.list();
    let out = list
        .into_iter()
        .map(|device| {
            let config = configured.iter().find(|c| c.mac == device.mac);
            DeviceInfo {
                name: config.and_then(|c| c.name.clone()),
                configured: config.is_some(),
                device,
            }
        })
        .collect();
    Ok(Json(out))
}
