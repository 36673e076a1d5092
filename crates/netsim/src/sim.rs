//! The simulated network: hosts, NAT routers and links in virtual time.
//!
//! A datagram crosses one *hop* per network it travels on: from its sender to a receiver on the
//! same network (a host, or a NAT's public address), or to the network's way out (the NAT whose
//! inside it is). Each hop takes the network's latency plus a uniform jitter and may be lost,
//! drawn from the simulator's seeded RNG. A NAT translates instantly and sends the datagram on
//! its next hop. Nothing else routes: a private address is reachable only from its own network,
//! and a network without a NAT reaches nothing beyond itself.
//!
//! Captures (when [enabled](Sim::enable_capture)) record each datagram on the network it
//! crossed, at the time it arrived at the end of the hop, with the addresses it had there.
//!
//! TCP: every host has a TCP stack ([`TcpStack`], RFC 9293 in virtual time) that its node
//! drives with [`TcpCommand`](crate::node::TcpCommand)s ([`Node::poll_tcp`], or [`Sim::tcp_command`]) and hears from
//! with [`TcpEvent`]s ([`Node::handle_tcp`], or
//! [`Sim::poll_tcp_event`]). Its segments cross the networks exactly as datagrams do (the same
//! hops, latency, jitter and loss draws from the same RNG, so a run without TCP draws what it
//! drew before TCP existed) and the NATs through their RFC 5382 tables
//! ([`TcpNatTable`], one per NAT beside the UDP [`NatTable`], with a seed of its own, honouring
//! `block_tcp` and `tcp_timeout_s`). Captures write them as TCP with real headers.
//!
//! Built-in services (the STUN and TURN servers, the XMPP stand-in) answer at once: a datagram
//! to a service's port goes to it, not to the host's node; a TURN service that serves TCP has
//! its host's stack listen on its port when the simulator is built, and the events of its
//! listeners and connections go to it (the host's other events stay in order for the host's
//! node or [`Sim::poll_tcp_event`]); what it sends (datagrams, TCP commands) is carried out at
//! once.

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

use crate::delay::DelayLine;
use crate::nat::{NatDrop, NatStats, NatTable};
use crate::nat_tcp::TcpNatTable;
use crate::node::{Node, TcpEvent, Transmit};
use crate::pcap::Capture;
use crate::stun_server::StunServer;
use crate::tcp::TcpPacket;
use crate::tcp_stack::TcpStack;
use crate::topology::{LinkParams, Service, Topology};
use crate::turn_server::{TlsIdentity, TurnServer, TurnServerConfig};
use crate::xmpp_stand_in::XmppStandIn;

mod tcp;

pub use self::tcp::SimTcpStats;

/// Datagrams (and TCP segments) in flight at once; more are dropped and counted.
pub const MAX_IN_FLIGHT: usize = 100_000;

/// The largest UDP payload carried (IPv4's limit).
pub const MAX_DATAGRAM: usize = 65_507;

/// Rounds of work at one instant after which [`Sim::step`] reports a stall.
pub const MAX_ROUNDS_PER_INSTANT: usize = 10_000;

/// A host of the topology, by index in [`Topology::hosts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostId(pub usize);

/// A datagram that reached a host with no built-in service on its port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The receiving host.
    pub host: HostId,
    /// Source address as the host sees it.
    pub from: SocketAddr,
    /// The host's address and port it was sent to.
    pub to: SocketAddr,
    /// UDP payload.
    pub data: Vec<u8>,
}

/// Counters of the whole network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Datagrams handed to [`Sim::send`].
    pub sent: u64,
    /// Datagrams that reached a host.
    pub delivered: u64,
    /// Hops lost to the link's loss.
    pub lost: u64,
    /// Datagrams with no route (a private address from outside, a network with no way out).
    pub no_route: u64,
    /// Datagrams whose source is not an address of the sending host.
    pub bad_source: u64,
    /// Datagrams too large or over [`MAX_IN_FLIGHT`].
    pub overflow: u64,
    /// Datagrams dropped by a NAT (see [`Sim::nat_stats`] for why).
    pub nat_dropped: u64,
    /// Datagrams that reached a host with no node to take them.
    pub no_listener: u64,
    /// TCP segments, counted apart (the fields above count UDP datagrams only).
    pub tcp: SimTcpStats,
}

