//! The label sets of the metrics. Every value comes from a fixed list or
//! from configuration, never from request text, so the number of series
//! stays bounded whatever clients send.

use prometheus_client::encoding::EncodeLabelSet;

/// An HTTP request: its route template, status and cache result.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Http {
    /// The route, as [`route`] names it.
    pub route: &'static str,
    /// The status code.
    pub status: u16,
    /// `hit`, `miss`, `stale`, or `none` for answers that are not images.
    pub cache: &'static str,
}

/// A route alone.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Route {
    /// The route, as [`route`] names it.
    pub route: &'static str,
}

/// One source of one spot, fetched from a host.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Fetch {
    /// The spot's name.
    pub spot: String,
    /// The source's id.
    pub source: String,
    /// The host and port, or `file` for a local file.
    pub host: String,
    /// `ok` or `failed`.
    pub outcome: &'static str,
}

/// An upstream host.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Host {
    /// The host and port, or `file`.
    pub host: String,
}

/// A stage of a render.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Stage {
    /// `fetch`, `fill`, `draw` or `encode`.
    pub stage: &'static str,
}

/// A spot and how something went for it.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SpotOutcome {
    /// The spot's name.
    pub spot: String,
    /// `ok` or `failed`.
    pub outcome: &'static str,
}

/// A spot.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Spot {
    /// The spot's name.
    pub spot: String,
}

/// Why a request was turned away.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Refusal {
    /// `rate_limited`, `device_rate_limited`, `busy`, `too_many_renders`,
    /// `uri_too_long`, `headers_too_large`, `key_rate_limited`,
    /// `too_many_jobs` or `device_log_dropped`.
    pub reason: &'static str,
}

/// A job's kind and how it ended.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Job {
    /// `renders` or `animation`.
    pub kind: &'static str,
    /// `done`, `failed` or `cancelled`.
    pub outcome: &'static str,
}

/// A service the replica depends on.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Service {
    /// `storage`, `database` or `coordination`.
    pub service: &'static str,
}

/// A cache layer.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Layer {
    /// `memory` or `disk`.
    pub layer: &'static str,
}

/// A table of the history.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Table {
    /// `samples` or `hourly`.
    pub table: &'static str,
}

/// A device.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Device {
    /// Its friendly id.
    pub device: String,
    /// Its name in `[[devices]]`, or empty.
    pub name: String,
}

/// The build.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Build {
    /// The version.
    pub version: &'static str,
}

/// The route template of `path`: one of the service's routes, or `other`
/// for anything else, so hostile paths add no series.
pub fn route(path: &str) -> &'static str {
    let path = match path.strip_suffix('/') {
        Some(p) if !p.is_empty() => p,
        _ => path,
    };
    match path {
        "/" => "/",
        "/image" => "/image",
        "/spots" => "/spots",
        "/healthz" => "/healthz",
        "/readyz" => "/readyz",
        "/status" => "/status",
        "/metrics" => "/metrics",
        "/preview" => "/preview",
        "/login" => "/login",
        "/api/setup" => "/api/setup",
        "/api/display" => "/api/display",
        "/api/current_screen" => "/api/current_screen",
        "/api/log" => "/api/log",
        "/api/identify" => "/api/identify",
        "/api/devices" => "/api/devices",
        p if p.starts_with("/api/devices/") => "/api/devices/{id}",
        "/api/jobs" => "/api/jobs",
        p if p.starts_with("/api/jobs/") && p.ends_with("/download") => "/api/jobs/{id}/download",
        p if p.starts_with("/api/jobs/") => "/api/jobs/{id}",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("/image", "/image")]
    #[case("/api/setup/", "/api/setup")]
    #[case("/api/devices/ABC123", "/api/devices/{id}")]
    #[case("/", "/")]
    #[case("/api/jobs/0123abcd", "/api/jobs/{id}")]
    #[case("/api/jobs/0123abcd/download", "/api/jobs/{id}/download")]
    #[case("/wp-admin/setup.php", "other")]
    #[case("/image/../../etc/passwd", "other")]
    fn routes_are_templates(#[case] path: &str, #[case] expect: &str) {
        assert_eq!(route(path), expect);
    }
}

/// How a browser picture ended: `ok`, or why it failed.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    /// `ok`, `refused`, `timeout`, `too_large`, `wait_for`, `load`,
    /// `browser` or `unavailable`.
    pub outcome: String,
}

/// What happened with a firmware image.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FirmwareEvent {
    /// `offered`, `downloaded`, `updated` or `failed`.
    pub event: &'static str,
}

/// Why a device woke.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Wake {
    /// `timer`, `button`, `powercycle`, `other` or `unknown`.
    pub reason: &'static str,
}
