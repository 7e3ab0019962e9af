//! The surf report on data shaped like the real services' answers: every
//! shipped spot, from its own recordings in `examples/recorded/`, at fixed
//! times, shows the values worked out by hand from those recordings; and
//! every text of the shipped templates stays on the panel with the longest
//! values they can get.

use crate::common::*;
use chrono::{DateTime, Utc};
use inkspot::clock::ManualClock;
use inkspot::config::OutputOptions;
use inkspot::pipeline::Pipeline;
use inkspot::request::{Catalog, RenderRequest};
use inkspot::source::SpotData;
use rstest::rstest;
use serde_json::{Value, json};

fn at(time: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(time).unwrap().to_utc()
}

struct Offline {
    catalog: Catalog,
    pipeline: Pipeline,
}

impl Offline {
    fn new() -> Self {
        let config = inkspot::load_config(&repo_path("examples/offline.toml")).unwrap();
        Self {
            pipeline: Pipeline::new(&config).unwrap(),
            catalog: Catalog::new(&config),
        }
    }

    fn request(&self, spot: &str) -> RenderRequest {
        self.catalog
            .resolve(spot, None, &OutputOptions::default())
            .unwrap()
    }

    async fn data(&self, spot: &str, now: &str) -> (RenderRequest, SpotData) {
        let request = self.request(spot);
        let data = self
            .pipeline
            .fetch(&request, &ManualClock::new(at(now)))
            .await;
        (request, data)
    }

    /// The texts of the filled template, one string per `<text>` element.
    async fn texts(&self, spot: &str, now: &str) -> Vec<String> {
        let (request, data) = self.data(spot, now).await;
        // Fields may be null in a real answer (Santa Cruz's sunrise);
        // whole sources may not.
        assert!(
            data.errors.iter().all(|e| e.field.is_some()),
            "{spot}: every recording reads: {:?}",
            data.errors
        );
        let svg = self.pipeline.fill(&request, &data).unwrap();
        texts_of(&svg)
    }
}

/// The text content of each `<text>` element of `svg`, tags removed.
fn texts_of(svg: &str) -> Vec<String> {
    let tags = regex::Regex::new(r"<[^>]+>").unwrap();
    svg.split("<text")
        .skip(1)
        .map(|t| {
            let body = &t[t.find('>').unwrap() + 1..t.find("</text>").unwrap()];
            tags.replace_all(body, "").replace("&#x2f;", "/")
        })
        .collect()
}

fn assert_shows(texts: &[String], expected: &[&str], what: &str) {
    for e in expected {
        assert!(
            texts.iter().any(|t| t == e),
            "{what}: no text `{e}` in {texts:#?}"
        );
    }
}

/// 09:30 Pacific on the morning the recordings describe.
const MORNING: &str = "2026-11-22T17:30:00Z";

// Worked out by hand from each spot's recordings:
// - wave height: the newest WVHT that is not MM (the newest row has every
//   wave column MM), metres × 3.28084, one decimal;
// - swell: the forecast's height (ft, as `current_units` says), period
//   rounded, direction as compass text;
// - wind: the forecast in knots (as `current_units` says), rounded;
//   offshore when from within 45° of opposite the beach's `facing`;
// - tides: the first high and low after 09:30 local;
// - water: the buoy's newest WTMP, °C × 1.8 + 32, rounded.
#[rstest]
// 46237 16:56 WVHT 1.5 m = 4.92 ft; 95° against facing 260: offshore.
#[case("Linda Mar", &["4.9 ft", "wave height offshore · buoy 46237", "4.3 ft @ 14 s",
    "swell WNW · forecast", "6–11 kn", "wind E · offshore", "High 10:31 · 5.7 ft",
    "Low 17:20 · -0.3 ft", "Water 56°F", "Daylight 07:01–16:54"])]
// Same buoy; swell 4.59 ft at 14.2 s from 284°; wind 88° against facing 270.
#[case("Ocean Beach", &["4.9 ft", "4.6 ft @ 14 s", "swell WNW · forecast", "7–13 kn",
    "wind E · offshore", "High 11:02 · 5.5 ft", "Low 17:56 · -0.1 ft", "Water 56°F",
    "Daylight 07:02–16:53"])]
// 46012 16:50 WVHT 2.1 m = 6.89 ft; WTMP 13.9 °C = 57.0 °F; wind 292°
// against facing 225 is 67° off: cross-shore.
#[case("Half Moon Bay", &["6.9 ft", "wave height offshore · buoy 46012", "5.9 ft @ 15 s",
    "15–21 kn", "wind WNW · cross-shore", "High 10:31 · 5.7 ft", "Low 17:20 · -0.3 ft",
    "Water 57°F", "Daylight 07:00–16:55"])]
