//! The client behind a trusted reverse proxy: `X-Forwarded-For` read from
//! the right, past every trusted hop, so a client cannot pass itself off as
//! another by writing the header itself. Only a peer in
//! `server.trusted_proxies` is believed.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request};
use ipnet::IpNet;

/// Replaces the request's peer address with the client its trusted proxy
/// names, so per-client limits and logs see the client.
pub fn apply(request: &mut Request, trusted: &[IpNet]) {
    let Some(ConnectInfo(peer)) = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .copied()
    else {
        return;
    };
    let hops = request
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim);
    if let Some(client) = client(peer.ip(), hops, trusted) {
        let at = SocketAddr::new(client, peer.port());
        request.extensions_mut().insert(ConnectInfo(at));
    }
    let https = request
        .headers()
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    if https
        && trusted
            .iter()
            .any(|net| net.contains(&peer.ip().to_canonical()))
    {
        request.extensions_mut().insert(Https);
    }
}

/// Marks a request that a trusted proxy says came over HTTPS: cookies set
/// in answer to it are `Secure`.
#[derive(Debug, Clone, Copy)]
pub struct Https;

/// The client that `peer` and the `hops` it forwards (left to right, as
/// sent) name: the rightmost hop not itself trusted. `None` when the peer
/// is not trusted, or names no usable address.
fn client<'a>(
    peer: IpAddr,
    hops: impl DoubleEndedIterator<Item = &'a str>,
    trusted: &[IpNet],
) -> Option<IpAddr> {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return None;
    }
    let mut last = None;
    for hop in hops.rev() {
        // A hop that is no address ends the chain: what is left of it was
        // written by someone we cannot vouch for.
        let ip = parse_hop(hop)?;
        if !is_trusted(&ip) {
            return Some(ip);
        }
        last = Some(ip);
    }
    last
}

/// An address as proxies write it: bare, or with a port (`[v6]:port`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn nets() -> Vec<IpNet> {
        vec!["10.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()]
    }

    #[rstest]
    #[case::direct_client_is_itself("203.0.113.9", "198.51.100.1", None)]
    #[case::proxy_names_the_client("10.0.0.2", "198.51.100.1", Some("198.51.100.1"))]
    #[case::spoofed_left_entry_is_ignored(
        "10.0.0.2",
        "6.6.6.6, 198.51.100.1",
        Some("198.51.100.1")
    )]
    #[case::chain_of_proxies("10.0.0.2", "198.51.100.1, 10.1.1.1", Some("198.51.100.1"))]
    #[case::only_proxies("10.0.0.2", "10.9.9.9", Some("10.9.9.9"))]
    #[case::with_a_port("10.0.0.2", "198.51.100.1:4711", Some("198.51.100.1"))]
    #[case::ipv6_with_a_port("fd00::1", "[2001:db8::7]:443", Some("2001:db8::7"))]
    #[case::garbage_ends_the_chain("10.0.0.2", "198.51.100.1, nonsense", None)]
    #[case::no_header("10.0.0.2", "", None)]
    fn the_client_is_the_rightmost_untrusted_hop(
        #[case] peer: &str,
        #[case] header: &str,
        #[case] expected: Option<&str>,
    ) {
        let hops = header.split(',').map(str::trim).filter(|h| !h.is_empty());
        let found = client(peer.parse().unwrap(), hops, &nets());
        assert_eq!(found, expected.map(|e| e.parse().unwrap()));
    }
}
