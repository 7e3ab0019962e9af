//! The rules of the service's own sections (`[server]`, `[cache]`,
//! `[fetch]`, `[otlp]`): durations, sizes and counts in range, and the
//! addresses apart.

use super::super::Config;
use super::super::locate::{Collector, key};

/// The service's sections: durations, sizes and counts in range.
pub(in crate::config) fn check_limits(c: &mut Collector, config: &Config) {
    let positive = [
        (["cache", "max_age"], config.cache.max_age.is_zero()),
        (["fetch", "timeout"], config.fetch.timeout.is_zero()),
        (
            ["cache", "max_disk_age"],
            config.cache.max_disk_age.is_zero(),
        ),
        (
            ["server", "request_timeout"],
            config.server.request_timeout.is_zero(),
        ),
        (
            ["server", "header_timeout"],
            config.server.header_timeout.is_zero(),
        ),
        (
            ["server", "keepalive_timeout"],
            config.server.keepalive_timeout.is_zero(),
        ),
    ];
    for (path, is_zero) in positive {
        if is_zero {
            c.add(&[key(path[0]), key(path[1])], "must be longer than zero");
        }
    }
    if config.fetch.max_bytes.as_u64() == 0 {
        c.add(
            &[key("fetch"), key("max_bytes")],
            "must be more than zero bytes",
        );
    }
    let at_least_one = [
        (
            ["server", "render_concurrency"],
            config.server.render_concurrency == Some(0),
        ),
        (["server", "render_queue"], config.server.render_queue == 0),
        (
            ["server", "max_connections"],
            config.server.max_connections == Some(0),
        ),
        (
            ["server", "renders_per_client"],
            config.server.renders_per_client == 0,
        ),
        (
            ["fetch", "per_host_concurrency"],
            config.fetch.per_host_concurrency == 0,
        ),
    ];
    for (path, is_zero) in at_least_one {
        if is_zero {
            c.add(&[key(path[0]), key(path[1])], "must be at least 1");
        }
    }
    if config.cache.max_disk.as_u64() < 1024 * 1024 {
        c.add(
            &[key("cache"), key("max_disk")],
            "must be at least 1MiB: one render must fit",
        );
    }
    let rate = &config.server.rate_limit;
    if rate.per_minute > 0 && rate.burst == 0 {
        c.add(
            &[key("server"), key("rate_limit"), key("burst")],
            "must be at least 1 while `per_minute` is set (`per_minute = 0` turns the limit off)",
        );
    }
    let otlp = &config.otlp;
    if !(0.0..=1.0).contains(&otlp.sample_ratio) {
        c.add(&[key("otlp"), key("sample_ratio")], "must be from 0 to 1");
    }
    if let Some(endpoint) = &otlp.endpoint {
        let at = [key("otlp"), key("endpoint")];
        match url::Url::parse(endpoint) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            _ => c.add(
                &at,
                format!(
                    "`{endpoint}` is not an http(s) URL such as \"http://localhost:4318/v1/traces\""
                ),
            ),
        }
        if !cfg!(feature = "otlp") {
            c.warn(
                &at,
                "is set, but this build exports no traces: build with `cargo build --release --features otlp`",
            );
        }
    }
    if config.server.metrics_listen == Some(config.server.listen)
        && config.server.listen.port() != 0
    {
        c.add(
            &[key("server"), key("metrics_listen")],
            "is the same address as `server.listen`; leave it out to serve /metrics on the main port",
        );
    }
}
