//! Who may join by `trmnl.auto_join`: the registry holds at most
//! `trmnl.max_devices`, and one client address joins at most
//! `trmnl.joins_per_hour` a hour, so a script cannot fill the database
//! with devices. Configured devices always may.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::app::App;
use crate::config::Config;
use crate::supervisor::Supervisor;

/// The client's address, when the connection gave one (behind a trusted
/// proxy, the client it names).
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(Self(ip))
    }
}

/// The joins each client address has left this hour.
pub struct JoinGate {
    limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
    loopback: bool,
    /// Held from counting the devices to the join, so joins at once
    /// cannot pass `trmnl.max_devices` together.
    lock: tokio::sync::Mutex<()>,
    /// When a refusal was last logged at warn.
    warned: std::sync::Mutex<Option<Instant>>,
}

/// Why a device may not join now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The registry holds `trmnl.max_devices`.
    Full,
    /// This address joined `trmnl.joins_per_hour` this hour.
    TooMany,
}

/// How often the per-address counts of quiet addresses are forgotten.
const FORGET_EVERY: Duration = Duration::from_secs(600);

impl JoinGate {
    /// The gate `config` describes; loopback is exempt from the per-address
    /// count unless `server.rate_limit.loopback` is on.
    pub fn new(config: &Config) -> Arc<Self> {
        let limiter = NonZeroU32::new(config.trmnl.joins_per_hour)
            .map(|n| RateLimiter::keyed(Quota::per_hour(n).allow_burst(n)));
        Arc::new(Self {
            limiter,
            loopback: config.server.rate_limit.loopback,
            lock: tokio::sync::Mutex::new(()),
            warned: std::sync::Mutex::new(None),
        })
    }

    /// Forgets the counts of addresses back at a full allowance, under
    /// `supervisor`, so the table does not grow with every address seen.
    pub fn spawn_cleanup(self: &Arc<Self>, supervisor: &Supervisor) {
        let weak = Arc::downgrade(self);
        supervisor.spawn("join-limit-cleanup", move |stop| async move {
            let mut tick = tokio::time::interval(FORGET_EVERY);
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    _ = tick.tick() => {}
                }
                let Some(gate) = weak.upgrade() else { break };
                if let Some(limiter) = &gate.limiter {
                    limiter.retain_recent();
                    limiter.shrink_to_fit();
                }
            }
        });
    }

    /// Whether a device that is not configured may join now from `client`;
    /// a join allowed is counted, and the guard returned is to be held
    /// until the device is in the registry.
    pub async fn admit(
        &self,
        app: &App,
        client: Option<IpAddr>,
    ) -> Result<tokio::sync::MutexGuard<'_, ()>, Refused> {
        let guard = self.lock.lock().await;
        let max = app.config().trmnl.max_devices;
        let count = match &app.devices {
            Some(registry) => registry.count().await.unwrap_or(i64::MAX),
            None => i64::MAX,
        };
        if usize::try_from(count).unwrap_or(usize::MAX) >= max {
            app.metrics.refuse("devices_full");
            return Err(Refused::Full);
        }
        let key = client.and_then(|ip| crate::http::limit::client_key(ip, self.loopback));
        if let (Some(limiter), Some(key)) = (&self.limiter, key)
            && limiter.check_key(&key).is_err()
        {
            app.metrics.refuse("joins_per_hour");
            return Err(Refused::TooMany);
        }
        Ok(guard)
    }

    /// Logs a refused join: at warn once a minute at most, so a device
    /// that keeps asking cannot flood the log; the rest at debug.
    pub fn log_refusal(&self, mac: &str, client: Option<IpAddr>, refused: Refused) {
        let mut warned = self.warned.lock().unwrap_or_else(PoisonError::into_inner);
        if warned.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
            *warned = Some(Instant::now());
            tracing::warn!(%mac, client = ?client, why = refused.reason(), "a device may not join now (said at most once a minute)");
        } else {
            tracing::debug!(%mac, client = ?client, why = refused.reason(), "a device may not join now");
        }
    }
}

impl Refused {
    /// What the log says.
    pub fn reason(self) -> &'static str {
        match self {
            Refused::Full => "the registry holds trmnl.max_devices devices",
            Refused::TooMany => "its address joined trmnl.joins_per_hour devices this hour",
        }
    }
}
