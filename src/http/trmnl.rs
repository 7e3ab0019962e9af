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
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::config::{DeviceConfig, OutputOptions, SpecialFunction, normalize_mac};
use crate::devices::{Device, Telemetry};
use crate::engine::Engine;

/// How soon a device whose image is being drawn comes back.
const PREPARING_REFRESH: u64 = 60;

/// How soon a device that is not registered polls again.
const UNREGISTERED_REFRESH: u64 = 300;

/// The device routes, each with and without a trailing slash.
pub fn routes() -> Router<Arc<Engine>> {
    let mut router = Router::new();
    for path in [
        "/api/setup",
        "/api/display",
        "/api/current_screen",
        "/api/log",
    ] {
        for p in [path.to_string(), format!("{path}/")] {
            router = match path {
                "/api/setup" => router.route(&p, get(setup)),
                "/api/display" => router.route(&p, get(display)),
                "/api/current_screen" => router.route(&p, get(current_screen)),
                _ => router.route(&p, post(log)),
            };
        }
    }
    router
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// The configured device with `mac`, if any.
fn configured<'a>(engine: &'a Engine, mac: &str) -> Option<&'a DeviceConfig> {
    engine.config().devices.list().iter().find(|d| d.mac == mac)
}

/// `GET /api/setup`: a known MAC gets its key back (never an empty one);
/// an unknown one joins when it is configured or `trmnl.auto_join` is on.
async fn setup(State(engine): State<Arc<Engine>>, headers: HeaderMap) -> Json<Value> {
    let not_registered = |message: &str| {
        Json(
            json!({"status": 404, "api_key": "", "friendly_id": "", "image_url": "", "message": message}),
        )
    };
    let Some(mac) = header(&headers, "id").and_then(normalize_mac) else {
        return not_registered("no MAC address in the ID header");
    };
    let registry = engine.devices();
    let known = match registry.by_mac(&mac).await {
        Ok(known) => known,
        Err(e) => {
            tracing::error!(error = %e, "device database");
            return not_registered("the server cannot read its devices; try again later");
        }
    };
    let device = match known {
        Some(device) => Some(device),
        None if configured(&engine, &mac).is_some() || engine.config().trmnl.auto_join => {
            let joined = registry.join(&mac, None, engine.clock().now()).await;
            joined
                .inspect_err(|e| tracing::error!(error = %e, "device database"))
                .ok()
        }
        None => None,
    };
    let Some(device) = device else {
        tracing::info!(%mac, "an unknown device asked to join; add it to [[devices]] or turn on trmnl.auto_join");
        return not_registered("this device is not registered with inkspot");
    };
    tracing::info!(mac = %device.mac, friendly_id = %device.friendly_id, "device set up");
    let base = base_url(&engine, &headers);
    let image_url = match choose(&engine, &device, &Telemetry::from_headers(&headers)) {
        Some(choice) => format!("{base}{}", choice.path),
        None => String::new(),
    };
    Json(json!({
        "status": 200,
        "api_key": device.api_key,
        "friendly_id": device.friendly_id,
        "image_url": image_url,
        "message": "Welcome to inkspot",
    }))
}

/// The device a display call comes from: by `ID` and `Access-Token`,
/// adopting an unknown MAC's token when it may join. `None`: unregistered.
async fn authenticate(engine: &Engine, headers: &HeaderMap) -> Option<Device> {
    let token = header(headers, "access-token").filter(|t| !t.is_empty() && t.len() <= 128)?;
    let registry = engine.devices();
    let Some(mac) = header(headers, "id").and_then(normalize_mac) else {
        return registry.by_key(token).await.ok().flatten();
    };
    match registry.by_mac(&mac).await {
        Ok(Some(device)) => device.has_key(token).then_some(device),
        Ok(None) if configured(engine, &mac).is_some() || engine.config().trmnl.auto_join => {
            // Firmware older than July 2026 keeps the key of its last
            // server: adopt it rather than strand the device.
            let adopted = registry.join(&mac, Some(token), engine.clock().now()).await;
            adopted.ok().filter(|d| d.has_key(token))
        }
        Ok(None) => None,
        Err(e) => {
            tracing::error!(error = %e, "device database");
            None
        }
    }
}

fn unregistered() -> Json<Value> {
    Json(json!({
        "status": 202,
        "image_url": "",
        "filename": "",
        "refresh_rate": UNREGISTERED_REFRESH,
        "reset_firmware": false,
        "update_firmware": false,
        "firmware_url": null,
        "special_function": "none",
    }))
}

