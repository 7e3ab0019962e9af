//! Which addresses a page may reach. Public addresses are open to a
//! screenshot; loopback, private, link-local, shared and other special
//! ranges are refused unless `browser.allow` names the host or its
//! network; cloud metadata addresses only when named exactly. A host is
//! resolved once and the addresses are checked, not the name, and the
//! guard connects to the address it checked.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ipnet::IpNet;

/// Addresses that answer a cloud's instance metadata: refused even inside
/// an allowed network, unless named exactly.
const METADATA: &[IpAddr] = &[
    IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)),
    IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)),
    IpAddr::V4(Ipv4Addr::new(168, 63, 129, 16)),
    IpAddr::V4(Ipv4Addr::new(192, 0, 0, 192)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254)),
];

/// The operator's rules (`browser.allow`) for every page.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    hosts: Vec<String>,
    networks: Vec<IpNet>,
    addresses: Vec<IpAddr>,
}

impl Policy {
    /// The rules from `browser.allow`'s entries (checked at load).
    pub fn new(allow: &[String]) -> Self {
        let mut policy = Self::default();
        for entry in allow {
            if let Ok(net) = entry.parse::<IpNet>() {
                policy.networks.push(net);
            } else if let Ok(ip) = entry.parse::<IpAddr>() {
                policy.addresses.push(ip);
            } else {
                policy.hosts.push(entry.to_ascii_lowercase());
            }
        }
        policy
    }

    /// Whether the operator named `host` itself.
    pub fn names(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.hosts.contains(&host)
    }

    /// Whether `ip` may be reached: public, or allowed by the operator.
    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        if self.addresses.contains(&ip) {
            return true;
        }
        if METADATA.contains(&ip) {
            return false;
        }
        !is_special(ip) || self.networks.iter().any(|n| n.contains(&ip))
    }

    /// The first of `addresses` (the host's, resolved once) that may be
    /// reached, or why none may. A host the operator named may reach any
    /// of its addresses.
    pub fn pick(&self, host: &str, addresses: &[SocketAddr]) -> Result<SocketAddr, String> {
        let named = self.names(host);
        // A named host reaches its special addresses, but a metadata
        // address only when the address itself is named.
        let open = |ip: IpAddr| {
            let ip = canonical(ip);
            self.permits(ip) || (named && !METADATA.contains(&ip))
        };
        addresses
            .iter()
            .find(|a| open(a.ip()))
            .copied()
            .ok_or_else(|| match addresses.first() {
                None => format!("{host} does not resolve"),
                // The address itself is not said: a job's owner would map
                // the operator's network with it.
                Some(a) => format!(
                    "{host} is a {} address; name it in browser.allow to let pages reach it",
                    kind(canonical(a.ip()))
                ),
            })
    }
}

/// An IPv4 address written as IPv6 is the IPv4 one: mapped
/// (`::ffff:127.0.0.1`), compatible (`::127.0.0.1`), NAT64
/// (`64:ff9b::a9fe:a9fe`, which a gateway turns into 169.254.169.254),
/// 6to4 (`2002:a9fe:a9fe::`) and Teredo (`2001:0::`, its client address
/// inverted in the last 32 bits).
fn canonical(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else { return ip };
    let seg = v6.segments();
    let low =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if let Some(v4) = v6.to_ipv4_mapped() {
        return IpAddr::V4(v4);
    }
    match seg {
        [0, 0, 0, 0, 0, 0, hi, lo] if hi != 0 => IpAddr::V4(low(hi, lo)),
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => IpAddr::V4(low(hi, lo)),
        [0x2002, hi, lo, ..] => IpAddr::V4(low(hi, lo)),
        [0x2001, 0, .., hi, lo] => IpAddr::V4(low(!hi, !lo)),
        _ => ip,
    }
}

/// Loopback, private, link-local, shared, unspecified, multicast,
/// broadcast, documentation or reserved.
fn is_special(ip: IpAddr) -> bool {
    kind(ip) != "public"
}

