//! Screenshot spots and HTML templates served like any spot: pixels at
//! every output, waiting, cropping, hiding, headers, refusals.

use super::*;

#[tokio::test]
#[ignore = "needs Chromium (Debian: apt-get install chromium); scripts/test runs it"]
async fn a_page_is_drawn_at_the_panel_size_in_every_output() {
    let _one = ONE_AT_A_TIME.lock().await;
    let _ = NEEDS;
    let (base, seen) = fixture("127.0.0.1", "").await;
    let site = browser_site(
        &shot_spot("Shapes", &format!("{base}/shapes"), "", (800, 480)),
        "",
    );
    let app = App::start(&site).await;

    let (status, png, _) = image(&app, "spot=Shapes&bits=1").await;
    assert_eq!(status, 200, "{}", failure(&app, "Shapes").await);
    let one = decode_png(&png);
    assert_eq!((one.width, one.height), (800, 480));
    for (x, y, want) in [
        (200, 100, 0),
        (101, 51, 0),
        (298, 148, 0),
        (98, 100, 255),
        (200, 152, 255),
        (50, 400, 255),
    ] {
        assert_eq!(one.at(x, y), want, "1-bit at {x},{y}");
    }
    // The grey square, dithered at 1 bit: about half its pixels dark.
    let dark = (500..700)
        .flat_map(|x| (300..400).map(move |y| (x, y)))
        .filter(|&(x, y)| one.at(x, y) < 128)
        .count();
    assert!(
        (8_000..12_000).contains(&dark),
        "{dark} of 20000 grey pixels dark"
    );

    let (status, png, _) = image(&app, "spot=Shapes&bits=8").await;
    assert_eq!(status, 200, "{}", failure(&app, "Shapes").await);
    let gray = decode_png(&png);
    assert!(
        gray.at(600, 350).abs_diff(128) <= 4,
        "grey is {}",
        gray.at(600, 350)
    );
    assert_eq!(gray.at(200, 100), 0);

    let (status, png, _) = image(&app, "spot=Shapes&bits=1&rotate=90").await;
    assert_eq!(status, 200, "{}", failure(&app, "Shapes").await);
    let turned = decode_png(&png);
    assert_eq!((turned.width, turned.height), (480, 800));
    // (x, y) turned clockwise is (479 - y, x).
    assert_eq!(turned.at(479 - 100, 200), 0);
    assert_eq!(turned.at(479 - 400, 50), 255);

    let (status, bmp, _) = image(&app, "spot=Shapes&format=bmp&bits=1").await;
    assert_eq!(status, 200);
    assert_eq!(&bmp[..2], b"BM");
    let decoded = image::load_from_memory(&bmp).unwrap().to_luma8();
    assert_eq!(decoded.dimensions(), (800, 480));
    assert_eq!(decoded.get_pixel(200, 100).0[0], 0);
    assert_eq!(decoded.get_pixel(50, 400).0[0], 255);

    // Cached like any spot: four outputs, one visit each.
    let (_, again, _) = image(&app, "spot=Shapes&bits=1").await;
    assert_eq!(decode_png(&again).luma, one.luma);
    assert_eq!(seen.hits("/shapes"), 4);
    let status: serde_json::Value = app.get("/status", &[]).await.json().await.unwrap();
    assert_eq!(status["browser"]["state"], "running", "{status}");
    assert!(
        status["browser"]["version"]
            .as_str()
            .unwrap()
            .contains("Chrom"),
        "{status}"
    );
    assert_eq!(status["browser"]["shots_ok"], 4);
    // The gallery shows it like any spot, with its image.
    let gallery = app.get("/", &[]).await.text().await.unwrap();
    assert!(
        gallery.contains("Shapes") && gallery.contains("spot=shapes"),
        "{gallery}"
    );
    // And /metrics counts the pictures.
    let metrics = app.get("/metrics", &[]).await.text().await.unwrap();
    assert!(
        metrics.contains("inkspot_browser_shots_total{outcome=\"ok\"} 4"),
        "{metrics}"
    );
    app.stop().await;
}

