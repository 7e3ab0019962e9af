//! The TRMNL device API through the real service, with a client that sends
//! what firmware 1.8 sends, header by header in its order, replaying whole
//! sessions: setup, display, the image download, log.

use crate::common::firmware::Firmware;
use crate::common::*;
use serde_json::Value;

const MAC: &str = "AA:BB:CC:DD:EE:01";
const ADMIN: &str = "an-admin-token-for-the-tests";

async fn site_with(extra: &str) -> (Site, App) {
    let site = Site::new();
    std::fs::write(site.path().join("page.html"), report_page("2.5", "TRMNL")).unwrap();
    let spot = bar_spot("Linda Mar", "file://page.html", "");
    site.write_config(&format!("{extra}\n{spot}"));
    let app = App::start(&site).await;
    (site, app)
}

/// Polls display until the image is drawn (the first call starts it).
async fn ready(fw: &Firmware) -> Value {
    for _ in 0..100 {
        let body = fw.display("4.1", &[]).await;
        if !body["filename"].as_str().unwrap().starts_with("preparing") {
            return body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the image was never drawn");
}

#[tokio::test]
async fn a_configured_device_pairs_shows_the_spot_and_refreshes_only_on_change() {
    let devices = format!(
        "[server]\nadmin_token = \"{ADMIN}\"\n[[devices]]\nmac = \"{}\"\nname = \"Kitchen\"\n",
        MAC.to_lowercase()
    );
    let (site, app) = site_with(&devices).await;
    let mut fw = Firmware::new(&app.url, MAC, "og");
    let setup = fw.setup().await;
    assert_eq!(setup["status"], 200);
    let key = setup["api_key"].as_str().unwrap();
    assert_eq!(key.len(), 32);
    assert_eq!(setup["friendly_id"].as_str().unwrap().len(), 6);

    // The first display call draws nothing itself: it says come back soon.
    let first = fw.display("4.1", &[]).await;
    assert_eq!(first["status"], 0);
    assert!(first["refresh_rate"].is_u64(), "a JSON integer");
    let shown = ready(&fw).await;
    let filename = shown["filename"].as_str().unwrap();
    assert!(
        filename.len() <= 31 && filename.starts_with("lindama-"),
        "{filename}"
    );
    let url = shown["image_url"].as_str().unwrap();
    assert!(url.starts_with(&app.url), "{url}");
    let image = fw.image(url).await;
    assert_eq!(image.status(), 200);
    assert_eq!(image.headers()["content-type"], "image/png");
    let bytes = image.bytes().await.unwrap();
    assert!(bytes.len() <= 90_000);
    let png = decode_png(&bytes);
    assert_eq!(
        (png.width, png.height, png.depth),
        (800, 480, png::BitDepth::One)
    );

    // Unchanged content: the same filename, so the panel is left alone.
    let again = fw.display("4.1", &[]).await;
    assert_eq!(again["filename"], shown["filename"]);

    // A double-click is answered with the bound function.
    let click = fw.display("4.1", &[("special_function", "true")]).await;
    assert_eq!(click["action"], "restart_playlist");

    // Telemetry is kept, and a bad Battery-Voltage is ignored, not refused.
    let odd = fw.display("not-a-number", &[]).await;
    assert_eq!(odd["status"], 0);
    let device = app
        .service
        .devices
        .as_ref()
        .unwrap()
        .by_mac(MAC)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(device.battery_voltage, Some(4.1));
    assert_eq!(device.rssi, Some(-63));
    assert_eq!(device.firmware.as_deref(), Some("1.8.15"));

    // Logs are kept.
    let log = serde_json::json!({"logs": [{"id": 1, "message": "woke", "source_line": 10}]});
    let r = fw
        .client
        .post(format!("{}/api/log", app.url))
        .header("ID", MAC)
        .header("Access-Token", key)
        .header("Content-Type", "application/json")
        .body(log.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(app.registry().logbook().logs(MAC).await.unwrap().len(), 1);
    // A post that cannot be kept is dropped and acknowledged: firmware
    // would send it again at every wake if it were refused.
    for body in [
        "not json".to_string(),
        format!("{{\"logs\": [\"{}\"]}}", "x".repeat(70_000)),
    ] {
        let r = fw
            .client
            .post(format!("{}/api/log", app.url))
            .header("ID", MAC)
            .header("Access-Token", key)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }
    assert_eq!(
        app.registry().logbook().logs(MAC).await.unwrap().len(),
        1,
        "nothing unreadable was kept"
    );
    app.stop().await;

    // A restart keeps the device and its key. Setup after a wipe does not
    // hand the key to whoever sends the MAC: it is told it is not
    // registered (never wiped), until the operator opens pairing.
    let app = App::start(&site).await;
    let mut wiped = Firmware::new(&app.url, MAC, "og");
    let refused = wiped.setup().await;
    assert_eq!(refused["status"], 404, "{refused}");
    assert_eq!(refused["api_key"], "", "no key without pairing");
    let pair = client()
        .post(format!("{}/api/devices/{MAC}/pair", app.url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(pair.status(), 200);
    let again = wiped.setup().await;
    assert_eq!(again["api_key"], key, "never an empty or different key");
    assert_eq!(wiped.display("4.1", &[]).await["status"], 0);
    app.stop().await;
}

#[tokio::test]
async fn unknown_devices_are_told_so_and_never_wiped() {
    let (_site, app) = site_with("").await;
    let mut stranger = Firmware::new(&app.url, "AA:BB:CC:DD:EE:99", "og");
    let setup = stranger.setup().await;
    assert_eq!(setup["status"], 404, "not registered: the device shows so");
    stranger.key = Some("a-key-from-another-server".into());
    let display = stranger.display("4.1", &[]).await;
    assert_eq!(
        display["status"], 202,
        "unknown token: come back once claimed"
    );
    let no_id = client()
        .get(format!("{}/api/display", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(no_id.status(), 200);
    let body: Value = no_id.json().await.unwrap();
    assert_eq!(body["status"], 202);
    app.stop().await;
}

#[tokio::test]
async fn with_auto_join_an_old_key_is_adopted_and_models_get_their_output() {
    let (_site, app) = site_with("[trmnl]\nauto_join = true").await;
    // Firmware that kept its trmnl.com key goes straight to display.
    let mut fw = Firmware::new(&app.url, "AA:BB:CC:DD:EE:02", "og_bwry");
    fw.key = Some("kept-from-trmnl-com".into());
    let shown = ready(&fw).await;
    assert_eq!(shown["status"], 0);
    let url = shown["image_url"].as_str().unwrap();
    assert!(url.ends_with("device=trmnl-bwry"), "{url}");
    let bytes = fw.image(url).await.bytes().await.unwrap();
    let decoder = png::Decoder::new(&bytes[..]);
    let info = decoder.read_info().unwrap().info().clone();
    assert_eq!(info.color_type, png::ColorType::Indexed);
    assert_eq!(info.bit_depth, png::BitDepth::Two);
    let current = client()
        .get(format!("{}/api/current_screen", app.url))
        .header("ID", "AA:BB:CC:DD:EE:02")
        .header("Access-Token", "kept-from-trmnl-com")
        .send()
        .await
        .unwrap();
    let current: Value = current.json().await.unwrap();
    assert_eq!(current["status"], 200);
    assert_eq!(current["filename"], shown["filename"]);
    app.stop().await;
}

#[tokio::test]
async fn quiet_hours_sleep_through_to_their_end() {
    let devices = format!(
        "[[devices]]\nmac = \"{MAC}\"\nquiet_hours = \"22:00-06:00\"\ntimezone = \"Europe/Paris\"\n"
    );
    let site = Site::new();
    std::fs::write(site.path().join("page.html"), report_page("2.5", "TRMNL")).unwrap();
    let spot = bar_spot("Linda Mar", "file://page.html", "");
    site.write_config(&format!("{devices}\n{spot}"));
    // 23:30 in Paris: six and a half hours to go.
    let clock = inkspot::clock::ManualClock::new("2026-11-23T22:30:00Z".parse().unwrap());
    let app = App::start_with_clock(&site, std::sync::Arc::new(clock.clone())).await;
    let mut fw = Firmware::new(&app.url, MAC, "og");
    fw.setup().await;
    let shown = ready(&fw).await;
    assert_eq!(shown["refresh_rate"], 6 * 3600 + 1800);
    // At 07:00 it is awake again: told the usual sleep.
    clock.advance(std::time::Duration::from_secs(8 * 3600));
    let day = ready(&fw).await;
    let rate = day["refresh_rate"].as_u64().unwrap();
    assert!((60..=3600).contains(&rate), "{rate}");
    app.stop().await;
}

#[tokio::test]
async fn the_device_list_needs_the_admin_token_and_never_shows_keys() {
    let extra = format!(
        "[server]\nadmin_token = \"0123456789abcdef-admin\"\n[[devices]]\nmac = \"{MAC}\"\nname = \"Kitchen\"\n"
    );
    let (_site, app) = site_with(&extra).await;
    let mut fw = Firmware::new(&app.url, MAC, "og");
    fw.setup().await;
    fw.display("3.9", &[]).await;
    let list = |auth: Option<&'static str>| {
        let mut req = client().get(format!("{}/api/devices", app.url));
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        req.send()
    };
    assert_eq!(list(None).await.unwrap().status(), 401);
    assert_eq!(list(Some("Bearer wrong")).await.unwrap().status(), 401);
    let r = list(Some("Bearer 0123456789abcdef-admin")).await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(
        !text.contains(fw.key.as_deref().unwrap()),
        "no key in {text}"
    );
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body[0]["name"], "Kitchen");
    assert_eq!(body[0]["mac"], MAC);
    assert_eq!(body[0]["battery_percent"], 75);
    assert_eq!(body[0]["rssi"], -63);
    app.stop().await;

    let (_site, app) = site_with("").await;
    let r = client()
        .get(format!("{}/api/devices", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "off without a token");
    app.stop().await;
}

/// A device database that cannot be opened costs the devices, not the
/// images: the service starts, serves images, and tells devices it cannot
/// register them, without wiping them.
#[tokio::test]
async fn an_unusable_device_database_leaves_images_working() {
    // Its folder would be a file.
    let site = Site::new();
    std::fs::write(site.path().join("blocker"), "a file, not a folder").unwrap();
    std::fs::write(site.path().join("page.html"), report_page("2.5", "TRMNL")).unwrap();
    let spot = bar_spot("Linda Mar", "file://page.html", "");
    site.write_config(&format!(
        "[database]\npath = \"blocker/inkspot.db\"\n{spot}"
    ));
    let app = App::start(&site).await;
    assert!(app.service.devices.as_ref().is_none());
    assert_eq!(app.get("/image?spot=linda-mar", &[]).await.status(), 200);
    let mut fw = Firmware::new(&app.url, MAC, "og");
    assert_eq!(fw.setup().await["status"], 404);
    fw.key = Some("any".into());
    assert_eq!(fw.display("4.1", &[]).await["status"], 202);
    drop(site);
    app.stop().await;
}

/// Each model gets the output its panel takes, within its byte limit.
#[rstest::rstest]
#[case::og_plus("og_plus", (800, 480), png::ColorType::Grayscale, png::BitDepth::Two, 90_000)]
#[case::x("x", (1872, 1404), png::ColorType::Grayscale, png::BitDepth::Four, 750_000)]
#[case::spectra6("reterminal_e1002", (800, 480), png::ColorType::Indexed, png::BitDepth::Four, 90_000)]
#[case::kindle("amazon_kindle_pw5", (600, 800), png::ColorType::Grayscale, png::BitDepth::Eight, 750_000)]
#[case::gen2("og_gen2", (800, 480), png::ColorType::Grayscale, png::BitDepth::One, 90_000)]
#[case::sticky("reTerminal Sticky", (800, 480), png::ColorType::Grayscale, png::BitDepth::One, 90_000)]
#[case::x4("xteink_x4", (800, 480), png::ColorType::Grayscale, png::BitDepth::One, 90_000)]
#[case::x3("XTEINK_X3", (792, 528), png::ColorType::Grayscale, png::BitDepth::One, 90_000)]
#[tokio::test]
async fn each_model_gets_its_panels_image(
    #[case] model: &'static str,
    #[case] size: (u32, u32),
    #[case] color: png::ColorType,
    #[case] depth: png::BitDepth,
    #[case] cap: usize,
) {
    let (_site, app) = site_with("[trmnl]\nauto_join = true").await;
    let mut fw = Firmware::new(&app.url, "AA:BB:CC:DD:EE:05", model);
    assert_eq!(fw.setup().await["status"], 200);
    let shown = ready(&fw).await;
    let bytes = fw
        .image(shown["image_url"].as_str().unwrap())
        .await
        .bytes()
        .await
        .unwrap();
    assert!(bytes.len() <= cap, "{model}: {} bytes", bytes.len());
    let decoder = png::Decoder::new(&bytes[..]);
    let info = decoder.read_info().unwrap().info().clone();
    assert_eq!((info.width, info.height), size, "{model}");
    assert_eq!((info.color_type, info.bit_depth), (color, depth), "{model}");
    assert!(!info.interlaced);
    app.stop().await;
}

/// A device with a playlist shows the next spot at each wake, once its
/// image is drawn; `current_screen` tells what it shows now.
#[tokio::test]
async fn a_playlist_turns_at_each_wake() {
    let site = Site::new();
    std::fs::write(site.path().join("page.html"), report_page("2.5", "TRMNL")).unwrap();
    let spots = ["Alpha", "Bravo"].map(|n| bar_spot(n, "file://page.html", ""));
    let device = format!("[[devices]]\nmac = \"{MAC}\"\nplaylist = [\"Alpha\", \"bravo\"]\n");
    site.write_config(&format!("{device}\n{}\n{}", spots[0], spots[1]));
    let app = App::start(&site).await;
    let mut fw = Firmware::new(&app.url, MAC, "og");
    fw.setup().await;
    let mut shown = Vec::new();
    for _ in 0..100 {
        let body = fw.display("4.1", &[]).await;
        let name = body["filename"].as_str().unwrap().to_string();
        if !name.starts_with("preparing") {
            shown.push(name[..5].to_string());
        }
        if shown.len() >= 6 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let last4 = &shown[shown.len() - 4..];
    assert!(
        last4 == ["alpha", "bravo", "alpha", "bravo"]
            || last4 == ["bravo", "alpha", "bravo", "alpha"],
        "{shown:?}"
    );
    let now = fw.display("4.1", &[]).await;
    let current = client()
        .get(format!("{}/api/current_screen", app.url))
        .header("ID", MAC)
        .header("Access-Token", fw.key.clone().unwrap())
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(current["filename"], now["filename"], "what the panel shows");
    app.stop().await;
}

/// A playlist item without data is skipped after one try, so the panel
/// moves on to one that has an image; a device none of whose items can be
/// drawn gets the error picture under a name that stays while the failure
/// does, comes back less and less often, and is flagged on `/status`.
#[tokio::test]
async fn an_item_that_cannot_be_drawn_is_skipped_and_a_device_with_none_backs_off() {
    const STUCK: &str = "AA:BB:CC:DD:EE:02";
    let site = Site::new();
    std::fs::write(site.path().join("page.html"), report_page("2.5", "TRMNL")).unwrap();
    let good = bar_spot("Alpha", "file://page.html", "");
    let bad = bar_spot("Bravo", "file://missing.html", "");
    let devices = format!(
        "[[devices]]\nmac = \"{MAC}\"\nplaylist = [\"Bravo\", \"Alpha\"]\n\n\
         [[devices]]\nmac = \"{STUCK}\"\nname = \"Porch\"\nplaylist = [\"Bravo\"]\n"
    );
    site.write_config(&format!("{devices}\n{good}\n{bad}"));
    let clock = inkspot::clock::ManualClock::new("2026-11-23T10:00:00Z".parse().unwrap());
    let app = App::start_with_clock(&site, std::sync::Arc::new(clock.clone())).await;

    let mut fw = Firmware::new(&app.url, MAC, "og");
    fw.setup().await;
    let mut names = Vec::new();
    for _ in 0..100 {
        let name = fw.display("4.1", &[]).await["filename"]
            .as_str()
            .unwrap()
            .to_string();
        names.push(name.clone());
        if name.starts_with("alpha-") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let last = names.last().unwrap().clone();
    assert!(last.starts_with("alpha-"), "moved on to Alpha: {names:?}");
    let distinct: std::collections::BTreeSet<_> = names.iter().collect();
    assert!(
        distinct.len() <= 3,
        "no name that changes at every call: {names:?}"
    );
    // Bravo still has nothing: the panel stays on Alpha.
    let again = fw.display("4.1", &[]).await;
    assert_eq!(again["filename"], last.as_str(), "{again}");

    let mut stuck = Firmware::new(&app.url, STUCK, "og");
    stuck.setup().await;
    let mut first = Value::Null;
    for _ in 0..100 {
        first = stuck.display("4.1", &[]).await;
        if first["filename"].as_str().unwrap().starts_with("error-") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let name = first["filename"].as_str().unwrap().to_string();
    assert!(name.starts_with("error-") && name.len() <= 31, "{first}");
    assert_eq!(first["refresh_rate"], 60, "{first}");
    let picture = stuck.image(first["image_url"].as_str().unwrap()).await;
    assert_eq!(picture.status(), 200, "the firmware shows only a 200");
    let bytes = picture.bytes().await.unwrap();
    assert!(image::load_from_memory(&bytes).is_ok(), "a picture");

    // Twenty minutes on, still failing: the same name, a longer sleep.
    clock.advance(std::time::Duration::from_secs(20 * 60));
    let later = stuck.display("4.1", &[]).await;
    assert_eq!(later["filename"], name.as_str(), "{later}");
    assert_eq!(later["refresh_rate"], 600, "{later}");

    let status: Value = client()
        .get(format!("{}/status", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let porch = status["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "Porch")
        .unwrap();
    let trouble = porch["trouble"].as_str().unwrap_or_default();
    assert!(trouble.contains("Bravo"), "{porch}");
    let problems = status["problems"].to_string();
    assert!(problems.contains("device Porch"), "{problems}");
    let moved = status["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["mac"] == MAC)
        .unwrap();
    assert!(moved["trouble"].is_null(), "{moved}");
    app.stop().await;
}
