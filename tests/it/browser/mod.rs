//! The browser in the pipeline, over real sockets: Debian's Chromium (which
//! `scripts/test` installs) takes pictures of fixture pages on loopback,
//! allowed in the test config, and the service serves them like any spot.
//! Refusals are shown against a second fixture on 127.0.0.2, which no test
//! config allows: its hits must stay at zero.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};

use crate::common::*;

mod options;
mod replicas;
mod spots;

/// Tests that start the browser; `scripts/test` runs them, and a missing
/// Chromium fails them there.
const NEEDS: &str = "needs Chromium (Debian: apt-get install chromium); scripts/test runs it";

/// One browser at a time: several services' Chromiums on two cores, beside
/// the rest of the suite, would time each other out.
pub static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What a fixture site saw.
#[derive(Clone, Default)]
pub struct Seen {
    hits: Arc<Mutex<HashMap<String, usize>>>,
    authorization: Arc<Mutex<Vec<(String, String)>>>,
}

impl Seen {
    pub fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    pub fn total(&self) -> usize {
        self.hits.lock().unwrap().values().sum()
    }

    fn authorization(&self) -> Vec<(String, String)> {
        self.authorization.lock().unwrap().clone()
    }
}

/// A fixture site on `ip`: its base URL and what it saw.
pub async fn fixture(ip: &str, other: &str) -> (String, Seen) {
    let listener = tokio::net::TcpListener::bind(format!("{ip}:0"))
        .await
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = Seen::default();
    let state = (seen.clone(), other.to_string());
    let router = axum::Router::new().fallback(page).with_state(state);
    tokio::spawn(async move { axum::serve(listener, router).await });
    (base, seen)
}

const SHAPES: &str = r#"<!doctype html><html><head><title>Shapes</title></head><body style="margin:0;background:#fff">
<div style="position:absolute;left:100px;top:50px;width:200px;height:100px;background:#000"></div>
<div style="position:absolute;left:500px;top:300px;width:200px;height:100px;background:#808080"></div>
</body></html>"#;

