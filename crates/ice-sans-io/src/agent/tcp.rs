//! ICE-TCP (RFC 6544): TCP host candidates, and the table of the TCP connections the caller
//! holds for the agent, with the verbs and inputs that drive them.
//!
//! The agent decides, the caller owns the connections (the sans-IO contract):
//!
//! - **Candidates.** [`IceAgent::add_local_tcp_host`] adds an active, passive or
//!   simultaneous-open (`so`) host candidate (RFC 6544 §4.1, §4.5). Pairs form per §6.2
//!   (`checklist.rs`): active with passive, passive with active, so with so, TCP with TCP
//!   only; pairs whose local candidate is passive are pruned and come only from the peer's
//!   checks.
//! - **Opening.** A TCP pair's check begins with its connection (§7.1): when the check is due
//!   and the pair has none, [`Event::Connect`] asks the caller to open one from the local
//!   candidate's base (an active candidate's IP with port 0, an so candidate's own address) to
//!   the remote candidate. [`IceAgent::handle_connected`] sends the check on it;
//!   [`IceAgent::handle_connect_failed`] (or no answer within
//!   [`Config::tcp_connect_timeout`](crate::Config::tcp_connect_timeout)) fails the pair.
//! - **Accepting.** A connection that arrives on a passive or so candidate is reported with
//!   [`IceAgent::handle_accepted`]; the peer's check on it makes the pair (with a
//!   peer-reflexive remote candidate of the type that meets ours, §7.2.2, when its address is
//!   not a signalled one). One that carries no check of a pair within the timeout is closed.
//! - **Bytes.** [`IceAgent::handle_stream`] takes stream bytes into the connection's RFC 4571
//!   reader (bounded by [`Config::max_tcp_frame`](crate::Config::max_tcp_frame)) and handles
//!   each frame as a datagram on the connection; everything sent on it leaves framed
//!   (`out.rs`'s `Route::Tcp`). One connection per pair, for its checks, consent, keepalives
//!   and data (§7.1); STUN requests on it are not retransmitted (RFC 8489 §6.2.2).
//! - **Closing.** A connection no pair needs any more (the pair failed, another pair was
//!   nominated, a restart dropped it, [`IceAgent::close`]) is forgotten and
//!   [`Event::Close`] asks the caller to close it (RFC 6544 §7.1, RFC 8445 §8.3);
//!   [`IceAgent::handle_closed`] reports one the peer closed: its pairs fail, and a selected
//!   pair's consent is lost.
//!
//! - **Servers.** The table also holds the connections to TURN servers reached over TCP or
//!   TLS (`relay.rs`, RFC 8656 §3.1). A connection's [`Purpose`] says whose it is and how its
//!   stream is cut: RFC 4571 frames to a peer, STUN messages and ChannelData as they are to
//!   a server ([`Deframer::stun_stream`], RFC 8656 §12.5; a stream that holds anything else
//!   is broken: the connection is closed). A server's connection lives as long as its relay
//!   needs it; it is never closed for want of a pair.
//!
//! - **Gathering.** And the connections that gather server-reflexive TCP candidates
//!   (`gather.rs`, RFC 6544 §5.2): from a passive or so candidate's own address to a STUN
//!   server, one Binding request on it, unframed (RFC 8489 §6.2.2), the stream cut like a
//!   TURN server's; closed once answered. Its [`Purpose`] is the gathering's.

use std::net::SocketAddr;
use std::time::Instant;

use crate::candidate::{
    ACTIVE_PORT, Candidate, CandidateKind, ComponentId, LocalPreferenceInput, Protocol, TcpType,
    priority, tcp_local_preference,
};
use crate::event::{Datagram, DropReason, Event, Received};
use crate::framing::Deframer;
use crate::transmit::ConnectionId;
use crate::turn::TurnFailure;

use super::IceAgent;
use super::checklist::Triggered;
use super::error::{AcceptError, CandidateError};
use super::local::{Local, check_address};
use super::out::Route;

