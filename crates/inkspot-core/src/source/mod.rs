//! Sources: fetching a spot's upstream documents and extracting its fields.
//!
//! A source that cannot be fetched, or a field that cannot be read, is not an
//! error for the spot: it becomes an entry in [`SpotData::errors`] and the
//! field is `none` in the template, so the display still gets a picture.

pub mod extract;
mod fetch;
pub mod series;
mod share;
mod url;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use extract::{extract_field, parse_document};
pub use fetch::{FetchError, Fetcher, host_label};
pub use share::{FetchShare, Permit};
pub use url::{check_urls, expand_url, redact};

use crate::clock::Clock;
use crate::config::{Source, Spot};

/// Why a whole source has no values.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The URL template does not expand.
    #[error("cannot fill the URL template: {0}")]
    Url(#[source] minijinja::Error),
    /// The body could not be had; the cause keeps the status and `Retry-After`.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The body is not a document of the source's format.
    #[error("{0}")]
    Parse(String),
    /// The upstream answered with an error inside a success (`error_pointer`).
    #[error("upstream reported an error: {0}")]
    Upstream(String),
    /// Extraction did not finish (its thread panicked).
    #[error("extraction was interrupted")]
    Interrupted,
}

impl SourceError {
    /// Whether a remote host could not be reached (see
    /// [`FetchError::is_unreachable`]).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, SourceError::Fetch(e) if e.is_unreachable())
    }
}

/// Why one field has no value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldError {
    /// The source's id.
    pub source: String,
    /// The field's name, or `None` when the whole source failed.
    pub field: Option<String>,
    /// What went wrong, fit to show on a display.
    pub reason: String,
    /// Whether the whole source failed to reach a remote host (DNS or the
    /// connection): what a machine without network sees.
    #[serde(default)]
    pub unreachable: bool,
    /// The URL asked, its `{{ }}` filled and its secrets redacted, when the
    /// whole source failed.
    #[serde(default)]
    pub url: Option<String>,
}

/// Everything fetched for one spot.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    /// Body bytes received from upstreams.
    pub bytes: u64,
    /// What this fetch gives the history; taken by whoever keeps it.
    #[serde(skip)]
    pub samples: crate::history::Batch,
    /// The spot's recent values with this fetch's, for `history()`.
    #[serde(skip)]
    pub recent: Option<std::sync::Arc<crate::history::Recent>>,
    /// A mashup's: each of its spots' data, in its layout's order.
    #[serde(skip)]
    pub parts: Vec<std::sync::Arc<SpotData>>,
}

impl SpotData {
    /// A mashup's data: its `parts`' data, one source each, fetched when
    /// the newest of them was, so a change in any part is a change of
    /// the mashup's. A part that failed is an error of the source named
    /// by its spot's slug; a part's own field and source errors are kept
    /// as fields of that source, so a partly failed part makes the mashup
    /// partial.
    pub fn of_parts(spots: &[String], parts: Vec<std::sync::Arc<SpotData>>) -> Self {
        let mut errors = Vec::new();
        for (name, data) in spots.iter().zip(&parts) {
            let source = crate::config::slugify(name);
            if data.all_failed() {
                errors.push(FieldError {
                    source,
                    field: None,
                    reason: data.failure_summary(),
                    unreachable: false,
                    url: None,
                });
                continue;
            }
            errors.extend(data.errors.iter().map(|e| FieldError {
                source: source.clone(),
                field: Some(match &e.field {
                    Some(field) => format!("{}.{field}", e.source),
                    None => e.source.clone(),
                }),
                reason: e.reason.clone(),
                unreachable: e.unreachable,
                url: None,
            }));
        }
        SpotData {
            values: BTreeMap::new(),
            errors,
            fetched_at: parts.iter().map(|d| d.fetched_at).max().unwrap_or_default(),
            sources_ok: parts.iter().filter(|d| !d.all_failed()).count(),
            sources_total: parts.len(),
            bytes: 0,
            samples: crate::history::Batch::default(),
            recent: None,
            parts,
        }
    }

