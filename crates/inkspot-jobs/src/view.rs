//! How a job looks through the API: its state, progress per item and
//! timestamps as JSON.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::records::{Item, Record, State};

/// A job, as `GET /api/jobs/{id}` answers.
#[derive(Debug, Clone, Serialize)]
pub struct JobView {
    /// Its id.
    pub id: String,
    /// Where it is. A finished job whose result is past its time shows
    /// `expired` even before the sweep deletes it.
    pub status: State,
    /// Items done, failed, and in all.
    pub progress: Progress,
    /// Each item: its name, state and error.
    pub items: Vec<Item>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When it was accepted.
    pub created_at: String,
    /// When work on it started.
    pub started_at: Option<String>,
    /// When it finished.
    pub finished_at: Option<String>,
    /// When its result is deleted.
    pub expires_at: Option<String>,
    /// The result, once done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<ResultView>,
    /// Where to poll.
    pub status_url: String,
    /// Where to download the result.
    pub download_url: String,
}

/// Counts of items.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Progress {
    /// Items finished with an image.
    pub done: usize,
    /// Items that failed.
    pub failed: usize,
    /// All items.
    pub total: usize,
}

/// A stored result, described.
#[derive(Debug, Clone, Serialize)]
pub struct ResultView {
    /// Its media type.
    pub content_type: String,
    /// Its size.
    pub bytes: u64,
    /// The file name it downloads as.
    pub file_name: String,
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl JobView {
    /// The view of `record` at `now`.
    pub fn of(record: &Record, now: DateTime<Utc>) -> Self {
        let expired = record.expires_at.is_some_and(|t| t <= now)
            && matches!(record.state, State::Done | State::Failed);
        let status = if expired {
            State::Expired
        } else {
            record.state
        };
        let count = |s: &str| record.items.iter().filter(|i| i.state == s).count();
        let result = match (status, &record.output) {
            (State::Done, Some(o)) => Some(ResultView {
                content_type: o.media_type.clone(),
                bytes: o.bytes,
                file_name: o.file_name.clone(),
            }),
            _ => None,
        };
        Self {
            id: record.id.clone(),
            status,
            progress: Progress {
                done: count("done"),
                failed: count("failed"),
                total: record.items.len(),
            },
            items: record.items.clone(),
            error: record.error.clone(),
            created_at: stamp(record.created_at),
            started_at: record.started_at.map(stamp),
            finished_at: record.finished_at.map(stamp),
            expires_at: record.expires_at.map(stamp),
            result,
            status_url: format!("/api/jobs/{}", record.id),
            download_url: format!("/api/jobs/{}/download", record.id),
        }
    }
}
