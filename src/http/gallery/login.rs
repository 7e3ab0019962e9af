//! `/login` and `/logout`: a form that takes the admin token and starts a
//! session (see [`crate::http::session`]), for people viewing the gallery
//! in a browser, and a form that ends it.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::app::App;
use crate::http::forwarded::Https;
use crate::http::session::{self, Sessions};

/// The largest sign-in or sign-out form read.
const MAX_FORM: usize = 4096;

pub(super) fn routes() -> Router<App> {
    Router::new()
        .route("/login", get(form).post(sign_in))
        .route("/logout", post(sign_out))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_FORM))
}

fn page(message: &str) -> Html<String> {
    Html(format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>inkspot: sign in</title>
<style>body{{font:16px system-ui,sans-serif;max-width:24rem;margin:3rem auto;padding:0 1rem}}input,button{{box-sizing:border-box;font:inherit;width:100%;margin:.4rem 0;padding:.4rem}}.bad{{color:#a00}}</style>
</head><body><h1>inkspot</h1><p class="bad">{message}</p>
<form method="post" action="/login"><label>Admin token <input type="password" name="token" autocomplete="current-password" autofocus></label>
<button type="submit">Sign in</button></form></body></html>"#
    ))
}

/// `GET /login`: the form; without an admin token there is nothing to sign
/// in to, and it goes to the gallery.
async fn form(State(app): State<App>) -> Response {
    let engine = &app.engine;
    if engine.config().server.admin_token.is_none() {
        return Redirect::to("/").into_response();
    }
    page("").into_response()
}

#[derive(Deserialize)]
struct Token {
    token: String,
}

#[derive(Deserialize)]
struct SignOut {
    form_token: String,
}

/// 403 for a form posted from another site.
fn cross_site() -> Response {
    tracing::info!("a form posted from another site was refused");
    let message = "this form may only be sent from inkspot's own pages";
    (StatusCode::FORBIDDEN, page(message)).into_response()
}

/// The form fields of `request`, read only to [`MAX_FORM`] bytes (the
/// routes' body limit).
async fn fields<T: serde::de::DeserializeOwned>(request: Request) -> Option<T> {
    use axum::extract::FromRequest;
    axum::Form::<T>::from_request(request, &())
        .await
        .ok()
        .map(|f| f.0)
}

/// `POST /login`: the right token starts a session and goes to the
/// gallery; a wrong one is 401 with the form again. A form from another
/// site is refused before its body is read.
async fn sign_in(State(app): State<App>, request: Request) -> Response {
    let engine = &app.engine;
    let Some(token) = &engine.config().server.admin_token else {
        return Redirect::to("/").into_response();
    };
    if !session::same_origin(request.headers()) {
        return cross_site();
    }
    let https = request.extensions().get::<Https>().is_some();
    let sent: Option<Token> = fields(request).await;
    let right =
        sent.is_some_and(|s| bool::from(s.token.as_bytes().ct_eq(token.expose().as_bytes())));
    if !right {
        tracing::info!("a wrong admin token at /login");
        let message = "That is not the admin token.";
        return (StatusCode::UNAUTHORIZED, page(message)).into_response();
    }
    let Some(pool) = app.database.as_ref() else {
        let message = "Sign-ins are kept in the database, which is not open; send the token as a bearer token instead.";
        return (StatusCode::SERVICE_UNAVAILABLE, page(message)).into_response();
    };
    let sessions = Sessions::new(pool, token.expose());
    let id = match sessions.create(engine.clock().now()).await {
        Ok(id) => id,
        Err(e) => {
            tracing::error!(error = %e, "cannot keep a gallery session");
            let message = "The sign-in could not be kept; the server log has the details.";
            return (StatusCode::SERVICE_UNAVAILABLE, page(message)).into_response();
        }
    };
    let mut response = Redirect::to("/").into_response();
    if let Some(cookie) = session::set_cookie(&id, https) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

/// `POST /logout`: ends the session the cookie names, when the form
/// carries that session's form token, and clears the cookie.
async fn sign_out(State(app): State<App>, request: Request) -> Response {
    let engine = &app.engine;
    if !session::same_origin(request.headers()) {
        return cross_site();
    }
    let https = request.extensions().get::<Https>().is_some();
    let headers: HeaderMap = request.headers().clone();
    let Some(id) = session::cookie(&headers).map(str::to_string) else {
        return Redirect::to("/login").into_response();
    };
    let sent: Option<SignOut> = fields(request).await;
    let expected = session::form_token(&id);
    if !sent.is_some_and(|s| bool::from(s.form_token.as_bytes().ct_eq(expected.as_bytes()))) {
        return cross_site();
    }
    if let (Some(pool), Some(token)) = (app.database.as_ref(), &engine.config().server.admin_token)
        && let Err(e) = Sessions::new(pool, token.expose()).delete(&id).await
    {
        tracing::warn!(error = %e, "cannot end a gallery session");
    }
    let mut response = Redirect::to("/login").into_response();
    if let Some(cookie) = session::set_cookie("", https) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}
