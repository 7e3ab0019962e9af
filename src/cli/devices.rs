//! `inkspot devices pair|clear-firmware|pause|resume DEVICE`: what an operator does to
//! one device, through a running service's admin API when there is an
//! admin token, else in the database the service reads.
//!
//! - `pair` lets a device that is set up already fetch its key again from
//!   `/api/setup`, for `trmnl.pairing_window`.
//! - `clear-firmware` forgets its failed firmware updates, so the version
//!   held from it is offered again.
//! - `pause --until DATE` puts it to sleep until then (away mode);
//!   `resume` ends that at its next wake.

use std::path::Path;

use serde::Deserialize;

use super::CliError;

/// What is done to the device.
#[derive(Debug, Clone)]
pub enum DeviceAction {
    /// Open pairing.
    Pair,
    /// Forget failed firmware updates.
    ClearFirmware,
    /// Sleep until this date or time.
    Pause(String),
    /// End a pause.
    Resume,
}

impl DeviceAction {
    /// The admin API's path for `device`.
    fn path(&self, device: &str) -> String {
        let device = urlencode(device);
        match self {
            DeviceAction::Pair => format!("/api/devices/{device}/pair"),
            DeviceAction::ClearFirmware => format!("/api/devices/{device}/firmware/clear"),
            DeviceAction::Pause(until) => {
                format!("/api/devices/{device}/pause?until={}", urlencode(until))
            }
            DeviceAction::Resume => format!("/api/devices/{device}/resume"),
        }
    }
}

/// The admin API's answer, and the database path's.
#[derive(Deserialize)]
struct Done {
    mac: String,
    friendly_id: String,
    /// With `pair`.
    pair_until: Option<String>,
    /// With `pause`.
    paused_until: Option<String>,
}

/// Does `action` to `device` (a MAC or friendly id): through the admin
/// API of the service at `url` (default: the config's port) with the admin
/// `token` (default: the config's); with no admin token anywhere, in the
/// database the config names, which the service reads at the device's
/// next call.
pub async fn device_action(
    config_path: &Path,
    device: &str,
    action: DeviceAction,
    url: Option<&str>,
    token: Option<&str>,
) -> Result<(), CliError> {
    let config = super::load(config_path)?;
    let configured = config.server.admin_token.as_ref().map(|t| t.expose());
    let done = match token.or(configured) {
        Some(token) => {
            let url = super::endpoint(config_path, url, &action.path(device))?;
            through_api(&url, token).await?
        }
        None => in_database(&config, device, action.clone()).await?,
    };
    let (id, mac) = (&done.friendly_id, &done.mac);
    match &action {
        DeviceAction::Pair => println!(
            "{id} ({mac}) may fetch its key from /api/setup until {}; reset it, or let it restart, now",
            done.pair_until.unwrap_or_default()
        ),
        DeviceAction::ClearFirmware => println!(
            "{id} ({mac}): its failed firmware updates are forgotten; it is offered the newest image again"
        ),
        DeviceAction::Pause(_) => println!(
            "{id} ({mac}) is paused until {}: at its next wake it shows the sleep picture and sleeps until then",
            done.paused_until.unwrap_or_default()
        ),
        DeviceAction::Resume => {
            println!("{id} ({mac}) is no longer paused: it hears so at its next wake")
        }
    }
    Ok(())
}

/// Asks the admin API at `url`.
async fn through_api(url: &str, token: &str) -> Result<Done, CliError> {
    let failed = |reason: String| CliError::Health {
        url: url.to_string(),
        reason,
    };
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| failed(e.to_string()))?;
    let body = super::remote::answer(url, client.post(url).bearer_auth(token)).await?;
    serde_json::from_slice(&body).map_err(|e| failed(e.to_string()))
}

/// Does `action` in the database `config` names, for a service without
/// an admin token.
async fn in_database(
    config: &crate::Config,
    device: &str,
    action: DeviceAction,
) -> Result<Done, CliError> {
    let target = crate::db::Target::of(config);
    let failed = |reason: String| CliError::Health {
        url: target.describe(),
        reason,
    };
    let pool = target.open().await.map_err(|e| failed(e.to_string()))?;
    let limits = crate::devices::Limits {
        keep_logs: config.trmnl.keep_logs,
        keep_history: config.trmnl.keep_history,
    };
    let registry = crate::devices::Registry::new(pool, limits);
    let list = registry.list().await.map_err(|e| failed(e.to_string()))?;
    let found = crate::devices::find(list, config.devices.list(), device).ok_or_else(|| {
        failed(format!(
            "no device with friendly id, MAC or name `{device}`"
        ))
    })?;
    let (mut pair_until, mut paused_until) = (None, None);
    // The service's clock: a demo's fixed time, else now.
    let now = config.clock.now.unwrap_or_else(chrono::Utc::now);
    let written = match action {
        DeviceAction::Pair => {
            let window =
                chrono::Duration::from_std(config.trmnl.pairing_window).unwrap_or_default();
            // The service's clock: a demo's fixed time, else now.
            let until = config.clock.now.unwrap_or_else(chrono::Utc::now) + window;
            pair_until = Some(until.to_rfc3339());
            registry.open_pairing(&found.mac, until).await
        }
        DeviceAction::ClearFirmware => registry.updates().clear(&found.mac).await,
        DeviceAction::Pause(text) => {
            let tz = crate::devices::sleep::time_zone(config, &found.mac);
            let until = crate::devices::sleep::resolve_until(&text, tz, now)
                .map_err(|e| failed(format!("--until: {e}")))?;
            paused_until = Some(until.to_rfc3339());
            registry.set_pause(&found.mac, Some(until)).await
        }
        DeviceAction::Resume => registry.set_pause(&found.mac, None).await,
    };
    written.map_err(|e| failed(e.to_string()))?;
    Ok(Done {
        mac: found.mac,
        friendly_id: found.friendly_id,
        pair_until,
        paused_until,
    })
}

/// `s` with what a path segment cannot hold escaped.
fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