    /// Data in which every source of `spot` failed for `reason` at `now`.
    pub fn failed(spot: &Spot, reason: &str, now: DateTime<Utc>) -> Self {
        SpotData {
            values: BTreeMap::new(),
            errors: spot
                .sources
                .iter()
                .map(|s| FieldError {
                    source: s.id.clone(),
                    field: None,
                    reason: reason.to_string(),
                    unreachable: false,
                    url: None,
                })
                .collect(),
            fetched_at: now,
            sources_ok: 0,
            sources_total: spot.sources.len().max(1),
            bytes: 0,
            samples: Default::default(),
            recent: None,
            parts: Vec::new(),
        }
    }

    /// Gives the templates what this fetch alone holds of the history (as
    /// of `now`): what `inkspot render` and `check --fetch` draw. The
    /// engine replaces it with the kept history, which includes it.
    pub fn recall_own(&mut self, now: DateTime<Utc>) {
        let mut recent = crate::history::Recent::default();
        recent.merge(&self.samples, now);
        self.recent = Some(std::sync::Arc::new(recent));
    }

    /// True when the spot has sources and every one of them failed.
    pub fn all_failed(&self) -> bool {
        self.sources_total > 0 && self.sources_ok == 0
    }

    /// True when something failed but not everything.
    pub fn is_partial(&self) -> bool {
        !self.errors.is_empty()
    }

    /// One line naming what failed, sources and fields, at most three of
    /// them; empty when nothing did.
    pub fn problems(&self) -> String {
        let mut parts: Vec<String> = self
            .errors
            .iter()
            .take(3)
            .map(|e| match &e.field {
                None => format!("{}: {}", e.source, e.reason),
                Some(field) => format!("{}.{field}: {}", e.source, e.reason),
            })
            .collect();
        if self.errors.len() > 3 {
            parts.push(format!("{} more", self.errors.len() - 3));
        }
        parts.join("; ")
    }

    /// One line naming every failed source and why.
    pub fn failure_summary(&self) -> String {
        let parts: Vec<String> = self
            .errors
            .iter()
            .filter(|e| e.field.is_none())
            .map(|e| format!("{}: {}", e.source, e.reason))
            .collect();
        if parts.is_empty() {
            "every source failed".to_string()
        } else {
            parts.join("; ")
        }
    }
}

/// Fetches every source of `spot` concurrently and extracts its fields.
/// The clock's time at the start fills `{{ today }}` in URLs; its time at
/// the end, when the data is complete, becomes [`SpotData::fetched_at`].
pub async fn gather(fetcher: &Fetcher, spot: &Spot, clock: &dyn Clock) -> SpotData {
    let now = clock.now();
    let results = futures_util::future::join_all(
        spot.sources
            .iter()
            .map(|s| fetch_source(fetcher, spot, s, now)),
    )
    .await;
    let mut data = SpotData {
        values: BTreeMap::new(),
        errors: Vec::new(),
        fetched_at: clock.now(),
        sources_ok: 0,
        sources_total: spot.sources.len(),
        bytes: 0,
        samples: Default::default(),
        recent: None,
        parts: Vec::new(),
    };
    for (source, result) in spot.sources.iter().zip(results) {
        let (fields, errors) = match result {
            Ok(((values, batch), bytes)) => {
                data.sources_ok += 1;
                data.bytes += bytes;
                data.samples.absorb(batch);
                values
            }
            Err(error) => {
                // The engine logs one line per failed run of the spot.
                tracing::debug!(spot = %spot.name, source = %source.id, %error, "source failed");
                let unreachable = error.is_unreachable();
                let reason = error.to_string();
                let nulls = source.fields.keys().map(|k| (k.clone(), Value::Null));
                let url = url::expand_url(&source.url, spot, now).ok();
                let error = FieldError {
                    source: source.id.clone(),
                    field: None,
                    reason,
                    unreachable,
                    url: url.as_deref().map(url::redact),
                };
                (nulls.collect(), vec![error])
            }
        };
        data.values.insert(source.id.clone(), fields);
        data.errors.extend(errors);
    }
    data.recall_own(now);
    data
}

