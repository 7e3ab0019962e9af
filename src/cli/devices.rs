//! `inkspot devices pair MAC`: asks a running service (its admin API) to
//! let a device that is set up already fetch its key again from
//! `/api/setup`, for `trmnl.pairing_window`.

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

/// Opens pairing for `device` (a MAC or friendly id) on the service the
/// config at `config_path` describes, or at `url`, with the admin `token`.
pub async fn pair(
    config_path: &Path,
    device: &str,
    url: Option<&str>,
    token: Option<&str>,
) -> Result<(), CliError> {
    let path = format!("/api/devices/{}/pair", urlencode(device));
    let url = match url {
        Some(base) => format!("{}{path}", base.trim_end_matches('/')),
        None => super::local_url(config_path, &path)?,
    };
    let failed = |reason: String| CliError::Health {
        url: url.clone(),
        reason,
    };
    let Some(token) = token else {
        return Err(failed(
            "pairing needs the admin token: give --token or INKSPOT_ADMIN_TOKEN".into(),
        ));
    };
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| failed(e.to_string()))?;
    let response = client
        .post(&url)
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| failed(e.to_string()))?;
    let code = response.status();
    if !code.is_success() {
        let body = response.text().await.unwrap_or_default();
        let said = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_string))
            .unwrap_or(body);
        return Err(failed(format!("answered {code}: {said}")));
    }
    let pairing: Pairing = response.json().await.map_err(|e| failed(e.to_string()))?;
    println!(
        "{} ({}) may fetch its key from /api/setup until {}; reset it, or let it restart, now",
        pairing.friendly_id, pairing.mac, pairing.pair_until
    );
    Ok(())
}

/// `s` with what a path segment cannot hold escaped.
fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
