//! The devices as `/status` shows them, and the firmware images they are
//! offered.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::OVERDUE_AFTER;
use crate::app::App;
use crate::devices::firmware::{Counts, UpdateState};

/// One device.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceHealth {
    /// The six characters on its setup screen.
    pub friendly_id: String,
    /// Its name in `[[devices]]`.
    pub name: Option<String>,
    /// Its MAC address.
    pub mac: String,
    /// Its model and firmware, as last sent.
    pub model: Option<String>,
    /// Its firmware version.
    pub firmware: Option<String>,
    /// Its last display call.
    pub last_seen_at: Option<DateTime<Utc>>,
    /// When it was told to call again.
    pub expected_at: Option<DateTime<Utc>>,
    /// Whether it is more than [`OVERDUE_AFTER`] past that.
    pub overdue: bool,
    /// Battery volts and percent, and Wi-Fi signal.
    pub battery_voltage: Option<f64>,
    /// Battery percent, by TRMNL's curve.
    pub battery_percent: Option<i64>,
    /// Wi-Fi signal, dBm.
    pub rssi: Option<i64>,
    /// The bytes of its last image, and its panel's limit.
    pub image_bytes: Option<i64>,
    /// The limit.
    pub image_cap: Option<i64>,
    /// Whether that image was over the limit (the panel throws it away).
    pub over_cap: bool,
    /// Why its last display call could show none of its playlist items.
    pub trouble: Option<String>,
    /// Its firmware updates: an offer awaiting its verdict, failures.
    #[serde(default)]
    pub firmware_update: UpdateState,
    /// The firmware version held from it after `trmnl.update_attempts`
    /// failed offers, until `inkspot devices clear-firmware`.
    #[serde(default)]
    pub firmware_held: Option<String>,
    /// Until when it is paused.
    #[serde(default)]
    pub paused_until: Option<DateTime<Utc>>,
    /// The latest reading of each of its own sensors, by kind.
    #[serde(default)]
    pub sensors: BTreeMap<String, SensorReading>,
}

/// A sensor's latest reading.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SensorReading {
    /// Its value.
    pub value: f64,
    /// Its unit, as the device sent it.
    pub unit: Option<String>,
    /// When it was read.
    pub at: Option<DateTime<Utc>>,
}

/// The latest reading of each sensor of `friendly_id` this replica holds
/// (its readings since start, or since `/api/devices/{id}` read them), when
/// the history is kept: a status page does not wait on the database.
fn sensors(app: &App, friendly_id: &str) -> BTreeMap<String, SensorReading> {
    let Some(recent) = app
        .history
        .as_ref()
        .and_then(|k| k.peek_device(friendly_id))
    else {
        return BTreeMap::new();
    };
    recent
        .observed
        .iter()
        .filter_map(|(kind, points)| {
            let last = points.last()?;
            let reading = SensorReading {
                value: last.value,
                unit: recent.units.get(kind).cloned(),
                at: DateTime::from_timestamp(last.at, 0),
            };
            Some((kind.clone(), reading))
        })
        .collect()
}

impl DeviceHealth {
    /// What an operator is told of a firmware version held from it.
    pub fn held_message(&self) -> Option<String> {
        let version = self.firmware_held.as_ref()?;
        let failures = self.firmware_update.failures;
        Some(format!(
            "firmware {version} failed {failures} times and is no longer offered; `inkspot devices clear-firmware {}` offers it again",
            self.friendly_id
        ))
    }
}

/// The firmware images of `trmnl.firmware_dir` and what was done with
/// them since start.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FirmwareStatus {
    /// Each image.
    pub images: Vec<FirmwareImage>,
    /// Offers, downloads, updates and failures since start.
    pub counts: Counts,
}

/// One firmware image.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FirmwareImage {
    /// Its file, served at `/firmware/<file>`.
    pub file: String,
    /// The version it installs.
    pub version: String,
    /// The `Model` values it is built for.
    pub models: Vec<String>,
    /// Its size.
    pub bytes: usize,
    /// Its SHA-256.
    pub sha256: String,
}

/// The firmware `app` serves, when it serves any.
pub(super) fn firmware(app: &App) -> Option<FirmwareStatus> {
    let firmware = app.firmware.as_ref()?;
    let images = firmware
        .catalog()
        .images()
        .iter()
        .map(|i| FirmwareImage {
            file: i.file.clone(),
            version: i.version.to_string(),
            models: i.models.clone(),
            bytes: i.bytes.len(),
            sha256: i.sha256.clone(),
        })
        .collect();
    Some(FirmwareStatus {
        images,
        counts: firmware.counts(),
    })
}

pub(super) async fn devices(app: &App, now: DateTime<Utc>) -> Vec<DeviceHealth> {
    let Some(registry) = &app.devices else {
        return Vec::new();
    };
    let list = registry.list().await.unwrap_or_default();
    let mut out = Vec::with_capacity(list.len());
    for d in list {
        let sensors = sensors(app, &d.friendly_id);
        out.push(health(app, d, sensors, now));
    }
    out
}

/// One device as `/status` shows it.
fn health(
    app: &App,
    d: crate::devices::Device,
    sensors: BTreeMap<String, SensorReading>,
    now: DateTime<Utc>,
) -> DeviceHealth {
    let configured = app.config().devices.list();
    let attempts = app.config().trmnl.update_attempts;
    let overdue = d.expected_at.is_some_and(|t| now > t + OVERDUE_AFTER);
    let over_cap = matches!((d.image_bytes, d.image_cap), (Some(b), Some(c)) if b > c);
    DeviceHealth {
        name: configured
            .iter()
            .find(|c| c.mac == d.mac)
            .and_then(|c| c.name.clone()),
        friendly_id: d.friendly_id,
        mac: d.mac,
        model: d.model,
        firmware: d.firmware,
        last_seen_at: d.last_seen_at,
        expected_at: d.expected_at,
        overdue,
        battery_voltage: d.battery_voltage,
        battery_percent: d.battery_percent,
        rssi: d.rssi,
        image_bytes: d.image_bytes,
        image_cap: d.image_cap,
        over_cap,
        trouble: d.trouble,
        firmware_held: d.firmware_update.held(attempts).map(str::to_string),
        firmware_update: d.firmware_update,
        paused_until: d.paused_until.filter(|p| *p > now),
        sensors,
    }
}