/// `GET /api/display`: the image to show, when to wake, and telemetry kept.
async fn display(State(engine): State<Arc<Engine>>, headers: HeaderMap) -> Json<Value> {
    let Some(mut device) = authenticate(&engine, &headers).await else {
        return unregistered();
    };
    let telemetry = Telemetry::from_headers(&headers);
    let now = engine.clock().now();
    if let Err(e) = engine.devices().seen(&device.mac, &telemetry, now).await {
        tracing::warn!(error = %e, "cannot record a device's telemetry");
    }
    let config = configured(&engine, &device.mac).cloned();
    let bound = config
        .as_ref()
        .map_or(SpecialFunction::default(), |c| c.special_function);
    let double_click = header(&headers, "special_function") == Some("true");
    if double_click && bound == SpecialFunction::RestartPlaylist {
        device.playlist_position = 0;
        let _ = engine.devices().set_position(&device.mac, 0).await;
    }
    let mut answer = screen(&engine, &device, &telemetry, &headers, now).await;
    if double_click {
        answer["action"] = json!(bound.name());
    }
    answer["special_function"] = json!(bound.name());
    Json(answer)
}

/// `GET /api/current_screen`: what the device shows now, without moving
/// its playlist or recording telemetry (the caller may be a mirror).
async fn current_screen(State(engine): State<Arc<Engine>>, headers: HeaderMap) -> Json<Value> {
    let Some(device) = authenticate(&engine, &headers).await else {
        return unregistered();
    };
    let now = engine.clock().now();
    let mut answer = screen(
        &engine,
        &device,
        &Telemetry::from_headers(&headers),
        &headers,
        now,
    )
    .await;
    answer["status"] = json!(200);
    Json(answer)
}

/// `POST /api/log`: the device's log entries, kept up to `trmnl.keep_logs`.
async fn log(State(engine): State<Arc<Engine>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(device) = authenticate(&engine, &headers).await else {
        return (StatusCode::OK, unregistered()).into_response();
    };
    let limit = engine.config().trmnl.max_log_bytes.as_u64() as usize;
    if body.len() > limit {
        let message = format!("a log body is at most {limit} bytes");
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            Json(json!({"error": message})),
        )
            .into_response();
    }
    let entries = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("logs").and_then(Value::as_array).cloned());
    let Some(entries) = entries else {
        let message = "the body must be JSON: {\"logs\": [...]}";
        return (StatusCode::BAD_REQUEST, Json(json!({"error": message}))).into_response();
    };
    let entries: Vec<String> = entries.iter().map(Value::to_string).collect();
    let now = engine.clock().now();
    if let Err(e) = engine.devices().add_logs(&device.mac, &entries, now).await {
        tracing::warn!(error = %e, "cannot keep a device's log");
    }
    StatusCode::NO_CONTENT.into_response()
}

/// What a device shows: a spot, as the output its model takes.
struct Choice {
    index: usize,
    preset: &'static str,
    bits: Option<u8>,
    /// `/image?...` for it.
    path: String,
}

/// The preset for a panel `model`, else for its size; TRMNL OG at last.
fn preset_for(model: Option<&str>, size: Option<(u32, u32)>) -> (&'static str, Option<u8>) {
    match model {
        Some("og_bwry" | "bwry") => ("trmnl-bwry", None),
        Some("reterminal_e1002" | "spectra6") => ("spectra6", None),
        Some("x" | "v2" | "trmnl_x") => ("trmnl-x", None),
        Some("og_plus") => ("trmnl", Some(2)),
        Some(m) if m.starts_with("kindle") || m.starts_with("amazon_kindle") => ("kindle", None),
        Some("og" | "og_png" | "og_gen2") => ("trmnl", None),
        _ => match size {
            Some((1872, 1404)) => ("trmnl-x", None),
            _ => ("trmnl", None),
        },
    }
}

fn choose(engine: &Engine, device: &Device, telemetry: &Telemetry) -> Option<Choice> {
    let config = configured(engine, &device.mac);
    let playlist: Vec<String> = match config.map(|c| c.playlist.clone()).filter(|p| !p.is_empty()) {
        Some(p) => p,
        None if !engine.config().trmnl.default_playlist.is_empty() => {
            engine.config().trmnl.default_playlist.clone()
        }
        None => engine.catalog().spots().iter().map(|s| s.slug()).collect(),
    };
    let entry = playlist.get(
        device
            .playlist_position
            .rem_euclid(playlist.len().max(1) as i64) as usize,
    )?;
    let index = engine.catalog().find(entry)?;
    // The model it sends now, else the one it last sent (a mirror asking
    // for its screen sends none), else the configured one.
    let model = telemetry
        .model
        .as_deref()
        .or(device.model.as_deref())
        .or(config.and_then(|c| c.model.as_deref()));
    let (preset, bits) = preset_for(model, telemetry.size);
    let slug = engine.catalog().spots()[index].slug();
    let extra = bits.map(|b| format!("&bits={b}")).unwrap_or_default();
    Some(Choice {
        index,
        preset,
        bits,
        path: format!("/image?spot={slug}&device={preset}{extra}"),
    })
}

