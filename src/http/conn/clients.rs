//! Connections per client address: one client may hold at most
//! `server.connections_per_client` of the listener's connections, so a
//! single host cannot take every place `server.max_connections` allows.
//! IPv6 clients count per /64. Loopback (unless `rate_limit.loopback`) and
//! trusted proxies, which carry many clients' connections, are exempt.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use ipnet::IpNet;

/// The open connections of each client address.
pub(super) struct PerClient {
    open: Mutex<HashMap<IpAddr, usize>>,
    most: usize,
    loopback: bool,
    trusted: Arc<[IpNet]>,
}

/// A client's place, given back when the connection ends.
pub(super) struct Held {
    table: Arc<PerClient>,
    key: Option<IpAddr>,
}

impl PerClient {
    /// At most `most` connections per client (`0`: no limit).
    pub(super) fn new(most: usize, loopback: bool, trusted: Arc<[IpNet]>) -> Arc<Self> {
        Arc::new(Self {
            open: Mutex::new(HashMap::new()),
            most,
            loopback,
            trusted,
        })
    }

    /// A place for a connection from `peer`, or `None` when it holds its
    /// share already.
    pub(super) fn take(self: &Arc<Self>, peer: IpAddr) -> Option<Held> {
        let exempt = self.most == 0
            || self
                .trusted
                .iter()
                .any(|net| net.contains(&peer.to_canonical()));
        let key = (!exempt)
            .then(|| crate::http::limit::client_key(peer, self.loopback))
            .flatten();
        if let Some(key) = key {
            let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
            let count = open.entry(key).or_insert(0);
            if *count >= self.most {
                return None;
            }
            *count += 1;
        }
        Some(Held {
            table: self.clone(),
            key,
        })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let Some(key) = self.key else { return };
        let mut open = self
            .table
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                // Forgotten at zero: the table is as large as the clients
                // connected now.
                open.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_client_holds_its_share_and_gets_it_back() {
        let table = PerClient::new(2, false, Arc::from(vec!["10.0.0.1/32".parse().unwrap()]));
        let a = table.take(ip("203.0.113.7")).unwrap();
        let _b = table.take(ip("203.0.113.7")).unwrap();
        assert!(
            table.take(ip("203.0.113.7")).is_none(),
            "a third is refused"
        );
        assert!(table.take(ip("203.0.113.8")).is_some(), "another client");
        drop(a);
        assert!(table.take(ip("203.0.113.7")).is_some(), "room again");
        let _v6 = table.take(ip("2001:db8:1:2::1")).unwrap();
        let _v6b = table.take(ip("2001:db8:1:2::2")).unwrap();
        assert!(table.take(ip("2001:db8:1:2::3")).is_none(), "one /64");
        for _ in 0..5 {
            std::mem::forget(table.take(ip("127.0.0.1")).expect("loopback exempt"));
            std::mem::forget(table.take(ip("10.0.0.1")).expect("a trusted proxy"));
        }
    }
}
