//! The render store. [`Backend`] is the storage interface: rendered images
//! and their metadata, by [`Key`]. [`Store`] puts a moka memory cache,
//! bounded by bytes, in front of any backend and tracks its health. The
//! disk ([`DiskBackend`]) is the first backend; every backend passes the
//! same [`conformance`] suite.

mod blob;
pub mod conformance;
mod disk;
mod layered;
#[cfg(feature = "s3")]
mod s3;

use std::sync::Arc;
use std::time::Duration;

pub use blob::{Blob, is_blob_name};
pub use disk::DiskBackend;
pub use inkspot_core::artifact::{Checksum, Head, MediaType, Meta, Rendered};
pub use layered::{Health, Store, Usage};
#[cfg(feature = "s3")]
pub use s3::S3Backend;

/// How much a backend may keep.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Most bytes stored; the renders used longest ago go first.
    pub max_bytes: u64,
    /// Renders neither stored nor used for this long are deleted.
    pub max_age: Duration,
}

/// What a retention sweep found and did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sweep {
    /// Renders (image and metadata) deleted.
    pub removed: usize,
    /// Renders left in the backend.
    pub kept: usize,
    /// Bytes left in the backend.
    pub kept_bytes: u64,
}

/// Identifies one stored render: a configured spot and an output variant.
/// Both parts come from configuration or from our own hashing, never from
/// request text, because they become file names and object keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    // Shared strings: a key is cloned on every cache hit.
    spot: Arc<str>,
    variant: Arc<str>,
}

impl Key {
    /// The key of `variant` of the spot with `slug`. Both must be made of
    /// `[a-z0-9-]` (slugs are validated at config load; variants are ours).
    pub fn new(slug: &str, variant: &str) -> Self {
        debug_assert!(is_file_safe(slug) && is_file_safe(variant));
        Self {
            spot: slug.into(),
            variant: variant.into(),
        }
    }

    /// The key for names read back from a backend, if they are well formed.
    pub fn parse(slug: &str, variant: &str) -> Option<Self> {
        (is_file_safe(slug) && is_file_safe(variant)).then(|| Self::new(slug, variant))
    }

    /// The spot's slug.
    pub fn spot(&self) -> &str {
        &self.spot
    }

    /// The output variant.
    pub fn variant(&self) -> &str {
        &self.variant
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.spot, self.variant)
    }
}

fn is_file_safe(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A render a backend holds, as listed: its key, metadata and size.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    /// Where it is stored.
    pub key: Key,
    /// Its metadata.
    pub meta: Meta,
    /// The image's size in bytes.
    pub bytes: u64,
}

/// Errors from a storage backend.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file or object operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or object.
        path: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// An object store operation failed.
    #[error("{op} {path}: {source}")]
    Remote {
        /// What was being done.
        op: &'static str,
        /// The object.
        path: String,
        /// Why it failed (the object store client's error).
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The metadata does not parse.
    #[error("bad metadata in {path}: {source}")]
    BadMeta {
        /// The file or object.
        path: String,
        /// The parser's complaint.
        source: serde_json::Error,
    },
    /// The image does not match its checksum (truncated or damaged).
    #[error("checksum mismatch for {0}")]
    Checksum(String),
    /// A document name that is not `[a-z0-9-]`.
    #[error("`{0}` cannot name a document: use a-z, 0-9 and -")]
    BadName(String),
    /// A blocking task did not finish.
    #[error("storage task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl StoreError {
    /// Whether the system refused the operation for lack of permission.
    pub fn is_permission_denied(&self) -> bool {
        matches!(self, StoreError::Io { source, .. } if source.kind() == std::io::ErrorKind::PermissionDenied)
    }
}

