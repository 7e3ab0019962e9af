//! Who may join by `trmnl.auto_join`: the registry holds at most
//! `trmnl.max_devices`, and one client address joins at most
//! `trmnl.joins_per_hour` a hour, so a script cannot fill the database
//! with devices. Configured devices always may.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::Config;
use crate::engine::Engine;

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
}

/// Why a device may not join now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The registry holds `trmnl.max_devices`.
    Full,
    /// This address joined `trmnl.joins_per_hour` this hour.
    TooMany,
}

impl JoinGate {
    /// The gate `config` describes; loopback is exempt from the per-address
    /// count unless `server.rate_limit.loopback` is on.
    pub fn new(config: &Config) -> Arc<Self> {
        let limiter = NonZeroU32::new(config.trmnl.joins_per_hour)
            .map(|n| RateLimiter::keyed(Quota::per_hour(n).allow_burst(n)));
        Arc::new(Self {
            limiter,
            loopback: config.server.rate_limit.loopback,
        })
    }

    /// Whether a device that is not configured may join now from `client`;
    /// a join allowed is counted.
    pub async fn admit(&self, engine: &Engine, client: Option<IpAddr>) -> Result<(), Refused> {
        let max = engine.config().trmnl.max_devices;
        let count = match engine.devices() {
            Some(registry) => registry.count().await.unwrap_or(i64::MAX),
            None => i64::MAX,
        };
        if usize::try_from(count).unwrap_or(usize::MAX) >= max {
            engine.metrics().refuse("devices_full");
            return Err(Refused::Full);
        }
        let key = client.and_then(|ip| crate::http::limit::client_key(ip, self.loopback));
        if let (Some(limiter), Some(key)) = (&self.limiter, key)
            && limiter.check_key(&key).is_err()
        {
            engine.metrics().refuse("joins_per_hour");
            return Err(Refused::TooMany);
        }
        Ok(())
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
