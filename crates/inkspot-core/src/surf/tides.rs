//! Template functions for CO-OPS tide predictions: the next high and low
//! with their day, and today's tide curve placed on a time axis.

use chrono::{DateTime, Datelike, NaiveTime, TimeZone, Utc};
use minijinja::value::{Rest, Value};
use minijinja::{Error, State};

use crate::template::values::{bad, context_now, list, number, parse_local, zone};

/// Registers the tide functions on `env`.
pub fn register(env: &mut minijinja::Environment<'static>) {
    env.add_function("next_tides", next_tides);
    env.add_function("tide_chart", tide_chart);
}

/// A time's day relative to `now`'s, in the spot's zone: `today`,
/// `tomorrow`, or the weekday's short name.
fn day_word(time: DateTime<Utc>, now: DateTime<Utc>, tz: Option<chrono_tz::Tz>) -> String {
    let tz = tz.unwrap_or(chrono_tz::UTC);
    let (day, today) = (
        time.with_timezone(&tz).date_naive(),
        now.with_timezone(&tz).date_naive(),
    );
    match (day - today).num_days() {
        0 => "today".into(),
        1 => "tomorrow".into(),
        _ => day.weekday().to_string(),
    }
}

/// `next_tides(predictions)`: from CO-OPS `{t, v, type}` predictions, the
/// next high and the next low after `now`, as `{high: {t, v, time, hm,
/// day, weekday}, low: ...}`: `v` a number, `time` UTC (RFC 3339), `hm`
/// the local `HH:MM`, `day` is `today`, `tomorrow` or a weekday (`Tue`),
/// and `weekday` the local weekday.
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
        let hm = time
            .with_timezone(&tz.unwrap_or(chrono_tz::UTC))
            .format("%H:%M");
        out.insert(
            key,
            serde_json::json!({
                "t": t.as_str(), "v": height, "time": time.to_rfc3339(),
                "hm": hm.to_string(), "day": day_word(time, now, tz),
                "weekday": time.with_timezone(&tz.unwrap_or(chrono_tz::UTC)).format("%a").to_string(),
            }),
        );
    }
    Ok(Value::from_serialize(&out))
}

/// The start and end of `now`'s local day (23 or 25 hours long on the days
/// the clocks change).
fn local_day(now: DateTime<Utc>, tz: chrono_tz::Tz) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let date = now.with_timezone(&tz).date_naive();
    let start = |d: chrono::NaiveDate| {
        tz.from_local_datetime(&d.and_time(NaiveTime::MIN))
            .earliest()
            .map(|t| t.to_utc())
    };
    Some((start(date)?, start(date.succ_opt()?)?))
}

/// `tide_chart(points, x, y, width, height)`: today's tide curve from
/// CO-OPS `{t, v}` points, on a time axis from local midnight to the next
/// midnight across the box. Points of other days are left out; with fewer
/// than two for today the chart is empty, since a curve from another day
/// would mislead. Returns `{path, marker, low, high, points}`: `path` an
/// SVG path `d` (empty when there is no curve), `marker` `{x, y}` for `now`
/// on the curve, or none when `now` is outside the points' span.
fn tide_chart(state: &State, points: Value, frame: Rest<f64>) -> Result<Value, Error> {
    let [x, y, width, height] = frame[..] else {
        return Err(bad(
            "tide_chart(points, x, y, width, height) takes a box of four numbers",
        ));
    };
    let empty =
        serde_json::json!({"path": "", "marker": null, "low": null, "high": null, "points": 0});
    if points.is_none() || points.is_undefined() {
        return Ok(Value::from_serialize(&empty));
    }
    let now = context_now(state)?;
    let tz = zone(state).unwrap_or(chrono_tz::UTC);
    let (start, end) = local_day(now, tz).ok_or_else(|| bad("no local midnight today"))?;
    let mut today: Vec<(DateTime<Utc>, f64)> = Vec::new();
    for p in list(&points, "points")? {
        let time = p.get_attr("t").ok();
        let time = time.as_ref().and_then(Value::as_str);
        let level = p.get_attr("v").ok().as_ref().and_then(number);
        if let (Some(t), Some(v)) = (time.and_then(|s| parse_local(s, Some(tz))), level)
            && t >= start
            && t <= end
        {
            today.push((t, v));
        }
    }
    today.sort_by_key(|(t, _)| *t);
    if today.len() < 2 {
        return Ok(Value::from_serialize(&empty));
    }
    let low = today.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let high = today.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    let span = if high > low { high - low } else { 1.0 };
    let day = (end - start).num_seconds() as f64;
    let place = |t: DateTime<Utc>, v: f64| {
        (
            x + width * (t - start).num_seconds() as f64 / day,
            y + height - (v - low) / span * height,
        )
    };
    let mut path = String::new();
    for (i, (t, v)) in today.iter().enumerate() {
        let (px, py) = place(*t, *v);
        path.push_str(&format!(
            "{}{px:.1} {py:.1} ",
            if i == 0 { "M" } else { "L" }
        ));
    }
    let marker = today.windows(2).find_map(|w| {
        let ((t0, v0), (t1, v1)) = (w[0], w[1]);
        (t0 <= now && now <= t1).then(|| {
            let f = (now - t0).num_seconds() as f64 / (t1 - t0).num_seconds().max(1) as f64;
            let (px, py) = place(now, v0 + (v1 - v0) * f);
            serde_json::json!({"x": (px * 10.0).round() / 10.0, "y": (py * 10.0).round() / 10.0})
        })
    });
    Ok(Value::from_serialize(serde_json::json!({
        "path": path.trim_end(), "marker": marker, "low": low, "high": high, "points": today.len(),
    })))
}

