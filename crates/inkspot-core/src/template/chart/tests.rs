use std::sync::Arc;

use minijinja::{Environment, Value, context};

use super::super::history::{self as functions, RecentObj};
use super::*;
use crate::history::{Point, Recent};

/// Every character 0.6 of the font size wide.
struct Even;

impl crate::template::Measure for Even {
    fn width(&self, text: &str, size: f64, _bold: bool) -> f64 {
        text.chars().count() as f64 * size * 0.6
    }
}

const NOW: &str = "2026-11-22T17:30:00Z";

fn recent(fields: &[(&str, Vec<(i64, f64)>)], forecast: &[(&str, Vec<(i64, f64)>)]) -> Recent {
    let points = |ps: &Vec<(i64, f64)>| {
        ps.iter()
            .map(|&(t, v)| Point::new(at(NOW) + t, v))
            .collect()
    };
    Recent {
        observed: fields
            .iter()
            .map(|(f, ps)| (f.to_string(), points(ps)))
            .collect(),
        forecast: forecast
            .iter()
            .map(|(f, ps)| (f.to_string(), points(ps)))
            .collect(),
        units: [("buoy.wvht".to_string(), "ft".to_string())].into(),
    }
}

fn fill(template: &str, recent: Recent) -> Result<String, minijinja::Error> {
    let mut env = Environment::new();
    functions::register(&mut env);
    register(&mut env, Arc::new(Even));
    env.render_str(
        template,
        context! {
            now => NOW,
            spot => context! { timezone => "America/Los_Angeles" },
            _recent => Value::from_object(RecentObj(Arc::new(recent))),
        },
    )
}

/// Every `d="..."` of a path drawn with `dash`.
fn paths<'a>(svg: &'a str, dash: &str) -> Vec<&'a str> {
    svg.split("<path d=\"")
        .skip(1)
        .filter(|p| p.contains(&format!("stroke-dasharray=\"{dash}\"")))
        .map(|p| &p[..p.find('"').unwrap()])
        .collect()
}

fn ys(d: &str) -> Vec<f64> {
    d.split([' ', 'M', 'L'])
        .filter_map(|xy| xy.split_once(','))
        .map(|(_, y)| y.parse().unwrap())
        .collect()
}

fn hourly(values: &[f64]) -> Vec<(i64, f64)> {
    let n = values.len() as i64;
    values
        .iter()
        .enumerate()
        .map(|(i, v)| ((i as i64 - n) * 3600, *v))
        .collect()
}

#[test]
fn a_gap_stays_open() {
    let mut points = hourly(&[3.0; 20]);
    points.drain(8..14);
    let svg = fill(
        r#"{{ line_chart(history("buoy.wvht"), width=400, height=120) }}"#,
        recent(&[("buoy.wvht", points)], &[]),
    )
    .unwrap();
    let line = paths(&svg, "none");
    assert_eq!(line.len(), 1, "{svg}");
    assert_eq!(line[0].matches('M').count(), 2, "two runs: {}", line[0]);
}

#[test]
fn a_flat_series_does_not_fill_the_height() {
    let svg = fill(
        r#"{{ line_chart(history("buoy.wvht"), width=400, height=120) }}"#,
        recent(
            &[("buoy.wvht", hourly(&[4.0, 4.05, 3.95, 4.0, 4.02, 3.98]))],
            &[],
        ),
    )
    .unwrap();
    let y = ys(paths(&svg, "none")[0]);
    let spread =
        y.iter().copied().fold(f64::MIN, f64::max) - y.iter().copied().fold(f64::MAX, f64::min);
    assert!(
        spread < 120.0 * 0.15,
        "a 0.1 ft wobble spans {spread:.1} px of 120"
    );
}

#[test]
fn three_series_are_told_apart_without_colour() {
    let r = recent(
        &[
            ("a.x", hourly(&[1.0, 2.0, 3.0])),
            ("b.x", hourly(&[2.0, 3.0, 1.0])),
            ("c.x", hourly(&[3.0, 1.0, 2.0])),
        ],
        &[],
    );
    let svg = fill(
        r#"{{ line_chart([history("a.x"), history("b.x"), history("c.x")]) }}"#,
        r,
    )
    .unwrap();
    for dash in DASHES {
        assert_eq!(paths(&svg, dash).len(), 1, "one line dashed {dash}: {svg}");
    }
    assert!(!svg.contains("stroke=\"#f"), "black only");
    let four = fill(
        r#"{{ line_chart([history("a.x"), history("a.x"), history("a.x"), history("a.x")]) }}"#,
        recent(&[], &[]),
    );
    assert!(
        four.unwrap_err()
            .to_string()
            .contains("one to three series")
    );
}

