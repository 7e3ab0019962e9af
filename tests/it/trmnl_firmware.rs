//! Firmware updates over real sockets, as firmware 1.8 asks: offered only
//! when every condition holds, downloaded with its length, judged by the
//! next call; a device that fails twice is held and flagged until an
//! operator clears it; a folder whose checksum does not match is refused.

use std::sync::Arc;

use sha2::Digest;

use crate::common::firmware::Firmware;
use crate::common::*;
use inkspot::clock::ManualClock;
use serde_json::Value;

const TOKEN: &str = "an-admin-token-for-the-firmware-tests";
const KITCHEN: &str = "AA:BB:CC:DD:EE:41";

/// A firmware image of 300 KB that is not all one byte.
fn image() -> Vec<u8> {
    (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect()
}

/// A site whose `firmware/` folder declares `og.bin` as 1.8.16 for `og`
/// with `sha256`, and `extra` config.
fn site_with_firmware(sha256: &str, extra: &str) -> Site {
    let site = Site::new();
    std::fs::write(site.path().join("page.html"), report_page("2.5", "TRMNL")).unwrap();
    let dir = site.path().join("firmware");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("og.bin"), image()).unwrap();
    let manifest = format!(
        "[[firmware]]\nfile = \"og.bin\"\nversion = \"1.8.16\"\nmodels = [\"og\"]\nsha256 = \"{sha256}\"\n"
    );
    std::fs::write(dir.join("firmware.toml"), manifest).unwrap();
    let spot = bar_spot("Linda Mar", "file://page.html", "");
    site.write_config(&format!(
        "[server]\nadmin_token = \"{TOKEN}\"\n[trmnl]\nfirmware_dir = \"firmware\"\nupdate_min_battery = 40\n{extra}\n{spot}"
    ));
    site
}

fn good_sha() -> String {
    hex::encode(sha2::Sha256::digest(image()))
}

async fn start(site: &Site) -> (App, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new("2026-12-07T03:00:00Z".parse().unwrap()));
    let app = App::start_with_clock(site, clock.clone()).await;
    (app, clock)
}

