//! Golden images of the shipped templates, drawn from the offline demo's
//! recorded data at a fixed time, compared with a similarity threshold (font
//! rasterizing may differ by a few edge pixels between machines).
//!
//! Regenerate after an intended change to a template:
//!
//!     INKSPOT_UPDATE_GOLDEN=1 cargo test --test it golden
//!
//! and look at the PNGs in tests/golden/ before committing them.

use std::path::Path;

use crate::common::*;
use chrono::{DateTime, Utc};
use inkspot::Config;
use inkspot::clock::{ManualClock, SystemClock};
use inkspot::config::OutputOptions;
use inkspot::pipeline::Pipeline;
use inkspot::request::Catalog;

/// 09:30 in Pacifica on the day the recorded data was taken.
const FIXED_NOW: &str = "2026-11-22T17:30:00Z";

/// Share of pixels that must be within `TOLERANCE` levels of the golden image.
const MIN_SIMILAR: f64 = 0.995;
const TOLERANCE: i32 = 24;

/// The offline demo's catalog and pipeline, as the service builds them.
fn offline(config: Config) -> (Catalog, Pipeline) {
    let pipeline = Pipeline::new(&config).expect("pipeline builds");
    (Catalog::new(&config), pipeline)
}

fn offline_config() -> Config {
    inkspot::load_config(&repo_path("examples/offline.toml")).expect("offline config loads")
}

fn fixed_now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(FIXED_NOW).unwrap().to_utc()
}

async fn render_fixed(
    (catalog, pipeline): &(Catalog, Pipeline),
    spot: &str,
    preset: Option<&str>,
) -> (Vec<u8>, Vec<inkspot::source::FieldError>) {
    let request = catalog
        .resolve(spot, preset, &OutputOptions::default())
        .expect("shipped spot");
    let data = pipeline
        .fetch(&request, &ManualClock::new(fixed_now()))
        .await;
    let rendered = pipeline
        .draw(&request, &data, fixed_now())
        .await
        .expect("draws");
    (rendered.bytes.to_vec(), data.errors)
}

pub(crate) fn compare_with_golden(name: &str, png: &[u8]) {
    let path = repo_path(&format!("tests/golden/{name}.png"));
    if std::env::var_os("INKSPOT_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, png).unwrap();
        return;
    }
    let expected = std::fs::read(&path).unwrap_or_else(|_| {
        panic!(
            "no golden image {}: run INKSPOT_UPDATE_GOLDEN=1 cargo test --test it golden",
            path.display()
        )
    });
    let (got, want) = (decode_png(png), decode_png(&expected));
    assert_eq!(
        (got.width, got.height),
        (want.width, want.height),
        "{name}: size"
    );
    let similar = got
        .luma
        .iter()
        .zip(&want.luma)
        .filter(|(a, b)| (**a as i32 - **b as i32).abs() <= TOLERANCE)
        .count() as f64
        / got.luma.len() as f64;
    if similar < MIN_SIMILAR {
        let actual = std::env::temp_dir().join(format!("inkspot-{name}-actual.png"));
        std::fs::write(&actual, png).unwrap();
        panic!(
            "{name}: only {:.2}% of pixels match the golden image (need {:.1}%); this render is at {}",
            similar * 100.0,
            MIN_SIMILAR * 100.0,
            actual.display()
        );
    }
}

#[tokio::test]
async fn surf_template_matches_its_golden_image() {
    let demo = offline(offline_config());
    let (png, errors) = render_fixed(&demo, "Linda Mar", None).await;
    assert!(errors.is_empty(), "{errors:?}");
    compare_with_golden("linda-mar", &png);
    let (png, _) = render_fixed(&demo, "Linda Mar", Some("trmnl")).await;
    compare_with_golden("linda-mar-trmnl", &png);
}

#[tokio::test]
async fn portrait_template_matches_its_golden_image() {
    let demo = offline(offline_config());
    let (png, errors) = render_fixed(&demo, "linda-mar-portrait", None).await;
    assert!(errors.is_empty(), "{errors:?}");
    let image = decode_png(&png);
    assert_eq!(
        (image.width, image.height, image.depth),
        (600, 800, png::BitDepth::Eight)
    );
    assert_eq!(
        image.color,
        png::ColorType::Grayscale,
        "kindle: gray, no alpha, no palette"
    );
    compare_with_golden("linda-mar-portrait", &png);
}

#[tokio::test]
async fn every_shipped_spot_renders_offline_with_every_source() {
    let (catalog, pipeline) = offline(offline_config());
    let shipped =
        inkspot::load_config(&repo_path("config.toml")).expect("the shipped config is valid");
    let offline: Vec<&str> = catalog.spots().iter().map(|s| s.name.as_str()).collect();
    let online: Vec<&str> = shipped.spots.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        offline, online,
        "the offline demo mirrors the shipped spots"
    );
    assert!(online.len() >= 4);
    for spot in catalog.spots() {
        let request = catalog
            .resolve(&spot.name, None, &OutputOptions::default())
            .unwrap();
        let (data, drawn) = pipeline.render(&request, &SystemClock).await;
        // A null field (Santa Cruz's sunrise) is as the services answer;
        // a whole source failing is not.
        let failed: Vec<_> = data.errors.iter().filter(|e| e.field.is_none()).collect();
        assert!(failed.is_empty(), "{}: {failed:?}", spot.name);
        let rendered = drawn
            .expect("data")
            .unwrap_or_else(|e| panic!("{}: {e}", spot.name));
        let image = decode_png(&rendered.bytes);
        let (w, h) = request.output.final_size();
        assert_eq!((image.width, image.height), (w, h), "{}", spot.name);
        let ink = image.luma.iter().filter(|&&v| v < 128).count();
        assert!(
            ink > 5000,
            "{}: the report has content ({ink} dark pixels)",
            spot.name
        );
    }
}

