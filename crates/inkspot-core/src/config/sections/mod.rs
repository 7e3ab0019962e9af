//! The service's own sections: `[server]`, `[cache]`, `[fetch]` and
//! `[templates]`, each with its defaults.

/// The rules these sections must satisfy beyond their types, checked at
/// load.
pub(super) mod checks;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use bytesize::ByteSize;
use serde::Deserialize;

/// `[server]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address and port to listen on. Default `0.0.0.0:8080`.
    pub listen: SocketAddr,
    /// Longest time any request may take before it is answered 503. Default `30s`.
    #[serde(deserialize_with = "super::units::duration")]
    pub request_timeout: Duration,
    /// Renders that may run at once on blocking threads. Default: the number of CPUs.
    pub render_concurrency: Option<usize>,
    /// Renders (fetch and draw) that may be waiting or running at once. A
    /// request that needs one more is answered 503 with `Retry-After`, so a
    /// flood of cold requests cannot starve cache hits. Default `32`.
    pub render_queue: usize,
    /// Renders one client address (IPv6: one /64) may have started and
    /// still queued or running; one more is answered 429 `too_many_renders`.
    /// Joining a render someone else started does not count. Loopback is
    /// exempt unless `rate_limit.loopback` is on. Default `4`.
    pub renders_per_client: usize,
    /// Reverse proxies and load balancers, as networks or addresses
    /// (`["10.0.0.0/8"]`), whose `X-Forwarded-For` names the client: the
    /// per-client limits then count that client, not the proxy. Default:
    /// `INKSPOT_TRUSTED_PROXIES` (comma-separated), else none.
    #[serde(deserialize_with = "super::units::networks")]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The most pixels (width × height) one render may have, so no request
    /// can make a huge pixmap. Default `4194304` (4 Mi pixels: 2048×2048,
    /// TRMNL X's 1872×1404).
    pub max_pixels: u64,
    /// Whether `/image` accepts `width` and `height`. `false` allows only the
    /// spots' own sizes and the presets, so clients cannot make a new render
    /// per size. Default `true`.
    pub custom_sizes: bool,
    /// On SIGTERM or SIGINT, requests in flight get this long to finish
    /// before the process exits anyway. Default `10s`.
    #[serde(deserialize_with = "super::units::duration")]
    pub shutdown_timeout: Duration,
    /// `[server.rate_limit]`: requests per client address.
    pub rate_limit: RateLimitConfig,
    /// The token management endpoints (`/api/devices`) require, sent as
    /// `Authorization: Bearer <token>`; at least 16 characters. Default:
    /// the `INKSPOT_ADMIN_TOKEN` environment variable; without either,
    /// those endpoints are off.
    pub admin_token: Option<Secret>,
    /// A separate address for `/metrics`, such as `"127.0.0.1:9090"`, for
    /// a main port open to the internet: the main port then answers 404
    /// there. Default: `/metrics` on the main port.
    pub metrics_listen: Option<SocketAddr>,
    /// A connection must send a whole request head (request line and
    /// headers) within this long of opening, or of starting its next
    /// request: a client that sends nothing, or trickles its headers a
    /// byte at a time, is closed. Default `10s`.
    #[serde(deserialize_with = "super::units::duration")]
    pub header_timeout: Duration,
    /// A kept-alive connection with no request in flight and nothing read
    /// or written for this long is closed. Default `60s`.
    #[serde(deserialize_with = "super::units::duration")]
    pub keepalive_timeout: Duration,
    /// Connections open at once on each listener (the main one and
    /// `metrics_listen`); one more is closed at once, not queued. Default:
    /// three quarters of the open-file limit (`ulimit -n`, which `serve`
    /// raises to its hard limit), leaving the rest for files, the database
    /// and upstream sockets; at most `8192`.
    pub max_connections: Option<usize>,
    /// Of those, the connections one client address (IPv6: one /64) may
    /// hold; one more is closed at once. Loopback follows
    /// `rate_limit.loopback`; trusted proxies are exempt. `0` turns the
    /// limit off. Default `128`.
    pub connections_per_client: usize,
}

/// The most connections the default cap allows: idle ones cost memory
/// (hyper's buffers), and a display fleet holds few at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 8192;

/// The default connection cap for an open-file limit of `files`: a
/// quarter (at least 64) stays for files, the database and upstreams, and
/// at most [`DEFAULT_MAX_CONNECTIONS`].
pub fn connections_for(files: u64) -> usize {
    let reserve = (files / 4).max(64);
    usize::try_from(files.saturating_sub(reserve))
        .unwrap_or(usize::MAX)
        .clamp(16, DEFAULT_MAX_CONNECTIONS)
}

/// The process's soft limit on open files (`ulimit -n`); 1024 where it
/// cannot be read.
pub fn open_file_limit() -> u64 {
    rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(1024)
}

/// A secret from the config: shown as `***` in debug output, so it cannot
/// reach a log by accident.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// A secret holding `value`.
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// `[server.rate_limit]`: a token bucket per client IP address. A client
/// past it is answered 429 with `Retry-After`. `/healthz` is not limited.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Sustained requests per minute per client; `0` turns the limit off.
    /// Default `120`.
    pub per_minute: u32,
    /// Requests a client may send at once before the sustained rate applies.
    /// Default `60`.
    pub burst: u32,
    /// Whether loopback clients (127.0.0.1, ::1) are limited too. Behind a
    /// reverse proxy on the same host every client is loopback, so rate
    /// limit there instead. Default `false`.
    pub loopback: bool,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            per_minute: 120,
            burst: 60,
            loopback: false,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            request_timeout: Duration::from_secs(30),
            render_concurrency: None,
            render_queue: 32,
            renders_per_client: 4,
            trusted_proxies: Vec::new(),
            max_pixels: 4 * 1024 * 1024,
            custom_sizes: true,
            shutdown_timeout: Duration::from_secs(10),
            rate_limit: RateLimitConfig::default(),
            admin_token: None,
            metrics_listen: None,
            header_timeout: Duration::from_secs(10),
            keepalive_timeout: Duration::from_secs(60),
            max_connections: None,
            connections_per_client: 128,
        }
    }
}

