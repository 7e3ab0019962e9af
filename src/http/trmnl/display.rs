//! `/api/display`: where a wake turns the playlist, answers the
//! double-click, keeps telemetry and meets the per-device rate limit; and
//! `/api/current_screen`, which only looks.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::join::{ClientAddr, JoinGate};
use super::{authenticate, base_url, header, unregistered};
use crate::app::App;
use crate::config::TrmnlConfig;
use crate::devices::answer::DisplayAnswer;
use crate::devices::screen::screen;
use crate::devices::wake::Wake;
use crate::devices::{Telemetry, sensors};

/// Display calls per device, a token bucket each. The table holds only
/// devices that authenticated, so it is as large as the registry at most.
pub struct DeviceLimiter(Option<DefaultKeyedRateLimiter<String>>);

impl DeviceLimiter {
    /// `trmnl.rate_limit` calls a minute, in a burst too; `0` is no limit.
    pub fn new(config: &TrmnlConfig) -> Arc<Self> {
        let limiter = NonZeroU32::new(config.rate_limit)
            .map(|n| RateLimiter::keyed(Quota::per_minute(n).allow_burst(n)));
        Arc::new(Self(limiter))
    }

    /// `Ok` when `mac` may call now, else how long it should wait.
    fn check(&self, mac: &str) -> Result<(), Duration> {
        let Some(limiter) = &self.0 else {
            return Ok(());
        };
        limiter
            .check_key(&mac.to_string())
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

/// `GET /api/display`: the image to show, when to wake, and telemetry kept.
pub(super) async fn display(
    State(app): State<App>,
    Extension(limiter): Extension<Arc<DeviceLimiter>>,
    Extension(gate): Extension<Arc<JoinGate>>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
) -> Response {
    let engine = &app.engine;
    let join = Some((gate.as_ref(), client));
    let Some(mut device) = authenticate(&app, join, &headers).await else {
        return unregistered().into_response();
    };
    let wake = Wake {
        engine,
        devices: app.devices.as_ref(),
        telemetry: Telemetry::from_headers(&headers),
        base: base_url(engine, &headers),
        now: engine.clock().now(),
    };
    if let Err(wait) = limiter.check(&device.mac) {
        // The firmware reads a 429's JSON: the same picture (so the panel
        // is untouched) and a sleep past the limit.
        tracing::info!(mac = %device.mac, "a device called too often");
        engine.metrics().refuse("device_rate_limited");
        let mut answer = wake.screen(&device).await.answer;
        let min = engine.config().trmnl.min_refresh.as_secs().max(1);
        answer.refresh_rate = wait.as_secs().max(min) + 1;
        return (StatusCode::TOO_MANY_REQUESTS, Json(answer)).into_response();
    }
    engine.metrics().device_wake(wake.telemetry.wake_reason);
    let double_click = header(&headers, "special_function") == Some("true");
    let mut screen = wake.answer(&mut device, double_click).await;
    // The firmware reads an offer only from a call without a double-click:
    // one made then would be ignored, and judged a failure.
    if let (Some(firmware), false) = (&app.firmware, double_click) {
        wake.offer_firmware(firmware, &device, &mut screen.answer)
            .await;
    }
    wake.record(&device, &screen).await;
    keep_sensors(&app, &device, &headers, wake.now).await;
    Json(screen.answer).into_response()
}

/// Keeps the readings of the `SENSORS` header in the device's history
/// (`device:<friendly id>`). A reading that does not parse is left out,
/// and said once a device, so a device that always sends it does not fill
/// the log.
async fn keep_sensors(
    app: &App,
    device: &crate::devices::Device,
    headers: &HeaderMap,
    now: chrono::DateTime<chrono::Utc>,
) {
    let Some(sent) = header(headers, "sensors") else {
        return;
    };
    let (readings, problems) = sensors::parse(sent, now);
    if let Some(problem) = problems.first()
        && first_time(&device.mac)
    {
        tracing::warn!(mac = %device.mac, %problem, "a device sent a SENSORS reading that does not parse; it is left out (said once a device)");
    }
    if let (Some(keeper), false) = (&app.history, readings.is_empty()) {
        keeper
            .keep_device(&device.friendly_id, sensors::batch(&readings), now)
            .await;
    }
}

/// Whether `mac` is told of for the first time (at most 4,096 remembered).
fn first_time(mac: &str) -> bool {
    static TOLD: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut told = TOLD
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if told.iter().any(|m| m == mac) || told.len() >= 4096 {
        return false;
    }
    told.push(mac.to_string());
    true
}

/// `GET /api/current_screen`: what the device shows now, without moving
/// its playlist or recording telemetry (the caller may be a mirror).
pub(super) async fn current_screen(
    State(app): State<App>,
    headers: HeaderMap,
) -> Json<DisplayAnswer> {
    let engine = &app.engine;
    let Some(device) = authenticate(&app, None, &headers).await else {
        return unregistered();
    };
    let now = engine.clock().now();
    let telemetry = Telemetry::from_headers(&headers);
    let base = base_url(engine, &headers);
    let mut answer = screen(engine, &device, &telemetry, &base, now).await.answer;
    answer.status = 200;
    Json(answer)
}