// 46042 17:10 WVHT 1.3 m = 4.27 ft; WTMP 14.8 °C = 58.6 °F; highs and
// lows from the subordinate station 9413745; no sunrise or sunset.
#[case("Santa Cruz", &["4.3 ft", "wave height offshore · buoy 46042", "3.3 ft @ 13 s",
    "swell W · forecast", "9–14 kn", "wind NW · offshore", "High 10:08 · 5.3 ft",
    "Low 16:59 · -0.3 ft", "Water 59°F", "Daylight – (not in the forecast)"])]
#[case("Linda Mar portrait", &["4.9 ft", "4.3 ft @ 14 s", "wind E · offshore",
    "High 10:31 · 5.7 ft", "Low 17:20 · -0.3 ft", "Water 56°F", "Daylight 07:01–16:54"])]
#[tokio::test]
async fn every_shipped_spot_shows_the_values_worked_out_by_hand(
    #[case] spot: &str,
    #[case] expected: &[&str],
) {
    let offline = Offline::new();
    let texts = offline.texts(spot, MORNING).await;
    assert_shows(&texts, expected, spot);
    assert!(
        !texts.iter().any(|t| t.contains("no tide curve")),
        "{spot}: today's curve is drawn"
    );
}

/// In the evening the next low is tomorrow's, and says so.
#[tokio::test]
async fn a_tide_that_falls_tomorrow_names_its_day() {
    let texts = Offline::new()
        .texts("Linda Mar", "2026-11-23T05:00:00Z")
        .await;
    assert_shows(
        &texts,
        &["High 23:51 · 4.1 ft", "Low Mon 05:02 · 2.1 ft"],
        "21:00",
    );
}

/// Two days later the recordings are old: no curve and no tides, not old
/// ones drawn as today's.
#[tokio::test]
async fn data_from_another_day_is_shown_as_missing() {
    let texts = Offline::new()
        .texts("Linda Mar portrait", "2026-11-24T18:00:00Z")
        .await;
    assert_shows(
        &texts,
        &["no tide curve for today", "High –", "Low –"],
        "next day",
    );
}

/// Santa Cruz's curve comes from Monterey's harmonic station: the
/// subordinate station it takes highs and lows from has no hourly
/// predictions.
#[test]
fn santa_cruz_draws_its_curve_from_a_harmonic_station() {
    let config = inkspot::load_config(&repo_path("config.toml")).unwrap();
    let spot = config
        .spots
        .iter()
        .find(|s| s.name == "Santa Cruz")
        .unwrap();
    let key = |k: &str| spot.extra.get(k).and_then(|v| v.as_str()).unwrap();
    assert_eq!(key("tide_station"), "9413745");
    assert_eq!(key("tide_curve_station"), "9413450");
    let now = at(MORNING);
    let curve = spot.sources.iter().find(|s| s.id == "tide_curve").unwrap();
    let url = inkspot::source::expand_url(&curve.url, spot, now).unwrap();
    assert!(url.contains("station=9413450&"), "{url}");
}

/// The shipped config asks CO-OPS in its documented form: `begin_date` as
/// `yyyyMMdd` (the spot's local date) with `range`, never `date=today`
/// with `range`.
#[test]
fn tide_requests_use_the_documented_parameters() {
    let config = inkspot::load_config(&repo_path("config.toml")).unwrap();
    let now = at("2026-11-23T03:00:00Z"); // still the 22nd in California
    let mut seen = 0;
    for spot in &config.spots {
        for source in spot
            .sources
            .iter()
            .filter(|s| s.url.contains("tidesandcurrents"))
        {
            let url = inkspot::source::expand_url(&source.url, spot, now).unwrap();
            assert!(url.contains("begin_date=20261122&range="), "{url}");
            assert!(!url.contains("date=today"), "{url}");
            seen += 1;
        }
    }
    assert_eq!(seen, 10, "two tide sources for each of five spots");
}

/// Fills Linda Mar's template at `MORNING` after `change` edits the data.
async fn texts_with(change: impl FnOnce(&mut SpotData)) -> Vec<String> {
    let offline = Offline::new();
    let (request, mut data) = offline.data("Linda Mar", MORNING).await;
    change(&mut data);
    texts_of(&offline.pipeline.fill(&request, &data).unwrap())
}

fn set(data: &mut SpotData, source: &str, field: &str, value: Value) {
    data.values
        .entry(source.to_string())
        .or_default()
        .insert(field.to_string(), value);
}

/// An answer in metres is converted; one in a unit the template does not
/// know is shown as missing, never labelled ft.
#[rstest]
#[case("m", "4.9 ft")]
#[case("ft", "1.5 ft")]
#[case("yd", "– ft")]
#[tokio::test]
async fn forecast_values_follow_the_unit_their_answer_names(
    #[case] unit: &str,
    #[case] shown: &str,
) {
    let texts = texts_with(|data| {
        set(data, "buoy", "wvht", Value::Null);
        set(data, "marine", "wave_height", json!(1.5));
        set(data, "marine", "wave_unit", json!(unit));
    })
    .await;
    assert_shows(&texts, &[shown, "wave height · forecast"], unit);
}

