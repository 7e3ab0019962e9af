//! `inkspot devices pair MAC`: lets a device that is set up already fetch
//! its key again from `/api/setup`, for `trmnl.pairing_window`: through a
//! running service's admin API when there is an admin token, else in the
//! database the service reads.

use std::path::Path;

use serde::Deserialize;

use super::CliError;

/// The admin API's answer.
#[derive(Deserialize)]
struct Pairing {
    mac: String,
    friendly_id: String,
    pair_until: String,
}

/// Opens pairing for `device` (a MAC or friendly id): through the admin
/// API of the service at `url` (default: the config's port) with the admin
/// `token` (default: the config's); with no admin token anywhere, in the
/// database the config names, which the service reads at the device's
/// next setup.
pub async fn pair(
    config_path: &Path,
    device: &str,
    url: Option<&str>,
    token: Option<&str>,
) -> Result<(), CliError> {
    let config = super::load(config_path)?;
    let configured = config.server.admin_token.as_ref().map(|t| t.expose());
    let pairing = match token.or(configured) {
        Some(token) => {
            let path = format!("/api/devices/{}/pair", urlencode(device));
            let url = super::endpoint(config_path, url, &path)?;
            through_api(&url, token).await?
        }
        None => in_database(&config, device).await?,
    };
    println!(
        "{} ({}) may fetch its key from /api/setup until {}; reset it, or let it restart, now",
        pairing.friendly_id, pairing.mac, pairing.pair_until
    );
    Ok(())
}

/// Asks the admin API at `url` to open pairing.
async fn through_api(url: &str, token: &str) -> Result<Pairing, CliError> {
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

/// Opens pairing in the database `config` names, for a service without
/// an admin token.
async fn in_database(config: &crate::Config, device: &str) -> Result<Pairing, CliError> {
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
    let mac = crate::config::normalize_mac(device);
    let found = list
        .into_iter()
        .find(|d| d.friendly_id.eq_ignore_ascii_case(device) || Some(&d.mac) == mac.as_ref())
        .ok_or_else(|| failed(format!("no device with friendly id or MAC `{device}`")))?;
    let window = chrono::Duration::from_std(config.trmnl.pairing_window).unwrap_or_default();
    // The service's clock: a demo's fixed time, else now.
    let until = config.clock.now.unwrap_or_else(chrono::Utc::now) + window;
    registry
        .open_pairing(&found.mac, until)
        .await
        .map_err(|e| failed(e.to_string()))?;
    Ok(Pairing {
        mac: found.mac,
        friendly_id: found.friendly_id,
        pair_until: until.to_rfc3339(),
    })
}

/// `s` with what a path segment cannot hold escaped.
fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
