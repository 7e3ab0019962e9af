//! Why a job API call failed: one error, mapped to HTTP once at the edge.

use std::time::Duration;

use crate::access::AccessError;
use crate::records::State;
use crate::spec::Problem;
use crate::store::StoreError;

/// Why a job API call failed; the HTTP edge maps each to a status.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// No valid key, or its rate is spent.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// The body does not describe a job this server can do.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<Problem>),
    /// The key already has `limit` jobs queued or running.
    #[error("the key `{name}` already has {limit} jobs queued or running")]
    TooManyJobs {
        /// The key's name.
        name: String,
        /// Its quota.
        limit: usize,
    },
    /// No job of this key has that id (another key's jobs are not shown).
    #[error("no job `{0}`")]
    NotFound(String),
    /// The key used its browser time for this hour.
    #[error(
        "the key `{name}` used its {limit} s of browser time for this hour (`browser_seconds`); try again in {} s",
        retry_after.as_secs() + 1
    )]
    BrowserQuota {
        /// The key's name.
        name: String,
        /// Its `browser_seconds`.
        limit: u64,
        /// When some of it is free again.
        retry_after: Duration,
    },
    /// The key's results fill its `max_bytes`.
    #[error(
        "the key `{name}` keeps {used} bytes of results, at its quota of {limit} (`max_bytes`); delete finished jobs or wait for them to expire"
    )]
    QuotaExceeded {
        /// The key's name.
        name: String,
        /// Bytes of results it keeps.
        used: u64,
        /// Its quota.
        limit: u64,
    },
    /// Every key's results together fill `jobs.max_disk`.
    #[error(
        "the job results fill the server's room for them (`jobs.max_disk`, {limit} bytes); try again once some expire"
    )]
    StorageFull {
        /// The limit.
        limit: u64,
    },
    /// The stored result does not match its recorded size or checksum.
    #[error("job `{0}`'s stored result was damaged and has been deleted; submit the job again")]
    Damaged(String),
    /// The job has no result yet.
    #[error("job `{id}` is {state}; its result can be downloaded once it is done")]
    NotReady {
        /// Its id.
        id: String,
        /// Its state.
        state: State,
    },
    /// The job's result is gone (cancelled, expired, or it failed).
    #[error("job `{id}` is {state}: it has no result")]
    Gone {
        /// Its id.
        id: String,
        /// Its state.
        state: State,
    },
    /// The job database failed.
    #[error("job database: {0}")]
    Db(#[from] sqlx::Error),
    /// The result storage failed.
    #[error("job storage: {0}")]
    Store(#[from] StoreError),
}
