//! A screenshot spot's other options over real sockets (cookies, dark,
//! zoom, viewport, delay), dithering chosen per region of a page, a full
//! page through the job API, and a screenshot spot on a TRMNL.

use serde_json::json;

use super::*;
use crate::common::firmware::Firmware;
use crate::common::jobs::{Jobs, unzip};

/// The share of dark pixels in `x0..x1` × `y0..y1`.
fn dark_share(png: &Image, (x0, x1): (u32, u32), (y0, y1): (u32, u32)) -> f64 {
    let dark = (x0..x1)
        .flat_map(|x| (y0..y1).map(move |y| (x, y)))
        .filter(|&(x, y)| png.at(x, y) < 128)
        .count();
    dark as f64 / f64::from((x1 - x0) * (y1 - y0))
}

#[tokio::test]
#[ignore = "needs Chromium (Debian: apt-get install chromium); scripts/test runs it"]
async fn cookies_dark_zoom_viewport_and_delay_reach_the_page() {
    let _one = ONE_AT_A_TIME.lock().await;
    // SAFETY: only this test reads the variable.
    unsafe { std::env::set_var("INKSPOT_TEST_SESSION", "s3cret") };
    let (base, _seen) = fixture("127.0.0.1", "").await;
    let spot = |name: &str, path: &str, keys: &str| {
        shot_spot(name, &format!("{base}{path}"), keys, (800, 480))
    };
    let spots = [
        spot(
            "Cookie",
            "/cookie",
            ", cookies = { session = \"${INKSPOT_TEST_SESSION}\" }",
        ),
        spot("NoCookie", "/cookie", ""),
        spot("Dark", "/dark", ", dark = true"),
        spot("Light", "/dark", ""),
        spot("Zoom", "/zoom", ", zoom = 2"),
        spot("Viewport", "/zoom", ", viewport = \"400x240\""),
        spot("Plain", "/zoom", ""),
        spot("Delay", "/slow", ", delay = \"3500ms\""),
        spot("NoDelay", "/slow", ""),
    ]
    .concat();
    let site = browser_site(&spots, "timeout = \"10s\"");
    let app = App::start(&site).await;
    let shot = |spot: &'static str| {
        let app = &app;
        async move {
            let (status, png, _) = image(app, &format!("spot={spot}&bits=1")).await;
            assert_eq!(status, 200, "{}", failure(app, spot).await);
            decode_png(&png)
        }
    };

    assert_eq!(shot("Cookie").await.at(200, 50), 0, "the cookie was sent");
    assert_eq!(shot("NoCookie").await.at(200, 50), 255);
    assert_eq!(shot("Dark").await.at(400, 240), 0, "the dark scheme");
    assert_eq!(shot("Light").await.at(400, 240), 255);

    // A 100×100 CSS box at the origin and one at (300, 140): drawn at two
    // device pixels a CSS pixel, or a 400×240 window scaled up to 800×480,
    // each covers 200×200 of the panel; at zoom 1, 100×100.
    for name in ["Zoom", "Viewport"] {
        let big = shot(name).await;
        assert_eq!((big.width, big.height), (800, 480));
        for (x, y, want) in [
            (150, 150, 0),
            (205, 100, 255),
            (700, 380, 0),
            (590, 380, 255),
        ] {
            assert_eq!(big.at(x, y), want, "{name} at {x},{y}");
        }
    }
    let plain = shot("Plain").await;
    assert_eq!((plain.at(50, 50), plain.at(150, 150)), (0, 255));
    assert_eq!(plain.at(350, 190), 0);

    // The box a script adds after 2.5 s: there after a 3.5 s delay, not
    // without one.
    assert_eq!(shot("Delay").await.at(200, 50), 0, "waited for");
    assert_eq!(shot("NoDelay").await.at(200, 50), 255, "not waited for");
    app.stop().await;
}

/// A page with text and a grey square, at 1-bit: the square (tones) is
/// dithered, and the text (lines) is drawn exactly as on the same page
/// without the square, thresholded, with no dither dots along its edges.
#[tokio::test]
#[ignore = "needs Chromium (Debian: apt-get install chromium); scripts/test runs it"]
async fn dithering_is_chosen_per_region_of_a_page() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (base, _seen) = fixture("127.0.0.1", "").await;
    let spots = [
        shot_spot("Mixed", &format!("{base}/text-and-grey"), "", (800, 480)),
        shot_spot("Text", &format!("{base}/text"), "", (800, 480)),
    ]
    .concat();
    let site = browser_site(&spots, "");
    let app = App::start(&site).await;
    let mut pictures = Vec::new();
    for spot in ["Mixed", "Text"] {
        let (status, png, _) = image(&app, &format!("spot={spot}&bits=1")).await;
        assert_eq!(status, 200, "{}", failure(&app, spot).await);
        pictures.push(decode_png(&png));
    }
    let (mixed, text) = (&pictures[0], &pictures[1]);
    let grey = dark_share(mixed, (504, 696), (304, 396));
    assert!(
        (0.4..0.6).contains(&grey),
        "the grey square dithered: {grey}"
    );
    let ink = dark_share(text, (0, 480), (160, 256));
    assert!(ink > 0.02, "the text is drawn: {ink}");
    for y in 160..256 {
        for x in 0..480 {
            assert_eq!(mixed.at(x, y), text.at(x, y), "the text at {x},{y}");
        }
    }
    assert_eq!(dark_share(mixed, (0, 800), (260, 285)), 0.0, "clean white");
    app.stop().await;
}

