//! Owned background work. Every long-running task (the template watcher,
//! the cache sweeper, the rate limiter's cleanup, and later the scheduler)
//! is started here with a name; shutdown cancels them all and waits until
//! each has returned, so none outlives the service or writes after it.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::FutureExt;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// What a background task is doing, for the status page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    /// Started and not yet returned.
    Running,
    /// Returned on its own or after cancellation.
    Stopped,
    /// Panicked; the service goes on without it.
    Failed,
}

/// Starts, tracks and stops the service's background tasks.
#[derive(Clone, Default)]
pub struct Supervisor {
    token: CancellationToken,
    tasks: Arc<Mutex<JoinSet<()>>>,
    states: Arc<Mutex<BTreeMap<&'static str, TaskState>>>,
}

impl Supervisor {
    /// A supervisor with no tasks.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts `task` under `name`. It gets a token that is cancelled at
    /// shutdown, and must return soon after.
    pub fn spawn<F, Fut>(&self, name: &'static str, task: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let work = task(self.token.child_token());
        let states = self.states.clone();
        lock(&states).insert(name, TaskState::Running);
        lock(&self.tasks).spawn(async move {
            // A panic inside `work` is caught here, so the state is right
            // and aborting this task at shutdown stops `work` too.
            let outcome = std::panic::AssertUnwindSafe(work).catch_unwind().await;
            let state = match outcome {
                Ok(()) => TaskState::Stopped,
                Err(_) => {
                    tracing::error!(task = name, "background task panicked");
                    TaskState::Failed
                }
            };
            lock(&states).insert(name, state);
        });
    }

    /// Every task started so far and its state, by name.
    pub fn tasks(&self) -> BTreeMap<&'static str, TaskState> {
        lock(&self.states).clone()
    }

    /// Whether shutdown has begun.
    pub fn is_stopping(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Cancels every task and waits for all of them, at most `grace`;
    /// returns how many had not stopped by then (they are aborted).
    pub async fn shutdown(&self, grace: Duration) -> usize {
        self.token.cancel();
        let mut tasks = std::mem::take(&mut *lock(&self.tasks));
        let drained =
            tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
        if drained.is_ok() {
            return 0;
        }
        let left = tasks.len();
        tracing::warn!(left, "background tasks did not stop in time; aborting them");
        tasks.shutdown().await;
        left
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn shutdown_cancels_and_awaits_every_task() {
        let supervisor = Supervisor::new();
        let ticks = Arc::new(AtomicUsize::new(0));
        let counter = ticks.clone();
        supervisor.spawn("ticker", move |token| async move {
            loop {
                tokio::select! {
                    () = token.cancelled() => break,
                    () = tokio::time::sleep(Duration::from_millis(5)) => {
                        counter.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
        });
        supervisor.spawn("panics", |_| async { panic!("boom") });
        // Until the ticker has ticked and the panic is seen, however busy
        // the machine is.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while ticks.load(Ordering::SeqCst) == 0
            || supervisor.tasks()["panics"] == TaskState::Running
        {
            assert!(std::time::Instant::now() < deadline, "the tasks never ran");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(supervisor.tasks()["ticker"], TaskState::Running);
        assert_eq!(supervisor.tasks()["panics"], TaskState::Failed);

        assert_eq!(supervisor.shutdown(Duration::from_secs(1)).await, 0);
        assert_eq!(supervisor.tasks()["ticker"], TaskState::Stopped);
        let after = ticks.load(Ordering::SeqCst);
        assert!(after > 0);
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(
            ticks.load(Ordering::SeqCst),
            after,
            "no tick after shutdown"
        );
    }

    #[tokio::test]
    async fn a_task_that_ignores_cancellation_is_aborted_after_the_grace() {
        let supervisor = Supervisor::new();
        supervisor.spawn("stubborn", |_| std::future::pending());
        assert_eq!(supervisor.shutdown(Duration::from_millis(20)).await, 1);
    }
}
