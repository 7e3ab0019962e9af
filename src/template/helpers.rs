//! Filters and functions for templates of marine and weather data: unit
//! conversions, compass text, the value at the current hour, the next tides,
//! and a chart path. Each is documented in the README.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use minijinja::value::{Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State};

/// Registers every helper on `env`.
pub fn register(env: &mut Environment<'static>) {
    env.add_filter("m_to_ft", |v: f64| v * 3.280_84);
    env.add_filter("ms_to_knots", |v: f64| v * 1.943_844);
    env.add_filter("ms_to_mph", |v: f64| v * 2.236_936);
    env.add_filter("c_to_f", |v: f64| v * 9.0 / 5.0 + 32.0);
    env.add_filter("compass", compass);
    env.add_function("at_hour", at_hour);
    env.add_function("next_tides", next_tides);
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

fn bad(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

/// The spot's time zone from the template context, else UTC.
fn zone(state: &State) -> Option<chrono_tz::Tz> {
    state
        .lookup("spot")?
        .get_attr("timezone")
        .ok()?
        .as_str()?
        .parse()
        .ok()
}

/// `now` from the context as a UTC time.
fn context_now(state: &State) -> Result<DateTime<Utc>, Error> {
    let now = state
        .lookup("now")
        .ok_or_else(|| bad("no `now` in the context"))?;
    let now = now.as_str().ok_or_else(|| bad("`now` is not a string"))?;
    DateTime::parse_from_rfc3339(now)
        .map(|t| t.to_utc())
        .map_err(|e| bad(format!("`now` is not RFC 3339: {e}")))
}

/// Reads a local time as APIs write it (`2026-04-01T06:58`, `2023-01-04 03:35`,
/// or with an offset) in the spot's zone.
pub fn parse_local(s: &str, tz: Option<chrono_tz::Tz>) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.to_utc());
    }
    let naive = [
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())?;
    match tz {
        Some(tz) => tz
            .from_local_datetime(&naive)
            .earliest()
            .map(|t| t.to_utc()),
        None => Some(Utc.from_utc_datetime(&naive)),
    }
}

fn list(v: &Value, what: &str) -> Result<Vec<Value>, Error> {
    if v.kind() != ValueKind::Seq {
        return Err(bad(format!("{what} must be a list, got {}", v.kind())));
    }
    Ok(v.try_iter()?.collect())
}

/// `at_hour(times, values)`: the value for the hour that contains `now`
/// (Open-Meteo's parallel hourly arrays); none when that hour is missing
/// or null.
fn at_hour(state: &State, times: Value, values: Value) -> Result<Value, Error> {
    if times.is_none() || values.is_none() || times.is_undefined() || values.is_undefined() {
        return Ok(Value::from(()));
    }
    let now = context_now(state)?;
    let tz = zone(state);
    let times = list(&times, "times")?;
    let values = list(&values, "values")?;
    let mut best = None;
    for (i, t) in times.iter().enumerate() {
        let Some(t) = t.as_str().and_then(|s| parse_local(s, tz)) else {
            continue;
        };
        if t <= now {
            best = Some(i);
        } else {
            break;
        }
    }
    Ok(best
        .and_then(|i| values.get(i).cloned())
        .unwrap_or_else(|| Value::from(())))
}

/// `next_tides(predictions)`: from CO-OPS `{t, v, type}` predictions, the
/// next high and the next low after `now`, as `{high: {t, v, time}, low:
/// ...}` where `v` is a number and `time` the UTC time (RFC 3339).
fn next_tides(state: &State, predictions: Value) -> Result<Value, Error> {
    let mut out = std::collections::BTreeMap::new();
    if predictions.is_none() || predictions.is_undefined() {
        return Ok(Value::from_serialize(&out));
    }
    let now = context_now(state)?;
    let tz = zone(state);
    for p in list(&predictions, "predictions")? {
        let (Ok(t), Ok(v), Ok(kind)) = (p.get_attr("t"), p.get_attr("v"), p.get_attr("type"))
        else {
            continue;
        };
        let Some(time) = t.as_str().and_then(|s| parse_local(s, tz)) else {
            continue;
        };
        let key = match kind.as_str() {
            Some("H") => "high",
            Some("L") => "low",
            _ => continue,
        };
        if time <= now || out.contains_key(key) {
            continue;
        }
        let height = v.as_str().and_then(|s| s.trim().parse::<f64>().ok());
        out.insert(
            key,
            serde_json::json!({"t": t.as_str(), "v": height, "time": time.to_rfc3339()}),
        );
    }
    Ok(Value::from_serialize(&out))
}

/// `chart_path(values, x, y, width, height)`: an SVG path `d` that draws
/// the series across the box, scaled to its own min and max; nulls break
/// the line. Numbers may be strings (CO-OPS writes them so).
fn chart_path(values: Value, x: f64, y: f64, width: f64, height: f64) -> Result<String, Error> {
    if values.is_none() || values.is_undefined() {
        return Ok(String::new());
    }
    let points: Vec<Option<f64>> = list(&values, "values")?
        .iter()
        .map(|v| {
            f64::try_from(v.clone())
                .ok()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        })
        .collect();
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
    use super::*;
    use rstest::rstest;

    fn render(template: &str, now: &str) -> String {
        let mut env = Environment::new();
        register(&mut env);
        env.render_str(
            template,
            minijinja::context! {
                now => now,
                spot => minijinja::context! { timezone => "America/Los_Angeles" },
            },
        )
        .unwrap()
    }

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
    }

    #[test]
    fn next_high_and_low_after_now() {
        let t = r#"{% set n = next_tides([{"t":"2026-01-15 04:12","v":"1.8","type":"L"},{"t":"2026-01-15 10:31","v":"5.6","type":"H"},{"t":"2026-01-15 17:20","v":"-0.3","type":"L"},{"t":"2026-01-15 23:51","v":"4.1","type":"H"}]) %}{{ n.high.t }} {{ n.high.v }} / {{ n.low.t }} {{ n.low.v }}"#;
        // 19:00 UTC = 11:00 local: the 10:31 high has passed.
        assert_eq!(
            render(t, "2026-01-15T19:00:00Z"),
            "2026-01-15 23:51 4.1 / 2026-01-15 17:20 -0.3"
        );
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