/// Where a connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnState {
    /// [`Event::Connect`] went out; `nominate`: the check to send once it is open carries
    /// USE-CANDIDATE.
    Connecting { nominate: bool },
    /// Open (connected or accepted).
    Connected,
}

/// Whose a connection is, which says how its stream is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// A TCP pair's (RFC 6544): the local TCP candidate it belongs to, by its base,
    /// component and type. RFC 4571 frames.
    Ice {
        base: SocketAddr,
        component: ComponentId,
        tcp_type: TcpType,
    },
    /// The connection to relay `relay`'s TURN server (RFC 8656 §3.1). STUN and ChannelData.
    Turn { relay: usize },
    /// The connection of server-reflexive gathering `gather` to its STUN server (RFC 6544
    /// §5.2, RFC 8489 §6.2.2). STUN messages.
    Gather { gather: usize },
}

/// One TCP connection the caller holds.
#[derive(Debug, Clone)]
struct Conn {
    id: ConnectionId,
    purpose: Purpose,
    /// Its local address: the base until it is open, then the address the caller reported.
    local: SocketAddr,
    remote: SocketAddr,
    state: ConnState,
    /// Connecting: when to give up. Accepted and used by no pair: when to close it.
    deadline: Option<Instant>,
    deframer: Deframer,
    /// The deframer's dropped frames already counted in the agent's stats.
    dropped_seen: u64,
}

/// The connection table.
#[derive(Debug, Default)]
pub(super) struct Tcp {
    conns: Vec<Conn>,
    next_id: u32,
    /// The frame being handled: [`Received::Data`] from [`IceAgent::handle_stream`] borrows it.
    rx: Vec<u8>,
}

impl Tcp {
    fn index(&self, id: ConnectionId) -> Option<usize> {
        self.conns.iter().position(|c| c.id == id)
    }

    /// A fresh id, never one in use.
    fn new_id(&mut self) -> ConnectionId {
        loop {
            let id = ConnectionId(self.next_id);
            self.next_id = self.next_id.wrapping_add(1);
            if self.index(id).is_none() {
                return id;
            }
        }
    }

    /// The connections held.
    pub(super) fn len(&self) -> usize {
        self.conns.len()
    }
}

impl IceAgent {
    // ------------------------------------------------------------ public verbs and inputs

