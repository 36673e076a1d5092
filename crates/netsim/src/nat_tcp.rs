//! A NAT router's TCP translation state, RFC 5382 behaviours.
//!
//! [`TcpNatTable`] is the TCP sibling of [`NatTable`](crate::nat::NatTable), built from the same
//! [`NatConfig`]; its ports are a space of their own, so a TCP mapping never serves UDP and a
//! UDP mapping never serves TCP. It works on [`TcpSegment`]s (addresses and flags) one by one.
//! Requirements are cited by their RFC 5382 number (REQ-n), which is unambiguous.
//!
//! - Mapping (REQ-1, "TCP Connection Initiation"): keyed like UDP's by the script's `mapping`
//!   (RFC 5382 asks for endpoint-independent; the script decides, as for UDP). Port choice and
//!   port preservation as for UDP ([`crate::nat`]).
//! - State: only an opening SYN (SYN without ACK) creates state; a mapping lives while one of
//!   its connections does. Every other segment must belong to a connection through the NAT,
//!   else it is dropped ([`NatDrop::NoConnection`]).
//! - Simultaneous open (REQ-2: a NAT MUST support it): an outbound SYN to an endpoint creates
//!   the connection, and the other side's SYN from that endpoint then belongs to it, whatever
//!   the filtering; either side's SYN may go first.
//! - Filtering (REQ-3, REQ-4, "Externally Initiated Connections"): an unsolicited inbound SYN
//!   (one that belongs to no connection) reaches the internal endpoint only through an existing
//!   mapping and only as the script's `filtering` admits its source: endpoint-independent admits
//!   any source; address-dependent one the mapping sent to by IP; address-and-port-dependent one
//!   it sent to by IP and port, so a stranger's SYN is dropped. Without a mapping it is dropped
//!   whatever the filtering (the NAT is not a port forwarder). Dropped SYNs are dropped
//!   silently: REQ-4's ICMP Port Unreachable after 6 s (a SHOULD) is not sent.
//! - Lifetime (REQ-5, "NAT Session Refresh"): a connection is idle-timed out `tcp_timeout` after
//!   its last segment in either direction once established (a SYN and an ACK crossed each
//!   way), and [`TCP_TRANSITORY_TIMEOUT`] (4 min) while opening or closing (after a FIN or an
//!   RST); when `tcp_timeout` is shorter than that it is used for both, so a script testing
//!   expiry gets short lifetimes everywhere. REQ-5 asks for at least 2 h 4 min established:
//!   shorter values are the script's deliberate choice.
//! - `block_tcp`: every segment dropped ([`NatDrop::Blocked`]).
//! - Hairpinning (REQ-8 asks for it; the script's `hairpinning` decides, as for UDP): a segment
//!   from inside to the public address is translated as outbound, then as inbound with its
//!   external source, as [`NatTable::hairpin`](crate::nat::NatTable::hairpin) does.
//!
//! Bounds: at most [`MAX_MAPPINGS`] mappings and [`MAX_TCP_CONNECTIONS`] connections per
//! mapping; a SYN beyond them is dropped ([`NatDrop::PortsExhausted`]). Everything is ordered
//! (`BTreeMap`) and the only randomness is the seeded port choice, so a run is reproducible.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

use crate::nat::{
    Key, MAX_MAPPINGS, NatConfig, NatDrop, admits, choose_port, mapping_key, remember,
};
use crate::tcp::{TcpFlags, TcpSegment};

/// RFC 5382 REQ-5's least transitory-connection idle timeout: how long a connection that is
/// opening or closing lives without a segment.
pub const TCP_TRANSITORY_TIMEOUT: Duration = Duration::from_secs(240);

/// The most connections one TCP mapping holds at once.
pub const MAX_TCP_CONNECTIONS: usize = 64;

/// Where a connection through the NAT stands, as far as the NAT can tell from flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TcpConnState {
    /// Handshake under way (a transitory state, RFC 5382 REQ-5).
    Opening,
    /// A SYN and an ACK crossed each way.
    Established,
    /// A FIN or an RST crossed (transitory).
    Closing,
}

