//! The template functions: `history("buoy.wvht", hours=24)` and
//! `forecast("marine.wave_height", hours=12)`, each a series a template can
//! read (`.last`, `.trend`, `.points`) and hand to the charts.

use std::collections::BTreeMap;
use std::sync::Arc;

use minijinja::value::{Enumerator, Kwargs, Object, Value};
use minijinja::{Error, State};

use super::values::{bad, context_now};
use crate::history::{FORECAST_HOURS, RECENT_HOURS, Recent, Series, Summary};

/// The name the spot's [`Recent`] goes by in a template's context.
pub const CONTEXT_KEY: &str = "_recent";

/// Registers `history` and `forecast` on `env`.
pub fn register(env: &mut minijinja::Environment<'static>) {
    env.add_function("history", history);
    env.add_function("forecast", forecast);
}

/// The spot's recent values, from the context (none: empty).
#[derive(Debug, Default)]
pub struct RecentObj(pub Arc<Recent>);

impl Object for RecentObj {}

/// A series as a template sees it.
#[derive(Debug)]
pub struct SeriesObj {
    /// The points and their window.
    pub series: Series,
    /// Their statistics.
    pub summary: Option<Summary>,
    /// Whether these are forecast values.
    pub forecast: bool,
}

fn stamp(at: i64) -> Value {
    chrono::DateTime::from_timestamp(at, 0)
        .map(|t| Value::from(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)))
        .unwrap_or_default()
}

impl Object for SeriesObj {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let s = self.summary.as_ref();
        let num = |f: fn(&Summary) -> f64| s.map(f).map_or(Value::from(()), Value::from);
        Some(match key.as_str()? {
            "field" => Value::from(self.series.field.as_str()),
            "unit" => self
                .series
                .unit
                .clone()
                .map_or(Value::from(()), Value::from),
            "forecast" => Value::from(self.forecast),
            "empty" => Value::from(self.series.points.is_empty()),
            "count" => Value::from(self.series.points.len()),
            "from" => stamp(self.series.from),
            "to" => stamp(self.series.to),
            "min" => num(|s| s.min.value),
            "max" => num(|s| s.max.value),
            "first" => num(|s| s.first.value),
            "last" => num(|s| s.last.value),
            "mean" => num(|s| s.mean),
            "change" => num(|s| s.change),
            "min_at" => s.map_or(Value::from(()), |s| stamp(s.min.at)),
            "max_at" => s.map_or(Value::from(()), |s| stamp(s.max.at)),
            "last_at" => s.map_or(Value::from(()), |s| stamp(s.last.at)),
            "trend" => s.map_or(Value::from(()), |s| Value::from(s.trend.word())),
            "points" => self.points(),
            _ => return None,
        })
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(&[
            "field", "unit", "forecast", "empty", "count", "from", "to", "min", "max", "first",
            "last", "mean", "change", "min_at", "max_at", "last_at", "trend", "points",
        ])
    }
}

impl SeriesObj {
    /// `{t, v}` per point, with a `{t, v: none}` at each gap.
    fn points(&self) -> Value {
        let mut out = Vec::new();
        for (i, run) in self.series.runs().iter().enumerate() {
            if i > 0 {
                out.push(point(run[0].at - 1, Value::from(())));
            }
            out.extend(run.iter().map(|p| point(p.at, Value::from(p.value))));
        }
        Value::from(out)
    }
}

fn point(at: i64, v: Value) -> Value {
    let mut map = BTreeMap::new();
    map.insert("t", stamp(at));
    map.insert("v", v);
    Value::from(map)
}

/// The spot's [`Recent`] from the template's context.
fn recent(state: &State) -> Arc<Recent> {
    state
        .lookup(CONTEXT_KEY)
        .and_then(|v| v.downcast_object::<RecentObj>())
        .map(|r| r.0.clone())
        .unwrap_or_default()
}

/// The window's options: `hours`, `points`, `threshold`.
struct Ask {
    hours: i64,
    points: Option<usize>,
    threshold: Option<f64>,
    to: Option<String>,
}