    /// Adds a TCP host candidate (RFC 6544 §4.1) of type `tcp_type` on `addr`; its
    /// [`Event::LocalCandidate`] follows. Adding the same candidate twice does nothing.
    ///
    /// - [`TcpType::Active`]: the candidate opens connections from `addr`'s IP; the port of
    ///   `addr` is ignored and the candidate is signalled with port 9 ([`ACTIVE_PORT`], RFC
    ///   6544 §4.5). [`Event::Connect`] then asks for connections from that IP with port 0.
    /// - [`TcpType::Passive`]: `addr` is where the caller listens (the listener must exist
    ///   before this call); connections arriving there go to [`Self::handle_accepted`].
    /// - [`TcpType::SimultaneousOpen`]: `addr` is a port the caller reserved: it listens there
    ///   and connects from it.
    ///
    /// The priority follows RFC 6544 §4.2 (direction preference of the type, the address's
    /// rank from [`Config::local_preference`](crate::Config::local_preference) as
    /// `other-pref`) with the TCP type preferences of
    /// [`CandidateKind::tcp_type_preference`]: below every direct UDP candidate, so UDP pairs
    /// win when both work. A passive or so candidate cannot share its address with one of
    /// another type ([`CandidateError::AddressInUse`]).
    ///
    /// A passive or so candidate also gathers a server-reflexive TCP candidate of its type
    /// from each STUN server ([`Self::add_stun_server`], RFC 6544 §5.2): [`Event::Connect`]
    /// from `addr` itself to the server, one Binding request on the connection, and the
    /// mapped address as a candidate whose base is this one, then [`Event::Close`]. Like a
    /// UDP server-reflexive candidate it is signalled, not paired (its base is, RFC 8445
    /// §6.1.2.4); the peer's pairs connect to it. An active candidate gathers nothing (see
    /// the README).
    pub fn add_local_tcp_host(
        &mut self,
        component: ComponentId,
        addr: SocketAddr,
        tcp_type: TcpType,
    ) -> Result<(), CandidateError> {
        self.check_component(component)?;
        let (addr, base) = match tcp_type {
            // RFC 6544 §4.5: an active candidate's port is the discard port, 9.
            TcpType::Active => (
                SocketAddr::new(addr.ip(), ACTIVE_PORT),
                SocketAddr::new(addr.ip(), 0),
            ),
            TcpType::Passive | TcpType::SimultaneousOpen => (addr, addr),
        };
        check_address(addr)?;
        if let Some(l) = self.locals.iter().find(|l| {
            l.cand.kind == CandidateKind::Host && l.tcp_type().is_some() && l.base == base
        }) {
            if l.tcp_type() == Some(tcp_type) && l.cand.component == component {
                return Ok(());
            }
            if tcp_type != TcpType::Active {
                return Err(CandidateError::AddressInUse(addr));
            }
        }
        // RFC 6544 §4.2: `other-pref` ranks the addresses (13 bits); the UDP policy's rank of
        // the address, scaled down, less one per address before it so that each differs.
        let mut ips = Vec::new();
        for l in &self.locals {
            let ip = l.cand.addr.ip();
            if l.cand.kind == CandidateKind::Host
                && l.tcp_type().is_some()
                && l.cand.component == component
                && ip.is_ipv4() == addr.is_ipv4()
                && !ips.contains(&ip)
            {
                ips.push(ip);
            }
        }
        let index = ips
            .iter()
            .position(|ip| *ip == addr.ip())
            .unwrap_or(ips.len());
        let udp = (self.cfg.local_preference)(LocalPreferenceInput {
            ip: addr.ip(),
            index,
        });
        let other = (udp >> 3).saturating_sub(u16::try_from(index).unwrap_or(u16::MAX));
        let local_pref = tcp_local_preference(CandidateKind::Host, tcp_type, other);
        let kind = CandidateKind::Host;
        let cand = Candidate {
            component,
            // RFC 8445 §5.1.1.3: the protocol is part of the foundation's key.
            foundation: self.foundation(kind, addr.ip(), None, Protocol::Tcp),
            protocol: Protocol::Tcp,
            priority: priority(kind.tcp_type_preference(), local_pref, component),
            addr,
            kind,
            related: None,
            tcp_type: Some(tcp_type),
        };
        let l = self.locals.len();
        self.locals.push(Local {
            cand: cand.clone(),
            base,
            relay: None,
        });
        self.events.push_back(Event::LocalCandidate(cand));
        // RFC 6544 §5.2: a passive or so candidate's server-reflexive candidates.
        if self.locals[l].gathers() {
            for s in 0..self.servers.len() {
                self.add_gather(l, self.servers[s]);
            }
        }
        for r in 0..self.remotes.len() {
            self.form_pair(l, r);
        }
        Ok(())
    }

