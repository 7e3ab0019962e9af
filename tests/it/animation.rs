//! Animations and layers through the job API: GIF, APNG and contact
//! sheets decoded by independent decoders (the `image` crate's, and the
//! `png` and `gif` crates for loop counts), frames that differ where the
//! hourly data differs, and layers that change exactly their regions.

use std::io::Cursor;
use std::sync::Arc;

use crate::common::jobs::{Jobs, api_key};
use crate::common::*;
use image::AnimationDecoder;
use inkspot::clock::ManualClock;
use serde_json::{Value, json};

/// Hour by hour: a bar `wave × 40` px wide along the top (layer `waves`),
/// a 50 px square at (300, 150) (layer `marker`), and a header naming the
/// layers shown and the frame's hour.
const HOURLY: &str = r##"{#- layers
waves = "Waves"
marker = "Marker"
-#}
<svg xmlns="http://www.w3.org/2000/svg" width="{{ spot.width }}" height="{{ spot.height }}">
<rect width="100%" height="100%" fill="#fff"/>
{%- set w = at_hour(data.hourly.times, data.hourly.waves) %}
{%- if layers.waves and w is not none %}<rect x="0" y="0" width="{{ w * 40 }}" height="40" fill="#000"/>{% endif %}
{%- if layers.marker %}<rect x="300" y="150" width="50" height="50" fill="#000"/>{% endif %}
<text x="10" y="120" font-size="20">{{ shown_layers | join(" · ") }}{% if frame %} +{{ frame.hours }} h{% endif %}</text>
</svg>"##;

/// The wave of hour `h`: 1 ft at midnight, a quarter more each hour.
fn wave(h: usize) -> f64 {
    1.0 + h as f64 * 0.25
}

fn site(extra: &str) -> Site {
    let site = Site::new();
    std::fs::write(site.path().join("templates/hourly.svg"), HOURLY).unwrap();
    let times: Vec<String> = (0..24).map(|h| format!("2026-11-23T{h:02}:00")).collect();
    let waves: Vec<f64> = (0..24).map(wave).collect();
    let answer = json!({"hourly": {"time": times, "wave": waves}});
    std::fs::write(site.path().join("hourly.json"), answer.to_string()).unwrap();
    site.write_config(&format!(
        r#"{extra}
[[spots]]
name = "Linda Mar"
template = "hourly"
width = 400
height = 240
[[spots.sources]]
id = "hourly"
url = "file://hourly.json"
format = "json"
[spots.sources.fields]
times = {{ pointer = "/hourly/time", all = true }}
waves = {{ pointer = "/hourly/wave", all = true }}
"#
    ));
    site
}

async fn start(site: &Site) -> App {
    // 10:30: the frames of hours 0, 2 and 4 stand for 10:00, 12:00, 14:00.
    let clock = ManualClock::new("2026-11-23T10:30:00Z".parse().unwrap());
    App::start_with_clock(site, Arc::new(clock)).await
}

/// Submits `animation`, waits, downloads; returns type and bytes.
async fn animate(jobs: &Jobs, animation: Value) -> (String, Vec<u8>) {
    let accepted = jobs.submit(&json!({ "animation": animation })).await;
    let id = accepted["id"].as_str().unwrap();
    let done = jobs.wait(id).await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["progress"]["done"], 3, "{done}");
    let r = jobs.download(id).await;
    assert_eq!(r.status(), 200);
    let kind = r.headers()["content-type"].to_str().unwrap().to_string();
    (kind, r.bytes().await.unwrap().to_vec())
}

/// The frames of an APNG, by the `image` crate's decoder.
fn apng_frames(bytes: &[u8]) -> Vec<image::Frame> {
    let decoder = image::codecs::png::PngDecoder::new(Cursor::new(bytes)).unwrap();
    let frames = decoder.apng().unwrap().into_frames();
    frames.collect_frames().unwrap()
}

/// Dark pixels in row `y` of an RGBA frame.
fn bar(frame: &image::RgbaImage, y: u32) -> u32 {
    (0..frame.width())
        .filter(|&x| frame.get_pixel(x, y)[0] < 128)
        .count() as u32
}

fn expected_bars() -> Vec<u32> {
    [10, 12, 14]
        .iter()
        .map(|&h| (wave(h) * 40.0) as u32)
        .collect()
}

#[tokio::test]
async fn gif_frames_follow_the_hours_with_their_delay_and_loop() {
    let site = site(&api_key(0, 4));
    let app = start(&site).await;
    let jobs = Jobs::new(&app.url);
    for palette in ["global", "frame"] {
        let spec = json!({"spot": "Linda Mar", "hours": {"from": 0, "to": 6, "step": 2},
            "format": "gif", "palette": palette, "delay_ms": 250, "loops": 3});
        let (kind, bytes) = animate(&jobs, spec).await;
        assert_eq!(kind, "image/gif");
        let decoder = image::codecs::gif::GifDecoder::new(Cursor::new(&bytes)).unwrap();
        let frames = decoder.into_frames().collect_frames().unwrap();
        assert_eq!(frames.len(), 3, "{palette}");
        let bars: Vec<u32> = frames.iter().map(|f| bar(f.buffer(), 20)).collect();
        assert_eq!(
            bars,
            expected_bars(),
            "{palette}: each frame shows its hour"
        );
        for f in &frames {
            assert_eq!(f.buffer().dimensions(), (400, 240));
            assert_eq!(f.delay().numer_denom_ms(), (250, 1));
        }
        let mut gif = gif::DecodeOptions::new()
            .read_info(Cursor::new(&bytes))
            .unwrap();
        gif.read_next_frame().unwrap();
        assert_eq!(
            gif.repeat(),
            gif::Repeat::Finite(2),
            "plays 3 times: 2 repeats"
        );
    }
}

