//! `GET /firmware/{file}`: a firmware image of `trmnl.firmware_dir`, from
//! memory with its length, for the `firmware_url` a display call gave.
//! `?device=<friendly id>&token=<its token>`, as the offer gave them,
//! marks that device's pending offer downloaded, so a failed update can say
//! whether the image was ever fetched; without the right token nothing is
//! recorded.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header as h};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::join::ClientAddr;
use crate::app::App;
use crate::http::ApiError;
use crate::http::query::Params;

/// `?device=`: the device the offer was for.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DownloadQuery {
    device: Option<String>,
    token: Option<String>,
}

/// The image named `file`, or 404 naming the folder's images.
pub(super) async fn download(
    State(app): State<App>,
    Path(file): Path<String>,
    Params(query): Params<DownloadQuery>,
    ClientAddr(client): ClientAddr,
) -> Response {
    let found = app
        .firmware
        .as_ref()
        .and_then(|f| Some((f, f.catalog().get(&file)?.clone())));
    let Some((firmware, image)) = found else {
        let message = match &app.firmware {
            None => {
                "no firmware is served: set trmnl.firmware_dir or trmnl.firmware_latest".to_string()
            }
            Some(f) => {
                let catalog = f.catalog();
                let names: Vec<&str> = catalog.images().iter().map(|i| i.file.as_str()).collect();
                let file = crate::text::ellipsize(&file, 60);
                format!("no firmware image `{file}`; images: {}", names.join(", "))
            }
        };
        return ApiError::new(StatusCode::NOT_FOUND, "not_found", message).into_response();
    };
    firmware.count_download();
    let device = query
        .device
        .as_deref()
        .map(|d| crate::text::ellipsize(d, 16));
    tracing::info!(file = %image.file, version = %image.version, bytes = image.bytes.len(), ?client, device = device.as_deref().unwrap_or("-"), "firmware image downloaded");
    if let Some(device) = offered_to(&app, &query).await
        && let Some(registry) = &app.devices
    {
        let now = app.engine.clock().now();
        if let Err(e) = registry.updates().downloaded(&device.mac, now).await {
            tracing::warn!(error = %e, "cannot record a firmware download");
        }
    }
    let length = image.bytes.len();
    let mut response = Response::new(Body::from(image.bytes));
    let headers = response.headers_mut();
    headers.insert(
        h::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(h::CONTENT_LENGTH, HeaderValue::from(length));
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", image.sha256)) {
        headers.insert(h::ETAG, etag);
    }
    headers.insert(h::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The device the download's `device` and `token` name, when the token is
/// the one its offer gave.
async fn offered_to(app: &App, query: &DownloadQuery) -> Option<crate::devices::Device> {
    let (id, token) = (query.device.as_deref()?, query.token.as_deref()?);
    let list = app.devices.as_ref()?.list().await.ok()?;
    let device = list
        .into_iter()
        .find(|d| d.friendly_id.eq_ignore_ascii_case(id))?;
    if !device.has_url_token("firmware", token) {
        tracing::info!(device = %device.friendly_id, "a firmware download with a wrong token: not recorded as the device's");
        return None;
    }
    Some(device)
}
