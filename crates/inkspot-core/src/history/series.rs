//! A field's values over a window: its points, where it has gaps, its
//! buckets and its statistics (extremes, mean, trend).

use chrono::{DateTime, Utc};
use serde::Serialize;

/// One value at a time, in Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    /// Unix seconds.
    pub at: i64,
    /// The value.
    pub value: f64,
}

impl Point {
    /// The value `value` at `at` (Unix seconds).
    pub fn new(at: i64, value: f64) -> Self {
        Self { at, value }
    }
}

/// Which way a series went over its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Trend {
    /// Up by more than the threshold.
    Rising,
    /// Down by more than the threshold.
    Falling,
    /// Within the threshold.
    Steady,
}

impl Trend {
    /// The word for it.
    pub fn word(self) -> &'static str {
        match self {
            Trend::Rising => "rising",
            Trend::Falling => "falling",
            Trend::Steady => "steady",
        }
    }
}

/// The statistics of a series with at least one point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// The smallest value and its time.
    pub min: Point,
    /// The largest value and its time.
    pub max: Point,
    /// The oldest point.
    pub first: Point,
    /// The newest point.
    pub last: Point,
    /// The mean of the values.
    pub mean: f64,
    /// How many values.
    pub count: usize,
    /// The mean of the newest fifth less that of the oldest fifth.
    pub change: f64,
    /// `change` against the threshold.
    pub trend: Trend,
}

/// A field's points over a window, oldest first, with the spacing past
/// which two neighbours have a gap between them.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// `source.field`.
    pub field: String,
    /// Its unit, where known.
    pub unit: Option<String>,
    /// The window's start, Unix seconds.
    pub from: i64,
    /// The window's end, Unix seconds.
    pub to: i64,
    /// The points inside the window, oldest first.
    pub points: Vec<Point>,
    /// Neighbours further apart than this have a gap between them.
    pub gap: i64,
}

impl Series {
    /// The points of `all` (sorted) inside `from..=to`.
    pub fn window(field: &str, unit: Option<&str>, all: &[Point], from: i64, to: i64) -> Self {
        let start = all.partition_point(|p| p.at < from);
        let end = all.partition_point(|p| p.at <= to);
        let points = all[start..end].to_vec();
        let gap = gap_of(&points);
        Self {
            field: field.to_string(),
            unit: unit.map(str::to_string),
            from,
            to,
            points,
            gap,
        }
    }

    /// The window's start and end as times.
    pub fn span(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        let at = |s| DateTime::from_timestamp(s, 0).unwrap_or_default();
        (at(self.from), at(self.to))
    }

    /// The same series in at most `count` buckets of equal time: each
    /// bucket's mean at its points' mean time. Empty buckets are left out,
    /// and stay gaps.
    pub fn bucketed(&self, count: usize) -> Series {
        let count = count.max(1);
        if self.points.len() <= count {
            return self.clone();
        }
        let width = ((self.to - self.from) as f64 / count as f64).max(1.0);
        let mut out: Vec<Point> = Vec::with_capacity(count);
        let mut bucket = (usize::MAX, 0.0, 0.0, 0usize);
        let flush = |b: &(usize, f64, f64, usize), out: &mut Vec<Point>| {
            if b.3 > 0 {
                let n = b.3 as f64;
                out.push(Point::new((b.1 / n).round() as i64, b.2 / n));
            }
        };
        for p in &self.points {
            let index = (((p.at - self.from) as f64 / width) as usize).min(count - 1);
            if index != bucket.0 {
                flush(&bucket, &mut out);
                bucket = (index, 0.0, 0.0, 0);
            }
            bucket.1 += p.at as f64;
            bucket.2 += p.value;
            bucket.3 += 1;
        }
        flush(&bucket, &mut out);
        Series {
            points: out,
            gap: self.gap.max((2.0 * width) as i64),
            ..self.clone()
        }
    }

    /// The runs of points with no gap inside, oldest first.
    pub fn runs(&self) -> Vec<&[Point]> {
        let mut runs = Vec::new();
        let mut start = 0;
        for i in 1..=self.points.len() {
            if i == self.points.len() || self.points[i].at - self.points[i - 1].at > self.gap {
                if i > start {
                    runs.push(&self.points[start..i]);
                }
                start = i;
            }
        }
        runs
    }

    /// The statistics, with `threshold` the change that counts as a trend
    /// (default: a tenth of the mean's size); `None` without points.
    pub fn summary(&self, threshold: Option<f64>) -> Option<Summary> {
        let (first, last) = (*self.points.first()?, *self.points.last()?);
        let mut min = first;
        let mut max = first;
        let mut sum = 0.0;
        for p in &self.points {
            if p.value < min.value {
                min = *p;
            }
            if p.value > max.value {
                max = *p;
            }
            sum += p.value;
        }
        let count = self.points.len();
        let mean = sum / count as f64;
        let fifth = count.div_ceil(5);
        let avg = |ps: &[Point]| ps.iter().map(|p| p.value).sum::<f64>() / ps.len() as f64;
        let change = avg(&self.points[count - fifth..]) - avg(&self.points[..fifth]);
        let threshold = threshold.unwrap_or(mean.abs() / 10.0).abs();
        let trend = if change > threshold && change.abs() > f64::EPSILON {
            Trend::Rising
        } else if change < -threshold && change.abs() > f64::EPSILON {
            Trend::Falling
        } else {
            Trend::Steady
        };
        Some(Summary {
            min,
            max,
            first,
            last,
            mean,
            count,
            change,
            trend,
        })
    }
}

