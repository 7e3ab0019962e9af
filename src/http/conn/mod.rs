//! The accept loop: each connection served by hyper's HTTP/1 server, with
//! what nginx has by default and `axum::serve` does not: a time limit on
//! a request's head, an idle limit on kept-alive connections, and a cap
//! on open connections past which new ones are closed at once.
//!
//! The limits are kept by a watchdog per connection, reading the times of
//! the connection's last bytes from a wrapper around its socket, so a
//! cache hit pays two clock reads and a few atomic stores for them.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::ServerConfig;

mod io;
use crate::metrics::Metrics;
use io::Watched;

/// The limits one listener keeps on its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A request head must arrive whole within this long.
    pub header_timeout: Duration,
    /// A connection with nothing in flight is closed after this long quiet.
    pub keepalive_timeout: Duration,
    /// Connections open at once.
    pub max_connections: usize,
}

impl Limits {
    /// The limits `server` sets.
    pub fn of(server: &ServerConfig) -> Self {
        Self {
            header_timeout: server.header_timeout,
            keepalive_timeout: server.keepalive_timeout,
            max_connections: server.max_connections(),
        }
    }
}

/// Why the watchdog closed a connection, as `/metrics` counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// No whole request head within `header_timeout`.
    HeaderTimeout,
    /// Quiet for `keepalive_timeout` with nothing in flight.
    Idle,
}

impl Closed {
    fn reason(self) -> &'static str {
        match self {
            Closed::HeaderTimeout => "header_timeout",
            Closed::Idle => "idle",
        }
    }
}

/// What one connection has done, as its watchdog reads it. Times are
/// milliseconds since `epoch`; `head_since` is one more than the time the
/// head being read started, and 0 while no head is being read.
struct Watch {
    epoch: Instant,
    last_io: AtomicU64,
    head_since: AtomicU64,
    in_flight: AtomicUsize,
    /// Requests handed to the service.
    calls: AtomicU64,
}

