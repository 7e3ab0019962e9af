//! The TRMNL device API, as firmware 1.8 speaks it: `/api/setup`,
//! `/api/display`, `/api/current_screen` and `/api/log`, each also with a
//! trailing slash (firmware 1.6.8 and older ask for `/api/setup/`).
//!
//! Every answer is 200 with JSON the firmware parses; problems are said in
//! its `status` field (404 at setup, 202 at display). Never `status: 500`
//! or `reset_firmware: true`, which wipe a device, and never a render
//! inside a display call: a display call answers with the stored image, or
//! starts a render and tells the device to come back soon.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;

mod display;
mod firmware;
mod join;
mod notice;

use display::DeviceLimiter;
use join::{ClientAddr, JoinGate};

use crate::devices::answer::{DisplayAnswer, SetupAnswer};
use crate::devices::screen::{UNREGISTERED_REFRESH, choose, configured};

use crate::app::App;
use crate::config::normalize_mac;
use crate::devices::{Device, Telemetry, looks_like_key};
use crate::engine::Engine;

/// The device routes, each with and without a trailing slash, with the
/// per-device rate limit the config sets.
pub fn routes(app: &App) -> Router<App> {
    let mut router = Router::new()
        .route("/api/identify", get(notice::identify))
        .route("/api/sleep_screen", get(notice::sleep_screen))
        .route("/firmware/{file}", get(firmware::download));
    for path in [
        "/api/setup",
        "/api/display",
        "/api/current_screen",
        "/api/log",
    ] {
        for p in [path.to_string(), format!("{path}/")] {
            router = match path {
                "/api/setup" => router.route(&p, get(setup)),
                "/api/display" => router.route(&p, get(display::display)),
                "/api/current_screen" => router.route(&p, get(display::current_screen)),
                _ => router.route(&p, post(log)),
            };
        }
    }
    let gate = JoinGate::new(app.config());
    gate.spawn_cleanup(&app.supervisor);
    router
        .layer(axum::Extension(DeviceLimiter::new(&app.config().trmnl)))
        .layer(axum::Extension(gate))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// Where the device reaches this server: `trmnl.public_url`, else the
/// `Host` of its request.
pub(super) fn base_url(engine: &Engine, headers: &HeaderMap) -> String {
    crate::devices::screen::base_url(engine, header(headers, "host"))
}

/// `GET /api/setup`: a known MAC gets its key back (never an empty one)
/// while it may pair; an unknown one joins when it is configured, or when
/// `trmnl.auto_join` is on and the join limits allow.
async fn setup(
    State(app): State<App>,
    axum::Extension(gate): axum::Extension<Arc<JoinGate>>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
) -> Json<SetupAnswer> {
    let engine = &app.engine;
    let device = match header(&headers, "id").and_then(normalize_mac) {
        Some(mac) => set_up(&app, &gate, client, &mac).await,
        None => Err("no MAC address in the ID header"),
    };
    let device = match device {
        Ok(device) => device,
        Err(message) => {
            return Json(SetupAnswer::refused(message));
        }
    };
    tracing::info!(mac = %device.mac, friendly_id = %device.friendly_id, "device set up");
    let base = base_url(engine, &headers);
    let image_url = match choose(engine, &device, &Telemetry::from_headers(&headers)) {
        Some(choice) => format!("{base}{}", choice.setup_path()),
        None => String::new(),
    };
    Json(SetupAnswer {
        status: 200,
        api_key: device.api_key,
        friendly_id: device.friendly_id,
        image_url,
        message: "Welcome to inkspot".to_string(),
    })
}

/// The device `mac` as setup gives it out, or what the device is told
/// instead (it shows "not registered", sleeps, and asks again).
async fn set_up(
    app: &App,
    gate: &JoinGate,
    client: Option<std::net::IpAddr>,
    mac: &str,
) -> Result<Device, &'static str> {
    let engine = &app.engine;
    let registry = app
        .devices
        .as_ref()
        .ok_or("the server cannot keep devices now; its log says why")?;
    let known = registry.by_mac(mac).await.map_err(|e| {
        tracing::error!(error = %e, "device database");
        "the server cannot read its devices; try again later"
    })?;
    let now = engine.clock().now();
    match known {
        Some(device) if device.last_seen_at.is_none() => Ok(device),
        Some(device) if device.may_pair(now) => {
            // Pairing is used once: the window is not left open for
            // whoever else sends the MAC.
            if let Err(e) = registry.close_pairing(mac).await {
                tracing::warn!(error = %e, "cannot close a pairing window");
            }
            Ok(device)
        }
        Some(device) => {
            // Its key is not given to whoever sends its MAC.
            tracing::warn!(mac = %device.mac, friendly_id = %device.friendly_id, "a set-up device asked for its key again; run `inkspot devices pair {}` to allow it", device.mac);
            engine.metrics().refuse("setup_not_pairing");
            Err(
                "this device is set up already; to set it up again, open pairing on the server: inkspot devices pair <MAC>",
            )
        }
        None => {
            let admitted = may_join(app, gate, client, mac).await;
            let joined = match admitted {
                Some(_held) => registry.join(mac, None, now).await,
                None => return Err("this device is not registered with inkspot"),
            };
            joined.map_err(|e| {
                tracing::error!(error = %e, "device database");
                "the server cannot keep devices now; try again later"
            })
        }
    }
}