#[derive(Debug, Clone)]
struct Conn {
    syn_out: bool,
    syn_in: bool,
    ack_out: bool,
    ack_in: bool,
    closing: bool,
    last_seen: Instant,
}

impl Conn {
    fn new(now: Instant) -> Conn {
        Conn {
            syn_out: false,
            syn_in: false,
            ack_out: false,
            ack_in: false,
            closing: false,
            last_seen: now,
        }
    }

    fn state(&self) -> TcpConnState {
        if self.closing {
            TcpConnState::Closing
        } else if self.syn_out && self.syn_in && self.ack_out && self.ack_in {
            TcpConnState::Established
        } else {
            TcpConnState::Opening
        }
    }

    /// Takes the flags of a segment of this connection (REQ-5: any segment refreshes it).
    fn see(&mut self, now: Instant, flags: TcpFlags, outbound: bool) {
        let (syn, ack) = if outbound {
            (&mut self.syn_out, &mut self.ack_out)
        } else {
            (&mut self.syn_in, &mut self.ack_in)
        };
        *syn |= flags.contains(TcpFlags::SYN);
        *ack |= flags.contains(TcpFlags::ACK);
        if flags.contains(TcpFlags::FIN) || flags.contains(TcpFlags::RST) {
            self.closing = true;
        }
        self.last_seen = now;
    }
}

#[derive(Debug, Clone)]
struct Mapping {
    internal: SocketAddr,
    key: Key,
    /// By remote endpoint.
    conns: BTreeMap<SocketAddr, Conn>,
    /// Remote endpoints this mapping sent a SYN to, most recent last (filtering).
    sent_to: Vec<SocketAddr>,
}

/// Counters of one NAT's TCP table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpNatStats {
    /// Outbound segments translated.
    pub outbound: u64,
    /// Inbound segments translated.
    pub inbound: u64,
    /// Hairpinned segments delivered inside.
    pub hairpinned: u64,
    /// Mappings created.
    pub mappings_created: u64,
    /// Mappings removed (their last connection timed out).
    pub mappings_expired: u64,
    /// Connections created (by an outbound SYN or an admitted inbound one).
    pub connections_created: u64,
    /// Connections that timed out.
    pub connections_expired: u64,
    /// Segments dropped by `block_tcp`.
    pub dropped_blocked: u64,
    /// Inbound segments to a port with no live mapping.
    pub dropped_no_mapping: u64,
    /// Unsolicited inbound SYNs refused by the filter.
    pub dropped_filtered: u64,
    /// Segments (other than an opening SYN) of no connection.
    pub dropped_no_connection: u64,
    /// Hairpin attempts refused.
    pub dropped_no_hairpin: u64,
    /// SYNs dropped for want of a port or of room for a connection.
    pub dropped_exhausted: u64,
}

/// The TCP translation table of one NAT. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct TcpNatTable {
    config: NatConfig,
    /// By external port.
    mappings: BTreeMap<u16, Mapping>,
    /// (internal endpoint, key) -> external port.
    index: BTreeMap<(SocketAddr, Key), u16>,
    rng: ChaCha8Rng,
    stats: TcpNatStats,
}

impl TcpNatTable {
    /// An empty table; `seed` drives port choice.
    pub fn new(config: NatConfig, seed: [u8; 32]) -> Self {
        TcpNatTable {
            config,
            mappings: BTreeMap::new(),
            index: BTreeMap::new(),
            rng: ChaCha8Rng::from_seed(seed),
            stats: TcpNatStats::default(),
        }
    }

    /// Its behaviour.
    pub fn config(&self) -> &NatConfig {
        &self.config
    }

    /// Its counters.
    pub fn stats(&self) -> TcpNatStats {
        self.stats
    }

    fn lifetime(&self, state: TcpConnState) -> Duration {
        match state {
            TcpConnState::Established => self.config.tcp_timeout,
            _ => TCP_TRANSITORY_TIMEOUT.min(self.config.tcp_timeout),
        }
    }

    fn conn_expired(&self, c: &Conn, now: Instant) -> bool {
        now.saturating_duration_since(c.last_seen) >= self.lifetime(c.state())
    }