/// What [`Sim::step`] could not do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// A node kept asking to run at the same instant (its `poll_timeout` did not move after
    /// `handle_timeout`, or nodes answered each other forever over zero-latency links).
    #[error("no progress at {at:?} after {rounds} rounds: a node spins (host {host})")]
    Stalled {
        /// Virtual time since the start.
        at: Duration,
        /// Rounds run.
        rounds: usize,
        /// The host whose node was still due.
        host: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Owner {
    Host(usize),
    NatOutside(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Dest {
    Owner(Owner),
    NatInside(usize),
}

/// What crosses a hop.
#[derive(Debug)]
enum Body {
    /// A UDP payload.
    Udp(Vec<u8>),
    /// A TCP segment; its `src` and `dst` are the hop's (kept equal to [`InFlight`]'s by
    /// [`Sim::route`]).
    Tcp(TcpPacket),
}

impl Body {
    fn proto(&self) -> Proto {
        match self {
            Body::Udp(_) => Proto::Udp,
            Body::Tcp(_) => Proto::Tcp,
        }
    }
}

/// Which counters of [`SimStats`] a hop's fate goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    Udp,
    Tcp,
}

/// What became of a datagram or segment, for [`SimStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Delivered,
    Lost,
    NoRoute,
    Overflow,
    NatDropped,
}

/// A datagram or segment in flight, due at its place in the [`DelayLine`].
#[derive(Debug)]
struct InFlight {
    net: usize,
    dest: Dest,
    from: SocketAddr,
    to: SocketAddr,
    body: Body,
}

#[derive(Debug)]
struct NetState {
    name: String,
    link: LinkParams,
    /// The NAT whose inside this network is.
    gateway: Option<usize>,
    capture: Option<Capture>,
}

#[derive(Debug)]
struct NatState {
    name: String,
    inside: usize,
    outside: usize,
    table: NatTable,
    /// Its TCP state (RFC 5382), ports apart from the UDP table's.
    tcp: TcpNatTable,
}

#[derive(Debug)]
struct HostState {
    name: String,
    ips: Vec<(IpAddr, usize)>,
    /// The built-in service, if the host runs one.
    service: Option<BuiltIn>,
    /// Its TCP.
    tcp: TcpStack,
    /// Events of `tcp` already queued in [`Sim`]'s order of events.
    tcp_announced: usize,
}

/// A service the simulator runs on a host itself.
#[derive(Debug)]
enum BuiltIn {
    /// A STUN server on a port.
    Stun(u16, StunServer),
    /// A TURN server (its listening port and its relayed addresses).
    Turn(Box<TurnServer>),
    /// What stands for an XMPP server: the sources of datagrams to its port.
    Xmpp(XmppStandIn),
}

impl BuiltIn {
    /// The service of `host` (named `name`) in a run of `seed` starting at `base`.
    fn new(service: &Service, host: &crate::topology::Host, seed: u64, base: Instant) -> Self {
        match service {
            Service::Stun { port } => {
                // RFC 8489 §6.2.2: over TCP too, on the same port of each of its addresses.
                let mut server = StunServer::new();
                for (ip, _) in &host.ips {
                    server.listen_tcp(SocketAddr::new(*ip, *port));
                }
                BuiltIn::Stun(*port, server)
            }
            Service::Turn {
                port,
                realm,
                auth,
                lifetime,
                alternate,
                transports,
                tls_port,
            } => {
                let mut config = TurnServerConfig::new(
                    *port,
                    auth.clone(),
                    host.ips.iter().map(|(ip, _)| *ip).collect(),
                );
                config.realm.clone_from(realm);
                config.max_lifetime = *lifetime;
                config.alternate = *alternate;
                config.transports.clone_from(transports);
                config.tls_port = *tls_port;
                config.tls_identity = Some(TlsIdentity {
                    ca_seed: tls_ca_seed(seed),
                    name: host.name.clone(),
                });
                let seed = derive_seed(seed, &format!("turn {}", host.name));
                BuiltIn::Turn(Box::new(TurnServer::new(config, base, seed)))
            }
            Service::Xmpp { port, .. } => BuiltIn::Xmpp(XmppStandIn::new(*port)),
        }
    }

    /// The node, when a datagram to `to` is the service's.
    fn node_for(&mut self, to: SocketAddr) -> Option<&mut dyn Node> {
        match self {
            BuiltIn::Stun(port, server) => (*port == to.port()).then_some(server as &mut dyn Node),
            BuiltIn::Turn(server) => server
                .serves(to)
                .then_some(server.as_mut() as &mut dyn Node),
            BuiltIn::Xmpp(x) => (x.port() == to.port()).then_some(x as &mut dyn Node),
        }
    }

    /// The node, when an event of the host's TCP stack is the service's: the TURN and STUN
    /// servers' listeners and connections (the XMPP stand-in speaks UDP only).
    fn tcp_node_for(&mut self, event: &TcpEvent) -> Option<&mut dyn Node> {
        match self {
            BuiltIn::Turn(server) => server
                .claims(event)
                .then_some(server.as_mut() as &mut dyn Node),
            BuiltIn::Stun(_, server) => server.claims(event).then_some(server as &mut dyn Node),
            BuiltIn::Xmpp(_) => None,
        }
    }

    /// The node, to drain what it asks of the host's TCP stack.
    fn node(&mut self) -> &mut dyn Node {
        match self {
            BuiltIn::Stun(_, server) => server,
            BuiltIn::Turn(server) => server.as_mut(),
            BuiltIn::Xmpp(x) => x,
        }
    }
}

/// The seed of a run's simulated certificate authority (`tls::SimCa`, feature `tls`), from the
/// run's seed: the simulator's TLS servers present certificates it issued for their host's
/// name, and a run's clients derive the same authority to trust.
pub fn tls_ca_seed(seed: u64) -> [u8; 32] {
    derive_seed(seed, "tls ca")
}

/// A 32-byte seed for the part of a run named `label`, from the script's `seed`: the same
/// script seed gives every part the same stream on every run and platform.
pub fn derive_seed(seed: u64, label: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out[..8].copy_from_slice(&seed.to_le_bytes());
    // FNV-1a of the label, spread over the rest.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in label.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    for (i, chunk) in out[8..].chunks_mut(8).enumerate() {
        let v = h.rotate_left(u32::try_from(i).unwrap_or(0) * 17) ^ (i as u64);
        chunk.copy_from_slice(&v.to_le_bytes()[..chunk.len()]);
    }
    out
}

