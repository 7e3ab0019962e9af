//! The validation pass: everything a parsed config must satisfy that the
//! types alone cannot say. Collects every problem rather than stopping at the
//! first, so one `inkspot check` shows all of them.

use std::collections::HashSet;

use super::locate::{self, Seg};
use super::{
    Check, Config, Field, Format, MAX_DIMENSION, MIN_DIMENSION, Problem, Source, Spot, normalize,
};

/// Keys a spot understands; extra keys are allowed, but one that looks like a
/// misspelling of these is refused.
const SPOT_KEYS: &[&str] = &[
    "name", "slug", "template", "width", "height", "preset", "device", "timezone", "sources",
];

/// Problems (and warnings) found so far, each located in the text.
pub(super) struct Collector<'a> {
    text: &'a str,
    pub problems: Vec<Problem>,
    pub warnings: Vec<Problem>,
}

impl Collector<'_> {
    fn locate(&self, path: &[Seg], message: impl Into<String>) -> Problem {
        Problem {
            key: locate::display(path),
            line: locate::line_of(self.text, path),
            message: message.into(),
        }
    }

    /// Records a problem at `path`.
    pub fn add(&mut self, path: &[Seg], message: impl Into<String>) {
        let problem = self.locate(path, message);
        self.problems.push(problem);
    }

    /// Records a warning at `path`: the config loads, but should change.
    pub fn warn(&mut self, path: &[Seg], message: impl Into<String>) {
        let warning = self.locate(path, message);
        self.warnings.push(warning);
    }
}

pub(super) fn key(k: &str) -> Seg {
    Seg::Key(k.to_string())
}

