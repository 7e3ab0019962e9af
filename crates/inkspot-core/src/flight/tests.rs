use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::oneshot;

use super::*;

#[derive(Debug, Clone, PartialEq)]
enum Error {
    Said(&'static str),
    Panicked,
}

impl From<JobPanicked> for Error {
    fn from(_: JobPanicked) -> Self {
        Error::Panicked
    }
}

type Table = SingleFlight<&'static str, usize, Error>;

#[tokio::test]
async fn a_job_goes_through_its_stages_and_every_watcher_sees_them() {
    let jobs = Table::new(4);
    let (go_fetch, fetch) = oneshot::channel::<()>();
    let (go_draw, draw) = oneshot::channel::<()>();
    let (go_done, done) = oneshot::channel::<()>();
    let mut handle = jobs
        .submit("k", |progress| async move {
            fetch.await.unwrap();
            progress.set(Stage::Fetching);
            draw.await.unwrap();
            progress.set(Stage::Drawing);
            done.await.unwrap();
            Ok(7)
        })
        .unwrap();
    assert_eq!(handle.stage(), Stage::Queued);
    assert_eq!(jobs.list()[0].stage, Stage::Queued);
    go_fetch.send(()).unwrap();
    assert_eq!(handle.changed(Stage::Queued).await, Stage::Fetching);
    go_draw.send(()).unwrap();
    assert_eq!(handle.changed(Stage::Fetching).await, Stage::Drawing);
    assert_eq!(jobs.find(&"k").unwrap().stage(), Stage::Drawing);
    go_done.send(()).unwrap();
    assert_eq!(handle.changed(Stage::Drawing).await, Stage::Done);
    assert_eq!(handle.wait().await, Ok(7));
    assert!(jobs.is_empty(), "a finished job leaves the table");
}

#[tokio::test]
async fn identical_keys_share_one_job_and_a_later_one_runs_again() {
    let jobs = Table::new(4);
    let runs = Arc::new(AtomicUsize::new(0));
    let work = |runs: Arc<AtomicUsize>| {
        move |_: Progress| async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok(runs.fetch_add(1, Ordering::SeqCst) + 1)
        }
    };
    let handles: Vec<_> = (0..10)
        .map(|_| jobs.submit("k", work(runs.clone())).unwrap())
        .collect();
    let ids: std::collections::HashSet<_> = handles.iter().map(JobHandle::id).collect();
    assert_eq!(ids.len(), 1, "one job id for ten submissions");
    for h in handles {
        assert_eq!(h.wait().await, Ok(1));
    }
    let again = jobs.submit("k", work(runs.clone())).unwrap();
    assert_ne!(again.id(), *ids.iter().next().unwrap());
    assert_eq!(again.wait().await, Ok(2));
}

#[tokio::test]
async fn a_full_table_refuses_new_keys_but_joins_running_ones() {
    let jobs = Table::new(1);
    let slow = |_: Progress| async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok(1)
    };
    let a = jobs.submit("a", slow).unwrap();
    assert_eq!(jobs.submit("b", slow).unwrap_err(), Busy::Full { limit: 1 });
    let joined = jobs.submit("a", slow).unwrap();
    assert_eq!(joined.id(), a.id());
    assert_eq!((a.wait().await, joined.wait().await), (Ok(1), Ok(1)));
    assert!(jobs.submit("b", slow).is_ok(), "room again");
}

#[tokio::test]
async fn an_owner_may_start_only_its_share_but_may_join_any_job() {
    let jobs = Table::with_owner_limit(10, 1);
    let slow = |_: Progress| async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok(1)
    };
    let (alice, bob) = (Owner(1), Owner(2));
    let a = jobs.submit_as(Some(alice), "a", slow).unwrap();
    assert_eq!(
        jobs.submit_as(Some(alice), "b", slow).unwrap_err(),
        Busy::Owner { limit: 1 }
    );
    let b = jobs.submit_as(Some(bob), "b", slow).unwrap();
    // Joining a running job is free, whoever started it.
    assert_eq!(jobs.submit_as(Some(alice), "b", slow).unwrap().id(), b.id());
    assert!(
        jobs.submit("c", slow).is_ok(),
        "no owner: only the table's limit"
    );
    a.wait().await.unwrap();
    assert!(jobs.submit_as(Some(alice), "d", slow).is_ok(), "room again");
}

#[tokio::test]
async fn errors_and_panics_fail_the_job_for_every_watcher() {
    let jobs = Table::new(4);
    let failed = jobs
        .submit("e", |_| async { Err(Error::Said("no")) })
        .unwrap();
    let watcher = failed.clone();
    assert_eq!(failed.wait().await, Err(Error::Said("no")));
    assert_eq!(watcher.stage(), Stage::Failed);

    let panicked = jobs
        .submit("p", |_| async {
            if true {
                panic!("boom");
            }
            Ok(0)
        })
        .unwrap();
    assert_eq!(panicked.clone().wait().await, Err(Error::Panicked));
    assert_eq!(panicked.stage(), Stage::Failed);
    assert!(jobs.is_empty());
}

#[tokio::test]
async fn cpu_work_is_limited_and_a_panic_is_an_error() {
    let cpu = Cpu::new(1);
    let (a, b) = tokio::join!(
        cpu.run(|| std::thread::sleep(Duration::from_millis(30))),
        cpu.run(|| 5)
    );
    assert!(a.is_ok());
    assert_eq!(b.unwrap(), 5);
    let r = cpu.run(|| -> u8 { panic!("boom") }).await;
    assert!(matches!(r, Err(CpuError::Panicked)));
    assert_eq!(cpu.busy(), 0);
}
