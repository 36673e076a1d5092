//! The TCP of one simulated host, in virtual time: enough of RFC 9293 for ICE-TCP (RFC 6544)
//! and TURN over TCP, with nothing read from a clock or an OS RNG.
//!
//! [`TcpStack`] is sans-IO like the rest of the crate: commands ([`TcpCommand`]) and segments
//! ([`TcpPacket`]) come in with `now`, segments to send ([`TcpStack::poll_segment`]) and events
//! for the host's node ([`TcpStack::poll_event`]) come out, and [`TcpStack::poll_timeout`]
//! says when [`TcpStack::handle_timeout`] is due. After any input, drain `poll_segment`,
//! `poll_event` and read `poll_timeout`. [`crate::Sim`] runs one per host and carries its
//! segments like datagrams.
//!
//! ```
//! use std::time::Instant;
//! use ice_netsim::{TcpCommand, TcpEvent, TcpStack, derive_seed};
//!
//! let now = Instant::now();
//! let mut a = TcpStack::new(vec!["10.0.0.1".parse()?], 1, derive_seed(1, "a"));
//! let mut b = TcpStack::new(vec!["10.0.0.2".parse()?], 1 << 32, derive_seed(1, "b"));
//! b.handle_command(now, TcpCommand::Listen { addr: "10.0.0.2:80".parse()? });
//! let (from, to) = ("10.0.0.1:0".parse()?, "10.0.0.2:80".parse()?);
//! a.handle_command(now, TcpCommand::Connect { token: 7, from, to });
//! // Carry the segments both ways, on a network without delay, until both ends are quiet.
//! loop {
//!     let mut moved = false;
//!     while let Some(p) = a.poll_segment() {
//!         b.handle_segment(now, p);
//!         moved = true;
//!     }
//!     while let Some(p) = b.poll_segment() {
//!         a.handle_segment(now, p);
//!         moved = true;
//!     }
//!     if !moved {
//!         break;
//!     }
//! }
//! let Some(TcpEvent::Connected { token: 7, local, .. }) = a.poll_event() else {
//!     panic!("a connected");
//! };
//! assert!(matches!(b.poll_event(), Some(TcpEvent::Accepted { remote, .. }) if remote == local));
//! assert_eq!(a.poll_timeout(), None, "nothing outstanding");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! What it does:
//!
//! - Three-way handshake and **simultaneous open** (RFC 9293 §3.5, Figure 8: crossing SYNs take
//!   both ends through SYN-RECEIVED to ESTABLISHED, and both report
//!   [`TcpEvent::Connected`]). A `Connect` may bind a port a listener has; a SYN that matches
//!   a connection goes to it, not to the listener.
//! - An in-order byte stream: segments of at most [`MSS`] octets, cumulative ACKs, every
//!   segment with data or FIN acknowledged at once (no delayed ACK).
//! - Retransmission by RFC 6298: RTO from 1 s ([`INITIAL_RTO`]), smoothed from RTT samples
//!   (Karn's algorithm), doubled on each expiry up to [`MAX_RTO`]; on expiry the oldest
//!   unacknowledged segment is sent again. [`SYN_RETRIES`] retransmissions
//!   of a SYN, then [`TcpEvent::ConnectFailed`] with [`TcpFailure::TimedOut`];
//!   [`DATA_RETRIES`] of data, then [`TcpEvent::Reset`] with `TimedOut`.
//! - FIN both ways (§3.6) with TIME-WAIT ([`TIME_WAIT`]); RST (§3.10.7.1: a segment for no
//!   connection and no listener gets one, so a `Connect` to a closed port fails with
//!   [`TcpFailure::Refused`]; `Abort` sends one).
//! - Initial sequence numbers drawn from the stack's seeded RNG: the same seed, the same run.
//!
//! Deviations and simplifications (say so when you rely on them):
//!
//! - **No congestion control** (RFC 5681) and **a fixed window**: each side advertises
//!   [`WINDOW`] octets (no window scaling) and never has more than that in flight, whatever
//!   the peer advertises; the node's reading speed does not shrink it (see [`MAX_UNREAD`]).
//! - **Loss recovery without congestion control**: a receiver holds segments beyond a hole (up
//!   to [`WINDOW`] octets) and acknowledges what it has in order (a duplicate ACK). The
//!   sender resends the oldest unacknowledged segment on the third duplicate ACK (RFC 5681
//!   §3.2's fast retransmit) and on each partial acknowledgment after it (RFC 6582's
//!   NewReno, without its window arithmetic); a timeout resends that segment too and starts
//!   the same partial-acknowledgment recovery. So holes are filled one per round trip, the
//!   octets the receiver holds are not sent again, and nothing needs SACK.
//! - A backed-off RTO is recomputed from SRTT as soon as new data is acknowledged, not only
//!   after a fresh RTT sample (RFC 6298 §5.7's note): at high loss, samples that Karn's
//!   algorithm admits are rare.
//! - No options on the wire (MSS fixed at [`MSS`]), no urgent data, no PSH, no keep-alive,
//!   no Nagle, no ICMP (an unreachable or blocked destination shows as a SYN timeout).
//! - The sequence check of §3.10.7.4 is applied to RSTs (in the window) and to data (in
//!   order); RFC 5961's exact-match rule for RSTs is not (a SYN in a synchronized state does
//!   get RFC 5961's challenge ACK).
//! - TIME-WAIT lasts [`TIME_WAIT`] (60 s, as Linux), not 2 MSL of 2 min.
//!
//! Bounds (a node or a segment over them is refused and counted in [`TcpStackStats`], never
//! a panic or unbounded memory): [`MAX_CONNECTIONS`] connections, [`MAX_LISTENERS`]
//! listeners, [`MAX_SEND_BUFFER`] queued octets per connection, [`MAX_UNREAD`] octets of
//! [`TcpEvent::Data`] not yet polled (segments beyond are dropped unacknowledged, as if lost),
//! [`MAX_EVENTS`] events pending before new connections are refused.

