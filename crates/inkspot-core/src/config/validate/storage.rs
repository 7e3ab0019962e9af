//! The rules for `[database]` and `[storage]`: a PostgreSQL URL that is
//! one (never shown, it may hold a password), a bucket for S3, a Redis URL
//! and claim time for `[coordination]`, and the certificate authorities of
//! S3 and Redis servers with private certificates.

use std::path::PathBuf;

use super::super::Config;
use super::{Collector, key};

pub(super) fn check_database(c: &mut Collector, config: &Config) {
    let Some(url) = &config.database.url else {
        return;
    };
    let at = [key("database"), key("url")];
    if config.database.path.is_some() {
        c.add(&at, "give `path` (SQLite) or `url` (PostgreSQL), not both");
    }
    let url = url.expose();
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        // Never the value: it may hold a password.
        c.add(
            &at,
            "must be a PostgreSQL URL: postgres://user:password@host:5432/inkspot",
        );
    }
}

pub(super) fn check_storage(c: &mut Collector, config: &Config) {
    let storage = &config.storage;
    if storage.backend != crate::config::StorageBackend::S3 {
        return;
    }
    let at = |k: &str| [key("storage"), key(k)];
    let bucket_ok = storage.bucket.as_deref().is_some_and(|b| {
        (3..=63).contains(&b.len())
            && b.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b".-".contains(&c))
    });
    if !bucket_ok {
        c.add(
            &at("bucket"),
            "an S3 bucket name is required: 3 to 63 characters of a-z, 0-9, `.` and `-`",
        );
    }
    if let Some(endpoint) = &storage.endpoint
        && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
    {
        c.add(
            &at("endpoint"),
            "must be an http:// or https:// URL, such as \"http://127.0.0.1:8333\"",
        );
    }
}

/// Reads the certificate authorities named by `storage.ca` and
/// `coordination.redis_ca`, so a file that is missing or holds none is
/// named at load, not at the first connection.
pub(super) fn read_authorities(c: &mut Collector, config: &mut Config) {
    let https = config
        .storage
        .endpoint
        .as_deref()
        .is_some_and(|e| e.starts_with("https://"));
    let tls = config
        .coordination
        .redis_url
        .as_ref()
        .is_some_and(|url| url.expose().starts_with("rediss://"));
    let ca = config.storage.ca.clone();
    let at = ("storage", "ca", "an `https://` endpoint");
    config.storage.ca_pem = authority(c, config, at, ca, https);
    let ca = config.coordination.redis_ca.clone();
    let at = ("coordination", "redis_ca", "a `rediss://` redis_url");
    config.coordination.redis_ca_pem = authority(c, config, at, ca, tls);
}

/// The PEM certificates in the file `path` given at `section.name`, which
/// only a TLS connection (`tls`, which `needs` describes) uses; else a
/// problem there.
fn authority(
    c: &mut Collector,
    config: &Config,
    (section, name, needs): (&str, &str, &str),
    path: Option<PathBuf>,
    tls: bool,
) -> Option<Vec<u8>> {
    let at = [key(section), key(name)];
    let file = config.resolve(&path?);
    if !tls {
        c.add(&at, format!("is only used with {needs}"));
        return None;
    }
    match std::fs::read(&file) {
        Ok(pem) if pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") => Some(pem),
        Ok(_) => {
            let shown = file.display();
            c.add(
                &at,
                format!("{shown} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"),
            );
            None
        }
        Err(e) => {
            c.add(&at, format!("cannot read {}: {e}", file.display()));
            None
        }
    }
}

pub(super) fn check_coordination(c: &mut Collector, config: &Config) {
    let coordination = &config.coordination;
    let at = |k: &str| [key("coordination"), key(k)];
    if let Some(url) = &coordination.redis_url {
        let url = url.expose();
        if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
            // Never the value: it may hold a password.
            c.add(
                &at("redis_url"),
                "must be a Redis URL: redis://host:6379/0, or rediss:// for TLS",
            );
        }
    }
    let prefix_ok = !coordination.prefix.is_empty()
        && coordination.prefix.len() <= 64
        && coordination
            .prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if !prefix_ok {
        c.add(
            &at("prefix"),
            "must be 1 to 64 characters of a-z, A-Z, 0-9, `-`, `_` and `.`",
        );
    }
    let ttl = coordination.claim_ttl;
    if ttl < std::time::Duration::from_secs(1) || ttl > std::time::Duration::from_secs(600) {
        c.add(&at("claim_ttl"), "must be between 1s and 10m");
    }
}
