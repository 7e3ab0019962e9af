//! Single flight: one component for work that is shared, bounded and
//! watched (renders, and fetches of a spot). Submitting work under a key
//! returns a [`JobHandle`] with an id, the key and a watchable [`Stage`];
//! identical keys in flight share one job; at most `limit` jobs are in
//! flight, and one more is refused with [`Busy`]. Jobs run as their own
//! tasks, so a caller that goes away does not cancel a render half-way.
//! (The job API, which clients call, is the server's `jobs`.) CPU-bound
//! steps run through [`Cpu`], on blocking threads behind a limit.
//!
//! The HTTP path waits on handles; the scheduler and the job API submit
//! through the same table and watch the same handles.

mod cpu;

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures_util::FutureExt;
use tokio::sync::watch;

pub use cpu::{Cpu, CpuError};

/// A job's id, unique within the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub u64);

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Accepted, not started.
    Queued,
    /// Fetching the spot's sources.
    Fetching,
    /// Filling, drawing and encoding.
    Drawing,
    /// Finished with a result.
    Done,
    /// Finished with an error.
    Failed,
}

/// Why a new job was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Busy {
    /// The table is full: `limit` jobs are queued or running.
    #[error("{limit} jobs are already queued or running")]
    Full {
        /// The table's limit.
        limit: usize,
    },
    /// The submitter already has `limit` jobs of its own queued or running.
    #[error("{limit} jobs of this submitter are already queued or running")]
    Owner {
        /// The limit per submitter.
        limit: usize,
    },
}

/// Who started a job, for the limit per submitter: a client address, an API
/// key, as 128 bits. Jobs with no owner count only against the table's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Owner(pub u128);

/// The job's task panicked; its callers get this instead of a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the job panicked")]
pub struct JobPanicked;

/// What a job's work reports its stage through.
#[derive(Debug, Clone)]
pub struct Progress(Arc<watch::Sender<Stage>>);

impl Progress {
    /// Moves the job to `stage` (`Done` and `Failed` are set by the table).
    pub fn set(&self, stage: Stage) {
        self.0.send_replace(stage);
    }
}

/// A job's result: `None` until it finishes.
type Outcome<T, E> = Option<Result<T, E>>;

/// A submitted job: its id and key, its stage, and its result once done.
/// Cloning the handle watches the same job.
#[derive(Debug, Clone)]
pub struct JobHandle<K, T, E> {
    id: JobId,
    key: K,
    stage: watch::Receiver<Stage>,
    result: watch::Receiver<Outcome<T, E>>,
}

impl<K, T: Clone, E: Clone> JobHandle<K, T, E> {
    /// The job's id.
    pub fn id(&self) -> JobId {
        self.id
    }

    /// The key it was submitted under.
    pub fn key(&self) -> &K {
        &self.key
    }

    /// Its stage now.
    pub fn stage(&self) -> Stage {
        *self.stage.borrow()
    }

    /// Waits until the stage changes from `seen`; returns the new one.
    pub async fn changed(&mut self, seen: Stage) -> Stage {
        if let Ok(stage) = self.stage.wait_for(|s| *s != seen).await {
            return *stage;
        }
        // The table drops the sender only after the last stage is set.
        *self.stage.borrow()
    }

    /// Waits for the result.
    pub async fn wait(mut self) -> Result<T, E>
    where
        E: From<JobPanicked>,
    {
        match self.result.wait_for(Option::is_some).await {
            Ok(done) => done.clone().unwrap_or(Err(JobPanicked.into())),
            Err(_) => Err(JobPanicked.into()),
        }
    }
}

/// A job in the table, as the status page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobInfo<K> {
    /// Its id.
    pub id: JobId,
    /// Its key.
    pub key: K,
    /// Its stage.
    pub stage: Stage,
}

/// A job in flight and who started it.
struct Entry<K, T, E> {
    handle: JobHandle<K, T, E>,
    owner: Option<Owner>,
}

