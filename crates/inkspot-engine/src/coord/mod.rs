//! Coordination between replicas: a claim with a time to live on each
//! piece of shared work (a spot's fetch, a render), renewed while the work
//! runs and released with a notice, so replicas waiting for the same work
//! read its stored result instead of doing it again; turns that keep a
//! scheduled run to one replica; remembered source failures; and per-host
//! fetch permits.
//!
//! [`Coordinate`] is what a backend does; [`Coordination`] is what the
//! engine holds: alone (the single-server default, and a build without the
//! `redis` feature), or shared through Redis (`[coordination] redis_url`).
//! While the backend cannot be reached every call answers "alone": the
//! replica falls back to its own single-flight, as a single server works.

#[cfg(feature = "redis")]
mod redis;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::CoordinationConfig;
use crate::source::FetchShare;
use crate::supervisor::Supervisor;

/// How long a replica waits on work another one claimed before doing it
/// itself: past any fetch's and render's own limits.
const MAX_WAIT: Duration = Duration::from_secs(120);

/// How a piece of shared work ended, as the replicas waiting on it are told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Its result is stored: read it.
    Ok,
    /// It failed: try it yourself.
    Failed,
}

impl Outcome {
    /// The word a notice carries.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
        }
    }

    /// The outcome a notice's word names; anything but `ok` is a failure.
    pub fn from_notice(word: &str) -> Self {
        if word == "ok" {
            Outcome::Ok
        } else {
            Outcome::Failed
        }
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waited {
    /// Its owner finished, with this outcome.
    Done(Outcome),
    /// The claim is gone without a notice: its owner finished unheard, or
    /// died and the claim expired.
    Vanished,
    /// Coordination was lost while waiting.
    Alone,
}

/// Which backend coordinates the replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// A replica on its own.
    None,
    /// Redis.
    Redis,
}

/// Whether the backend answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    /// No backend: nothing to reach.
    Off,
    /// It answers.
    Connected,
    /// It does not, since [`CoordinationStatus::since`].
    Unreachable,
}

/// What `/status` shows of coordination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoordinationStatus {
    /// The backend.
    pub backend: Backend,
    /// Whether it answers.
    pub state: LinkState,
    /// Since when, while unreachable.
    pub since: Option<DateTime<Utc>>,
    /// The last error, while unreachable.
    pub error: Option<String>,
}

/// What a coordination backend does. Each call is bounded in time and
/// answers "alone" (`Claim::Alone`, `Waited::Alone`, `None`) when the
/// backend cannot be reached.
#[async_trait::async_trait]
pub trait Coordinate: FetchShare {
    /// What `/status` shows.
    fn status(&self) -> CoordinationStatus;
    /// Claims `name` for the claim's time to live, renewed while the
    /// returned lease lives.
    async fn claim(&self, name: &str) -> Claim;
    /// Takes the turn `name` from `now` for `hold`, unless another replica
    /// holds it past `now`. Not renewed: it keeps the work to one replica
    /// for that long (a scheduled run), unless given back.
    async fn take_turn(&self, name: &str, now: DateTime<Utc>, hold: Duration) -> Claim;
    /// Waits until the claim on `name` is finished or gone, at most
    /// [`MAX_WAIT`].
    async fn wait(&self, name: &str) -> Waited;
}

/// A claim or turn as its backend holds it.
#[async_trait::async_trait]
pub trait Held: Send {
    /// Releases it and tells the waiting replicas `outcome`.
    async fn finish(self: Box<Self>, outcome: Outcome);
}

/// A claim or turn this replica holds. A claim is renewed while the lease
/// lives; [`Lease::finish`] releases it and tells the waiting replicas. A
/// lease dropped unfinished (its work panicked or was cancelled) stops
/// renewing, so the claim expires and another replica takes over.
pub struct Lease(Box<dyn Held>);

impl Lease {
    /// A lease over what a backend holds.
    pub fn new(held: impl Held + 'static) -> Self {
        Self(Box::new(held))
    }

    /// Releases the claim and tells waiting replicas `outcome`.
    pub async fn finish(self, outcome: Outcome) {
        self.0.finish(outcome).await;
    }

    /// Gives a turn back at once, so another replica (or this one) may take
    /// it before it would expire: after a failed run, to retry it.
    pub async fn give_back(self) {
        self.finish(Outcome::Failed).await;
    }
}

/// Replicas' shared coordination; cheap to clone. `Coordination::alone()`
/// is the single-server default.
#[derive(Clone, Default)]
pub struct Coordination {
    shared: Option<Arc<dyn Coordinate>>,
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
        if config.redis_url.is_none() {
            return Self::alone();
        }
        #[cfg(feature = "redis")]
        return Self {
            shared: redis::start(config, supervisor),
        };
        #[cfg(not(feature = "redis"))]
        {
            // The config's validation refuses this already; a replica
            // built without Redis still serves.
            let _ = supervisor;
            tracing::error!(
                "coordination.redis_url is set, but this build has no Redis; this replica works alone"
            );
            Self::alone()
        }
    }

    /// Whether replicas coordinate (Redis is configured, reachable or not).
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// Failures and host permits shared with the other replicas, for the
    /// fetcher; `None` alone.
    pub fn fetch_share(&self) -> Option<Arc<dyn FetchShare>> {
        self.shared
            .clone()
            .map(|shared| shared as Arc<dyn FetchShare>)
    }

    /// What `/status` shows.
    pub fn status(&self) -> CoordinationStatus {
        match &self.shared {
            None => CoordinationStatus {
                backend: Backend::None,
                state: LinkState::Off,
                since: None,
                error: None,
            },
            Some(shared) => shared.status(),
        }
    }

    /// Claims `name`: see [`Coordinate::claim`].
    pub async fn claim(&self, name: &str) -> Claim {
        match &self.shared {
            Some(shared) => shared.claim(name).await,
            None => Claim::Alone,
        }
    }

    /// Takes the turn `name`: see [`Coordinate::take_turn`].
    pub async fn take_turn(&self, name: &str, now: DateTime<Utc>, hold: Duration) -> Claim {
        match &self.shared {
            Some(shared) => shared.take_turn(name, now, hold).await,
            None => Claim::Alone,
        }
    }

    /// Waits on the claim `name`: see [`Coordinate::wait`].
    pub async fn wait(&self, name: &str) -> Waited {
        match &self.shared {
            Some(shared) => shared.wait(name).await,
            None => Waited::Alone,
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
                    let outcome = if ok { Outcome::Ok } else { Outcome::Failed };
                    lease.finish(outcome).await;
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
