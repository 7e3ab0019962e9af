//! Notices of finished claims: one subscription per replica, to every
//! `done` channel of the deployment, handed to the local tasks waiting on
//! that claim. Waiters also look at the claim itself now and then, so a
//! notice lost while the subscription reconnects costs a moment, not a
//! result.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::watch;

use super::Shared;
use crate::supervisor::Supervisor;

/// Local tasks waiting for a notice, by claim name.
#[derive(Clone, Default)]
pub(super) struct Waiters {
    table: Arc<Mutex<HashMap<String, watch::Sender<Option<String>>>>>,
}

/// A registration for the notice of one claim; unregisters when dropped.
pub(super) struct Notice {
    waiters: Waiters,
    name: String,
    receiver: Option<watch::Receiver<Option<String>>>,
}

impl Waiters {
    /// Starts listening for the notice of `name`.
    pub(super) fn listen(&self, name: &str) -> Notice {
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let sender = table
            .entry(name.to_string())
            .or_insert_with(|| watch::channel(None).0);
        Notice {
            waiters: self.clone(),
            name: name.to_string(),
            receiver: Some(sender.subscribe()),
        }
    }

    /// Hands `outcome` to whoever waits on `name`.
    pub(super) fn notify(&self, name: &str, outcome: String) {
        let table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(sender) = table.get(name) {
            sender.send_replace(Some(outcome));
        }
    }
}

impl Notice {
    /// Waits for a notice sent after this registration, and returns its
    /// outcome. (A notice another local waiter of the same claim received
    /// before is not one: the receiver starts with it seen.)
    pub(super) async fn next(&mut self) -> String {
        let Some(receiver) = self.receiver.as_mut() else {
            return std::future::pending().await;
        };
        loop {
            if receiver.changed().await.is_err() {
                // The table keeps the sender while this receiver lives.
                return std::future::pending().await;
            }
            if let Some(outcome) = receiver.borrow_and_update().clone() {
                return outcome;
            }
        }
    }
}

impl Drop for Notice {
    fn drop(&mut self) {
        drop(self.receiver.take());
        let mut table = self
            .waiters
            .table
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if table
            .get(&self.name)
            .is_some_and(|s| s.receiver_count() == 0)
        {
            table.remove(&self.name);
        }
    }
}

/// Starts the replica's subscription under `supervisor`: it reconnects
/// while Redis is away, every second at most. Its connection also tells
/// the link when Redis goes away and comes back, so a replica that serves
/// only hits (and so sends no command) still knows.
pub(super) fn spawn_listener(supervisor: &Supervisor, shared: Arc<Shared>) {
    supervisor.spawn("coordination-notices", move |stop| async move {
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                () = listen(&shared) => {}
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    });
}

/// Subscribes and hands notices to the waiters until the connection ends.
async fn listen(shared: &Shared) {
    let Some(pubsub) = shared.link.watch(shared.redis.subscriber().await) else {
        return;
    };
    let mut messages = pubsub.into_on_message();
    while let Some(message) = messages.next().await {
        let Some(name) = shared.redis.name_of_channel(message.get_channel_name()) else {
            continue;
        };
        let outcome: String = message.get_payload().unwrap_or_default();
        shared.waiters.notify(name, outcome);
    }
    let closed = std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        "the connection to Redis was closed",
    );
    shared.link.watch::<()>(Err(closed.into()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_notice_reaches_every_local_waiter_of_its_claim_only() {
        let waiters = Waiters::default();
        let mut a = waiters.listen("render:x");
        let mut b = waiters.listen("render:x");
        let mut other = waiters.listen("render:y");
        waiters.notify("render:x", "ok".into());
        assert_eq!(a.next().await, "ok");
        assert_eq!(b.next().await, "ok");
        let pending =
            tokio::time::timeout(std::time::Duration::from_millis(50), other.next()).await;
        assert!(pending.is_err(), "y was not finished");
        // A waiter that comes after a notice waits for the next one.
        let mut late = waiters.listen("render:x");
        let stale = tokio::time::timeout(std::time::Duration::from_millis(50), late.next()).await;
        assert!(stale.is_err(), "the earlier notice is not this waiter's");
        waiters.notify("render:x", "failed".into());
        assert_eq!(late.next().await, "failed");
        drop((a, b, other, late));
        assert!(waiters.table.lock().unwrap().is_empty(), "unregistered");
    }
}
