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
use crate::metrics::Metrics;

mod clients;
mod io;
mod watch;

use clients::PerClient;
use io::Watched;
pub use watch::Closed;
use watch::Watch;

/// The limits one listener keeps on its connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// A request head must arrive whole within this long.
    pub header_timeout: Duration,
    /// A connection with nothing in flight is closed after this long quiet.
    pub keepalive_timeout: Duration,
    /// Connections open at once.
    pub max_connections: usize,
    /// Connections one client address may hold; `0`: no limit.
    pub per_client: usize,
    /// Whether loopback clients count against `per_client`.
    pub loopback: bool,
    /// Proxies exempt from `per_client`: they carry many clients.
    pub trusted: Arc<[ipnet::IpNet]>,
}

impl Limits {
    /// The limits `server` sets.
    pub fn of(server: &ServerConfig) -> Self {
        Self {
            header_timeout: server.header_timeout,
            keepalive_timeout: server.keepalive_timeout,
            max_connections: server.max_connections(),
            per_client: server.connections_per_client,
            loopback: server.rate_limit.loopback,
            trusted: server.trusted_proxies.clone().into(),
        }
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
    let per_client = PerClient::new(limits.per_client, limits.loopback, limits.trusted.clone());
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
        let Some(held) = per_client.take(remote.ip()) else {
            drop(stream);
            metrics.close_connection("per_client");
            if warn_now(&mut last_warning) {
                tracing::warn!(client = %remote.ip(), most = limits.per_client, "a client holds server.connections_per_client connections; its next ones are closed");
            }
            continue;
        };
        let connection = Connection {
            stream,
            remote,
            limits: limits.clone(),
            metrics: metrics.clone(),
            stopping: stopping.clone(),
        };
        let service = service.clone();
        tracker.spawn(async move {
            connection.run(service).await;
            drop((held, permit));
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
        let service = watched(service, watch.clone(), self.remote);
        // No hyper timer: its header timeout would also run between
        // requests, closing kept-alive connections early; the watchdog
        // below keeps both limits. Hyper's own limit of 100 header lines
        // stands: its refusal is given JSON like the size guard's.
        let builder = hyper::server::conn::http1::Builder::new();
        let conn = builder.serve_connection(io, TowerToHyperService::new(service));
        let mut conn = std::pin::pin!(conn);
        self.metrics.connections_open.inc();
        let mut draining = false;
        let mut next = watch.verdict(watch.now(), &self.limits);
        loop {
            let check = match next {
                Ok(at) => watch.epoch + Duration::from_millis(at),
                Err(why) => {
                    tracing::debug!(client = %self.remote, reason = why.reason(), "closing a connection");
                    self.metrics.close_connection(why.reason());
                    break;
                }
            };
            tokio::select! {
                served = conn.as_mut() => {
                    if let Err(e) = served {
                        tracing::debug!(client = %self.remote, error = %e, "connection ended with an error");
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

/// `service` as one connection hands it requests: each request carries the
/// client's address, and counts in `watch` from the handing over to its
/// answer.
fn watched<S>(
    service: S,
    watch: Arc<Watch>,
    remote: SocketAddr,
) -> impl tower::Service<
    hyper::Request<hyper::body::Incoming>,
    Response = Response,
    Error = Infallible,
    Future: Send + 'static,
> + Clone
+ Send
+ 'static
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let counted = tower::util::MapFuture::new(service, move |future| {
        let guard = InFlight(watch.clone());
        watch.started();
        async move {
            let answer = future.await;
            drop(guard);
            answer
        }
    });
    tower::ServiceExt::map_request(
        counted,
        move |request: hyper::Request<hyper::body::Incoming>| {
            let mut request = request.map(axum::body::Body::new);
            request.extensions_mut().insert(ConnectInfo(remote));
            request
        },
    )
}