/// A simulated network built from a [`Topology`]. See the [module docs](self).
///
/// The loop a caller runs: [`Sim::send`] what its endpoints transmit, then
/// [`Sim::handle_timeout`] at [`Sim::poll_timeout`] and drain [`Sim::poll_delivery`]; or hand
/// the endpoints to [`Sim::step`] as [`Node`]s and let it do all of that.
#[derive(Debug)]
pub struct Sim {
    base: Instant,
    rng: ChaCha8Rng,
    nets: Vec<NetState>,
    nats: Vec<NatState>,
    hosts: Vec<HostState>,
    owners: BTreeMap<(usize, IpAddr), Owner>,
    queue: DelayLine<InFlight>,
    deliveries: VecDeque<Delivery>,
    /// The host of each TCP event not yet polled, in the order the stacks raised them.
    tcp_order: VecDeque<HostId>,
    stats: SimStats,
}

impl Sim {
    /// The network of `topology`, at virtual time `base`.
    pub fn new(topology: &Topology, base: Instant) -> Sim {
        let nets = topology
            .networks
            .iter()
            .enumerate()
            .map(|(i, n)| NetState {
                name: n.name.clone(),
                link: n.link,
                gateway: topology.nats.iter().position(|x| x.inside == i),
                capture: None,
            })
            .collect();
        let nats: Vec<NatState> = topology
            .nats
            .iter()
            .map(|n| NatState {
                name: n.name.clone(),
                inside: n.inside,
                outside: n.outside,
                table: NatTable::new(
                    n.config,
                    derive_seed(topology.seed, &format!("nat {}", n.name)),
                ),
                tcp: TcpNatTable::new(
                    n.config,
                    derive_seed(topology.seed, &format!("tcp nat {}", n.name)),
                ),
            })
            .collect();
        let hosts: Vec<HostState> = topology
            .hosts
            .iter()
            .enumerate()
            .map(|(i, h)| HostState {
                name: h.name.clone(),
                ips: h.ips.clone(),
                service: h
                    .service
                    .as_ref()
                    .map(|s| BuiltIn::new(s, h, topology.seed, base)),
                // Connection ids: the host's index in the high 32 bits, unique in the run.
                tcp: TcpStack::new(
                    h.ips.iter().map(|(ip, _)| *ip).collect(),
                    (i as u64 + 1) << 32,
                    derive_seed(topology.seed, &format!("tcp {}", h.name)),
                ),
                tcp_announced: 0,
            })
            .collect();
        let mut owners = BTreeMap::new();
        for (i, h) in hosts.iter().enumerate() {
            for &(ip, net) in &h.ips {
                owners.insert((net, ip), Owner::Host(i));
            }
        }
        for (i, n) in topology.nats.iter().enumerate() {
            owners.insert((n.outside, n.config.public_ip), Owner::NatOutside(i));
        }
        let mut sim = Sim {
            base,
            rng: ChaCha8Rng::from_seed(derive_seed(topology.seed, "links")),
            nets,
            nats,
            hosts,
            owners,
            queue: DelayLine::new(MAX_IN_FLIGHT),
            deliveries: VecDeque::new(),
            tcp_order: VecDeque::new(),
            stats: SimStats::default(),
        };
        // The built-in services' listeners (a TURN server over TCP).
        for h in 0..sim.hosts.len() {
            sim.service_tcp_commands(base, h);
        }
        sim
    }

