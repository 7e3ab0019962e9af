//! The commands that talk to a running service (`status`, `healthcheck`,
//! `devices pair`): where it is, with what token, and what to say when it
//! does not answer.

use std::path::Path;

use super::CliError;
use crate::config::{Config, DEFAULT_CONFIG_PATH};

/// The address of `path` on the service: at `url` when given (a base such
/// as `http://host:8080` gets `path`; a URL with a path of its own is taken
/// as it is), else on this machine at the config's port (a missing default
/// config still has a port: the default one).
pub(super) fn endpoint(
    config_path: &Path,
    url: Option<&str>,
    path: &str,
) -> Result<String, CliError> {
    if let Some(url) = url {
        let base = url::Url::parse(url)
            .ok()
            .filter(|u| matches!(u.path(), "" | "/"));
        return Ok(match base {
            Some(_) => format!("{}{path}", url.trim_end_matches('/')),
            None => url.to_string(),
        });
    }
    let port = if config_path.exists() || config_path != Path::new(DEFAULT_CONFIG_PATH) {
        Config::load(config_path)?.server.listen.port()
    } else {
        crate::config::ServerConfig::default().listen.port()
    };
    Ok(format!("http://127.0.0.1:{port}{path}"))
}

/// The admin token: `given` (`--token`, `INKSPOT_ADMIN_TOKEN`), else the
/// config's `server.admin_token` when the config is here to read.
pub(super) fn admin_token(config_path: &Path, given: Option<&str>) -> Option<String> {
    if let Some(token) = given {
        return Some(token.to_string());
    }
    if !config_path.exists() {
        return None;
    }
    let config = Config::load(config_path).ok()?;
    config.server.admin_token.map(|t| t.expose().to_string())
}

/// What to say when a request to `url` failed with `e`.
pub(super) fn unreachable(url: &str, e: &reqwest::Error) -> String {
    if e.is_connect() {
        format!(
            "nothing is listening at {url}: is inkspot running there (`inkspot serve`), on that port?"
        )
    } else if e.is_timeout() {
        format!("no answer from {url} in time")
    } else {
        e.to_string()
    }
}

/// The message of an inkspot error body (`{"error": ...}`), else the body
/// as text.
pub(super) fn said(body: &[u8]) -> String {
    /// The error body every inkspot endpoint answers with.
    #[derive(serde::Deserialize)]
    struct Said {
        error: String,
    }
    serde_json::from_slice::<Said>(body)
        .map(|s| s.error)
        .unwrap_or_else(|_| String::from_utf8_lossy(body).into_owned())
}

/// The body `request` (made by `client`) is answered with, or why there
/// is none: nothing listening, or the service's own error message.
pub(super) async fn answer(
    url: &str,
    request: reqwest::RequestBuilder,
) -> Result<bytes::Bytes, CliError> {
    let failed = |reason: String| CliError::Health {
        url: url.to_string(),
        reason,
    };
    let response = request
        .send()
        .await
        .map_err(|e| failed(unreachable(url, &e)))?;
    let code = response.status();
    let body = response.bytes().await.map_err(|e| failed(e.to_string()))?;
    if !code.is_success() {
        return Err(failed(format!("answered {code}: {}", said(&body))));
    }
    Ok(body)
}

/// `inkspot healthcheck`: GET /healthz on the configured port over loopback.
pub async fn healthcheck(config_path: &Path, url: Option<&str>) -> Result<(), CliError> {
    let url = endpoint(config_path, url, "/healthz")?;
    let failed = |reason: String| CliError::Health {
        url: url.clone(),
        reason,
    };
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build()
        .map_err(|e| failed(e.to_string()))?;
    let response = client
        .get(&url)
        .send()
        .await
        .map_err(|e| failed(unreachable(&url, &e)))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(failed(format!("answered {}", response.status())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("http://nas:8080", "http://nas:8080/status")]
    #[case("http://nas:8080/", "http://nas:8080/status")]
    #[case("http://nas:8080/status", "http://nas:8080/status")]
    #[case("http://nas:8080/inkspot/status", "http://nas:8080/inkspot/status")]
    fn a_base_url_or_a_whole_one_is_taken(#[case] given: &str, #[case] used: &str) {
        let url = endpoint(Path::new("nowhere.toml"), Some(given), "/status").unwrap();
        assert_eq!(url, used);
    }
}