/// Whether the unknown `mac` may join: configured, or by `auto_join`
/// within its limits (the guard, held until it has joined). Says why not.
async fn may_join<'a>(
    app: &App,
    gate: &'a JoinGate,
    client: Option<std::net::IpAddr>,
    mac: &str,
) -> Option<Option<tokio::sync::MutexGuard<'a, ()>>> {
    if configured(&app.engine, mac).is_some() {
        return Some(None);
    }
    if !app.config().trmnl.auto_join {
        tracing::info!(%mac, "an unknown device asked to join; add it to [[devices]] or turn on trmnl.auto_join");
        return None;
    }
    match gate.admit(app, client).await {
        Ok(held) => Some(Some(held)),
        Err(refused) => {
            gate.log_refusal(mac, client, refused);
            None
        }
    }
}

/// The device a display call comes from: by `ID` and `Access-Token`,
/// adopting an unknown MAC's token when it may join and the token looks
/// like a key a TRMNL server issued. `join`: the gate and client when the
/// call may join (a display call or a log post); calls that only look pass
/// `None`. `None`: unregistered.
pub(super) async fn authenticate(
    app: &App,
    join: Option<(&JoinGate, Option<std::net::IpAddr>)>,
    headers: &HeaderMap,
) -> Option<Device> {
    let engine = &app.engine;
    let token = header(headers, "access-token").filter(|t| !t.is_empty() && t.len() <= 128)?;
    let registry = app.devices.as_ref()?;
    let Some(mac) = header(headers, "id").and_then(normalize_mac) else {
        return registry.by_key(token).await.ok().flatten();
    };
    match registry.by_mac(&mac).await {
        Ok(Some(device)) => device.has_key(token).then_some(device),
        Ok(None) => {
            let (gate, client) = join?;
            if !looks_like_key(token) && configured(engine, &mac).is_none() {
                // `Access-Token: a` is nobody's key: no device is made of
                // it. Reset, the device asks setup for a key of ours.
                tracing::info!(%mac, "a token that is no server's key was not adopted; reset the device to set it up with a key of this server");
                return None;
            }
            // Firmware older than July 2026 keeps the key of its last
            // server: adopt it rather than strand the device.
            let _held = may_join(app, gate, client, &mac).await?;
            let adopted = registry.join(&mac, Some(token), engine.clock().now()).await;
            adopted.ok().filter(|d| d.has_key(token))
        }
        Err(e) => {
            // The device gets the answer it would have had: its last known
            // state, and the stored images, which need no database.
            let known = registry.last_known(&mac).await.filter(|d| d.has_key(token));
            let fallback = if known.is_some() {
                "answering from its last known state"
            } else {
                "it is not known here, so it is told to come back later"
            };
            tracing::error!(error = %e, %mac, "device database unreachable; {fallback}");
            known
        }
    }
}

fn unregistered() -> Json<DisplayAnswer> {
    Json(DisplayAnswer::unregistered(UNREGISTERED_REFRESH))
}

/// `POST /api/log`: the device's log entries, kept up to `trmnl.keep_logs`.
/// The caller is checked before its body is read, and the body is read
/// only to `trmnl.max_log_bytes`.
async fn log(
    State(app): State<App>,
    axum::Extension(gate): axum::Extension<Arc<JoinGate>>,
    ClientAddr(client): ClientAddr,
    request: axum::extract::Request,
) -> Response {
    let join = Some((gate.as_ref(), client));
    let engine = &app.engine;
    let Some(device) = authenticate(&app, join, request.headers()).await else {
        return (StatusCode::OK, unregistered()).into_response();
    };
    // Firmware keeps a post that fails and sends it again at every wake,
    // so a body that cannot be kept is dropped and acknowledged, not
    // refused: refusing would cost the device a request each wake, for ever.
    let limit = engine.config().trmnl.max_log_bytes.as_u64() as usize;
    let body = axum::body::to_bytes(request.into_body(), limit).await;
    let entries = body
        .as_ref()
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(b).ok())
        .and_then(|v| v.get("logs").and_then(Value::as_array).cloned());
    let Some(entries) = entries else {
        let why = match body {
            Err(_) => format!("over trmnl.max_log_bytes ({limit} bytes), or cut off"),
            Ok(_) => "not JSON of the form {\"logs\": [...]}".to_string(),
        };
        tracing::warn!(device = %device.friendly_id, %why, "a device's log post was dropped");
        engine.metrics().refuse("device_log_dropped");
        return StatusCode::NO_CONTENT.into_response();
    };
    let entries: Vec<String> = entries.iter().map(Value::to_string).collect();
    let now = engine.clock().now();
    if let Some(registry) = &app.devices
        && let Err(e) = registry
            .logbook()
            .add_logs(&device.mac, &entries, now)
            .await
    {
        tracing::warn!(error = %e, "cannot keep a device's log");
    }
    StatusCode::NO_CONTENT.into_response()
}
