//! What a browser picture costs: a warm picture of a local 800×480 page
//! (the browser kept running, a fresh context per picture, every request
//! through the address guard) against a cold `chromium --headless
//! --screenshot` process per picture, as most peers take them. Before the
//! timings it prints the browser's memory (its processes' PSS) idle and
//! with two pages open. Warm pictures are timed back to back and with the
//! browser idle before each (its spare context then ready). Needs Chromium (`apt install chromium`).
//! Run with `cargo bench --bench browser`; figures in docs/performance.md.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use inkspot::browser::Browser;
use inkspot::config::{BrowserConfig, WaitFor};
use inkspot::shot::{Camera, Page, ShotRequest};

/// A page with text, lines and a grey block, as a dashboard has.
const PAGE: &str = r#"<!doctype html><html><head><title>Bench</title><style>
body { margin: 0; font: 24px sans-serif; background: #fff }
h1 { margin: 20px } .bar { position: absolute; left: 20px; top: 120px; width: 760px; height: 40px; background: #888 }
table { position: absolute; top: 200px; left: 20px; border-collapse: collapse } td { border: 2px solid #000; padding: 8px 24px }
</style></head><body><h1>Linda Mar · 4.2 ft · 14 s</h1><div class="bar"></div>
<table><tr><td>06:00</td><td>3.9 ft</td><td>WNW</td></tr><tr><td>09:00</td><td>4.2 ft</td><td>W</td></tr><tr><td>12:00</td><td>4.6 ft</td><td>W</td></tr></table>
</body></html>"#;

fn serve(runtime: &tokio::runtime::Runtime) -> String {
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let router = axum::Router::new()
            .fallback(|| async { ([("content-type", "text/html; charset=utf-8")], PAGE) });
        tokio::spawn(async move { axum::serve(listener, router).await });
        url
    })
}

fn request(url: &str) -> ShotRequest {
    let mut r = ShotRequest::new(Page::Url(url.parse().unwrap()), 800, 480);
    r.wait_for = Some(WaitFor::Selector("table".into()));
    r
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or("n/a".into(), |b| format!("{:.0} MiB", b as f64 / 1048576.0))
}

fn shots(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let url = serve(&runtime);
    let browser = Browser::new(&BrowserConfig {
        allow: vec!["127.0.0.1".into()],
        ..BrowserConfig::default()
    });
    runtime.block_on(async {
        let first = std::time::Instant::now();
        browser
            .shoot(request(&url))
            .await
            .expect("Chromium takes the picture");
        eprintln!("first picture, starting the browser: {:?}", first.elapsed());
        tokio::time::sleep(Duration::from_secs(2)).await;
        eprintln!(
            "memory idle (one picture taken): {}",
            mib(browser.status().memory_bytes)
        );
        let busy = {
            let slow = |b: &Browser| {
                let mut r = request(&url);
                r.delay = Some(Duration::from_millis(1500));
                let b = b.clone();
                async move { b.shoot(r).await }
            };
            let (one, two) = (slow(&browser), slow(&browser));
            let watch = async {
                tokio::time::sleep(Duration::from_millis(1200)).await;
                browser.status().memory_bytes
            };
            let (_, _, busy) = tokio::join!(one, two, watch);
            busy
        };
        eprintln!("memory busy (two pages open): {}", mib(busy));
    });
    let mut group = c.benchmark_group("browser");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("warm picture 800x480", |b| {
        b.iter(|| runtime.block_on(browser.shoot(request(&url))).unwrap());
    });
    // As a display service takes them: pictures apart, the browser idle
    // between them (its spare context ready), only the picture timed.
    group.bench_function("warm picture 800x480, idle before", |b| {
        b.iter_custom(|iterations| {
            let mut taken = Duration::ZERO;
            for _ in 0..iterations {
                std::thread::sleep(Duration::from_millis(400));
                let started = std::time::Instant::now();
                runtime.block_on(browser.shoot(request(&url))).unwrap();
                taken += started.elapsed();
            }
            taken
        });
    });
    let profile = tempfile::tempdir().unwrap();
    let out = profile.path().join("shot.png");
    group.sample_size(10);
    group.bench_function("cold chromium --screenshot 800x480", |b| {
        b.iter(|| {
            let status = std::process::Command::new("chromium")
                .args([
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--hide-scrollbars",
                    &format!("--user-data-dir={}", profile.path().display()),
                    &format!("--screenshot={}", out.display()),
                    "--window-size=800,480",
                    &url,
                ])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .unwrap();
            assert!(status.success());
        });
    });
    group.finish();
    runtime.block_on(browser.shutdown());
}

criterion_group!(benches, shots);
criterion_main!(benches);
