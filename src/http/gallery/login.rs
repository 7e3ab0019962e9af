//! `/login`: a form that takes the admin token and sets a session cookie
//! derived from it, for people viewing the gallery in a browser.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::engine::Engine;
use crate::http::admin::{SESSION_COOKIE, session_value};

/// How long a browser stays signed in.
const SESSION_SECONDS: u64 = 30 * 24 * 3600;

pub(super) fn routes() -> Router<Arc<Engine>> {
    Router::new().route("/login", get(form).post(sign_in))
}

fn page(message: &str) -> Html<String> {
    Html(format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>inkspot: sign in</title>
<style>body{{font:16px system-ui,sans-serif;max-width:24rem;margin:3rem auto;padding:0 1rem}}input,button{{font:inherit;width:100%;margin:.4rem 0;padding:.4rem}}.bad{{color:#a00}}</style>
</head><body><h1>inkspot</h1><p class="bad">{message}</p>
<form method="post" action="/login"><label>Admin token <input type="password" name="token" autocomplete="current-password" autofocus></label>
<button type="submit">Sign in</button></form></body></html>"#
    ))
}

/// `GET /login`: the form; without an admin token there is nothing to sign
/// in to, and it goes to the gallery.
async fn form(State(engine): State<Arc<Engine>>) -> Response {
    if engine.config().server.admin_token.is_none() {
        return Redirect::to("/").into_response();
    }
    page("").into_response()
}

#[derive(Deserialize)]
struct Token {
    token: String,
}

/// `POST /login`: the right token sets the session cookie and goes to the
/// gallery; a wrong one is 401 with the form again.
async fn sign_in(State(engine): State<Arc<Engine>>, Form(sent): Form<Token>) -> Response {
    let Some(token) = &engine.config().server.admin_token else {
        return Redirect::to("/").into_response();
    };
    if !bool::from(sent.token.as_bytes().ct_eq(token.expose().as_bytes())) {
        tracing::info!("a wrong admin token at /login");
        return (
            StatusCode::UNAUTHORIZED,
            page("That is not the admin token."),
        )
            .into_response();
    }
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; Max-Age={SESSION_SECONDS}; HttpOnly; SameSite=Strict",
        session_value(token.expose())
    );
    let mut response = Redirect::to("/").into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}
