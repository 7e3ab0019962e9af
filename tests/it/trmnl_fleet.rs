//! TRMNL devices beyond a single screen: playlist durations and hours, the
//! double-click functions, the per-device rate limit, many devices at
//! once, and their telemetry history, through the real service.

use std::sync::Arc;
use std::time::Duration;

use crate::common::firmware::Firmware;
use crate::common::*;
use inkspot::clock::ManualClock;
use serde_json::Value;

const MAC: &str = "AA:BB:CC:DD:EE:01";
const TOKEN: &str = "an-admin-token-for-the-tests";

/// A site with spots Alpha, Bravo and Charlie and `config` before them.
fn site_with(config: &str) -> Site {
    let site = Site::new();
    std::fs::write(site.path().join("page.html"), report_page("2.5", "TRMNL")).unwrap();
    let spots = ["Alpha", "Bravo", "Charlie"].map(|n| bar_spot(n, "file://page.html", ""));
    site.write_config(&format!("{config}\n{}", spots.join("\n")));
    site
}

/// Whether a display answer names a drawn picture, not "preparing".
fn is_drawn(answer: &Value) -> bool {
    answer["filename"]
        .as_str()
        .is_some_and(|f| !f.starts_with("preparing"))
}

/// Calls display until the answer shows a drawn image of the spot whose
/// filename starts with `prefix`; returns that answer.
async fn shows(fw: &Firmware, prefix: &str) -> Value {
    let mut seen = Vec::new();
    for _ in 0..200 {
        let body = fw.display("4.1", &[]).await;
        let name = body["filename"].as_str().unwrap().to_string();
        if name.starts_with(prefix) {
            return body;
        }
        seen.push(name);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("never showed {prefix}: {seen:?}");
}

/// An item stays on the panel for its `duration`, and an item outside its
/// `hours` is skipped; `refresh_rate` wakes the device when its item ends.
#[tokio::test]
async fn playlist_items_keep_their_duration_and_their_hours() {
    let site = site_with(&format!(
        "[[devices]]\nmac = \"{MAC}\"\ntimezone = \"UTC\"\nplaylist = [\n  {{ spot = \"Alpha\", duration = \"30m\" }},\n  {{ spot = \"Bravo\", hours = \"06:00-10:00\" }},\n  \"Charlie\",\n]\n"
    ));
    let clock = ManualClock::new("2026-11-23T08:00:00Z".parse().unwrap());
    let app = App::start_with_clock(&site, Arc::new(clock.clone())).await;
    let mut fw = Firmware::new(&app.url, MAC, "og");
    fw.setup().await;
    let first = shows(&fw, "alpha").await;
    clock.advance(Duration::from_secs(60));
    let again = fw.display("4.1", &[]).await;
    assert_eq!(
        again["filename"], first["filename"],
        "Alpha holds its 30 minutes"
    );
    let rate = again["refresh_rate"].as_u64().unwrap();
    assert!(rate <= 29 * 60, "wakes when Alpha's time ends: {rate}");

    clock.advance(Duration::from_secs(29 * 60));
    shows(&fw, "bravo").await;
    shows(&fw, "charlie").await;
    shows(&fw, "alpha").await;
    // At noon Bravo is out of its hours: Alpha gives way to Charlie.
    clock.set("2026-11-23T12:00:00Z".parse().unwrap());
    let next = fw.display("4.1", &[]).await;
    assert!(
        next["filename"].as_str().unwrap().starts_with("charlie"),
        "{next}"
    );
    app.stop().await;
}

/// The double-click is answered with the bound function and does what it
/// means: `sleep` keeps the picture and sleeps `trmnl.sleep`; `identify`
/// shows the device's name and friendly id; the others are acknowledged.
#[tokio::test]
async fn each_double_click_function_is_answered_and_done() {
    let devices: String = [("01", "sleep"), ("02", "identify"), ("03", "rewind")]
        .iter()
        .map(|(n, f)| {
            format!("[[devices]]\nmac = \"AA:BB:CC:DD:EE:{n}\"\nname = \"Kitchen {n}\"\nplaylist = [\"Alpha\"]\nspecial_function = \"{f}\"\n")
        })
        .collect();
    let site = site_with(&format!("[trmnl]\nsleep = \"6h\"\n{devices}"));
    let app = App::start(&site).await;
    let click = [("special_function", "true")];

    let mut sleeper = Firmware::new(&app.url, "AA:BB:CC:DD:EE:01", "og");
    sleeper.setup().await;
    let before = shows(&sleeper, "alpha").await;
    let slept = sleeper.display("4.1", &click).await;
    assert_eq!(slept["action"], "sleep");
    assert_eq!(slept["refresh_rate"], 6 * 3600);
    assert_eq!(
        slept["filename"], before["filename"],
        "the panel is untouched"
    );

    let mut shy = Firmware::new(&app.url, "AA:BB:CC:DD:EE:02", "og");
    let setup = shy.setup().await;
    let answer = shy.display("4.1", &click).await;
    assert_eq!(answer["action"], "identify");
    let name = answer["filename"].as_str().unwrap();
    assert!(name.starts_with(&format!(
        "identify-{}-",
        setup["friendly_id"].as_str().unwrap()
    )));
    assert!(name.len() <= 31, "{name}");
    let picture = shy.image(answer["image_url"].as_str().unwrap()).await;
    assert_eq!(picture.status(), 200);
    assert_eq!(picture.headers()["content-type"], "image/png");
    let bytes = picture.bytes().await.unwrap();
    let image = decode_png(&bytes);
    assert_eq!((image.width, image.height), (800, 480));
    assert!(
        image.dark_in_row(8) > 700,
        "the frame of the notice is drawn"
    );
    let title: usize = (100..135).map(|y| image.dark_in_row(y)).sum();
    assert!(title > 500, "and its title: {title} dark pixels");
    // Without the token its answer gave, the picture needs the device's key.
    let bare = answer["image_url"]
        .as_str()
        .unwrap()
        .split('?')
        .next()
        .unwrap();
    let stranger = client()
        .get(bare)
        .header("ID", "AA:BB:CC:DD:EE:02")
        .header("Access-Token", "not-its-key")
        .send()
        .await
        .unwrap();
    assert_eq!(stranger.status(), 401, "the picture needs the device's key");

    let mut rewinder = Firmware::new(&app.url, "AA:BB:CC:DD:EE:03", "og");
    rewinder.setup().await;
    let answer = rewinder.display("4.1", &click).await;
    assert_eq!(
        answer["action"], "rewind",
        "acknowledged; the device redraws"
    );
    assert_eq!(answer["special_function"], "rewind");
    app.stop().await;
}

/// Past `trmnl.rate_limit` calls a minute, a device is answered 429 with
/// the JSON the firmware parses: its picture and a longer sleep. Another
/// device is not affected.
#[tokio::test]
async fn a_device_calling_too_often_is_told_to_wait() {
    let config = format!(
        "[schedule]\nenabled = false\n[trmnl]\nrate_limit = 2\nauto_join = true\n[[devices]]\nmac = \"{MAC}\"\n"
    );
    let site = site_with(&config);
    let app = App::start_scheduled(&site, Arc::new(inkspot::clock::SystemClock)).await;
    let mut fw = Firmware::new(&app.url, MAC, "og");
    fw.setup().await;
    let (a, first) = fw.display_raw("4.1", &[]).await;
    // The picture is drawn before the second call, so that call and the
    // limited third one both name it whatever the timing.
    let url = first["image_url"].as_str().unwrap().to_string();
    assert_eq!(client().get(&url).send().await.unwrap().status(), 200);
    let (b, shown) = fw.display_raw("4.1", &[]).await;
    assert!(is_drawn(&shown), "{shown}");
    let (c, limited) = fw.display_raw("4.1", &[]).await;
    assert_eq!((a, b, c), (200, 200, 429));
    assert_eq!(limited["status"], 0, "a body the firmware applies");
    assert_eq!(
        limited["filename"], shown["filename"],
        "the panel is untouched"
    );
    assert!(limited["refresh_rate"].as_u64().unwrap() >= 60, "{limited}");
    let mut other = Firmware::new(&app.url, "AA:BB:CC:DD:EE:02", "og");
    other.setup().await;
    assert_eq!(other.display_raw("4.1", &[]).await.0, 200);
    app.stop().await;
}

/// Twenty devices joining and polling at once each get their own key and
/// friendly id and their picture; the setup picture of a 1-bit panel is the
/// 48,062-byte BMP every firmware takes; each keeps its telemetry history,
/// which the admin reads, newest first.
#[tokio::test]
async fn many_devices_at_once_and_their_history() {
    let site = site_with(&format!(
        "[server]\nadmin_token = \"{TOKEN}\"\n[trmnl]\nauto_join = true\ndefault_playlist = [\"Alpha\"]\n"
    ));
    let app = App::start(&site).await;
    let sessions = (0..20).map(|i| {
        let url = app.url.clone();
        async move {
            let mut fw = Firmware::new(&url, &format!("AA:BB:CC:DD:EF:{i:02X}"), "og");
            let setup = fw.setup().await;
            let answer = shows(&fw, "alpha").await;
            (fw, setup, answer)
        }
    });
    let done = futures_util::future::join_all(sessions).await;
    let keys: std::collections::HashSet<_> = done.iter().map(|(fw, ..)| fw.key.clone()).collect();
    let ids: std::collections::HashSet<_> = done
        .iter()
        .map(|(_, s, _)| s["friendly_id"].to_string())
        .collect();
    assert_eq!((keys.len(), ids.len()), (20, 20));
    let names: std::collections::HashSet<_> = done
        .iter()
        .map(|(.., a)| a["filename"].to_string())
        .collect();
    assert_eq!(names.len(), 1, "one picture for all: {names:?}");

    let (fw, setup, _) = &done[0];
    let logo = fw.image(setup["image_url"].as_str().unwrap()).await;
    assert_eq!(logo.headers()["content-type"], "image/bmp");
    assert_eq!(logo.bytes().await.unwrap().len(), 48_062);

    fw.display("3.2", &[]).await;
    let id = setup["friendly_id"].as_str().unwrap();
    let detail: Value = client()
        .get(format!("{}/api/devices/{id}?limit=2", app.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(detail["mac"], fw.mac);
    let history = detail["history"].as_array().unwrap();
    assert_eq!(history.len(), 2, "{detail}");
    assert_eq!(history[0]["battery_voltage"], 3.2, "newest first");
    assert_eq!(history[0]["rssi"], -63);
    assert!(detail.get("api_key").is_none(), "keys never leave");
    let missing = client()
        .get(format!("{}/api/devices/ZZZZZZ", app.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let bad = client()
        .get(format!("{}/api/devices/{id}?limit=lots", app.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(
        body["code"], "invalid_parameter",
        "JSON, as every bad request: {body}"
    );
    assert!(body["error"].as_str().unwrap().contains("limit"), "{body}");
    let anonymous = client()
        .get(format!("{}/api/devices/{id}", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    app.stop().await;
}
