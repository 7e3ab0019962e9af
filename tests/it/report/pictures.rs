//! The pictures the shipped templates draw, measured on the laid-out
//! drawing: every text on the panel at every shape, the error picture's
//! list, the coast map's names clear of the coastline, later animation
//! frames, colour inks and the tide curve's labels.

use super::*;
/// The longest values each field can take, over the real recordings.
fn longest(data: &mut SpotData) {
    let mut set = |source: &str, field: &str, value: Value| {
        data.values
            .entry(source.to_string())
            .or_default()
            .insert(field.to_string(), value);
    };
    set("buoy", "wvht", json!(30.4));
    set("marine", "swell_height", json!(88.8));
    set("marine", "swell_period", json!(88));
    set("marine", "swell_dir", json!(292));
    set("weather", "wind", json!(88.0));
    set("weather", "gust", json!(99.0));
    set("weather", "wind_dir", json!(292));
    set("buoy", "water_c", json!(38.0));
    set("buoy", "wvht_time", json!("2026-11-20T01:00:00Z"));
    data.errors = ["marine", "weather", "wind_buoy", "tide_curve"]
        .iter()
        .map(|s| inkspot::source::FieldError {
            source: s.to_string(),
            field: None,
            reason: "timed out".into(),
            unreachable: false,
            url: None,
        })
        .collect();
}

/// Every value from the buoys rather than the forecast: the longest source
/// names in the footer.
fn from_buoys(data: &mut SpotData) {
    for field in ["swell_height", "swell_period"] {
        data.values
            .get_mut("marine")
            .unwrap()
            .insert(field.into(), Value::Null);
    }
    let weather = data.values.entry("weather".into()).or_default();
    weather.insert("wind".into(), Value::Null);
    let wind = data.values.entry("wind_buoy".into()).or_default();
    wind.insert("speed".into(), json!(12.3));
    wind.insert("gust".into(), json!(18.9));
    wind.insert("direction".into(), json!(292));
}

/// Every text of every shipped template at its shipped size stays inside
/// the panel with the longest values, measured on the laid-out text.
#[rstest]
#[case("Half Moon Bay", "2026-11-23T05:00:00Z", false)]
#[case("Linda Mar portrait", "2026-11-23T05:00:00Z", false)]
#[case("Half Moon Bay", MORNING, false)]
#[case("Linda Mar portrait", MORNING, false)]
#[case("Half Moon Bay", MORNING, true)]
#[case("Linda Mar portrait", MORNING, true)]
#[case("Santa Cruz", MORNING, true)]
#[tokio::test]
async fn every_text_fits_its_panel(#[case] spot: &str, #[case] now: &str, #[case] buoys: bool) {
    let offline = Offline::new();
    let (request, mut data) = offline.data(spot, now).await;
    longest(&mut data);
    if buoys {
        from_buoys(&mut data);
    }
    let svg = offline.pipeline.fill(&request, &data).unwrap();
    let renderer = inkspot::render::Renderer::new(&repo_path("templates"), false);
    let tree = renderer.parse(&svg).unwrap();
    let (w, h) = (tree.size().width(), tree.size().height());
    let mut checked = 0;
    for_each_text(tree.root(), &mut |text| {
        let b = text.abs_bounding_box();
        let what: String = text.chunks().iter().map(|c| c.text()).collect();
        assert!(
            b.left() >= 0.0 && b.right() <= w && b.top() >= 0.0 && b.bottom() <= h,
            "{spot}: `{what}` runs off the {w}×{h} panel: {b:?}"
        );
        checked += 1;
    });
    assert!(checked >= 12, "{spot}: only {checked} texts");
}

