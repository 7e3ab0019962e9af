//! Hourly rollups: the samples of each hour as min, max, sum, count and
//! the last value, so a year-long query reads one row an hour.

/// One hour of one field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hour {
    /// The hour's start, Unix seconds.
    pub hour: i64,
    /// The smallest value.
    pub lo: f64,
    /// The largest value.
    pub hi: f64,
    /// The sum of the values.
    pub total: f64,
    /// How many values.
    pub n: i64,
    /// The newest value.
    pub last_value: f64,
    /// Its time.
    pub last_at: i64,
}

impl Hour {
    /// The mean of its values.
    pub fn mean(&self) -> f64 {
        self.total / self.n.max(1) as f64
    }
}

/// The hours of `rows` (time, value), in order of time.
pub fn hours_of(rows: &[(i64, f64)]) -> Vec<Hour> {
    let mut sorted = rows.to_vec();
    sorted.sort_by_key(|r| r.0);
    let mut out: Vec<Hour> = Vec::new();
    for (at, value) in sorted {
        let hour = at.div_euclid(3600) * 3600;
        match out.last_mut() {
            Some(h) if h.hour == hour => {
                h.lo = h.lo.min(value);
                h.hi = h.hi.max(value);
                h.total += value;
                h.n += 1;
                h.last_value = value;
                h.last_at = at;
            }
            _ => out.push(Hour {
                hour,
                lo: value,
                hi: value,
                total: value,
                n: 1,
                last_value: value,
                last_at: at,
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_hour_holds_its_extremes_mean_count_and_last() {
        let rows = [
            (7200 + 1800, 3.0),
            (3600, 1.0),
            (3600 + 600, 2.5),
            (3600 + 3000, 0.5),
        ];
        let hours = hours_of(&rows);
        assert_eq!(hours.len(), 2);
        let h = hours[0];
        assert_eq!((h.hour, h.lo, h.hi, h.n), (3600, 0.5, 2.5, 3));
        assert!((h.mean() - 4.0 / 3.0).abs() < 1e-9);
        assert_eq!((h.last_value, h.last_at), (0.5, 3600 + 3000));
        assert_eq!((hours[1].hour, hours[1].n), (7200, 1));
    }
}