    /// The connection asked for by [`Event::Connect`] is open; `local` is its real local
    /// address (an active candidate's ephemeral port). The pair's check goes out on it at once
    /// (RFC 6544 §7.1). Unknown or already open ids are ignored.
    pub fn handle_connected(&mut self, now: Instant, id: ConnectionId, local: SocketAddr) {
        self.saw(now);
        let Some(i) = self.tcp.index(id) else { return };
        let c = &mut self.tcp.conns[i];
        let ConnState::Connecting { nominate } = c.state else {
            return;
        };
        c.state = ConnState::Connected;
        c.local = local;
        c.deadline = None;
        match c.purpose {
            Purpose::Turn { relay } => {
                self.relay_connected(now, relay, id, local);
                self.settle(now);
                return;
            }
            Purpose::Gather { gather } => {
                self.gather_connected(now, gather, id, local);
                self.settle(now);
                return;
            }
            Purpose::Ice { .. } => {}
        }
        let pairs: Vec<u32> = self
            .pairs
            .iter()
            .filter(|p| p.conn == Some(id))
            .map(|p| p.id)
            .collect();
        for pair in pairs {
            if self.transactions.len() < self.cfg.max_transactions {
                self.send_check(now, pair, nominate, false);
            } else {
                self.stats.transactions_delayed += 1;
                self.triggered.push_front(Triggered {
                    pair,
                    use_candidate: nominate,
                });
            }
        }
        self.settle(now);
    }

    /// The connection asked for by [`Event::Connect`] could not be opened (refused,
    /// unreachable, timed out): its pair's check fails (RFC 6544 §7.1). The id is forgotten;
    /// no [`Event::Close`] follows.
    pub fn handle_connect_failed(&mut self, now: Instant, id: ConnectionId) {
        self.saw(now);
        if let Some(i) = self.tcp.index(id) {
            self.stats.tcp_connect_failed += 1;
            self.tcp_forget(now, i, false);
        }
        self.settle(now);
    }