/// In a mashup's regions (a half, a quarter, a wide half) the landscape
/// report draws its compact layouts: every text stays inside, with the
/// longest values, and none is smaller than 12 px on the region.
#[rstest]
#[case(396, 236)]
#[case(800, 236)]
#[case(396, 480)]
#[case(532, 300)]
#[tokio::test]
async fn every_text_fits_a_mashups_region(#[case] width: u32, #[case] height: u32) {
    let offline = Offline::new();
    let (mut request, mut data) = offline.data("Half Moon Bay", MORNING).await;
    request.output.width = width;
    request.output.height = height;
    longest(&mut data);
    from_buoys(&mut data);
    let svg = offline.pipeline.fill(&request, &data).unwrap();
    let renderer = inkspot::render::Renderer::new(&repo_path("templates"), false);
    let tree = renderer.parse(&svg).unwrap();
    let (w, h) = (tree.size().width(), tree.size().height());
    let scale = (width as f32 / w).min(height as f32 / h);
    let mut checked = 0;
    for_each_text(tree.root(), &mut |text| {
        let b = text.abs_bounding_box();
        let what: String = text.chunks().iter().map(|c| c.text()).collect();
        assert!(
            b.left() >= 0.0 && b.right() <= w && b.top() >= 0.0 && b.bottom() <= h,
            "{width}×{height}: `{what}` runs off the {w}×{h} drawing: {b:?}"
        );
        let size = text
            .chunks()
            .iter()
            .flat_map(|c| c.spans())
            .map(|s| s.font_size().get())
            .fold(f32::MAX, f32::min);
        if height < 300 {
            assert!(
                size * scale >= 11.5,
                "{width}×{height}: `{what}` is {:.1} px",
                size * scale
            );
        }
        checked += 1;
    });
    assert!(checked >= 10, "{width}×{height}: only {checked} texts");
}

fn for_each_text(group: &usvg::Group, f: &mut impl FnMut(&usvg::Text)) {
    for node in group.children() {
        match node {
            usvg::Node::Group(g) => for_each_text(g, f),
            usvg::Node::Text(t) => f(t),
            _ => {}
        }
    }
}

/// The error picture fits every shipped size and orientation, with a long
/// spot name and a long reason naming every failed source.
#[rstest]
#[case(800, 480)]
#[case(600, 800)]
#[case(400, 240)]
#[case(296, 128)]
#[case(1872, 1404)]
#[case(758, 1024)]
fn the_error_picture_fits_every_panel(#[case] width: u32, #[case] height: u32) {
    let config = inkspot::load_config(&repo_path("examples/offline.toml")).unwrap();
    let mut spot = config.spots[4].clone(); // "Linda Mar portrait", the longest name
    spot.name = "Linda Mar portrait at Pacifica State Beach".into();
    let mut context = inkspot::template::Context::new(&spot, width, height, None, at(MORNING));
    context.reason = Some(
        "marine: timed out after 10s; weather: HTTP 503; buoy: connection refused; wind_buoy: no such host; tides: HTTP 429; tide_curve: timed out; station: upstream answered HTTP 404".into(),
    );
    let pipeline = Pipeline::new(&config).unwrap();
    let svg = pipeline
        .templates()
        .current()
        .render_error(&context)
        .unwrap();
    assert!(svg.contains("timed out"), "the reason is shown");
    assert!(svg.contains("PST"), "times in the spot's zone: {svg}");
    let renderer = inkspot::render::Renderer::new(&repo_path("templates"), false);
    let tree = renderer.parse(&svg).unwrap();
    let mut checked = 0;
    for_each_text(tree.root(), &mut |text| {
        let b = text.abs_bounding_box();
        let what: String = text.chunks().iter().map(|c| c.text()).collect();
        assert!(
            b.left() >= 0.0 && b.right() <= width as f32 && b.bottom() <= height as f32,
            "{width}×{height}: `{what}` runs off: {b:?}"
        );
        checked += 1;
    });
    assert!(checked >= 4, "{checked} texts");
    // Every failed source is named, or counted in "and N more".
    let mut texts = Vec::new();
    for_each_text(tree.root(), &mut |text| {
        texts.push(text.chunks().iter().map(|c| c.text()).collect::<String>());
    });
    let sources = [
        "marine",
        "weather",
        "buoy",
        "wind_buoy",
        "tides",
        "tide_curve",
        "station",
    ];
    let named = sources
        .iter()
        .filter(|s| texts.iter().any(|t| t.starts_with(&format!("{s}:"))))
        .count();
    let more: usize = texts
        .iter()
        .find_map(|t| t.strip_prefix("and ")?.strip_suffix(" more")?.parse().ok())
        .unwrap_or(0);
    assert_eq!(named + more, sources.len(), "{width}×{height}: {texts:?}");
}

