//! Request limits applied before any handler runs: the size of the request
//! line and headers, and a token bucket per client address.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::ApiError;
use crate::config::RateLimitConfig;
use crate::flight::Owner;
use crate::metrics::Metrics;
use crate::supervisor::Supervisor;

/// The longest path and query accepted; real image URLs are far shorter.
pub const MAX_URI_BYTES: usize = 2048;
/// The most header bytes (names and values) a request may carry.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// How often addresses that have been quiet long enough to be back at a full
/// bucket are forgotten, so the table does not grow with every client seen.
const FORGET_EVERY: Duration = Duration::from_secs(60);

/// Every request passes here first: over-long URIs get 414, over-large
/// headers 431, and a client past its rate 429 (`/healthz` excepted). One
/// layer rather than three, written as a plain tower service: the checks
/// are synchronous, so a request that passes goes on to the inner service's
/// own future, with nothing boxed or cloned on a cache hit.
/// Refusals count in `metrics`.
/// Behind a trusted proxy (`server.trusted_proxies`) the client is the one
/// its `X-Forwarded-For` names, for these limits and every later one.
#[derive(Clone)]
pub struct GuardLayer {
    /// The per-client rate limit, unless it is off.
    pub limiter: Option<Arc<ClientLimiter>>,
    /// Where refusals count.
    pub metrics: Arc<Metrics>,
    /// The trusted proxies.
    pub trusted: Arc<[ipnet::IpNet]>,
}

impl<S> tower::Layer<S> for GuardLayer {
    type Service = Guard<S>;
    fn layer(&self, inner: S) -> Guard<S> {
        Guard {
            inner,
            limiter: self.limiter.clone(),
            metrics: self.metrics.clone(),
            trusted: self.trusted.clone(),
        }
    }
}

/// The service [`GuardLayer`] makes.
#[derive(Clone)]
pub struct Guard<S> {
    inner: S,
    limiter: Option<Arc<ClientLimiter>>,
    metrics: Arc<Metrics>,
    trusted: Arc<[ipnet::IpNet]>,
}

impl<S> tower::Service<Request> for Guard<S>
where
    S: tower::Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future =
        futures_util::future::Either<std::future::Ready<Result<Response, S::Error>>, S::Future>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        use futures_util::future::Either;
        if !self.trusted.is_empty() {
            super::forwarded::apply(&mut request, &self.trusted);
        }
        match refusal(self.limiter.as_deref(), &request) {
            Some((reason, answer)) => {
                self.metrics.refuse(reason);
                Either::Left(std::future::ready(Ok(answer)))
            }
            None => Either::Right(self.inner.call(request)),
        }
    }
}

/// Why and how `request` is turned away, or `None` to let it through.
fn refusal(limiter: Option<&ClientLimiter>, request: &Request) -> Option<(&'static str, Response)> {
    let uri_len = request
        .uri()
        .path_and_query()
        .map_or(0, |pq| pq.as_str().len());
    if uri_len > MAX_URI_BYTES {
        let message = format!("the path and query are longer than {MAX_URI_BYTES} bytes");
        let error = ApiError::new(StatusCode::URI_TOO_LONG, "uri_too_long", message);
        return Some(("uri_too_long", error.into_response()));
    }
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        let message = format!("the request headers are larger than {MAX_HEADER_BYTES} bytes");
        let status = StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
        let error = ApiError::new(status, "headers_too_large", message);
        return Some(("headers_too_large", error.into_response()));
    }
    if let Some(limiter) = limiter
        && request.uri().path() != "/healthz"
        && let Some(client) = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
        && let Err(wait) = limiter.check(client)
    {
        return Some(("rate_limited", too_many(client, wait)));
    }
    None
}

/// A token bucket per client: one address for IPv4, one /64 for IPv6 (a
/// single host usually owns a whole /64).
pub struct ClientLimiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    loopback: bool,
}

