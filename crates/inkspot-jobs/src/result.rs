//! A job's result on its way out and in: written through a cap, so no job
//! writes more than it has room for, and checked against its recorded size
//! and checksum before it is served, so a damaged file is never sent.

use std::io::{Seek, SeekFrom, Write};

use futures_util::TryStreamExt;

use super::records::Output;
use super::records::Records;
use super::{JobError, State};
use crate::engine::Engine;
use crate::store::Blob;

/// The blob a job's result is stored as.
pub(super) fn blob_name(id: &str) -> String {
    format!("job-{id}")
}

/// Why a result stopped being written: it passed its room.
#[derive(Debug, thiserror::Error)]
#[error(
    "the result passed the {limit} bytes this job may write (the least of `jobs.max_result_bytes`, what is left of the key's `max_bytes` and of `jobs.max_disk`)"
)]
pub struct TooLarge {
    /// The room it had.
    pub limit: u64,
}

impl TooLarge {
    /// The cap's complaint inside `e`, however deep: a zip or image
    /// encoder wraps the writer's error in its own, in an `io::Error`.
    pub fn within(e: &std::io::Error) -> Option<&TooLarge> {
        let mut at: Option<&(dyn std::error::Error + 'static)> = e.get_ref().map(|i| i as _);
        while let Some(error) = at {
            if let Some(too_large) = error.downcast_ref::<TooLarge>() {
                return Some(too_large);
            }
            // An io::Error's source skips its own payload: look inside.
            at = match error.downcast_ref::<std::io::Error>() {
                Some(io) => io.get_ref().map(|i| i as _),
                None => error.source(),
            };
        }
        None
    }
}

/// A file that refuses to grow past `limit` bytes. It counts the furthest
/// byte written, since a zip writer seeks back to fill in headers.
pub struct Capped<W> {
    inner: W,
    limit: u64,
    at: u64,
    end: u64,
}

impl<W> Capped<W> {
    /// `inner`, empty, allowed `limit` bytes.
    pub fn new(inner: W, limit: u64) -> Self {
        Self {
            inner,
            limit,
            at: 0,
            end: 0,
        }
    }
}

impl<W: Write> Write for Capped<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.at + buf.len() as u64 > self.limit {
            return Err(std::io::Error::other(TooLarge { limit: self.limit }));
        }
        let n = self.inner.write(buf)?;
        self.at += n as u64;
        self.end = self.end.max(self.at);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<W: Seek> Seek for Capped<W> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.at = self.inner.seek(to)?;
        Ok(self.at)
    }
}

/// The stored result of job `id`, once its size and checksum match what
/// was recorded when it was written. A result that does not is deleted and
/// the job marked failed in `records`, saying why.
pub(super) async fn checked_blob(
    engine: &Engine,
    records: &Records,
    id: &str,
    output: &Output,
) -> Result<Blob, JobError> {
    let store = engine.store();
    let gone = || JobError::Gone {
        id: id.to_string(),
        state: State::Expired,
    };
    let blob = store.open_blob(&blob_name(id)).await?.ok_or_else(gone)?;
    if blob.len != output.bytes {
        let why = format!("{} bytes stored, {} written", blob.len, output.bytes);
        return Err(damaged(engine, records, id, &why).await);
    }
    if output.etag.is_empty() {
        // Written before checksums were kept: only its size is known.
        return Ok(blob);
    }
    let mut hasher = blake3::Hasher::new();
    let mut body = blob.body;
    while let Some(chunk) = body.try_next().await.map_err(|e| io_error(id, e))? {
        hasher.update(&chunk);
    }
    if !hasher.finalize().to_hex().starts_with(&output.etag) {
        return Err(damaged(engine, records, id, "its checksum does not match").await);
    }
    store.open_blob(&blob_name(id)).await?.ok_or_else(gone)
}

/// Deletes the damaged result of job `id`, records why on the job, and
/// gives the error its download answers.
async fn damaged(engine: &Engine, records: &Records, id: &str, why: &str) -> JobError {
    tracing::error!(job = %id, %why, "a job's stored result is damaged; deleting it");
    let _ = engine.store().delete_blob(&blob_name(id)).await;
    let error =
        format!("the stored result was damaged ({why}) and has been deleted; submit the job again");
    let now = engine.clock().now();
    if let Err(e) = records.damaged(id, &error, now).await {
        tracing::warn!(job = %id, error = %e, "cannot record a damaged result");
    }
    JobError::Damaged(id.to_string())
}

fn io_error(id: &str, e: std::io::Error) -> JobError {
    JobError::Store(crate::store::StoreError::Io {
        op: "read",
        path: blob_name(id),
        source: e,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capped_file_refuses_the_byte_past_its_limit_even_after_seeking_back() {
        let mut file = Capped::new(std::io::Cursor::new(Vec::new()), 10);
        file.write_all(b"12345678").unwrap();
        file.seek(SeekFrom::Start(0)).unwrap();
        file.write_all(b"ab").unwrap();
        file.seek(SeekFrom::End(0)).unwrap();
        file.write_all(b"90").unwrap();
        let e = file.write_all(b"x").unwrap_err();
        assert_eq!(TooLarge::within(&e).map(|t| t.limit), Some(10));
        assert_eq!(file.inner.into_inner(), b"ab34567890");
    }

    /// A zip that passes its room while finishing says so through the zip
    /// writer's own error.
    #[test]
    fn the_cap_is_found_inside_a_zip_writers_error() {
        let file = Capped::new(std::io::Cursor::new(Vec::new()), 200);
        let mut zip = zip::ZipWriter::new(file);
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        let mut failed = zip
            .start_file("a.bin", stored)
            .err()
            .map(std::io::Error::other);
        if failed.is_none() {
            failed = zip.write_all(&[7u8; 150]).err();
        }
        if failed.is_none() {
            failed = zip.finish().err().map(std::io::Error::other);
        }
        let e = failed.expect("300 bytes of zip do not fit in 200");
        assert_eq!(TooLarge::within(&e).map(|t| t.limit), Some(200), "{e}");
    }
}