#[cfg(test)]
mod tests {
    use crate::template::render_for_test as render;

    /// 24 hourly points of 2026-11-22, 00:00 to 23:00, level = the hour.
    fn day_points(date: &str) -> String {
        let points: Vec<String> = (0..24)
            .map(|h| format!(r#"{{"t":"{date} {h:02}:00","v":"{h}.0"}}"#))
            .collect();
        format!("[{}]", points.join(","))
    }

    #[test]
    fn the_curve_is_placed_by_time_not_by_point_count() {
        let t = format!(
            "{{% set c = tide_chart({}, 0, 0, 240, 23) %}}{{{{ c.path[:26] }}}}|{{{{ c.path[-10:] }}}}|{{{{ c.marker.x }}}} {{{{ c.marker.y }}}}",
            day_points("2026-11-22")
        );
        // 10:30 local (PST) is 18:30 UTC. Each hour is 10 px; 23:00 sits
        // at 230, not at the box's right edge; the marker is between the
        // 10:00 and 11:00 points at 105 px, level 10.5.
        assert_eq!(
            render(&t, "2026-11-22T18:30:00Z"),
            "M0.0 23.0 L10.0 22.0 L20.0|L230.0 0.0|105.0 12.5"
        );
    }

    #[test]
    fn another_days_curve_is_missing_not_misplaced() {
        let t = format!(
            "{{% set c = tide_chart({}, 0, 0, 240, 23) %}}[{{{{ c.path }}}}] {{{{ c.marker }}}} {{{{ c.points }}}}",
            day_points("2026-11-21")
        );
        assert_eq!(render(&t, "2026-11-22T18:30:00Z"), "[] None 0");
    }

    #[test]
    fn no_marker_after_the_last_point() {
        let t = format!(
            "{{% set c = tide_chart({}, 0, 0, 240, 23) %}}{{{{ c.marker }}}} {{{{ c.points }}}}",
            day_points("2026-11-22")
        );
        // 23:30 local: past the 23:00 point, still today.
        assert_eq!(render(&t, "2026-11-23T07:30:00Z"), "None 24");
    }

    #[test]
    fn next_tides_say_their_day() {
        let t = r#"{% set n = next_tides([{"t":"2026-11-22 17:20","v":"-0.3","type":"L"},{"t":"2026-11-22 23:51","v":"4.1","type":"H"},{"t":"2026-11-23 05:02","v":"2.1","type":"L"},{"t":"2026-11-25 11:14","v":"5.5","type":"H"}]) %}{{ n.high.hm }} {{ n.high.day }} {{ n.high.v }} / {% if n.low %}{{ n.low.hm }} {{ n.low.day }}{% else %}no low{% endif %}"#;
        // 18:00 local: the 17:20 low has passed; the next low is tomorrow.
        assert_eq!(
            render(t, "2026-11-23T02:00:00Z"),
            "23:51 today 4.1 / 05:02 tomorrow"
        );
        // Two days on, the weekday is named.
        assert_eq!(render(t, "2026-11-23T14:00:00Z"), "11:14 Wed 5.5 / no low");
    }
}
