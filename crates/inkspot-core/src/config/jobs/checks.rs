//! The rules for `[jobs]` and `[[api_keys]]`: limits that allow work, and
//! keys that are long, distinct and named once.

use std::collections::HashSet;

use super::super::locate::Seg;
use super::super::locate::{Collector, key};
use super::super::{Config, Secret};

/// The shortest key accepted.
const MIN_KEY: usize = 16;

/// Reads each `key_env` into `key`, so the rest of the service sees one
/// place; a missing variable is a problem at `key_env`.
pub(in crate::config) fn read_key_env(c: &mut Collector, config: &mut Config) {
    for (i, api_key) in config.api_keys.iter_mut().enumerate() {
        let Some(var) = &api_key.key_env else {
            continue;
        };
        let at = [key("api_keys"), Seg::Index(i), key("key_env")];
        if api_key.key.is_some() {
            c.add(&at, "give `key` or `key_env`, not both");
            continue;
        }
        match std::env::var(var) {
            Ok(value) if !value.is_empty() => api_key.key = Some(Secret::new(value)),
            _ => c.add(&at, format!("the environment variable `{var}` is not set")),
        }
    }
}

pub(in crate::config) fn check_jobs(c: &mut Collector, config: &Config) {
    let jobs = &config.jobs;
    let at = |k: &str| [key("jobs"), key(k)];
    for (name, value) in [
        ("max_items", jobs.max_items),
        ("max_frames", jobs.max_frames),
        ("concurrency", jobs.concurrency),
    ] {
        if value == 0 {
            c.add(&at(name), "must be at least 1");
        }
    }
    if jobs.max_frame_pixels == 0 || jobs.max_frame_pixels > config.server.max_pixels {
        let max = config.server.max_pixels;
        c.add(
            &at("max_frame_pixels"),
            format!("must be between 1 and `server.max_pixels` ({max})"),
        );
    }
    if jobs.keep_results.is_zero() {
        c.add(&at("keep_results"), "must be at least 1s");
    }
    for (name, value) in [
        ("max_result_bytes", jobs.max_result_bytes),
        ("max_disk", jobs.max_disk),
    ] {
        if value.as_u64() == 0 {
            c.add(&at(name), "must be more than zero bytes");
        }
    }
    check_keys(c, config);
}

