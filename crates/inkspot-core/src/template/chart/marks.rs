//! What a chart draws besides its lines' paths: the frame and the value
//! labels, the time axis, the extremes, the "now" line.

use std::fmt::Write;

use chrono::{DateTime, Datelike, TimeZone, Timelike};

use super::SharedMeasure;
use super::plot::Plot;
use crate::history::Point;

pub(super) fn line(svg: &mut String, d: &str, dash: &str, width: f64, ink: &str) {
    if d.is_empty() {
        return;
    }
    let _ = write!(
        svg,
        r#"<path d="{d}" fill="none" stroke="{ink}" stroke-width="{width}" stroke-dasharray="{dash}" stroke-linecap="round" stroke-linejoin="round"/>"#
    );
}

pub(super) fn frame(svg: &mut String, plot: &Plot, top: &str, bottom: &str, font: f64) {
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
pub(super) fn time_axis(
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
    let Some(step) = [1, 2, 3, 6, 12, 24, 48, 72, 168]
        .into_iter()
        .find(|s| fits(*s))
    else {
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
    // Every hour of the span (at most the 240-hour forecast and the
    // 72-hour history, and a few to spare), each a tick or not.
    for _ in 0..(span / 3600 + 2).min(400) {
        hour += chrono::Duration::hours(1);
        let Some(at) = tz.from_local_datetime(&hour).earliest() else {
            continue;
        };
        let t = at.timestamp();
        if t > plot.t1 {
            break;
        }
        let tick = if step < 24 {
            i64::from(hour.hour()) % step == 0
        } else {
            // Local midnights, every `step / 24` days.
            hour.hour() == 0 && i64::from(hour.date().num_days_from_ce()) % (step / 24) == 0
        };
        if !tick {
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

pub(super) fn extremes(
    svg: &mut String,
    plot: &Plot,
    min: Point,
    max: Point,
    decimals: usize,
    font: f64,
) {
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

pub(super) fn now_line(svg: &mut String, plot: &Plot, now: i64, ink: &str, font: f64) {
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

pub(super) fn number(v: f64, decimals: usize) -> String {
    format!("{v:.decimals$}")
}

pub(super) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
