//! Blobs: large results (a job's zip or animation) that are written once
//! from a local file and read back as a stream, never whole in memory.

use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;

/// A stored blob, ready to stream.
pub struct Blob {
    /// Its size in bytes.
    pub len: u64,
    /// Its bytes, in chunks.
    pub body: Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>,
}

impl std::fmt::Debug for Blob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blob").field("len", &self.len).finish()
    }
}

impl Blob {
    /// Reads the whole blob (for tests and small blobs).
    pub async fn read_all(self) -> std::io::Result<Vec<u8>> {
        use futures_util::TryStreamExt;
        let chunks: Vec<Bytes> = self.body.try_collect().await?;
        Ok(chunks.concat())
    }
}

/// Whether `name` may name a blob: the rules of a key's parts, so it is a
/// safe file or object name too.
pub fn is_blob_name(name: &str) -> bool {
    super::is_file_safe(name)
}