/// Three times the median spacing of `points`: a reading or two missed
/// is still a line, a buoy down for hours is a gap.
fn gap_of(points: &[Point]) -> i64 {
    let mut steps: Vec<i64> = points.windows(2).map(|w| w[1].at - w[0].at).collect();
    if steps.is_empty() {
        return i64::MAX;
    }
    steps.sort_unstable();
    (steps[steps.len() / 2] * 3).max(1)
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    fn series(points: &[(i64, f64)]) -> Series {
        let all: Vec<Point> = points.iter().map(|&(t, v)| Point::new(t, v)).collect();
        Series::window("buoy.wvht", Some("m"), &all, 0, 10_000)
    }

    #[test]
    fn a_missed_hour_is_a_gap_and_one_missed_reading_is_not() {
        let s = series(&[
            (0, 1.0),
            (600, 1.1),
            (1200, 1.2),
            (2400, 1.3),
            (6000, 1.4),
            (6600, 1.5),
        ]);
        let runs: Vec<usize> = s.runs().iter().map(|r| r.len()).collect();
        assert_eq!(runs, vec![4, 2]);
    }

    #[test]
    fn the_window_keeps_only_its_points() {
        let all: Vec<Point> = (0..10).map(|i| Point::new(i * 100, i as f64)).collect();
        let s = Series::window("f", None, &all, 250, 650);
        let times: Vec<i64> = s.points.iter().map(|p| p.at).collect();
        assert_eq!(times, vec![300, 400, 500, 600]);
    }

    #[test]
    fn buckets_average_their_points_and_empty_ones_stay_gaps() {
        let mut points: Vec<(i64, f64)> = (0..50).map(|i| (i * 100, 2.0)).collect();
        points.extend((80..100).map(|i| (i * 100, 4.0)));
        let s = series(&points).bucketed(10);
        assert!(s.points.len() <= 10, "{} buckets", s.points.len());
        assert!(s.points.iter().all(|p| p.value == 2.0 || p.value == 4.0));
        assert_eq!(s.runs().len(), 2, "the empty stretch stays open");
    }

    #[rstest]
    #[case(&[1.0, 1.0, 1.2, 1.6, 2.0], None, Trend::Rising)]
    #[case(&[2.0, 1.9, 1.5, 1.2, 1.0], None, Trend::Falling)]
    #[case(&[2.0, 2.05, 1.98, 2.02, 2.04], None, Trend::Steady)]
    #[case(&[1.0, 1.0, 1.2, 1.6, 2.0], Some(1.5), Trend::Steady)]
    #[case(&[0.0, 0.0, 0.0], None, Trend::Steady)]
    fn the_trend_compares_the_ends_against_a_threshold(
        #[case] values: &[f64],
        #[case] threshold: Option<f64>,
        #[case] expected: Trend,
    ) {
        let points: Vec<(i64, f64)> = values
            .iter()
            .enumerate()
            .map(|(i, v)| (i as i64 * 600, *v))
            .collect();
        let summary = series(&points).summary(threshold).unwrap();
        assert_eq!(summary.trend, expected, "change {}", summary.change);
    }

    #[test]
    fn the_summary_has_the_extremes_and_their_times() {
        let s = series(&[(0, 1.5), (600, 0.5), (1200, 3.0), (1800, 2.0)]);
        let summary = s.summary(None).unwrap();
        assert_eq!(summary.min, Point::new(600, 0.5));
        assert_eq!(summary.max, Point::new(1200, 3.0));
        assert_eq!((summary.first.value, summary.last.value), (1.5, 2.0));
        assert_eq!(summary.mean, 1.75);
        assert_eq!(summary.count, 4);
        assert!(series(&[]).summary(None).is_none());
    }

    #[test]
    fn a_fetch_joins_the_recent_values_and_the_old_ones_go() {
        use chrono::TimeZone;
        let now = chrono::Utc.timestamp_opt(100 * 3600, 0).unwrap();
        let sample = |h: i64, value| super::super::Sample {
            field: "b.x".into(),
            at: chrono::Utc.timestamp_opt(h * 3600, 0).unwrap(),
            value,
        };
        let mut recent = super::super::Recent::default();
        let first = super::super::Batch {
            observed: vec![sample(10, 1.0), sample(50, 2.0), sample(60, 3.0)],
            ..Default::default()
        };
        recent.merge(&first, now);
        let second = super::super::Batch {
            observed: vec![sample(99, 5.0), sample(60, 4.0), sample(70, 6.0)],
            ..Default::default()
        };
        recent.merge(&second, now);
        let points: Vec<(i64, f64)> = recent.observed["b.x"]
            .iter()
            .map(|p| (p.at / 3600, p.value))
            .collect();
        // Hour 10 is past the 72-hour horizon; hour 60 takes the newer value.
        assert_eq!(points, vec![(50, 2.0), (60, 4.0), (70, 6.0), (99, 5.0)]);
    }
}