fn kind(ip: IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            if v4.is_loopback() {
                "loopback"
            } else if v4.is_private() {
                "private"
            } else if v4.is_link_local() {
                "link-local"
            } else if a == 100 && (64..128).contains(&b) {
                "shared (carrier-grade NAT)"
            } else if a == 192 && b == 0 && v4.octets()[2] == 0 {
                "reserved (IETF protocol assignments)"
            } else if v4.is_unspecified() || a == 0 {
                "unspecified"
            } else if v4.is_multicast()
                || v4.is_broadcast()
                || a >= 240
                || v4.is_documentation()
                || (a == 198 && (b == 18 || b == 19))
            {
                "reserved"
            } else {
                "public"
            }
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            if v6.is_loopback() {
                "loopback"
            } else if v6.is_unspecified() {
                "unspecified"
            } else if first & 0xfe00 == 0xfc00 {
                "private"
            } else if first & 0xffc0 == 0xfe80 {
                "link-local"
            } else if v6.is_multicast() || first == 0x2001 && v6.segments()[1] == 0x0db8 {
                "reserved"
            } else {
                "public"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), 80)
    }

    #[rstest::rstest]
    #[case("93.184.215.14", true)]
    #[case("2606:2800:21f:cb07:6820:80da:af6b:8b2c", true)]
    #[case("127.0.0.1", false)]
    #[case("::1", false)]
    #[case("::ffff:127.0.0.1", false)]
    #[case("10.1.2.3", false)]
    #[case("172.16.0.1", false)]
    #[case("192.168.1.10", false)]
    #[case("169.254.169.254", false)]
    #[case("169.254.1.1", false)]
    #[case("100.64.0.1", false)]
    #[case("0.0.0.0", false)]
    #[case("fd00::1", false)]
    #[case("fe80::1", false)]
    #[case("224.0.0.1", false)]
    #[case("64:ff9b::a9fe:a9fe", false)]
    #[case("64:ff9b::5db8:d70e", true)]
    #[case("2002:7f00:1::", false)]
    #[case("::127.0.0.1", false)]
    #[case("2001:0:4136:e378:8000:63bf:80ff:fffe", false)]
    #[case("192.0.0.192", false)]
    #[case("168.63.129.16", false)]
    fn by_default_only_public_addresses(#[case] ip: &str, #[case] ok: bool) {
        assert_eq!(Policy::default().permits(ip.parse().unwrap()), ok, "{ip}");
    }

    #[test]
    fn the_operator_opens_hosts_and_networks_but_not_metadata_by_network() {
        let policy = Policy::new(&[
            "192.168.1.0/24".into(),
            "169.254.0.0/16".into(),
            "HomeAssistant.local".into(),
        ]);
        assert!(policy.permits("192.168.1.20".parse().unwrap()));
        assert!(!policy.permits("192.168.2.20".parse().unwrap()));
        assert!(policy.permits("169.254.1.1".parse().unwrap()));
        assert!(!policy.permits("169.254.169.254".parse().unwrap()));
        assert!(
            policy
                .pick("homeassistant.local", &[at("10.0.0.9")])
                .is_ok()
        );
        // A named host still does not reach a metadata address.
        let metadata = [at("169.254.169.254")];
        assert!(policy.pick("homeassistant.local", &metadata).is_err());
        let exact = Policy::new(&["169.254.169.254".into()]);
        assert!(exact.permits("169.254.169.254".parse().unwrap()));
    }

    #[test]
    fn a_refusal_names_the_host_the_address_and_the_fix() {
        let err = Policy::default()
            .pick("evil.example", &[at("127.0.0.1")])
            .unwrap_err();
        assert!(err.contains("evil.example is a loopback address"), "{err}");
        assert!(!err.contains("127.0.0.1"), "the address is not said: {err}");
        assert!(err.contains("browser.allow"), "{err}");
        // The first permitted address is the one connected to.
        let mixed = [at("10.0.0.1"), at("93.184.215.14")];
        assert_eq!(Policy::default().pick("x", &mixed).unwrap(), mixed[1]);
    }
}