/// Where renders are kept: the disk, or S3. Writes must be atomic from a
/// reader's point of view: a reader gets the old render or the new one,
/// never half of one, and never an image whose bytes do not match its
/// metadata.
#[async_trait::async_trait]
pub trait RenderStore: Send + Sync + 'static {
    /// A short name for logs and status, such as `disk`.
    fn name(&self) -> &'static str;

    /// Whether replicas share it (S3): its outage is every replica's, so it
    /// degrades a replica rather than making it unready.
    fn is_shared(&self) -> bool {
        false
    }

    /// Prepares the backend for use (creates a folder, removes debris left
    /// by a crash). Called once at start-up.
    async fn open(&self) -> Result<(), StoreError>;

    /// The render stored under `key`, if there is one.
    async fn get(&self, key: &Key) -> Result<Option<Rendered>, StoreError>;

    /// The metadata of the render under `key`, without reading the image.
    async fn meta(&self, key: &Key) -> Result<Option<Meta>, StoreError>;

    /// Stores `rendered` under `key`, replacing what was there.
    async fn put(&self, key: &Key, rendered: &Rendered) -> Result<(), StoreError>;

    /// Deletes the render under `key`; `false` when there was none.
    async fn delete(&self, key: &Key) -> Result<bool, StoreError>;

    /// Every render stored for the spot `slug`, or for every spot.
    async fn list(&self, slug: Option<&str>) -> Result<Vec<Listed>, StoreError>;

    /// Records that the render under `key` was served now, so that sweeps
    /// keep it over renders nobody asks for; `false` when there is none.
    async fn touch(&self, key: &Key) -> Result<bool, StoreError>;

    /// Deletes renders not stored or used within `retention`'s age, then
    /// those used longest ago until the backend holds at most its bytes.
    /// Documents and blobs are never swept.
    async fn sweep(&self, retention: Retention) -> Result<Sweep, StoreError>;
}

/// Small documents beside the renders: the schedule's list of requested
/// variants, a spot's data shared by replicas.
#[async_trait::async_trait]
pub trait DocumentStore: Send + Sync + 'static {
    /// The small document stored as `name` (`[a-z0-9-]`, see
    /// [`is_document_name`]); `None` when there is none.
    async fn get_document(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Stores the document `name`, replacing the previous one atomically.
    async fn put_document(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError>;
}

/// Large files streamed in and out: the job API's results. Never swept:
/// their owner deletes them.
#[async_trait::async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// A local folder for a result being written, before
    /// [`BlobStore::put_blob`] takes it: on the backend's own file system
    /// when it has one, so taking it is a rename.
    fn scratch_dir(&self) -> std::path::PathBuf {
        std::env::temp_dir()
    }

    /// Stores the finished local `file` as the blob `name` (see
    /// [`is_blob_name`]), replacing any blob of that name atomically; the
    /// file is consumed. Returns its size.
    async fn put_blob(&self, name: &str, file: &std::path::Path) -> Result<u64, StoreError>;

    /// The blob `name` as a stream, with its size; `None` when there is none.
    async fn open_blob(&self, name: &str) -> Result<Option<Blob>, StoreError>;

    /// Deletes the blob `name`; `false` when there was none.
    async fn delete_blob(&self, name: &str) -> Result<bool, StoreError>;
}

/// A storage backend: renders, documents and blobs in one place, as the
/// disk and S3 keep them. Each concern has its own trait and its own
/// conformance suite ([`conformance`]).
pub trait Backend: RenderStore + DocumentStore + BlobStore {}

impl<T: RenderStore + DocumentStore + BlobStore> Backend for T {}

/// Whether `name` may name a document: the rules of a key's parts, so it
/// is a safe file or object name too.
pub fn is_document_name(name: &str) -> bool {
    is_file_safe(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    /// The start-up log adds the fix (chown, or a volume) only when the
    /// system refused for lack of permission.
    #[rstest]
    #[case(std::io::ErrorKind::PermissionDenied, true)]
    #[case(std::io::ErrorKind::NotFound, false)]
    fn permission_problems_are_told_apart(#[case] kind: std::io::ErrorKind, #[case] is: bool) {
        let e = StoreError::Io {
            op: "write in",
            path: "/app/cache".into(),
            source: kind.into(),
        };
        assert_eq!(e.is_permission_denied(), is);
    }
}
