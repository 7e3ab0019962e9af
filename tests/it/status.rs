//! `/status`, `inkspot status`, the admin token in front of them, and the
//! gallery's panel previews, through the real service.

use std::sync::Arc;
use std::time::Duration;

use crate::common::firmware::Firmware;
use crate::common::*;
use inkspot::clock::ManualClock;
use serde_json::Value;

const MAC: &str = "AA:BB:CC:DD:EE:01";
const TOKEN: &str = "an-admin-token-for-the-tests";

/// Spots Clean (a page that answers) and Broken (a missing file), a
/// configured TRMNL, and `extra` config.
fn site(extra: &str) -> Site {
    let site = Site::new();
    std::fs::write(site.path().join("page.html"), report_page("2.5", "Clean")).unwrap();
    let spots = [
        bar_spot("Clean", "file://page.html", ""),
        bar_spot("Broken", "file://missing.html", ""),
    ];
    let device =
        format!("[[devices]]\nmac = \"{MAC}\"\nname = \"Kitchen\"\nplaylist = [\"Clean\"]\n");
    site.write_config(&format!("{extra}\n{device}\n{}", spots.join("\n")));
    site
}

async fn status(app: &App, headers: &[(&str, &str)]) -> Value {
    let r = app.get("/status", headers).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// After real fetches, a failure, renders and a device's call, the status
/// says what happened to each, and the command line prints it.
#[tokio::test]
async fn status_tells_spots_sources_devices_and_storage() {
    let site = site("");
    let clock = ManualClock::new("2026-11-23T10:00:00Z".parse().unwrap());
    let app = App::start_with_clock(&site, Arc::new(clock.clone())).await;
    assert_eq!(app.get("/image?spot=clean", &[]).await.status(), 200);
    assert_eq!(app.get("/image?spot=broken", &[]).await.status(), 503);
    let mut fw = Firmware::new(&app.url, MAC, "og");
    fw.setup().await;
    for _ in 0..100 {
        let body = fw.display("4.0", &[]).await;
        if !body["filename"].as_str().unwrap().starts_with("preparing") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let s = status(&app, &[]).await;
    assert_eq!(s["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(s["ready"], true);
    assert_eq!(s["tasks"]["store-sweeper"], "running");
    assert!(
        s["storage"]["memory"]["entries"].as_u64().unwrap() >= 2,
        "{s}"
    );
    assert_eq!(s["storage"]["disk"]["limit_bytes"], 256 * 1024 * 1024);
    assert!(s["storage"]["disk"]["free_bytes"].as_u64().unwrap() > 0);
    assert!(s["load"]["memory_bytes"].as_u64().unwrap() > 0);
    assert!(s["jobs"].is_null(), "no API keys, no job API: {s}");
    let clean = &s["spots"][0];
    assert_eq!(clean["name"], "Clean");
    assert_eq!(clean["sources"][0]["state"], "ok", "{clean}");
    assert!(clean["last_render_at"].is_string(), "{clean}");
    let broken = &s["spots"][1];
    assert_eq!(broken["sources"][0]["state"], "failed", "{broken}");
    let why = broken["sources"][0]["error"].as_str().unwrap();
    assert!(why.contains("missing.html"), "{why}");
    let device = &s["devices"][0];
    assert_eq!(device["name"], "Kitchen");
    assert_eq!(device["battery_percent"], 90);
    assert_eq!(device["image_cap"], 90_000, "{device}");
    assert!(device["image_bytes"].as_u64().unwrap() > 100, "{device}");
    assert_eq!(device["overdue"], false);
    assert_eq!(device["over_cap"], false);

    // A device that sleeps past its wake time and five minutes is overdue.
    clock.advance(Duration::from_secs(2 * 3600));
    assert_eq!(status(&app, &[]).await["devices"][0]["overdue"], true);

    let url = format!("{}/status", app.url);
    // The command runs off this test's thread, which serves the requests.
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_inkspot"))
            .args(["status", "--url", &url])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let printed = text_of(&out);
    assert!(out.status.success(), "{printed}");
    assert!(printed.contains(", ready\n"), "{printed}");
    let broken_row = printed.lines().find(|l| l.starts_with("Broken")).unwrap();
    assert!(broken_row.contains("report failed"), "{printed}");
    let device_row = printed.lines().find(|l| l.contains("Kitchen")).unwrap();
    assert!(device_row.ends_with("OVERDUE"), "{device_row}");
    app.stop().await;
}

/// With an admin token, `/status`, `/preview` and the gallery need it: as a
/// bearer token, or the cookie `/login` sets for the right token only.
#[tokio::test]
async fn the_admin_token_guards_status_and_the_gallery() {
    let site = site(&format!("[server]\nadmin_token = \"{TOKEN}\""));
    let app = App::start(&site).await;
    assert_eq!(app.get("/status", &[]).await.status(), 401);
    let bearer = format!("Bearer {TOKEN}");
    status(&app, &[("Authorization", &bearer)]).await;
    assert_eq!(app.get("/preview?spot=clean", &[]).await.status(), 401);

    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = browser.get(format!("{}/", app.url)).send().await.unwrap();
    assert_eq!(page.status(), 303);
    assert_eq!(page.headers()["location"], "/login");
    let login = |token: &'static str| {
        browser
            .post(format!("{}/login", app.url))
            .form(&[("token", token)])
            .send()
    };
    let wrong = login("not-the-token-at-all").await.unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());
    let right = login(TOKEN).await.unwrap();
    assert_eq!(right.status(), 303);
    let cookie = right.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(
        !cookie.contains(TOKEN),
        "the token itself stays out of the cookie"
    );
    let session = cookie.split(';').next().unwrap().to_string();
    let page = browser
        .get(format!("{}/", app.url))
        .header("Cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("id=\"spot-clean\""), "{html}");
    app.stop().await;
}

/// A preview shows the panel's looks only: for BWRY, its four inks as
/// measured, never a colour the panel cannot show.
#[tokio::test]
async fn previews_show_only_what_the_panel_can() {
    let site = site("");
    let app = App::start(&site).await;
    let r = app.get("/preview?spot=clean&model=og_bwry", &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/png");
    let bytes = r.bytes().await.unwrap();
    let mut reader = png::Decoder::new(std::io::Cursor::new(&bytes))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (800, 480));
    let looks: [[u8; 3]; 4] = [
        [0x19, 0x1E, 0x21],
        [0xE8, 0xE8, 0xE8],
        [0xEF, 0xDE, 0x44],
        [0xB2, 0x13, 0x18],
    ];
    let mut seen = std::collections::HashSet::new();
    for px in buf.chunks_exact(3) {
        let px: [u8; 3] = px.try_into().unwrap();
        assert!(looks.contains(&px), "{px:?} is not an ink");
        seen.insert(px);
    }
    assert!(seen.len() >= 2, "ink and paper at least: {seen:?}");
    let unknown = app.get("/preview?spot=nowhere", &[]).await;
    assert_eq!(unknown.status(), 404);
    let body = unknown.text().await.unwrap();
    assert!(body.contains("clean"), "names the spots: {body}");
    app.stop().await;
}

/// Uptime is the process's, not the data clock's: a service whose clock
/// stands still (the offline demo's) still counts its time up.
#[tokio::test]
async fn uptime_counts_while_the_data_clock_stands_still() {
    let site = site("");
    let clock = ManualClock::new("2026-11-22T17:30:00Z".parse().unwrap());
    let before = chrono::Utc::now();
    let app = App::start_with_clock(&site, Arc::new(clock)).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let s = status(&app, &[]).await;
    assert!(s["uptime_seconds"].as_i64().unwrap() >= 2, "{s}");
    let started: chrono::DateTime<chrono::Utc> = s["started_at"].as_str().unwrap().parse().unwrap();
    assert!(
        started >= before - chrono::Duration::seconds(1),
        "{started}: the wall clock's"
    );
}

/// The gallery tells the truth: a spot whose every source failed has no
/// data (not data "0s old"), a time already past is "due", the page opens
/// with a list of spots and their states, one spot can be opened alone,
/// device times read like spot times, and a device stuck on an item that
/// cannot be drawn is flagged, in the page's state too.
#[tokio::test]
async fn the_gallery_shows_states_and_times_as_they_are() {
    const PORCH: &str = "AA:BB:CC:DD:EE:02";
    let site = site(&format!(
        "[[devices]]\nmac = \"{PORCH}\"\nname = \"Porch\"\nplaylist = [\"Broken\"]\n"
    ));
    let clock = ManualClock::new("2026-11-22T17:30:00Z".parse().unwrap());
    let app = App::start_with_clock(&site, Arc::new(clock)).await;
    assert_eq!(app.get("/image?spot=clean", &[]).await.status(), 200);
    assert_eq!(app.get("/image?spot=broken", &[]).await.status(), 503);
    let mut porch = Firmware::new(&app.url, PORCH, "og");
    porch.setup().await;
    for _ in 0..100 {
        let body = porch.display("4.0", &[]).await;
        if body["filename"].as_str().unwrap().starts_with("error-") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let html = app.get("/", &[]).await.text().await.unwrap();
    let page = scraper::Html::parse_document(&html);
    let text = |css: &str| -> String {
        let selector = scraper::Selector::parse(css).unwrap();
        page.select(&selector)
            .map(|e| e.text().collect::<String>())
            .collect::<Vec<_>>()
            .join(" | ")
    };
    let list = text("#spot-list");
    assert!(
        list.contains("Clean ok") && list.contains("Broken no data"),
        "{list}"
    );
    let broken = text("#spot-broken .muted");
    assert!(
        broken.contains("no data: every source failed at 2026-11-22 17:30 UTC"),
        "{broken}"
    );
    assert!(!broken.contains("data from"), "{broken}");
    let clean = text("#spot-clean .muted");
    assert!(clean.contains("data from 2026-11-22 17:30 UTC"), "{clean}");
    let devices = text("#devices");
    assert!(devices.contains("Porch"), "{devices}");
    assert!(
        devices.contains("no playlist item can be drawn"),
        "{devices}"
    );
    assert!(
        !devices.contains("T17:30"),
        "device times formatted: {devices}"
    );
    assert!(devices.contains("2026-11-22 17:30 UTC"), "{devices}");
    let state = text("#state");
    assert!(state.contains("problem"), "not a green ready: {state}");
    assert!(text("#problems").contains("device Porch"), "{html}");

    let alone = app.get("/?spot=broken", &[]).await.text().await.unwrap();
    assert!(alone.contains("id=\"spot-broken\""));
    assert!(!alone.contains("id=\"spot-clean\""), "one spot alone");
    assert!(
        alone.contains("id=\"spot-list\""),
        "with the list to go back"
    );
    app.stop().await;
}