    /// Drops the expired connections of the mapping on `port`, and the mapping with its last
    /// one; whether the mapping is still there.
    fn prune(&mut self, now: Instant, port: u16) -> bool {
        let Some(m) = self.mappings.get(&port) else {
            return false;
        };
        let dead: Vec<SocketAddr> = m
            .conns
            .iter()
            .filter(|(_, c)| self.conn_expired(c, now))
            .map(|(r, _)| *r)
            .collect();
        let Some(m) = self.mappings.get_mut(&port) else {
            return false;
        };
        for r in &dead {
            m.conns.remove(r);
        }
        self.stats.connections_expired += dead.len() as u64;
        if m.conns.is_empty() {
            let (internal, key) = (m.internal, m.key);
            self.mappings.remove(&port);
            self.index.remove(&(internal, key));
            self.stats.mappings_expired += 1;
            return false;
        }
        true
    }

    /// Drops every expired connection and mapping (also done lazily on each lookup).
    pub fn expire(&mut self, now: Instant) {
        let ports: Vec<u16> = self.mappings.keys().copied().collect();
        for p in ports {
            self.prune(now, p);
        }
    }

    /// Live mappings at `now`.
    pub fn mapping_count(&self, now: Instant) -> usize {
        self.mappings
            .values()
            .filter(|m| m.conns.values().any(|c| !self.conn_expired(c, now)))
            .count()
    }

    /// The external address of the live mapping `internal` would use towards `remote`.
    pub fn mapping_of(
        &self,
        now: Instant,
        internal: SocketAddr,
        remote: SocketAddr,
    ) -> Option<SocketAddr> {
        let key = mapping_key(self.config.mapping, remote);
        let port = *self.index.get(&(internal, key))?;
        let m = self.mappings.get(&port)?;
        m.conns
            .values()
            .any(|c| !self.conn_expired(c, now))
            .then(|| SocketAddr::new(self.config.public_ip, port))
    }

    /// The state of the live connection between `internal` and `remote`, if any.
    pub fn connection_state(
        &self,
        now: Instant,
        internal: SocketAddr,
        remote: SocketAddr,
    ) -> Option<TcpConnState> {
        let key = mapping_key(self.config.mapping, remote);
        let port = self.index.get(&(internal, key))?;
        let c = self.mappings.get(port)?.conns.get(&remote)?;
        (!self.conn_expired(c, now)).then(|| c.state())
    }

    fn pass_tcp(&mut self) -> Result<(), NatDrop> {
        if self.config.block_tcp {
            self.stats.dropped_blocked += 1;
            return Err(NatDrop::Blocked);
        }
        Ok(())
    }

    fn drop_as(&mut self, why: NatDrop) -> NatDrop {
        let counter = match why {
            NatDrop::NoMapping => &mut self.stats.dropped_no_mapping,
            NatDrop::Filtered => &mut self.stats.dropped_filtered,
            NatDrop::NoConnection => &mut self.stats.dropped_no_connection,
            NatDrop::PortsExhausted => &mut self.stats.dropped_exhausted,
            NatDrop::NoHairpin => &mut self.stats.dropped_no_hairpin,
            NatDrop::Blocked => &mut self.stats.dropped_blocked,
        };
        *counter += 1;
        why
    }