mod conn;
mod reassembly;
mod rtt;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

use self::conn::{Conn, Out};
use crate::node::{TcpCommand, TcpConnId, TcpEvent, TcpFailure};
use crate::tcp::{TcpFlags, TcpPacket};

/// The most payload octets in one segment (an Ethernet path's 1 500 less IP and TCP headers,
/// rounded down).
pub const MSS: usize = 1400;

/// The receive window every stack advertises, and the most octets it has in flight.
pub const WINDOW: u16 = 65_535;

/// RFC 6298 §2.1: the RTO before any RTT sample.
pub const INITIAL_RTO: Duration = Duration::from_secs(1);

/// RFC 6298 §2.4: the least RTO.
pub const MIN_RTO: Duration = Duration::from_secs(1);

/// RFC 6298 §2.5: the RTO stops doubling at 60 s.
pub const MAX_RTO: Duration = Duration::from_secs(60);

/// The clock granularity G of RFC 6298 §2.
pub const CLOCK_GRANULARITY: Duration = Duration::from_millis(1);

/// Retransmissions of a SYN (or SYN-ACK) before the open fails: with the doubling RTO, the
/// last one leaves 63 s after the first SYN and the open fails after 2 min (RFC 9293 §3.8.3
/// asks for at least 3 min of R2 for a SYN; Linux's default is the same 6).
pub const SYN_RETRIES: u32 = 6;

/// Retransmissions of the same data before the connection is reset (RFC 9293 §3.8.3's R2 of
/// at least 100 s is reached).
pub const DATA_RETRIES: u32 = 8;

/// Duplicate ACKs that trigger a fast retransmit (RFC 5681 §3.2).
pub const DUP_ACK_THRESHOLD: u32 = 3;

/// How long a connection stays in TIME-WAIT.
pub const TIME_WAIT: Duration = Duration::from_secs(60);

/// The most connections (in any state) of one host.
pub const MAX_CONNECTIONS: usize = 256;

/// The most listening addresses of one host.
pub const MAX_LISTENERS: usize = 64;

/// The most octets queued for sending (unacknowledged or unsent) on one connection.
pub const MAX_SEND_BUFFER: usize = 4 << 20;

/// The most octets of [`TcpEvent::Data`] a host holds for its node before it stops
/// acknowledging new data.
pub const MAX_UNREAD: usize = 4 << 20;

/// Events pending at which the stack takes no new connection (neither a `Connect` nor a SYN
/// to a listener).
pub const MAX_EVENTS: usize = 4096;