fn ask(kwargs: &Kwargs, limit: i64, what: &str) -> Result<Ask, Error> {
    let hours: Option<f64> = kwargs.get("hours")?;
    let hours = hours.unwrap_or(24.0);
    if !(hours > 0.0 && hours <= limit as f64) {
        return Err(bad(format!(
            "{what}(hours={hours}): hours must be more than 0 and at most {limit}; longer spans are at /api/history"
        )));
    }
    let points: Option<usize> = kwargs.get("points")?;
    let threshold: Option<f64> = kwargs.get("threshold")?;
    let to: Option<String> = kwargs.get("to")?;
    if let Some(to) = &to
        && !crate::template::helpers::known_units().contains(&to.as_str())
    {
        return Err(bad(format!(
            "{what}(to=\"{to}\"): unknown unit; known: {}",
            crate::template::helpers::known_units().join(", ")
        )));
    }
    kwargs.assert_all_used()?;
    Ok(Ask {
        hours: (hours * 3600.0) as i64,
        points,
        threshold,
        to,
    })
}

/// `history(field, hours=24, points=none, threshold=none)`: the field's
/// observations in the `hours` before now (the frame's time on an
/// animation frame), at most `points` of them (bucketed), with `trend`
/// judged by `threshold`.
fn history(state: &State, field: &str, kwargs: Kwargs) -> Result<Value, Error> {
    let ask = ask(&kwargs, RECENT_HOURS, "history")?;
    let now = context_now(state)?.timestamp();
    let recent = recent(state);
    let field = &named(field);
    let all = recent.observed.get(field).map_or(&[][..], Vec::as_slice);
    let unit = recent.units.get(field).map(String::as_str);
    let series = Series::window(field, unit, all, now - ask.hours, now);
    made(series, &ask, false)
}

/// `field` as the recent values key it: a device's friendly id in any
/// case (`device:ABC123.temperature` is `device:abc123.temperature`).
fn named(field: &str) -> String {
    match field
        .strip_prefix("device:")
        .and_then(|rest| rest.split_once('.'))
    {
        Some((id, kind)) => format!("{}{kind}", crate::history::device_prefix(id)),
        None => field.to_string(),
    }
}

/// `forecast(field, hours=24, points=none, threshold=none)`: the field's
/// latest forecast for the `hours` after now.
fn forecast(state: &State, field: &str, kwargs: Kwargs) -> Result<Value, Error> {
    let ask = ask(&kwargs, FORECAST_HOURS, "forecast")?;
    let now = context_now(state)?.timestamp();
    let recent = recent(state);
    let all = recent.forecast.get(field).map_or(&[][..], Vec::as_slice);
    let unit = recent.units.get(field).map(String::as_str);
    let series = Series::window(field, unit, all, now, now + ask.hours);
    made(series, &ask, true)
}

fn made(series: Series, ask: &Ask, forecast: bool) -> Result<Value, Error> {
    let series = converted(series, ask.to.as_deref())?;
    let summary = series.summary(ask.threshold);
    let series = match ask.points {
        Some(n) => series.bucketed(n),
        None => series,
    };
    Ok(Value::from_object(SeriesObj {
        series,
        summary,
        forecast,
    }))
}

/// The series in unit `to`: an empty one takes the unit as it is; one in
/// a unit that does not convert is an error naming both.
fn converted(mut series: Series, to: Option<&str>) -> Result<Series, Error> {
    let Some(to) = to else {
        return Ok(series);
    };
    if series.points.is_empty() {
        series.unit = Some(to.to_string());
        return Ok(series);
    }
    let unit = series.unit.clone().unwrap_or_default();
    let (scale, offset) = crate::template::helpers::conversion(&unit, to).ok_or_else(|| {
        bad(format!(
            "`{}` is in `{unit}`, which does not convert to `{to}`",
            series.field
        ))
    })?;
    for p in &mut series.points {
        p.value = p.value * scale + offset;
    }
    series.unit = Some(to.to_string());
    Ok(series)
}
