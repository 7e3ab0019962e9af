//! The watchdog's view of one connection: when bytes last passed, whether
//! a request head is being read and since when, and how many requests the
//! service has; and the rule that closes a connection from them.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::Limits;

/// Why the watchdog closed a connection, as `/metrics` counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// No whole request head within `header_timeout`.
    HeaderTimeout,
    /// Quiet for `keepalive_timeout` with nothing in flight.
    Idle,
}

impl Closed {
    pub(super) fn reason(self) -> &'static str {
        match self {
            Closed::HeaderTimeout => "header_timeout",
            Closed::Idle => "idle",
        }
    }
}

/// What one connection has done, as its watchdog reads it. Times are
/// milliseconds since `epoch`; `head_since` is one more than the time the
/// head being read started, and 0 while no head is being read.
pub(super) struct Watch {
    pub(super) epoch: Instant,
    last_io: AtomicU64,
    head_since: AtomicU64,
    in_flight: AtomicUsize,
    /// Requests handed to the service.
    pub(super) calls: AtomicU64,
}

impl Watch {
    /// A connection accepted now: it owes its first request head.
    pub(super) fn new() -> Self {
        Self {
            epoch: Instant::now(),
            last_io: AtomicU64::new(0),
            head_since: AtomicU64::new(1),
            in_flight: AtomicUsize::new(0),
            calls: AtomicU64::new(0),
        }
    }

    pub(super) fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Bytes came in: with nothing in flight they start a request head.
    pub(super) fn read(&self) {
        let now = self.now();
        self.last_io.store(now, Ordering::Relaxed);
        if self.in_flight.load(Ordering::Relaxed) == 0 {
            let _ =
                self.head_since
                    .compare_exchange(0, now + 1, Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    pub(super) fn wrote(&self) {
        self.last_io.store(self.now(), Ordering::Relaxed);
    }

    /// A request head was read whole: the service has it now.
    pub(super) fn started(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.head_since.store(0, Ordering::Relaxed);
    }

    pub(super) fn finished(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.wrote();
    }

    /// Whether to close the connection at `now`, else when to look again.
    pub(super) fn verdict(&self, now: u64, limits: &Limits) -> Result<u64, Closed> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn limits() -> Limits {
        Limits {
            header_timeout: Duration::from_secs(10),
            keepalive_timeout: Duration::from_secs(60),
            max_connections: 10,
            per_client: 0,
            loopback: false,
            trusted: Vec::new().into(),
        }
    }

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
        assert_eq!(verdict(seen, now, &limits()), expect);
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
