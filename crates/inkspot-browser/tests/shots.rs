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

/// One browser at a time: several on two cores would time each other out.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn config() -> BrowserConfig {
    BrowserConfig {
        allow: vec!["127.0.0.1".into()],
        timeout: Duration::from_secs(15),
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
    let _one = ONE_AT_A_TIME.lock().await;
    let base = site(&[("/late", LATE)]).await;
    // Room for a first picture on a busy machine (a browser to start); the
    // selector that never appears is given up on at the limit.
    let browser = Browser::new(&BrowserConfig {
        timeout: Duration::from_secs(40),
        ..config()
    });
    let mut shot = request(&format!("{base}/late"));
    shot.wait_for = Some(WaitFor::Selector("#late".into()));
    let taken = browser.shoot(shot.clone()).await;
    assert!(taken.is_ok(), "{taken:?}");
    browser.shutdown().await;
    let quick = Browser::new(&BrowserConfig {
        timeout: Duration::from_secs(5),
        ..config()
    });
    shot.wait_for = Some(WaitFor::Selector("#never".into()));
    let failed = quick.shoot(shot).await;
    assert!(
        matches!(&failed, Err(ShotError::WaitFor(css, _)) if css == "#never"),
        "{failed:?}"
    );
    quick.shutdown().await;
}

const SLOW: &str = r#"<html><body style="margin:0"><script>setTimeout(() => { window.ready = true; }, 1500)</script><div style="width:100px;height:100px;background:#000"></div></body></html>"#;

const PLAIN: &str = r#"<html><body style="margin:0"><div style="width:100px;height:100px;background:#000"></div></body></html>"#;

/// Grows by about 400 MB a second until it is stopped.
const HOG: &str = r#"<html><body><script>const kept = []; setInterval(() => { for (let i = 0; i < 50; i++) kept.push(new Array(1e6).fill(i)); }, 50);</script></body></html>"#;

#[tokio::test]
#[ignore = "needs Chromium (Debian: apt-get install chromium); scripts/test runs it"]
async fn a_browser_killed_during_a_picture_is_started_again_and_the_picture_taken() {
    let _one = ONE_AT_A_TIME.lock().await;
    let base = site(&[("/slow", SLOW)]).await;
    let browser = Browser::new(&config());
    let mut shot = request(&format!("{base}/slow"));
    shot.wait_for = Some(WaitFor::Script {
        js: "window.ready === true".into(),
    });
    let taking = tokio::spawn({
        let browser = browser.clone();
        async move { browser.shoot(shot).await }
    });
    let pid = loop {
        if let Some(pid) = browser.status().pid {
            break pid;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    tokio::time::sleep(Duration::from_millis(700)).await;
    std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    let taken = taking.await.unwrap();
    assert!(taken.is_ok(), "{taken:?}");
    let status = browser.status();
    assert_eq!(status.restarts, 1, "{status:?}");
    assert_ne!(status.pid, Some(pid));
    assert_eq!(status.shots_ok, 1);
    browser.shutdown().await;
}

#[tokio::test]
#[ignore = "needs Chromium (Debian: apt-get install chromium); scripts/test runs it"]
async fn a_page_that_allocates_without_end_is_killed_and_the_next_page_is_drawn() {
    let _one = ONE_AT_A_TIME.lock().await;
    let base = site(&[("/hog", HOG), ("/plain", PLAIN)]).await;
    let browser = Browser::new(&BrowserConfig {
        max_memory: bytesize::ByteSize::mib(900),
        timeout: Duration::from_secs(15),
        ..config()
    });
    let mut hog = request(&format!("{base}/hog"));
    hog.wait_for = Some(WaitFor::Script { js: "false".into() });
    let failed = browser.shoot(hog).await;
    assert!(
        matches!(&failed, Err(ShotError::Browser(why)) if why.contains("past browser.max_memory (900 MiB)")),
        "{failed:?}"
    );
    assert!(browser.status().restarts >= 1, "{:?}", browser.status());
    let taken = browser.shoot(request(&format!("{base}/plain"))).await;
    assert!(taken.is_ok(), "{taken:?}");
    browser.shutdown().await;
}

#[tokio::test]
async fn a_browser_that_will_not_start_is_paused_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("chromium");
    std::fs::write(
        &broken,
        "#!/bin/sh\necho 'cannot open display' >&2\nexit 1\n",
    )
    .unwrap();
    std::process::Command::new("chmod")
        .args(["+x", broken.to_str().unwrap()])
        .status()
        .unwrap();
    let browser = Browser::new(&BrowserConfig {
        executable: Some(broken),
        ..config()
    });
    let first = browser.shoot(request("http://127.0.0.1:9/")).await;
    // Tried once, tried again (a fault of the browser), then paused.
    assert!(
        matches!(&first, Err(ShotError::Unavailable(why)) if why.contains("failed to start 1 times; next try in")),
        "{first:?}"
    );
    let status = browser.status();
    assert_eq!(status.state, inkspot_browser::BrowserState::Failing);
    assert!(
        status
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("did not start"),
        "{status:?}"
    );
    let again = browser.shoot(request("http://127.0.0.1:9/")).await;
    assert!(
        matches!(again, Err(ShotError::Unavailable(_))),
        "paused, not started again at once"
    );
    assert_eq!(status.shots_failed.get("unavailable"), Some(&1));
}

#[tokio::test]
async fn without_a_browser_a_picture_fails_saying_how_to_get_one() {
    let browser = Browser::new(&BrowserConfig {
        executable: Some("/nonexistent/chromium".into()),
        ..config()
    });
    let failed = browser.shoot(request("http://127.0.0.1:9/")).await;
    let Err(ShotError::Unavailable(why)) = failed else {
        panic!("{failed:?}")
    };
    assert!(
        why.contains("apt install chromium") && why.contains("browser.ws_url"),
        "{why}"
    );
}

#[tokio::test]
#[ignore = "needs Chromium (Debian: apt-get install chromium); scripts/test runs it"]
async fn a_remote_browser_at_ws_url_takes_the_pictures_through_the_guard() {
    let _one = ONE_AT_A_TIME.lock().await;
    let base = site(&[("/plain", PLAIN)]).await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let profile = tempfile::tempdir().unwrap();
    let mut remote = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            &format!("--remote-debugging-port={port}"),
            &format!("--user-data-dir={}", profile.path().display()),
            "about:blank",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("chromium runs (Debian: apt-get install chromium)");
    // Up when its /json/version answers.
    let version = format!("http://127.0.0.1:{port}/json/version");
    for _ in 0..100 {
        if reqwest::get(&version).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let browser = Browser::new(&BrowserConfig {
        ws_url: Some(format!("http://127.0.0.1:{port}")),
        ..config()
    });
    let shot = tokio::time::timeout(
        Duration::from_secs(30),
        browser.shoot(request(&format!("{base}/plain"))),
    )
    .await
    .expect("the remote browser answers within 30 s")
    .expect("the remote browser takes the picture");
    assert_eq!(shot.status, 200);
    let status = browser.status();
    assert_eq!(status.state, inkspot_browser::BrowserState::Running);
    assert_eq!(status.pid, None, "not this service's process");
    // The guard refuses for a remote browser too.
    let refused = browser.shoot(request("http://127.0.0.2:8999/")).await;
    assert!(matches!(refused, Err(ShotError::Refused(_))), "{refused:?}");
    let _ = tokio::time::timeout(Duration::from_secs(10), browser.shutdown()).await;
    let _ = remote.kill();
    let _ = remote.wait();
}

/// The first pixel's gray value and the picture's size.
fn first_pixel(png: &[u8]) -> (u8, u32, u32) {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png));
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    (buf[0], info.width, info.height)
}