async fn page(State((seen, other)): State<(Seen, String)>, request: Request) -> Response {
    let path = request.uri().path().to_string();
    *seen.hits.lock().unwrap().entry(path.clone()).or_default() += 1;
    if let Some(auth) = request.headers().get("authorization") {
        let value = auth.to_str().unwrap_or_default().to_string();
        seen.authorization
            .lock()
            .unwrap()
            .push((path.clone(), value));
    }
    let html =
        |body: String| ([("content-type", "text/html; charset=utf-8")], body).into_response();
    let box_at = |x: u32, y: u32, w: u32, h: u32, extra: &str| {
        format!(
            r#"<div {extra} style="position:absolute;left:{x}px;top:{y}px;width:{w}px;height:{h}px;background:#000"></div>"#
        )
    };
    match path.as_str() {
        "/shapes" => html(SHAPES.to_string()),
        "/late" => html(format!(
            r#"<html><body style="margin:0"><script>setTimeout(() => document.body.insertAdjacentHTML('beforeend', '{}'), 500)</script></body></html>"#,
            box_at(0, 0, 400, 100, "id=\"late\"").replace('"', "\\\"")
        )),
        "/crop" => html(format!(
            r#"<html><body style="margin:0">{}{}</body></html>"#,
            box_at(0, 0, 50, 50, ""),
            box_at(300, 200, 200, 100, "id=\"card\"")
        )),
        "/banner" => html(format!(
            r#"<html><body style="margin:0">{}</body></html>"#,
            box_at(0, 0, 800, 80, "class=\"cookie-banner\"")
        )),
        "/private" => html(format!(
            r#"<html><body style="margin:0"><img src="{other}/pixel.png" style="position:absolute;left:0;top:0;width:100px;height:100px">{}</body></html>"#,
            box_at(400, 0, 100, 100, "")
        )),
        "/to-private" => (
            [("location", format!("{other}/shapes"))],
            axum::http::StatusCode::FOUND,
        )
            .into_response(),
        "/to-metadata" => (
            [(
                "location",
                "http://169.254.169.254/latest/meta-data/".to_string(),
            )],
            axum::http::StatusCode::FOUND,
        )
            .into_response(),
        "/cookie" => {
            let cookie = request.headers().get("cookie");
            let sent = cookie.is_some_and(|c| c.to_str().unwrap_or("").contains("session=s3cret"));
            let body = if sent { box_at(0, 0, 400, 100, "") } else { String::new() };
            html(format!(r#"<html><body style="margin:0">{body}</body></html>"#))
        }
        "/dark" => html(
            "<html><head><style>body { margin: 0; background: #fff } \
             @media (prefers-color-scheme: dark) { body { background: #000 } }</style></head><body></body></html>"
                .into(),
        ),
        "/zoom" => html(format!(
            r#"<html><body style="margin:0;background:#fff">{}{}</body></html>"#,
            box_at(0, 0, 100, 100, ""),
            box_at(300, 140, 100, 100, "")
        )),
        "/slow" => html(format!(
            r#"<html><body style="margin:0"><script>setTimeout(() => document.body.insertAdjacentHTML('beforeend', '{}'), 2500)</script></body></html>"#,
            box_at(0, 0, 400, 100, "").replace('"', "\\\"")
        )),
        "/tall" => html(format!(
            r#"<html><body style="margin:0;height:1500px;background:#fff">{}</body></html>"#,
            box_at(0, 1400, 800, 100, "")
        )),
        "/text" | "/text-and-grey" => {
            let grey = if path == "/text" { "" } else { r#"<div style="position:absolute;left:500px;top:300px;width:200px;height:100px;background:#808080"></div>"# };
            html(format!(
                r#"<html><body style="margin:0;background:#fff"><div style="position:absolute;left:20px;top:180px;font:40px sans-serif">Linda Mar · 4.2 ft</div>{grey}</body></html>"#
            ))
        }
        "/hang" => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            html(String::new())
        }
        "/pixel.png" => ([("content-type", "image/png")], black_png()).into_response(),
        _ => (
            axum::http::StatusCode::NOT_FOUND,
            html("<h1>Not found</h1>".into()),
        )
            .into_response(),
    }
}

fn black_png() -> Vec<u8> {
    let mut p = tiny_skia::Pixmap::new(4, 4).unwrap();
    p.fill(tiny_skia::Color::BLACK);
    p.encode_png().unwrap()
}

/// A site whose spots are `spots` (TOML), the browser allowed 127.0.0.1.
pub fn browser_site(spots: &str, browser: &str) -> Site {
    let site = Site::new();
    site.write_config(&format!(
        "[browser]\nallow = [\"127.0.0.1\"]\n{browser}\n{spots}"
    ));
    site
}

/// A screenshot spot on `base`'s shapes, so a config has a spot.
pub fn shot_spot_for_tests(base: &str) -> String {
    shot_spot("Shapes", &format!("{base}/shapes"), "", (800, 480))
}

fn shot_spot(name: &str, url: &str, keys: &str, size: (u32, u32)) -> String {
    format!(
        "[[spots]]\nname = \"{name}\"\nwidth = {}\nheight = {}\nscreenshot = {{ url = \"{url}\"{keys} }}\n",
        size.0, size.1
    )
}

async fn image(app: &App, query: &str) -> (u16, Vec<u8>, String) {
    let r = app.get(&format!("/image?{query}"), &[]).await;
    let status = r.status().as_u16();
    let code = r
        .headers()
        .get("x-error-code")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, r.bytes().await.unwrap().to_vec(), code)
}

/// The reason the spot's last render failed, from `/status`.
async fn failure(app: &App, spot: &str) -> String {
    let status: serde_json::Value = app.get("/status", &[]).await.json().await.unwrap();
    let spots = status["spots"].as_array().unwrap();
    let it = spots.iter().find(|s| s["name"] == spot).unwrap();
    it.to_string()
}
