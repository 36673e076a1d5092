//! A NAT router's translation state, RFC 4787 behaviours for UDP.
//!
//! [`NatTable`] is the pure part of a NAT: given a datagram's source and destination it says
//! what the other side sees, or why the datagram is dropped. It knows nothing of links or
//! networks, so tests can hand it crafted packets one by one.
//!
//! - Mapping (RFC 4787 §4.1): endpoint-independent (one external port per internal endpoint),
//!   address-dependent (one per internal endpoint and remote IP) or address-and-port-dependent
//!   (one per internal endpoint and remote endpoint).
//! - Port assignment (§4.2.1): with port preservation the internal port is kept while no other
//!   mapping holds it; otherwise, and on a collision, a port is drawn from the NAT's seeded RNG in
//!   1024..=65535 (§4.2.1 REQ-3 leaves the range open; a real NAT's choice is not predictable).
//! - Refresh (§4.3, REQ-6): a mapping expires `udp_timeout` after the last *outbound* datagram
//!   that used it; inbound traffic does not refresh it.
//! - Filtering (§5): endpoint-independent, address-dependent (the internal endpoint sent to the
//!   remote IP through this mapping) or address-and-port-dependent (sent to the remote IP and
//!   port).
//! - Hairpinning (§6, REQ-9): a datagram from inside to the NAT's own public address is
//!   translated as outbound, then filtered as inbound with its external source address, and
//!   delivered inside; see [`NatTable::hairpin`].
//!
//! TCP (RFC 5382) has a table of its own, [`crate::nat_tcp::TcpNatTable`], built from the same
//! [`NatConfig`]: TCP and UDP ports are separate spaces, so a mapping of one protocol never
//! serves the other. The mapping key, the port choice and the filter are shared from here.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use serde::Deserialize;

/// A mapping or filtering behaviour of RFC 4787 (§4.1 mapping, §5 filtering).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Behaviour {
    /// The same mapping (or no filtering) whatever the remote endpoint.
    EndpointIndependent,
    /// One mapping (or filter) per remote IP address.
    AddressDependent,
    /// One mapping (or filter) per remote IP address and port.
    AddressAndPortDependent,
}

impl Behaviour {
    /// The name used in scripts.
    pub fn as_str(self) -> &'static str {
        match self {
            Behaviour::EndpointIndependent => "endpoint-independent",
            Behaviour::AddressDependent => "address-dependent",
            Behaviour::AddressAndPortDependent => "address-and-port-dependent",
        }
    }
}

impl fmt::Display for Behaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A NAT's address and behaviour: what a script's `[[nat]]` says (held by
/// [`topology::Nat`](crate::topology::Nat)), taken by [`NatTable`] and by the netns lab's
/// rulesets ([`crate::nft`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NatConfig {
    /// Its outside address.
    pub public_ip: IpAddr,
    /// RFC 4787 §4.1.
    pub mapping: Behaviour,
    /// RFC 4787 §5.
    pub filtering: Behaviour,
    /// RFC 4787 §4.2.1.
    pub port_preservation: bool,
    /// RFC 4787 §6.
    pub hairpinning: bool,
    /// Mapping lifetime after the last outbound datagram (RFC 4787 §4.3).
    pub udp_timeout: Duration,
    /// Drop all UDP.
    pub block_udp: bool,
    /// Drop all TCP (RFC 5382 behaviour otherwise: [`crate::nat_tcp`]).
    pub block_tcp: bool,
    /// An established TCP connection's idle lifetime (RFC 5382 REQ-5, which asks for at
    /// least 2 h 4 min; a script may choose less on purpose).
    pub tcp_timeout: Duration,
}

/// RFC 5382 REQ-5's least established-connection idle timeout (2 h 4 min), the default of
/// a script's `tcp_timeout_s`.
pub const TCP_ESTABLISHED_TIMEOUT: Duration = Duration::from_secs(7440);

