//! Parsing a job body, reporting every problem at once: each unknown
//! field (with the known ones at its place, and the nearest as a
//! suggestion) beside the first value that does not fit its type. Unknown
//! fields are collected as serde passes them (`serde_ignored`), so one
//! does not hide the rest.

use serde_ignored::Path;

use super::{Body, Problem, problem};

/// The fields each place of a body knows.
const BODY: &[&str] = &["renders", "animation", "screenshots", "crawl"];
const SCREENSHOTS: &[&str] = &[
    "urls",
    "viewport",
    "wait_for",
    "delay_ms",
    "full_page",
    "format",
];
const CRAWL: &[&str] = &[
    "url",
    "depth",
    "max_pages",
    "same_site",
    "viewport",
    "full_page",
    "format",
];
const RENDER: &[&str] = &["spot", "preset", "device", "options", "layers"];
const ANIMATION: &[&str] = &[
    "spot", "preset", "device", "options", "layers", "hours", "format", "palette", "delay_ms",
    "loops",
];
const HOURS: &[&str] = &["from", "to", "step"];

/// Parses `bytes` as a body: the body and the unknown fields it had, or
/// every problem found when it does not parse.
pub fn parse(bytes: &[u8]) -> Result<(Body, Vec<Problem>), Vec<Problem>> {
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        return Err(vec![problem(
            "body",
            "must be a JSON object: {\"renders\": [...]}, {\"animation\": {...}}, {\"screenshots\": {...}} or {\"crawl\": {...}}",
        )]);
    }
    let mut unknown = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed: Result<Body, _> = {
        let mut note = |path: Path<'_>| unknown.push(unknown_field(&path));
        let ignored = serde_ignored::Deserializer::new(&mut de, &mut note);
        serde_path_to_error::deserialize(ignored)
    };
    let body = match parsed {
        Ok(body) => body,
        Err(e) => {
            let path = e.path().to_string();
            let field = if path == "." {
                "body".to_string()
            } else {
                path
            };
            unknown.push(problem(field, e.into_inner().to_string()));
            return Err(unknown);
        }
    };
    if let Err(e) = de.end() {
        unknown.push(problem("body", format!("trailing characters: {e}")));
        return Err(unknown);
    }
    Ok((body, unknown))
}

/// The problem of the unknown field at `path`.
fn unknown_field(path: &Path<'_>) -> Problem {
    let (parent, name) = match path {
        Path::Map { parent, key } => (Some(*parent), key.as_str()),
        _ => (None, ""),
    };
    let known = parent.map_or(BODY, known_at);
    let near = known
        .iter()
        .find(|k| strsim::damerau_levenshtein(name, k) <= 2)
        .map(|k| format!("did you mean `{k}`? "))
        .unwrap_or_default();
    let message = format!(
        "unknown field `{}`; {near}known here: {}",
        crate::text::ellipsize(name, 40),
        known.join(", ")
    );
    problem(dotted(path), message)
}

/// The fields the place at `path` knows.
fn known_at(path: &Path<'_>) -> &'static [&'static str] {
    match path {
        Path::Root => BODY,
        Path::Seq { .. } => RENDER,
        Path::Map { key, .. } if key == "animation" => ANIMATION,
        Path::Map { key, .. } if key == "hours" => HOURS,
        Path::Map { key, .. } if key == "screenshots" => SCREENSHOTS,
        Path::Map { key, .. } if key == "crawl" => CRAWL,
        Path::Some { parent } | Path::NewtypeStruct { parent } => known_at(parent),
        _ => &[],
    }
}

/// `path` as the other problems name fields: `renders[2].spot`.
fn dotted(path: &Path<'_>) -> String {
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", dotted(parent)),
        Path::Map { parent, key } => match dotted(parent) {
            p if p.is_empty() => key.clone(),
            p => format!("{p}.{key}"),
        },
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => dotted(parent),
    }
}