#[test]
fn the_forecast_continues_the_observed_line() {
    let r = recent(
        &[("buoy.wvht", hourly(&[3.0, 3.5, 4.0]))],
        &[("buoy.wvht", vec![(3600, 4.5), (7200, 5.0)])],
    );
    let svg = fill(r#"{{ line_chart(history("buoy.wvht", hours=6), forecast=forecast("buoy.wvht", hours=6)) }}"#, r).unwrap();
    let observed = paths(&svg, "none")[0];
    let ahead = paths(&svg, FORECAST_DASH)[0];
    let last = observed.rsplit(' ').next().unwrap().trim_start_matches('L');
    assert!(
        ahead.starts_with(&format!("M{last}")),
        "{ahead} starts at {last}"
    );
    assert!(svg.contains(">now</text>"));
}

#[test]
fn the_extremes_are_marked_with_their_values() {
    let svg = fill(
        r#"{{ line_chart(history("buoy.wvht")) }}"#,
        recent(&[("buoy.wvht", hourly(&[3.0, 5.2, 2.1, 3.3]))], &[]),
    )
    .unwrap();
    assert!(
        svg.contains(">5.2</text>") && svg.contains(">2.1</text>"),
        "{svg}"
    );
    assert!(
        svg.contains(" ft</text>"),
        "the unit beside the scale: {svg}"
    );
}

#[test]
fn no_data_is_said_not_drawn_as_zero() {
    let svg = fill(
        r#"{{ line_chart(history("buoy.wvht")) }}"#,
        recent(&[], &[]),
    )
    .unwrap();
    assert!(svg.contains("no data yet"));
    assert!(paths(&svg, "none").is_empty());
    let text = fill(
        r#"{{ history("buoy.wvht").last is none }}|{{ history("buoy.wvht").trend is none }}"#,
        recent(&[], &[]),
    )
    .unwrap();
    assert_eq!(text.to_lowercase(), "true|true");
}

#[test]
fn the_window_asked_for_is_bounded() {
    let err = fill(r#"{{ history("buoy.wvht", hours=100) }}"#, recent(&[], &[])).unwrap_err();
    assert!(err.to_string().contains("at most 72"), "{err}");
}

#[test]
fn a_template_reads_the_statistics() {
    let r = recent(&[("buoy.wvht", hourly(&[2.0, 2.2, 2.6, 3.1, 3.4]))], &[]);
    let text = fill(
        r#"{{ h.min }} {{ h.max }} {{ h.last }} {{ h.trend }} {{ h.count }} {{ h.max_at }}"#
            .replace("h.", "history('buoy.wvht').")
            .as_str(),
        r,
    )
    .unwrap();
    assert_eq!(text, "2.0 3.4 3.4 rising 5 2026-11-22T16:30:00Z");
}

/// The scale holds every value, spans at least `min_range` (default half
/// the values' mean), pads a wide range by only a little, and never goes
/// below zero for values that do not.
#[rstest::rstest]
#[case(&[4.0, 4.0], None, 2.0, 2.5)]
#[case(&[4.0, 4.1], Some(10.0), 10.0, 11.7)]
#[case(&[1.0, 9.0], None, 8.0, 9.3)]
#[case(&[0.0, 0.0], None, 0.0, 0.01)]
#[case(&[-3.0, 2.0], Some(1.0), 5.0, 5.9)]
fn the_scale_widens_a_narrow_range(
    #[case] values: &[f64],
    #[case] min_range: Option<f64>,
    #[case] at_least: f64,
    #[case] at_most: f64,
) {
    let (lo, hi) = scale(values, min_range);
    let (min, max) = (values[0].min(values[1]), values[0].max(values[1]));
    assert!(lo <= min && hi >= max, "{lo}..{hi} holds {values:?}");
    assert!(
        hi - lo >= at_least - 1e-9,
        "{lo}..{hi} spans at least {at_least}"
    );
    assert!(hi - lo <= at_most, "{lo}..{hi} spans at most {at_most}");
    if min >= 0.0 {
        assert!(lo >= 0.0, "{lo}: never below zero for values that are not");
    }
}

#[test]
fn a_series_is_converted_into_the_unit_asked() {
    let mut r = recent(&[("buoy.wvht", hourly(&[1.0, 2.0]))], &[]);
    r.units.insert("buoy.wvht".into(), "m".into());
    let text = fill(r#"{{ history("buoy.wvht", to="ft").last | round(2) }} {{ history("buoy.wvht", to="ft").unit }}"#, r.clone()).unwrap();
    assert_eq!(text, "6.56 ft");
    let err = fill(r#"{{ history("buoy.wvht", to="kn") }}"#, r.clone()).unwrap_err();
    assert!(err.to_string().contains("does not convert"), "{err}");
    let err = fill(r#"{{ history("buoy.wvht", to="furlongs") }}"#, r).unwrap_err();
    assert!(err.to_string().contains("unknown unit"), "{err}");
}

/// A ten-day forecast gets day labels across its whole width, not ticks
/// that stop after the first days.
#[test]
fn a_long_forecast_is_labelled_by_the_day_to_its_end() {
    let ahead: Vec<(i64, f64)> = (1..=240).map(|h| (h * 3600, 2.0)).collect();
    let r = recent(
        &[("buoy.wvht", hourly(&[2.0, 2.1]))],
        &[("buoy.wvht", ahead)],
    );
    let svg = fill(r#"{{ line_chart(history("buoy.wvht", hours=2), forecast=forecast("buoy.wvht", hours=240), width=600) }}"#, r).unwrap();
    let days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let labels: Vec<&str> = svg
        .split("text-anchor=\"middle\">")
        .skip(1)
        .map(|t| &t[..t.find('<').unwrap()])
        .filter(|t| days.contains(t))
        .collect();
    assert!(labels.len() >= 4, "day labels over ten days: {labels:?}");
    assert!(labels.len() <= 6, "no more than fit: {labels:?}");
}