/// Why a NAT dropped a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NatDrop {
    /// `block_udp` (or, for TCP, `block_tcp`).
    Blocked,
    /// Inbound to a port with no live mapping.
    NoMapping,
    /// Inbound from a remote endpoint the mapping's filter does not admit.
    Filtered,
    /// To its own public address from inside, with hairpinning off.
    NoHairpin,
    /// Every external port is taken (or the mapping limit, or for TCP a mapping's connection
    /// limit, reached).
    PortsExhausted,
    /// TCP: a segment other than a connection-opening SYN that belongs to no connection
    /// through the NAT (RFC 5382 REQ-3, REQ-4: only a SYN creates state).
    NoConnection,
}

/// The most mappings a NAT holds at once (64 512 external ports exist).
pub const MAX_MAPPINGS: usize = 60_000;

/// The most remote endpoints remembered per mapping for filtering; the oldest is forgotten.
pub const MAX_PERMISSIONS: usize = 64;

const FIRST_PORT: u16 = 1024;

/// What a mapping is keyed on besides the internal endpoint (RFC 4787 §4.1; RFC 5382 REQ-1 for TCP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Key {
    Independent,
    Address(IpAddr),
    AddressPort(SocketAddr),
}

/// The key of the mapping an internal endpoint uses towards `remote` under `mapping`.
pub(crate) fn mapping_key(mapping: Behaviour, remote: SocketAddr) -> Key {
    match mapping {
        Behaviour::EndpointIndependent => Key::Independent,
        Behaviour::AddressDependent => Key::Address(remote.ip()),
        Behaviour::AddressAndPortDependent => Key::AddressPort(remote),
    }
}

/// Whether `filtering` admits traffic from `src` to a mapping that sent to `sent_to` (RFC
/// 4787 §5; RFC 5382 REQ-3 for TCP's inbound SYN).
pub(crate) fn admits(filtering: Behaviour, sent_to: &[SocketAddr], src: SocketAddr) -> bool {
    match filtering {
        Behaviour::EndpointIndependent => true,
        Behaviour::AddressDependent => sent_to.iter().any(|a| a.ip() == src.ip()),
        Behaviour::AddressAndPortDependent => sent_to.contains(&src),
    }
}

/// Records that a mapping sent to `dst` (most recent last, at most [`MAX_PERMISSIONS`]).
pub(crate) fn remember(sent_to: &mut Vec<SocketAddr>, dst: SocketAddr) {
    if let Some(i) = sent_to.iter().position(|a| *a == dst) {
        sent_to.remove(i);
    } else if sent_to.len() >= MAX_PERMISSIONS {
        sent_to.remove(0);
    }
    sent_to.push(dst);
}

/// An external port for a new mapping of the internal port `wanted` (RFC 4787 §4.2.1; TCP's are
/// chosen the same way): `wanted` itself with port preservation while free, else one drawn from `rng` in
/// 1024..=65535, else the first free one; `None` when `taken` holds them all.
pub(crate) fn choose_port(
    rng: &mut ChaCha8Rng,
    preserve: bool,
    wanted: u16,
    taken: impl Fn(u16) -> bool,
) -> Option<u16> {
    if preserve && wanted >= FIRST_PORT && !taken(wanted) {
        return Some(wanted);
    }
    let span = u32::from(u16::MAX - FIRST_PORT) + 1;
    for _ in 0..64 {
        let p = FIRST_PORT + u16::try_from(rng.next_u32() % span).unwrap_or(0);
        if !taken(p) {
            return Some(p);
        }
    }
    (FIRST_PORT..=u16::MAX).find(|p| !taken(*p))
}

#[derive(Debug, Clone)]
struct Mapping {
    internal: SocketAddr,
    key: Key,
    last_outbound: Instant,
    /// Remote endpoints this mapping sent to, most recent last (RFC 4787 §5 filters).
    sent_to: Vec<SocketAddr>,
}

/// Counters of one NAT.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NatStats {
    /// Outbound datagrams translated.
    pub outbound: u64,
    /// Inbound datagrams translated.
    pub inbound: u64,
    /// Hairpinned datagrams delivered inside.
    pub hairpinned: u64,
    /// Mappings created.
    pub mappings_created: u64,
    /// Mappings that expired.
    pub mappings_expired: u64,
    /// Datagrams dropped by `block_udp`.
    pub dropped_blocked: u64,
    /// Inbound datagrams with no mapping.
    pub dropped_no_mapping: u64,
    /// Inbound datagrams refused by the filter.
    pub dropped_filtered: u64,
    /// Hairpin attempts refused.
    pub dropped_no_hairpin: u64,
    /// Datagrams dropped for want of a port.
    pub dropped_exhausted: u64,
}

