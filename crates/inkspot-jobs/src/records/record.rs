//! One job as the database keeps it: its state, items, result and times,
//! and how a row reads back.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::db::parse_timestamp;

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Accepted, waiting for a runner.
    Queued,
    /// Being worked on.
    Running,
    /// Finished; the result can be downloaded.
    Done,
    /// Finished without a result.
    Failed,
    /// Cancelled by its owner.
    Cancelled,
    /// Finished, and its result has been deleted.
    Expired,
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl State {
    /// The word stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Queued => "queued",
            State::Running => "running",
            State::Done => "done",
            State::Failed => "failed",
            State::Cancelled => "cancelled",
            State::Expired => "expired",
        }
    }

    fn parse(s: &str) -> State {
        match s {
            "queued" => State::Queued,
            "running" => State::Running,
            "done" => State::Done,
            "cancelled" => State::Cancelled,
            "expired" => State::Expired,
            _ => State::Failed,
        }
    }

    /// Whether the job will not change any more (but expire).
    pub fn is_finished(self) -> bool {
        !matches!(self, State::Queued | State::Running)
    }
}

/// The progress of one item: a render, or a frame of an animation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// Its name: the file in the zip, or the frame.
    pub name: String,
    /// `queued`, `running`, `done` or `failed`.
    pub state: String,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A stored result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Its media type.
    pub media_type: String,
    /// The file name it is downloaded as.
    pub file_name: String,
    /// Its size.
    pub bytes: u64,
    /// Its entity tag (a hash of the bytes).
    pub etag: String,
}

/// A job as stored.
#[derive(Debug, Clone)]
pub struct Record {
    /// Its id.
    pub id: String,
    /// The API key's name that submitted it.
    pub owner: String,
    /// The validated body, as JSON.
    pub spec: String,
    /// Where it is.
    pub state: State,
    /// Each item's progress.
    pub items: Vec<Item>,
    /// When it was accepted.
    pub created_at: DateTime<Utc>,
    /// When a runner took it.
    pub started_at: Option<DateTime<Utc>>,
    /// When it finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// When its result is deleted.
    pub expires_at: Option<DateTime<Utc>>,
    /// Why it failed.
    pub error: Option<String>,
    /// Its result, once done.
    pub output: Option<Output>,
}

pub(super) const COLUMNS: &str = "id, owner, spec, state, items, created_at, started_at, finished_at, \
     expires_at, error, result_type, result_name, result_bytes, result_etag";

impl Record {
    /// `animation` or `renders`, for metrics and logs.
    pub fn kind(&self) -> &'static str {
        // The stored body is serialized with only the field it has.
        if self.spec.starts_with("{\"animation\"") {
            "animation"
        } else if self.spec.starts_with("{\"screenshots\"") {
            "screenshots"
        } else if self.spec.starts_with("{\"crawl\"") {
            "crawl"
        } else {
            "renders"
        }
    }

    pub(super) fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        let time = |col: &str| -> Result<Option<DateTime<Utc>>, sqlx::Error> {
            let s: Option<String> = row.try_get(col)?;
            Ok(s.as_deref().and_then(parse_timestamp))
        };
        let items: String = row.try_get("items")?;
        let state: String = row.try_get("state")?;
        let media_type: Option<String> = row.try_get("result_type")?;
        let output = match media_type {
            Some(media_type) => Some(Output {
                media_type,
                file_name: row
                    .try_get::<Option<String>, _>("result_name")?
                    .unwrap_or_default(),
                bytes: row.try_get::<Option<i64>, _>("result_bytes")?.unwrap_or(0) as u64,
                etag: row
                    .try_get::<Option<String>, _>("result_etag")?
                    .unwrap_or_default(),
            }),
            None => None,
        };
        Ok(Self {
            id: row.try_get("id")?,
            owner: row.try_get("owner")?,
            spec: row.try_get("spec")?,
            state: State::parse(&state),
            items: serde_json::from_str(&items).unwrap_or_default(),
            created_at: time("created_at")?.unwrap_or_default(),
            started_at: time("started_at")?,
            finished_at: time("finished_at")?,
            expires_at: time("expires_at")?,
            error: row.try_get("error")?,
            output,
        })
    }
}

/// The job records.
pub(super) fn items_json(items: &[Item]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
}
