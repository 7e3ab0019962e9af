//! The validation pass: everything a parsed config must satisfy that the
//! types alone cannot say. Collects every problem rather than stopping at the
//! first, so one `inkspot check` shows all of them.

mod devices;
mod jobs;
mod schedule;
mod spots;
mod storage;

use std::collections::HashSet;

use super::locate::Seg;
pub(in crate::config) use super::locate::{Collector, key, with};
use super::{Check, Config, Problem, normalize};
pub use spots::check_url;
use spots::{check_spot, is_identifier};

/// Completes `config` (parsed from `text`: see [`normalize`]), checks it
/// with this module's rules and `checks`, and returns every problem found.
/// Warnings go to `config.warnings`.
pub fn validate(config: &mut Config, text: &str, checks: &[Check]) -> Vec<Problem> {
    let mut c = Collector {
        text,
        problems: Vec::new(),
        warnings: Vec::new(),
    };
    normalize::normalize(&mut c, config);
    jobs::read_key_env(&mut c, config);
    storage::read_authorities(&mut c, config);
    check_values(&mut c, config);
    for check in checks {
        for (path, message) in check(config) {
            c.add(&path, message);
        }
    }
    config.warnings = std::mem::take(&mut c.warnings);
    c.problems
}

/// The rules of this module.
fn check_values(c: &mut Collector, config: &Config) {
    check_limits(c, config);
    check_presets(c, config);
    check_spots(c, config);
    schedule::check_schedule(c, config);
    devices::check_devices(c, config);
    storage::check_database(c, config);
    storage::check_storage(c, config);
    storage::check_coordination(c, config);
    jobs::check_jobs(c, config);
}

/// The service's sections: durations, sizes and counts in range.
fn check_limits(c: &mut Collector, config: &Config) {
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

/// Every spot, and names and slugs used once.
fn check_spots(c: &mut Collector, config: &Config) {
    if config.spots.is_empty() {
        c.add(
            &[key("spots")],
            "no spots configured: add at least one [[spots]] table with a name and a template",
        );
    }
    let templates_dir = config.templates_dir();
    // A config copied away from its templates: one problem that says what
    // to set, not a "not found" for every spot.
    let templates_dir = if templates_dir.is_dir() {
        Some(templates_dir)
    } else {
        c.add(
            &[key("templates"), key("dir")],
            format!(
                "the templates folder {} does not exist: set `templates.dir` in [templates] to the folder with the .svg files (relative to this config's folder), e.g. dir = \"/path/to/inkspot/templates\"",
                std::path::absolute(&templates_dir)
                    .unwrap_or(templates_dir.clone())
                    .display()
            ),
        );
        None
    };
    let mut names = HashSet::new();
    let mut slugs = HashSet::new();
    for (i, spot) in config.spots.iter().enumerate() {
        let path = [key("spots"), Seg::Index(i)];
        check_spot(c, &path, spot, templates_dir.as_deref());
        check_pixels(
            c,
            &with(&path, &[key("width")]),
            spot.width,
            spot.height,
            config,
        );
        if !names.insert(spot.name.to_lowercase()) {
            c.add(
                &with(&path, &[key("name")]),
                format!(
                    "spot name `{}` is used twice (names ignore case)",
                    spot.name
                ),
            );
        }
        let slug = spot.slug();
        if !slugs.insert(slug.clone()) {
            c.add(
                &with(&path, &[key("name")]),
                format!("spot slug `{slug}` is used twice: set a distinct `slug`"),
            );
        }
    }
}

/// `w`×`h` must fit `server.max_pixels`.
fn check_pixels(c: &mut Collector, path: &[Seg], w: u32, h: u32, config: &Config) {
    if let Some(message) = too_many_pixels(w, h, config) {
        c.add(path, message);
    }
}

/// Why `w`×`h` does not fit `server.max_pixels`, if it does not.
fn too_many_pixels(w: u32, h: u32, config: &Config) -> Option<String> {
    let max = config.server.max_pixels;
    (u64::from(w) * u64::from(h) > max).then(|| {
        format!(
            "{w}×{h} is more than `server.max_pixels` ({max}): raise that limit or draw smaller"
        )
    })
}

/// Presets must be in range, and a spot's `preset` must name one.
fn check_presets(c: &mut Collector, config: &Config) {
    let builtin = super::builtin_presets();
    for (name, preset) in &config.presets {
        if builtin.get(name) == Some(preset) {
            continue;
        }
        // Each problem as (the key below the preset, if any; the message).
        let mut found: Vec<(Option<&str>, String)> = Vec::new();
        if !is_identifier(name, true) {
            let message = format!("preset name `{name}` must be letters, digits, `-` and `_`");
            found.push((None, message));
        }
        if let Err(e) = preset.check() {
            found.push((Some(e.param), e.to_string()));
        }
        if let (Some(w), Some(h)) = (preset.width, preset.height)
            && let Some(message) = too_many_pixels(w, h, config)
        {
            found.push((Some("width"), message));
        }
        if found.is_empty() {
            continue;
        }
        // Only now: finding the table it was written in parses the text.
        let table = normalize::preset_table(c.text, name);
        for (param, message) in found {
            let mut path = vec![key(table), key(name)];
            path.extend(param.map(key));
            c.add(&path, message);
        }
    }
    let known: Vec<&str> = config.presets.keys().map(String::as_str).collect();
    for (i, spot) in config.spots.iter().enumerate() {
        if let Some(preset) = &spot.preset
            && !config.presets.contains_key(preset)
        {
            let at = normalize::spot_preset_key(c.text, i);
            c.add(
                &[key("spots"), Seg::Index(i), key(at)],
                format!("unknown preset `{preset}`; known: {}", known.join(", ")),
            );
        }
    }
}
