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

use chrono::{DateTime, TimeZone, Timelike};
use minijinja::value::{Kwargs, Value};
use minijinja::{Error, State};

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

/// A box on the page and the time and value ranges it shows.
struct Plot {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
    t0: i64,
    t1: i64,
    lo: f64,
    hi: f64,
}

impl Plot {
    fn at(&self, p: Point) -> (f64, f64) {
        let span = (self.t1 - self.t0).max(1) as f64;
        let x = self.x + (p.at - self.t0) as f64 / span * self.w;
        let y = self.y + self.h - (p.value - self.lo) / (self.hi - self.lo) * self.h;
        (x, y)
    }

    /// One `M ... L ...` per run of points without a gap.
    fn path(&self, runs: &[Vec<Point>]) -> String {
        let mut d = String::new();
        for run in runs {
            for (i, p) in run.iter().enumerate() {
                let (x, y) = self.at(*p);
                let _ = write!(d, "{}{x:.1},{y:.1} ", if i == 0 { "M" } else { "L" });
            }
        }
        d.trim_end().to_string()
    }
}

/// The value range the chart shows: the data's, widened to at least
/// `min_range` (default half the values' mean size) about its middle and
/// kept off zero when no value is below it, then padded a little.
pub fn scale(values: &[f64], min_range: Option<f64>) -> (f64, f64) {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let mean = values.iter().map(|v| v.abs()).sum::<f64>() / values.len() as f64;
    let min_range = min_range.unwrap_or(mean / 2.0).max(1e-6);
    let (mut a, mut b) = (lo, hi);
    if b - a < min_range {
        let mid = (a + b) / 2.0;
        a = mid - min_range / 2.0;
        b = mid + min_range / 2.0;
    }
    if lo >= 0.0 && a < 0.0 {
        b -= a;
        a = 0.0;
    }
    let pad = (b - a) * 0.08;
    (a - if a == 0.0 { 0.0 } else { pad }, b + pad)
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

fn number(v: f64, decimals: usize) -> String {
    format!("{v:.decimals$}")
}

/// `line_chart(series, x, y, width, height, forecast=none, min_range=none,
/// decimals=none, now=true)`: SVG of one to three series with value and
/// time labels, the first series' extremes marked, and the forecast
/// continuing the first series.
fn line_chart(
    state: &State,
    measure: &SharedMeasure,
    series: Value,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let list = series_list(&series)?;
    let (x, y, w, h) = placement(&kwargs, 400.0, 120.0)?;
    let forecast: Option<Value> = kwargs.get("forecast")?;
    let forecast = match forecast.filter(|v| !v.is_none() && !v.is_undefined()) {
        Some(v) => Some(
            v.downcast_object::<SeriesObj>()
                .ok_or_else(|| bad("`forecast` must be a series from forecast()"))?,
        ),
        None => None,
    };
    let min_range: Option<f64> = kwargs.get("min_range")?;
    let decimals: Option<usize> = kwargs.get("decimals")?;
    let show_now: Option<bool> = kwargs.get("now")?;
    kwargs.assert_all_used()?;

    let mut values: Vec<f64> = list
        .iter()
        .flat_map(|s| s.series.points.iter().map(|p| p.value))
        .collect();
    if let Some(f) = &forecast {
        values.extend(f.series.points.iter().map(|p| p.value));
    }
    let (lo, hi) = scale(&values, min_range);
    let decimals = decimals.unwrap_or(if hi - lo >= 10.0 { 0 } else { 1 });
    let font = (h / 7.0).clamp(14.0, 18.0);
    let unit = list[0].series.unit.clone().unwrap_or_default();
    let top = format!("{} {unit}", number(hi, decimals))
        .trim()
        .to_string();
    let bottom = number(lo, decimals);
    let label_w = measure
        .width(&top, font, false)
        .max(measure.width(&bottom, font, false));
    let t0 = list.iter().map(|s| s.series.from).min().unwrap_or(0);
    let t1 = list
        .iter()
        .map(|s| s.series.to)
        .chain(forecast.iter().map(|f| f.series.to))
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
    let ink = accent(state);
    let mut svg = format!(r#"<g class="chart" font-size="{font:.0}" fill="black">"#);
    frame(&mut svg, &plot, &top, &bottom, font);
    time_axis(&mut svg, &plot, measure, font, zone(state));
    if values.is_empty() {
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">no data yet</text>"#,
            plot.x + plot.w / 2.0,
            plot.y + plot.h / 2.0 + font / 3.0
        );
    }
    for (i, s) in list.iter().enumerate() {
        let d = plot.path(&runs(&s.series, plot.w));
        line(&mut svg, &d, DASHES[i], 3.0, "black");
    }
    if let Some(f) = &forecast {
        let mut first = runs(&f.series, plot.w);
        if let (Some(last), Some(run)) = (list[0].series.points.last(), first.first_mut()) {
            run.insert(0, *last);
        }
        line(&mut svg, &plot.path(&first), FORECAST_DASH, 2.5, &ink);
    }
    if let Some(summary) = &list[0].summary {
        extremes(&mut svg, &plot, summary.min, summary.max, decimals, font);
    }
    if show_now.unwrap_or(true) {
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

fn line(svg: &mut String, d: &str, dash: &str, width: f64, ink: &str) {
    if d.is_empty() {
        return;
    }
    let _ = write!(
        svg,
        r#"<path d="{d}" fill="none" stroke="{ink}" stroke-width="{width}" stroke-dasharray="{dash}" stroke-linecap="round" stroke-linejoin="round"/>"#
    );
}

fn frame(svg: &mut String, plot: &Plot, top: &str, bottom: &str, font: f64) {
    let (x0, y1) = (plot.x, plot.y + plot.h);
    let _ = write!(
        svg,
        r#"<path d="M{x0:.1},{:.1} V{y1:.1} H{:.1}" fill="none" stroke="black" stroke-width="1"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text><text x="{:.1}" y="{y1:.1}" text-anchor="end">{}</text>"#,
        plot.y,
        plot.x + plot.w,
        x0 - 4.0,
        plot.y + font * 0.7,
        escape(top),
        x0 - 4.0,
        escape(bottom),
    );
}

/// Ticks at whole local hours, as many as fit their labels, at most six.
fn time_axis(
    svg: &mut String,
    plot: &Plot,
    measure: &SharedMeasure,
    font: f64,
    tz: Option<chrono_tz::Tz>,
) {
    let tz = tz.unwrap_or(chrono_tz::UTC);
    let span = plot.t1 - plot.t0;
    let label_w = measure.width("00:00", font, false) + 10.0;
    let fits = |step: i64| {
        let n = span as f64 / (step * 3600) as f64;
        n <= 6.0 && plot.w / n.max(1.0) >= label_w
    };
    let Some(step) = [1, 2, 3, 6, 12, 24, 48].into_iter().find(|s| fits(*s)) else {
        return;
    };
    let Some(start) = DateTime::from_timestamp(plot.t0, 0) else {
        return;
    };
    let local = start.with_timezone(&tz);
    let mut hour = local
        .date_naive()
        .and_hms_opt(local.hour(), 0, 0)
        .unwrap_or_default();
    let baseline = plot.y + plot.h;
    for _ in 0..64 {
        hour += chrono::Duration::hours(1);
        let Some(at) = tz.from_local_datetime(&hour).earliest() else {
            continue;
        };
        let t = at.timestamp();
        if t > plot.t1 {
            break;
        }
        if i64::from(hour.hour()) % step.min(24) != 0 {
            continue;
        }
        let (x, _) = plot.at(Point::new(t, plot.lo));
        let label = if step >= 24 {
            at.format("%a").to_string()
        } else {
            at.format("%H:%M").to_string()
        };
        let _ = write!(
            svg,
            r#"<path d="M{x:.1},{baseline:.1} v5" stroke="black" stroke-width="1"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{label}</text>"#,
            baseline + font + 4.0
        );
    }
}

fn extremes(svg: &mut String, plot: &Plot, min: Point, max: Point, decimals: usize, font: f64) {
    let (ax, ay) = plot.at(max);
    let (ix, iy) = plot.at(min);
    let _ = write!(
        svg,
        r#"<circle cx="{ax:.1}" cy="{ay:.1}" r="4.5"/><text x="{ax:.1}" y="{:.1}" text-anchor="middle" font-weight="bold">{}</text>"#,
        (ay - 8.0).max(plot.y + font * 0.8),
        number(max.value, decimals)
    );
    if min.at != max.at {
        let _ = write!(
            svg,
            r#"<circle cx="{ix:.1}" cy="{iy:.1}" r="4" fill="white" stroke="black" stroke-width="2"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            // Beside the point, where the line is not: a minimum has
            // higher values on both sides.
            (ix + 8.0).min(plot.x + plot.w - font * 2.0),
            (iy + font * 0.35).min(plot.y + plot.h - 3.0),
            number(min.value, decimals)
        );
    }
}

fn now_line(svg: &mut String, plot: &Plot, now: i64, ink: &str, font: f64) {
    if now <= plot.t0 || now >= plot.t1 {
        return;
    }
    let (x, _) = plot.at(Point::new(now, plot.lo));
    let _ = write!(
        svg,
        r#"<path d="M{x:.1},{:.1} V{:.1}" stroke="{ink}" stroke-width="1.5" stroke-dasharray="3 3"/><text x="{:.1}" y="{:.1}" font-size="{:.0}" fill="{ink}">now</text>"#,
        plot.y,
        plot.y + plot.h,
        x + 3.0,
        plot.y + font * 0.7,
        font * 0.85
    );
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

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Places `t` as a time for tests.
#[cfg(test)]
pub(crate) fn at(t: &str) -> i64 {
    DateTime::parse_from_rfc3339(t)
        .map(|t| t.timestamp())
        .unwrap_or_default()
}

#[cfg(test)]
#[path = "chart_tests.rs"]
mod tests;
