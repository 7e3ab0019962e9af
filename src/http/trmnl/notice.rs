//! The pictures a display answer points a device at besides its spots:
//! `/api/identify` (its name, friendly id and MAC, for the `identify`
//! double-click) and `/api/sleep_screen` (asleep or paused, until when),
//! each drawn for the device's panel and fetched with its `ID` and
//! `Access-Token`, or with the `?device=&token=` its display answer gave
//! (firmware that fetches a picture without its headers).

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header as h};
use axum::response::{IntoResponse, Response};

use super::authenticate;
use crate::app::App;
use crate::devices::screen::{choose, configured};
use crate::devices::{Device, Telemetry, sleep};

/// `?device=<friendly id>&token=<its token for this picture>`.
#[derive(serde::Deserialize)]
pub(super) struct Signed {
    device: Option<String>,
    token: Option<String>,
}

/// `GET /api/identify`: the identify picture.
pub(super) async fn identify(
    State(app): State<App>,
    Query(signed): Query<Signed>,
    headers: HeaderMap,
) -> Response {
    picture(&app, &headers, &signed, "identify", |app, device, shows| {
        let name = configured(&app.engine, &device.mac)
            .and_then(|c| c.name.clone())
            .unwrap_or_else(|| "This TRMNL".to_string());
        let text = format!(
            "friendly id {}\nMAC {}\nshows {shows}",
            device.friendly_id, device.mac
        );
        (name, text)
    })
    .await
}

/// `GET /api/sleep_screen`: the sleep picture, saying until when the
/// device sleeps, in its time zone.
pub(super) async fn sleep_screen(
    State(app): State<App>,
    Query(signed): Query<Signed>,
    headers: HeaderMap,
) -> Response {
    picture(&app, &headers, &signed, "sleep_screen", |app, device, _| {
        let now = app.engine.clock().now();
        sleep::picture_text(&app.engine, device, now)
    })
    .await
}

/// The device `signed` names, when its token for `what` is right.
async fn by_token(app: &App, signed: &Signed, what: &str) -> Option<Device> {
    let (id, token) = (signed.device.as_deref()?, signed.token.as_deref()?);
    let list = app.devices.as_ref()?.list().await.ok()?;
    let device = list
        .into_iter()
        .find(|d| d.friendly_id.eq_ignore_ascii_case(id))?;
    device.has_url_token(what, token).then_some(device)
}

/// The notice picture `say` words for the device the headers name (given
/// the name of the spot it shows), for its panel; 401 without its key.
async fn picture(
    app: &App,
    headers: &HeaderMap,
    signed: &Signed,
    what: &'static str,
    say: impl FnOnce(&App, &Device, &str) -> (String, String),
) -> Response {
    let engine = &app.engine;
    let refused = |status: StatusCode, message: &str| {
        let error = super::super::ApiError::new(status, what, message.to_string());
        error.into_response()
    };
    let device = match authenticate(app, None, headers).await {
        Some(device) => Some(device),
        None => by_token(app, signed, what).await,
    };
    let Some(device) = device else {
        return refused(
            StatusCode::UNAUTHORIZED,
            "send the device's ID and Access-Token headers, or the device and token its display answer gave",
        );
    };
    let telemetry = Telemetry::from_headers(headers);
    let request = choose(engine, &device, &telemetry).and_then(|c| c.request(engine));
    let Some(request) = request else {
        return refused(StatusCode::NOT_FOUND, "this device has no spot to show");
    };
    let (title, text) = say(app, &device, &request.spot.name);
    let Some(picture) = engine.notice(&request, &title, &text).await else {
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
