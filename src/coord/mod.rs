//! Coordination between replicas, through Redis: a claim with a time to
//! live on each piece of shared work (a spot's fetch, a render), renewed
//! while the work runs and released with a notice on a pub/sub channel, so
//! replicas waiting for the same work read its stored result instead of
//! doing it again; turns that keep a scheduled run to one replica;
//! remembered source failures; and per-host fetch permits.
//!
//! Without `[coordination] redis_url`, and while Redis cannot be reached,
//! every call answers "alone": the replica falls back to its own
//! single-flight, as a single server works. An outage is logged once, when
//! it starts, and once when it ends; `/status` shows it.

mod fetch;
mod link;
mod notify;
mod redis;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;

use ::redis::RedisResult;

use crate::config::CoordinationConfig;
use crate::supervisor::Supervisor;
use link::Link;
use notify::Waiters;
use redis::Redis;

/// How long a replica waits on work another one claimed before doing it
/// itself: past any fetch's and render's own limits.
const MAX_WAIT: Duration = Duration::from_secs(120);

/// Replicas' shared coordination; cheap to clone. `Coordination::alone()`
/// is the single-server default.
#[derive(Clone, Default)]
pub struct Coordination {
    shared: Option<Arc<Shared>>,
}

struct Shared {
    redis: Redis,
    link: Link,
    waiters: Waiters,
    ttl: Duration,
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

/// The answer to a claim.
pub enum Claim {
    /// This replica holds the claim: it does the work, then finishes it.
    Won(Lease),
    /// Another replica holds it.
    Held,
    /// No coordination now: work alone.
    Alone,
}

/// How a wait on another replica's claim ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waited {
    /// Its owner finished, with this outcome (`ok` or `failed`).
    Done(String),
    /// The claim is gone without a notice: its owner finished unheard, or
    /// died and the claim expired.
    Vanished,
    /// Coordination was lost while waiting.
    Alone,
}

/// What `/status` shows of coordination.
#[derive(Debug, Clone, Serialize)]
pub struct CoordinationStatus {
    /// `redis`, or `none` for a replica on its own.
    pub backend: &'static str,
    /// `connected`, `unreachable`, or `off`.
    pub state: &'static str,
    /// Since when, while unreachable.
    pub since: Option<DateTime<Utc>>,
    /// The last error, while unreachable.
    pub error: Option<String>,
}

impl Coordination {
    /// No coordination: every replica works alone.
    pub fn alone() -> Self {
        Self::default()
    }

    /// Coordination through the Redis of `config`, when it names one; its
    /// notice listener runs under `supervisor`. A bad URL is logged and the
    /// replica works alone.
    pub fn start(config: &CoordinationConfig, supervisor: &Supervisor) -> Self {
        let Some(url) = &config.redis_url else {
            return Self::alone();
        };
        let ca = config.redis_ca_pem.as_deref();
        let redis = match Redis::new(url.expose(), &config.prefix, ca) {
            Ok(redis) => redis,
            Err(e) => {
                tracing::error!(error = %e, "cannot use coordination.redis_url; this replica works alone");
                return Self::alone();
            }
        };
        let shared = Arc::new(Shared {
            waiters: Waiters::default(),
            link: Link::default(),
            redis,
            ttl: config.claim_ttl,
        });
        notify::spawn_listener(supervisor, shared.clone());
        tracing::info!(redis = %shared.redis.describe(), "replicas coordinate through Redis");
        Self {
            shared: Some(shared),
        }
    }

    /// Whether replicas coordinate (Redis is configured, reachable or not).
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// What `/status` shows.
    pub fn status(&self) -> CoordinationStatus {
        match &self.shared {
            None => CoordinationStatus {
                backend: "none",
                state: "off",
                since: None,
                error: None,
            },
            Some(shared) => shared.link.status(),
        }
    }

    /// Claims `name` for the claim's time to live, renewed while the
    /// returned lease lives.
    pub async fn claim(&self, name: &str) -> Claim {
        let Some(shared) = &self.shared else {
            return Claim::Alone;
        };
        let token = redis::token();
        let key = shared.redis.key("claim", name);
        match shared
            .call(shared.redis.set_nx(&key, &token, shared.ttl))
            .await
        {
            Some(true) => Claim::Won(Lease::new(shared.clone(), name, key, token, true)),
            Some(false) => Claim::Held,
            None => Claim::Alone,
        }
    }