    /// What of `topology` the simulator cannot honour: TURN over TLS when it is built without
    /// the feature `tls` (its TURN server then serves UDP and TCP; see
    /// [`Topology::turn_unsupported`]); with it, nothing. A runner reports such scripts as not
    /// run, never runs them as if the keys were absent. TCP itself is carried (every host has
    /// a [`TcpStack`], the NATs honour `block_tcp` and `tcp_timeout_s`), so ICE-TCP candidates
    /// (`tcp`), TURN over TCP and the `[[nat]]` TCP keys are not listed.
    pub fn unsupported(topology: &Topology) -> Vec<String> {
        if cfg!(feature = "tls") {
            Vec::new()
        } else {
            topology.turn_unsupported()
        }
    }

    /// The start of virtual time.
    pub fn base(&self) -> Instant {
        self.base
    }

    /// The host named `name`.
    pub fn host(&self, name: &str) -> Option<HostId> {
        self.hosts.iter().position(|h| h.name == name).map(HostId)
    }

    /// A host's name.
    pub fn host_name(&self, host: HostId) -> &str {
        self.hosts.get(host.0).map_or("?", |h| h.name.as_str())
    }

    /// A host's addresses.
    pub fn host_ips(&self, host: HostId) -> Vec<IpAddr> {
        self.hosts
            .get(host.0)
            .map(|h| h.ips.iter().map(|(ip, _)| *ip).collect())
            .unwrap_or_default()
    }

    /// Counters of the whole network.
    pub fn stats(&self) -> SimStats {
        self.stats
    }

    /// Counters of the NAT named `name`.
    pub fn nat_stats(&self, name: &str) -> Option<NatStats> {
        self.nats
            .iter()
            .find(|n| n.name == name)
            .map(|n| n.table.stats())
    }

