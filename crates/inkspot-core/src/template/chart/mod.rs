//! Charts drawn for e-ink, as SVG the pipeline draws like the rest of a
//! template: `line_chart(...)` with time and value labels, and
//! `sparkline(...)`. Up to three series are told apart without colour
//! (solid, dashed, dotted); a forecast continues the first series in a
//! style of its own; gaps stay open; the value scale has a minimum range,
//! so a flat sea does not fill the height; strokes are wide enough for a
//! 1-bit panel. On a colour panel the forecast and the "now" line take the
//! panel's red.

use std::fmt::Write;
use std::sync::Arc;

use minijinja::value::{Kwargs, Value};
use minijinja::{Error, State};

mod marks;
mod plot;

use marks::{extremes, frame, line, now_line, number, time_axis};
use plot::Plot;
pub use plot::scale;

use super::SharedMeasure;
use super::history::SeriesObj;
use super::values::{bad, context_now, zone};
use crate::history::{Point, Series};

/// Dash patterns of the first, second and third series.
const DASHES: [&str; 3] = ["none", "10 6", "0.5 6"];
/// The forecast's pattern: dash and dot.
const FORECAST_DASH: &str = "10 4 1 4";

/// Registers `line_chart` and `sparkline` on `env`; labels are measured
/// with `measure`.
pub fn register(env: &mut minijinja::Environment<'static>, measure: SharedMeasure) {
    let m = measure.clone();
    env.add_function(
        "line_chart",
        move |state: &State, series: Value, kwargs: Kwargs| line_chart(state, &m, series, kwargs),
    );
    env.add_function("sparkline", sparkline);
}

/// The series argument: one series or a list of at most three.
fn series_list(value: &Value) -> Result<Vec<Arc<SeriesObj>>, Error> {
    if let Some(one) = value.downcast_object::<SeriesObj>() {
        return Ok(vec![one]);
    }
    let list: Vec<Value> = value
        .try_iter()
        .map_err(|_| bad("a chart needs a series from history() or forecast(), or a list of them"))?
        .collect();
    if list.is_empty() || list.len() > 3 {
        return Err(bad(format!(
            "a chart draws one to three series, not {}",
            list.len()
        )));
    }
    list.iter()
        .map(|v| {
            v.downcast_object::<SeriesObj>().ok_or_else(|| {
                bad(format!(
                    "`{v}` is not a series from history() or forecast()"
                ))
            })
        })
        .collect()
}

fn runs(series: &Series, width: f64) -> Vec<Vec<Point>> {
    let thinned = series.bucketed((width / 2.0).max(1.0) as usize);
    thinned.runs().into_iter().map(<[Point]>::to_vec).collect()
}

/// The red ink of a colour panel, else black.
fn accent(state: &State) -> String {
    state
        .lookup("inks")
        .and_then(|inks| inks.get_attr("red").ok())
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "black".to_string())
}

/// What `line_chart` was asked.
struct Ask {
    list: Vec<Arc<SeriesObj>>,
    place: (f64, f64, f64, f64),
    forecast: Option<Arc<SeriesObj>>,
    min_range: Option<f64>,
    decimals: Option<usize>,
    now: bool,
    extremes: bool,
}

/// Reads `line_chart`'s arguments.
fn ask(series: &Value, kwargs: &Kwargs) -> Result<Ask, Error> {
    let list = series_list(series)?;
    let place = placement(kwargs, 400.0, 120.0)?;
    let forecast: Option<Value> = kwargs.get("forecast")?;
    let forecast = match forecast.filter(|v| !v.is_none() && !v.is_undefined()) {
        Some(v) => Some(
            v.downcast_object::<SeriesObj>()
                .ok_or_else(|| bad("`forecast` must be a series from forecast()"))?,
        ),
        None => None,
    };
    let ask = Ask {
        list,
        place,
        forecast,
        min_range: kwargs.get("min_range")?,
        decimals: kwargs.get("decimals")?,
        now: kwargs.get::<Option<bool>>("now")?.unwrap_or(true),
        extremes: kwargs.get::<Option<bool>>("extremes")?.unwrap_or(true),
    };
    kwargs.assert_all_used()?;
    Ok(ask)
}

/// The scale's labels and the font they are set in.
struct Labels {
    top: String,
    bottom: String,
    font: f64,
    decimals: usize,
}

/// Where the plot goes inside the chart's box, left of it the scale's
/// labels (measured), under it the time axis.
fn layout(ask: &Ask, values: &[f64], measure: &SharedMeasure) -> (Plot, Labels) {
    let (x, y, w, h) = ask.place;
    let (lo, hi) = scale(values, ask.min_range);
    let decimals = ask.decimals.unwrap_or(if hi - lo >= 10.0 { 0 } else { 1 });
    let font = (h / 7.0).clamp(14.0, 18.0);
    let unit = ask.list[0].series.unit.clone().unwrap_or_default();
    let top = format!("{} {unit}", number(hi, decimals))
        .trim()
        .to_string();
    let bottom = number(lo, decimals);
    let label_w = measure
        .width(&top, font, false)
        .max(measure.width(&bottom, font, false));
    let t0 = ask.list.iter().map(|s| s.series.from).min().unwrap_or(0);
    let t1 = ask
        .list
        .iter()
        .map(|s| s.series.to)
        .chain(ask.forecast.iter().map(|f| f.series.to))
        .max()
        .unwrap_or(1);
    let plot = Plot {
        x: x + label_w + 6.0,
        y: y + font * 0.6,
        w: (w - label_w - 6.0).max(10.0),
        h: (h - font * 2.2).max(10.0),
        t0,
        t1: t1.max(t0 + 1),
        lo,
        hi,
    };
    let labels = Labels {
        top,
        bottom,
        font,
        decimals,
    };
    (plot, labels)
}