/// Without the forecast's swell, the buoy's period and direction are shown
/// with no height: never the forecast's height with the buoy's period.
#[tokio::test]
async fn the_swell_line_never_mixes_sources() {
    let texts = texts_with(|data| {
        set(data, "marine", "swell_height", Value::Null);
    })
    .await;
    assert_shows(&texts, &["14 s", "swell WNW · buoy 46237"], "buoy swell");
    assert!(
        !texts.iter().any(|t| t.contains("ft @")),
        "no height beside the buoy's period: {texts:?}"
    );
}

/// The station page in its current layout (no wave height in its
/// "Conditions" table) still gives the water temperature and the time.
#[tokio::test]
async fn the_station_page_reads_in_its_current_layout() {
    let (_, data) = Offline::new().data("Linda Mar", MORNING).await;
    let station = &data.values["station"];
    assert_eq!(station["water_f"], json!(56.1));
    assert_eq!(station["observed"], json!("1726 GMT on 11/22/2026"));
}

/// A spot with a template per orientation draws a portrait panel (a
/// Kindle) with the portrait layout, not the landscape one letterboxed.
#[rstest]
#[case(Some("kindle"), "surf-portrait", "600")]
#[case(Some("trmnl"), "surf", "800")]
#[case(None, "surf", "800")]
#[tokio::test]
async fn each_orientation_gets_its_own_template(
    #[case] device: Option<&str>,
    #[case] template: &str,
    #[case] width: &str,
) {
    let offline = Offline::new();
    let request = offline
        .catalog
        .resolve("Linda Mar", device, &OutputOptions::default())
        .unwrap();
    assert_eq!(request.template(), template);
    let data = offline
        .pipeline
        .fetch(&request, &ManualClock::new(at(MORNING)))
        .await;
    let svg = offline.pipeline.fill(&request, &data).unwrap();
    assert!(
        svg.contains(&format!("width=\"{width}\"")),
        "{device:?}: {}",
        &svg[svg.find("<svg").unwrap()..][..120]
    );
}

#[test]
fn a_missing_portrait_template_is_named_with_its_key() {
    let site = Site::new();
    std::fs::create_dir_all(site.path().join("templates")).unwrap();
    std::fs::write(site.path().join("templates/wide.svg"), "<svg/>").unwrap();
    site.write_config(
        "[[spots]]\nname = \"A\"\ntemplate = { landscape = \"wide\", portrait = \"tall\" }\n",
    );
    let message = inkspot::load_config(&site.config_path())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("`spots[0].template.portrait`: template `tall` not found"),
        "{message}"
    );
    site.write_config("[[spots]]\nname = \"A\"\ntemplate = { wide = \"wide\" }\n");
    let message = inkspot::load_config(&site.config_path())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("or { landscape = \"surf\", portrait = \"surf-portrait\" }"),
        "{message}"
    );
}

mod pictures;

/// A spot with `sensors_of` shows the room's temperature its TRMNL reads,
/// in every layout of the shipped report; without a reading, nothing.
#[rstest]
#[case("Half Moon Bay", 800, 480, "21.5°C · Sun 22 Nov · 09:30")]
#[case("Half Moon Bay", 396, 236, "21.5°C · 09:30")]
#[case("Half Moon Bay", 800, 236, "21.5°C · Sun 22 Nov · 09:30")]
#[case(
    "Linda Mar portrait",
    600,
    800,
    "Sunday 22 November · 09:30 · indoors 21.5°C"
)]
#[tokio::test]
async fn the_report_shows_the_rooms_temperature(
    #[case] spot: &str,
    #[case] width: u32,
    #[case] height: u32,
    #[case] shown: &str,
) {
    use inkspot::history::Point;
    let offline = Offline::new();
    let (mut request, mut data) = offline.data(spot, MORNING).await;
    request.output.width = width;
    request.output.height = height;
    let mut with_sensor = (*request.spot).clone();
    with_sensor.sensors_of = Some("ABC123".into());
    request.spot = std::sync::Arc::new(with_sensor);
    let svg = offline.pipeline.fill(&request, &data).unwrap();
    assert!(
        !texts_of(&svg).iter().any(|t| t.contains("°C")),
        "no reading yet"
    );
    let mut recent = data.recent.as_deref().cloned().unwrap_or_default();
    let field = "device:abc123.temperature".to_string();
    let read = at(MORNING).timestamp() - 60;
    recent
        .observed
        .insert(field.clone(), vec![Point::new(read, 21.47)]);
    recent.units.insert(field, "C".into());
    data.recent = Some(std::sync::Arc::new(recent));
    let svg = offline.pipeline.fill(&request, &data).unwrap();
    assert_shows(&texts_of(&svg), &[shown], spot);
}
