//! The time the service reads and waits on: the system clock in
//! production, and a clock that tests set and advance, so expiry and
//! scheduling are tested without sleeping.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

/// A wait on a clock.
pub type Sleep<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// A source of "now", and of waiting for a later time.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;

    /// Resolves once the clock shows `deadline` or later: at once when it
    /// has passed. Background work waits on this, never on tokio's timer
    /// directly, so a test's clock drives it.
    fn sleep_until(&self, deadline: DateTime<Utc>) -> Sleep<'_>;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep_until(&self, deadline: DateTime<Utc>) -> Sleep<'_> {
        Box::pin(async move {
            // Measured again after each wake: the wall clock may have been
            // set while waiting.
            while let Ok(left) = (deadline - Utc::now()).to_std() {
                if left.is_zero() {
                    break;
                }
                tokio::time::sleep(left).await;
            }
        })
    }
}

/// A clock that stands still until it is set or advanced: for tests and
/// for demos that render at a fixed time. Waits on it end when it is moved
/// past their deadline.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<watch::Sender<DateTime<Utc>>>,
}

impl ManualClock {
    /// A clock showing `now`.
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            now: Arc::new(watch::Sender::new(now)),
        }
    }

    /// Sets the time.
    pub fn set(&self, now: DateTime<Utc>) {
        self.now.send_replace(now);
    }

    /// Moves the time forward by `by`.
    pub fn advance(&self, by: std::time::Duration) {
        let by = chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX);
        self.now.send_modify(|now| *now += by);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.borrow()
    }

    fn sleep_until(&self, deadline: DateTime<Utc>) -> Sleep<'_> {
        let mut time = self.now.subscribe();
        Box::pin(async move {
            // The sender lives as long as `self`, so this ends only by the
            // clock reaching the deadline.
            let _ = time.wait_for(|now| *now >= deadline).await;
        })
    }
}

/// The clock as the service holds it.
pub type SharedClock = Arc<dyn Clock>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn start() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-22T17:30:00Z")
            .unwrap()
            .to_utc()
    }

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(start());
        let shared: SharedClock = Arc::new(clock.clone());
        assert_eq!(shared.now(), start());
        clock.advance(Duration::from_secs(90));
        assert_eq!((shared.now() - start()).num_seconds(), 90);
        clock.set(start());
        assert_eq!(shared.now(), start());
    }

    #[tokio::test]
    async fn a_wait_on_a_manual_clock_ends_when_it_is_moved_past() {
        let clock = ManualClock::new(start());
        let deadline = start() + chrono::Duration::minutes(10);
        let waiter = {
            let clock = clock.clone();
            tokio::spawn(async move { clock.sleep_until(deadline).await })
        };
        clock.advance(Duration::from_secs(300));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "five minutes in: still waiting");
        clock.advance(Duration::from_secs(300));
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("ends once the clock reaches the deadline")
            .unwrap();
        // A deadline already passed does not wait.
        clock.sleep_until(start()).await;
    }

    #[tokio::test]
    async fn a_wait_on_the_system_clock_ends_at_its_deadline() {
        let deadline = Utc::now() + chrono::Duration::milliseconds(30);
        tokio::time::timeout(Duration::from_secs(5), SystemClock.sleep_until(deadline))
            .await
            .expect("ends");
        assert!(Utc::now() >= deadline);
    }
}