/// `line_chart(series, x, y, width, height, forecast=none, min_range=none,
/// decimals=none, now=true, extremes=true)`: SVG of one to three series with value and
/// time labels, the first series' extremes marked, and the forecast
/// continuing the first series.
fn line_chart(
    state: &State,
    measure: &SharedMeasure,
    series: Value,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let ask = ask(&series, &kwargs)?;
    let mut values: Vec<f64> = ask
        .list
        .iter()
        .flat_map(|s| s.series.points.iter().map(|p| p.value))
        .collect();
    if let Some(f) = &ask.forecast {
        values.extend(f.series.points.iter().map(|p| p.value));
    }
    let (plot, labels) = layout(&ask, &values, measure);
    let font = labels.font;
    let ink = accent(state);
    let mut svg = format!(r#"<g class="chart" font-size="{font:.0}" fill="black">"#);
    frame(&mut svg, &plot, &labels.top, &labels.bottom, font);
    time_axis(&mut svg, &plot, measure, font, zone(state));
    if values.is_empty() {
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">no data yet</text>"#,
            plot.x + plot.w / 2.0,
            plot.y + plot.h / 2.0 + font / 3.0
        );
    }
    for (i, s) in ask.list.iter().enumerate() {
        let d = plot.path(&runs(&s.series, plot.w));
        line(&mut svg, &d, DASHES[i], 3.0, "black");
    }
    if let Some(f) = &ask.forecast {
        let mut first = runs(&f.series, plot.w);
        if let (Some(last), Some(run)) = (ask.list[0].series.points.last(), first.first_mut()) {
            run.insert(0, *last);
        }
        line(&mut svg, &plot.path(&first), FORECAST_DASH, 2.5, &ink);
    }
    if let Some(summary) = ask.list[0].summary.as_ref().filter(|_| ask.extremes) {
        extremes(
            &mut svg,
            &plot,
            summary.min,
            summary.max,
            labels.decimals,
            font,
        );
    }
    if ask.now {
        now_line(&mut svg, &plot, context_now(state)?.timestamp(), &ink, font);
    }
    svg.push_str("</g>");
    Ok(Value::from_safe_string(svg))
}

fn placement(kwargs: &Kwargs, w: f64, h: f64) -> Result<(f64, f64, f64, f64), Error> {
    let get =
        |k: &str, d: f64| -> Result<f64, Error> { Ok(kwargs.get::<Option<f64>>(k)?.unwrap_or(d)) };
    let (x, y, w, h) = (
        get("x", 0.0)?,
        get("y", 0.0)?,
        get("width", w)?,
        get("height", h)?,
    );
    if !(w >= 20.0 && h >= 10.0) {
        return Err(bad(format!(
            "a chart needs a width of at least 20 and a height of at least 10, got {w}×{h}"
        )));
    }
    Ok((x, y, w, h))
}

/// `sparkline(series, x, y, width, height, min_range=none)`: the line
/// alone, its extremes dotted.
fn sparkline(series: Value, kwargs: Kwargs) -> Result<Value, Error> {
    let list = series_list(&series)?;
    let (x, y, w, h) = placement(&kwargs, 120.0, 30.0)?;
    let min_range: Option<f64> = kwargs.get("min_range")?;
    kwargs.assert_all_used()?;
    let svg = spark(&list[0].series, (x, y, w, h), min_range);
    Ok(Value::from_safe_string(svg))
}

/// A sparkline of `series` in the box `(x, y, width, height)`, as a `<g>`
/// to place in an SVG: the line, its extremes dotted.
pub fn spark(
    series: &Series,
    (x, y, w, h): (f64, f64, f64, f64),
    min_range: Option<f64>,
) -> String {
    let values: Vec<f64> = series.points.iter().map(|p| p.value).collect();
    let (lo, hi) = scale(&values, min_range);
    let plot = Plot {
        x,
        y: y + 3.0,
        w,
        h: (h - 6.0).max(4.0),
        t0: series.from,
        t1: series.to.max(series.from + 1),
        lo,
        hi,
    };
    let mut svg = String::from(r#"<g class="sparkline">"#);
    line(&mut svg, &plot.path(&runs(series, w)), "none", 2.0, "black");
    if let Some(summary) = series.summary(None) {
        for p in [summary.min, summary.max] {
            let (cx, cy) = plot.at(p);
            let _ = write!(svg, r#"<circle cx="{cx:.1}" cy="{cy:.1}" r="3"/>"#);
        }
    }
    svg.push_str("</g>");
    svg
}

/// Places `t` as a time for tests.
#[cfg(test)]
pub(crate) fn at(t: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|t| t.timestamp())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