#[tokio::test]
#[ignore = "needs Chromium (Debian: apt-get install chromium); scripts/test runs it"]
async fn waits_crops_hides_and_sends_headers_to_the_page_alone() {
    let _one = ONE_AT_A_TIME.lock().await;
    // SAFETY: only this test reads the variable.
    unsafe { std::env::set_var("INKSPOT_TEST_HA_TOKEN", "abc123") };
    let (other, other_seen) = fixture("127.0.0.1", "").await;
    let (base, seen) = fixture("127.0.0.1", &other).await;
    let spots = [
        shot_spot(
            "Late",
            &format!("{base}/late"),
            ", wait_for = \"#late\"",
            (800, 480),
        ),
        shot_spot(
            "Never",
            &format!("{base}/late"),
            ", wait_for = \"#never\"",
            (800, 480),
        ),
        shot_spot(
            "Script",
            &format!("{base}/late"),
            ", wait_for = { js = \"document.getElementById('late')\" }",
            (800, 480),
        ),
        shot_spot(
            "Crop",
            &format!("{base}/crop"),
            ", selector = \"#card\"",
            (200, 100),
        ),
        shot_spot(
            "Hidden",
            &format!("{base}/banner"),
            ", hide = [\".cookie-banner\"]",
            (800, 480),
        ),
        shot_spot("Shown", &format!("{base}/banner"), "", (800, 480)),
        shot_spot(
            "Header",
            &format!("{base}/private"),
            ", headers = { Authorization = \"Bearer ${INKSPOT_TEST_HA_TOKEN}\" }",
            (800, 480),
        ),
    ]
    .concat();
    let site = browser_site(&spots, "timeout = \"8s\"");
    let app = App::start(&site).await;

    let (status, png, _) = image(&app, "spot=Late&bits=1").await;
    assert_eq!(status, 200);
    assert_eq!(
        decode_png(&png).at(200, 50),
        0,
        "the late box is in the picture"
    );
    let (_, png, _) = image(&app, "spot=Script&bits=1").await;
    assert_eq!(decode_png(&png).at(200, 50), 0);

    let (status, _, code) = image(&app, "spot=Never&bits=1").await;
    assert_eq!((status, code.as_str()), (503, "page_failed"));
    let why = failure(&app, "Never").await;
    assert!(why.contains("`#never` did not appear"), "{why}");

    let (_, png, _) = image(&app, "spot=Crop&bits=1").await;
    let crop = decode_png(&png);
    assert_eq!((crop.width, crop.height), (200, 100));
    assert!(
        crop.luma.iter().all(|&v| v == 0),
        "the card fills the crop exactly"
    );

    let (_, png, _) = image(&app, "spot=Shown&bits=1").await;
    assert_eq!(decode_png(&png).at(400, 40), 0);
    let (_, png, _) = image(&app, "spot=Hidden&bits=1").await;
    assert_eq!(decode_png(&png).at(400, 40), 255, "the banner is removed");

    let (status, _, _) = image(&app, "spot=Header&bits=1").await;
    assert_eq!(status, 200);
    assert_eq!(
        seen.authorization(),
        vec![("/private".to_string(), "Bearer abc123".to_string())]
    );
    assert_eq!(
        other_seen.hits("/pixel.png"),
        1,
        "the other host was loaded"
    );
    assert!(other_seen.authorization().is_empty(), "and sent no header");
    app.stop().await;
}

