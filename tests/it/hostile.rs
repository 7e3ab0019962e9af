//! Hostile clients, over raw sockets and the real binary: sockets that send
//! nothing, half a request or a byte at a time; more connections than the
//! service may hold, under a low `ulimit -n`; devices that guess their way
//! in; and what pages and errors carry.

mod connections;
mod devices;
mod pages;

use std::time::{Duration, Instant};

use crate::common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A site with one spot and `extra` config.
pub(crate) fn site(extra: &str) -> Site {
    let site = Site::new();
    site.write_bar_config("http://127.0.0.1:9/never", extra);
    site
}

pub(crate) fn addr(app: &App) -> String {
    app.url.trim_start_matches("http://").to_string()
}

/// Waits up to `limit` for the server to close `socket`; returns how long
/// that took, or `None` when it was still open at the limit.
pub(crate) async fn closed_within(socket: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        let left = limit.checked_sub(start.elapsed())?;
        match tokio::time::timeout(left, socket.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

/// A TRMNL site with `extra` config, devices joining from loopback counted.
pub(crate) fn trmnl_site(extra: &str) -> Site {
    let site = Site::new();
    std::fs::write(site.path().join("page.html"), report_page("2.5", "TRMNL")).unwrap();
    let spot = bar_spot("Linda Mar", "file://page.html", "");
    site.write_config(&format!(
        "[server.rate_limit]\nloopback = true\nper_minute = 0\n[trmnl]\nauto_join = true\n{extra}\n{spot}"
    ));
    site
}

pub(crate) fn mac(i: usize) -> String {
    format!("AA:BB:CC:DD:{:02X}:{:02X}", i / 256, i % 256)
}

/// Sends `request` on a raw socket; returns the whole answer as text.
pub(crate) async fn raw(app: &App, request: &[u8]) -> String {
    let mut socket = TcpStream::connect(addr(app)).await.unwrap();
    // The server may refuse before it has read all of it.
    let _ = socket.write_all(request).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), socket.read_to_end(&mut out)).await;
    text(&out)
}

pub(crate) const ADMIN: &str = "an-admin-token-for-the-tests";

/// A client that shows redirects rather than following them.
pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}
