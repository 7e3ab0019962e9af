//! Filters and functions for templates of marine and weather data: unit
//! conversions, compass text, the value at the current hour and a chart
//! path (tides are in `tides`, beside it). Each is documented in
//! docs/templates.md.

use chrono::{DateTime, Utc};
use minijinja::value::Value;
use minijinja::{Environment, Error, State};

use super::values::{context_now, list, number, parse_local, zone};

/// Registers every helper on `env`.
pub fn register(env: &mut Environment<'static>) {
    env.add_filter("m_to_ft", |v: f64| v * 3.280_84);
    env.add_filter("ms_to_knots", |v: f64| v * 1.943_844);
    env.add_filter("ms_to_mph", |v: f64| v * 2.236_936);
    env.add_filter("c_to_f", |v: f64| v * 9.0 / 5.0 + 32.0);
    env.add_filter("compass", compass);
    env.add_filter("to_ft", to_ft);
    env.add_filter("to_knots", to_knots);
    env.add_filter("to_f", to_f);
    env.add_function("at_hour", at_hour);
    env.add_function("chart_path", chart_path);
}

const POINTS: [&str; 16] = [
    "N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW", "SW", "WSW", "W", "WNW", "NW",
    "NNW",
];

/// `{{ 290 | compass }}` gives `WNW`: degrees to 16-point compass text.
pub fn compass(deg: f64) -> String {
    let i = ((deg.rem_euclid(360.0) + 11.25) / 22.5) as usize % 16;
    POINTS[i].to_string()
}

/// `at_hour(times, values)`: the value for the hour that contains `now`
/// (Open-Meteo's parallel hourly arrays); none when that hour is missing
/// or null, and none when every time is past: the last value of an old
/// answer is not the current one.
fn at_hour(state: &State, times: Value, values: Value) -> Result<Value, Error> {
    if times.is_none() || values.is_none() || times.is_undefined() || values.is_undefined() {
        return Ok(Value::from(()));
    }
    let now = context_now(state)?;
    let tz = zone(state);
    let times: Vec<Option<DateTime<Utc>>> = list(&times, "times")?
        .iter()
        .map(|t| t.as_str().and_then(|s| parse_local(s, tz)))
        .collect();
    let values = list(&values, "values")?;
    let hour = chrono::Duration::hours(1);
    let found = times.iter().enumerate().find_map(|(i, t)| {
        let t = (*t)?;
        let until = times.get(i + 1).copied().flatten().unwrap_or(t + hour);
        (t <= now && now < until.min(t + hour)).then_some(i)
    });
    Ok(found
        .and_then(|i| values.get(i).cloned())
        .unwrap_or_else(|| Value::from(())))
}

/// A value in `unit` turned into the unit a template shows, or none when
/// the value is missing or its unit unknown: a value is never labelled
/// with a unit it is not in.
fn convert(value: Option<f64>, unit: Option<&str>, table: &[(&str, f64, f64)]) -> Option<f64> {
    let (value, unit) = (value?, unit?.trim());
    table
        .iter()
        .find(|(name, _, _)| name.eq_ignore_ascii_case(unit))
        .map(|(_, scale, offset)| value * scale + offset)
}

/// Units a value may come in, each with the scale and offset that convert
/// it.
type Conversions = &'static [(&'static str, f64, f64)];

/// What each unit a template shows is converted from: the units
/// `history(to=...)` knows.
const UNITS: &[(&str, Conversions)] = &[
    ("ft", &[("ft", 1.0, 0.0), ("m", 3.280_84, 0.0)]),
    ("m", &[("m", 1.0, 0.0), ("ft", 0.3048, 0.0)]),
    (
        "kn",
        &[
            ("kn", 1.0, 0.0),
            ("kt", 1.0, 0.0),
            ("m/s", 1.943_844, 0.0),
            ("km/h", 0.539_957, 0.0),
            ("mph", 0.868_976, 0.0),
        ],
    ),
    (
        "°F",
        &[("°F", 1.0, 0.0), ("°C", 1.8, 32.0), ("degC", 1.8, 32.0)],
    ),
    (
        "°C",
        &[
            ("°C", 1.0, 0.0),
            ("degC", 1.0, 0.0),
            ("°F", 5.0 / 9.0, -160.0 / 9.0),
        ],
    ),
];

/// The scale and offset that turn a value in `unit` into one in `to`.
pub(crate) fn conversion(unit: &str, to: &str) -> Option<(f64, f64)> {
    let (_, table) = UNITS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(to))?;
    table
        .iter()
        .find(|(name, _, _)| name.eq_ignore_ascii_case(unit.trim()))
        .map(|(_, scale, offset)| (*scale, *offset))
}

/// The units `history(to=...)` converts into.
pub(crate) fn known_units() -> Vec<&'static str> {
    UNITS.iter().map(|(name, _)| *name).collect()
}

/// `{{ m.wave_height | to_ft(m.wave_unit) }}`: a length in `ft` or `m`, in feet.
fn to_ft(value: Option<f64>, unit: Option<String>) -> Option<f64> {
    convert(
        value,
        unit.as_deref(),
        &[("ft", 1.0, 0.0), ("m", 3.280_84, 0.0)],
    )
}