    /// Takes the turn `name` from `now` for `hold`, unless another replica
    /// holds it past `now`. Unlike a claim it is not renewed: it keeps the
    /// work to one replica for that long (a scheduled run), unless given
    /// back. Its time is the replicas' clock, so the clock they serve by
    /// decides turns.
    pub async fn take_turn(&self, name: &str, now: DateTime<Utc>, hold: Duration) -> Claim {
        let Some(shared) = &self.shared else {
            return Claim::Alone;
        };
        let hold_ms = i64::try_from(hold.as_millis()).unwrap_or(i64::MAX);
        let till = now.timestamp_millis().saturating_add(hold_ms);
        // The value names the turn's end and its holder, so only the
        // holder gives it back.
        let value = format!("{till}:{}", redis::token());
        let key = shared.redis.key("turn", name);
        let now_ms = now.timestamp_millis();
        let taken = shared.redis.take_turn(&key, now_ms, &value, hold);
        match shared.call(taken).await {
            Some(true) => Claim::Won(Lease::new(shared.clone(), name, key, value, false)),
            Some(false) => Claim::Held,
            None => Claim::Alone,
        }
    }

    /// Waits until the claim on `name` is finished or gone, at most
    /// [`MAX_WAIT`].
    pub async fn wait(&self, name: &str) -> Waited {
        let Some(shared) = &self.shared else {
            return Waited::Alone;
        };
        // Listen first, then look: a notice sent in between is not lost.
        let mut notice = shared.waiters.listen(name);
        let key = shared.redis.key("claim", name);
        let poll = (shared.ttl / 3).clamp(Duration::from_millis(100), Duration::from_secs(1));
        let deadline = Instant::now() + MAX_WAIT;
        loop {
            match shared.call(shared.redis.exists(&key)).await {
                None => return Waited::Alone,
                Some(false) => return Waited::Vanished,
                Some(true) if Instant::now() >= deadline => return Waited::Alone,
                Some(true) => {}
            }
            tokio::select! {
                outcome = notice.next() => return Waited::Done(outcome),
                () = tokio::time::sleep(poll) => {}
            }
        }
    }

    /// Does `work` once across replicas: returns what `check` finds stored
    /// by another replica, else claims `name` and does `work` here, else
    /// waits for the replica that holds the claim and looks again. Alone,
    /// it just does `work`. `work` returns its result and whether it
    /// succeeded, which waiting replicas are told.
    pub async fn once<T, C, CF, W, WF>(&self, name: &str, mut check: C, work: W) -> T
    where
        C: FnMut() -> CF,
        CF: Future<Output = Option<T>>,
        W: FnOnce() -> WF,
        WF: Future<Output = (T, bool)>,
    {
        if !self.is_shared() {
            return work().await.0;
        }
        let started = Instant::now();
        loop {
            if let Some(found) = check().await {
                return found;
            }
            match self.claim(name).await {
                Claim::Won(lease) => {
                    let (result, ok) = work().await;
                    lease.finish(if ok { "ok" } else { "failed" }).await;
                    return result;
                }
                Claim::Alone => return work().await.0,
                Claim::Held => {
                    let waited = self.wait(name).await;
                    if waited == Waited::Alone || started.elapsed() > MAX_WAIT {
                        return work().await.0;
                    }
                }
            }
        }
    }
}

/// A claim or turn this replica holds. A claim is renewed while the lease
/// lives; [`Lease::finish`] releases it and tells the waiting replicas.
pub struct Lease {
    shared: Arc<Shared>,
    name: String,
    key: String,
    token: String,
    renewal: Option<tokio::task::JoinHandle<()>>,
}

impl Lease {
    fn new(shared: Arc<Shared>, name: &str, key: String, token: String, renew: bool) -> Self {
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
        Self {
            shared,
            name: name.to_string(),
            key,
            token,
            renewal,
        }
    }

    /// Releases the claim and tells waiting replicas `outcome`.
    pub async fn finish(mut self, outcome: &str) {
        self.stop_renewal();
        let redis = &self.shared.redis;
        let released = redis.release(&self.key, &self.token, &self.name, outcome);
        self.shared.call(released).await;
    }

    /// Gives a turn back at once, so another replica (or this one) may take
    /// it before it would expire: after a failed run, to retry it.
    pub async fn give_back(self) {
        self.finish("failed").await;
    }

    fn stop_renewal(&mut self) {
        if let Some(renewal) = self.renewal.take() {
            renewal.abort();
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // A lease dropped unfinished (its work panicked or was cancelled)
        // stops renewing, so the claim expires and another replica takes
        // over.
        self.stop_renewal();
    }
}

/// A per-host fetch permit shared by replicas; given back when dropped.
pub struct HostPermit {
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
