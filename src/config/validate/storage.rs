//! The rules for `[database]` and `[storage]`: a PostgreSQL URL that is
//! one (never shown, it may hold a password), and a bucket for S3.

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
