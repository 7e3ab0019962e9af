//! Device output: every parameter and preset checked on the decoded image,
//! the exact TRMNL BMP, round trips through an independent decoder (the
//! `image` crate), the variant cache and template invalidation.

use std::time::Duration;

use crate::common::*;
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn app_with(extra: &str, spot_extra: &str) -> (MockServer, Site, App) {
    let upstream = MockServer::start().await;
    Mock::given(path("/report"))
        .respond_with(ResponseTemplate::new(200).set_body_string(report_page("3.6", "Output")))
        .mount(&upstream)
        .await;
    let site = Site::new();
    site.write_bar_config(&format!("{}/report", upstream.uri()), extra);
    if !spot_extra.is_empty() {
        let text = std::fs::read_to_string(site.config_path()).unwrap();
        site.write_config(&text.replacen(
            "height = 240\n",
            &format!("height = 240\n{spot_extra}\n"),
            1,
        ));
    }
    let app = App::start(&site).await;
    (upstream, site, app)
}

async fn fetch(app: &App, query: &str) -> (reqwest::StatusCode, String, Vec<u8>) {
    let r = app.get(&format!("/image?spot=linda-mar{query}"), &[]).await;
    let status = r.status();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, r.bytes().await.unwrap().to_vec())
}

/// Decodes with the `image` crate, a decoder independent of our encoders.
fn independent(bytes: &[u8]) -> image::GrayImage {
    image::load_from_memory(bytes)
        .expect("the image crate decodes it")
        .to_luma8()
}

#[tokio::test]
async fn bits_give_true_gray_pngs_at_that_depth() {
    let (_u, _s, app) = app_with("", "").await;
    for (bits, depth) in [
        ("1", png::BitDepth::One),
        ("2", png::BitDepth::Two),
        ("4", png::BitDepth::Four),
        ("8", png::BitDepth::Eight),
    ] {
        let (status, ct, body) = fetch(&app, &format!("&bits={bits}")).await;
        assert_eq!((status.as_u16(), ct.as_str()), (200, "image/png"));
        let img = decode_png(&body);
        assert_eq!(img.color, png::ColorType::Grayscale, "bits={bits}");
        assert_eq!(img.depth, depth, "bits={bits}");
        assert!(!img.interlaced);
        assert_eq!((img.width, img.height), (400, 240));
        let levels = 1usize << bits.parse::<u32>().unwrap();
        let distinct: std::collections::BTreeSet<u8> = img.luma.iter().copied().collect();
        assert!(
            distinct.len() <= levels,
            "bits={bits}: {} levels",
            distinct.len()
        );
        // The bar is solid black and the background white at every depth.
        assert_eq!((img.at(100, 20), img.at(390, 20)), (0, 255), "bits={bits}");
        let other = independent(&body);
        assert_eq!(other.as_raw(), &img.luma, "bits={bits}: decoders agree");
    }
    let (_, _, rgb) = fetch(&app, "").await;
    assert_eq!(
        decode_png(&rgb).color,
        png::ColorType::Rgb,
        "no bits keeps colour"
    );
    app.stop().await;
}

#[tokio::test]
async fn width_height_rotate_and_invert_change_the_pixels_as_asked() {
    let (_u, _s, app) = app_with("", "").await;
    let (_, _, body) = fetch(&app, "&width=600&height=300&bits=8").await;
    let big = decode_png(&body);
    assert_eq!((big.width, big.height), (600, 300));
    // Drawn at that size, not scaled: the template's bar is still 360 px.
    assert!((359..=361).contains(&big.dark_in_row(20)));

    let (_, _, body) = fetch(&app, "&bits=8&invert=true").await;
    let inv = decode_png(&body);
    assert_eq!((inv.at(100, 20), inv.at(390, 20)), (255, 0));

    let (_, _, body) = fetch(&app, "&bits=8&rotate=90").await;
    let rot = decode_png(&body);
    assert_eq!((rot.width, rot.height), (240, 400));
    // Clockwise: the top-left bar now runs down the right edge.
    assert_eq!(rot.at(239 - 20, 100), 0);
    assert_eq!(rot.at(239 - 20, 390), 255);
    assert_eq!(rot.at(20, 100), 255);

    let (_, _, body) = fetch(&app, "&bits=8&rotate=180").await;
    let flip = decode_png(&body);
    assert_eq!(
        (flip.at(399 - 100, 239 - 20), flip.at(399 - 390, 239 - 20)),
        (0, 255)
    );
    app.stop().await;
}

