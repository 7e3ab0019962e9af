//! The firmware devices are offered: the images of `trmnl.firmware_dir`,
//! checked at start, and TRMNL's published latest (`trmnl.firmware_latest`),
//! asked for every 6 hours by a task of the supervisor's and kept in the
//! cache folder.

use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::devices::firmware::{Catalog, Firmware, latest};
use crate::engine::StartError;
use crate::supervisor::Supervisor;

/// How often the published latest firmware is asked for.
const EVERY: Duration = Duration::from_secs(6 * 3600);

/// The images of `trmnl.firmware_dir`, each checked against its declared
/// SHA-256 (a folder that does not hold is refused, naming every problem),
/// with the published latest image kept from an earlier run; `None` with
/// neither a folder nor `trmnl.firmware_latest`.
pub fn load(config: &Config) -> Result<Option<Arc<Firmware>>, StartError> {
    let trmnl = &config.trmnl;
    if trmnl.firmware_dir.is_none() && trmnl.firmware_latest.is_none() {
        let asked = trmnl.firmware_updates
            || config
                .devices
                .list()
                .iter()
                .any(|d| d.firmware_updates == Some(true));
        if asked {
            tracing::warn!(
                "firmware updates are on, but neither trmnl.firmware_dir nor trmnl.firmware_latest is set: no device is offered one"
            );
        }
        return Ok(None);
    }
    let catalog = match &trmnl.firmware_dir {
        Some(dir) => {
            Catalog::load(&config.resolve(dir)).map_err(|e| StartError::Firmware(Box::new(e)))?
        }
        None => Catalog::default(),
    };
    for image in catalog.images() {
        tracing::info!(file = %image.file, version = %image.version, models = ?image.models, bytes = image.bytes.len(), "firmware image");
    }
    let firmware = Firmware::new(catalog);
    if trmnl.firmware_latest.is_some()
        && let Some(image) = latest::kept(&config.cache_dir())
    {
        tracing::info!(file = %image.file, version = %image.version, "the published firmware kept by an earlier run");
        firmware.add(image);
    }
    Ok(Some(Arc::new(firmware)))
}

/// Asks `trmnl.firmware_latest` now and every [`EVERY`] under
/// `supervisor`, adding a new image to `firmware` and keeping it.
pub fn spawn_latest(firmware: Arc<Firmware>, config: &Config, supervisor: &Supervisor) {
    let Some(source) = config.trmnl.firmware_latest.clone() else {
        return;
    };
    let models = config.trmnl.firmware_latest_models.clone();
    let dir = config.cache_dir();
    supervisor.spawn("firmware-latest", move |stop| async move {
        let client = reqwest::Client::builder()
            .timeout(latest::FETCH_TIMEOUT)
            .user_agent(concat!("inkspot/", env!("CARGO_PKG_VERSION")))
            .build();
        let Ok(client) = client else {
            tracing::error!("cannot build the HTTP client for trmnl.firmware_latest");
            return;
        };
        let mut failing = false;
        loop {
            let asked = tokio::select! {
                () = stop.cancelled() => break,
                asked = latest::fetch(&client, &source, &models) => asked,
            };
            failing = take(&firmware, &dir, asked, failing);
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(EVERY) => {}
            }
        }
    });
}

/// Adds and keeps a fetched image, or says why there is none (once until
/// it works again). Whether it is failing now.
fn take(
    firmware: &Firmware,
    dir: &std::path::Path,
    asked: Result<latest::Image, latest::LatestError>,
    failing: bool,
) -> bool {
    match asked {
        Ok(image) => {
            let (file, version) = (image.file.clone(), image.version.clone());
            if let Err(e) = latest::keep(dir, &image) {
                tracing::warn!(error = %e, "the published firmware is offered but not kept for the next start");
            }
            if firmware.add(image) {
                tracing::info!(%file, %version, "TRMNL's published firmware fetched and checked");
            }
            false
        }
        Err(e) => {
            if !failing {
                tracing::warn!(error = %e, "TRMNL's published firmware cannot be taken; asked again in 6 hours");
            }
            true
        }
    }
}
