//! Sources: fetching a spot's upstream documents and extracting its fields.
//!
//! A source that cannot be fetched, or a field that cannot be read, is not an
//! error for the spot: it becomes an entry in [`SpotData::errors`] and the
//! field is `none` in the template, so the display still gets a picture.

pub mod extract;
mod fetch;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

pub use extract::{extract_field, parse_document};
pub use fetch::{FetchError, Fetcher};

use crate::config::{Source, Spot};

/// Why one field has no value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldError {
    /// The source's id.
    pub source: String,
    /// The field's name, or `None` when the whole source failed.
    pub field: Option<String>,
    /// What went wrong, fit to show on a display.
    pub reason: String,
}

/// Everything fetched for one spot.
#[derive(Debug, Clone, Serialize)]
pub struct SpotData {
    /// `data.<source>.<field>`: extracted values; a missing field is `null`.
    pub values: BTreeMap<String, BTreeMap<String, Value>>,
    /// Sources and fields that failed.
    pub errors: Vec<FieldError>,
    /// When the fetch finished.
    pub fetched_at: DateTime<Utc>,
    /// Sources fetched successfully.
    pub sources_ok: usize,
    /// Sources configured.
    pub sources_total: usize,
}

impl SpotData {
    /// Data in which every source of `spot` failed for `reason`.
    pub fn failed(spot: &Spot, reason: &str) -> Self {
        SpotData {
            values: BTreeMap::new(),
            errors: spot
                .sources
                .iter()
                .map(|s| FieldError {
                    source: s.id.clone(),
                    field: None,
                    reason: reason.to_string(),
                })
                .collect(),
            fetched_at: Utc::now(),
            sources_ok: 0,
            sources_total: spot.sources.len().max(1),
        }
    }

    /// True when the spot has sources and every one of them failed.
    pub fn all_failed(&self) -> bool {
        self.sources_total > 0 && self.sources_ok == 0
    }

    /// True when something failed but not everything.
    pub fn is_partial(&self) -> bool {
        !self.errors.is_empty()
    }
}

/// Fetches every source of `spot` concurrently and extracts its fields.
pub async fn gather(fetcher: &Fetcher, spot: &Spot) -> SpotData {
    let results =
        futures_util::future::join_all(spot.sources.iter().map(|s| fetch_source(fetcher, spot, s)))
            .await;
    let mut data = SpotData {
        values: BTreeMap::new(),
        errors: Vec::new(),
        fetched_at: Utc::now(),
        sources_ok: 0,
        sources_total: spot.sources.len(),
    };
    for (source, result) in spot.sources.iter().zip(results) {
        let (fields, errors) = match result {
            Ok(values) => {
                data.sources_ok += 1;
                values
            }
            Err(reason) => {
                tracing::warn!(spot = %spot.name, source = %source.id, %reason, "source failed");
                let nulls = source.fields.keys().map(|k| (k.clone(), Value::Null));
                let error = FieldError {
                    source: source.id.clone(),
                    field: None,
                    reason,
                };
                (nulls.collect(), vec![error])
            }
        };
        data.values.insert(source.id.clone(), fields);
        data.errors.extend(errors);
    }
    data
}

type Extracted = (BTreeMap<String, Value>, Vec<FieldError>);

/// Fetches one source and extracts its fields; `Err` when the body could not
/// be had or read at all.
pub async fn fetch_source(
    fetcher: &Fetcher,
    spot: &Spot,
    source: &Source,
) -> Result<Extracted, String> {
    let url = expand_url(&source.url, spot, Utc::now())?;
    let body = fetcher.fetch(&url).await.map_err(|e| e.to_string())?;
    // Parsing a large HTML document is CPU work: keep it off the async threads.
    let source = source.clone();
    tokio::task::spawn_blocking(move || extract_all(&source, &body))
        .await
        .map_err(|_| "extraction was interrupted".to_string())?
}

/// Fills `{{ spot.<key> }}` and `{{ today }}` (the date in the spot's
/// `timezone`, else UTC, as `YYYY-MM-DD`) in a source URL, so one source
/// definition serves many spots. Values come from the config only.
pub fn expand_url(url: &str, spot: &Spot, now: chrono::DateTime<Utc>) -> Result<String, String> {
    if !url.contains("{{") && !url.contains("{%") {
        return Ok(url.to_string());
    }
    let mut map = BTreeMap::new();
    for (k, v) in &spot.extra {
        if let Ok(v) = serde_json::to_value(v) {
            map.insert(k.clone(), v);
        }
    }
    map.insert("name".to_string(), Value::from(spot.name.clone()));
    map.insert("slug".to_string(), Value::from(spot.slug()));
    let zone: Option<chrono_tz::Tz> = spot
        .extra
        .get("timezone")
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse().ok());
    let today = match zone {
        Some(tz) => now.with_timezone(&tz).format("%Y-%m-%d").to_string(),
        None => now.format("%Y-%m-%d").to_string(),
    };
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.render_str(url, minijinja::context! { spot => map, today => today })
        .map_err(|e| format!("cannot fill the URL template: {e}"))
}

/// Extracts every field of `source` from `body`.
pub fn extract_all(source: &Source, body: &str) -> Result<Extracted, String> {
    let doc = parse_document(source.format, body)?;
    if let (Some(pointer), extract::Document::Json(json)) = (&source.error_pointer, &doc)
        && let Some(err) = json.pointer(pointer).filter(|v| !v.is_null())
    {
        let text = err.as_str().map_or_else(|| err.to_string(), str::to_string);
        return Err(format!(
            "upstream reported an error: {}",
            crate::text::ellipsize(&text, 120)
        ));
    }
    let mut values = BTreeMap::new();
    let mut errors = Vec::new();
    for (name, field) in &source.fields {
        let value = match extract_field(&doc, field) {
            Ok(v) => v,
            Err(reason) => {
                errors.push(FieldError {
                    source: source.id.clone(),
                    field: Some(name.clone()),
                    reason,
                });
                Value::Null
            }
        };
        values.insert(name.clone(), value);
    }
    Ok((values, errors))
}