#[tokio::test]
#[ignore = "needs Chromium (Debian: apt-get install chromium); scripts/test runs it"]
async fn pages_reach_only_what_the_operator_allows() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (private, private_seen) = fixture("127.0.0.2", "").await;
    let (base, seen) = fixture("127.0.0.1", &private).await;
    let spots = [
        shot_spot("Direct", &format!("{private}/shapes"), "", (800, 480)),
        shot_spot("Redirect", &format!("{base}/to-private"), "", (800, 480)),
        shot_spot("Metadata", &format!("{base}/to-metadata"), "", (800, 480)),
        shot_spot("Resource", &format!("{base}/private"), "", (800, 480)),
    ]
    .concat();
    let site = browser_site(&spots, "");
    let app = App::start(&site).await;
    for (spot, why) in [
        ("Direct", "127.0.0.2 is a loopback address"),
        ("Redirect", "127.0.0.2 is a loopback address"),
        ("Metadata", "169.254.169.254 is a link-local address"),
    ] {
        let (status, _, code) = image(&app, &format!("spot={spot}&bits=1")).await;
        assert_eq!((status, code.as_str()), (503, "page_failed"), "{spot}");
        let failure = failure(&app, spot).await;
        assert!(failure.contains(why), "{spot}: {failure}");
        assert!(failure.contains("browser.allow"), "{spot}: {failure}");
    }
    // A refused picture on an allowed page: the page is drawn without it.
    let (status, png, _) = image(&app, "spot=Resource&bits=1").await;
    assert_eq!(status, 200);
    let drawn = decode_png(&png);
    assert_eq!(drawn.at(450, 50), 0, "the page's own box");
    assert_eq!(drawn.at(50, 50), 255, "no refused picture");
    assert_eq!(seen.hits("/to-private"), 1);
    assert_eq!(private_seen.total(), 0, "nothing reached 127.0.0.2");
    app.stop().await;
}

const CARD: &str = r#"<!doctype html>
<html><head><link rel="stylesheet" href="card.css"><title>{{ spot.name }}</title></head>
<body><div class="box" style="left: {{ spot.box_x }}px"></div>
<img class="outside" src="{{ spot.outside }}/pixel.png">
<h1>{{ spot.name }} &middot; {{ "%.1f" | format(spot.height_ft) }} ft</h1></body></html>
"#;

const CARD_CSS: &str = "body { margin: 0; background: #fff }
.box { position: absolute; top: 50px; width: 200px; height: 100px; background: #000 }
.outside { position: absolute; left: 0; top: 0; width: 50px; height: 50px }
h1 { position: absolute; left: 20px; top: 160px; margin: 0; font-size: 32px }
";

#[tokio::test]
#[ignore = "needs Chromium (Debian: apt-get install chromium); scripts/test runs it"]
async fn an_html_template_fills_draws_its_golden_image_and_reaches_no_other_host() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (outside, outside_seen) = fixture("127.0.0.1", "").await;
    let site = Site::new();
    std::fs::write(site.path().join("templates/card.html"), CARD).unwrap();
    std::fs::write(site.path().join("templates/card.css"), CARD_CSS).unwrap();
    site.write_config(&format!(
        "[browser]\nallow = [\"127.0.0.1\"]\n[[spots]]\nname = \"Card\"\ntemplate = \"card\"\nwidth = 400\nheight = 240\nbox_x = 100\nheight_ft = 4.25\noutside = \"{outside}\"\n"
    ));
    let app = App::start(&site).await;
    let (status, png, _) = image(&app, "spot=Card&bits=1").await;
    assert_eq!(status, 200, "{}", failure(&app, "Card").await);
    let card = decode_png(&png);
    assert_eq!((card.width, card.height), (400, 240));
    assert_eq!(
        card.at(200, 100),
        0,
        "the box, placed by the filled value and the folder's CSS"
    );
    assert_eq!(card.at(20, 20), 255, "no picture from another host");
    assert!(card.dark_in_row(185) > 20, "the heading's text");
    assert_eq!(
        outside_seen.total(),
        0,
        "the template's page reached no other host"
    );
    crate::golden::compare_with_golden("html-card", &png);

    // `inkspot check` fills the page and loads it in the browser.
    let out = inkspot(&site, &["check"]);
    let text = text_of(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("ok   template card.html for Card"), "{text}");
    // `inkspot render --html` writes the filled page.
    let page = site.path().join("card-filled.html");
    let out = inkspot(
        &site,
        &[
            "render",
            "--spot",
            "Card",
            "-o",
            "card.png",
            "--html",
            page.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text_of(&out));
    let filled = std::fs::read_to_string(&page).unwrap();
    assert!(
        filled.contains("Card &middot; 4.2 ft") || filled.contains("Card &middot; 4.3 ft"),
        "{filled}"
    );
    app.stop().await;
}
