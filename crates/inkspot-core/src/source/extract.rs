//! Field extraction from a parsed body: CSS selectors for HTML, JSON pointers,
//! regular expressions for text, then the optional regex and number steps.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use crate::config::{Field, FieldType, Format};
use crate::text::ellipsize;

/// A body parsed once for all of its fields.
pub enum Document {
    /// An HTML document.
    Html(scraper::Html),
    /// A JSON value.
    Json(Value),
    /// Plain text.
    Text(String),
}

/// Parses `body` as `format`. HTML parsing never fails (browsers' rules);
/// JSON that does not parse is an error for the whole source.
pub fn parse_document(format: Format, body: &str) -> Result<Document, String> {
    Ok(match format {
        Format::Html => Document::Html(scraper::Html::parse_document(body)),
        Format::Json => Document::Json(
            serde_json::from_str(body).map_err(|e| format!("body is not valid JSON: {e}"))?,
        ),
        Format::Text => Document::Text(body.to_string()),
    })
}

/// The longest text a field may hold; scraped values are not trusted, and
/// a page that puts a megabyte in a heading must not reach the SVG.
pub const MAX_TEXT: usize = 1000;
/// The most items a list field may hold.
pub const MAX_ITEMS: usize = 1000;

/// Reads one field from `doc`, bounded by [`MAX_TEXT`] and [`MAX_ITEMS`].
/// `Err` says why the field has no value.
pub fn extract_field(doc: &Document, field: &Field) -> Result<Value, String> {
    extract_unbounded(doc, field).map(bound)
}

fn bound(value: Value) -> Value {
    match value {
        Value::String(s) => Value::String(ellipsize(&s, MAX_TEXT)),
        Value::Array(items) => Value::Array(items.into_iter().take(MAX_ITEMS).map(bound).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .take(MAX_ITEMS)
                .map(|(k, v)| (k, bound(v)))
                .collect(),
        ),
        other => other,
    }
}

fn extract_unbounded(doc: &Document, field: &Field) -> Result<Value, String> {
    let candidates = candidates(doc, field)?;
    let mut values = Vec::new();
    let mut last_miss = None;
    for candidate in candidates {
        if candidate.is_null() {
            // A missing entry in a whole column keeps its place in the list.
            values.push(Value::Null);
            continue;
        }
        match refine(candidate, field) {
            Ok(v) => {
                values.push(v);
                if !field.all {
                    break;
                }
            }
            Err(reason) => last_miss = Some(reason),
        }
    }
    if field.all {
        if values.is_empty()
            && let Some(reason) = last_miss
        {
            return Err(reason);
        }
        Ok(Value::Array(values))
    } else {
        values
            .pop()
            .ok_or_else(|| last_miss.unwrap_or_else(|| "no value".to_string()))
    }
}

/// The raw values the extractor selects, before `regex` and `type`.
fn candidates(doc: &Document, field: &Field) -> Result<Vec<Value>, String> {
    match doc {
        Document::Html(html) => {
            let css = field.css.as_ref().ok_or("an html field needs `css`")?;
            let mut out = Vec::new();
            let mut matched = false;
            for element in html.select(css.selector()) {
                matched = true;
                let text = match &field.attr {
                    Some(attr) => match element.value().attr(attr) {
                        Some(v) => v.trim().to_string(),
                        None => continue,
                    },
                    None => collapse_whitespace(element.text()),
                };
                out.push(Value::String(text));
                // With a regex or a number to find, later elements may be
                // the ones that match: keep them as candidates.
                if !field.all && field.regex.is_none() && field.kind == FieldType::Text {
                    break;
                }
            }
            if out.is_empty() {
                return Err(match (&field.attr, matched) {
                    (Some(attr), true) => {
                        format!(
                            "no element matching `{}` has attribute `{attr}`",
                            css.as_str()
                        )
                    }
                    _ => format!("no element matches `{}`", css.as_str()),
                });
            }
            Ok(out)
        }
        Document::Json(json) => {
            let pointer = field.pointer.as_deref().unwrap_or("");
            match json.pointer(pointer) {
                None => Err(format!("nothing at JSON pointer `{pointer}`")),
                Some(Value::Null) => Err(format!("value at JSON pointer `{pointer}` is null")),
                Some(Value::Array(items)) if field.all => {
                    Ok(items.iter().filter(|v| !v.is_null()).cloned().collect())
                }
                Some(v) => Ok(vec![v.clone()]),
            }
        }
        Document::Text(text) if field.column.is_some() => column(
            text,
            field.column.as_deref().unwrap_or(""),
            field.row_time,
            field.all,
        ),
        Document::Text(text) => match &field.regex {
            // With `all`, every match of the expression is a candidate; the
            // `refine` step then takes each one's first group.
            Some(re) if field.all => Ok(re
                .regex()
                .find_iter(text)
                .map(|m| Value::String(m.as_str().to_string()))
                .collect()),
            _ => Ok(vec![Value::String(text.clone())]),
        },
    }
}

