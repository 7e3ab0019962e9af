//! Sleep that owners plan, over real sockets: periods per weekday in the
//! device's time zone, adjoining periods chained, a DST night, a pause set
//! and ended from the command line, the sleep picture, and a double-click
//! that wakes it.

use std::sync::Arc;

use crate::common::firmware::Firmware;
use crate::common::*;
use inkspot::clock::ManualClock;
use serde_json::Value;

const TOKEN: &str = "an-admin-token-for-the-sleep-tests";
const KITCHEN: &str = "AA:BB:CC:DD:EE:51";

fn site() -> Site {
    let site = Site::new();
    std::fs::write(site.path().join("page.html"), report_page("2.5", "TRMNL")).unwrap();
    let spot = bar_spot("Linda Mar", "file://page.html", "");
    site.write_config(&format!(
        "[server]\nadmin_token = \"{TOKEN}\"\n[[devices]]\nmac = \"{KITCHEN}\"\nname = \"Kitchen\"\ntimezone = \"America/Los_Angeles\"\nsleep = [\n  {{ days = \"mon-fri\", hours = \"23:00-06:30\" }},\n  {{ days = \"sat,sun\", hours = \"00:00-08:00\" }},\n]\n{spot}"
    ));
    site
}

/// Los Angeles local time as UTC.
fn la(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

/// Whether the answer is the sleep picture.
fn asleep(answer: &Value) -> bool {
    answer["image_url"]
        .as_str()
        .is_some_and(|u| u.contains("/api/sleep_screen?device="))
}

/// Runs `inkspot devices ARGS --url URL --token TOKEN`.
async fn devices(site: &Site, app: &App, args: &[&str]) -> std::process::Output {
    let mut all: Vec<String> = ["devices"]
        .iter()
        .chain(args)
        .map(|s| s.to_string())
        .collect();
    all.extend([
        "--url".into(),
        app.url.clone(),
        "--token".into(),
        TOKEN.into(),
    ]);
    let dir = site.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_inkspot"))
            .args(&all)
            .current_dir(dir)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn a_device_sleeps_through_its_periods_and_wakes_when_they_end() {
    let site = site();
    // Monday 7 December 2026, 22:50 in Los Angeles.
    let clock = Arc::new(ManualClock::new(la("2026-12-07T22:50:00-08:00")));
    let app = App::start_with_clock(&site, clock.clone()).await;
    let mut fw = Firmware::new(&app.url, KITCHEN, "og");
    let id = fw.setup().await["friendly_id"]
        .as_str()
        .unwrap()
        .to_string();
    let awake = wait_for_image(&fw).await;
    assert!(!asleep(&awake), "awake before 23:00: {awake}");
    let secs = awake["refresh_rate"].as_u64().unwrap();
    assert!(
        (540..=600).contains(&secs),
        "woken as the night begins, not 15 minutes into it: {secs}"
    );

    clock.set(la("2026-12-07T23:10:00-08:00"));
    let night = fw.display("4.1", &[]).await;
    assert!(asleep(&night), "{night}");
    assert_eq!(
        night["refresh_rate"],
        7 * 3600 + 20 * 60,
        "wakes at 06:30 exactly"
    );
    let wake_at = la("2026-12-08T06:30:00-08:00").timestamp();
    assert_eq!(night["filename"], format!("sleep-{id}-{wake_at}"));
    let again = fw.display("4.1", &[]).await;
    assert_eq!(
        again["filename"], night["filename"],
        "the same name: the panel is not redrawn"
    );

    // The sleep picture, drawn for the panel.
    // Fetched as older firmware does, without the device's headers: the
    // URL's token lets it through; a wrong one does not.
    let url = night["image_url"].as_str().unwrap();
    let last = if url.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &url[..url.len() - 1]);
    assert_eq!(client().get(&forged).send().await.unwrap().status(), 401);
    let r = client().get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let png = image::load_from_memory(&r.bytes().await.unwrap()).unwrap();
    assert_eq!((png.width(), png.height()), (800, 480));
    let dark = png.to_luma8().pixels().filter(|p| p.0[0] < 128).count();
    assert!(dark > 500, "it says something: {dark} dark pixels");

    // A double-click wakes it: someone is there.
    let clicked = fw.display("4.1", &[("special_function", "true")]).await;
    assert!(!asleep(&clicked), "{clicked}");

    // Friday's night runs into Saturday's morning: one sleep until 08:00.
    clock.set(la("2026-12-11T23:30:00-08:00"));
    let friday = fw.display("4.1", &[]).await;
    assert_eq!(friday["refresh_rate"], 8 * 3600 + 30 * 60, "{friday}");
    clock.set(la("2026-12-12T08:00:00-08:00"));
    assert!(
        !asleep(&fw.display("4.1", &[]).await),
        "awake at 08:00 Saturday"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_night_of_a_dst_change_is_as_long_as_the_clock_says() {
    let site = site();
    // Saturday 7 March 2026, 23:00 PST; the clocks go forward at 02:00.
    let clock = Arc::new(ManualClock::new(la("2026-03-08T00:30:00-08:00")));
    let app = App::start_with_clock(&site, clock.clone()).await;
    let mut fw = Firmware::new(&app.url, KITCHEN, "og");
    fw.setup().await;
    let answer = fw.display("4.1", &[]).await;
    // Sunday's 00:00-08:00 PDT: 06:30 of clock time, but 6.5 real hours.
    assert!(asleep(&answer), "{answer}");
    assert_eq!(answer["refresh_rate"], 6 * 3600 + 30 * 60, "{answer}");
    app.stop().await;
}

#[tokio::test]
async fn a_pause_set_from_the_command_line_holds_until_its_day_and_resume_ends_it() {
    let site = site();
    // Monday 7 December 2026, noon in Los Angeles.
    let clock = Arc::new(ManualClock::new(la("2026-12-07T12:00:00-08:00")));
    let app = App::start_with_clock(&site, clock.clone()).await;
    let mut fw = Firmware::new(&app.url, KITCHEN, "og");
    let id = fw.setup().await["friendly_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!asleep(&wait_for_image(&fw).await));

    let out = devices(
        &site,
        &app,
        &["pause", "Kitchen-not-a-device", "--until", "2026-12-24"],
    )
    .await;
    assert!(
        !out.status.success(),
        "an unknown device: {}",
        text_of(&out)
    );
    let out = devices(&site, &app, &["pause", &id, "--until", "2026-12-01"]).await;
    assert!(text_of(&out).contains("has passed"), "{}", text_of(&out));
    let out = devices(&site, &app, &["pause", &id, "--until", "2026-12-24"]).await;
    assert!(out.status.success(), "{}", text_of(&out));
    assert!(
        text_of(&out).contains("paused until 2026-12-24T08:00:00"),
        "{}",
        text_of(&out)
    );

    let paused = fw.display("4.1", &[]).await;
    assert!(asleep(&paused), "{paused}");
    assert_eq!(
        paused["refresh_rate"], 86_400,
        "a day at most, the firmware's longest sleep"
    );
    let detail = app.json_as(&format!("/api/devices/{id}"), TOKEN).await;
    assert_eq!(detail["paused_until"], "2026-12-24T08:00:00Z", "{detail}");
    let gallery = app.text_as("/", TOKEN).await;
    assert!(
        gallery.contains("paused until 2026-12-24 08:00 UTC"),
        "the gallery says so"
    );

    // The pause ends at midnight, inside Wednesday's night: it sleeps on
    // to that night's end, 06:30 on Thursday.
    clock.set(la("2026-12-23T12:00:00-08:00"));
    let last = fw.display("4.1", &[]).await;
    assert_eq!(last["refresh_rate"], 18 * 3600 + 30 * 60, "{last}");

    let out = devices(&site, &app, &["resume", &id]).await;
    assert!(out.status.success(), "{}", text_of(&out));
    assert!(!asleep(&fw.display("4.1", &[]).await), "resumed");
    app.stop().await;
}

/// Polls until the device is shown its spot's image.
async fn wait_for_image(fw: &Firmware) -> Value {
    for _ in 0..100 {
        let answer = fw.display("4.1", &[]).await;
        if !answer["filename"]
            .as_str()
            .unwrap_or("")
            .starts_with("preparing-")
        {
            return answer;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no image drawn");
}