#[tokio::test]
async fn apng_and_contact_sheet_for_e_ink() {
    let site = site(&api_key(0, 4));
    let app = start(&site).await;
    let jobs = Jobs::new(&app.url);
    let spec = json!({"spot": "Linda Mar", "hours": {"to": 6, "step": 2}, "format": "apng",
        "options": {"bits": 1}, "delay_ms": 1000});
    let (kind, bytes) = animate(&jobs, spec).await;
    assert_eq!(kind, "image/apng");
    let frames = apng_frames(&bytes);
    assert_eq!(frames.len(), 3);
    let bars: Vec<u32> = frames.iter().map(|f| bar(f.buffer(), 20)).collect();
    assert_eq!(bars, expected_bars());
    assert_eq!(frames[1].delay().numer_denom_ms(), (1000, 1));
    let reader = png::Decoder::new(Cursor::new(&bytes)).read_info().unwrap();
    let control = reader.info().animation_control.unwrap();
    assert_eq!(
        (control.num_frames, control.num_plays),
        (3, 0),
        "loops for ever"
    );
    assert_eq!(reader.info().color_type, png::ColorType::Grayscale);

    let spec = json!({"spot": "Linda Mar", "hours": {"to": 6, "step": 2}, "format": "sheet",
        "options": {"bits": 1}});
    let (kind, bytes) = animate(&jobs, spec).await;
    assert_eq!(kind, "image/png");
    let sheet = image::load_from_memory(&bytes).unwrap().to_rgba8();
    // Three frames: two columns, two rows, 8 px between them.
    assert_eq!(sheet.dimensions(), (2 * 400 + 8, 2 * 240 + 8));
    let row = |x0: u32, y: u32| {
        (x0..x0 + 400)
            .filter(|&x| sheet.get_pixel(x, y)[0] < 128)
            .count() as u32
    };
    assert_eq!(
        [row(0, 20), row(408, 20), row(0, 248 + 20)].to_vec(),
        expected_bars()
    );
    assert_eq!(row(408, 248 + 20), 0, "the fourth cell is empty");
}

/// Drawing a layer or not changes its own region and the header naming
/// the layers, and nothing else.
#[tokio::test]
async fn layers_change_exactly_their_regions() {
    let site = site(&api_key(0, 4));
    let app = start(&site).await;
    let both = app.get("/image?spot=linda-mar", &[]).await;
    assert_eq!(both.status(), 200);
    let both = decode_png(&both.bytes().await.unwrap());
    let waves = app.get("/image?spot=linda-mar&layers=waves", &[]).await;
    assert_eq!(waves.status(), 200);
    let waves = decode_png(&waves.bytes().await.unwrap());
    let mut changed = 0;
    for y in 0..240 {
        for x in 0..400 {
            if both.at(x, y) != waves.at(x, y) {
                changed += 1;
                let in_marker = (300..350).contains(&x) && (150..200).contains(&y);
                let in_header = (95..130).contains(&y);
                assert!(in_marker || in_header, "({x}, {y}) changed");
            }
        }
    }
    assert!(changed >= 2500, "the marker went: {changed} pixels");
    assert_eq!(both.dark_in_row(20), waves.dark_in_row(20), "the bar stays");
    let unknown = app.get("/image?spot=linda-mar&layers=tide", &[]).await;
    assert_eq!(unknown.status(), 400);
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["error"], "unknown layer `tide`; layers: waves, marker");
}

