//! Where a chart's values land: the plot box with its time and value
//! ranges, and the value range a chart shows.

use std::fmt::Write;

use crate::history::Point;

/// A box on the page and the time and value ranges it shows.
pub(super) struct Plot {
    pub(super) x: f64,
    pub(super) y: f64,
    pub(super) w: f64,
    pub(super) h: f64,
    pub(super) t0: i64,
    pub(super) t1: i64,
    pub(super) lo: f64,
    pub(super) hi: f64,
}

impl Plot {
    pub(super) fn at(&self, p: Point) -> (f64, f64) {
        let span = (self.t1 - self.t0).max(1) as f64;
        let x = self.x + (p.at - self.t0) as f64 / span * self.w;
        let y = self.y + self.h - (p.value - self.lo) / (self.hi - self.lo) * self.h;
        (x, y)
    }

    /// One `M ... L ...` per run of points without a gap.
    pub(super) fn path(&self, runs: &[Vec<Point>]) -> String {
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