#[tokio::test]
#[ignore = "needs Chromium (Debian: apt-get install chromium); scripts/test runs it"]
async fn a_picture_after_an_idle_moment_is_taken_in_the_spare_under_its_own_rules() {
    let _one = ONE_AT_A_TIME.lock().await;
    let base = site(&[("/plain", PLAIN)]).await;
    let browser = Browser::new(&config());
    let plain = request(&format!("{base}/plain"));
    let first = browser
        .shoot(plain.clone())
        .await
        .expect("the first picture");
    assert_eq!(first_pixel(&first.image), (0, 400, 200));
    assert_eq!(browser.status().shots_in_spare, 0, "no spare before it");

    // Idle: a spare is opened, and the next picture is taken in it.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let second = browser.shoot(plain.clone()).await.expect("in the spare");
    assert_eq!(first_pixel(&second.image), (0, 400, 200));
    assert_eq!(browser.status().shots_in_spare, 1);

    // The spare's guard was opened before the rules were known: a job's
    // picture of the same loopback page (not in `jobs_allow`) is refused.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut job = plain.clone();
    job.job = true;
    let refused = browser.shoot(job).await;
    assert!(matches!(refused, Err(ShotError::Refused(_))), "{refused:?}");
    assert_eq!(browser.status().shots_in_spare, 2);

    // Back to back, each picture opens its own context.
    let (a, b) = tokio::join!(browser.shoot(plain.clone()), browser.shoot(plain.clone()));
    assert!(a.is_ok() && b.is_ok(), "{a:?} {b:?}");
    assert!(browser.status().shots_in_spare <= 3);
    browser.shutdown().await;

    // `browser.spare = false`: none, however idle.
    let browser = Browser::new(&BrowserConfig {
        spare: false,
        ..config()
    });
    for _ in 0..2 {
        let taken = browser.shoot(plain.clone()).await;
        assert!(taken.is_ok(), "{taken:?}");
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    assert_eq!(browser.status().shots_in_spare, 0);
    browser.shutdown().await;
}
