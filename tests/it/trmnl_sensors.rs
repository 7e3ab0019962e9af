//! The device's own reports over real sockets: its sensors (firmware 1.8's
//! `SENSORS` header), kept as the device's history and shown in
//! `/api/devices/{id}`, a malformed reading left out and the display call
//! answered as usual; and why it woke, its Wi-Fi band and its X battery
//! gauge, kept and counted.

use crate::common::firmware::Firmware;
use crate::common::*;
use serde_json::Value;

const MAC: &str = "AA:BB:CC:DD:EE:29";
const TOKEN: &str = "an-admin-token-for-the-sensor-tests";

/// `/api/devices/{id}` as the admin sees it.
async fn device(app: &App, id: &str) -> Value {
    app.json_as(&format!("/api/devices/{id}"), TOKEN).await
}

#[tokio::test]
async fn sensor_readings_are_kept_as_the_devices_history_and_shown() {
    let site = Site::new();
    std::fs::write(site.path().join("page.html"), report_page("2.5", "TRMNL")).unwrap();
    let spot = bar_spot("Linda Mar", "file://page.html", "");
    site.write_config(&format!(
        "[server]\nadmin_token = \"{TOKEN}\"\n[[devices]]\nmac = \"{}\"\nname = \"Kitchen\"\n{spot}",
        MAC.to_lowercase()
    ));
    let app = App::start(&site).await;
    let mut fw = Firmware::new(&app.url, MAC, "og");
    let setup = fw.setup().await;
    let id = setup["friendly_id"].as_str().unwrap().to_string();
    let read_at = chrono::Utc::now().timestamp() - 60;
    let sensors = format!(
        "make=Sensirion;model=SCD41;kind=temperature;value=21.5;unit=C;created_at={read_at},\
         make=Sensirion;model=SCD41;kind=carbon_dioxide;value=612;unit=ppm;created_at={read_at},\
         kind=radiation;value=3"
    );
    let answer = fw.display("4.1", &[("SENSORS", sensors.as_str())]).await;
    assert!(
        answer["refresh_rate"].is_u64(),
        "answered as usual: {answer}"
    );
    assert!(answer["filename"].is_string(), "{answer}");

    let detail = device(&app, &id).await;
    let sensors = &detail["sensors"];
    assert_eq!(sensors["temperature"]["value"], 21.5, "{detail}");
    assert_eq!(sensors["temperature"]["unit"], "C");
    let at = chrono::DateTime::from_timestamp(read_at, 0).unwrap();
    assert_eq!(
        sensors["temperature"]["at"],
        at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    assert_eq!(sensors["carbon_dioxide"]["value"], 612.0);
    assert!(
        sensors.get("radiation").is_none(),
        "an unknown kind is left out"
    );

    // A later reading is the newest; a malformed header alone changes
    // nothing and is answered as usual.
    fw.display("4.1", &[("SENSORS", "kind=temperature;value=22.0;unit=C")])
        .await;
    let odd = fw.display("4.1", &[("SENSORS", ";;garbage=,,")]).await;
    assert!(odd["refresh_rate"].is_u64());
    let detail = device(&app, &id).await;
    assert_eq!(detail["sensors"]["temperature"]["value"], 22.0, "{detail}");
    // The gallery and /status show them too.
    let status = app.json_as("/status", TOKEN).await;
    assert_eq!(
        status["devices"][0]["sensors"]["carbon_dioxide"]["value"], 612.0,
        "{status}"
    );
    let gallery = app.text_as("/", TOKEN).await;
    assert!(
        gallery.contains("carbon_dioxide 612 ppm · temperature 22 C"),
        "the gallery lists the readings"
    );
    app.stop().await;
}

#[tokio::test]
async fn why_a_device_woke_is_kept_and_counted() {
    let site = Site::new();
    std::fs::write(site.path().join("page.html"), report_page("2.5", "TRMNL")).unwrap();
    let spot = bar_spot("Linda Mar", "file://page.html", "");
    site.write_config(&format!(
        "[server]\nadmin_token = \"{TOKEN}\"\n[[devices]]\nmac = \"{MAC}\"\n{spot}"
    ));
    let app = App::start(&site).await;
    let mut fw = Firmware::new(&app.url, MAC, "x");
    let id = fw.setup().await["friendly_id"]
        .as_str()
        .unwrap()
        .to_string();
    fw.display("4.1", &[]).await;
    // An S3 board names its button by its wake pin.
    fw.wake = "EXT0";
    let extra = [("WiFi-Band", "5"), ("Percent-Charged", "63")];
    fw.display("4.1", &extra).await;
    let detail = device(&app, &id).await;
    assert_eq!(detail["wake_reason"], "button", "{detail}");
    assert_eq!(detail["wifi_band"], "5");
    assert_eq!(
        detail["battery_percent"], 63,
        "the X's own gauge, not the 4.1 V curve"
    );
    assert_eq!(
        detail["history"][0]["image_cached"], false,
        "as the firmware sent it"
    );
    assert_eq!(detail["history"][1]["wake_reason"], "timer");
    for (reason, n) in [("button", 1.0), ("timer", 1.0)] {
        let got = prom::value_at(
            &app.url,
            "inkspot_device_wakes_total",
            &[("reason", reason)],
        )
        .await;
        assert_eq!(got, n, "{reason}");
    }
    app.stop().await;
}

/// A template that draws the kitchen's temperature as a bar 10 px a
/// degree at the top, and the readings of the day as 50 px each below.
const AIR_TEMPLATE: &str = r#"<svg xmlns="http://www.w3.org/2000/svg" width="{{ spot.width }}" height="{{ spot.height }}">
<rect width="100%" height="100%" fill="white"/>
<rect x="0" y="0" width="{{ (device.sensors.temperature or 0) * 10 }}" height="40" fill="black"/>
{% set day = history("device:" ~ device.friendly_id ~ ".temperature", hours=24) %}
<rect x="0" y="100" width="{{ day.count * 50 }}" height="40" fill="black"/>
</svg>"#;

/// Black pixels in row `y` of the PNG `bytes`.
fn black_in_row(bytes: &[u8], y: u32) -> u32 {
    let img = image::load_from_memory(bytes).unwrap().to_luma8();
    (0..img.width())
        .filter(|&x| img.get_pixel(x, y).0[0] < 128)
        .count() as u32
}

#[tokio::test]
async fn a_template_shows_the_devices_own_sensors() {
    let site = Site::new();
    std::fs::write(site.path().join("page.html"), report_page("2.5", "TRMNL")).unwrap();
    std::fs::write(site.path().join("templates/air.svg"), AIR_TEMPLATE).unwrap();
    let surf = bar_spot("Linda Mar", "file://page.html", "");
    let device = format!("[[devices]]\nmac = \"{MAC}\"\nplaylist = [\"Linda Mar\"]\n");
    site.write_config(&format!(
        "[server]\nadmin_token = \"{TOKEN}\"\n{device}{surf}"
    ));
    // The friendly id is given at setup: join first, then name it.
    let app = App::start(&site).await;
    let mut fw = Firmware::new(&app.url, MAC, "og");
    let id = fw.setup().await["friendly_id"]
        .as_str()
        .unwrap()
        .to_string();
    app.stop().await;
    let air = bar_spot(
        "Kitchen air",
        "file://page.html",
        &format!("sensors_of = \"{id}\""),
    )
    .replace("template = \"bar\"", "template = \"air\"");
    site.write_config(&format!(
        "[server]\nadmin_token = \"{TOKEN}\"\n{device}{surf}{air}"
    ));
    let app = App::start(&site).await;
    fw.base = app.url.clone();
    let now = chrono::Utc::now().timestamp();
    for (ago, value) in [(3600, "19.0"), (60, "21.5")] {
        let reading = format!(
            "make=Sensirion;model=SCD41;kind=temperature;value={value};unit=C;created_at={}",
            now - ago
        );
        fw.display("4.1", &[("SENSORS", reading.as_str())]).await;
    }
    let png = app
        .get("/image?spot=kitchen-air&format=png&bits=1", &[])
        .await;
    assert_eq!(png.status(), 200);
    let bytes = png.bytes().await.unwrap();
    assert_eq!(
        black_in_row(&bytes, 20),
        215,
        "21.5 °C, 10 px a degree: the newest reading"
    );
    assert_eq!(
        black_in_row(&bytes, 120),
        100,
        "two readings in the last 24 hours"
    );
    app.stop().await;
}
