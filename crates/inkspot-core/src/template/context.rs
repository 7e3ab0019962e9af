//! What a template sees: the spot, its data and errors, the time, and on
//! an animation frame which frame; the layers drawn and a colour panel's
//! inks.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Layer;
use crate::config::Spot;
use crate::source::{FieldError, SpotData};

/// What a template sees.
#[derive(Debug, Clone, Serialize)]
pub struct Context {
    /// `spot.name`, `spot.slug`, `spot.width`, `spot.height` and the spot's extra keys.
    pub spot: BTreeMap<String, serde_json::Value>,
    /// `data.<source>.<field>`.
    pub data: BTreeMap<String, BTreeMap<String, serde_json::Value>>,
    /// What failed: `source`, `field` (or none for the whole source), `reason`.
    pub errors: Vec<FieldError>,
    /// The render time, RFC 3339 in UTC; format it with `datetimeformat`.
    pub now: String,
    /// Same as `now`: when this image was drawn.
    pub rendered_at: String,
    /// Set on the error image: why there is no picture.
    pub reason: Option<String>,
    /// Set on the error image: what kind of trouble it is, in a few
    /// words ("No data right now", "This picture could not be drawn").
    pub headline: Option<String>,
    /// Set on an animation frame: which it is and the time it stands for.
    /// Helpers that pick a value for "now" pick it for `frame.at`.
    pub frame: Option<Frame>,
    /// `layers.<name>`: whether each layer the template declares is drawn.
    pub layers: BTreeMap<String, bool>,
    /// The titles of the drawn layers, in declared order, for a header.
    pub shown_layers: Vec<String>,
    /// The inks of a colour panel by name (`red` → `#ff0000`), empty for
    /// black and white or gray: `inks.red or "#000"` draws red where there
    /// is red and black elsewhere.
    pub inks: BTreeMap<String, String>,
    /// The spot's recent values, for `history()` and `forecast()`.
    #[serde(skip)]
    pub recent: Option<std::sync::Arc<crate::history::Recent>>,
    /// `device`: the latest readings of the TRMNL the spot's `sensors_of`
    /// names (empty without one).
    pub device: DeviceReadings,
}

/// The latest sensor readings of a TRMNL, as a template sees them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DeviceReadings {
    /// Its friendly id.
    pub friendly_id: Option<String>,
    /// `device.sensors.temperature`: the newest value of each kind.
    pub sensors: BTreeMap<String, f64>,
    /// `device.units.temperature`: each kind's unit, as it sent it.
    pub units: BTreeMap<String, String>,
    /// When the newest of them was read, RFC 3339 in UTC.
    pub read_at: Option<String>,
}

impl DeviceReadings {
    /// The readings of device `id` among `recent`'s fields.
    fn of(id: &str, recent: &crate::history::Recent) -> Self {
        let prefix = crate::history::device_prefix(id);
        let mut out = Self {
            friendly_id: Some(id.to_string()),
            ..Self::default()
        };
        let mut newest = None;
        for (field, points) in &recent.observed {
            let (Some(kind), Some(last)) = (field.strip_prefix(&prefix), points.last()) else {
                continue;
            };
            out.sensors.insert(kind.to_string(), last.value);
            if let Some(unit) = recent.units.get(field) {
                out.units.insert(kind.to_string(), unit.clone());
            }
            newest = newest.max(Some(last.at));
        }
        out.read_at = newest
            .and_then(|at| DateTime::from_timestamp(at, 0))
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        out
    }
}

/// One frame of an animation, as a template sees it.
#[derive(Debug, Clone, Serialize)]
pub struct Frame {
    /// Its position, from 0.
    pub index: usize,
    /// How many frames there are.
    pub count: usize,
    /// The time it stands for, RFC 3339 in UTC.
    pub at: String,
    /// Hours from `now` to `at`.
    pub hours: i64,
}

impl Context {
    /// The context for `spot` drawn at `width`×`height` with `data`.
    pub fn new(
        spot: &Spot,
        width: u32,
        height: u32,
        data: Option<&SpotData>,
        now: DateTime<Utc>,
    ) -> Self {
        let mut map = BTreeMap::new();
        for (k, v) in &spot.extra {
            if let Ok(v) = serde_json::to_value(v) {
                map.insert(k.clone(), v);
            }
        }
        map.insert("name".into(), spot.name.clone().into());
        map.insert("slug".into(), spot.slug().into());
        if let Some(tz) = spot.timezone {
            map.insert("timezone".into(), tz.name().into());
        }
        map.insert("width".into(), width.into());
        map.insert("height".into(), height.into());
        let stamp = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        Self {
            spot: map,
            data: data_or_nulls(spot, data),
            errors: data.map(|d| d.errors.clone()).unwrap_or_default(),
            now: stamp.clone(),
            rendered_at: stamp,
            reason: None,
            headline: None,
            frame: None,
            layers: BTreeMap::new(),
            shown_layers: Vec::new(),
            inks: BTreeMap::new(),
            recent: data.and_then(|d| d.recent.clone()),
            device: match (&spot.sensors_of, data.and_then(|d| d.recent.as_deref())) {
                (Some(id), Some(recent)) => DeviceReadings::of(id, recent),
                (Some(id), None) => DeviceReadings {
                    friendly_id: Some(id.clone()),
                    ..DeviceReadings::default()
                },
                _ => DeviceReadings::default(),
            },
        }
    }

    /// Draws the `picked` layers of those `declared` (all of them when
    /// `picked` is `None`).
    pub fn with_layers(mut self, declared: &[Layer], picked: Option<&[String]>) -> Self {
        for layer in declared {
            let on = picked.is_none_or(|p| p.contains(&layer.name));
            self.layers.insert(layer.name.clone(), on);
            if on {
                self.shown_layers.push(layer.title.clone());
            }
        }
        self
    }

    /// Gives the template a colour panel's inks by name (none for black
    /// and white or gray).
    pub fn with_inks(mut self, palette: Option<crate::config::Palette>) -> Self {
        if let Some(palette) = palette {
            self.inks = crate::render::palette::inks(palette)
                .iter()
                .map(|ink| {
                    let [r, g, b] = ink.written;
                    (ink.name.to_string(), format!("#{r:02x}{g:02x}{b:02x}"))
                })
                .collect();
        }
        self
    }

    /// Makes this the context of `frame`.
    pub fn with_frame(mut self, frame: Frame) -> Self {
        self.frame = Some(frame);
        self
    }
}

/// Every configured `data.<source>.<field>`, `null` where `data` has no
/// value, so a template never meets an undefined source.
fn data_or_nulls(
    spot: &Spot,
    data: Option<&SpotData>,
) -> BTreeMap<String, BTreeMap<String, serde_json::Value>> {
    let mut out = BTreeMap::new();
    for source in &spot.sources {
        let fields = source
            .fields
            .keys()
            .map(|f| {
                let value = data
                    .and_then(|d| d.values.get(&source.id))
                    .and_then(|v| v.get(f))
                    .cloned()
                    .unwrap_or(serde_json::Value::Null);
                (f.clone(), value)
            })
            .collect();
        out.insert(source.id.clone(), fields);
    }
    out
}
