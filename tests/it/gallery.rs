//! The gallery in a real browser: headless Chromium driven through
//! chromedriver (Debian's `chromium` and `chromium-driver`, which `.ci/run`
//! installs). It loads `/`, checks that every image decoded and that the
//! spot and device tables are there, and saves a screenshot.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::firmware::Firmware;
use crate::common::*;
use serde_json::json;

const MAC: &str = "AA:BB:CC:DD:EE:01";

/// chromedriver on a free port, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (Debian: apt-get install chromium chromium-driver)");
        // Owned at once, so a failure below still stops it (see `Drop`).
        let driver = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..100 {
            let ready = client().get(format!("{}/status", driver.url)).send().await;
            if ready.is_ok() {
                return driver;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not start");
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn browser(driver: &Driver) -> fantoccini::Client {
    let mut caps = serde_json::Map::new();
    let args = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--window-size=1280,1600",
    ];
    caps.insert("goog:chromeOptions".into(), json!({ "args": args }));
    // chromedriver is on loopback: plain HTTP, no TLS.
    let http = hyper_util::client::legacy::connect::HttpConnector::new();
    fantoccini::ClientBuilder::new(http)
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a headless Chromium session")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and chromedriver; scripts/test runs it"]
async fn the_gallery_shows_every_image_and_the_devices_in_a_browser() {
    let site = Site::new();
    std::fs::write(site.path().join("page.html"), report_page("2.5", "Clean")).unwrap();
    let spot = bar_spot("Linda Mar", "file://page.html", "");
    let device = format!("[[devices]]\nmac = \"{MAC}\"\nname = \"Kitchen\"\n");
    site.write_config(&format!("{device}\n{spot}"));
    let app = App::start(&site).await;
    let mut fw = Firmware::new(&app.url, MAC, "og");
    fw.setup().await;
    fw.display("3.9", &[]).await;

    let driver = Driver::start().await;
    let b = browser(&driver).await;
    b.goto(&format!("{}/?model=og_bwry", app.url))
        .await
        .unwrap();
    // Bring each (lazily loaded) image into view until all have decoded.
    let check = r#"
        const images = Array.from(document.images);
        images.forEach(i => i.scrollIntoView());
        return [images.length, images.filter(i => i.complete && i.naturalWidth > 0).length,
                images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)];
    "#;
    let mut last = json!(null);
    for _ in 0..150 {
        last = b.execute(check, vec![]).await.unwrap();
        if last[0].as_u64().unwrap() > 0 && last[0] == last[1] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let presets = app.engine.catalog().preset_names().len() as u64;
    assert_eq!(last[0], presets + 1, "a preview and every preset: {last}");
    assert_eq!(last[0], last[1], "every image decoded: {last}");

    // Drawn now: the page tells the preview's bytes against the cap.
    b.goto(&format!("{}/?model=og_bwry", app.url))
        .await
        .unwrap();
    let spot = b
        .find(fantoccini::Locator::Css("#spot-linda-mar h3"))
        .await
        .unwrap();
    assert_eq!(spot.text().await.unwrap(), "Linda Mar");
    let caption = b
        .find(fantoccini::Locator::Css(
            "#spot-linda-mar .panel figcaption",
        ))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(caption.contains("TRMNL BWRY"), "{caption}");
    assert!(
        caption.contains("of 90000"),
        "bytes against the cap: {caption}"
    );
    let devices = b
        .find(fantoccini::Locator::Css("#devices"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        devices.contains("Kitchen") && devices.contains("%"),
        "{devices}"
    );

    let shot = b.screenshot().await.unwrap();
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("gallery.png");
    std::fs::write(&path, &shot).unwrap();
    println!("screenshot: {}", path.display());
    assert_eq!(&shot[..8], b"\x89PNG\r\n\x1a\n");
    b.close().await.unwrap();
    app.stop().await;
}

/// The sign-in page in a real browser: the token field is exactly as wide
/// as the button under it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and chromedriver; scripts/test runs it"]
async fn the_sign_in_form_lines_up_in_a_browser() {
    let site = Site::new();
    std::fs::write(site.path().join("page.html"), report_page("2.5", "Clean")).unwrap();
    let spot = bar_spot("Linda Mar", "file://page.html", "");
    site.write_config(&format!(
        "[server]\nadmin_token = \"an-admin-token-for-the-tests\"\n{spot}"
    ));
    let app = App::start(&site).await;
    let driver = Driver::start().await;
    let b = browser(&driver).await;
    b.goto(&format!("{}/", app.url)).await.unwrap();
    let widths = b
        .execute(
            r#"const f = document.querySelector("input[name=token]").getBoundingClientRect();
               const g = document.querySelector("form button").getBoundingClientRect();
               return [location.pathname, f.width, g.width, f.left, g.left];"#,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(widths[0], "/login", "the gallery asks to sign in: {widths}");
    let (field, button) = (widths[1].as_f64().unwrap(), widths[2].as_f64().unwrap());
    assert!(field > 100.0, "{widths}");
    assert!(
        (field - button).abs() < 1.0,
        "as wide as the button: {widths}"
    );
    assert!(
        (widths[3].as_f64().unwrap() - widths[4].as_f64().unwrap()).abs() < 1.0,
        "{widths}"
    );
    b.close().await.unwrap();
    app.stop().await;
}