/// The jobs in flight by key, shared with each job's task, which removes itself.
type Table<K, T, E> = Arc<Mutex<HashMap<K, Entry<K, T, E>>>>;

/// The table of jobs in flight, by key.
pub struct SingleFlight<K, T, E> {
    running: Table<K, T, E>,
    limit: usize,
    per_owner: usize,
    next_id: Arc<AtomicU64>,
}

impl<K, T, E> SingleFlight<K, T, E>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    T: Clone + Send + Sync + 'static,
    E: Clone + Send + Sync + From<JobPanicked> + 'static,
{
    /// A table holding at most `limit` jobs in flight.
    pub fn new(limit: usize) -> Self {
        Self::with_owner_limit(limit, usize::MAX)
    }

    /// A table holding at most `limit` jobs in flight, and at most
    /// `per_owner` started by any one owner.
    pub fn with_owner_limit(limit: usize, per_owner: usize) -> Self {
        Self {
            running: Arc::new(Mutex::new(HashMap::new())),
            limit: limit.max(1),
            per_owner: per_owner.max(1),
            next_id: Arc::new(AtomicU64::new(1)),
        }
    }

    /// Joins the job in flight for `key`, or starts `work` as a new one.
    /// Refused with [`Busy`] only when a new job would pass the limit.
    pub fn submit<F, Fut>(&self, key: K, work: F) -> Result<JobHandle<K, T, E>, Busy>
    where
        F: FnOnce(Progress) -> Fut,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        self.submit_as(None, key, work)
    }

    /// Like [`SingleFlight::submit`], for `owner`: joining is always allowed, but a
    /// new job counts against the owner's own limit too.
    pub fn submit_as<F, Fut>(
        &self,
        owner: Option<Owner>,
        key: K,
        work: F,
    ) -> Result<JobHandle<K, T, E>, Busy>
    where
        F: FnOnce(Progress) -> Fut,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        let mut running = lock(&self.running);
        if let Some(entry) = running.get(&key) {
            return Ok(entry.handle.clone());
        }
        if running.len() >= self.limit {
            return Err(Busy::Full { limit: self.limit });
        }
        if let Some(owner) = &owner {
            let own = running.values().filter(|e| e.owner == Some(*owner)).count();
            if own >= self.per_owner {
                return Err(Busy::Owner {
                    limit: self.per_owner,
                });
            }
        }
        let id = JobId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let (stage_tx, stage) = watch::channel(Stage::Queued);
        let (result_tx, result) = watch::channel(None);
        let stage_tx = Arc::new(stage_tx);
        let fut = work(Progress(stage_tx.clone()));
        let handle = JobHandle {
            id,
            key: key.clone(),
            stage,
            result,
        };
        let entry = Entry {
            handle: handle.clone(),
            owner,
        };
        running.insert(key.clone(), entry);
        let table = self.running.clone();
        // The lock is held until the job is in the table, so the task's own
        // removal always comes after its insertion.
        tokio::spawn(async move {
            let outcome = std::panic::AssertUnwindSafe(fut)
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Err(JobPanicked.into()));
            lock(&table).remove(&key);
            stage_tx.send_replace(if outcome.is_ok() {
                Stage::Done
            } else {
                Stage::Failed
            });
            result_tx.send_replace(Some(outcome));
        });
        Ok(handle)
    }

    /// The job in flight for `key`, to watch it.
    pub fn find(&self, key: &K) -> Option<JobHandle<K, T, E>> {
        lock(&self.running).get(key).map(|e| e.handle.clone())
    }

    /// Every job in flight.
    pub fn list(&self) -> Vec<JobInfo<K>> {
        let mut out: Vec<_> = lock(&self.running)
            .values()
            .map(|e| JobInfo {
                id: e.handle.id,
                key: e.handle.key.clone(),
                stage: *e.handle.stage.borrow(),
            })
            .collect();
        out.sort_by_key(|j| j.id);
        out
    }

    /// How many jobs are in flight.
    pub fn len(&self) -> usize {
        lock(&self.running).len()
    }

    /// Whether no job is in flight.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
