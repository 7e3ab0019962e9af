//! Single flight: concurrent callers asking for the same key share one run
//! of the work. The work runs as its own task, so a caller that goes away
//! does not cancel it half-way.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};

type Flight<V> = Shared<BoxFuture<'static, Option<V>>>;

/// The table of work in progress.
pub struct Flights<K, V: Clone> {
    running: Arc<Mutex<HashMap<K, Flight<V>>>>,
}

impl<K, V> Flights<K, V>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub fn new() -> Self {
        Self {
            running: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Joins the run for `key`, or starts `work` as a new task. The future
    /// gives `None` if the task panicked.
    pub fn run<F>(&self, key: K, work: F) -> impl Future<Output = Option<V>> + use<K, V, F>
    where
        F: Future<Output = V> + Send + 'static,
    {
        self.try_run(key, usize::MAX, work)
            .expect("an unbounded table is never full")
    }

    /// Like [`Flights::run`], but starts no new task while `limit` runs are
    /// in progress: `None` then, unless a run for `key` can be joined.
    pub fn try_run<F>(&self, key: K, limit: usize, work: F) -> Option<Flight<V>>
    where
        F: Future<Output = V> + Send + 'static,
    {
        let mut running = self.running.lock().expect("flight table lock");
        if let Some(flight) = running.get(&key) {
            return Some(flight.clone());
        }
        if running.len() >= limit {
            return None;
        }
        let table = self.running.clone();
        let task_key = key.clone();
        // The lock is held until the flight is in the table, so the task's
        // own removal always comes after its insertion.
        let handle = tokio::spawn(async move {
            let value = work.await;
            table.lock().expect("flight table lock").remove(&task_key);
            value
        });
        let flight = async move { handle.await.ok() }.boxed().shared();
        running.insert(key, flight.clone());
        Some(flight)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn concurrent_callers_share_one_run_and_later_callers_start_another() {
        let flights = Flights::<&str, usize>::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let start = |runs: Arc<AtomicUsize>| async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            runs.fetch_add(1, Ordering::SeqCst) + 1
        };
        let calls: Vec<_> = (0..10)
            .map(|_| flights.run("k", start(runs.clone())))
            .collect();
        let results = futures_util::future::join_all(calls).await;
        assert!(results.iter().all(|r| *r == Some(1)));
        assert_eq!(flights.run("k", start(runs.clone())).await, Some(2));
    }

    #[tokio::test]
    async fn a_full_table_starts_nothing_new_but_can_be_joined() {
        let flights = Flights::<&str, u8>::new();
        let slow = || async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            1
        };
        let a = flights.try_run("a", 1, slow()).expect("room for one");
        assert!(flights.try_run("b", 1, slow()).is_none(), "full");
        let joined = flights.try_run("a", 1, slow()).expect("joins a");
        assert_eq!((a.await, joined.await), (Some(1), Some(1)));
        assert!(flights.try_run("b", 1, slow()).is_some(), "room again");
    }
}
