//! Animations and layers through the job API: GIF, APNG and contact
//! sheets decoded by independent decoders (the `image` crate's, and the
//! `png` and `gif` crates for loop counts), frames that differ where the
//! hourly data differs, and layers that change exactly their regions.

mod common;

use std::io::Cursor;
use std::sync::Arc;

use common::jobs::{Jobs, api_key};
use common::*;
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
    let decoder = image::codecs::png::PngDecoder::new(Cursor::new(&bytes)).unwrap();
    let frames = decoder
        .apng()
        .unwrap()
        .into_frames()
        .collect_frames()
        .unwrap();
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