impl ServerConfig {
    /// The connection cap to use: configured, or three quarters of the
    /// process's open-file limit (at least 16).
    pub fn max_connections(&self) -> usize {
        self.max_connections
            .unwrap_or_else(|| connections_for(open_file_limit()))
    }

    /// The render concurrency to use: configured, or one per CPU.
    pub fn render_concurrency(&self) -> usize {
        self.render_concurrency.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        })
    }
}

/// `[cache]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// A render younger than this is served without fetching anything. Default `1h`.
    #[serde(deserialize_with = "super::units::duration")]
    pub max_age: Duration,
    /// A render made while some sources failed stays fresh only this long. Default `5m`.
    #[serde(deserialize_with = "super::units::duration")]
    pub partial_max_age: Duration,
    /// When a render has expired, send it at once (`X-Cache: stale`) while one
    /// background refresh runs, so no device waits for a slow upstream.
    /// Default `true`.
    pub serve_stale: bool,
    /// `Cache-Control: max-age` sent with an old render served while a
    /// refresh runs or because every source failed. Default `60s`.
    #[serde(deserialize_with = "super::units::duration")]
    pub stale_max_age: Duration,
    /// `Retry-After` sent with the 503 error image when no render exists. Default `60s`.
    #[serde(deserialize_with = "super::units::duration")]
    pub error_retry_after: Duration,
    /// Folder where renders are stored; they survive restarts. Default `cache`.
    pub dir: PathBuf,
    /// Memory the in-process cache may hold, e.g. `"64MiB"`. Default `64MiB`.
    #[serde(deserialize_with = "super::units::size")]
    pub memory: ByteSize,
    /// The cache folder is kept under this size; the renders asked for
    /// longest ago go first. Default `256MiB`.
    #[serde(deserialize_with = "super::units::size")]
    pub max_disk: ByteSize,
    /// Renders on disk neither drawn nor asked for within this time are
    /// deleted. Default `7d`.
    #[serde(deserialize_with = "super::units::duration")]
    pub max_disk_age: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(3600),
            partial_max_age: Duration::from_secs(300),
            serve_stale: true,
            stale_max_age: Duration::from_secs(60),
            error_retry_after: Duration::from_secs(60),
            dir: PathBuf::from("cache"),
            memory: ByteSize::mib(64),
            max_disk: ByteSize::mib(256),
            max_disk_age: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// `[fetch]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FetchConfig {
    /// Total time allowed for one upstream request, body included. Default `10s`.
    #[serde(deserialize_with = "super::units::duration")]
    pub timeout: Duration,
    /// Larger upstream bodies are cut off and count as a failed source. Default `2MiB`.
    #[serde(deserialize_with = "super::units::size")]
    pub max_bytes: ByteSize,
    /// `User-Agent` sent upstream. Default `inkspot/<version>`.
    pub user_agent: String,
    /// A source that just failed is not asked again for this long; requests
    /// in between see the same failure. `"0s"` turns this off. Default `30s`.
    #[serde(deserialize_with = "super::units::duration")]
    pub failure_ttl: Duration,
    /// Requests that may be open at once to one upstream host (and port);
    /// more wait their turn within `fetch.timeout`. Default `4`.
    pub per_host_concurrency: usize,
}

impl Default for FetchConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            max_bytes: ByteSize::mib(2),
            user_agent: concat!("inkspot/", env!("CARGO_PKG_VERSION")).to_string(),
            failure_ttl: Duration::from_secs(30),
            per_host_concurrency: 4,
        }
    }
}

/// `[clock]`: for demos and tests.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClockConfig {
    /// Run as if it were this time (RFC 3339), with the clock standing
    /// still, so that recorded data draws the same picture every time. The
    /// command line's `--now` overrides it. Default: the real time.
    pub now: Option<chrono::DateTime<chrono::Utc>>,
}

/// `[templates]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TemplatesConfig {
    /// Folder holding `<name>.svg` templates, `error.svg`, images and `fonts/`.
    /// Default `templates`.
    pub dir: PathBuf,
}

impl Default for TemplatesConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("templates"),
        }
    }
}

/// `[otlp]`: request traces exported over OTLP/HTTP to a collector. Only
/// builds with the `otlp` feature export; others warn that it is set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpConfig {
    /// The collector's traces URL, such as
    /// `"http://localhost:4318/v1/traces"`. Default: unset, no export.
    pub endpoint: Option<String>,
    /// The traces' `service.name`. Default `"inkspot"`.
    pub service_name: String,
    /// The share of requests traced, from 0 to 1. Default `1`.
    pub sample_ratio: f64,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        Self {
            endpoint: None,
            service_name: "inkspot".to_string(),
            sample_ratio: 1.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    #[rstest]
    #[case(64, 16)]
    #[case(256, 192)]
    #[case(1024, 768)]
    #[case(20_000, 8192)]
    fn the_default_connection_cap_leaves_room_for_files(#[case] files: u64, #[case] cap: usize) {
        assert_eq!(super::connections_for(files), cap);
    }
}
