//! Mashups over real sockets: each of TRMNL's eight layouts puts its
//! spots' pictures in the right places at the right sizes, a part without
//! data shows its own small error while the others are drawn, and a change
//! in one part's data redraws the mashup.

use std::sync::Arc;

use crate::common::*;
use inkspot::clock::ManualClock;
use inkspot::config::LAYOUTS;

/// A template that fills its whole region black.
const SOLID: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" width="{{ spot.width }}" height="{{ spot.height }}"><rect width="100%" height="100%" fill="#000"/></svg>"##;

/// The 1-bit picture of `spot` for a TRMNL, as luma rows.
async fn panel(app: &App, spot: &str) -> image::GrayImage {
    let r = app
        .get(&format!("/image?spot={spot}&device=trmnl"), &[])
        .await;
    assert_eq!(r.status(), 200, "{spot}");
    let bytes = r.bytes().await.unwrap();
    let img = image::load_from_memory(&bytes).unwrap().to_luma8();
    assert_eq!(img.dimensions(), (800, 480));
    img
}

#[tokio::test]
async fn each_layout_puts_its_spots_in_their_regions() {
    let site = Site::new();
    std::fs::write(site.path().join("page.html"), report_page("2.5", "TRMNL")).unwrap();
    std::fs::write(site.path().join("templates/solid.svg"), SOLID).unwrap();
    let mut config = String::new();
    for name in ["A", "B", "C", "D"] {
        config.push_str(
            &bar_spot(name, "file://page.html", "")
                .replace("template = \"bar\"", "template = \"solid\""),
        );
    }
    for (layout, kind) in LAYOUTS {
        let spots: Vec<String> = ["A", "B", "C", "D"][..kind.parts()]
            .iter()
            .map(|s| format!("\"{s}\""))
            .collect();
        config.push_str(&format!(
            "\n[[spots]]\nname = \"Mash {layout}\"\nmashup = {{ layout = \"{layout}\", spots = [{}] }}\n",
            spots.join(", ")
        ));
    }
    site.write_config(&config);
    let app = App::start(&site).await;
    for (layout, kind) in LAYOUTS {
        let img = panel(&app, &format!("mash-{}", layout.to_lowercase())).await;
        let regions = kind.regions(800, 480, 8);
        let inside = |x: u32, y: u32| {
            regions
                .iter()
                .any(|r| x >= r.x && x < r.x + r.width && y >= r.y && y < r.y + r.height)
        };
        let wrong = img
            .enumerate_pixels()
            .filter(|(x, y, p)| (p.0[0] < 128) != inside(*x, *y))
            .count();
        assert_eq!(wrong, 0, "{layout}: {wrong} pixels out of place");
    }
    app.stop().await;
}

/// Black pixels of row `y` from `x0` to `x1`.
fn black(img: &image::GrayImage, y: u32, (x0, x1): (u32, u32)) -> usize {
    (x0..x1).filter(|&x| img.get_pixel(x, y).0[0] < 128).count()
}

#[tokio::test]
async fn a_part_without_data_shows_its_own_error_and_the_others_are_drawn() {
    let site = Site::new();
    std::fs::write(site.path().join("page.html"), report_page("2.5", "TRMNL")).unwrap();
    let good = bar_spot("Good", "file://page.html", "");
    let bad = bar_spot("Bad", "file://missing.html", "");
    let pair = "\n[[spots]]\nname = \"Pair\"\nmashup = { layout = \"1Lx1R\", spots = [\"Good\", \"Bad\"], gutter = 0 }\n";
    site.write_config(&format!("{good}{bad}{pair}"));
    let app = App::start(&site).await;
    let img = panel(&app, "pair").await;
    assert_eq!(
        black(&img, 20, (0, 400)),
        250,
        "the good part's bar: 2.5 × 100 px"
    );
    let error_ink: usize = (0..480).map(|y| black(&img, y, (400, 800))).sum();
    assert!(
        error_ink > 500,
        "the bad part says why: {error_ink} dark pixels"
    );
    assert!(error_ink < 400 * 480 / 2, "not a black box: {error_ink}");
    app.stop().await;
}