type Extracted = (BTreeMap<String, Value>, Vec<FieldError>);

use crate::history::Batch;

/// Tells the fetcher's observer of one fetch of `source`.
fn count_fetch(
    fetcher: &Fetcher,
    spot: &Spot,
    source: &Source,
    url: &str,
    body: &Result<String, FetchError>,
    took: std::time::Duration,
) {
    let host = fetch::host_label(url);
    fetcher.observer().fetched(&crate::observe::Fetched {
        spot: &spot.name,
        source: &source.id,
        host: &host,
        bytes: body.as_ref().ok().map(|body| body.len() as u64),
        took,
    });
}

/// Fetches one source and extracts its fields, with the body's size in
/// bytes; `Err` when the body could not be had or read at all.
pub async fn fetch_source(
    fetcher: &Fetcher,
    spot: &Spot,
    source: &Source,
    now: DateTime<Utc>,
) -> Result<((Extracted, Batch), u64), SourceError> {
    let url = expand_url(&source.url, spot, now).map_err(SourceError::Url)?;
    let started = std::time::Instant::now();
    let body = fetcher.fetch(&url).await;
    count_fetch(fetcher, spot, source, &url, &body, started.elapsed());
    let body = body?;
    let bytes = body.len() as u64;
    // Parsing a large HTML document is CPU work: keep it off the async threads.
    let source = source.clone();
    let at = series::Moment {
        now,
        tz: spot.timezone,
    };
    let extracted = tokio::task::spawn_blocking(move || extract_at(&source, &body, at))
        .await
        .map_err(|_| SourceError::Interrupted)??;
    Ok((extracted, bytes))
}

/// Extracts every field of `source` from `body`.
pub fn extract_all(source: &Source, body: &str) -> Result<Extracted, SourceError> {
    let at = series::Moment {
        now: Utc::now(),
        tz: None,
    };
    extract_at(source, body, at).map(|(extracted, _)| extracted)
}

/// Extracts every field of `source` from `body` fetched `at`, with what the
/// fields give the history.
pub fn extract_at(
    source: &Source,
    body: &str,
    at: series::Moment,
) -> Result<(Extracted, Batch), SourceError> {
    let doc = parse_document(source.format, body).map_err(SourceError::Parse)?;
    if let (Some(pointer), extract::Document::Json(json)) = (&source.error_pointer, &doc)
        && let Some(err) = json.pointer(pointer).filter(|v| !v.is_null())
    {
        let text = err.as_str().map_or_else(|| err.to_string(), str::to_string);
        return Err(SourceError::Upstream(crate::text::ellipsize(&text, 120)));
    }
    let mut values = BTreeMap::new();
    let mut errors = Vec::new();
    let mut batch = Batch::default();
    for (name, field) in &source.fields {
        let value = extract_field(&doc, field);
        let kept = value.as_ref().unwrap_or(&Value::Null);
        let series = series::collect(&doc, &source.id, name, field, kept, at, &mut batch);
        let value = match (series, value) {
            // The newest value of a series that is not in the future.
            (Some(v), _) if !v.is_null() => Ok(v),
            (Some(_), _) => Err("no value at or before the fetch's time".to_string()),
            (None, value) => value,
        };
        let value = match value {
            Ok(v) => v,
            Err(reason) => {
                errors.push(FieldError {
                    source: source.id.clone(),
                    field: Some(name.clone()),
                    reason,
                    unreachable: false,
                    url: None,
                });
                Value::Null
            }
        };
        values.insert(name.clone(), value);
    }
    Ok(((values, errors), batch))
}