/// The ephemeral ports (RFC 6335 §6's dynamic range).
const EPHEMERAL: std::ops::RangeInclusive<u16> = 49_152..=65_535;

/// A connection's state (RFC 9293 §3.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum TcpState {
    /// Our SYN sent, waiting for the peer's.
    SynSent,
    /// Both SYNs seen, ours not yet acknowledged.
    SynReceived,
    /// Open both ways.
    Established,
    /// We closed; our FIN not yet acknowledged.
    FinWait1,
    /// We closed, our FIN acknowledged; the peer may still send.
    FinWait2,
    /// The peer closed; we may still send.
    CloseWait,
    /// Both closed at once; our FIN not yet acknowledged.
    Closing,
    /// The peer closed, then we did; our FIN not yet acknowledged.
    LastAck,
    /// Both closed; lingering for late segments.
    TimeWait,
    /// Gone (never seen through the getters: closed connections are forgotten).
    Closed,
}

/// One connection as the getters show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpConnInfo {
    /// Local endpoint.
    pub local: SocketAddr,
    /// Remote endpoint.
    pub remote: SocketAddr,
    /// State.
    pub state: TcpState,
    /// Octets queued to send, unacknowledged or unsent.
    pub queued: usize,
    /// Room left in the send buffer.
    pub room: usize,
    /// The retransmission timeout now.
    pub rto: Duration,
}

/// Counters of one host's TCP stack.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpStackStats {
    /// Segments sent (retransmissions and RSTs included).
    pub segments_sent: u64,
    /// Segments received.
    pub segments_received: u64,
    /// Segments sent again after a timeout.
    pub retransmitted: u64,
    /// Expiries of a retransmission timer.
    pub timeouts: u64,
    /// Fast retransmits (the third duplicate ACK).
    pub fast_retransmits: u64,
    /// RSTs sent.
    pub resets_sent: u64,
    /// Connections that reached ESTABLISHED.
    pub established: u64,
    /// Segments for no connection and no listener (answered by an RST unless they were one).
    pub no_connection: u64,
    /// Segments dropped as unacceptable (a bad acknowledgment during the handshake, an RST
    /// outside the window, no ACK bit, a foreign destination).
    pub dropped: u64,
    /// Duplicates: old data, a repeated SYN or FIN, an old acknowledgment.
    pub duplicates: u64,
    /// Segments beyond RCV.NXT (held when the window has room).
    pub out_of_order: u64,
    /// Acknowledgments of octets never sent (the segment dropped, an ACK sent).
    pub ack_beyond: u64,
    /// Segments dropped because the node left [`MAX_UNREAD`] octets unread.
    pub unread_full: u64,
    /// SYNs to a listener dropped for want of room ([`MAX_CONNECTIONS`], [`MAX_EVENTS`]).
    pub syns_refused: u64,
    /// `Send`s refused: over [`MAX_SEND_BUFFER`], or after `Close`, or before ESTABLISHED.
    pub send_refused: u64,
    /// Commands naming no connection, or a bad listener address, or out of place.
    pub bad_commands: u64,
}

/// The TCP of one host. See the [module docs](self).
#[derive(Debug)]
pub struct TcpStack {
    ips: Vec<IpAddr>,
    rng: ChaCha8Rng,
    next_id: u64,
    listeners: BTreeSet<SocketAddr>,
    conns: BTreeMap<TcpConnId, Conn>,
    /// (local, remote) -> connection.
    by_tuple: BTreeMap<(SocketAddr, SocketAddr), TcpConnId>,
    out: Out,
}

impl TcpStack {
    /// The stack of a host with addresses `ips`; connection ids count up from `first_id`
    /// (the simulator gives each host a range of its own); `seed` drives the initial sequence
    /// numbers and ephemeral ports.
    pub fn new(ips: Vec<IpAddr>, first_id: u64, seed: [u8; 32]) -> TcpStack {
        TcpStack {
            ips,
            rng: ChaCha8Rng::from_seed(seed),
            next_id: first_id,
            listeners: BTreeSet::new(),
            conns: BTreeMap::new(),
            by_tuple: BTreeMap::new(),
            out: Out::default(),
        }
    }

    /// Its counters.
    pub fn stats(&self) -> TcpStackStats {
        self.out.stats
    }

    /// A live connection.
    pub fn connection(&self, conn: TcpConnId) -> Option<TcpConnInfo> {
        self.conns.get(&conn).map(Conn::info)
    }