/// `{{ w.wind | to_knots(w.wind_unit) }}`: a speed in `kn`, `m/s`,
/// `km/h` or `mph`, in knots.
fn to_knots(value: Option<f64>, unit: Option<String>) -> Option<f64> {
    let table = [
        ("kn", 1.0, 0.0),
        ("kt", 1.0, 0.0),
        ("m/s", 1.943_844, 0.0),
        ("km/h", 0.539_957, 0.0),
        ("mph", 0.868_976, 0.0),
    ];
    convert(value, unit.as_deref(), &table)
}

/// `{{ m.water | to_f(m.water_unit) }}`: a temperature in `°C` or `°F`, in °F.
fn to_f(value: Option<f64>, unit: Option<String>) -> Option<f64> {
    convert(
        value,
        unit.as_deref(),
        &[("°F", 1.0, 0.0), ("°C", 1.8, 32.0)],
    )
}

/// `chart_path(values, x, y, width, height)`: an SVG path `d` that draws
/// the series across the box, scaled to its own min and max; nulls break
/// the line. Numbers may be strings (CO-OPS writes them so).
fn chart_path(values: Value, x: f64, y: f64, width: f64, height: f64) -> Result<String, Error> {
    if values.is_none() || values.is_undefined() {
        return Ok(String::new());
    }
    let points: Vec<Option<f64>> = list(&values, "values")?.iter().map(number).collect();
    let present: Vec<f64> = points.iter().flatten().copied().collect();
    let (Some(min), Some(max)) = (
        present.iter().copied().reduce(f64::min),
        present.iter().copied().reduce(f64::max),
    ) else {
        return Ok(String::new());
    };
    let span = if max > min { max - min } else { 1.0 };
    let step = if points.len() > 1 {
        width / (points.len() - 1) as f64
    } else {
        0.0
    };
    let mut d = String::new();
    let mut pen_down = false;
    for (i, p) in points.iter().enumerate() {
        match p {
            Some(v) => {
                let px = x + step * i as f64;
                let py = y + height - (v - min) / span * height;
                d.push_str(&format!(
                    "{}{px:.1} {py:.1} ",
                    if pen_down { "L" } else { "M" }
                ));
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    Ok(d.trim_end().to_string())
}

#[cfg(test)]
mod tests {
    use super::super::render_for_test as render;
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(0.0, "N")]
    #[case(11.0, "N")]
    #[case(12.0, "NNE")]
    #[case(290.0, "WNW")]
    #[case(359.0, "N")]
    #[case(-90.0, "W")]
    fn compass_points(#[case] deg: f64, #[case] text: &str) {
        assert_eq!(compass(deg), text);
    }

    #[test]
    fn conversions() {
        let out = render(
            "{{ (1 | m_to_ft) | round(2) }} {{ (10 | ms_to_knots) | round(1) }} {{ (10 | ms_to_mph) | round(1) }} {{ 100 | c_to_f }}",
            "2026-01-01T00:00:00Z",
        );
        assert_eq!(out, "3.28 19.4 22.4 212.0");
    }

    #[test]
    fn value_at_the_current_local_hour_with_nulls() {
        // 18:30 UTC is 10:30 in Los Angeles (PST, UTC-8).
        let t = "{{ at_hour(['2026-01-15T09:00','2026-01-15T10:00','2026-01-15T11:00'], [1.1, 2.2, 3.3]) }}|{{ at_hour(['2026-01-15T10:00'], [none]) }}|{{ at_hour(['2026-01-16T00:00'], [5]) }}";
        assert_eq!(render(t, "2026-01-15T18:30:00Z"), "2.2|None|None");
        // Every time past: none, not the last value.
        let old = "{{ at_hour(['2026-01-14T22:00','2026-01-14T23:00'], [1.1, 2.2]) }}";
        assert_eq!(render(old, "2026-01-15T18:30:00Z"), "None");
    }

    #[rstest]
    #[case("{{ 2 | to_ft('m') | round(2) }}", "6.56")]
    #[case("{{ 4.9 | to_ft('ft') }}", "4.9")]
    #[case("{{ 4.9 | to_ft('yd') }}", "None")]
    #[case("{{ 4.9 | to_ft(none) }}", "None")]
    #[case("{{ none | to_ft('ft') }}", "None")]
    #[case("{{ 10 | to_knots('m/s') | round(1) }}", "19.4")]
    #[case("{{ 10 | to_knots('kn') }}", "10.0")]
    #[case("{{ 100 | to_knots('km/h') | round(1) }}", "54.0")]
    #[case("{{ 13.4 | to_f('°C') | round(1) }}", "56.1")]
    #[case("{{ 56 | to_f('°F') }}", "56.0")]
    #[case("{{ 56 | to_f('K') }}", "None")]
    fn conversions_by_the_unit_the_answer_names(#[case] template: &str, #[case] expected: &str) {
        assert_eq!(render(template, "2026-01-01T00:00:00Z"), expected);
    }

    #[test]
    fn chart_path_spans_the_box_and_breaks_at_nulls() {
        let out = render(
            "{{ chart_path([0, '5', 10, none, 0], 10, 20, 40, 100) }}",
            "2026-01-01T00:00:00Z",
        );
        assert_eq!(out, "M10.0 120.0 L20.0 70.0 L30.0 20.0 M50.0 120.0");
        assert_eq!(
            render("{{ chart_path(none, 0, 0, 1, 1) }}", "2026-01-01T00:00:00Z"),
            ""
        );
    }
}
