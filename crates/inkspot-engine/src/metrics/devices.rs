//! The devices' metrics: each device's last call, battery, signal and
//! failed firmware updates, read from the registry when `/metrics` is
//! scraped; and the firmware images' offers, downloads and verdicts, which
//! the firmware service counts in its own atomics.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use super::{FloatGauge, MAX_DEVICE_SERIES, labels};

/// One device's gauges.
#[derive(Debug, Default, Clone, Copy)]
pub struct DeviceGauges {
    /// Its last display call, unix seconds.
    pub last_seen: Option<i64>,
    /// Battery voltage.
    pub volts: Option<f64>,
    /// Battery percentage.
    pub percent: Option<i64>,
    /// Wi-Fi signal, dBm.
    pub rssi: Option<i64>,
    /// Offers of its pending firmware version it failed.
    pub firmware_failures: i64,
    /// Whether that version is held from it.
    pub firmware_held: bool,
}

/// What the firmware service counted since start.
#[derive(Debug, Default, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct FirmwareCounts {
    /// Offers made.
    pub offered: u64,
    /// Images served.
    pub downloaded: u64,
    /// Devices that came back on the version offered.
    pub updated: u64,
    /// Devices that came back on their old version.
    pub failed: u64,
}

#[derive(Debug, Default)]
pub(super) struct DeviceMetrics {
    seen: Family<labels::Device, Gauge>,
    volts: Family<labels::Device, FloatGauge>,
    percent: Family<labels::Device, Gauge>,
    rssi: Family<labels::Device, Gauge>,
    firmware_failures: Family<labels::Device, Gauge>,
    firmware_held: Family<labels::Device, Gauge>,
    firmware: Family<labels::FirmwareEvent, Counter>,
    wakes: Family<labels::Wake, Counter>,
}

impl DeviceMetrics {
    pub(super) fn register(&self, r: &mut Registry) {
        r.register(
            "device_last_seen_timestamp_seconds",
            "A device's last display call, unix time",
            self.seen.clone(),
        );
        r.register_with_unit(
            "device_battery",
            "A device's battery voltage",
            Unit::Volts,
            self.volts.clone(),
        );
        r.register(
            "device_battery_percent",
            "A device's battery, percent",
            self.percent.clone(),
        );
        r.register(
            "device_rssi_dbm",
            "A device's Wi-Fi signal",
            self.rssi.clone(),
        );
        r.register(
            "device_firmware_failures",
            "Offers of a firmware version a device came back from still on its old one",
            self.firmware_failures.clone(),
        );
        r.register(
            "device_firmware_held",
            "Whether a firmware version is held from a device after failed updates (1), until an operator clears it",
            self.firmware_held.clone(),
        );
        r.register(
            "device_wakes",
            "Display calls of devices, by why they woke (Update-Source)",
            self.wakes.clone(),
        );
        r.register(
            "firmware_events",
            "Firmware updates offered, images downloaded, and devices that came back updated or failed",
            self.firmware.clone(),
        );
    }

    pub(super) fn wake(&self, reason: &'static str) {
        self.wakes.get_or_create(&labels::Wake { reason }).inc();
    }

    pub(super) fn set(
        &self,
        devices: &[(labels::Device, DeviceGauges)],
        firmware: &Option<FirmwareCounts>,
    ) {
        self.seen.clear();
        self.volts.clear();
        self.percent.clear();
        self.rssi.clear();
        self.firmware_failures.clear();
        self.firmware_held.clear();
        for (labels, g) in devices.iter().take(MAX_DEVICE_SERIES) {
            if let Some(v) = g.last_seen {
                self.seen.get_or_create(labels).set(v);
            }
            if let Some(v) = g.volts {
                self.volts.get_or_create(labels).set(v);
            }
            if let Some(v) = g.percent {
                self.percent.get_or_create(labels).set(v);
            }
            if let Some(v) = g.rssi {
                self.rssi.get_or_create(labels).set(v);
            }
            if firmware.is_some() {
                self.firmware_failures
                    .get_or_create(labels)
                    .set(g.firmware_failures);
                self.firmware_held
                    .get_or_create(labels)
                    .set(i64::from(g.firmware_held));
            }
        }
        let Some(counts) = firmware else {
            return;
        };
        // The service's counts only grow: add what is new since the last read.
        for (event, now) in [
            ("offered", counts.offered),
            ("downloaded", counts.downloaded),
            ("updated", counts.updated),
            ("failed", counts.failed),
        ] {
            let counter = self
                .firmware
                .get_or_create(&labels::FirmwareEvent { event });
            counter.inc_by(now.saturating_sub(counter.get()));
        }
    }
}