fn with(path: &[Seg], more: &[Seg]) -> Vec<Seg> {
    path.iter().chain(more).cloned().collect()
}

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

    if config.spots.is_empty() {
        c.add(
            &[key("spots")],
            "no spots configured: add at least one [[spots]] table with a name and a template",
        );
    }

    check_presets(c, config);

    let templates_dir = config.templates_dir();
    let mut names = HashSet::new();
    let mut slugs = HashSet::new();
    for (i, spot) in config.spots.iter().enumerate() {
        let path = [key("spots"), Seg::Index(i)];
        check_spot(c, &path, spot, &templates_dir);
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

/// Presets must be in range, and a spot's `preset` must name one.
fn check_presets(c: &mut Collector, config: &Config) {
    let builtin = super::builtin_presets();
    for (name, preset) in &config.presets {
        if builtin.get(name) == Some(preset) {
            continue;
        }
        let table = normalize::preset_table(c.text, name);
        if !is_identifier(name, true) {
            c.add(
                &[key(table), key(name)],
                format!("preset name `{name}` must be letters, digits, `-` and `_`"),
            );
        }
        if let Err(e) = preset.check() {
            c.add(&[key(table), key(name), key(e.param)], e.to_string());
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

fn check_spot(c: &mut Collector, path: &[Seg], spot: &Spot, templates_dir: &std::path::Path) {
    if spot.name.trim().is_empty() || spot.name.len() > 100 {
        c.add(&with(path, &[key("name")]), "must be 1 to 100 characters");
    }
    let slug = spot.slug();
    if slug.is_empty()
        || slug.len() > 64
        || !slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        c.add(
            &with(
                path,
                &[key(if spot.slug.is_some() { "slug" } else { "name" })],
            ),
            format!(
                "slug `{slug}` must be 1 to 64 characters of a-z, 0-9 and `-`{}",
                if spot.slug.is_some() {
                    ""
                } else {
                    " (derived from the name: set `slug` explicitly)"
                }
            ),
        );
    }
    if !is_identifier(&spot.template, true) {
        c.add(
            &with(path, &[key("template")]),
            format!(
                "template `{}` must be a plain name such as `surf` (letters, digits, `-`, `_`), naming templates/<name>.svg",
                spot.template
            ),
        );
    } else if !templates_dir
        .join(format!("{}.svg", spot.template))
        .is_file()
    {
        c.add(
            &with(path, &[key("template")]),
            format!(
                "template `{}` not found: expected {}",
                spot.template,
                templates_dir
                    .join(format!("{}.svg", spot.template))
                    .display()
            ),
        );
    }
    for (k, v) in [("width", spot.width), ("height", spot.height)] {
        if !(MIN_DIMENSION..=MAX_DIMENSION).contains(&v) {
            c.add(
                &with(path, &[key(k)]),
                format!("{v} is out of range: use {MIN_DIMENSION} to {MAX_DIMENSION} pixels"),
            );
        }
    }
    for extra in spot.extra.keys() {
        if let Some(known) = SPOT_KEYS
            .iter()
            .find(|known| strsim::damerau_levenshtein(extra, known) <= 2)
        {
            c.add(
                &with(path, &[key(extra)]),
                format!("unknown key `{extra}` in a spot: did you mean `{known}`?"),
            );
        }
    }
    let mut ids = HashSet::new();
    for (j, source) in spot.sources.iter().enumerate() {
        let spath = with(path, &[key("sources"), Seg::Index(j)]);
        if !ids.insert(source.id.as_str()) {
            c.add(
                &with(&spath, &[key("id")]),
                format!("source id `{}` is used twice in this spot", source.id),
            );
        }
        check_source(c, &spath, source);
    }
}

fn check_source(c: &mut Collector, path: &[Seg], source: &Source) {
    if !is_identifier(&source.id, false) {
        c.add(
            &with(path, &[key("id")]),
            format!(
                "source id `{}` must start with a letter and hold only letters, digits and `_` (it is used as data.<id> in templates)",
                source.id
            ),
        );
    }
    // A URL template is checked by the source module, which expands it;
    // here only a plain URL, or the scheme before the first placeholder.
    let plain = !source.url.contains("{{") && !source.url.contains("{%");
    let checked = if plain {
        check_url(&source.url)
    } else {
        check_scheme(&source.url)
    };
    if let Err(message) = checked {
        c.add(&with(path, &[key("url")]), message);
    }

    if let Some(p) = &source.error_pointer {
        if source.format != Format::Json {
            c.add(
                &with(path, &[key("error_pointer")]),
                format!(
                    "`error_pointer` only works with format = \"json\", but this source is \"{}\"",
                    source.format
                ),
            );
        } else if !p.is_empty() && !p.starts_with('/') {
            c.add(
                &with(path, &[key("error_pointer")]),
                format!("JSON pointer `{p}` must be empty or start with `/` (RFC 6901)"),
            );
        }
    }
    if source.fields.is_empty() {
        c.add(
            &with(path, &[key("fields")]),
            "a source needs at least one field under [spots.sources.fields]",
        );
    }
    for (name, field) in &source.fields {
        let fpath = with(path, &[key("fields"), key(name)]);
        if !is_identifier(name, false) {
            c.add(
                &fpath,
                format!("field name `{name}` must start with a letter and hold only letters, digits and `_`"),
            );
        }
        for (k, message) in extractor_problems(source.format, field) {
            c.add(&with(&fpath, &[key(k)]), message);
        }
    }
}

/// Says which extractor keys do not fit the source's format.
fn extractor_problems(format: Format, field: &Field) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let misplaced = |k: &'static str, fits: &str| {
        (
            k,
            format!("`{k}` only works with format = \"{fits}\", but this source is \"{format}\""),
        )
    };
    match format {
        Format::Html => {
            if field.css.is_none() {
                out.push((
                    "css",
                    "a field of an html source needs `css = \"selector\"`".to_string(),
                ));
            }
            if field.pointer.is_some() {
                out.push(misplaced("pointer", "json"));
            }
        }
        Format::Json => {
            match &field.pointer {
                None => out.push((
                    "pointer",
                    "a field of a json source needs `pointer = \"/path/to/value\"`".to_string(),
                )),
                Some(p) if !p.is_empty() && !p.starts_with('/') => out.push((
                    "pointer",
                    format!("JSON pointer `{p}` must be empty or start with `/` (RFC 6901)"),
                )),
                Some(_) => {}
            }
            if field.css.is_some() {
                out.push(misplaced("css", "html"));
            }
        }
        Format::Text => {
            if field.regex.is_none() && field.column.is_none() {
                out.push((
                    "regex",
                    "a field of a text source needs `regex = \"...\"` or `column = \"NAME\"`"
                        .to_string(),
                ));
            }
            if field.css.is_some() {
                out.push(misplaced("css", "html"));
            }
            if field.pointer.is_some() {
                out.push(misplaced("pointer", "json"));
            }
        }
    }
    if field.attr.is_some() && format != Format::Html {
        out.push(misplaced("attr", "html"));
    }
    if field.column.is_some() && format != Format::Text {
        out.push(misplaced("column", "text"));
    }
    if field.row_time && field.column.is_none() {
        out.push(("row_time", "`row_time` goes with `column`".to_string()));
    }
    out
}

/// Accepts `http://`, `https://` and `file://PATH` URLs.
pub fn check_url(raw: &str) -> Result<(), String> {
    if let Some(path) = raw.strip_prefix("file://") {
        return if path.is_empty() {
            Err("`file://` needs a path, e.g. file://pages/report.html".to_string())
        } else {
            Ok(())
        };
    }
    let url = url::Url::parse(raw).map_err(|e| format!("`{raw}` is not a URL: {e}"))?;
    match url.scheme() {
        "http" | "https" if url.host().is_some() => Ok(()),
        "http" | "https" => Err(format!("`{raw}` has no host")),
        other => Err(format!(
            "scheme `{other}` is not supported: use http, https or file"
        )),
    }
}

/// The scheme of a URL template, where it is written before any placeholder.
fn check_scheme(raw: &str) -> Result<(), String> {
    let literal = raw.split(['{']).next().unwrap_or_default();
    match literal.split_once("://") {
        Some(("http" | "https" | "file", _)) => Ok(()),
        Some((other, _)) => Err(format!(
            "scheme `{other}` is not supported: use http, https or file"
        )),
        // The scheme itself comes from a placeholder: the expanded URL is
        // checked by the source module.
        None => Ok(()),
    }
}

/// Letters, digits and `_` (plus `-` when `dash`), starting with a letter.
fn is_identifier(s: &str, dash: bool) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (dash && c == '-'))
        && s.len() <= 64
}