/// The translation table of one NAT. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct NatTable {
    config: NatConfig,
    /// By external port.
    mappings: BTreeMap<u16, Mapping>,
    /// (internal endpoint, key) -> external port.
    index: BTreeMap<(SocketAddr, Key), u16>,
    rng: ChaCha8Rng,
    stats: NatStats,
}

impl NatTable {
    /// An empty table; `seed` drives port choice.
    pub fn new(config: NatConfig, seed: [u8; 32]) -> Self {
        NatTable {
            config,
            mappings: BTreeMap::new(),
            index: BTreeMap::new(),
            rng: ChaCha8Rng::from_seed(seed),
            stats: NatStats::default(),
        }
    }

    /// Its behaviour.
    pub fn config(&self) -> &NatConfig {
        &self.config
    }

    /// Its counters.
    pub fn stats(&self) -> NatStats {
        self.stats
    }

    /// Live mappings at `now`.
    pub fn mapping_count(&self, now: Instant) -> usize {
        self.mappings
            .values()
            .filter(|m| !self.expired(m, now))
            .count()
    }

    /// The external address of the live mapping `internal` would use towards `remote`.
    pub fn mapping_of(
        &self,
        now: Instant,
        internal: SocketAddr,
        remote: SocketAddr,
    ) -> Option<SocketAddr> {
        let port = *self.index.get(&(internal, self.key(remote)))?;
        let m = self.mappings.get(&port)?;
        (!self.expired(m, now)).then(|| SocketAddr::new(self.config.public_ip, port))
    }

    fn key(&self, remote: SocketAddr) -> Key {
        mapping_key(self.config.mapping, remote)
    }

    fn expired(&self, m: &Mapping, now: Instant) -> bool {
        now.saturating_duration_since(m.last_outbound) >= self.config.udp_timeout
    }

    fn remove(&mut self, port: u16) {
        if let Some(m) = self.mappings.remove(&port) {
            self.index.remove(&(m.internal, m.key));
            self.stats.mappings_expired += 1;
        }
    }

    /// Drops every expired mapping (also done lazily on each lookup).
    pub fn expire(&mut self, now: Instant) {
        let dead: Vec<u16> = self
            .mappings
            .iter()
            .filter(|(_, m)| self.expired(m, now))
            .map(|(p, _)| *p)
            .collect();
        for p in dead {
            self.remove(p);
        }
    }

    fn free_port(&mut self, wanted: u16) -> Option<u16> {
        let mappings = &self.mappings;
        choose_port(&mut self.rng, self.config.port_preservation, wanted, |p| {
            mappings.contains_key(&p)
        })
    }

    /// `block_udp`: every datagram dropped, counted.
    fn pass_udp(&mut self) -> Result<(), NatDrop> {
        if self.config.block_udp {
            self.stats.dropped_blocked += 1;
            return Err(NatDrop::Blocked);
        }
        Ok(())
    }

    /// An outbound datagram from `src` (inside) to `dst`: the source address it leaves with.
    pub fn outbound(
        &mut self,
        now: Instant,
        src: SocketAddr,
        dst: SocketAddr,
    ) -> Result<SocketAddr, NatDrop> {
        self.pass_udp()?;
        let key = self.key(dst);
        let live = match self.index.get(&(src, key)).copied() {
            Some(port) => match self.mappings.get(&port) {
                Some(m) if !self.expired(m, now) => Some(port),
                _ => {
                    self.remove(port);
                    None
                }
            },
            None => None,
        };
        let port = match live {
            Some(p) => p,
            None => {
                if self.mappings.len() >= MAX_MAPPINGS {
                    self.expire(now);
                }
                let port = match (self.mappings.len() < MAX_MAPPINGS)
                    .then(|| self.free_port(src.port()))
                    .flatten()
                {
                    Some(p) => p,
                    None => {
                        self.stats.dropped_exhausted += 1;
                        return Err(NatDrop::PortsExhausted);
                    }
                };
                self.mappings.insert(
                    port,
                    Mapping {
                        internal: src,
                        key,
                        last_outbound: now,
                        sent_to: Vec::new(),
                    },
                );
                self.index.insert((src, key), port);
                self.stats.mappings_created += 1;
                port
            }
        };
        if let Some(m) = self.mappings.get_mut(&port) {
            // RFC 4787 §4.3 REQ-6: outbound traffic refreshes the mapping.
            m.last_outbound = now;
            remember(&mut m.sent_to, dst);
        }
        self.stats.outbound += 1;
        Ok(SocketAddr::new(self.config.public_ip, port))
    }