/// The display answer for `device` at `now`.
async fn screen(
    engine: &Arc<Engine>,
    device: &Device,
    telemetry: &Telemetry,
    headers: &HeaderMap,
    now: DateTime<Utc>,
) -> Value {
    let base = base_url(engine, headers);
    let Some(choice) = choose(engine, device, telemetry) else {
        return json!({"status": 0, "image_url": "", "filename": "", "refresh_rate": PREPARING_REFRESH});
    };
    let options = OutputOptions {
        bits: choice.bits,
        ..OutputOptions::default()
    };
    let request = engine
        .catalog()
        .request(choice.index, Some(choice.preset), &options);
    let served = match request {
        Ok(request) => engine.peek(&request).await,
        Err(_) => None,
    };
    let (filename, refresh) = match &served {
        Some(served) => {
            let r = &served.rendered;
            let slug = engine.catalog().spots()[choice.index].slug();
            let name = filename(&slug, &r.meta.checksum.hex(), r.meta.rendered_at);
            (name, refresh_rate(engine, device, choice.index, now))
        }
        None => (format!("preparing-{}", now.timestamp()), PREPARING_REFRESH),
    };
    json!({
        "status": 0,
        "image_url": format!("{base}{}", choice.path),
        "filename": filename,
        "refresh_rate": refresh,
        "reset_firmware": false,
        "update_firmware": false,
        "firmware_url": null,
    })
}

/// `<prefix>-<6 hex of the content>-<unix render time>`, at most 31
/// characters: it changes only when the bytes do, so the panel is not
/// redrawn for nothing.
pub fn filename(slug: &str, hex: &str, rendered_at: DateTime<Utc>) -> String {
    let prefix: String = slug
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(7)
        .collect();
    let prefix = if prefix.is_empty() {
        "inkspot".to_string()
    } else {
        prefix
    };
    format!("{prefix}-{}-{}", &hex[..6], rendered_at.timestamp())
}

/// Seconds until the device should wake: until the spot's next image is
/// expected (or its refresh), stretched when the battery is low, bounded
/// by config, and through quiet hours to their end. Never 0.
fn refresh_rate(engine: &Engine, device: &Device, index: usize, now: DateTime<Utc>) -> u64 {
    let trmnl = &engine.config().trmnl;
    let config = configured(engine, &device.mac);
    let fallback = config.and_then(|c| c.refresh).unwrap_or(trmnl.refresh);
    let mut secs = match engine.next_image_at(index) {
        Some(at) => (at - now).to_std().unwrap_or_default().as_secs() + jitter(),
        None => fallback.as_secs(),
    };
    if device.battery_percent.is_some_and(|p| p < 20) {
        secs *= 2;
    }
    secs = secs.clamp(
        trmnl.min_refresh.as_secs().max(1),
        trmnl.max_refresh.as_secs().max(1),
    );
    if let Some(config) = config
        && let Some(quiet) = config.quiet_hours
    {
        let tz = config.timezone.unwrap_or(chrono_tz::UTC);
        let local = now.with_timezone(&tz).time();
        if quiet.contains(local) {
            let end = (quiet.end - local).num_seconds().rem_euclid(86_400) as u64;
            secs = end.clamp(1, 86_400);
        }
    }
    secs.max(1)
}

/// A few seconds, so devices told the same time do not all wake at once.
fn jitter() -> u64 {
    rand::random_range(1..=30)
}

/// Where the device reaches this server: `trmnl.public_url`, else the
/// `Host` of its request over HTTP.
fn base_url(engine: &Engine, headers: &HeaderMap) -> String {
    if let Some(url) = &engine.config().trmnl.public_url {
        return url.trim_end_matches('/').to_string();
    }
    let host = header(headers, "host")
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("localhost");
    format!("http://{host}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[test]
    fn filenames_fit_the_firmware_and_follow_the_bytes() {
        let at: DateTime<Utc> = "2026-11-23T10:00:00Z".parse().unwrap();
        let name = filename("linda-mar", "ab12cdef", at);
        assert_eq!(name, "lindama-ab12cd-1795428000");
        assert!(name.len() <= 31);
        assert_ne!(name, filename("linda-mar", "ab12ce00", at));
    }

    #[rstest]
    #[case(Some("og"), None, ("trmnl", None))]
    #[case(Some("og_plus"), None, ("trmnl", Some(2)))]
    #[case(Some("og_bwry"), None, ("trmnl-bwry", None))]
    #[case(Some("reterminal_e1002"), None, ("spectra6", None))]
    #[case(Some("x"), None, ("trmnl-x", None))]
    #[case(None, Some((1872, 1404)), ("trmnl-x", None))]
    #[case(Some("amazon_kindle_pw5"), None, ("kindle", None))]
    #[case(None, None, ("trmnl", None))]
    fn models_choose_their_output(
        #[case] model: Option<&str>,
        #[case] size: Option<(u32, u32)>,
        #[case] expect: (&str, Option<u8>),
    ) {
        assert_eq!(preset_for(model, size), expect);
    }
}