/// POSTs to the admin API `path`, which must answer 200: its JSON.
async fn post(app: &App, path: &str) -> Value {
    let r = client()
        .post(format!("{}{path}", app.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

fn offered(answer: &Value) -> bool {
    answer["update_firmware"] == true
}

#[tokio::test]
async fn an_update_is_offered_downloaded_with_its_length_and_judged_by_the_next_call() {
    let site = site_with_firmware(
        &good_sha(),
        &format!("[[devices]]\nmac = \"{KITCHEN}\"\nfirmware_updates = true"),
    );
    let (app, _clock) = start(&site).await;
    let mut fw = Firmware::new(&app.url, KITCHEN, "og");
    let id = fw.setup().await["friendly_id"]
        .as_str()
        .unwrap()
        .to_string();

    let answer = fw.display("4.1", &[]).await;
    assert!(offered(&answer), "{answer}");
    let url = answer["firmware_url"].as_str().unwrap();
    let prefix = format!("{}/firmware/og.bin?device={id}&token=", app.url);
    assert!(url.starts_with(&prefix), "{url}");
    // A download with a wrong token is served, but not recorded as the
    // device's.
    let wrong = client()
        .get(format!("{prefix}0123456789abcdef0123456789abcdef"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 200);
    let detail = app.json_as(&format!("/api/devices/{id}"), TOKEN).await;
    assert_eq!(
        detail["firmware_update"]["downloaded_at"],
        Value::Null,
        "{detail}"
    );
    assert!(
        answer["image_url"].is_string(),
        "the picture is still given: {answer}"
    );

    let r = client().get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-length"], "300000");
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    let body = r.bytes().await.unwrap();
    assert_eq!(body.len(), 300_000);
    assert_eq!(
        hex::encode(sha2::Sha256::digest(&body)),
        good_sha(),
        "the bytes are the file's"
    );
    let detail = app.json_as(&format!("/api/devices/{id}"), TOKEN).await;
    assert!(
        detail["firmware_update"]["downloaded_at"].is_string(),
        "{detail}"
    );

    fw.version = "1.8.16".to_string();
    let answer = fw.display("4.1", &[]).await;
    assert!(!offered(&answer), "updated: {answer}");
    assert_eq!(answer["firmware_url"], Value::Null);
    let again = fw.display("4.1", &[]).await;
    assert!(
        !offered(&again),
        "a device on the new version is never offered"
    );

    let status = app.json_as("/status", TOKEN).await;
    let counts = &status["firmware"]["counts"];
    assert_eq!(
        (counts["offered"].as_u64(), counts["downloaded"].as_u64()),
        (Some(1), Some(2)),
        "{status}"
    );
    assert_eq!(
        (counts["updated"].as_u64(), counts["failed"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(status["firmware"]["images"][0]["version"], "1.8.16");
    let metrics = app.text_as("/metrics", TOKEN).await;
    assert!(
        metrics.contains("inkspot_firmware_events_total{event=\"updated\"} 1"),
        "{metrics}"
    );

    let missing = client()
        .get(format!("{}/firmware/nope.bin", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert!(
        missing.text().await.unwrap().contains("og.bin"),
        "the 404 names the images"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_device_that_fails_twice_is_held_and_flagged_until_cleared() {
    let site = site_with_firmware(&good_sha(), "firmware_updates = true\nauto_join = true");
    let (app, clock) = start(&site).await;
    let mut fw = Firmware::new(&app.url, KITCHEN, "og");
    fw.setup().await;
    let detail_path = format!("/api/devices/{}", KITCHEN);
    let day = std::time::Duration::from_secs(25 * 3600);

    assert!(offered(&fw.display("4.1", &[]).await), "first offer");
    // It comes back on its old version without downloading: one failure,
    // and that call offers nothing (never two offers in one wake cycle).
    assert!(
        !offered(&fw.display("4.1", &[]).await),
        "the judging call offers nothing"
    );
    assert!(
        !offered(&fw.display("4.1", &[]).await),
        "nor the next, within a day"
    );
    let detail = app.json_as(&detail_path, TOKEN).await;
    assert_eq!(detail["firmware_update"]["failures"], 1, "{detail}");

    clock.advance(day);
    let answer = fw.display("4.1", &[]).await;
    assert!(offered(&answer), "offered again after a day");
    client()
        .get(answer["firmware_url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(!offered(&fw.display("4.1", &[]).await), "second failure");

    clock.advance(day);
    for _ in 0..3 {
        assert!(
            !offered(&fw.display("4.1", &[]).await),
            "held after two failures"
        );
    }
    let detail = app.json_as(&detail_path, TOKEN).await;
    assert_eq!(detail["firmware_held"], "1.8.16", "{detail}");
    assert_eq!(detail["firmware_update"]["failures"], 2);
    let status = app.json_as("/status", TOKEN).await;
    let problems = status["problems"].to_string();
    assert!(
        problems.contains("firmware 1.8.16 failed 2 times"),
        "{problems}"
    );
    let metrics = app.text_as("/metrics", TOKEN).await;
    let held = metrics
        .lines()
        .find(|l| l.starts_with("inkspot_device_firmware_held{"))
        .unwrap_or_default();
    assert!(held.ends_with(" 1"), "{held}");
    assert!(
        metrics.contains("inkspot_firmware_events_total{event=\"failed\"} 2"),
        "{metrics}"
    );
    let gallery = app.text_as("/", TOKEN).await;
    assert!(
        gallery.contains("no longer offered"),
        "the gallery flags it"
    );

    // The operator clears it from the command line, through the admin API.
    let (url, dir) = (app.url.clone(), site.path().to_path_buf());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_inkspot"))
            .args([
                "devices",
                "clear-firmware",
                KITCHEN,
                "--url",
                &url,
                "--token",
                TOKEN,
            ])
            .current_dir(dir)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text_of(&out));
    assert!(
        text_of(&out).contains("failed firmware updates are forgotten"),
        "{}",
        text_of(&out)
    );
    let detail = app.json_as(&detail_path, TOKEN).await;
    assert_eq!(detail["firmware_held"], Value::Null, "{detail}");
    assert!(
        offered(&fw.display("4.1", &[]).await),
        "offered again once cleared"
    );
    let cleared = post(&app, &format!("{detail_path}/firmware/clear")).await;
    assert_eq!(
        cleared["was_held"],
        Value::Null,
        "nothing was held the second time: {cleared}"
    );
    app.stop().await;
}

/// Each condition's absence over sockets: updates off for the device, a
/// model no image is built for, a low battery (but not on USB), outside
/// `update_hours`.
#[tokio::test]
async fn no_offer_without_every_condition() {
    let devices = "[[devices]]\nmac = \"AA:BB:CC:DD:EE:42\"\nfirmware_updates = false\n";
    let site = site_with_firmware(
        &good_sha(),
        &format!(
            "firmware_updates = true\nauto_join = true\nupdate_hours = \"02:00-04:00\"\n{devices}"
        ),
    );
    let (app, clock) = start(&site).await;
    let join = |mac: &str, model: &'static str| {
        let mut fw = Firmware::new(&app.url, mac, model);
        async move {
            fw.setup().await;
            fw
        }
    };
    let off = join("AA:BB:CC:DD:EE:42", "og").await;
    assert!(
        !offered(&off.display("4.1", &[]).await),
        "updates off for it"
    );
    let other = join("AA:BB:CC:DD:EE:43", "waveshare").await;
    assert!(
        !offered(&other.display("4.1", &[]).await),
        "no image for its model"
    );
    let low = join("AA:BB:CC:DD:EE:44", "og").await;
    assert!(!offered(&low.display("3.3", &[]).await), "25% is under 40%");
    let usb = low.display("3.3", &[("USB-Connected", "true")]).await;
    assert!(offered(&usb), "on USB the battery does not matter: {usb}");
    // The firmware reads no offer from a double-click's answer: none is
    // made then, and the next wake gets it.
    let clicked = join("AA:BB:CC:DD:EE:46", "og").await;
    let click = clicked
        .display("4.1", &[("special_function", "true")])
        .await;
    assert!(!offered(&click), "no offer on a double-click: {click}");
    assert!(offered(&clicked.display("4.1", &[]).await));
    clock.advance(std::time::Duration::from_secs(2 * 3600));
    let late = join("AA:BB:CC:DD:EE:45", "og").await;
    assert!(
        !offered(&late.display("4.1", &[]).await),
        "05:00 is outside 02:00-04:00"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_firmware_file_whose_checksum_does_not_match_is_refused_at_start() {
    let wrong = hex::encode(sha2::Sha256::digest(b"another image"));
    let site = site_with_firmware(&wrong, "firmware_updates = true");
    let config = inkspot::load_config(&site.config_path()).expect("the config itself is fine");
    let refused = inkspot::app::App::start(config)
        .await
        .err()
        .expect("refused");
    let message = refused.to_string();
    assert!(message.contains("trmnl.firmware_dir"), "{message}");
    assert!(
        message.contains("line 5: `firmware[0].sha256`: `og.bin` has SHA-256"),
        "{message}"
    );
    let out = inkspot(&site, &["check"]);
    assert!(!out.status.success(), "check fails too: {}", text_of(&out));
    assert!(text_of(&out).contains("og.bin"), "{}", text_of(&out));
}

/// An ESP32 application image of 64 KiB: its magic byte, then filler.
fn esp_image() -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..65_536u32).map(|i| (i * 13 % 251) as u8).collect();
    bytes[0] = 0xE9;
    bytes
}

/// A fixture of trmnl.com's `/api/firmware/latest`, publishing `image` as
/// 1.8.17; its URL.
async fn publisher(image: Vec<u8>) -> wiremock::MockServer {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, ResponseTemplate};
    let server = wiremock::MockServer::start().await;
    let bin = format!("{}/trmnl_og/FW1.8.17.bin", server.uri());
    Mock::given(method("GET"))
        .and(path("/api/firmware/latest"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"version": "1.8.17", "url": bin})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/trmnl_og/FW1.8.17.bin"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(image))
        .mount(&server)
        .await;
    server
}

/// The service with `trmnl.firmware_latest` at `server`, no folder.
async fn with_published(server: &wiremock::MockServer) -> (Site, App) {
    let site = Site::new();
    std::fs::write(site.path().join("page.html"), report_page("2.5", "TRMNL")).unwrap();
    let spot = bar_spot("Linda Mar", "file://page.html", "");
    site.write_config(&format!(
        "[server]\nadmin_token = \"{TOKEN}\"\n[trmnl]\nauto_join = true\nfirmware_updates = true\nfirmware_latest = \"{}/api/firmware/latest\"\n{spot}",
        server.uri()
    ));
    let app = App::start(&site).await;
    (site, app)
}

/// `/status`'s firmware images' versions, once the task has asked.
async fn published_versions(app: &App, wanted: usize) -> Vec<String> {
    let mut versions = Vec::new();
    for _ in 0..50 {
        let status = app.json_as("/status", TOKEN).await;
        let images = status["firmware"]["images"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        versions = images
            .iter()
            .filter_map(|i| i["version"].as_str().map(str::to_string))
            .collect();
        if versions.len() >= wanted {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    versions
}

#[tokio::test]
async fn trmnls_published_latest_firmware_is_fetched_checked_kept_and_offered() {
    let server = publisher(esp_image()).await;
    let (site, app) = with_published(&server).await;
    assert_eq!(published_versions(&app, 1).await, ["1.8.17"]);
    let mut fw = Firmware::new(&app.url, KITCHEN, "og");
    fw.setup().await;
    let answer = fw.display("4.1", &[]).await;
    assert!(offered(&answer), "{answer}");
    let body = client()
        .get(answer["firmware_url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&body[..], &esp_image()[..], "the published bytes");
    app.stop().await;
    // Kept: the next start offers it before, or without, asking again.
    drop(server);
    let config = inkspot::load_config(&site.config_path()).unwrap();
    let firmware = inkspot::app::load_firmware(&config).unwrap().unwrap();
    let kept: Vec<String> = firmware
        .catalog()
        .images()
        .iter()
        .map(|i| i.version.to_string())
        .collect();
    assert_eq!(kept, ["1.8.17"]);
}

#[tokio::test]
async fn a_published_file_that_is_not_a_firmware_image_is_refused() {
    let server = publisher(b"<html>not found</html>".repeat(100)).await;
    let (_site, app) = with_published(&server).await;
    // The task asked (the fixture saw both requests) and took nothing.
    for _ in 0..50 {
        if server.received_requests().await.unwrap_or_default().len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
    assert!(published_versions(&app, 1).await.is_empty());
    let mut fw = Firmware::new(&app.url, KITCHEN, "og");
    fw.setup().await;
    assert!(!offered(&fw.display("4.1", &[]).await));
    app.stop().await;
}