/// The shipped `map` template on the offline demo: turning the swell layer
/// off changes only the swell arrows beside each mark, the swell lines of
/// the panel, and the header naming the layers.
#[tokio::test]
async fn the_map_layers_change_only_their_own_marks() {
    let config = inkspot::load_config(&repo_path("examples/offline.toml")).unwrap();
    // Where each mark's swell arrow is: between its name and the coast,
    // or under the coast for a mark named below its dot.
    let arrows: Vec<(f64, f64)> = config
        .spots
        .iter()
        .find(|s| s.name == "Coast")
        .map(|s| {
            let marks = s.extra["marks"].as_array().unwrap();
            marks
                .iter()
                .map(|m| {
                    let (lat, lon) = (m["lat"].as_float().unwrap(), m["lon"].as_float().unwrap());
                    let (x, y) = (100.0 + (lon + 122.85) * 331.2, 56.0 + (37.84 - lat) * 416.7);
                    match m.get("label").and_then(|l| l.as_str()) {
                        Some("below") => (x - 132.0, y + 20.0),
                        _ => (x - 22.0, y),
                    }
                })
                .collect()
        })
        .unwrap();
    let clock = ManualClock::new("2026-11-22T17:30:00Z".parse().unwrap());
    let app = App::start_config(config, Arc::new(clock)).await;
    let get = |layers: &'static str| {
        let app = &app;
        async move {
            let r = app
                .get(&format!("/image?spot=coast&layers={layers}"), &[])
                .await;
            assert_eq!(r.status(), 200, "{layers}");
            decode_png(&r.bytes().await.unwrap())
        }
    };
    let all = get("basemap,swell,wind").await;
    let no_swell = get("basemap,wind").await;
    let mut changed = 0;
    for y in 0..480u32 {
        for x in 0..800u32 {
            if all.at(x, y) == no_swell.at(x, y) {
                continue;
            }
            changed += 1;
            let (fx, fy) = (f64::from(x), f64::from(y));
            let by_arrow = arrows
                .iter()
                .any(|(ax, ay)| (fx - ax).abs() <= 14.0 && (fy - ay).abs() <= 14.0);
            let in_panel = x >= 425
                && (0..4).any(|i| {
                    let row = 84 + i * 92;
                    (row + 36..=row + 62).contains(&y)
                });
            let in_header = x >= 425 && (54..=78).contains(&y);
            assert!(by_arrow || in_panel || in_header, "({x}, {y}) changed");
        }
    }
    assert!(changed > 1000, "the swell layer drew something: {changed}");
    let none = get("basemap").await;
    assert!(
        none.dark_in_row(90) < all.dark_in_row(90),
        "no wind, no swell: no arrows"
    );
}

/// The `map` template over hourly forecasts: each frame of its animation
/// draws the swell of its own hour, so the frames differ at the arrow.
#[tokio::test]
async fn a_map_animation_follows_the_hourly_forecast() {
    let site = Site::new();
    std::fs::copy(
        repo_path("templates/map.svg"),
        site.path().join("templates/map.svg"),
    )
    .unwrap();
    let times: Vec<String> = (0..24).map(|h| format!("2026-11-23T{h:02}:00")).collect();
    let dirs: Vec<u32> = (0..24).map(|h| h * 30 % 360).collect();
    let heights: Vec<f64> = (0..24).map(wave).collect();
    let marine = json!({"current_units": {"swell_wave_height": "ft"},
        "current": {"swell_wave_height": 2.0, "swell_wave_direction": 270, "swell_wave_period": 12},
        "hourly": {"time": times, "swell_wave_height": heights, "swell_wave_direction": dirs, "swell_wave_period": vec![12; 24]}});
    std::fs::write(site.path().join("marine.json"), marine.to_string()).unwrap();
    site.write_config(&format!(
        r#"{}
[[spots]]
name = "Coast"
template = "map"
width = 800
height = 480
timezone = "UTC"
marks = [{{ id = "lm", name = "Linda Mar", lat = 37.594, lon = -122.506 }}]
[[spots.sources]]
id = "lm_marine"
url = "file://marine.json"
format = "json"
[spots.sources.fields]
swell_height = {{ pointer = "/current/swell_wave_height", type = "number" }}
swell_dir = {{ pointer = "/current/swell_wave_direction", type = "number" }}
swell_period = {{ pointer = "/current/swell_wave_period", type = "number" }}
swell_unit = {{ pointer = "/current_units/swell_wave_height" }}
times = {{ pointer = "/hourly/time", all = true }}
swell_heights = {{ pointer = "/hourly/swell_wave_height", all = true }}
swell_dirs = {{ pointer = "/hourly/swell_wave_direction", all = true }}
swell_periods = {{ pointer = "/hourly/swell_wave_period", all = true }}
"#,
        api_key(0, 4)
    ));
    let app = start(&site).await;
    let jobs = Jobs::new(&app.url);
    let spec = json!({"spot": "coast", "hours": {"to": 6, "step": 2}, "format": "apng", "options": {"bits": 1}});
    let (_, bytes) = animate(&jobs, spec).await;
    let frames = apng_frames(&bytes);
    // Linda Mar's swell arrow: 22 px west of its mark.
    let (ax, ay) = (
        (100.0 + (-122.506 + 122.85) * 331.2 - 22.0) as u32,
        (56.0 + (37.84 - 37.594) * 416.7) as u32,
    );
    let arrow = |f: &image::Frame| -> Vec<u8> {
        let mut px = Vec::new();
        for y in ay - 12..=ay + 12 {
            for x in ax - 12..=ax + 12 {
                px.push(f.buffer().get_pixel(x, y)[0]);
            }
        }
        px
    };
    let arrows: Vec<Vec<u8>> = frames.iter().map(arrow).collect();
    assert!(
        arrows.iter().all(|a| a.iter().any(|&v| v < 128)),
        "each frame has an arrow"
    );
    assert_ne!(arrows[0], arrows[1], "300° at 10:00, 0° at 12:00");
    assert_ne!(arrows[1], arrows[2], "0° at 12:00, 60° at 14:00");
}