#[tokio::test]
async fn a_change_in_one_parts_data_redraws_the_mashup() {
    let site = Site::new();
    std::fs::write(site.path().join("left.html"), report_page("2.5", "TRMNL")).unwrap();
    std::fs::write(site.path().join("right.html"), report_page("1.0", "TRMNL")).unwrap();
    let left = bar_spot("Left", "file://left.html", "");
    let right = bar_spot("Right", "file://right.html", "");
    let pair = "\n[[spots]]\nname = \"Pair\"\nmashup = { layout = \"1Lx1R\", spots = [\"Left\", \"Right\"], gutter = 0 }\n";
    site.write_config(&format!("[cache]\nmax_age = \"1h\"\n{left}{right}{pair}"));
    let clock = Arc::new(ManualClock::new("2026-12-07T10:00:00Z".parse().unwrap()));
    let app = App::start_with_clock(&site, clock.clone()).await;
    // The right part's data is fetched first, the left's 40 minutes later
    // with the mashup: its picture is as new as the left's data.
    panel(&app, "right").await;
    clock.advance(std::time::Duration::from_secs(40 * 60));
    let first = panel(&app, "pair").await;
    assert_eq!(
        black(&first, 20, (400, 800)),
        100,
        "the right part's bar: 1.0"
    );
    // Past the right part's hour, its data is fetched again, changed; the
    // mashup's picture has 40 minutes left, yet it is outdated.
    std::fs::write(site.path().join("right.html"), report_page("3.0", "TRMNL")).unwrap();
    clock.advance(std::time::Duration::from_secs(21 * 60));
    panel(&app, "right").await;
    let mut seen = 0;
    for _ in 0..50 {
        seen = black(&panel(&app, "pair").await, 20, (400, 800));
        if seen == 300 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        seen, 300,
        "the mashup is drawn again with the right part's 3.0"
    );
    app.stop().await;
}

/// The offline demo with a mashup of its first spots in `layout`, drawn
/// at 09:30 on the day its data was recorded, through the service's own
/// pipeline.
async fn demo_mashup(layout: &str, spots: &[&str]) -> Vec<u8> {
    let path = repo_path("examples/offline.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    let names: Vec<String> = spots.iter().map(|s| format!("\"{s}\"")).collect();
    text.push_str(&format!("\n[[spots]]\nname = \"Surf {layout}\"\nmashup = {{ layout = \"{layout}\", spots = [{}] }}\n", names.join(", ")));
    let config = inkspot::Config::from_toml(&text, &path, &repo_path("examples")).expect("loads");
    let pipeline = inkspot::pipeline::Pipeline::new(&config).unwrap();
    let catalog = inkspot::request::Catalog::new(&config);
    let clock = ManualClock::new("2026-11-22T17:30:00Z".parse().unwrap());
    let options = inkspot::config::OutputOptions::default();
    let request = catalog
        .resolve(&format!("Surf {layout}"), Some("trmnl"), &options)
        .unwrap();
    let parts: Vec<_> = spots
        .iter()
        .map(|name| catalog.resolve(name, None, &options).unwrap())
        .collect();
    let parts: Vec<_> = parts
        .iter()
        .map(|p| catalog.exact(p.index, request.output))
        .collect();
    let (data, drawn) = inkspot::pipeline::render_mashup(&pipeline, &request, &parts, &clock).await;
    // Santa Cruz's recording lacks its sunrise: a field, not a part.
    let whole: Vec<_> = data.errors.iter().filter(|e| e.field.is_none()).collect();
    assert!(whole.is_empty(), "every part has data: {whole:?}");
    let drawn = drawn.expect("drawn").unwrap();
    drawn.bytes.to_vec()
}

/// The shipped surf report fitted to a mashup's regions, at 1-bit: look at
/// tests/golden/mashup-*.png after regenerating them
/// (`INKSPOT_UPDATE_GOLDEN=1 cargo test --test it golden`).
#[tokio::test]
async fn surf_mashups_match_their_golden_images() {
    let four = ["Linda Mar", "Ocean Beach", "Half Moon Bay", "Santa Cruz"];
    for (layout, n) in [("1Lx2R", 3), ("2x2", 4), ("1Tx2B", 3)] {
        let png = demo_mashup(layout, &four[..n]).await;
        crate::golden::compare_with_golden(&format!("mashup-{}", layout.to_lowercase()), &png);
    }
}
