use super::*;
use crate::config::Spot;

fn toolkit() -> Toolkit {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../templates");
    crate::toolkit(&crate::render::Renderer::new(&dir, false))
}

fn templates(files: &[(&str, &str)]) -> (tempfile::TempDir, Templates) {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let t = Templates::load(dir.path(), &toolkit()).unwrap();
    (dir, t)
}

fn spot() -> Spot {
    let mut spot: Spot = toml::from_str("name = \"Linda Mar\"\ntemplate = \"t\"").unwrap();
    spot.timezone = Some(chrono_tz::America::Los_Angeles);
    spot
}

#[test]
fn a_runaway_loop_runs_out_of_fuel() {
    let (_d, t) = templates(&[(
        "t.svg",
        "{% for i in range(100000) %}{% for j in range(100000) %}.{% endfor %}{% endfor %}",
    )]);
    let ctx = Context::new(&spot(), 10, 10, None, Utc::now());
    let err = t.render("t", &ctx).unwrap_err().to_string();
    assert!(err.contains("fuel"), "{err}");
}

#[test]
fn escapes_scraped_text() {
    let (_d, t) = templates(&[("t.svg", "<text>{{ data.r.v }}</text>")]);
    let mut ctx = Context::new(&spot(), 10, 10, None, Utc::now());
    ctx.data
        .insert("r".into(), [("v".to_string(), "<a & \"b\">".into())].into());
    let out = t.render("t", &ctx).unwrap();
    assert_eq!(out, "<text>&lt;a &amp; &quot;b&quot;&gt;</text>");
}

#[test]
fn formats_time_in_spot_zone() {
    let (_d, t) = templates(&[("t.svg", "{{ now | datetimeformat('%H:%M %Z') }}")]);
    let now = DateTime::parse_from_rfc3339("2026-01-15T20:30:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let out = t
        .render("t", &Context::new(&spot(), 10, 10, None, now))
        .unwrap();
    assert_eq!(out, "12:30 PST");
}

#[test]
fn syntax_error_names_template_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.svg"), "<svg>\n\n{{ oops( }}\n</svg>").unwrap();
    let err = Templates::load(dir.path(), &toolkit())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("bad.svg"), "{err}");
    assert!(err.contains("bad.svg:3"), "{err}");
}

#[test]
fn missing_field_is_none() {
    let (_d, t) = templates(&[("t.svg", "{{ data.r.v is none }}-{{ data.r.v or 'n.a.' }}")]);
    let mut ctx = Context::new(&spot(), 10, 10, None, Utc::now());
    ctx.data.insert(
        "r".into(),
        [("v".to_string(), serde_json::Value::Null)].into(),
    );
    assert_eq!(t.render("t", &ctx).unwrap(), "True-n.a.");
}

#[test]
fn a_source_or_field_the_spot_lacks_is_none() {
    let (_d, t) = templates(&[(
        "t.svg",
        "{{ data.water.temp is none }}-{{ data.water.temp or 'n.a.' }}-{{ spot.nope.deeper }}",
    )]);
    let ctx = Context::new(&spot(), 10, 10, None, Utc::now());
    assert_eq!(t.render("t", &ctx).unwrap(), "True-n.a.-");
}

#[test]
fn a_broken_error_template_falls_back_to_the_shipped_one() {
    let (_d, t) = templates(&[("error.svg", "{% include \"nope.svg\" %}")]);
    let mut ctx = Context::new(&spot(), 100, 100, None, Utc::now());
    ctx.reason = Some("buoy: HTTP 500".into());
    assert!(t.render(ERROR_TEMPLATE, &ctx).is_err());
    let svg = t.render_error(&ctx).unwrap();
    assert!(svg.contains("buoy: HTTP 500"), "{svg}");
}

#[test]
fn builtin_error_template_is_used_when_folder_has_none() {
    let (_d, t) = templates(&[("t.svg", "x")]);
    assert!(t.contains(ERROR_TEMPLATE));
}

#[test]
fn notices_carry_their_title_and_lines() {
    let (_d, t) = templates(&[("t.svg", "x")]);
    let mut ctx = Context::new(&spot(), 800, 480, None, Utc::now());
    ctx.spot.insert("name".into(), "Kitchen".into());
    ctx.reason = Some("friendly id ABC123\nAA:BB:CC:DD:EE:01 <&>".into());
    let svg = t.render_notice(&ctx).unwrap();
    assert!(svg.contains(">Kitchen<"), "{svg}");
    assert!(svg.contains(">friendly id ABC123<"), "{svg}");
    assert!(
        svg.contains("AA:BB:CC:DD:EE:01 &lt;&amp;&gt;"),
        "escaped: {svg}"
    );
}

/// The shipped error picture says what kind of trouble it is: no data, or
/// a picture that could not be drawn although the data was there.
#[rstest::rstest]
#[case(None, "No data right now")]
#[case(
    Some("This picture could not be drawn"),
    "This picture could not be drawn"
)]
fn the_error_picture_names_its_trouble(#[case] headline: Option<&str>, #[case] shown: &str) {
    let (_d, t) = templates(&[]);
    let mut ctx = Context::new(&spot(), 800, 480, None, Utc::now());
    ctx.reason = Some("why".into());
    ctx.headline = headline.map(str::to_string);
    let svg = t.render_error(&ctx).unwrap();
    assert!(svg.contains(shown), "{svg}");
    assert_eq!(svg.contains("No data"), headline.is_none(), "{svg}");
}

/// A folder gone for a moment (a deploy's rename) keeps the templates in
/// force; a folder that never was loads as the shipped error picture alone.
#[test]
fn a_vanished_folder_keeps_the_templates_in_force() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("templates");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join("t.svg"),
        "<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
    )
    .unwrap();
    let live = LiveTemplates::load(&dir, toolkit()).unwrap();
    assert!(live.current().contains("t"));
    std::fs::rename(&dir, root.path().join("elsewhere")).unwrap();
    assert!(!live.reload_if_changed(), "nothing reloaded");
    assert!(live.current().contains("t"), "the template stays");

    let never = Templates::load(&root.path().join("never"), &toolkit()).unwrap();
    assert!(!never.contains("t"));
}