    /// An inbound datagram from `src` (outside) to `dst` (the public address): the internal
    /// endpoint it is delivered to.
    pub fn inbound(
        &mut self,
        now: Instant,
        src: SocketAddr,
        dst: SocketAddr,
    ) -> Result<SocketAddr, NatDrop> {
        self.pass_udp()?;
        let r = self.lookup_inbound(now, src, dst);
        match r {
            Ok(_) => self.stats.inbound += 1,
            Err(NatDrop::NoMapping) => self.stats.dropped_no_mapping += 1,
            Err(NatDrop::Filtered) => self.stats.dropped_filtered += 1,
            Err(_) => {}
        }
        r
    }

    fn lookup_inbound(
        &mut self,
        now: Instant,
        src: SocketAddr,
        dst: SocketAddr,
    ) -> Result<SocketAddr, NatDrop> {
        if dst.ip() != self.config.public_ip {
            return Err(NatDrop::NoMapping);
        }
        let port = dst.port();
        let Some(m) = self.mappings.get(&port) else {
            return Err(NatDrop::NoMapping);
        };
        if self.expired(m, now) {
            self.remove(port);
            return Err(NatDrop::NoMapping);
        }
        // RFC 4787 §5.
        if admits(self.config.filtering, &m.sent_to, src) {
            Ok(m.internal)
        } else {
            Err(NatDrop::Filtered)
        }
    }

    /// A datagram from `src` (inside) to the NAT's own public address `dst` (RFC 4787 §6): the
    /// external source it carries (REQ-9) and the internal endpoint it is delivered to.
    pub fn hairpin(
        &mut self,
        now: Instant,
        src: SocketAddr,
        dst: SocketAddr,
    ) -> Result<(SocketAddr, SocketAddr), NatDrop> {
        self.pass_udp()?;
        if !self.config.hairpinning {
            self.stats.dropped_no_hairpin += 1;
            return Err(NatDrop::NoHairpin);
        }
        let external_src = self.outbound(now, src, dst)?;
        self.stats.outbound -= 1;
        let to = self.inbound(now, external_src, dst)?;
        self.stats.inbound -= 1;
        self.stats.hairpinned += 1;
        Ok((external_src, to))
    }

    /// When the next mapping expires, if any is live at `now`.
    pub fn next_expiry(&self, now: Instant) -> Option<Instant> {
        self.mappings
            .values()
            .filter(|m| !self.expired(m, now))
            .map(|m| m.last_outbound + self.config.udp_timeout)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(mapping: Behaviour, filtering: Behaviour) -> NatConfig {
        NatConfig {
            public_ip: "198.51.100.10".parse().expect("ip"),
            mapping,
            filtering,
            port_preservation: false,
            hairpinning: false,
            udp_timeout: Duration::from_secs(120),
            block_udp: false,
            block_tcp: false,
            tcp_timeout: TCP_ESTABLISHED_TIMEOUT,
        }
    }

    fn a(s: &str) -> SocketAddr {
        s.parse().expect("socket address")
    }

    #[test]
    fn external_port_is_never_that_of_another_live_mapping() {
        // The base of virtual time: any instant will do.
        #[allow(clippy::disallowed_methods)]
        let t0 = Instant::now();
        let mut nat = NatTable::new(
            cfg(
                Behaviour::AddressAndPortDependent,
                Behaviour::AddressAndPortDependent,
            ),
            [1; 32],
        );
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..2000u16 {
            let e = nat
                .outbound(
                    t0,
                    a("10.0.1.1:5000"),
                    SocketAddr::new("203.0.113.1".parse().expect("ip"), 1 + i),
                )
                .expect("mapped");
            assert!(seen.insert(e.port()), "port {} handed out twice", e.port());
        }
    }
}
