//! The browser alone, over real sockets: Chromium takes pictures of a
//! fixture site on loopback through the address guard.

use std::time::Duration;

use inkspot_browser::Browser;
use inkspot_core::config::{BrowserConfig, WaitFor};
use inkspot_core::shot::{Camera, Page, ShotError, ShotRequest};

async fn site(pages: &'static [(&'static str, &'static str)]) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                break;
            };
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = vec![0u8; 8192];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = head.split(' ').nth(1).unwrap_or("/").to_string();
                let body = pages
                    .iter()
                    .find(|(p, _)| *p == path)
                    .map_or("not found", |(_, b)| *b);
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(answer.as_bytes()).await;
            });
        }
    });
    base
}

fn config() -> BrowserConfig {
    BrowserConfig {
        allow: vec!["127.0.0.1".into()],
        timeout: Duration::from_secs(5),
        ..BrowserConfig::default()
    }
}

fn request(url: &str) -> ShotRequest {
    ShotRequest::new(Page::Url(url.parse().unwrap()), 400, 200)
}

const LATE: &str = r#"<html><body style="margin:0"><script>setTimeout(() => { const d = document.createElement('div'); d.id = 'late'; document.body.appendChild(d); }, 500)</script></body></html>"#;

#[tokio::test]
#[ignore = "needs Chromium (Debian: apt-get install chromium); scripts/test runs it"]
async fn wait_for_sees_an_element_a_script_adds_later() {
    let base = site(&[("/late", LATE)]).await;
    let browser = Browser::new(&config());
    let mut shot = request(&format!("{base}/late"));
    shot.wait_for = Some(WaitFor::Selector("#late".into()));
    let taken = browser.shoot(shot.clone()).await;
    assert!(taken.is_ok(), "{taken:?}");
    shot.wait_for = Some(WaitFor::Selector("#never".into()));
    let failed = browser.shoot(shot).await;
    assert!(matches!(failed, Err(ShotError::WaitFor(..))), "{failed:?}");
    browser.shutdown().await;
}
