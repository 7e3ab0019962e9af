//! Small texts a crawl reads beside its pages (`robots.txt`), fetched under
//! the same address rules as a page: the host resolved once, the address
//! checked, and the request sent to that address.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::StreamExt;
use inkspot_core::shot::ShotError;

use crate::policy::Policy;

/// The text at `url`, at most `max` bytes; `None` when it answers
/// anything but 200 (no such file, a redirect).
pub async fn fetch(
    policy: &Policy,
    url: &url::Url,
    max: usize,
) -> Result<Option<String>, ShotError> {
    let host = url
        .host_str()
        .ok_or_else(|| ShotError::Refused(format!("`{url}` has no host")))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = url.port_or_known_default().unwrap_or(80);
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| ShotError::Load(format!("{host} does not resolve: {e}")))?
        .collect();
    let address = policy.pick(&host, &addresses).map_err(ShotError::Refused)?;
    let client = reqwest::Client::builder()
        .resolve(&host, address)
        // A proxy of the environment would resolve the name again.
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| ShotError::Load(e.to_string()))?;
    let answer = client
        .get(url.clone())
        .send()
        .await
        .map_err(|e| ShotError::Load(format!("{url}: {e}")))?;
    if answer.status() != reqwest::StatusCode::OK {
        return Ok(None);
    }
    let mut body = Vec::new();
    let mut chunks = answer.bytes_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| ShotError::Load(format!("{url}: {e}")))?;
        let room = max.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= max {
            break;
        }
    }
    Ok(Some(String::from_utf8_lossy(&body).into_owned()))
}