#[tokio::test]
async fn a_failed_source_is_marked_on_the_report() {
    let text = std::fs::read_to_string(repo_path("examples/offline.toml"))
        .unwrap()
        .replacen(
            "file://recorded/ndbc-{{ spot.buoy }}.txt",
            "file://recorded/missing.txt",
            1,
        );
    let config = Config::from_toml_with(
        &text,
        Path::new("offline.toml"),
        &repo_path("examples"),
        inkspot::CONFIG_CHECKS,
    )
    .unwrap();
    let (png, errors) = render_fixed(&offline(config), "Linda Mar", Some("trmnl")).await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].source, "buoy");
    let image = decode_png(&png);
    // The black "No data from: buoy" bar across the bottom.
    let bar = (30..770).filter(|&x| image.at(x, 424) < 128).count();
    assert!(bar > 700, "failure bar drawn ({bar} dark pixels)");
    let (ok, _) = render_fixed(&offline(offline_config()), "Linda Mar", Some("trmnl")).await;
    let clean = decode_png(&ok);
    assert!(
        (30..770).filter(|&x| clean.at(x, 424) < 128).count() < 50,
        "no bar when all is well"
    );
}

/// A chart of three series (one with a gap) continued by a forecast, as
/// the pipeline draws it at 1-bit and in gray.
mod charts {
    use std::sync::Arc;

    use inkspot::history::Recent;
    use inkspot_core::history::Point;

    use super::*;

    /// `series` (a list of `history()` calls) in a 400×240 chart.
    fn template(series: &str) -> String {
        format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="400" height="240"><rect width="400" height="240" fill="white"/>{{{{ line_chart({series}, x=8, y=8, width=384, height=224, min_range=1) }}}}</svg>"#
        )
    }

    fn site(series: &str) -> Site {
        let site = Site::new();
        std::fs::write(site.path().join("templates/chart.svg"), template(series)).unwrap();
        std::fs::write(site.path().join("page.html"), report_page("1.0", "x")).unwrap();
        site.write_config(
            r##"
[[spots]]
name = "Charts"
template = "chart"
width = 400
height = 240
timezone = "America/Los_Angeles"
[[spots.sources]]
id = "page"
url = "file://page.html"
format = "html"
[spots.sources.fields]
wave = { css = "#waves .value", type = "number" }
"##,
        );
        site
    }

    /// 24 hours of three series, hourly; `a` misses six hours.
    fn recent() -> Recent {
        let now = fixed_now().timestamp();
        let hourly = |f: fn(f64) -> f64, skip: bool| -> Vec<Point> {
            (0..=24)
                .filter(|h| !skip || !(8..14).contains(h))
                .map(|h| Point::new(now - (24 - h) * 3600, f(h as f64)))
                .collect()
        };
        let mut r = Recent::default();
        r.observed
            .insert("a.x".into(), hourly(|h| 2.0 + (h / 4.0).sin(), true));
        r.observed
            .insert("b.x".into(), hourly(|h| 2.5 + (h / 5.0).cos() * 0.8, false));
        r.observed
            .insert("c.x".into(), hourly(|h| 1.2 + h / 24.0, false));
        r.forecast.insert(
            "a.x".into(),
            (1..=12)
                .map(|h| Point::new(now + h * 3600, 2.0 + (h as f64 / 6.0).sin()))
                .collect(),
        );
        r.units.insert("a.x".into(), "ft".into());
        r
    }

    async fn draw(series: &str, bits: &str) -> Vec<u8> {
        let site = site(series);
        let config = inkspot::load_config(&site.config_path()).unwrap();
        let (catalog, pipeline) = offline(config);
        let mut options = OutputOptions::default();
        options.set("bits", bits).unwrap();
        let request = catalog.resolve("Charts", None, &options).unwrap();
        let mut data = pipeline
            .fetch(&request, &ManualClock::new(fixed_now()))
            .await;
        data.recent = Some(Arc::new(recent()));
        pipeline
            .draw(&request, &data, fixed_now())
            .await
            .unwrap()
            .bytes
            .to_vec()
    }

    #[tokio::test]
    async fn charts_match_their_golden_images() {
        let three = r#"[history("a.x"), history("b.x"), history("c.x")], forecast=forecast("a.x", hours=12)"#;
        compare_with_golden("chart-1bit", &draw(three, "1").await);
        compare_with_golden("chart-gray", &draw(three, "8").await);
    }

    /// The same line drawn as the first, second and third series of a
    /// chart, at 1-bit: solid, dashed and dotted ink clearly different
    /// amounts, so the three are told apart without colour.
    #[tokio::test]
    async fn three_series_are_told_apart_at_one_bit() {
        let mut dark = Vec::new();
        // No extremes marked: only the line's own ink differs.
        for series in [
            r#"[history("c.x")], extremes=false"#,
            r#"[history("none"), history("c.x")], extremes=false"#,
            r#"[history("none"), history("none"), history("c.x")], extremes=false"#,
        ] {
            let image = decode_png(&draw(series, "1").await);
            dark.push(image.luma.iter().filter(|v| **v < 128).count());
        }
        // Ink common to all three (axes, labels) cancels out in the
        // differences.
        assert!(
            dark[0] > dark[1] && dark[1] > dark[2],
            "solid, dashed, dotted: {dark:?}"
        );
        assert!(
            dark[0] - dark[1] > 150 && dark[1] - dark[2] > 150,
            "clearly apart: {dark:?}"
        );
    }
}