    /// The live connections, in id order.
    pub fn connections(&self) -> impl Iterator<Item = TcpConnId> + '_ {
        self.conns.keys().copied()
    }

    /// The addresses listened on.
    pub fn listeners(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.listeners.iter().copied()
    }

    /// Events not yet polled.
    pub fn pending_events(&self) -> usize {
        self.out.events.len()
    }

    /// A command of the host's node.
    pub fn handle_command(&mut self, now: Instant, cmd: TcpCommand) {
        match cmd {
            TcpCommand::Listen { addr } => {
                let ok = addr.port() != 0
                    && self.ips.contains(&addr.ip())
                    && self.listeners.len() < MAX_LISTENERS
                    && self.listeners.insert(addr);
                if !ok {
                    self.out.stats.bad_commands += 1;
                }
            }
            TcpCommand::Unlisten { addr } => {
                if !self.listeners.remove(&addr) {
                    self.out.stats.bad_commands += 1;
                }
            }
            TcpCommand::Connect { token, from, to } => {
                if self.out.events.len() >= MAX_EVENTS {
                    self.out.stats.bad_commands += 1;
                } else if let Err(reason) = self.open(now, token, from, to) {
                    self.out
                        .events
                        .push_back(TcpEvent::ConnectFailed { token, reason });
                }
            }
            TcpCommand::Send { conn, data } => match self.conns.get_mut(&conn) {
                Some(c) => {
                    if !c.send(now, data, &mut self.out) {
                        self.out.stats.send_refused += 1;
                    }
                }
                None => self.out.stats.bad_commands += 1,
            },
            TcpCommand::Close { conn } => match self.conns.get_mut(&conn) {
                Some(c) => {
                    if !c.close(now, &mut self.out) {
                        self.out.stats.bad_commands += 1;
                    }
                    self.reap(conn);
                }
                None => self.out.stats.bad_commands += 1,
            },
            TcpCommand::Abort { conn } => match self.conns.get_mut(&conn) {
                Some(c) => {
                    c.abort(&mut self.out);
                    self.reap(conn);
                }
                None => self.out.stats.bad_commands += 1,
            },
        }
    }

    /// An active open: checks, the local port, the SYN.
    fn open(
        &mut self,
        now: Instant,
        token: u64,
        from: SocketAddr,
        to: SocketAddr,
    ) -> Result<(), TcpFailure> {
        if !self.ips.contains(&from.ip())
            || from.is_ipv4() != to.is_ipv4()
            || to.port() == 0
            || to.ip().is_unspecified()
        {
            return Err(TcpFailure::BadAddress);
        }
        if self.conns.len() >= MAX_CONNECTIONS {
            return Err(TcpFailure::TooManyConnections);
        }
        let local = if from.port() == 0 {
            let port = self.ephemeral(from.ip()).ok_or(TcpFailure::AddressInUse)?;
            SocketAddr::new(from.ip(), port)
        } else {
            from
        };
        if self.by_tuple.contains_key(&(local, to)) {
            return Err(TcpFailure::AddressInUse);
        }
        let id = self.alloc_id();
        let iss = self.rng.next_u32();
        let c = Conn::connect(id, (local, to), token, iss, now, &mut self.out);
        self.by_tuple.insert((local, to), id);
        self.conns.insert(id, c);
        Ok(())
    }

    /// A free ephemeral port of `ip` (no listener, no connection bound to it).
    fn ephemeral(&mut self, ip: IpAddr) -> Option<u16> {
        let used = |stack: &TcpStack, port: u16| {
            let a = SocketAddr::new(ip, port);
            stack.listeners.contains(&a) || stack.by_tuple.keys().any(|(l, _)| *l == a)
        };
        let span = u32::from(EPHEMERAL.end() - EPHEMERAL.start()) + 1;
        for _ in 0..64 {
            let draw = u16::try_from(self.rng.next_u32() % span).unwrap_or(0);
            let port = EPHEMERAL.start().saturating_add(draw);
            if !used(self, port) {
                return Some(port);
            }
        }
        EPHEMERAL.clone().find(|p| !used(self, *p))
    }

    fn alloc_id(&mut self) -> TcpConnId {
        let id = TcpConnId(self.next_id);
        self.next_id = self.next_id.wrapping_add(1);
        id
    }

    /// Forgets `conn` once it is closed.
    fn reap(&mut self, conn: TcpConnId) {
        if let Some(c) = self.conns.get(&conn)
            && c.state == TcpState::Closed
        {
            self.by_tuple.remove(&(c.local, c.remote));
            self.conns.remove(&conn);
        }
    }

    /// A segment arrived for one of the host's addresses.
    pub fn handle_segment(&mut self, now: Instant, p: TcpPacket) {
        self.out.stats.segments_received += 1;
        if !self.ips.contains(&p.dst.ip()) || p.src.is_ipv4() != p.dst.is_ipv4() {
            self.out.stats.dropped += 1;
            return;
        }
        if let Some(id) = self.by_tuple.get(&(p.dst, p.src)).copied() {
            if let Some(c) = self.conns.get_mut(&id) {
                c.handle_segment(now, &p, &mut self.out);
            }
            self.reap(id);
            return;
        }
        let f = p.flags;
        if self.listeners.contains(&p.dst) && !f.contains(TcpFlags::ACK) {
            // RFC 9293 §3.10.7.2, LISTEN: an RST is ignored, a SYN opens a connection,
            // anything else is dropped.
            if f.contains(TcpFlags::RST) || !f.contains(TcpFlags::SYN) {
                self.out.stats.dropped += 1;
                return;
            }
            if self.conns.len() >= MAX_CONNECTIONS || self.out.events.len() >= MAX_EVENTS {
                // A full backlog: dropped, the peer's retransmission may find room.
                self.out.stats.syns_refused += 1;
                return;
            }
            let id = self.alloc_id();
            let iss = self.rng.next_u32();
            let c = Conn::accept(id, (p.dst, p.src), iss, p.seq, now, &mut self.out);
            self.by_tuple.insert((p.dst, p.src), id);
            self.conns.insert(id, c);
            return;
        }
        // RFC 9293 §3.10.7.1, CLOSED (and §3.10.7.2 for an ACK to a listener): "If the ACK
        // bit is off, <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>; if the ACK bit is on,
        // <SEQ=SEG.ACK><CTL=RST>"; an incoming RST is discarded.
        self.out.stats.no_connection += 1;
        if f.contains(TcpFlags::RST) {
            return;
        }
        let (seq, ack, flags) = if f.contains(TcpFlags::ACK) {
            (p.ack, 0, TcpFlags::RST)
        } else {
            (
                0,
                p.seq.wrapping_add(p.seg_len()),
                TcpFlags::RST | TcpFlags::ACK,
            )
        };
        self.out.send(TcpPacket {
            src: p.dst,
            dst: p.src,
            seq,
            ack,
            flags,
            window: 0,
            payload: Vec::new(),
        });
    }

    /// Runs the timers due by `now` (an early call does nothing).
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<TcpConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.poll_timeout().is_some_and(|t| t <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            if let Some(c) = self.conns.get_mut(&id) {
                c.handle_timeout(now, &mut self.out);
            }
            self.reap(id);
        }
    }

    /// The next segment to send.
    #[must_use]
    pub fn poll_segment(&mut self) -> Option<TcpPacket> {
        self.out.segments.pop_front()
    }

    /// The event `i` places after the next one [`TcpStack::poll_event`] gives (0 is that one).
    pub(crate) fn peek_event(&self, i: usize) -> Option<&TcpEvent> {
        self.out.events.get(i)
    }

    /// Takes the event `i` places after the next one out of the queue, leaving the others in
    /// order: the simulator hands a built-in service the events of its own connections so.
    pub(crate) fn take_event(&mut self, i: usize) -> Option<TcpEvent> {
        let e = self.out.events.remove(i)?;
        if let TcpEvent::Data { data, .. } = &e {
            self.out.unread = self.out.unread.saturating_sub(data.len());
        }
        Some(e)
    }

    /// The next event for the node.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<TcpEvent> {
        let e = self.out.events.pop_front()?;
        if let TcpEvent::Data { data, .. } = &e {
            self.out.unread = self.out.unread.saturating_sub(data.len());
        }
        Some(e)
    }

    /// When [`TcpStack::handle_timeout`] is due next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.conns.values().filter_map(Conn::poll_timeout).min()
    }
}
