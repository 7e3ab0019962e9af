//! Golden images of the shipped templates, drawn from the offline demo's
//! recorded data at a fixed time, compared with a similarity threshold (font
//! rasterizing may differ by a few edge pixels between machines).
//!
//! Regenerate after an intended change to a template:
//!
//!     INKSPOT_UPDATE_GOLDEN=1 cargo test --test golden
//!
//! and look at the PNGs in tests/golden/ before committing them.

mod common;

use std::path::Path;

use chrono::DateTime;
use common::*;
use inkspot::render::OutputOptions;
use inkspot::{Config, Engine};

/// 09:30 in Pacifica on the day the recorded data was taken.
const FIXED_NOW: &str = "2026-11-22T17:30:00Z";

/// Share of pixels that must be within `TOLERANCE` levels of the golden image.
const MIN_SIMILAR: f64 = 0.995;
const TOLERANCE: i32 = 24;

async fn offline_engine(cache: &Path) -> std::sync::Arc<Engine> {
    let mut config =
        Config::load(&repo_path("examples/offline.toml")).expect("offline config loads");
    config.cache.dir = cache.to_path_buf();
    Engine::new(config).await.expect("engine starts")
}

async fn render_fixed(
    engine: &Engine,
    spot: &str,
    device: Option<&str>,
) -> (Vec<u8>, Vec<inkspot::source::FieldError>) {
    let spot = engine.find(spot).expect("shipped spot");
    let mut data = inkspot::source::gather(engine.fetcher(), spot).await;
    data.fetched_at = DateTime::parse_from_rfc3339(FIXED_NOW).unwrap().to_utc();
    let output = engine
        .output(spot, device, &OutputOptions::default())
        .unwrap();
    let rendered = engine.draw(spot, &output, &data).await.expect("draws");
    (rendered.bytes.to_vec(), data.errors)
}

fn compare_with_golden(name: &str, png: &[u8]) {
    let path = repo_path(&format!("tests/golden/{name}.png"));
    if std::env::var_os("INKSPOT_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, png).unwrap();
        return;
    }
    let expected = std::fs::read(&path).unwrap_or_else(|_| {
        panic!(
            "no golden image {}: run INKSPOT_UPDATE_GOLDEN=1 cargo test --test golden",
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
    let cache = tempfile::tempdir().unwrap();
    let engine = offline_engine(cache.path()).await;
    let (png, errors) = render_fixed(&engine, "Linda Mar", None).await;
    assert!(errors.is_empty(), "{errors:?}");
    compare_with_golden("linda-mar", &png);
    let (png, _) = render_fixed(&engine, "Linda Mar", Some("trmnl")).await;
    compare_with_golden("linda-mar-trmnl", &png);
}

#[tokio::test]
async fn portrait_template_matches_its_golden_image() {
    let cache = tempfile::tempdir().unwrap();
    let engine = offline_engine(cache.path()).await;
    let (png, errors) = render_fixed(&engine, "linda-mar-portrait", None).await;
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
    let cache = tempfile::tempdir().unwrap();
    let engine = offline_engine(cache.path()).await;
    let shipped = Config::load(&repo_path("config.toml")).expect("the shipped config is valid");
    let offline: Vec<&str> = engine.spots().iter().map(|s| s.name.as_str()).collect();
    let online: Vec<&str> = shipped.spots.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        offline, online,
        "the offline demo mirrors the shipped spots"
    );
    assert!(online.len() >= 4);
    for spot in engine.spots() {
        let (rendered, data) = engine
            .render_once(spot, None, &OutputOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", spot.name));
        assert!(data.errors.is_empty(), "{}: {:?}", spot.name, data.errors);
        let image = decode_png(&rendered.bytes);
        let (w, h) = engine
            .output(spot, None, &OutputOptions::default())
            .unwrap()
            .final_size();
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
    let cache = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo_path("examples/offline.toml"))
        .unwrap()
        .replacen(
            "file://recorded/ndbc-46237.txt",
            "file://recorded/missing.txt",
            1,
        );
    let mut config =
        Config::from_toml(&text, Path::new("offline.toml"), &repo_path("examples")).unwrap();
    config.cache.dir = cache.path().to_path_buf();
    let engine = Engine::new(config).await.unwrap();
    let (png, errors) = render_fixed(&engine, "Linda Mar", Some("trmnl")).await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].source, "buoy");
    let image = decode_png(&png);
    // The black "No data from: buoy" bar across the bottom.
    let bar = (30..770).filter(|&x| image.at(x, 424) < 128).count();
    assert!(bar > 700, "failure bar drawn ({bar} dark pixels)");
    let (ok, _) = render_fixed(
        &*offline_engine(cache.path()).await,
        "Linda Mar",
        Some("trmnl"),
    )
    .await;
    let clean = decode_png(&ok);
    assert!(
        (30..770).filter(|&x| clean.at(x, 424) < 128).count() < 50,
        "no bar when all is well"
    );
}
