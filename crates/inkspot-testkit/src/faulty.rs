//! A fixture upstream that misbehaves on purpose, on a random loopback port:
//! it hangs, trickles, sends 100 MB, loops redirects, resets connections
//! mid-body and sends garbage, and it counts how many requests it holds at
//! once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use futures_util::stream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::report_page;

/// How many requests the fixture holds at once, and the most it ever held.
#[derive(Default)]
pub struct Gauge {
    now: AtomicUsize,
    max: AtomicUsize,
    total: AtomicUsize,
}

impl Gauge {
    /// The most requests held at once so far.
    pub fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }

    /// Requests seen so far.
    pub fn total(&self) -> usize {
        self.total.load(Ordering::SeqCst)
    }

    fn enter(self: &Arc<Self>) -> Held {
        self.total.fetch_add(1, Ordering::SeqCst);
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
        Held(self.clone())
    }
}

struct Held(Arc<Gauge>);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The running fixture.
pub struct Faulty {
    /// `http://127.0.0.1:PORT`. Paths:
    /// - `/ok/WAVE`: a report page with that wave height;
    /// - `/slow/MS/WAVE`: the same after MS milliseconds;
    /// - `/hang`: headers never come;
    /// - `/trickle`: a 200 whose body comes one byte every 200 ms, for ever;
    /// - `/huge`: a 200 streaming 100 MB, with no length announced;
    /// - `/loop`: a redirect to itself;
    /// - `/chain/N`: N redirects, then a report page;
    /// - `/status/CODE`: an empty answer with that status;
    /// - `/garbage`: bytes that are neither UTF-8 nor HTML;
    /// - `/truncated`: a report page cut off in the middle of a tag.
    pub url: String,
    /// A raw socket that sends headers and part of the body, then resets
    /// the connection.
    pub reset_url: String,
    /// Requests held by `/slow` (and `/ok`).
    pub gauge: Arc<Gauge>,
}

impl Faulty {
    pub async fn start() -> Self {
        let gauge = Arc::new(Gauge::default());
        let app = Router::new()
            .route("/ok/{wave}", get(ok))
            .route("/slow/{ms}/{wave}", get(slow))
            .route("/hang", get(hang))
            .route("/trickle", get(trickle))
            .route("/huge", get(huge))
            .route("/loop", get(|| async { Redirect::temporary("/loop") }))
            .route("/chain/{n}", get(chain))
            .route("/status/{code}", get(status))
            .route("/garbage", get(garbage))
            .route("/truncated", get(truncated))
            .with_state(gauge.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let reset_url = start_resetter().await;
        Self {
            url,
            reset_url,
            gauge,
        }
    }
}

async fn ok(State(gauge): State<Arc<Gauge>>, Path(wave): Path<String>) -> String {
    let _held = gauge.enter();
    report_page(&wave, "Linda Mar")
}

async fn slow(State(gauge): State<Arc<Gauge>>, Path((ms, wave)): Path<(u64, String)>) -> String {
    let _held = gauge.enter();
    tokio::time::sleep(Duration::from_millis(ms)).await;
    report_page(&wave, "Linda Mar")
}

async fn hang() -> &'static str {
    tokio::time::sleep(Duration::from_secs(3600)).await;
    "too late"
}

async fn trickle() -> Response {
    let body = stream::unfold((), |()| async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        Some((Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"<")), ()))
    });
    Body::from_stream(body).into_response()
}

async fn huge() -> Response {
    const CHUNK: usize = 64 * 1024;
    let chunks = 100 * 1024 * 1024 / CHUNK;
    let body = stream::iter(
        (0..chunks).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'a'; CHUNK]))),
    );
    // Chunked, with no length announced: only counting what arrives stops it.
    Body::from_stream(body).into_response()
}

async fn chain(Path(n): Path<u32>) -> Response {
    if n == 0 {
        report_page("2.0", "after redirects").into_response()
    } else {
        Redirect::temporary(&format!("/chain/{}", n - 1)).into_response()
    }
}

async fn status(Path(code): Path<u16>) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::IM_A_TEAPOT)
}

async fn garbage() -> Vec<u8> {
    (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8 | 0x80)
        .collect()
}

async fn truncated() -> String {
    let page = report_page("4.5", "Linda Mar");
    page[..page.find("<span").unwrap() + 8].to_string()
}

/// A listener that answers every request with the start of a 200 and then
/// resets the connection (SO_LINGER 0 makes close send RST).
async fn start_resetter() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/reset", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let head =
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 100000\r\n\r\n";
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(b"<html><body><h1>Linda").await;
                let _ = socket.flush().await;
                tokio::time::sleep(Duration::from_millis(50)).await;
                let _ = socket.set_zero_linger();
                drop(socket);
            });
        }
    });
    url
}
