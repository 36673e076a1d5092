//! The network half of a script, resolved: what the simulator and the netns lab build
//! (`[link]`, `[[network]]`, `[[nat]]`, `[[host]]` with its service). Every name is an index
//! and every default applied.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::nat::NatConfig;
use crate::turn_server::TurnAuth;
/// Defined beside the TURN server, which serves these transports.
pub use crate::turn_server::TurnTransport;

/// Delay, jitter and loss of one hop across a network.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkParams {
    /// One-way delay per hop.
    pub latency: Duration,
    /// Uniform extra delay in `[0, jitter]` per datagram and hop.
    pub jitter: Duration,
    /// Probability in `[0, 1]` that a datagram is dropped on a hop.
    pub loss: f64,
}

impl Default for LinkParams {
    fn default() -> Self {
        LinkParams {
            latency: Duration::from_millis(20),
            jitter: Duration::ZERO,
            loss: 0.0,
        }
    }
}

impl LinkParams {
    /// One datagram's hop on a link with these parameters, from two uniform draws of the
    /// run's seeded RNG: the delay, or `None` when the datagram is lost. Both backends draw
    /// through here (the simulator per hop, the netns backend's user-space path per hop of
    /// the datagrams it carries), so the same draws mean the same fate.
    pub fn hop(&self, loss_draw: u64, jitter_draw: u64) -> Option<Duration> {
        if self.loss > 0.0 && (loss_draw >> 11) as f64 / (1u64 << 53) as f64 <= self.loss {
            return None;
        }
        let jitter_us = u64::try_from(self.jitter.as_micros()).unwrap_or(u64::MAX);
        let extra = if jitter_us == 0 {
            0
        } else {
            jitter_draw % jitter_us.saturating_add(1)
        };
        Some(self.latency + Duration::from_micros(extra))
    }
}

/// An IP prefix: `198.51.100.0/24`, `2001:db8::/64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// The network address (host bits as written).
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix: u8,
}

impl Cidr {
    /// Whether `ip` is inside the prefix (and of the same family).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not a prefix (ADDRESS/LENGTH)"))?;
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{addr}` is not an IP address"))?;
        let prefix: u8 = prefix
            .parse()
            .map_err(|_| format!("`{prefix}` is not a prefix length"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(format!("prefix length {prefix} is longer than {max}"));
        }
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// A `[[network]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    /// Its name.
    pub name: String,
    /// Its prefix.
    pub cidr: Cidr,
    /// Its hops: `[link]` with this network's overrides applied.
    pub link: LinkParams,
}

/// A `[[nat]]`: a router with one interface inside and one (`public_ip`) outside.
#[derive(Debug, Clone, PartialEq)]
pub struct Nat {
    /// Its name.
    pub name: String,
    /// Index of the inside network in [`Topology::networks`](super::Topology::networks).
    pub inside: usize,
    /// Index of the outside network.
    pub outside: usize,
    /// Its address on the outside network and its behaviour: what the simulator's NAT table
    /// and the netns lab's nftables ruleset take.
    pub config: NatConfig,
}

/// A service a host runs: on the simulator, STUN and TURN are answered by netsim's own nodes and
/// an XMPP server is the runner's (netsim records what it would see,
/// [`crate::Sim::xmpp_server`]); on netns they are coturn and Prosody.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Service {
    /// A STUN server (RFC 8489 and RFC 3489 Binding requests).
    Stun {
        /// UDP port.
        port: u16,
    },
    /// A TURN server (RFC 8656).
    Turn {
        /// The port clients reach it on (UDP, and TCP when `transports` says so).
        port: u16,
        /// Realm (default `example`).
        realm: String,
        /// Long-term credentials (`username`, `password`) or a TURN REST `secret`.
        auth: TurnAuth,
        /// How clients may reach it (`transports`, default `["udp"]`), in the script's order.
        transports: Vec<TurnTransport>,
        /// The TLS port (`tls_port`, default 5349), when `transports` has `tls`.
        tls_port: Option<u16>,
        /// The longest allocation lifetime it grants (`lifetime_s`, default 600 s).
        lifetime: Duration,
        /// `alternate`: every Allocate gets 300 Try Alternate naming this address.
        alternate: Option<SocketAddr>,
    },
    /// An XMPP server (RFC 6120 client-to-server): each host of the script that runs no
    /// service has the account `HOSTNAME@DOMAIN` there. It answers disco#info, XEP-0279 when
    /// `ipcheck`, and XEP-0215 with `external_services`.
    Xmpp {
        /// `domain` (default `example.org`): the server's XMPP domain, the accounts' domainpart.
        domain: String,
        /// The TCP port of client connections (`port`, default 5222, RFC 6120 §14.7).
        port: u16,
        /// `external_services`: the STUN and TURN services it announces (XEP-0215), each as the
        /// index of its host in [`Topology::hosts`](super::Topology::hosts) and the service's
        /// port, in the script's order.
        external_services: Vec<(usize, u16)>,
        /// `ipcheck` (default false): it answers XEP-0279 (Prosody's mod_ipcheck).
        ipcheck: bool,
    },
}

impl Service {
    /// The port it listens on (UDP for STUN and TURN, TCP for XMPP).
    pub fn port(&self) -> u16 {
        match self {
            Service::Stun { port } | Service::Turn { port, .. } | Service::Xmpp { port, .. } => {
                *port
            }
        }
    }
}

/// One XEP-0215 service an xmpp service hands out for an entry of its `external_services`:
/// the one rule both the netns lab's Prosody configuration and the conformance runner's
/// simulated server follow ([`super::Topology::offered_services`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferedService<'a> {
    /// `stun`, `turn` or `turns` (XEP-0215 §2 `type`).
    pub type_: &'static str,
    /// `udp` or `tcp` (XEP-0215 §2 `transport`).
    pub transport: &'static str,
    /// The service host's first address: the one agents' `stun` and `turn` lists resolve to.
    pub ip: IpAddr,
    /// The port the entry names (or the TURN service's `tls_port` for `turns`).
    pub port: u16,
    /// A TURN service's credentials (long-term, or a TURN REST secret); `None` for STUN.
    pub auth: Option<&'a TurnAuth>,
}

/// A `[[host]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    /// Its name.
    pub name: String,
    /// Its addresses, each with the index of its network in [`Topology::networks`](super::Topology::networks).
    pub ips: Vec<(IpAddr, usize)>,
    /// The service it runs, if any.
    pub service: Option<Service>,
}
