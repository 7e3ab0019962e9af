//! The rules for `[database]` and `[storage]`: a PostgreSQL URL that is
//! one (never shown, it may hold a password), a bucket for S3, a Redis URL
//! and claim time for `[coordination]`, and the certificate authorities of
//! S3 and Redis servers with private certificates.

use std::path::PathBuf;

use super::super::Config;
use super::super::locate::{Collector, key};

/// What a config that asks for a backend this build leaves out is told.
fn left_out(what: &str, feature: &str) -> String {
    format!(
        "needs {what}, which this build leaves out: build inkspot with the `{feature}` feature \
         (on by default; `cargo build --release --features {feature}`)"
    )
}

pub(in crate::config) fn check_database(c: &mut Collector, config: &Config) {
    let Some(url) = &config.database.url else {
        return;
    };
    let at = [key("database"), key("url")];
    if config.database.path.is_some() {
        c.add(&at, "give `path` (SQLite) or `url` (PostgreSQL), not both");
    }
    if !cfg!(feature = "postgres") {
        c.add(&at, left_out("PostgreSQL", "postgres"));
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

pub(in crate::config) fn check_storage(c: &mut Collector, config: &Config) {
    let storage = &config.storage;
    if storage.backend != crate::config::StorageBackend::S3 {
        return;
    }
    let at = |k: &str| [key("storage"), key(k)];
    if !cfg!(feature = "s3") {
        c.add(&at("backend"), left_out("S3", "s3"));
    }
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
pub(in crate::config) fn read_authorities(c: &mut Collector, config: &mut Config) {
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

pub(in crate::config) fn check_coordination(c: &mut Collector, config: &Config) {
    let coordination = &config.coordination;
    let at = |k: &str| [key("coordination"), key(k)];
    if let Some(url) = &coordination.redis_url {
        if !cfg!(feature = "redis") {
            c.add(&at("redis_url"), left_out("Redis", "redis"));
        }
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use rstest::rstest;

    use crate::config::Config;

    /// A config that asks for each backend: refused, naming the key and the
    /// feature, exactly when the build leaves the backend out.
    #[rstest]
    #[case("[storage]\nbackend = \"s3\"\nbucket = \"renders\"", "line 2: `storage.backend`", "`s3` feature", cfg!(feature = "s3"))]
    #[case("[coordination]\nredis_url = \"redis://cache:6379\"", "line 2: `coordination.redis_url`", "`redis` feature", cfg!(feature = "redis"))]
    #[case("[database]\nurl = \"postgres://h/db\"", "line 2: `database.url`", "`postgres` feature", cfg!(feature = "postgres"))]
    fn a_backend_the_build_leaves_out_is_refused_at_load(
        #[case] section: &str,
        #[case] at: &str,
        #[case] feature: &str,
        #[case] built: bool,
    ) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("templates")).unwrap();
        std::fs::write(dir.path().join("templates/t.svg"), "<svg/>").unwrap();
        let text = format!("{section}\n[[spots]]\nname = \"A\"\ntemplate = \"t\"\n");
        let loaded = Config::from_toml(&text, Path::new("config.toml"), dir.path());
        match (built, loaded) {
            (true, Ok(_)) => {}
            (false, Err(e)) => {
                let e = e.to_string();
                assert!(e.contains(at) && e.contains(feature), "{e}");
            }
            (true, Err(e)) => panic!("refused although built with it: {e}"),
            (false, Ok(_)) => panic!("loaded although this build leaves it out"),
        }
    }
}
