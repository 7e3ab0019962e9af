//! History: the values each fetch extracts, kept over time. This module
//! holds the types and the series' statistics; templates read them with
//! `history()` and draw them with the charts (`template::history`,
//! `template::chart`); the database that keeps samples lives in
//! `inkspot-history`, which implements [`History`].
//!
//! A sample is one numeric value of one field (`buoy.wvht`) at the time it
//! stands for. Samples dated after the fetch are the spot's forecast, kept
//! apart and replaced by every newer forecast.

pub mod series;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::config::Spot;

pub use series::{Point, Series, Summary, Trend};

/// One value of one field at the time it stands for.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// `source.field`.
    pub field: String,
    /// The time the value stands for.
    pub at: DateTime<Utc>,
    /// The value.
    pub value: f64,
}

/// What one fetch of a spot gives the history.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// Values at or before the fetch.
    pub observed: Vec<Sample>,
    /// Values after the fetch: the forecast of each field in
    /// `forecast_fields`, replacing the one kept.
    pub forecast: Vec<Sample>,
    /// The fields whose forecast this fetch replaces.
    pub forecast_fields: Vec<String>,
    /// The latest value of each text field, with its time.
    pub texts: Vec<(String, DateTime<Utc>, String)>,
    /// Each numeric field's unit, where known.
    pub units: BTreeMap<String, String>,
}

impl Batch {
    /// Whether there is nothing to keep.
    pub fn is_empty(&self) -> bool {
        self.observed.is_empty() && self.forecast_fields.is_empty() && self.texts.is_empty()
    }

    /// Adds `other`'s contents to this batch.
    pub fn absorb(&mut self, other: Batch) {
        self.observed.extend(other.observed);
        self.forecast.extend(other.forecast);
        self.forecast_fields.extend(other.forecast_fields);
        self.texts.extend(other.texts);
        self.units.extend(other.units);
    }

    /// How many samples it holds.
    pub fn len(&self) -> usize {
        self.observed.len() + self.forecast.len()
    }
}

/// A spot's recent values, as its templates see them: each field's
/// observations and forecast in time order, and its unit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recent {
    /// Observations by field, oldest first.
    pub observed: BTreeMap<String, Vec<Point>>,
    /// The latest forecast by field, oldest first.
    pub forecast: BTreeMap<String, Vec<Point>>,
    /// Units by field.
    pub units: BTreeMap<String, String>,
}

/// How far back [`Recent`] reaches: what `history(hours=...)` may ask of a
/// template. Longer spans are read from `/api/history`.
pub const RECENT_HOURS: i64 = 72;

/// How far ahead [`Recent`] reaches.
pub const FORECAST_HOURS: i64 = 240;

impl Recent {
    /// Adds `batch` to these values, as of `now`: observations merged in
    /// time order, one per time (the batch's wins), forecasts replaced,
    /// observations older than [`RECENT_HOURS`] and forecasts beyond
    /// [`FORECAST_HOURS`] left out.
    pub fn merge(&mut self, batch: &Batch, now: DateTime<Utc>) {
        let horizon = (now - chrono::Duration::hours(RECENT_HOURS)).timestamp();
        let mut by_field: BTreeMap<&str, Vec<Point>> = BTreeMap::new();
        for s in batch
            .observed
            .iter()
            .filter(|s| s.at.timestamp() >= horizon)
        {
            by_field
                .entry(&s.field)
                .or_default()
                .push(Point::new(s.at.timestamp(), s.value));
        }
        for (field, points) in by_field {
            let kept = self.observed.remove(field).unwrap_or_default();
            self.observed.insert(field.to_string(), union(kept, points));
        }
        for points in self.observed.values_mut() {
            points.retain(|p| p.at >= horizon);
        }
        self.observed.retain(|_, points| !points.is_empty());
        let ahead = (now + chrono::Duration::hours(FORECAST_HOURS)).timestamp();
        for field in &batch.forecast_fields {
            let points: Vec<Point> = batch
                .forecast
                .iter()
                .filter(|s| &s.field == field && s.at.timestamp() <= ahead)
                .map(|s| Point::new(s.at.timestamp(), s.value))
                .collect();
            self.forecast
                .insert(field.clone(), union(Vec::new(), points));
        }
        self.units
            .extend(batch.units.iter().map(|(k, v)| (k.clone(), v.clone())));
    }

