//! Coordination through Redis: claims are `SET NX PX` keys with a random
//! token, renewed while their work runs and released with a notice on a
//! pub/sub channel; turns carry their end time; failures and host permits
//! are keys with a time to live. An outage is logged once when it starts
//! and once when it ends; `/status` shows it.

mod client;
mod fetch;
mod health;
mod notify;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use ::redis::RedisResult;

use super::{Claim, Coordinate, CoordinationStatus, Held, Lease, MAX_WAIT, Outcome, Waited};
use crate::config::CoordinationConfig;
use crate::supervisor::Supervisor;
use client::Redis;
use health::Link;
use notify::Waiters;

/// Replicas coordinating through one Redis.
struct Shared {
    redis: Redis,
    link: Arc<Link>,
    waiters: Waiters,
    ttl: Duration,
}

/// Coordination through the Redis of `config`; its notice listener runs
/// under `supervisor`. A bad URL is logged and the replica works alone.
pub(super) fn start(
    config: &CoordinationConfig,
    supervisor: &Supervisor,
) -> Option<Arc<dyn Coordinate>> {
    let url = config.redis_url.as_ref()?;
    let ca = config.redis_ca_pem.as_deref();
    let redis = match Redis::new(url.expose(), &config.prefix, ca) {
        Ok(redis) => redis,
        Err(e) => {
            tracing::error!(error = %e, "cannot use coordination.redis_url; this replica works alone");
            return None;
        }
    };
    let shared = Arc::new(Shared {
        waiters: Waiters::default(),
        link: Arc::default(),
        redis,
        ttl: config.claim_ttl,
    });
    notify::spawn_listener(supervisor, shared.clone());
    tracing::info!(redis = %shared.redis.describe(), "replicas coordinate through Redis");
    Some(shared)
}

impl Shared {
    /// Runs a Redis `command` unless calls pause for an outage; its value
    /// when it worked.
    async fn call<T>(&self, command: impl Future<Output = RedisResult<T>>) -> Option<T> {
        if !self.link.may_try() {
            return None;
        }
        self.link.watch(command.await)
    }
}

#[async_trait::async_trait]
impl Coordinate for Shared {
    fn status(&self) -> CoordinationStatus {
        self.link.status()
    }

    async fn claim(&self, name: &str) -> Claim {
        let token = client::token();
        let key = self.redis.key("claim", name);
        match self.call(self.redis.set_nx(&key, &token, self.ttl)).await {
            Some(true) => Claim::Won(RedisLease::start(self, name, key, token, true)),
            Some(false) => Claim::Held,
            None => Claim::Alone,
        }
    }

    async fn take_turn(&self, name: &str, now: DateTime<Utc>, hold: Duration) -> Claim {
        let hold_ms = i64::try_from(hold.as_millis()).unwrap_or(i64::MAX);
        let till = now.timestamp_millis().saturating_add(hold_ms);
        // The value names the turn's end and its holder, so only the
        // holder gives it back. Its time is the replicas' clock, so the
        // clock they serve by decides turns.
        let value = format!("{till}:{}", client::token());
        let key = self.redis.key("turn", name);
        let taken = self
            .redis
            .take_turn(&key, now.timestamp_millis(), &value, hold);
        match self.call(taken).await {
            Some(true) => Claim::Won(RedisLease::start(self, name, key, value, false)),
            Some(false) => Claim::Held,
            None => Claim::Alone,
        }
    }

    async fn wait(&self, name: &str) -> Waited {
        // Listen first, then look: a notice sent in between is not lost.
        let mut notice = self.waiters.listen(name);
        let key = self.redis.key("claim", name);
        let poll = (self.ttl / 3).clamp(Duration::from_millis(100), Duration::from_secs(1));
        let deadline = Instant::now() + MAX_WAIT;
        loop {
            match self.call(self.redis.exists(&key)).await {
                None => return Waited::Alone,
                Some(false) => return Waited::Vanished,
                Some(true) if Instant::now() >= deadline => return Waited::Alone,
                Some(true) => {}
            }
            tokio::select! {
                outcome = notice.next() => return Waited::Done(Outcome::from_notice(&outcome)),
                () = tokio::time::sleep(poll) => {}
            }
        }
    }
}

/// A claim or turn held in Redis, renewed by a task while it lives.
struct RedisLease {
    redis: Redis,
    link: Arc<Link>,
    name: String,
    key: String,
    token: String,
    renewal: Option<tokio::task::JoinHandle<()>>,
}

impl RedisLease {
    fn start(shared: &Shared, name: &str, key: String, token: String, renew: bool) -> Lease {
        let renewal = renew.then(|| {
            let (redis, key, token, ttl) =
                (shared.redis.clone(), key.clone(), token.clone(), shared.ttl);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(ttl / 3).await;
                    if let Ok(false) = redis.renew(&key, &token, ttl).await {
                        // Lost (expired while Redis was away, and taken):
                        // the work goes on; its result is stored all the same.
                        tracing::debug!(%key, "a claim was lost while its work ran");
                        break;
                    }
                }
            })
        });
        Lease::new(Self {
            redis: shared.redis.clone(),
            link: shared.link.clone(),
            name: name.to_string(),
            key,
            token,
            renewal,
        })
    }

    fn stop_renewal(&mut self) {
        if let Some(renewal) = self.renewal.take() {
            renewal.abort();
        }
    }
}

#[async_trait::async_trait]
impl Held for RedisLease {
    async fn finish(mut self: Box<Self>, outcome: Outcome) {
        self.stop_renewal();
        let released = self
            .redis
            .release(&self.key, &self.token, &self.name, outcome.as_str());
        if self.link.may_try() {
            self.link.watch(released.await);
        }
    }
}

impl Drop for RedisLease {
    fn drop(&mut self) {
        // Dropped unfinished: stop renewing, so the claim expires.
        self.stop_renewal();
    }
}

/// A per-host fetch permit shared by replicas; given back when dropped.
struct HostPermit {
    redis: Redis,
    key: String,
    token: String,
}

impl Drop for HostPermit {
    fn drop(&mut self) {
        let (redis, key, token) = (self.redis.clone(), self.key.clone(), self.token.clone());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = redis.release_permit(&key, &token).await;
            });
        }
    }
}