    /// An outbound segment from inside: the segment as it leaves (its source translated).
    pub fn outbound(&mut self, now: Instant, seg: TcpSegment) -> Result<TcpSegment, NatDrop> {
        self.pass_tcp()?;
        let key = mapping_key(self.config.mapping, seg.dst);
        let live = match self.index.get(&(seg.src, key)).copied() {
            Some(port) => self.prune(now, port).then_some(port),
            None => None,
        };
        let has_conn = live
            .and_then(|p| self.mappings.get(&p))
            .is_some_and(|m| m.conns.contains_key(&seg.dst));
        if !has_conn && !seg.is_opening_syn() {
            return Err(self.drop_as(NatDrop::NoConnection));
        }
        let port = match live {
            Some(p) => p,
            None => {
                if self.mappings.len() >= MAX_MAPPINGS {
                    self.expire(now);
                }
                let mappings = &self.mappings;
                let port = (mappings.len() < MAX_MAPPINGS)
                    .then(|| {
                        choose_port(
                            &mut self.rng,
                            self.config.port_preservation,
                            seg.src.port(),
                            |p| mappings.contains_key(&p),
                        )
                    })
                    .flatten();
                let Some(port) = port else {
                    return Err(self.drop_as(NatDrop::PortsExhausted));
                };
                self.mappings.insert(
                    port,
                    Mapping {
                        internal: seg.src,
                        key,
                        conns: BTreeMap::new(),
                        sent_to: Vec::new(),
                    },
                );
                self.index.insert((seg.src, key), port);
                self.stats.mappings_created += 1;
                port
            }
        };
        let Some(m) = self.mappings.get_mut(&port) else {
            return Err(self.drop_as(NatDrop::NoMapping));
        };
        if !m.conns.contains_key(&seg.dst) {
            if m.conns.len() >= MAX_TCP_CONNECTIONS {
                return Err(self.drop_as(NatDrop::PortsExhausted));
            }
            m.conns.insert(seg.dst, Conn::new(now));
            self.stats.connections_created += 1;
        }
        if seg.is_opening_syn() {
            remember(&mut m.sent_to, seg.dst);
        }
        if let Some(c) = m.conns.get_mut(&seg.dst) {
            c.see(now, seg.flags, true);
        }
        self.stats.outbound += 1;
        Ok(TcpSegment {
            src: SocketAddr::new(self.config.public_ip, port),
            ..seg
        })
    }

    /// An inbound segment from outside to the public address: the segment as delivered inside
    /// (its destination translated).
    pub fn inbound(&mut self, now: Instant, seg: TcpSegment) -> Result<TcpSegment, NatDrop> {
        self.pass_tcp()?;
        let port = seg.dst.port();
        if seg.dst.ip() != self.config.public_ip || !self.prune(now, port) {
            return Err(self.drop_as(NatDrop::NoMapping));
        }
        let filtering = self.config.filtering;
        let Some(m) = self.mappings.get_mut(&port) else {
            return Err(self.drop_as(NatDrop::NoMapping));
        };
        if !m.conns.contains_key(&seg.src) {
            // Unsolicited: REQ-3/REQ-4, only an opening SYN the filter admits gets in.
            if !seg.is_opening_syn() {
                return Err(self.drop_as(NatDrop::NoConnection));
            }
            if !admits(filtering, &m.sent_to, seg.src) {
                return Err(self.drop_as(NatDrop::Filtered));
            }
            if m.conns.len() >= MAX_TCP_CONNECTIONS {
                return Err(self.drop_as(NatDrop::PortsExhausted));
            }
            m.conns.insert(seg.src, Conn::new(now));
            self.stats.connections_created += 1;
        }
        let internal = m.internal;
        if let Some(c) = m.conns.get_mut(&seg.src) {
            c.see(now, seg.flags, false);
        }
        self.stats.inbound += 1;
        Ok(TcpSegment {
            dst: internal,
            ..seg
        })
    }

    /// A segment from inside to the NAT's own public address: the segment as delivered inside,
    /// from the sender's external mapping (RFC 5382 REQ-8, as RFC 4787 REQ-9 for UDP).
    pub fn hairpin(&mut self, now: Instant, seg: TcpSegment) -> Result<TcpSegment, NatDrop> {
        self.pass_tcp()?;
        if !self.config.hairpinning {
            return Err(self.drop_as(NatDrop::NoHairpin));
        }
        let out = self.outbound(now, seg)?;
        self.stats.outbound -= 1;
        let delivered = self.inbound(now, out)?;
        self.stats.inbound -= 1;
        self.stats.hairpinned += 1;
        Ok(delivered)
    }

    /// When the next connection times out, if any is live at `now`.
    pub fn next_expiry(&self, now: Instant) -> Option<Instant> {
        self.mappings
            .values()
            .flat_map(|m| m.conns.values())
            .filter(|c| !self.conn_expired(c, now))
            .map(|c| c.last_seen + self.lifetime(c.state()))
            .min()
    }
}