fn check_keys(c: &mut Collector, config: &Config) {
    let mut names = HashSet::new();
    let mut keys = HashSet::new();
    for (i, api_key) in config.api_keys.iter().enumerate() {
        let at = |k: &str| [key("api_keys"), Seg::Index(i), key(k)];
        let name_ok = !api_key.name.is_empty()
            && api_key.name.len() <= 64
            && api_key
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !name_ok {
            c.add(
                &at("name"),
                "must be 1–64 characters of A-Z, a-z, 0-9, `-`, `_` and `.`",
            );
        } else if !names.insert(api_key.name.as_str()) {
            c.add(&at("name"), format!("`{}` names two keys", api_key.name));
        }
        if api_key.max_bytes.as_u64() == 0 {
            c.add(&at("max_bytes"), "must be more than zero bytes");
        }
        if api_key.max_jobs == 0 {
            c.add(&at("max_jobs"), "must be at least 1");
        }
        match &api_key.key {
            None if api_key.key_env.is_none() => {
                c.add(
                    &at("key"),
                    "give `key` or `key_env` (an environment variable that holds it)",
                );
            }
            Some(k) if k.expose().len() < MIN_KEY => {
                let field = if api_key.key_env.is_some() {
                    "key_env"
                } else {
                    "key"
                };
                c.add(
                    &at(field),
                    format!("the key must be at least {MIN_KEY} characters: make one with `openssl rand -hex 16`"),
                );
            }
            Some(k) if !keys.insert(k.expose()) => {
                c.add(&at("key"), "the same key is given to two names");
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use rstest::rstest;

    use crate::config::Config;

    fn load(extra: &str) -> Result<Config, String> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("templates")).unwrap();
        std::fs::write(dir.path().join("templates/t.svg"), "<svg/>").unwrap();
        let text = format!("{extra}\n[[spots]]\nname = \"A\"\ntemplate = \"t\"\n");
        Config::from_toml(&text, Path::new("config.toml"), dir.path()).map_err(|e| e.to_string())
    }

    #[rstest]
    #[case(
        "[[api_keys]]\nname = \"shop\"\nkey = \"short\"",
        "line 3: `api_keys[0].key`: the key must be at least 16"
    )]
    #[case(
        "[[api_keys]]\nname = \"shop\"",
        "line 1: `api_keys[0].key`: give `key` or `key_env`"
    )]
    #[case(
        "[[api_keys]]\nname = \"a b\"\nkey = \"0123456789abcdef\"",
        "`api_keys[0].name`: must be 1–64"
    )]
    #[case(
        "[[api_keys]]\nname = \"a\"\nkey = \"0123456789abcdef\"\n[[api_keys]]\nname = \"a\"\nkey = \"0123456789abcdeg\"",
        "`api_keys[1].name`: `a` names two keys"
    )]
    #[case(
        "[[api_keys]]\nname = \"a\"\nkey = \"0123456789abcdef\"\n[[api_keys]]\nname = \"b\"\nkey = \"0123456789abcdef\"",
        "`api_keys[1].key`: the same key is given to two names"
    )]
    #[case(
        "[[api_keys]]\nname = \"a\"\nkey_env = \"INKSPOT_TEST_NO_SUCH_VARIABLE\"",
        "line 3: `api_keys[0].key_env`: the environment variable `INKSPOT_TEST_NO_SUCH_VARIABLE` is not set"
    )]
    #[case(
        "[jobs]\nconcurrency = 0\nmax_frame_pixels = 99999999",
        "`jobs.concurrency`: must be at least 1"
    )]
    #[case(
        "[jobs]\nmax_frame_pixels = 99999999",
        "`jobs.max_frame_pixels`: must be between 1 and `server.max_pixels`"
    )]
    #[case(
        "[database]\nurl = \"mysql://u:secret@h/db\"",
        "line 2: `database.url`: must be a PostgreSQL URL"
    )]
    #[case(
        "[database]\npath = \"x.db\"\nurl = \"postgres://h/db\"",
        "`database.url`: give `path` (SQLite) or `url` (PostgreSQL), not both"
    )]
    #[case(
        "[storage]\nbackend = \"s3\"",
        "line 1: `storage.bucket`: an S3 bucket name is required"
    )]
    #[case(
        "[storage]\nbackend = \"s3\"\nbucket = \"renders\"\nendpoint = \"127.0.0.1:8333\"",
        "line 4: `storage.endpoint`: must be an http:// or https:// URL"
    )]
    #[case(
        "[coordination]\nredis_url = \"http://u:secret@cache:6379\"",
        "line 2: `coordination.redis_url`: must be a Redis URL"
    )]
    #[case(
        "[coordination]\nprefix = \"a b\"",
        "line 2: `coordination.prefix`: must be 1 to 64 characters"
    )]
    #[case(
        "[coordination]\nclaim_ttl = \"0s\"",
        "line 2: `coordination.claim_ttl`: must be between 1s and 10m"
    )]
    #[case(
        "[coordination]\nredis_url = \"redis://cache:6379\"\nredis_ca = \"ca.pem\"",
        "line 3: `coordination.redis_ca`: is only used with a `rediss://` redis_url"
    )]
    #[case(
        "[coordination]\nredis_url = \"rediss://cache:6379\"\nredis_ca = \"no-such-ca.pem\"",
        "line 3: `coordination.redis_ca`: cannot read"
    )]
    #[case(
        "[coordination]\nredis_url = \"rediss://cache:6379\"\nredis_ca = \"templates/t.svg\"",
        "t.svg holds no PEM certificate"
    )]
    #[case(
        "[storage]\nbackend = \"s3\"\nbucket = \"renders\"\nendpoint = \"http://s3:8333\"\nca = \"ca.pem\"",
        "line 5: `storage.ca`: is only used with an `https://` endpoint"
    )]
    #[case(
        "[storage]\nbackend = \"s3\"\nbucket = \"renders\"\nendpoint = \"https://s3:8333\"\nca = \"no-ca.pem\"",
        "line 5: `storage.ca`: cannot read"
    )]
    fn job_database_storage_and_coordination_keys_are_checked_by_line(
        #[case] extra: &str,
        #[case] expected: &str,
    ) {
        let e = load(extra).unwrap_err();
        assert!(e.contains(expected), "{e}");
        assert!(
            !e.contains("secret"),
            "a URL's password is never shown: {e}"
        );
    }

    #[test]
    fn a_key_from_the_environment_is_read_at_load() {
        // SAFETY: the variable is this test's own.
        unsafe { std::env::set_var("INKSPOT_TEST_JOB_KEY", "from-the-environment-0123") };
        let config =
            load("[[api_keys]]\nname = \"shop\"\nkey_env = \"INKSPOT_TEST_JOB_KEY\"").unwrap();
        let key = config.api_keys[0].key.as_ref().unwrap();
        assert_eq!(key.expose(), "from-the-environment-0123");
        assert_eq!(format!("{:?}", config.api_keys[0].key), "Some(***)");
    }
}
