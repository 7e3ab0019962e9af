//! Management endpoints, behind the admin token (`server.admin_token` or
//! `INKSPOT_ADMIN_TOKEN`, sent as `Authorization: Bearer <token>` and
//! compared in constant time). Without a token they are off: 404.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::ApiError;
use super::query::Params;
use crate::app::App;
use crate::devices::{Device, Reading, Registry};
use crate::engine::Engine;

/// The management routes.
pub fn routes() -> Router<App> {
    Router::new()
        .route("/api/devices", get(devices))
        .route("/api/devices/{id}", get(device))
        .route("/api/devices/{id}/pair", axum::routing::post(pair))
        .route(
            "/api/devices/{id}/firmware/clear",
            axum::routing::post(clear_firmware),
        )
        .route("/api/devices/{id}/pause", axum::routing::post(pause))
        .route("/api/devices/{id}/resume", axum::routing::post(resume))
}

/// Passes a request to a page that is open without an admin token and
/// needs it (as a bearer token, or the session cookie of `/login`) with.
pub async fn viewer(app: &App, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = &app.config().server.admin_token else {
        return Ok(());
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if bearer.is_some_and(|b| bool::from(b.as_bytes().ct_eq(token.expose().as_bytes()))) {
        return Ok(());
    }
    if let (Some(id), Some(pool)) = (super::session::cookie(headers), app.database.as_ref())
        && super::session::Sessions::new(pool, token.expose())
            .valid(id, app.engine.clock().now())
            .await
    {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "send the admin token as `Authorization: Bearer <token>`, or sign in at /login",
    ))
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
    /// The firmware version held from it after `trmnl.update_attempts`
    /// failed offers, until `clear-firmware`.
    firmware_held: Option<String>,
    #[serde(flatten)]
    device: Device,
}

/// `GET /api/devices`: every device with its latest telemetry; keys are
/// never included.
async fn devices(
    State(app): State<App>,
    headers: HeaderMap,
) -> Result<Json<Vec<DeviceInfo>>, ApiError> {
    let engine = &app.engine;
    authorize(engine, &headers)?;
    let registry = registry(&app)?;
    let list = registry.list().await.map_err(unavailable)?;
    let out = list.into_iter().map(|d| info(engine, d)).collect();
    Ok(Json(out))
}

fn info(engine: &Engine, device: Device) -> DeviceInfo {
    let config = engine
        .config()
        .devices
        .list()
        .iter()
        .find(|c| c.mac == device.mac);
    let attempts = engine.config().trmnl.update_attempts;
    let firmware_held = device.firmware_update.held(attempts).map(str::to_string);
    DeviceInfo {
        name: config.and_then(|c| c.name.clone()),
        configured: config.is_some(),
        firmware_held,
        device,
    }
}

pub(super) fn registry(app: &App) -> Result<&Registry, ApiError> {
    app.devices
        .as_ref()
        .ok_or_else(|| unavailable("the device database is not open"))
}

fn unavailable(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "device database");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "database_unavailable",
        "the device database cannot be read; the server log has the details",
    )
}

/// The device `id` names: by friendly id, MAC, or its name in
/// `[[devices]]`.
pub(super) async fn find(app: &App, id: &str) -> Result<Device, ApiError> {
    let list = registry(app)?.list().await.map_err(unavailable)?;
    let found = crate::devices::find(list, app.config().devices.list(), id);
    found.ok_or_else(|| {
        let id = crate::text::ellipsize(id, 40);
        let message = format!("no device with friendly id, MAC or name `{id}`");
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    })
}

/// What opening pairing did.
#[derive(Serialize)]
struct Pairing {
    mac: String,
    friendly_id: String,
    /// Until when `/api/setup` gives the device its key.
    pair_until: chrono::DateTime<chrono::Utc>,
}