/// Values that mean "no reading" in NDBC files.
const MISSING: &[&str] = &["MM", "N/A"];

/// Reads `name` from whitespace-separated columns named by the first `#`
/// line, newest row first. Without `all`, the first row where it is not
/// missing; with `all`, the whole column (missing as null).
fn column(text: &str, name: &str, row_time: bool, all: bool) -> Result<Vec<Value>, String> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .by_ref()
        .find(|l| l.starts_with('#'))
        .ok_or("no `#` header line naming the columns")?
        .trim_start_matches('#')
        .split_whitespace()
        .collect();
    let index = header
        .iter()
        .position(|h| *h == name)
        .ok_or_else(|| format!("no column `{name}`; columns: {}", header.join(" ")))?;
    let position = |n: &str| header.iter().position(|h| *h == n);
    let year = position("YY").or_else(|| position("YYYY"));
    let time_cols = [
        year,
        position("MM"),
        position("DD"),
        position("hh"),
        position("mm"),
    ];
    let mut out = Vec::new();
    for line in lines.filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let cells: Vec<&str> = line.split_whitespace().collect();
        let Some(cell) = cells.get(index) else {
            continue;
        };
        if MISSING.contains(cell) {
            if all {
                out.push(Value::Null);
            }
            continue;
        }
        let value = if row_time {
            let parts: Option<Vec<&str>> = time_cols
                .iter()
                .map(|c| c.and_then(|i| cells.get(i).copied()))
                .collect();
            let parts = parts.ok_or("the file has no YY MM DD hh mm columns for `row_time`")?;
            let year = if parts[0].len() == 2 {
                format!("20{}", parts[0])
            } else {
                parts[0].to_string()
            };
            Value::String(format!(
                "{year}-{}-{}T{}:{}:00Z",
                parts[1], parts[2], parts[3], parts[4]
            ))
        } else {
            Value::String((*cell).to_string())
        };
        out.push(value);
        if !all {
            break;
        }
    }
    if out.iter().all(Value::is_null) {
        return Err(format!(
            "column `{name}` has no value that is not missing (MM)"
        ));
    }
    Ok(out)
}

/// Applies the `regex` narrowing step and the `type` conversion.
pub(super) fn refine(value: Value, field: &Field) -> Result<Value, String> {
    let value = match &field.regex {
        None => value,
        Some(re) => {
            let text = as_text(&value);
            let caps = re.regex().captures(&text).ok_or_else(|| {
                format!(
                    "regex `{}` does not match {}",
                    re.regex().as_str(),
                    quote(&text)
                )
            })?;
            let m = caps
                .get(1)
                .or_else(|| caps.get(0))
                .map_or("", |m| m.as_str());
            Value::String(m.to_string())
        }
    };
    match field.kind {
        FieldType::Text => Ok(match value {
            Value::String(s) => Value::String(s),
            other => other,
        }),
        FieldType::Number => to_number(&value),
    }
}

/// The first decimal number in a value: `" 3.6 ft"` gives `3.6`.
pub fn to_number(value: &Value) -> Result<Value, String> {
    static NUMBER: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)").expect("valid regex"));
    if let Value::Number(_) = value {
        return Ok(value.clone());
    }
    let text = as_text(value);
    NUMBER
        .find(&text)
        .and_then(|m| m.as_str().parse::<f64>().ok())
        .and_then(serde_json::Number::from_f64)
        .map(Value::Number)
        .ok_or_else(|| format!("no number in {}", quote(&text)))
}

fn as_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Quotes a value for an error message, shortened so a huge body cannot
/// flood logs or the display.
fn quote(text: &str) -> String {
    format!("\"{}\"", ellipsize(text, 60))
}

fn collapse_whitespace<'a>(parts: impl Iterator<Item = &'a str>) -> String {
    // Join text nodes first: `<b>Wave</b>s` is one word, not two.
    let joined: String = parts.collect();
    joined.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests;
