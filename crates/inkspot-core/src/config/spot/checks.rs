//! The rules for one spot, its sources and their fields.

use std::collections::HashSet;
use std::path::Path;

use super::super::locate::Seg;
use super::super::locate::{Collector, key, with};
use super::super::{
    Field, FieldType, Format, MAX_DIMENSION, MIN_DIMENSION, Source, Spot, SpotTemplate,
};
use super::Rows;

/// Keys a spot understands; extra keys are allowed, but one that looks like a
/// misspelling of these is refused.
const SPOT_KEYS: &[&str] = &[
    "name",
    "slug",
    "template",
    "width",
    "height",
    "preset",
    "device",
    "history",
    "timezone",
    "sources",
    "refresh",
    "active_hours",
    "prerender",
    "screenshot",
    "page_hosts",
    "sensors_of",
    "mashup",
];

/// Everything about one spot at `path`.
/// `templates_dir` is `None` when the folder is missing (reported once).
pub(in crate::config) fn check_spot(
    c: &mut Collector,
    path: &[Seg],
    spot: &Spot,
    templates_dir: Option<&Path>,
) {
    check_names(c, path, spot);
    check_template(c, path, spot, templates_dir);
    for (k, v) in [("width", spot.width), ("height", spot.height)] {
        if !(MIN_DIMENSION..=MAX_DIMENSION).contains(&v) {
            c.add(
                &with(path, &[key(k)]),
                format!("{v} is out of range: use {MIN_DIMENSION} to {MAX_DIMENSION} pixels"),
            );
        }
    }
    if let Some(id) = &spot.sensors_of
        && (id.is_empty() || id.len() > 16 || !id.bytes().all(|b| b.is_ascii_alphanumeric()))
    {
        c.add(
            &with(path, &[key("sensors_of")]),
            format!("`{id}` is not a friendly id: the six letters and digits a TRMNL shows at setup, as `/api/devices` lists them"),
        );
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

/// The name's length and the slug's characters.
fn check_names(c: &mut Collector, path: &[Seg], spot: &Spot) {
    if spot.name.is_empty() {
        c.add(
            &with(path, &[key("name")]),
            "`name` is required: the spot's display name, e.g. name = \"Linda Mar\"",
        );
    } else if spot.name.trim().is_empty() || spot.name.len() > 100 {
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
}

/// The template's names, and that their files exist.
fn check_template(c: &mut Collector, path: &[Seg], spot: &Spot, templates_dir: Option<&Path>) {
    if let Some(mashup) = &spot.mashup {
        super::mashup::check(c, path, spot, mashup);
        return;
    }
    if spot.screenshot.is_some() {
        if spot.template != SpotTemplate::default() {
            c.add(
                &with(path, &[key("template")]),
                "a spot with `screenshot` draws its page, not a template: remove one of the two",
            );
        }
        return;
    }
    if spot.template == SpotTemplate::default() {
        c.add(
            &with(path, &[key("template")]),
            "`template` is required: the name of templates/<name>.svg, e.g. template = \"surf\"",
        );
        return;
    }
    for (orientation, name) in spot.template.names() {
        let at = match orientation {
            "" => with(path, &[key("template")]),
            o => with(path, &[key("template"), key(o)]),
        };
        let file = templates_dir.map(|d| {
            let svg = d.join(format!("{name}.svg"));
            let html = d.join(format!("{name}.html"));
            if html.is_file() && !svg.is_file() {
                html
            } else {
                svg
            }
        });
        if !is_identifier(name, true) {
            c.add(
                &at,
                format!(
                    "template `{name}` must be a plain name such as `surf` (letters, digits, `-`, `_`), naming templates/<name>.svg"
                ),
            );
        } else if let Some(file) = file.filter(|f| !f.is_file()) {
            c.add(
                &at,
                format!(
                    "template `{name}` not found: expected {} (or .html)",
                    file.display()
                ),
            );
        }
    }
}

/// A source's id, URL, error pointer and fields.
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
    out.extend(series_problems(format, field));
    out
}

/// `rows` and `times`: what a field kept as a series needs.
fn series_problems(format: Format, field: &Field) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if field.rows == Rows::All && field.column.is_none() && field.times.is_none() {
        out.push((
            "rows",
            "`rows = \"all\"` goes with `column` (text), or with `times` (json)".to_string(),
        ));
    }
    if field.rows == Rows::All && field.all {
        out.push((
            "rows",
            "`rows = \"all\"` keeps every row in the history and gives the template the newest; it cannot go with `all = true`".to_string(),
        ));
    }
    if let Some(each) = &field.each {
        if field.times.is_none() {
            out.push((
                "each",
                "`each` needs `times`, the time's pointer inside each element (CO-OPS: `each = \"/v\", times = \"/t\"`)".to_string(),
            ));
        }
        if !each.is_empty() && !each.starts_with('/') {
            out.push((
                "each",
                format!("JSON pointer `{each}` must be empty or start with `/` (RFC 6901)"),
            ));
        }
    }
    if let Some(times) = &field.times {
        if format != Format::Json {
            out.push((
                "times",
                format!(
                    "`times` only works with format = \"json\", but this source is \"{format}\""
                ),
            ));
        } else if !times.is_empty() && !times.starts_with('/') {
            out.push((
                "times",
                format!("JSON pointer `{times}` must be empty or start with `/` (RFC 6901)"),
            ));
        }
        if field.kind != FieldType::Number {
            out.push((
                "times",
                "`times` goes with `type = \"number\"`: only numbers are kept as a series"
                    .to_string(),
            ));
        }
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
pub(in crate::config) fn is_identifier(s: &str, dash: bool) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (dash && c == '-'))
        && s.len() <= 64
}
