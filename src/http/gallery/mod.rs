//! The gallery at `/`: every spot with each preset's image, its data age,
//! failing sources and next refresh; a preview of what a chosen panel
//! model will really show, with the bytes against its limit; and the
//! devices. Server-rendered HTML with a few lines of script that refresh
//! it in place. Behind the admin token when one is configured (`/login`).

mod history;
mod login;
mod view;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use super::ApiError;
use super::query::Params;
use crate::app::App;
use crate::devices::models::{self, Looks, PANELS, Panel};
use crate::engine::Engine;
use crate::render::preview::{Shows, panel_view};
use crate::request::RenderRequest;

/// How often the page refreshes itself.
const REFRESH_MS: u64 = 60_000;

const PAGE: &str = include_str!("page.html");

/// `/`, `/preview` and `/login`.
pub fn routes() -> Router<App> {
    Router::new()
        .route("/", get(page))
        .route("/preview", get(preview))
        .merge(login::routes())
}

/// `?model=&spot=`: the panel to preview as, and one spot to show alone.
#[derive(Deserialize)]
struct PageQuery {
    model: Option<String>,
    spot: Option<String>,
}

fn chosen(model: Option<&str>) -> &'static Panel {
    model.and_then(models::panel).unwrap_or(&PANELS[0])
}

/// `GET /`: the gallery.
async fn page(
    State(app): State<App>,
    Query(query): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    let engine = &app.engine;
    if super::admin::viewer(&app, &headers).await.is_err() {
        return Redirect::to("/login").into_response();
    }
    let panel = chosen(query.model.as_deref());
    let base = super::trmnl::base_url(engine, &headers);
    let nonce = crate::devices::new_key();
    let status = crate::status::collect(&app).await;
    let alone = query.spot.as_deref().and_then(|s| engine.catalog().find(s));
    let mut spots = Vec::new();
    for (index, spot) in status.spots.iter().enumerate() {
        if alone.is_none_or(|a| a == index) {
            let recent = match (&app.history, engine.catalog().spots().get(index)) {
                (Some(keeper), Some(config)) => {
                    use crate::history::History;
                    Some(keeper.recent(config, engine.clock().now()).await)
                }
                _ => None,
            };
            let view = view::spot_view(engine, index, spot, panel, &base, recent.as_deref());
            spots.push(view.await);
        }
    }
    // The list at the top: every spot's state, linked to its section.
    let list: Vec<_> = status
        .spots
        .iter()
        .map(|s| {
            let failed = s
                .sources
                .iter()
                .filter(|x| x.state == crate::status::SourceState::Failed)
                .count();
            let state = match (s.last_fetch_at, failed, &s.template_error) {
                (_, _, Some(_)) => "template fails",
                (None, _, _) => "waiting",
                (Some(_), 0, _) => "ok",
                (Some(_), n, _) if n == s.sources.len() => "no data",
                _ => "partial",
            };
            minijinja::context! { name => s.name, slug => s.slug, state }
        })
        .collect();
    let now = engine.clock().now();
    let devices: Vec<_> = status
        .devices
        .iter()
        .map(|d| view::device_view(d, now))
        .collect();
    let healthy = status.ready && status.degraded.is_empty() && status.problems.is_empty();
    let panels: Vec<_> = PANELS
        .iter()
        .map(|p| minijinja::context! { model => p.model, label => p.label, selected => p.model == panel.model })
        .collect();
    let renders = format!(
        "{} renders waiting, {} drawing",
        status.renders.queued, status.renders.in_flight
    );
    let context = minijinja::context! {
        version => status.version,
        ready => status.ready,
        healthy,
        storage_error => status.storage.error,
        degraded => status.degraded,
        problems => status.problems,
        list,
        alone => alone.is_some(),
        model => panel.model,
        renders,
        panels,
        model_label => panel.label,
        spots,
        devices,
        refresh_ms => REFRESH_MS,
        nonce => &nonce,
        form_token => super::session::cookie(&headers).map(super::session::form_token),
    };
    let mut env = minijinja::Environment::new();
    let html = env
        .add_template("page.html", PAGE)
        .and_then(|()| env.get_template("page.html"))
        .and_then(|t| t.render(context));
    match html {
        Ok(html) => {
            let mut response = Html(html).into_response();
            // Only this page's own style and script run: a value that
            // slipped through escaping could not add a script.
            let policy = format!(
                "default-src 'none'; img-src 'self'; connect-src 'self'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
            );
            if let Ok(policy) = HeaderValue::from_str(&policy) {
                response
                    .headers_mut()
                    .insert(header::CONTENT_SECURITY_POLICY, policy);
            }
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "the gallery page cannot be drawn");
            let message = "the gallery page cannot be drawn; the server log has the details";
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message).into_response()
        }
    }
}

/// The request for spot `index` as `panel` takes it.
pub(super) fn panel_request(engine: &Engine, index: usize, panel: &Panel) -> Option<RenderRequest> {
    let options = crate::config::OutputOptions {
        bits: panel.bits,
        ..Default::default()
    };
    let mut request = engine
        .catalog()
        .request(index, Some(panel.preset), &options)
        .ok()?;
    // The gallery looks; devices ask. Only their asking schedules a variant.
    request.preview = true;
    Some(request)
}

/// `?spot=&model=`: the spot and panel of a preview (`v` only busts caches).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PreviewQuery {
    spot: String,
    model: Option<String>,
    #[serde(rename = "v")]
    _version: Option<String>,
}

/// `GET /preview?spot=&model=`: the spot's image for that panel, as the
/// panel shows it (an RGB PNG).
async fn preview(
    State(app): State<App>,
    Params(query): Params<PreviewQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let engine = &app.engine;
    super::admin::viewer(&app, &headers).await?;
    let panel = chosen(query.model.as_deref());
    let spots: Vec<String> = engine.catalog().spots().iter().map(|s| s.slug()).collect();
    let Some(index) = engine.catalog().find(&query.spot) else {
        let message = format!("no spot `{}`; spots: {}", query.spot, spots.join(", "));
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_spot",
            message,
        ));
    };
    let request = panel_request(engine, index, panel).ok_or_else(|| {
        let message = format!("the `{}` preset is not configured", panel.preset);
        ApiError::new(StatusCode::NOT_FOUND, "unknown_preset", message)
    })?;
    let served = engine
        .image(&request, None)
        .await
        .map_err(|e| ApiError::from_engine(e, spots, 5))?;
    let shows = match panel.looks {
        Looks::Gray(levels) => Shows::Gray {
            levels,
            ink: models::INK,
            paper: models::PAPER,
        },
        Looks::Inks(inks) => Shows::Inks(inks),
    };
    let bytes = served.rendered.bytes.clone();
    let view = engine
        .pipeline()
        .cpu()
        .run(move || panel_view(&bytes, shows))
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(|| {
            let message = "this panel's image cannot be previewed (only PNG images are)";
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "no_preview", message)
        })?;
    let mut response = view.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=60"),
    );
    Ok(response)
}