impl ClientLimiter {
    /// The limiter `config` describes, or `None` when it is off.
    pub fn new(config: &RateLimitConfig) -> Option<Arc<Self>> {
        let per_minute = NonZeroU32::new(config.per_minute)?;
        let burst = NonZeroU32::new(config.burst).unwrap_or(NonZeroU32::MIN);
        Some(Arc::new(Self {
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst)),
            loopback: config.loopback,
        }))
    }

    /// Forgets quiet clients every minute, under `supervisor`.
    pub fn spawn_cleanup(self: &Arc<Self>, supervisor: &Supervisor) {
        let weak = Arc::downgrade(self);
        supervisor.spawn("rate-limit-cleanup", move |stop| async move {
            let mut tick = tokio::time::interval(FORGET_EVERY);
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    _ = tick.tick() => {}
                }
                let Some(limiter) = weak.upgrade() else { break };
                limiter.limiter.retain_recent();
                limiter.limiter.shrink_to_fit();
            }
        });
    }

    /// `Ok` when `client` may go ahead, else how long it should wait.
    pub fn check(&self, client: IpAddr) -> Result<(), Duration> {
        let Some(key) = client_key(client, self.loopback) else {
            return Ok(());
        };
        self.limiter
            .check_key(&key)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

/// The address a client's limits count against: one address for IPv4, one
/// /64 for IPv6 (a single host usually owns a whole /64); `None` for a
/// loopback client unless `loopback` limits apply to it too.
pub(crate) fn client_key(client: IpAddr, loopback: bool) -> Option<IpAddr> {
    let client = client.to_canonical();
    if client.is_loopback() && !loopback {
        return None;
    }
    Some(match client {
        IpAddr::V6(v6) => {
            let mut octets = v6.octets();
            octets[8..].fill(0);
            IpAddr::V6(Ipv6Addr::from(octets))
        }
        v4 => v4,
    })
}

/// The owner a client's renders count against (see [`client_key`]).
pub(super) fn render_owner(request: &Request, loopback: bool) -> Option<Owner> {
    let ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()?
        .0
        .ip();
    let bits = match client_key(ip, loopback)? {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    };
    Some(Owner(bits))
}

/// The 429 for `client`, which may try again after `wait`.
fn too_many(client: IpAddr, wait: Duration) -> Response {
    // Round up: a client retrying after exactly this long gets a token.
    let secs = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
    tracing::debug!(%client, secs, "rate limited");
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("too many requests from this address; try again in {secs} s"),
    )
    .with_retry_after(secs)
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn limiter(loopback: bool) -> Arc<ClientLimiter> {
        ClientLimiter::new(&RateLimitConfig {
            per_minute: 60,
            burst: 3,
            loopback,
        })
        .expect("on")
    }

    #[tokio::test]
    async fn a_client_gets_its_burst_then_waits_about_a_token() {
        let l = limiter(false);
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        for _ in 0..3 {
            assert!(l.check(client).is_ok());
        }
        let wait = l.check(client).expect_err("past the burst");
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
        // Another client has its own bucket.
        assert!(l.check("203.0.113.8".parse().unwrap()).is_ok());
    }

    #[rstest]
    #[case("127.0.0.1", false, true)]
    #[case("::1", false, true)]
    #[case("::ffff:127.0.0.1", false, true)]
    #[case("127.0.0.1", true, false)]
    #[case("192.0.2.1", false, false)]
    #[tokio::test]
    async fn loopback_is_exempt_unless_asked(
        #[case] ip: &str,
        #[case] loopback_limited: bool,
        #[case] exempt: bool,
    ) {
        let l = limiter(loopback_limited);
        let ip: IpAddr = ip.parse().unwrap();
        let passed = (0..10).filter(|_| l.check(ip).is_ok()).count();
        assert_eq!(passed == 10, exempt, "{passed} of 10 passed");
    }

    #[tokio::test]
    async fn one_ipv6_host_shares_a_bucket_across_its_64() {
        let l = limiter(false);
        for i in 0..3 {
            let ip: IpAddr = format!("2001:db8:1:2::{i:x}").parse().unwrap();
            assert!(l.check(ip).is_ok());
        }
        assert!(l.check("2001:db8:1:2::ffff".parse().unwrap()).is_err());
        assert!(l.check("2001:db8:1:3::1".parse().unwrap()).is_ok());
    }

    #[test]
    fn off_when_per_minute_is_zero() {
        let config = RateLimitConfig {
            per_minute: 0,
            ..RateLimitConfig::default()
        };
        assert!(ClientLimiter::new(&config).is_none());
    }
}