/// The coastline, as the map draws it: every point along the stroked path
/// of many segments, in panel pixels.
fn coastline(group: &usvg::Group, out: &mut Vec<(f32, f32)>) {
    for node in group.children() {
        match node {
            usvg::Node::Group(g) => coastline(g, out),
            usvg::Node::Path(p) if p.stroke().is_some() && p.data().len() > 40 => {
                let t = p.abs_transform();
                let points: Vec<_> = p.data().points().to_vec();
                for pair in points.windows(2) {
                    for step in 0..=20 {
                        let f = step as f32 / 20.0;
                        let mut pt = tiny_skia::Point::from_xy(
                            pair[0].x + (pair[1].x - pair[0].x) * f,
                            pair[0].y + (pair[1].y - pair[0].y) * f,
                        );
                        t.map_point(&mut pt);
                        // Only what the map's frame shows; the rest is clipped.
                        if (20.0..=410.0).contains(&pt.x) && (56.0..=456.0).contains(&pt.y) {
                            out.push((pt.x, pt.y));
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

/// The map's names and arrows sit in the ocean: the coastline runs through
/// none of them.
#[tokio::test]
async fn the_coast_map_keeps_names_and_arrows_off_the_coastline() {
    let offline = Offline::new();
    let (request, data) = offline.data("Coast", MORNING).await;
    let svg = offline.pipeline.fill(&request, &data).unwrap();
    let renderer = inkspot::render::Renderer::new(&repo_path("templates"), false);
    let tree = renderer.parse(&svg).unwrap();
    let mut coast = Vec::new();
    coastline(tree.root(), &mut coast);
    assert!(
        coast.len() > 300,
        "the coastline is drawn: {} points",
        coast.len()
    );
    let crosses = |b: usvg::Rect| {
        coast
            .iter()
            .any(|&(x, y)| b.left() <= x && x <= b.right() && b.top() <= y && y <= b.bottom())
    };
    let mut names = 0;
    for_each_text(tree.root(), &mut |text| {
        let what: String = text.chunks().iter().map(|c| c.text()).collect();
        let b = text.abs_bounding_box();
        assert!(!crosses(b), "the coastline runs through `{what}`: {b:?}");
        if ["Ocean Beach", "Linda Mar", "Half Moon Bay", "Santa Cruz"].contains(&what.as_str()) {
            names += 1;
        }
    });
    assert_eq!(names, 8, "each name on the map and in the list");
    // The arrows: small filled or outlined paths turned by their group.
    let mut arrows = 0;
    fn each_arrow(group: &usvg::Group, f: &mut impl FnMut(usvg::Rect)) {
        for node in group.children() {
            match node {
                usvg::Node::Group(g) => each_arrow(g, f),
                usvg::Node::Path(p)
                    if p.data().len() == 5 && p.abs_bounding_box().width() < 40.0 =>
                {
                    f(p.abs_bounding_box())
                }
                _ => {}
            }
        }
    }
    each_arrow(tree.root(), &mut |b| {
        assert!(!crosses(b), "the coastline runs through an arrow at {b:?}");
        arrows += 1;
    });
    assert_eq!(arrows, 8, "a swell and a wind arrow for each spot");
}

/// A frame for a later hour whose hour the forecast lacks shows "–",
/// never the current value under the future time.
#[tokio::test]
async fn a_later_frame_never_shows_the_current_value() {
    let offline = Offline::new();
    let (request, mut data) = offline.data("Coast", MORNING).await;
    for field in ["times", "swell_heights", "swell_dirs", "swell_periods"] {
        data.values
            .get_mut("hmb_marine")
            .unwrap()
            .insert(field.into(), Value::Null);
    }
    for field in ["wind_times", "winds", "wind_dirs"] {
        data.values
            .get_mut("hmb_weather")
            .unwrap()
            .insert(field.into(), Value::Null);
    }
    let at = (at(MORNING) + chrono::Duration::hours(18)).to_rfc3339();
    let frame = inkspot::template::Frame {
        index: 3,
        count: 4,
        at,
        hours: 18,
    };
    let texts = texts_of(&offline.pipeline.fill_frame(&request, &data, frame).unwrap());
    assert_shows(
        &texts,
        &["Swell – @ – s", "Wind – kn"],
        "Half Moon Bay at +18 h",
    );
    let now = texts_of(&offline.pipeline.fill(&request, &data).unwrap());
    assert!(
        now.iter().any(|t| t.starts_with("Swell 5.9 ft")),
        "now, the current value: {now:?}"
    );
}

/// The surf layouts take the shape of every panel from 16:9 to square
/// (landscape) and 3:4 to 9:16 (portrait): the drawing has the panel's
/// aspect ratio, so it is scaled without white bands, and every text
/// still fits.
#[rstest]
#[case("Half Moon Bay", 800, 480)]
#[case("Half Moon Bay", 1872, 1404)]
#[case("Half Moon Bay", 1920, 1080)]
#[case("Half Moon Bay", 1000, 1000)]
#[case("Linda Mar portrait", 600, 800)]
#[case("Linda Mar portrait", 758, 1024)]
#[case("Linda Mar portrait", 1080, 1920)]
#[tokio::test]
async fn the_surf_layouts_fill_every_panel_shape(
    #[case] spot: &str,
    #[case] width: u32,
    #[case] height: u32,
) {
    let offline = Offline::new();
    let (mut request, mut data) = offline.data(spot, MORNING).await;
    longest(&mut data);
    request.output.width = width;
    request.output.height = height;
    let svg = offline.pipeline.fill(&request, &data).unwrap();
    let renderer = inkspot::render::Renderer::new(&repo_path("templates"), false);
    let tree = renderer.parse(&svg).unwrap();
    let (w, h) = (tree.size().width(), tree.size().height());
    let drawn = w / h;
    let panel = width as f32 / height as f32;
    assert!(
        (drawn - panel).abs() / panel < 0.01,
        "{spot} at {width}×{height}: drawn {w}×{h}, so white bands"
    );
    for_each_text(tree.root(), &mut |text| {
        let b = text.abs_bounding_box();
        let what: String = text.chunks().iter().map(|c| c.text()).collect();
        assert!(
            b.left() >= 0.0 && b.right() <= w && b.top() >= 0.0 && b.bottom() <= h,
            "{spot} at {width}×{height}: `{what}` runs off: {b:?}"
        );
    });
}

/// On a colour panel the report uses its inks where colour means
/// something: red for the tide's "now" marker, yellow behind an offshore
/// wind (Linda Mar's east wind that morning); on a 1-bit panel neither.
#[rstest]
#[case("trmnl-bwry", true)]
#[case("spectra6", true)]
#[case("trmnl", false)]
#[tokio::test]
async fn colour_panels_get_their_inks_where_colour_means_something(
    #[case] preset: &str,
    #[case] colour: bool,
) {
    let offline = Offline::new();
    let (_, data) = offline.data("Linda Mar", MORNING).await;
    let request = offline
        .catalog
        .resolve("Linda Mar", Some(preset), &OutputOptions::default())
        .unwrap();
    let svg = offline.pipeline.fill(&request, &data).unwrap();
    let renderer = inkspot::render::Renderer::new(&repo_path("templates"), false);
    let png = renderer.render(&svg, &request.output).unwrap();
    let image = image::load_from_memory(&png).unwrap().to_rgb8();
    let count = |rgb: [u8; 3]| image.pixels().filter(|p| p.0 == rgb).count();
    let (red, yellow) = (count([255, 0, 0]), count([255, 255, 0]));
    if colour {
        assert!(red > 200, "{preset}: the tide marker in red ({red} px)");
        assert!(
            yellow > 2000,
            "{preset}: offshore wind marked in yellow ({yellow} px)"
        );
        let black = count([0, 0, 0]);
        assert!(black > 10 * red, "{preset}: text stays black");
    } else {
        assert_eq!((red, yellow), (0, 0), "{preset}: no colour");
    }
}

/// The tide curve (drawn on the portrait report) says what its ticks and
/// its height are: hours under the axis, the day's high and low beside it.
#[tokio::test]
async fn the_tide_curve_is_labelled() {
    let texts = Offline::new().texts("Linda Mar portrait", MORNING).await;
    assert_shows(
        &texts,
        &["06:00", "12:00", "18:00", "5.6 ft", "-0.3 ft"],
        "tide curve",
    );
}

/// Both reports chart the waves' last day, from the buoy in feet, continued
/// by the forecast, with the swell's trend in words: the extremes and the
/// scale in feet, hours under the axis, and where now is.
#[rstest::rstest]
#[case("Linda Mar")]
#[case("Linda Mar portrait")]
#[tokio::test]
async fn the_wave_chart_shows_the_last_day_and_the_forecast(#[case] spot: &str) {
    let offline = Offline::new();
    let texts = offline.texts(spot, MORNING).await;
    // The buoy's highest reading in the day before 09:30 was 1.7 m (5.6
    // ft), its lowest 1.2 m (3.9 ft): examples/recorded/ndbc-46237.txt.
    assert_shows(
        &texts,
        &[
            "Waves, 24 h · swell rising",
            "5.6",
            "3.9",
            "now",
            "12:00",
            "18:00",
            "00:00",
        ],
        spot,
    );
    let (request, data) = offline.data(spot, MORNING).await;
    let svg = offline.pipeline.fill(&request, &data).unwrap();
    assert_eq!(svg.matches("class=\"chart\"").count(), 1, "one chart");
    assert!(
        svg.contains("stroke-dasharray=\"10 4 1 4\""),
        "the forecast continues the line"
    );
}