/// `POST /api/devices/{id}/pair`: lets the device fetch its key from
/// `/api/setup` for `trmnl.pairing_window` (after a reset, or a move to a
/// new network).
async fn pair(
    State(app): State<App>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Pairing>, ApiError> {
    let engine = &app.engine;
    authorize(engine, &headers)?;
    let registry = registry(&app)?;
    let device = find(&app, &id).await?;
    let window =
        chrono::Duration::from_std(engine.config().trmnl.pairing_window).unwrap_or_default();
    let until = engine.clock().now() + window;
    registry
        .open_pairing(&device.mac, until)
        .await
        .map_err(unavailable)?;
    tracing::info!(mac = %device.mac, friendly_id = %device.friendly_id, %until, "pairing opened");
    Ok(Json(Pairing {
        mac: device.mac,
        friendly_id: device.friendly_id,
        pair_until: until,
    }))
}

/// What clearing a device's firmware failures did.
#[derive(Serialize)]
struct Cleared {
    mac: String,
    friendly_id: String,
    /// The version that was held from it, if one was.
    was_held: Option<String>,
}

/// `POST /api/devices/{id}/firmware/clear`: forgets the device's failed
/// firmware updates, so the version held from it is offered again.
async fn clear_firmware(
    State(app): State<App>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Cleared>, ApiError> {
    let engine = &app.engine;
    authorize(engine, &headers)?;
    let registry = registry(&app)?;
    let device = find(&app, &id).await?;
    registry
        .updates()
        .clear(&device.mac)
        .await
        .map_err(unavailable)?;
    let was_held = info(engine, device.clone()).firmware_held;
    tracing::info!(mac = %device.mac, friendly_id = %device.friendly_id, ?was_held, "firmware failures cleared");
    Ok(Json(Cleared {
        mac: device.mac,
        friendly_id: device.friendly_id,
        was_held,
    }))
}

/// A device's pause.
#[derive(Serialize)]
struct Paused {
    mac: String,
    friendly_id: String,
    /// Until when it sleeps; `null` once resumed.
    paused_until: Option<chrono::DateTime<chrono::Utc>>,
}

/// `?until=`: a date (the start of that day in the device's time zone) or
/// an RFC 3339 time.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PauseQuery {
    until: String,
}

/// `POST /api/devices/{id}/pause?until=2026-12-24`: the device sleeps
/// until then (away mode), shown the sleep picture first; 400 names an
/// `until` that is not a date or time, has passed, or is over a year away.
async fn pause(
    State(app): State<App>,
    Path(id): Path<String>,
    Params(query): Params<PauseQuery>,
    headers: HeaderMap,
) -> Result<Json<Paused>, ApiError> {
    let engine = &app.engine;
    authorize(engine, &headers)?;
    let device = find(&app, &id).await?;
    let tz = crate::devices::sleep::time_zone(engine.config(), &device.mac);
    let until = crate::devices::sleep::resolve_until(&query.until, tz, engine.clock().now())
        .map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_parameter",
                format!("`until`: {e}"),
            )
        })?;
    set_pause(&app, device, Some(until)).await
}

/// `POST /api/devices/{id}/resume`: ends the device's pause; it hears of
/// it at its next wake.
async fn resume(
    State(app): State<App>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Paused>, ApiError> {
    authorize(&app.engine, &headers)?;
    let device = find(&app, &id).await?;
    set_pause(&app, device, None).await
}

async fn set_pause(
    app: &App,
    device: Device,
    until: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<Json<Paused>, ApiError> {
    registry(app)?
        .set_pause(&device.mac, until)
        .await
        .map_err(unavailable)?;
    tracing::info!(mac = %device.mac, friendly_id = %device.friendly_id, ?until, "device pause set");
    Ok(Json(Paused {
        mac: device.mac,
        friendly_id: device.friendly_id,
        paused_until: until,
    }))
}

/// One device with its telemetry history and its last log entries.
#[derive(Serialize)]
struct DeviceDetail {
    #[serde(flatten)]
    info: DeviceInfo,
    /// The newest readings first.
    history: Vec<Reading>,
    /// The entries it posted to `/api/log`, oldest first.
    logs: Vec<serde_json::Value>,
    /// Its own sensors' latest readings (the `SENSORS` header), by kind:
    /// `{"temperature": {"value", "unit", "at"}}`.
    sensors: serde_json::Map<String, serde_json::Value>,
}

/// `?limit=`: how many readings of history.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryQuery {
    limit: Option<usize>,
}

/// `GET /api/devices/{id}`: a device by friendly id or MAC, with its
/// history (`?limit=`, default 100) and logs.
async fn device(
    State(app): State<App>,
    Path(id): Path<String>,
    Params(query): Params<HistoryQuery>,
    headers: HeaderMap,
) -> Result<Json<DeviceDetail>, ApiError> {
    let engine = &app.engine;
    authorize(engine, &headers)?;
    let registry = registry(&app)?;
    let device = find(&app, &id).await?;
    let limit = query.limit.unwrap_or(100).min(10_000);
    let history = registry
        .logbook()
        .history(&device.mac, limit)
        .await
        .map_err(unavailable)?;
    let logs = registry
        .logbook()
        .logs(&device.mac)
        .await
        .map_err(unavailable)?;
    let logs = logs
        .iter()
        .map(|entry| serde_json::from_str(entry).unwrap_or_else(|_| entry.clone().into()))
        .collect();
    let sensors = match &app.history {
        Some(keeper) => {
            let now = engine.clock().now();
            use crate::history::History;
            latest(&*keeper.recent_device(&device.friendly_id, now).await)
        }
        None => serde_json::Map::new(),
    };
    Ok(Json(DeviceDetail {
        info: info(engine, device),
        history,
        logs,
        sensors,
    }))
}

/// Each field's newest value, with its unit and time.
fn latest(recent: &inkspot_core::history::Recent) -> serde_json::Map<String, serde_json::Value> {
    recent
        .observed
        .iter()
        .filter_map(|(field, points)| {
            let last = points.last()?;
            let at = chrono::DateTime::from_timestamp(last.at, 0)?;
            let value = serde_json::json!({
                "value": last.value,
                "unit": recent.units.get(field),
                "at": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            });
            Some((field.clone(), value))
        })
        .collect()
}
