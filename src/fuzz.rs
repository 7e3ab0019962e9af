//! Entry points for the fuzz targets in `fuzz/` and their regression tests:
//! each takes arbitrary bytes, drives one untrusted-input boundary, and
//! panics only when an invariant breaks.

use std::path::Path;
use std::sync::LazyLock;

use crate::config::OutputOptions;
use crate::config::{Format, Source};
use crate::http::ImageQuery;
use crate::render::Output;
use crate::source::extract::{MAX_ITEMS, MAX_TEXT};

/// One source per format using every extractor kind, as a config would.
const SOURCES: &str = r##"
[[s]]
id = "html"
url = "file://x"
format = "html"
error_pointer = "/e"
[s.fields]
text     = { css = "h1" }
attr     = { css = "img.hero", attr = "src" }
narrowed = { css = "tr", regex = "Wave Height \\(WVHT\\):\\s*([\\d.]+) ft", type = "number" }
every    = { css = "td", all = true }
number   = { css = "#waves .value", type = "number" }

[[s]]
id = "json"
url = "file://x"
format = "json"
error_pointer = "/error/message"
[s.fields]
value    = { pointer = "/current/wave_height", type = "number" }
narrowed = { pointer = "/daily/sunrise/0", regex = "T(\\d\\d:\\d\\d)" }
every    = { pointer = "/predictions", all = true }
root     = { pointer = "" }

[[s]]
id = "text"
url = "file://x"
format = "text"
[s.fields]
column   = { column = "WVHT", type = "number" }
time     = { column = "WVHT", row_time = true }
series   = { column = "WSPD", all = true }
regex    = { regex = "height (\\d+)" }
every    = { regex = "\\d+", all = true, type = "number" }
"##;

static PARSED: LazyLock<Vec<Source>> = LazyLock::new(|| {
    #[derive(serde::Deserialize)]
    struct Sources {
        s: Vec<Source>,
    }
    toml::from_str::<Sources>(SOURCES)
        .expect("fuzz sources parse")
        .s
});

/// The first byte picks the format (html, json, text), the rest is the body.
/// Every field's value must stay within the text and list bounds.
pub fn extract(data: &[u8]) {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let source = &PARSED[usize::from(which) % PARSED.len()];
    let body = String::from_utf8_lossy(body);
    match crate::source::extract_all(source, &body) {
        Ok((values, errors)) => {
            assert_eq!(values.len(), source.fields.len());
            assert!(errors.len() <= values.len());
            values.values().for_each(check_bounded);
        }
        // Text always "parses": any body is at worst a failure per field.
        Err(e) => assert!(source.format != Format::Text, "text source failed: {e}"),
    }
}

fn check_bounded(value: &serde_json::Value) {
    match value {
        serde_json::Value::String(s) => assert!(s.chars().count() <= MAX_TEXT + 1),
        serde_json::Value::Array(items) => {
            assert!(items.len() <= MAX_ITEMS);
            items.iter().for_each(check_bounded);
        }
        serde_json::Value::Object(map) => {
            assert!(map.len() <= MAX_ITEMS);
            map.values().for_each(check_bounded);
        }
        _ => {}
    }
}

/// Config text: it loads or fails with a message; a failure names a line
/// when it names a key.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A folder that does not exist: template checks fail, nothing is read.
    let base = Path::new("/nonexistent-inkspot-fuzz");
    if let Err(e) =
        crate::Config::from_toml_with(text, Path::new("fuzz.toml"), base, crate::CONFIG_CHECKS)
    {
        assert!(!e.to_string().is_empty());
    }
}

/// A query string: it parses to options that resolve within bounds, or is
/// a 400.
pub fn query(data: &[u8]) {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(q) = ImageQuery::parse(Some(raw)) {
        assert!(q.spot.len() <= 200);
        let output = Output::resolve(&OutputOptions::default().overlay(&q.options), 800, 480);
        let (min, max) = (crate::config::MIN_DIMENSION, crate::config::MAX_DIMENSION);
        assert!((min..=max).contains(&output.width), "{output:?}");
        assert!((min..=max).contains(&output.height), "{output:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixed_sources_cover_each_format() {
        let formats: Vec<Format> = PARSED.iter().map(|s| s.format).collect();
        assert_eq!(formats, [Format::Html, Format::Json, Format::Text]);
    }

    #[test]
    fn entry_points_accept_ordinary_input() {
        extract(b"\x00<h1>Linda Mar</h1><td>1</td><td>2</td>");
        extract(b"\x01{\"predictions\": [1, 2], \"current\": {\"wave_height\": 1.2}}");
        extract(b"\x02#YY  MM DD hh mm WVHT\n2026 11 23 05 00 1.5\n");
        config(b"[[spots]]\nname = \"A\"\ntemplate = \"surf\"\n");
        query(b"spot=linda-mar&bits=1&rotate=90&width=600");
    }
}
