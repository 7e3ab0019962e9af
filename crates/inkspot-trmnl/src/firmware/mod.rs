//! Firmware updates served by inkspot itself, without loops: the images
//! of `trmnl.firmware_dir` ([`catalog`]), when a device is offered one and
//! what its next call says of the offer ([`policy`]), and where each device
//! stands ([`state`]). [`Firmware`] ties them together for a display call
//! and counts what happened.

pub mod catalog;
pub mod latest;
pub mod policy;
mod state;

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, NaiveTime, Utc};

pub use catalog::{Catalog, CatalogError, Image};
pub use policy::{Policy, Refusal, Sent, Verdict};
pub use state::{UpdateState, Updates};

use crate::Device;

/// The firmware images and what was done with them since start.
#[derive(Debug, Default)]
pub struct Firmware {
    /// The images: the folder's, and the published latest once fetched.
    catalog: arc_swap::ArcSwap<Catalog>,
    offered: AtomicU64,
    downloaded: AtomicU64,
    updated: AtomicU64,
    failed: AtomicU64,
}

/// What [`Firmware`] counted since start, as the metrics show it.
pub use inkspot_engine::metrics::FirmwareCounts as Counts;

/// One display call, as the update decision needs it.
pub struct Call<'a> {
    /// The device, as its row was read.
    pub device: &'a Device,
    /// What it sent.
    pub sent: Sent<'a>,
    /// What the operator set for it.
    pub policy: Policy,
    /// The time of the call, and the device's local time then.
    pub now: (DateTime<Utc>, NaiveTime),
}

impl Firmware {
    /// Over the images of `catalog`.
    pub fn new(catalog: Catalog) -> Self {
        Self {
            catalog: arc_swap::ArcSwap::from_pointee(catalog),
            ..Self::default()
        }
    }

    /// The images now.
    pub fn catalog(&self) -> std::sync::Arc<Catalog> {
        self.catalog.load_full()
    }

    /// Adds `image` (the published latest, fetched and checked), in place
    /// of one with its file name; `false` when it was there already.
    pub fn add(&self, image: Image) -> bool {
        let now = self.catalog.load_full();
        if now
            .get(&image.file)
            .is_some_and(|i| i.sha256 == image.sha256)
        {
            return false;
        }
        self.catalog.store(std::sync::Arc::new(now.with(image)));
        true
    }

    /// What was counted since start.
    pub fn counts(&self) -> Counts {
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Counts {
            offered: n(&self.offered),
            downloaded: n(&self.downloaded),
            updated: n(&self.updated),
            failed: n(&self.failed),
        }
    }

    /// Counts one image served.
    pub fn count_download(&self) {
        self.downloaded.fetch_add(1, Ordering::Relaxed);
    }

    /// Judges the device's pending offer by this call and records the
    /// verdict; then the image to offer, recorded as offered, or `None`.
    /// A device whose offers cannot be recorded is offered nothing: an
    /// offer that is not remembered cannot be judged. Each write holds only
    /// if the row is as this call read it, so two calls at once never both
    /// judge or both offer.
    pub async fn on_call(&self, updates: &Updates, call: &Call<'_>) -> Option<Image> {
        let device = call.device;
        let state = &device.firmware_update;
        let verdict = policy::judge(state, &call.sent);
        if let (Some(verdict), Some(offered)) = (&verdict, state.offered.as_deref()) {
            let attempts = call.policy.attempts;
            if !self
                .record(updates, device, offered, verdict, attempts)
                .await
            {
                return None;
            }
        }
        let judged = verdict.is_some();
        let catalog = self.catalog.load_full();
        let image = policy::offer(&catalog, &call.policy, state, &call.sent, judged, call.now);
        let image = match image {
            Ok(image) => image,
            Err(why) => {
                tracing::debug!(mac = %device.mac, ?why, "no firmware update offered");
                return None;
            }
        };
        let version = image.version.to_string();
        // A lapsed offer is replaced; a judged one is gone from the row.
        let pending = state.offered.as_deref().filter(|_| !judged);
        match updates
            .offered(&device.mac, &version, call.now.0, pending)
            .await
        {
            Ok(true) => {}
            Ok(false) => return None,
            Err(e) => {
                tracing::warn!(error = %e, "cannot record a firmware offer; none is made");
                return None;
            }
        }
        self.offered.fetch_add(1, Ordering::Relaxed);
        let from = call.sent.version.unwrap_or("?");
        tracing::info!(mac = %device.mac, friendly_id = %device.friendly_id, %from, to = %version, file = %image.file, "firmware update offered");
        Some(image.clone())
    }

    /// Records the verdict on the offer of `offered` and tells of it;
    /// `false` when it could not be recorded, or another call did first.
    async fn record(
        &self,
        updates: &Updates,
        device: &Device,
        offered: &str,
        verdict: &Verdict,
        attempts: u32,
    ) -> bool {
        let mac = &device.mac;
        let failed = match verdict {
            Verdict::Updated { .. } => None,
            Verdict::Failed {
                version, failures, ..
            } => Some((version.as_str(), *failures)),
        };
        match updates.judged(mac, offered, failed).await {
            Ok(true) => {}
            Ok(false) => return false,
            Err(e) => {
                tracing::warn!(error = %e, "cannot record a firmware update's verdict");
                return false;
            }
        }
        self.tell(device, verdict, attempts);
        true
    }

    /// Counts and logs a recorded verdict.
    fn tell(&self, device: &Device, verdict: &Verdict, attempts: u32) {
        let (mac, id) = (&device.mac, &device.friendly_id);
        match verdict {
            Verdict::Updated { version } => {
                self.updated.fetch_add(1, Ordering::Relaxed);
                tracing::info!(%mac, friendly_id = %id, %version, "firmware updated");
            }
            Verdict::Failed {
                version,
                failures,
                downloaded,
            } => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let how = if *downloaded {
                    "downloaded it but still runs its old version"
                } else {
                    "did not download it (its firmware ignored the offer)"
                };
                if *failures >= i64::from(attempts) {
                    tracing::warn!(%mac, friendly_id = %id, %version, failures, "a firmware update failed: the device {how}; this version is held from it until `inkspot devices clear-firmware {id}`");
                } else {
                    tracing::warn!(%mac, friendly_id = %id, %version, failures, "a firmware update failed: the device {how}; it is offered again after a day");
                }
            }
        }
    }
}
