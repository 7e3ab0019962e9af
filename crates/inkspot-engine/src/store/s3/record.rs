//! A render's record in the bucket: its metadata, its image's name and
//! size, and when it was last used (objects have no writable time).

use bytes::Bytes;
use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::store::{Meta, StoreError};

/// What `<spot>/<variant>.meta.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Record {
    /// The render's metadata.
    pub meta: Meta,
    /// The image's object name beside the record.
    pub image: String,
    /// The image's size.
    pub bytes: u64,
    /// When it was stored or last served, Unix milliseconds.
    pub used_ms: i64,
}

impl Record {
    /// A record of a render stored now.
    pub fn new(meta: Meta, image: String, bytes: u64) -> Self {
        Self {
            meta,
            image,
            bytes,
            used_ms: Utc::now().timestamp_millis(),
        }
    }

    pub fn parse(bytes: &[u8], path: &str) -> Result<Self, StoreError> {
        serde_json::from_slice(bytes).map_err(|source| StoreError::BadMeta {
            path: path.to_string(),
            source,
        })
    }

    pub fn to_bytes(&self) -> Bytes {
        // A record always serializes: it is plain data.
        Bytes::from(serde_json::to_vec(self).unwrap_or_default())
    }
}