#[tokio::test]
async fn dithering_choices_differ_on_gray_content() {
    let (_u, site, app) = app_with("", "").await;
    // A mid-gray field shows the difference between the algorithms.
    let svg = r##"<svg xmlns="http://www.w3.org/2000/svg" width="{{ spot.width }}" height="{{ spot.height }}"><rect width="100%" height="100%" fill="#808080"/>{{ data.report.wave }}</svg>"##;
    std::fs::write(site.path().join("templates/bar.svg"), svg).unwrap();
    app.engine.reload_templates_if_changed();
    let mut outputs = Vec::new();
    for d in ["none", "floyd-steinberg", "atkinson"] {
        let (_, _, body) = fetch(&app, &format!("&bits=1&dither={d}")).await;
        let img = decode_png(&body);
        let white = img.luma.iter().filter(|&&v| v == 255).count() as f64 / img.luma.len() as f64;
        outputs.push((d, white, img.luma));
    }
    assert!(
        outputs[0].1 == 1.0 || outputs[0].1 == 0.0,
        "no dither thresholds a flat gray"
    );
    assert!(
        (0.4..0.6).contains(&outputs[1].1),
        "Floyd–Steinberg keeps the average"
    );
    assert!(
        outputs[2].1 > 0.3 && outputs[2].1 < 0.7,
        "Atkinson: {}",
        outputs[2].1
    );
    assert_ne!(outputs[1].2, outputs[2].2);
    app.stop().await;
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

#[tokio::test]
async fn trmnl_bmp_is_the_exact_48062_byte_layout() {
    let (_u, _s, app) = app_with("", "").await;
    let r = app.get("/image?spot=linda-mar&device=trmnl-bmp", &[]).await;
    assert_eq!(r.headers()["content-type"], "image/bmp");
    assert_eq!(r.headers()["content-length"], "48062");
    let b = r.bytes().await.unwrap().to_vec();
    assert_eq!(b.len(), 48_062);
    assert_eq!(&b[0..2], b"BM");
    assert_eq!(u32_at(&b, 2), 48_062, "file size");
    assert_eq!(u32_at(&b, 10), 62, "pixel data offset");
    assert_eq!(u32_at(&b, 14), 40, "BITMAPINFOHEADER");
    assert_eq!(u32_at(&b, 18), 800);
    assert_eq!(u32_at(&b, 22) as i32, 480, "positive height: bottom-up");
    assert_eq!(u16::from_le_bytes([b[28], b[29]]), 1, "1 bit per pixel");
    assert_eq!(u32_at(&b, 30), 0, "uncompressed");
    assert_eq!(u32_at(&b, 34), 48_000, "image size field");
    assert_eq!(u32_at(&b, 46), 2, "two palette entries");
    assert_eq!(
        &b[54..62],
        &[0, 0, 0, 0, 255, 255, 255, 0],
        "black first, then white"
    );
    let img = independent(&b);
    assert_eq!(img.dimensions(), (800, 480));
    // The 400x240 template is letterboxed into 800x480 at twice the scale:
    // the bar starts at the top-left and is 720 px wide.
    assert_eq!(img.get_pixel(10, 10).0[0], 0);
    assert_eq!(img.get_pixel(790, 10).0[0], 255);
    app.stop().await;
}

#[tokio::test]
async fn every_bmp_depth_round_trips() {
    let (_u, _s, app) = app_with("", "").await;
    for (query, bpp, palette) in [
        ("&format=bmp&bits=1", 1, 2),
        ("&format=bmp&bits=8", 8, 256),
        ("&format=bmp", 24, 0),
    ] {
        let (status, ct, b) = fetch(&app, query).await;
        assert_eq!(
            (status.as_u16(), ct.as_str()),
            (200, "image/bmp"),
            "{query}"
        );
        assert_eq!(u16::from_le_bytes([b[28], b[29]]), bpp, "{query}");
        assert_eq!(u32_at(&b, 46), palette, "{query}");
        assert!(u32_at(&b, 22) as i32 > 0, "bottom-up");
        let img = independent(&b);
        assert_eq!(img.dimensions(), (400, 240), "{query}");
        assert_eq!(
            (img.get_pixel(100, 20).0[0], img.get_pixel(390, 20).0[0]),
            (0, 255),
            "{query}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn presets_and_overrides() {
    let (_u, _s, app) = app_with("[devices.panel]\nbits = 2\nrotate = 270\n\n[devices.trmnl]\nbits = 2\nwidth = 800\nheight = 480\nformat = \"png\"", "").await;
    let (_, _, body) = fetch(&app, "&device=kindle").await;
    let kindle = decode_png(&body);
    assert_eq!(
        (kindle.width, kindle.height, kindle.color, kindle.depth),
        (600, 800, png::ColorType::Grayscale, png::BitDepth::Eight)
    );

    // The config replaced the built-in trmnl preset's depth.
    let (_, _, body) = fetch(&app, "&device=trmnl").await;
    let trmnl = decode_png(&body);
    assert_eq!(
        (trmnl.width, trmnl.height, trmnl.depth),
        (800, 480, png::BitDepth::Two)
    );
    // Explicit parameters override the preset.
    let (_, _, body) = fetch(&app, "&device=trmnl&bits=1").await;
    assert_eq!(decode_png(&body).depth, png::BitDepth::One);

    let (_, _, body) = fetch(&app, "&device=panel").await;
    let panel = decode_png(&body);
    assert_eq!(
        (panel.width, panel.height, panel.depth),
        (240, 400, png::BitDepth::Two)
    );

    let (_, ct, b) = fetch(&app, "&device=esphome-bmp").await;
    assert_eq!(ct, "image/bmp");
    assert_eq!(u16::from_le_bytes([b[28], b[29]]), 1);
    assert_eq!(
        independent(&b).dimensions(),
        (400, 240),
        "the spot's own size"
    );

    let r = app.get("/image?spot=linda-mar&device=kobo", &[]).await;
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "unknown_device");
    assert!(body["error"].as_str().unwrap().contains("trmnl-bmp"));
    app.stop().await;
}

#[tokio::test]
async fn a_spot_can_name_its_default_device() {
    let (_u, _s, app) = app_with("", "device = \"trmnl\"").await;
    let (_, _, body) = fetch(&app, "").await;
    let img = decode_png(&body);
    assert_eq!(
        (img.width, img.height, img.depth),
        (800, 480, png::BitDepth::One)
    );
    app.stop().await;
}

#[tokio::test]
async fn a_new_variant_of_fresh_data_is_rendered_without_fetching() {
    let (upstream, _s, app) = app_with("", "").await;
    let first = app.get("/image?spot=linda-mar", &[]).await;
    assert_eq!(first.headers()["x-cache"], "miss");
    for q in ["&bits=1", "&device=trmnl-bmp", "&rotate=90&invert=true"] {
        let r = app.get(&format!("/image?spot=linda-mar{q}"), &[]).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-cache"], "miss", "{q} is a new render");
        let again = app.get(&format!("/image?spot=linda-mar{q}"), &[]).await;
        assert_eq!(again.headers()["x-cache"], "hit", "{q} is then cached");
    }
    assert_eq!(upstream.received_requests().await.unwrap().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn identical_data_gives_identical_bytes_and_a_304_after_a_rerender() {
    let (upstream, _s, app) = app_with("[cache]\nmax_age = \"1s\"\nserve_stale = false", "").await;
    let first = app.get("/image?spot=linda-mar&device=trmnl", &[]).await;
    let etag = first.headers()["etag"].to_str().unwrap().to_string();
    let modified = first.headers()["last-modified"]
        .to_str()
        .unwrap()
        .to_string();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let again = app
        .get(
            "/image?spot=linda-mar&device=trmnl",
            &[("if-none-match", &etag)],
        )
        .await;
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["x-cache"], "miss", "it was re-rendered");
    assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(again.headers()["last-modified"].to_str().unwrap(), modified);
    assert_eq!(
        upstream.received_requests().await.unwrap().len(),
        2,
        "and re-fetched"
    );
    app.stop().await;
}

#[tokio::test]
async fn changing_a_template_file_invalidates_its_renders() {
    let (upstream, site, app) = app_with("", "").await;
    let before = fetch(&app, "&bits=8").await.2;
    assert!((359..=361).contains(&decode_png(&before).dark_in_row(20)));
    let changed = BAR_TEMPLATE.replace("* 100", "* 50");
    std::fs::write(site.path().join("templates/bar.svg"), changed).unwrap();
    // The folder is polled every 2 s.
    tokio::time::sleep(Duration::from_millis(2600)).await;
    let r = app.get("/image?spot=linda-mar&bits=8", &[]).await;
    assert_eq!(r.headers()["x-cache"], "miss");
    let after = decode_png(&r.bytes().await.unwrap());
    assert!(
        (179..=181).contains(&after.dark_in_row(20)),
        "{}",
        after.dark_in_row(20)
    );
    assert_eq!(
        upstream.received_requests().await.unwrap().len(),
        1,
        "the data was still fresh"
    );
    app.stop().await;
}

#[tokio::test]
async fn bad_output_parameters_are_400s_naming_them() {
    let (upstream, _s, app) = app_with("", "").await;
    for (q, needle) in [
        ("bits=3", "invalid `bits`: `3`; allowed: 1, 2, 4, 8"),
        ("width=10", "invalid `width`: `10`; allowed: 16 to 4096"),
        ("height=5000", "invalid `height`"),
        ("format=gif", "allowed: png, bmp"),
        (
            "dither=ordered",
            "allowed: auto, none, floyd-steinberg, atkinson",
        ),
        ("rotate=45", "allowed: 0, 90, 180, 270"),
        ("invert=maybe", "allowed: true, false"),
    ] {
        let r = app.get(&format!("/image?spot=linda-mar&{q}"), &[]).await;
        assert_eq!(r.status(), 400, "{q}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["code"], "invalid_parameter");
        assert!(
            body["error"].as_str().unwrap().contains(needle),
            "{q}: {body}"
        );
    }
    assert_eq!(upstream.received_requests().await.unwrap().len(), 0);
    app.stop().await;
}

/// A black PNG square, written with the png crate.
fn black_png(path: &std::path::Path, side: u32) {
    let file = std::fs::File::create(path).unwrap();
    let mut encoder = png::Encoder::new(file, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    let mut writer = encoder.write_header().unwrap();
    writer
        .write_image_data(&vec![0u8; (side * side) as usize])
        .unwrap();
}

#[tokio::test]
async fn templates_load_images_from_their_folder_only() {
    let (_u, site, app) = app_with("", "").await;
    black_png(&site.path().join("templates/logo.png"), 20);
    black_png(&site.path().join("outside.png"), 20);
    let svg = r##"<svg xmlns="http://www.w3.org/2000/svg" width="{{ spot.width }}" height="{{ spot.height }}">
<rect width="100%" height="100%" fill="#fff"/>
<image href="logo.png" x="0" y="100" width="20" height="20"/>
<image href="../outside.png" x="100" y="100" width="20" height="20"/>
<image href="{{ '/' }}etc/passwd" x="200" y="100" width="20" height="20"/>
<image href="http://127.0.0.1:9/remote.png" x="300" y="100" width="20" height="20"/>
{{ data.report.wave }}</svg>"##;
    std::fs::write(site.path().join("templates/bar.svg"), svg).unwrap();
    app.engine.reload_templates_if_changed();
    let (status, _, body) = fetch(&app, "&bits=8").await;
    assert_eq!(status, 200);
    let img = decode_png(&body);
    assert_eq!(
        img.at(10, 110),
        0,
        "an image in the templates folder is drawn"
    );
    assert_eq!(img.at(110, 110), 255, "one outside it is not");
    assert_eq!(img.at(210, 110), 255, "nor an absolute path");
    assert_eq!(img.at(310, 110), 255, "nor anything on the network");
    app.stop().await;
}