    /// Adds what `newer` holds to these values (read from the database
    /// before it): its observations joined with these, its forecasts and
    /// units in place of these.
    pub fn absorb(&mut self, newer: &Recent) {
        for (field, points) in &newer.observed {
            let kept = self.observed.remove(field).unwrap_or_default();
            self.observed
                .insert(field.clone(), union(kept, points.clone()));
        }
        for (field, points) in &newer.forecast {
            self.forecast.insert(field.clone(), points.clone());
        }
        self.units
            .extend(newer.units.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
}

/// The field prefix under which a device's readings join a spot's recent
/// values: `device:<friendly id>.`, as `history("device:abc123.temperature")`
/// names them.
pub fn device_prefix(friendly_id: &str) -> String {
    format!("{}.", device_key(friendly_id))
}

/// The key a TRMNL's own readings are kept under: `device:<friendly id>`,
/// lower case.
pub fn device_key(friendly_id: &str) -> String {
    format!("device:{}", friendly_id.to_ascii_lowercase())
}

impl Recent {
    /// About how many bytes these values hold in memory: each point, and
    /// each field's name and unit with a map entry's overhead.
    pub fn approx_bytes(&self) -> usize {
        let series = |m: &BTreeMap<String, Vec<Point>>| {
            m.iter()
                .map(|(k, v)| k.len() + 64 + v.len() * std::mem::size_of::<Point>())
                .sum::<usize>()
        };
        let units: usize = self.units.iter().map(|(k, v)| k.len() + v.len() + 64).sum();
        series(&self.observed) + series(&self.forecast) + units
    }

    /// These values with `device`'s readings added, each field under
    /// `prefix` (see [`device_prefix`]).
    pub fn with_device(&self, device: &Recent, prefix: &str) -> Recent {
        let mut out = self.clone();
        for (field, points) in &device.observed {
            out.observed
                .insert(format!("{prefix}{field}"), points.clone());
        }
        for (field, unit) in &device.units {
            out.units.insert(format!("{prefix}{field}"), unit.clone());
        }
        out
    }
}

/// `kept` and `added` in time order, one point per time (`added`'s wins):
/// a sort, not an insertion per point, since a fetch may bring thousands.
fn union(kept: Vec<Point>, added: Vec<Point>) -> Vec<Point> {
    let mut all: BTreeMap<i64, f64> = kept.into_iter().map(|p| (p.at, p.value)).collect();
    all.extend(added.into_iter().map(|p| (p.at, p.value)));
    all.into_iter()
        .map(|(at, value)| Point::new(at, value))
        .collect()
}

/// Where the history is kept: implemented over the database by
/// `inkspot-history`, and [`Unkept`] when it is off.
#[async_trait::async_trait]
pub trait History: Send + Sync {
    /// Keeps what one fetch of `spot` gave at `now`, and returns the spot's
    /// recent values with it. It never waits on the database's writes: the
    /// batch is queued, and dropped (and counted) when the queue is full.
    async fn keep(&self, spot: &Spot, batch: Batch, now: DateTime<Utc>) -> Arc<Recent>;

    /// The spot's recent values at `now`, with every batch kept so far.
    async fn recent(&self, spot: &Spot, now: DateTime<Utc>) -> Arc<Recent>;

    /// A TRMNL's own sensor readings at `now` (its `SENSORS` header), by
    /// its friendly id; none when no history is kept.
    async fn recent_device(&self, friendly_id: &str, now: DateTime<Utc>) -> Arc<Recent> {
        let _ = (friendly_id, now);
        Arc::new(Recent::default())
    }
}

/// No history: nothing kept, and templates see only what this fetch
/// gave.
pub struct Unkept;

#[async_trait::async_trait]
impl History for Unkept {
    async fn keep(&self, _: &Spot, batch: Batch, now: DateTime<Utc>) -> Arc<Recent> {
        let mut recent = Recent::default();
        recent.merge(&batch, now);
        Arc::new(recent)
    }

    async fn recent(&self, _: &Spot, _: DateTime<Utc>) -> Arc<Recent> {
        Arc::new(Recent::default())
    }
}