    /// The built-in service of the host named `name`, if it runs one.
    fn service(&self, name: &str) -> Option<&BuiltIn> {
        self.hosts.iter().find(|h| h.name == name)?.service.as_ref()
    }

    /// The TURN server of the host named `name`, if it runs one.
    pub fn turn_server(&self, name: &str) -> Option<&TurnServer> {
        match self.service(name)? {
            BuiltIn::Turn(server) => Some(server),
            BuiltIn::Stun(..) | BuiltIn::Xmpp(_) => None,
        }
    }

    /// What stands for the XMPP server of the host named `name`, if it runs an xmpp service:
    /// the source addresses the server saw (see [`crate::xmpp_stand_in`] for how a runner
    /// uses it to answer XEP-0279 on the simulator).
    pub fn xmpp_server(&self, name: &str) -> Option<&XmppStandIn> {
        match self.service(name)? {
            BuiltIn::Xmpp(x) => Some(x),
            BuiltIn::Stun(..) | BuiltIn::Turn(_) => None,
        }
    }

    /// The translation table of the NAT named `name`.
    pub fn nat_table(&self, name: &str) -> Option<&NatTable> {
        self.nats.iter().find(|n| n.name == name).map(|n| &n.table)
    }

    /// Starts recording a capture per network (from now on).
    pub fn enable_capture(&mut self) {
        for n in &mut self.nets {
            n.capture.get_or_insert_with(Capture::new);
        }
    }

    /// Each network's name and capture, when capture is enabled.
    pub fn captures(&self) -> impl Iterator<Item = (&str, &Capture)> {
        self.nets
            .iter()
            .filter_map(|n| n.capture.as_ref().map(|c| (n.name.as_str(), c)))
    }

