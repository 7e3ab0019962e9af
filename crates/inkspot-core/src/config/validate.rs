//! The validation pass: everything a parsed config must satisfy that the
//! types alone cannot say. Each section's own rules sit beside its types
//! (`storage/checks.rs`, `spot/checks.rs`, ...); this pass runs them all,
//! and the rules that span sections (limits, presets, the spots as a
//! list). It collects every problem rather than stopping at the first, so
//! one `inkspot check` shows all of them.

use std::collections::HashSet;

use super::locate::Seg;
pub(in crate::config) use super::locate::{Collector, key, with};
use super::spot::checks::{check_spot, is_identifier};
use super::spot::mashup::check_parts as check_mashup_parts;
use super::trmnl::checks as devices;
use super::{
    Check, Config, Problem, browser, history, jobs, normalize, schedule, sections, storage,
};

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
    jobs::checks::read_key_env(&mut c, config);
    storage::checks::read_authorities(&mut c, config);
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
    sections::checks::check_limits(c, config);
    check_presets(c, config);
    check_spots(c, config);
    schedule::checks::check_schedule(c, config);
    devices::check_devices(c, config);
    storage::checks::check_database(c, config);
    storage::checks::check_storage(c, config);
    storage::checks::check_coordination(c, config);
    jobs::checks::check_jobs(c, config);
    history::checks::check_history(c, config);
    browser::checks::check_browser(c, config);
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
    // Screenshot spots need no templates: a folder is needed only when a
    // spot names a template.
    let needs_templates = config.spots.iter().any(|s| s.screenshot.is_none());
    let templates_dir = if templates_dir.is_dir() {
        Some(templates_dir)
    } else if !needs_templates {
        None
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
    check_mashup_parts(c, &config.spots);
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