    /// A connection arrived on `local`, the address of a passive or simultaneous-open
    /// candidate, from `remote`. Returns its id, for [`Self::handle_stream`] and
    /// [`Self::handle_closed`]; on `Err` the caller closes it. A connection on which no check
    /// of a pair arrives within [`Config::tcp_connect_timeout`](crate::Config::tcp_connect_timeout)
    /// is closed ([`Event::Close`]).
    pub fn handle_accepted(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Result<ConnectionId, AcceptError> {
        self.saw(now);
        let listening = self.locals.iter().find(|l| {
            l.cand.kind == CandidateKind::Host
                && matches!(
                    l.tcp_type(),
                    Some(TcpType::Passive | TcpType::SimultaneousOpen)
                )
                && l.base == local
        });
        let Some(l) = listening else {
            self.stats.tcp_refused += 1;
            return Err(AcceptError::UnknownLocalAddress(local));
        };
        let (component, tcp_type) = (l.cand.component, l.tcp_type());
        let Some(tcp_type) = tcp_type else {
            return Err(AcceptError::UnknownLocalAddress(local));
        };
        if self.tcp.len() >= self.cfg.max_tcp_connections {
            self.stats.tcp_refused += 1;
            return Err(AcceptError::Limit);
        }
        let id = self.tcp.new_id();
        self.tcp.conns.push(Conn {
            id,
            purpose: Purpose::Ice {
                base: local,
                component,
                tcp_type,
            },
            local,
            remote,
            state: ConnState::Connected,
            deadline: Some(now + self.cfg.tcp_connect_timeout),
            deframer: Deframer::with_max_frame(self.cfg.max_tcp_frame),
            dropped_seen: 0,
        });
        self.stats.tcp_accepted += 1;
        Ok(id)
    }

    /// Bytes that arrived on connection `id`. Takes bytes from the front of `*bytes` (and
    /// advances it) until one RFC 4571 frame is complete, handles that frame as a datagram on
    /// the connection, and returns what became of it (as [`Self::handle_receive`] does; the
    /// data of [`Received::Data`] borrows the agent's buffer). Returns `None` once every byte
    /// is taken and no whole frame is left: call it until then.
    ///
    /// ```
    /// use std::time::Instant;
    /// use ice_sans_io::{Config, IceAgent, Received, Role, TcpType};
    ///
    /// let mut agent = IceAgent::new(Config::new(Role::Controlled), [7; 32]);
    /// let listen = "192.0.2.1:8000".parse()?;
    /// agent.add_local_tcp_host(1, listen, TcpType::Passive)?;
    /// # #[allow(clippy::disallowed_methods)]
    /// let now = Instant::now(); // the caller's clock
    /// let id = agent.handle_accepted(now, listen, "198.51.100.1:40000".parse()?)?;
    /// // What one read of the socket gave: a null packet, then half of a 5-byte frame.
    /// let read = [0, 0, 0, 5, 1, 2];
    /// let mut rest = &read[..];
    /// while let Some(r) = agent.handle_stream(now, id, &mut rest) {
    ///     if let Received::Data { component, data } = r {
    ///         println!("component {component}: {data:?}"); // the application's
    ///     }
    /// }
    /// assert!(rest.is_empty()); // all taken; the half frame waits for the next read
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// Bytes for an unknown id (or one not yet reported open) are all taken, and
    /// `Some(Received::Dropped(DropReason::UnknownConnection))` returned once.
    pub fn handle_stream<'s>(
        &'s mut self,
        now: Instant,
        id: ConnectionId,
        bytes: &mut &[u8],
    ) -> Option<Received<'s>> {
        self.saw(now);
        // Bytes before `handle_connected` are the caller's mistake: dropped as for no connection.
        let open = self.tcp.index(id).filter(|&i| {
            self.tcp
                .conns
                .get(i)
                .is_some_and(|c| c.state == ConnState::Connected)
        });
        let Some(i) = open else {
            if bytes.is_empty() {
                return None;
            }
            self.stats.dropped_unknown_connection += 1;
            self.stats.dropped_unknown_connection_bytes += bytes.len() as u64;
            *bytes = &[];
            return Some(Received::Dropped(DropReason::UnknownConnection));
        };
        let Tcp { conns, rx, .. } = &mut self.tcp;
        let c = &mut conns[i];
        loop {
            if let Some(frame) = c.deframer.next_frame() {
                rx.clear();
                rx.extend_from_slice(frame);
                break;
            }
            if c.deframer.is_broken() {
                // RFC 8656 §12.5: a server's stream that holds no STUN message and no
                // ChannelData cannot be followed any further; the connection is closed.
                *bytes = &[];
                self.stats.tcp_streams_broken += 1;
                if let Purpose::Turn { relay } = c.purpose {
                    self.relay_connection_lost(now, relay, TurnFailure::BadStream);
                }
                // A gathering's ends in `tcp_forget`, through the close.
                self.tcp_close(now, i);
                self.settle(now);
                return Some(Received::Dropped(DropReason::BadStream));
            }
            let taken = if bytes.is_empty() {
                0
            } else {
                c.deframer.push(bytes)
            };
            let dropped = c.deframer.stats().dropped;
            self.stats.tcp_frames_dropped += dropped.saturating_sub(c.dropped_seen);
            c.dropped_seen = dropped;
            if taken == 0 {
                // Everything taken (a full buffer only holds a whole frame, read above).
                return None;
            }
            *bytes = bytes.get(taken..).unwrap_or_default();
        }
        let (local, remote, purpose) = (c.local, c.remote, c.purpose);
        let frame = std::mem::take(rx);
        let got = match purpose {
            Purpose::Ice { .. } => {
                let d = Datagram {
                    local,
                    remote,
                    protocol: Protocol::Tcp,
                    data: &frame,
                };
                // RFC 6544 §3: each frame is one datagram of the pair's.
                match self.receive_direct(now, d, Some(id)) {
                    Received::Stun => None,
                    Received::Data { component, .. } => Some(Ok((component, 0..frame.len()))),
                    Received::Dropped(why) => Some(Err(why)),
                }
            }
            // RFC 8656 §12.5: each message is the TURN client's.
            Purpose::Turn { relay } => self.receive_relay_stream(now, relay, &frame),
            // RFC 8489 §6.2.2: the STUN server's answer, unframed.
            Purpose::Gather { gather } => {
                self.receive_gather_stream(now, gather, id, &frame).map(Err)
            }
        };
        self.tcp.rx = frame;
        if let Some(Err(why)) = got {
            self.count_drop(why);
        }
        self.settle(now);
        Some(match got {
            None => Received::Stun,
            Some(Ok((component, range))) => Received::Data {
                component,
                data: self.tcp.rx.get(range).unwrap_or_default(),
            },
            Some(Err(why)) => Received::Dropped(why),
        })
    }

    /// Connection `id` closed (the peer closed or reset it, or it broke): its pairs fail, and
    /// a selected pair on it loses consent ([`Event::ConsentLost`]). The id is forgotten; no
    /// [`Event::Close`] follows.
    pub fn handle_closed(&mut self, now: Instant, id: ConnectionId) {
        self.saw(now);
        if let Some(i) = self.tcp.index(id) {
            self.stats.tcp_closed_by_peer += 1;
            self.tcp_forget(now, i, true);
        }
        self.settle(now);
    }

    // ------------------------------------------------------------------ internals

    /// Whether the agent knows connection `c` (opening or open).
    pub(super) fn tcp_known(&self, c: ConnectionId) -> bool {
        self.tcp.index(c).is_some()
    }

    /// The way out on a pair's connection `c`, once it is open.
    pub(super) fn tcp_route(&self, c: ConnectionId) -> Option<Route> {
        let conn = self.tcp.conns.get(self.tcp.index(c)?)?;
        let ice = matches!(conn.purpose, Purpose::Ice { .. });
        (ice && conn.state == ConnState::Connected).then_some(Route::Tcp {
            conn: c,
            local: conn.local,
            remote: conn.remote,
        })
    }

    /// The local candidate (index in `locals`) connection `c` belongs to.
    pub(super) fn tcp_local_of(&self, c: ConnectionId) -> Option<usize> {
        let conn = self.tcp.conns.get(self.tcp.index(c)?)?;
        let Purpose::Ice {
            base,
            component,
            tcp_type,
        } = conn.purpose
        else {
            return None;
        };
        self.locals.iter().position(|l| {
            l.cand.kind == CandidateKind::Host
                && l.tcp_type() == Some(tcp_type)
                && l.cand.component == component
                && l.base == base
        })
    }

    /// RFC 6544 §7.1: the check of TCP pair `pair` is due and the pair has no open connection:
    /// ask for one (or, while it opens, remember that the check nominates). Returns whether a
    /// connection was asked for. At [`Config::max_tcp_connections`](crate::Config::max_tcp_connections)
    /// the pair fails.
    pub(super) fn tcp_connect(&mut self, now: Instant, pair: u32, use_candidate: bool) -> bool {
        let Some(p) = self.pair(pair) else {
            return false;
        };
        if let Some(i) = p.conn.and_then(|c| self.tcp.index(c)) {
            if let ConnState::Connecting { nominate } = &mut self.tcp.conns[i].state {
                *nominate |= use_candidate;
            }
            return false;
        }
        let (l, r) = (&self.locals[p.local], &self.remotes[p.remote]);
        let Some(tcp_type) = l.tcp_type() else {
            return false;
        };
        let (from, to, component) = (l.base, r.addr, l.cand.component);
        if self.tcp.len() >= self.cfg.max_tcp_connections {
            self.stats.tcp_refused += 1;
            self.pair_failed(now, pair);
            return false;
        }
        let id = self.tcp.new_id();
        self.tcp.conns.push(Conn {
            id,
            purpose: Purpose::Ice {
                base: from,
                component,
                tcp_type,
            },
            local: from,
            remote: to,
            state: ConnState::Connecting {
                nominate: use_candidate,
            },
            deadline: Some(now + self.cfg.tcp_connect_timeout),
            deframer: Deframer::with_max_frame(self.cfg.max_tcp_frame),
            dropped_seen: 0,
        });
        if let Some(p) = self.pair_mut(pair) {
            p.conn = Some(id);
            p.start_check();
        }
        self.stats.tcp_connects += 1;
        self.events.push_back(Event::Connect {
            id,
            from,
            to,
            tls: None,
        });
        true
    }

    /// The earliest connection deadline: an open that takes too long, or an accepted
    /// connection no pair took.
    pub(super) fn tcp_deadline(&self) -> Option<Instant> {
        self.tcp.conns.iter().filter_map(|c| c.deadline).min()
    }

    /// Connections past their deadline: an open that took too long fails its pair; an
    /// accepted connection no pair took is closed.
    pub(super) fn tcp_timeout(&mut self, now: Instant) {
        while let Some(i) = self
            .tcp
            .conns
            .iter()
            .position(|c| c.deadline.is_some_and(|d| d <= now))
        {
            let c = &mut self.tcp.conns[i];
            if matches!(c.state, ConnState::Connecting { .. }) {
                self.stats.tcp_connect_failed += 1;
            } else if self.pairs.iter().any(|p| p.conn == Some(c.id)) {
                // A pair took it since: kept, without the deadline.
                c.deadline = None;
                continue;
            }
            self.tcp_close(now, i);
        }
    }

    /// After every input: closes the connections no pair needs any more (RFC 6544 §7.1, RFC
    /// 8445 §8.3): a connection stays while a pair that can still succeed, or a valid pair,
    /// uses it, unless its component nominated another pair; while the previous generation's
    /// selected pair uses it; or, accepted and not yet used by any pair, until its deadline.
    pub(super) fn tcp_gc(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.tcp.conns.len() {
            let id = self.tcp.conns[i].id;
            // A server's connection is its relay's to close.
            if !matches!(self.tcp.conns[i].purpose, Purpose::Ice { .. }) {
                i += 1;
                continue;
            }
            let used = self.pairs.iter().any(|p| {
                p.conn == Some(id)
                    && (p.is_live() || p.is_valid())
                    && (p.nominated() || !self.component_nominated(p.component))
            });
            let old = self
                .old
                .as_ref()
                .is_some_and(|o| o.pairs.iter().any(|p| p.route.connection() == Some(id)));
            let unclaimed = !self.pairs.iter().any(|p| p.conn == Some(id))
                && self.tcp.conns[i].deadline.is_some_and(|d| d > now);
            if used || old || unclaimed {
                if used && self.tcp.conns[i].state == ConnState::Connected {
                    self.tcp.conns[i].deadline = None;
                }
                i += 1;
            } else {
                self.tcp_close(now, i);
            }
        }
    }

    /// Asks the caller to close every connection ([`IceAgent::close`]).
    pub(super) fn tcp_close_all(&mut self, now: Instant) {
        while !self.tcp.conns.is_empty() {
            self.tcp_close(now, 0);
        }
    }

    /// RFC 8656 §3.1: asks for a connection to relay `relay`'s TURN server at `to`, from
    /// `from` (a host IP with port 0), with TLS to server name `tls` when given. `None` at
    /// [`Config::max_tcp_connections`](crate::Config::max_tcp_connections) (counted).
    pub(super) fn tcp_open_turn(
        &mut self,
        now: Instant,
        relay: usize,
        from: SocketAddr,
        to: SocketAddr,
        tls: Option<String>,
    ) -> Option<ConnectionId> {
        self.tcp_open_server(now, Purpose::Turn { relay }, from, to, tls)
    }

    /// RFC 6544 §5.2: asks for the connection of server-reflexive gathering `gather` from
    /// `from` (a passive or so candidate's own address: the caller binds that port beside its
    /// listener) to the STUN server at `to`. `None` at
    /// [`Config::max_tcp_connections`](crate::Config::max_tcp_connections) (counted).
    pub(super) fn tcp_open_gather(
        &mut self,
        now: Instant,
        gather: usize,
        from: SocketAddr,
        to: SocketAddr,
    ) -> Option<ConnectionId> {
        self.tcp_open_server(now, Purpose::Gather { gather }, from, to, None)
    }

    /// A connection to a server (TURN or STUN), whose stream is STUN messages (and
    /// ChannelData) as they are.
    fn tcp_open_server(
        &mut self,
        now: Instant,
        purpose: Purpose,
        from: SocketAddr,
        to: SocketAddr,
        tls: Option<String>,
    ) -> Option<ConnectionId> {
        if self.tcp.len() >= self.cfg.max_tcp_connections {
            self.stats.tcp_refused += 1;
            return None;
        }
        let id = self.tcp.new_id();
        // The longest message read: a STUN header and the longest frame the configuration
        // allows (RFC 8656 §12.5).
        let max = usize::from(self.cfg.max_tcp_frame) + 20;
        self.tcp.conns.push(Conn {
            id,
            purpose,
            local: from,
            remote: to,
            state: ConnState::Connecting { nominate: false },
            deadline: Some(now + self.cfg.tcp_connect_timeout),
            deframer: Deframer::stun_stream(max),
            dropped_seen: 0,
        });
        self.stats.tcp_connects += 1;
        self.events.push_back(Event::Connect { id, from, to, tls });
        Some(id)
    }

    /// Forgets connection `id`, if known, and asks the caller to close it.
    pub(super) fn tcp_close_id(&mut self, now: Instant, id: ConnectionId) {
        if let Some(i) = self.tcp.index(id) {
            self.tcp_close(now, i);
        }
    }

    /// Forgets connection `i` and asks the caller to close it.
    fn tcp_close(&mut self, now: Instant, i: usize) {
        let id = self.tcp.conns[i].id;
        self.stats.tcp_closed += 1;
        self.events.push_back(Event::Close { id });
        self.tcp_forget(now, i, false);
    }

    /// Forgets connection `i`: the pairs on it lose it and fail; with `lost` (the peer closed
    /// it), a selected pair on it loses consent (RFC 7675: nothing can reach the peer there),
    /// of this generation or the previous one.
    fn tcp_forget(&mut self, now: Instant, i: usize, lost: bool) {
        let c = self.tcp.conns.remove(i);
        let id = c.id;
        match c.purpose {
            Purpose::Turn { relay } => {
                let reason = match c.state {
                    ConnState::Connecting { .. } => TurnFailure::ConnectFailed,
                    ConnState::Connected => TurnFailure::ConnectionClosed,
                };
                self.relay_connection_lost(now, relay, reason);
                return;
            }
            Purpose::Gather { gather } => {
                self.gather_connection_lost(gather);
                return;
            }
            Purpose::Ice { .. } => {}
        }
        let on_it: Vec<u32> = self
            .pairs
            .iter()
            .filter(|p| p.conn == Some(id))
            .map(|p| p.id)
            .collect();
        for pair in on_it {
            if let Some(p) = self.pair_mut(pair) {
                p.conn = None;
            }
            let selected = self
                .components
                .iter()
                .position(|c| c.selected == Some(pair));
            match selected {
                Some(ci) => {
                    // The selected pair stays selected, failed: the component is
                    // Disconnected (or Failed when nothing else is left).
                    if lost && !self.components[ci].consent.lost {
                        self.components[ci].consent.lost = true;
                        let component = self.components[ci].id;
                        self.events.push_back(Event::ConsentLost { component });
                    }
                    if let Some(p) = self.pair_mut(pair) {
                        p.fail();
                    }
                }
                None => self.pair_failed(now, pair),
            }
        }
        if lost && let Some(old) = &mut self.old {
            for p in &mut old.pairs {
                if p.route.connection() == Some(id) && !p.consent.lost {
                    p.consent.lost = true;
                    self.events.push_back(Event::ConsentLost {
                        component: p.component,
                    });
                }
            }
        }
    }
}