    /// Datagrams in flight.
    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }

    /// Sends a datagram from `host`: `t.from` must be one of its addresses.
    pub fn send(&mut self, now: Instant, host: HostId, t: Transmit) {
        self.stats.sent += 1;
        let Some(h) = self.hosts.get(host.0) else {
            self.stats.bad_source += 1;
            return;
        };
        let Some(&(_, net)) = h.ips.iter().find(|(ip, _)| *ip == t.from.ip()) else {
            self.stats.bad_source += 1;
            return;
        };
        if t.data.len() > MAX_DATAGRAM {
            self.stats.overflow += 1;
            return;
        }
        self.route(now, net, t.from, t.to, Body::Udp(t.data));
    }

    /// Counts a datagram's or a segment's fate.
    fn count(&mut self, proto: Proto, fate: Fate) {
        let s = &mut self.stats;
        let counter = match (proto, fate) {
            (Proto::Udp, Fate::Delivered) => &mut s.delivered,
            (Proto::Udp, Fate::Lost) => &mut s.lost,
            (Proto::Udp, Fate::NoRoute) => &mut s.no_route,
            (Proto::Udp, Fate::Overflow) => &mut s.overflow,
            (Proto::Udp, Fate::NatDropped) => &mut s.nat_dropped,
            (Proto::Tcp, Fate::Delivered) => &mut s.tcp.delivered,
            (Proto::Tcp, Fate::Lost) => &mut s.tcp.lost,
            (Proto::Tcp, Fate::NoRoute) => &mut s.tcp.no_route,
            (Proto::Tcp, Fate::Overflow) => &mut s.tcp.overflow,
            (Proto::Tcp, Fate::NatDropped) => &mut s.tcp.nat_dropped,
        };
        *counter += 1;
    }

    /// One hop on `net` towards `to`.
    fn route(&mut self, now: Instant, net: usize, from: SocketAddr, to: SocketAddr, body: Body) {
        if from.is_ipv4() != to.is_ipv4() {
            self.count(body.proto(), Fate::NoRoute);
            return;
        }
        let dest = match self.owners.get(&(net, to.ip())) {
            Some(&o) => Dest::Owner(o),
            None => match self.nets[net].gateway {
                Some(g) if self.nats[g].table.config().public_ip.is_ipv4() == to.is_ipv4() => {
                    Dest::NatInside(g)
                }
                _ => {
                    self.count(body.proto(), Fate::NoRoute);
                    return;
                }
            },
        };
        let link = self.nets[net].link;
        // Draw loss and jitter for every hop, whatever their values, so that changing one
        // network's parameters leaves the other networks' draws where they were.
        let loss_draw = self.rng.next_u64();
        let jitter_draw = self.rng.next_u64();
        let Some(delay) = link.hop(loss_draw, jitter_draw) else {
            self.count(body.proto(), Fate::Lost);
            return;
        };
        let proto = body.proto();
        let body = match body {
            Body::Tcp(mut p) => {
                p.src = from;
                p.dst = to;
                Body::Tcp(p)
            }
            udp => udp,
        };
        let datagram = InFlight {
            net,
            dest,
            from,
            to,
            body,
        };
        if !self.queue.hold(now + delay, datagram) {
            self.count(proto, Fate::Overflow);
        }
    }

    /// When the next datagram or segment arrives somewhere, or the next TCP timer of a host
    /// is due.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.queue.next_due(), self.tcp_next_timer()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Moves every datagram and segment due by `now` one hop on and runs the TCP timers due,
    /// in the order of their times; built-in services answer at once, what reaches other
    /// hosts waits in [`Sim::poll_delivery`] (datagrams) and [`Sim::poll_tcp_event`] (what
    /// the hosts' TCP stacks made of the segments).
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut timer_runs = 0;
        loop {
            let item = self.queue.next_due().filter(|t| *t <= now);
            let timer = self.tcp_next_timer().filter(|t| *t <= now);
            match (item, timer) {
                (Some(i), t) if t.is_none_or(|t| i <= t) => {
                    if let Some((at, f)) = self.queue.pop_due(now) {
                        self.arrive(at, f);
                    }
                }
                (_, Some(t)) if timer_runs < MAX_ROUNDS_PER_INSTANT => {
                    timer_runs += 1;
                    self.run_tcp_timers(t);
                }
                _ => break,
            }
        }
    }

    fn arrive(&mut self, now: Instant, f: InFlight) {
        if let Some(c) = self.nets[f.net].capture.as_mut() {
            let at = now.saturating_duration_since(self.base);
            match &f.body {
                Body::Udp(data) => c.push(at, f.from, f.to, data),
                Body::Tcp(p) => c.push_tcp(at, p),
            }
        }
        let data = match f.body {
            Body::Udp(data) => data,
            Body::Tcp(p) => return self.arrive_tcp(now, f.dest, p),
        };
        match f.dest {
            Dest::Owner(Owner::Host(h)) => {
                self.stats.delivered += 1;
                let mut replies = Vec::new();
                match self.hosts[h]
                    .service
                    .as_mut()
                    .and_then(|s| s.node_for(f.to))
                {
                    Some(server) => {
                        server.handle_datagram(now, f.from, f.to, &data);
                        while let Some(t) = server.poll_transmit() {
                            replies.push(t);
                        }
                    }
                    _ => self.deliveries.push_back(Delivery {
                        host: HostId(h),
                        from: f.from,
                        to: f.to,
                        data,
                    }),
                }
                for t in replies {
                    self.send(now, HostId(h), t);
                }
                self.service_tcp_commands(now, h);
            }
            Dest::Owner(Owner::NatOutside(n)) => {
                match self.nats[n].table.inbound(now, f.from, f.to) {
                    Ok(internal) => {
                        let inside = self.nats[n].inside;
                        self.route(now, inside, f.from, internal, Body::Udp(data));
                    }
                    Err(_) => self.stats.nat_dropped += 1,
                }
            }
            Dest::NatInside(n) => {
                let nat = &mut self.nats[n];
                let result: Result<(usize, SocketAddr, SocketAddr), NatDrop> =
                    if f.to.ip() == nat.table.config().public_ip {
                        nat.table
                            .hairpin(now, f.from, f.to)
                            .map(|(src, to)| (nat.inside, src, to))
                    } else {
                        nat.table
                            .outbound(now, f.from, f.to)
                            .map(|src| (nat.outside, src, f.to))
                    };
                match result {
                    Ok((net, from, to)) => self.route(now, net, from, to, Body::Udp(data)),
                    Err(_) => self.stats.nat_dropped += 1,
                }
            }
        }
    }

    /// The next datagram that reached a host.
    #[must_use]
    pub fn poll_delivery(&mut self) -> Option<Delivery> {
        self.deliveries.pop_front()
    }

    /// The next instant at which the network or one of `nodes` has work.
    #[must_use]
    pub fn next_time(&self, nodes: &[(HostId, &mut dyn Node)]) -> Option<Instant> {
        let nodes_next = nodes.iter().filter_map(|(_, n)| n.poll_timeout()).min();
        match (self.poll_timeout(), nodes_next) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs everything due at `now`: datagrams arrive (built-in services answer, others go to
    /// the node on the receiving host), segments reach their hosts' TCP stacks and the stacks'
    /// events go to the nodes ([`Node::handle_tcp`]), nodes whose timeout has come run, and
    /// what they transmit and ask of TCP ([`Node::poll_tcp`]) is done; repeated until nothing
    /// more is due at `now`. A TCP event for a host without a node is counted in
    /// [`SimTcpStats::unclaimed_events`].
    pub fn step(
        &mut self,
        now: Instant,
        nodes: &mut [(HostId, &mut dyn Node)],
    ) -> Result<(), SimError> {
        for _ in 0..MAX_ROUNDS_PER_INSTANT {
            self.handle_timeout(now);
            while let Some(d) = self.poll_delivery() {
                match nodes.iter_mut().find(|(h, _)| *h == d.host) {
                    Some((_, node)) => node.handle_datagram(now, d.from, d.to, &d.data),
                    None => self.stats.no_listener += 1,
                }
            }
            while let Some((host, e)) = self.poll_tcp_event() {
                match nodes.iter_mut().find(|(h, _)| *h == host) {
                    Some((_, node)) => node.handle_tcp(now, e),
                    None => self.stats.tcp.unclaimed_events += 1,
                }
            }
            for (host, node) in nodes.iter_mut() {
                if node.poll_timeout().is_some_and(|t| t <= now) {
                    node.handle_timeout(now);
                }
                while let Some(t) = node.poll_transmit() {
                    self.send(now, *host, t);
                }
                while let Some(cmd) = node.poll_tcp() {
                    self.tcp_command(now, *host, cmd);
                }
            }
            let net_due = self.poll_timeout().is_some_and(|t| t <= now)
                || !self.deliveries.is_empty()
                || !self.tcp_order.is_empty();
            let node_due = nodes
                .iter()
                .any(|(_, n)| n.poll_timeout().is_some_and(|t| t <= now));
            if !net_due && !node_due {
                return Ok(());
            }
        }
        let host = nodes
            .iter()
            .find(|(_, n)| n.poll_timeout().is_some_and(|t| t <= now))
            .map_or_else(|| "-".to_owned(), |(h, _)| self.host_name(*h).to_owned());
        Err(SimError::Stalled {
            at: now.saturating_duration_since(self.base),
            rounds: MAX_ROUNDS_PER_INSTANT,
            host,
        })
    }

    /// Runs `nodes` until `deadline` or until `done` returns true (checked after each step);
    /// returns the virtual time reached.
    pub fn run_until(
        &mut self,
        deadline: Instant,
        nodes: &mut [(HostId, &mut dyn Node)],
        mut done: impl FnMut(&mut [(HostId, &mut dyn Node)]) -> bool,
    ) -> Result<Instant, SimError> {
        let mut now = self.base;
        loop {
            if done(nodes) {
                return Ok(now);
            }
            match self.next_time(nodes) {
                Some(t) if t <= deadline => {
                    now = now.max(t);
                    self.step(now, nodes)?;
                }
                _ => return Ok(deadline),
            }
        }
    }
}