impl Watch {
    /// A connection accepted now: it owes its first request head.
    fn new() -> Self {
        Self {
            epoch: Instant::now(),
            last_io: AtomicU64::new(0),
            head_since: AtomicU64::new(1),
            in_flight: AtomicUsize::new(0),
            calls: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Bytes came in: with nothing in flight they start a request head.
    fn read(&self) {
        let now = self.now();
        self.last_io.store(now, Ordering::Relaxed);
        if self.in_flight.load(Ordering::Relaxed) == 0 {
            let _ =
                self.head_since
                    .compare_exchange(0, now + 1, Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    fn wrote(&self) {
        self.last_io.store(self.now(), Ordering::Relaxed);
    }

    /// A request head was read whole: the service has it now.
    fn started(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.head_since.store(0, Ordering::Relaxed);
    }

    fn finished(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.wrote();
    }

    /// Whether to close the connection at `now`, else when to look again.
    fn verdict(&self, now: u64, limits: &Limits) -> Result<u64, Closed> {
        verdict(
            Seen {
                last_io: self.last_io.load(Ordering::Relaxed),
                head_since: self.head_since.load(Ordering::Relaxed),
                in_flight: self.in_flight.load(Ordering::Relaxed),
            },
            now,
            limits,
        )
    }
}

/// A snapshot of a [`Watch`].
#[derive(Debug, Clone, Copy)]
struct Seen {
    last_io: u64,
    head_since: u64,
    in_flight: usize,
}

/// The watchdog's rule: a head being read has `header_timeout` from its
/// first byte (a new connection's from its accept); with no head and
/// nothing in flight, the connection has `keepalive_timeout` from its last
/// byte. A request in flight is the request timeout's business.
fn verdict(seen: Seen, now: u64, limits: &Limits) -> Result<u64, Closed> {
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    if seen.head_since != 0 {
        let deadline = (seen.head_since - 1).saturating_add(ms(limits.header_timeout));
        return if now >= deadline {
            Err(Closed::HeaderTimeout)
        } else {
            Ok(deadline)
        };
    }
    if seen.in_flight > 0 {
        return Ok(now.saturating_add(ms(limits.header_timeout.min(limits.keepalive_timeout))));
    }
    let deadline = seen.last_io.saturating_add(ms(limits.keepalive_timeout));
    if now >= deadline {
        Err(Closed::Idle)
    } else {
        Ok(deadline)
    }
}

/// Ends a request in the [`Watch`] when its answer is ready, or when it is
/// dropped unanswered.
struct InFlight(Arc<Watch>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.finished();
    }
}

/// Serves `service` on `listener` within `limits` until `shutdown`
/// resolves; then stops accepting, lets each connection finish the request
/// it is on, and returns once every connection has closed. Closes and
/// refusals count in `metrics`.
pub async fn serve<S>(
    listener: TcpListener,
    service: S,
    limits: Limits,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let stopping = CancellationToken::new();
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let tracker = TaskTracker::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut last_warning: Option<Instant> = None;
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, remote) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                accept_failed(&e, &mut last_warning).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            // Closed at once: a queue would hold the descriptor anyway.
            drop(stream);
            metrics.close_connection("limit");
            if warn_now(&mut last_warning) {
                tracing::warn!(
                    max = limits.max_connections,
                    "server.max_connections reached; new connections are closed until some end"
                );
            }
            continue;
        };
        let connection = Connection {
            stream,
            remote,
            limits,
            metrics: metrics.clone(),
            stopping: stopping.clone(),
        };
        let service = service.clone();
        tracker.spawn(async move {
            connection.run(service).await;
            drop(permit);
        });
    }
    stopping.cancel();
    tracker.close();
    tracker.wait().await;
    Ok(())
}

/// Whether a warning about refused or failed accepts is due: one every
/// ten seconds at most, so a flood cannot flood the log.
fn warn_now(last: &mut Option<Instant>) -> bool {
    let due = last.is_none_or(|t| t.elapsed() >= Duration::from_secs(10));
    if due {
        *last = Some(Instant::now());
    }
    due
}

/// A failed `accept`: a connection reset before it was taken is nothing;
/// running out of descriptors is logged (rarely) and waited out briefly,
/// rather than spinning on the error.
async fn accept_failed(e: &std::io::Error, last: &mut Option<Instant>) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    if warn_now(last) {
        tracing::warn!(error = %e, "cannot accept a connection; is server.max_connections above what `ulimit -n` allows?");
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// One accepted connection.
struct Connection {
    stream: TcpStream,
    remote: SocketAddr,
    limits: Limits,
    metrics: Arc<Metrics>,
    stopping: CancellationToken,
}

impl Connection {
    /// Serves the connection until the client closes it, a limit closes
    /// it, or the server stops (after the request in flight).
    async fn run<S>(self, service: S)
    where
        S: tower::Service<Request, Response = Response, Error = Infallible>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
    {
        let _ = self.stream.set_nodelay(true);
        let watch = Arc::new(Watch::new());
        let io = TokioIo::new(Watched::new(self.stream, watch.clone()));
        let remote = self.remote;
        let requests = watch.clone();
        let service = tower::ServiceExt::map_request(
            tower::util::MapFuture::new(service, move |future| {
                let guard = InFlight(requests.clone());
                requests.started();
                async move {
                    let answer = future.await;
                    drop(guard);
                    answer
                }
            }),
            move |request: hyper::Request<hyper::body::Incoming>| {
                let mut request = request.map(axum::body::Body::new);
                request.extensions_mut().insert(ConnectInfo(remote));
                request
            },
        );
        // No hyper timer: its header timeout would also run between
        // requests, closing kept-alive connections early; the watchdog
        // below keeps both limits.
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder.max_headers(MAX_HEADERS);
        let conn = builder.serve_connection(io, TowerToHyperService::new(service));
        let mut conn = std::pin::pin!(conn);
        self.metrics.connections_open.inc();
        let mut draining = false;
        let mut next = watch.verdict(watch.now(), &self.limits);
        loop {
            let check = match next {
                Ok(at) => watch.epoch + Duration::from_millis(at),
                Err(why) => {
                    tracing::debug!(client = %remote, reason = why.reason(), "closing a connection");
                    self.metrics.close_connection(why.reason());
                    break;
                }
            };
            tokio::select! {
                served = conn.as_mut() => {
                    if let Err(e) = served {
                        tracing::debug!(client = %remote, error = %e, "connection ended with an error");
                    }
                    break;
                }
                () = self.stopping.cancelled(), if !draining => {
                    draining = true;
                    conn.as_mut().graceful_shutdown();
                }
                () = tokio::time::sleep_until(check.into()) => {
                    next = watch.verdict(watch.now(), &self.limits);
                }
            }
        }
        self.metrics.connections_open.dec();
    }
}

/// The most header lines hyper parses. Above the count that
/// [`super::MAX_HEADER_BYTES`] allows of the shortest lines, so the size
/// guard, which answers in JSON, refuses first.
const MAX_HEADERS: usize = super::MAX_HEADER_BYTES / 4;

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const LIMITS: Limits = Limits {
        header_timeout: Duration::from_secs(10),
        keepalive_timeout: Duration::from_secs(60),
        max_connections: 10,
    };

    fn seen(last_io: u64, head_since: u64, in_flight: usize) -> Seen {
        Seen {
            last_io,
            head_since,
            in_flight,
        }
    }

    #[rstest]
    // A new connection that sends nothing owes its head from the accept.
    #[case(seen(0, 1, 0), 9_999, Ok(10_000))]
    #[case(seen(0, 1, 0), 10_000, Err(Closed::HeaderTimeout))]
    // A head trickled byte by byte is timed from its first byte.
    #[case(seen(14_900, 5_001, 0), 15_000, Err(Closed::HeaderTimeout))]
    // A request in flight is not the watchdog's business.
    #[case(seen(0, 0, 1), 500_000, Ok(510_000))]
    // Kept alive and quiet: a minute from the last byte.
    #[case(seen(2_000, 0, 0), 61_999, Ok(62_000))]
    #[case(seen(2_000, 0, 0), 62_000, Err(Closed::Idle))]
    fn the_watchdog_closes_what_is_late(
        #[case] seen: Seen,
        #[case] now: u64,
        #[case] expect: Result<u64, Closed>,
    ) {
        assert_eq!(verdict(seen, now, &LIMITS), expect);
    }

    #[test]
    fn bytes_start_a_head_only_between_requests() {
        let watch = Watch::new();
        watch.head_since.store(0, Ordering::Relaxed);
        watch.started();
        watch.read();
        assert_eq!(watch.head_since.load(Ordering::Relaxed), 0, "a body");
        watch.finished();
        watch.read();
        assert_ne!(watch.head_since.load(Ordering::Relaxed), 0, "the next head");
        watch.started();
        assert_eq!(watch.head_since.load(Ordering::Relaxed), 0);
    }
}