#[tokio::test]
#[ignore = "needs Chromium (Debian: apt-get install chromium); scripts/test runs it"]
async fn a_full_page_screenshot_is_as_tall_as_the_page() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (base, _seen) = fixture("127.0.0.1", "").await;
    let keys = "jobs_allow = [\"127.0.0.1\"]\n[[api_keys]]\nname = \"alice\"\n\
                key = \"alice-key-for-the-full-page-test\"\n";
    let site = browser_site(&shot_spot_for_tests(&base), keys);
    let app = App::start(&site).await;
    let mut jobs = Jobs::new(&app.url);
    jobs.key = "alice-key-for-the-full-page-test".into();
    let url = format!("{base}/tall");
    let job = jobs
        .submit(&json!({"screenshots": {"urls": [&url], "viewport": "800x480", "full_page": true}}))
        .await;
    let id = job["id"].as_str().unwrap();
    let done = jobs.wait(id).await;
    assert_eq!(done["status"], "done", "{done}");
    let zip = jobs.download(id).await.bytes().await.unwrap();
    let files: std::collections::BTreeMap<String, Vec<u8>> = unzip(&zip).into_iter().collect();
    let tall = decode_png(&files["000-127.0.0.1.png"]);
    assert_eq!((tall.width, tall.height), (800, 1500), "the whole page");
    assert_eq!(tall.at(400, 1450), 0, "the box at its foot");
    assert_eq!(tall.at(400, 1350), 255);

    let window = jobs
        .submit(&json!({"screenshots": {"urls": [url], "viewport": "800x480"}}))
        .await;
    let id = window["id"].as_str().unwrap();
    assert_eq!(jobs.wait(id).await["status"], "done");
    let zip = jobs.download(id).await.bytes().await.unwrap();
    let (_, png) = unzip(&zip)
        .into_iter()
        .find(|(n, _)| n.ends_with(".png"))
        .unwrap();
    let window = decode_png(&png);
    assert_eq!(
        (window.width, window.height),
        (800, 480),
        "the window alone"
    );
    app.stop().await;
}

#[tokio::test]
#[ignore = "needs Chromium (Debian: apt-get install chromium); scripts/test runs it"]
async fn a_trmnl_shows_a_screenshot_spot() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (base, seen) = fixture("127.0.0.1", "").await;
    let mac = "AA:BB:CC:DD:EE:28";
    let devices = format!(
        "[server]\nadmin_token = \"an-admin-token-for-the-tests\"\n\
         [[devices]]\nmac = \"{}\"\nname = \"Hall\"\n",
        mac.to_lowercase()
    );
    let site = browser_site(&format!("{devices}\n{}", shot_spot_for_tests(&base)), "");
    let app = App::start(&site).await;
    let mut fw = Firmware::new(&app.url, mac, "og");
    assert_eq!(fw.setup().await["status"], 200);
    let mut shown = json!({});
    for _ in 0..200 {
        shown = fw.display("4.1", &[]).await;
        if !shown["filename"].as_str().unwrap().starts_with("preparing") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let url = shown["image_url"].as_str().expect("an image to show");
    let image = fw.image(url).await;
    assert_eq!(image.status(), 200);
    let png = decode_png(&image.bytes().await.unwrap());
    assert_eq!(
        (png.width, png.height, png.depth),
        (800, 480, png::BitDepth::One)
    );
    assert_eq!(png.at(200, 100), 0, "the page's black square");
    assert_eq!(png.at(50, 400), 255);
    assert_eq!(seen.hits("/shapes"), 1);
    app.stop().await;
}

#[tokio::test]
#[ignore = "needs Chromium (Debian: apt-get install chromium); scripts/test runs it"]
async fn a_screenshot_job_takes_jpeg_and_webp_and_refuses_other_formats() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (base, _seen) = fixture("127.0.0.1", "").await;
    let keys = "jobs_allow = [\"127.0.0.1\"]\n[[api_keys]]\nname = \"alice\"\n\
                key = \"alice-key-for-the-format-test\"\n";
    let site = browser_site(&shot_spot_for_tests(&base), keys);
    let app = App::start(&site).await;
    let mut jobs = Jobs::new(&app.url);
    jobs.key = "alice-key-for-the-format-test".into();
    let url = format!("{base}/shapes");
    for (format, file, media, magic) in [
        (
            "jpeg",
            "000-127.0.0.1.jpg",
            "image/jpeg",
            &b"\xFF\xD8\xFF"[..],
        ),
        ("webp", "000-127.0.0.1.webp", "image/webp", &b"RIFF"[..]),
        ("png", "000-127.0.0.1.png", "image/png", &b"\x89PNG"[..]),
    ] {
        let job = jobs
            .submit(
                &json!({"screenshots": {"urls": [&url], "viewport": "800x480", "format": format}}),
            )
            .await;
        let id = job["id"].as_str().unwrap();
        assert_eq!(jobs.wait(id).await["status"], "done", "{format}");
        let zip = jobs.download(id).await.bytes().await.unwrap();
        let files: std::collections::BTreeMap<String, Vec<u8>> = unzip(&zip).into_iter().collect();
        let image = files
            .get(file)
            .unwrap_or_else(|| panic!("{file} in {:?}", files.keys()));
        assert!(image.starts_with(magic), "{format}: {:?}", &image[..8]);
        let results: serde_json::Value = jobs
            .get(&format!("/api/jobs/{id}/results"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(results["results"][0]["media_type"], media);
        assert_eq!(results["results"][0]["file"], file);
    }
    let refused = jobs
        .post(&json!({"screenshots": {"urls": [&url], "format": "gif"}}))
        .await;
    assert_eq!(refused.status(), 400);
    let body = refused.text().await.unwrap();
    assert!(body.contains("format") && body.contains("webp"), "{body}");
    app.stop().await;
}
