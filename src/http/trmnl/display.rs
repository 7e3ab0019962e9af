//! `/api/display`: where a wake turns the playlist, answers the
//! double-click, keeps telemetry and meets the per-device rate limit; and
//! `/api/current_screen` and `/api/identify`, which only look.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header as h};
use axum::response::{IntoResponse, Response};
use axum::{Json, body::Body};
use chrono::{DateTime, Utc};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::answer::DisplayAnswer;
use super::join::{ClientAddr, JoinGate};
use super::screen::{Screen, choose, local_time, playlist, screen};
use super::{authenticate, configured, header, unregistered};
use crate::app::App;
use crate::config::{SpecialFunction, TrmnlConfig};
use crate::devices::Registry;
use crate::devices::playlist::{Turn, after, first, on_wake};
use crate::devices::{Device, Shown, Telemetry};
use crate::engine::Engine;

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

/// One display call: what every step of its answer needs.
struct Wake<'a> {
    engine: &'a Arc<Engine>,
    devices: Option<&'a Registry>,
    telemetry: Telemetry,
    headers: &'a HeaderMap,
    now: DateTime<Utc>,
}

impl Wake<'_> {
    /// The answer that shows `device`'s current item.
    async fn screen(&self, device: &Device) -> Screen {
        screen(self.engine, device, &self.telemetry, self.headers, self.now).await
    }

    /// Moves `device` on in its playlist when the current item has had its
    /// time and the next one's image is drawn (asking starts its render);
    /// until then, the current item again.
    async fn turn(&self, device: &mut Device) -> Screen {
        let items = playlist(self.engine, device);
        let local = local_time(self.engine, device, self.now);
        let turn = on_wake(&items, device.place(), self.now, local);
        let next_index = match turn {
            Turn::Next(j) => j,
            // Asking for the next item's image now has it drawn by its turn.
            Turn::Stay => device.place().index(items.len()) + 1,
        };
        if items.len() > 1 {
            let mut next = device.clone();
            next.playlist_position = (next_index % items.len()) as i64;
            next.playlist_since = None;
            let candidate = self.screen(&next).await;
            if matches!(turn, Turn::Next(_)) && candidate.ready {
                *device = next;
            }
        }
        let shown = self.show(device).await;
        if shown.failed.is_none() {
            return shown;
        }
        // Its item cannot be drawn: on to the next one that can, so one
        // spot without data does not hold the panel. With none, the error
        // picture, under a name that holds while the failure does.
        for j in after(&items, device.place(), local) {
            let mut next = device.clone();
            next.playlist_position = j as i64;
            next.playlist_since = None;
            if self.screen(&next).await.ready {
                *device = next;
                return self.show(device).await;
            }
        }
        shown
    }

    /// The answer for the item `device` is on, which starts its time on
    /// the panel when this is the first wake that shows its image.
    async fn show(&self, device: &mut Device) -> Screen {
        let shown = self.screen(device).await;
        if device.playlist_since.is_none()
            && shown.ready
            && let Some(registry) = self.devices
        {
            device.playlist_since = Some(self.now.to_rfc3339());
            let position = device.playlist_position;
            let _ = registry.set_place(&device.mac, position, self.now).await;
        }
        shown
    }

    /// Records the call's telemetry and what it was given, in `screen`.
    async fn record(&self, device: &Device, screen: &Screen) {
        let Some(registry) = self.devices else {
            return;
        };
        let secs = screen.answer.refresh_rate;
        let shown = Shown {
            expected_at: Some(self.now + chrono::Duration::seconds(secs as i64)),
            image_bytes: screen.bytes,
            image_cap: screen.cap,
            trouble: screen
                .failed
                .as_ref()
                .map(|why| format!("no playlist item can be drawn; showing {why}")),
        };
        let seen = registry
            .logbook()
            .seen(&device.mac, &self.telemetry, &shown, self.now);
        if let Err(e) = seen.await {
            tracing::warn!(error = %e, "cannot record a device's telemetry");
        }
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
        headers: &headers,
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
    let bound =
        configured(engine, &device.mac).map_or(SpecialFunction::default(), |c| c.special_function);
    let double_click = header(&headers, "special_function") == Some("true");
    let mut screen = match (double_click, bound) {
        (true, SpecialFunction::Sleep) => {
            let mut screen = wake.screen(&device).await;
            screen.answer.refresh_rate = engine.config().trmnl.sleep.as_secs().max(1);
            screen
        }
        (true, SpecialFunction::Identify) => {
            Screen::without_image(identify_answer(engine, &device, &headers, wake.now))
        }
        (true, SpecialFunction::RestartPlaylist) => {
            let items = playlist(engine, &device);
            let local = local_time(engine, &device, wake.now);
            device.playlist_position = first(&items, local) as i64;
            device.playlist_since = None;
            wake.show(&mut device).await
        }
        _ => wake.turn(&mut device).await,
    };
    wake.record(&device, &screen).await;
    if double_click {
        screen.answer.action = Some(bound.name());
    }
    screen.answer.special_function = Some(bound.name());
    Json(screen.answer).into_response()
}

/// The double-click `identify`: a picture with the device's name, friendly
/// id and MAC, shown until the next wake a minute later.
fn identify_answer(
    engine: &Engine,
    device: &Device,
    headers: &HeaderMap,
    now: DateTime<Utc>,
) -> DisplayAnswer {
    let base = super::screen::base_url(engine, headers);
    DisplayAnswer::show(
        format!("{base}/api/identify"),
        format!("identify-{}-{}", device.friendly_id, now.timestamp()),
        engine.config().trmnl.min_refresh.as_secs().max(1),
    )
}

/// `GET /api/identify`: the identify picture for the device whose `ID`
/// and `Access-Token` it carries, drawn for its panel.
pub(super) async fn identify(State(app): State<App>, headers: HeaderMap) -> Response {
    let engine = &app.engine;
    let refused = |status: StatusCode, message: &str| {
        let error = super::super::ApiError::new(status, "identify", message.to_string());
        error.into_response()
    };
    let Some(device) = authenticate(&app, None, &headers).await else {
        return refused(
            StatusCode::UNAUTHORIZED,
            "send the device's ID and Access-Token headers",
        );
    };
    let telemetry = Telemetry::from_headers(&headers);
    let request = choose(engine, &device, &telemetry).and_then(|c| c.request(engine));
    let Some(request) = request else {
        return refused(StatusCode::NOT_FOUND, "this device has no spot to show");
    };
    let name = configured(engine, &device.mac)
        .and_then(|c| c.name.clone())
        .unwrap_or_else(|| "This TRMNL".to_string());
    let text = format!(
        "friendly id {}\nMAC {}\nshows {}",
        device.friendly_id, device.mac, request.spot.name
    );
    let Some(picture) = engine.notice(&request, &name, &text).await else {
        return refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "the picture could not be drawn; the server log has the details",
        );
    };
    let head = picture.head();
    let mut response = Response::new(Body::from(picture.bytes.clone()));
    let headers = response.headers_mut();
    headers.insert(h::CONTENT_TYPE, head.content_type.clone());
    headers.insert(h::CONTENT_LENGTH, head.content_length.clone());
    headers.insert(h::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
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
    let mut answer = screen(engine, &device, &telemetry, &headers, now)
        .await
        .answer;
    answer.status = 200;
    Json(answer)
}
