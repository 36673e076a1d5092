//! Two agents in virtual time over an in-memory network that carries UDP datagrams and TCP
//! connections: a connect request (the agent's `Event::Connect`) travels to the peer's side,
//! where a listening passive or simultaneous-open address accepts it (`handle_accepted`), or
//! the peer's own connect the other way makes one connection of both (TCP simultaneous open),
//! or nothing listens and it is refused (`handle_connect_failed`); stream bytes travel in
//! order on each connection and are handed over in pieces chosen by the test; `Event::Close`
//! reaches the other end as `handle_closed`. Signalling is immediate.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ice_sans_io::{
    Config, ConnectionId, Datagram, Event, IceAgent, Protocol, Received, State, TcpType,
};

/// How stream bytes are handed to `handle_stream`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunking {
    /// Each write of the sender as one piece.
    Writes,
    /// Everything due on a connection at one instant as one piece.
    Coalesced,
    /// One byte per call.
    Bytes,
}

/// One side: the agent and what it saw.
pub struct Side {
    pub agent: IceAgent,
    pub events: Vec<(Duration, Event)>,
    pub received: Vec<Vec<u8>>,
    /// Every received outcome of `handle_stream`, as text (for replay comparisons).
    pub stream_log: Vec<String>,
    /// UDP host addresses.
    pub udp: Vec<SocketAddr>,
    /// TCP candidates as given to `add_local_tcp_host`.
    pub tcp: Vec<(SocketAddr, TcpType)>,
    /// Connections asked for and not yet open or failed: id, actual local address, remote.
    pending: Vec<(ConnectionId, SocketAddr, SocketAddr)>,
    /// Every TCP frame this side wrote (framed bytes as the agent gave them).
    pub tcp_writes: Vec<Vec<u8>>,
    /// Connections the peer closed (reported to the agent with `handle_closed`).
    pub closed_by_peer: Vec<ConnectionId>,
}

impl Side {
    pub fn new(config: Config, seed: u8) -> Side {
        let mut s = [0u8; 32];
        s[0] = seed;
        s[1] = 0x7c;
        Side {
            agent: IceAgent::new(config, s),
            events: Vec::new(),
            received: Vec::new(),
            stream_log: Vec::new(),
            udp: Vec::new(),
            tcp: Vec::new(),
            pending: Vec::new(),
            tcp_writes: Vec::new(),
            closed_by_peer: Vec::new(),
        }
    }

    pub fn udp(mut self, addr: &str) -> Side {
        self.udp.push(addr.parse().unwrap());
        self
    }

    pub fn tcp(mut self, addr: &str, t: TcpType) -> Side {
        self.tcp.push((addr.parse().unwrap(), t));
        self
    }

    pub fn saw(&self, f: impl Fn(&Event) -> bool) -> bool {
        self.events.iter().any(|(_, e)| f(e))
    }

    pub fn count(&self, f: impl Fn(&Event) -> bool) -> usize {
        self.events.iter().filter(|(_, e)| f(e)).count()
    }

    /// The connections the agent asked for: id, from, to.
    pub fn connects(&self) -> Vec<(ConnectionId, SocketAddr, SocketAddr)> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Connect { id, from, to, tls } => {
                    assert_eq!(*tls, None, "ICE-TCP asks for no TLS");
                    Some((*id, *from, *to))
                }
                _ => None,
            })
            .collect()
    }

    /// The connections the agent asked to close.
    pub fn closes(&self) -> Vec<ConnectionId> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Close { id } => Some(*id),
                _ => None,
            })
            .collect()
    }

    fn listens(&self, addr: SocketAddr) -> bool {
        self.tcp
            .iter()
            .any(|(a, t)| *a == addr && *t != TcpType::Active)
    }
}

enum Wire {
    Udp {
        from: SocketAddr,
        to: SocketAddr,
        data: Vec<u8>,
    },
    /// A connection request from the other side's connection `id`.
    Syn {
        id: ConnectionId,
        from: SocketAddr,
        to: SocketAddr,
    },
    /// Bytes for this side's connection `id`.
    Bytes { id: ConnectionId, data: Vec<u8> },
    /// The other end closed this side's connection `id`.
    Fin { id: ConnectionId },
}

/// The two agents and the network between them.
pub struct Net {
    pub a: Side,
    pub b: Side,
    pub start: Instant,
    pub now: Instant,
    pub latency: Duration,
    /// Drop every UDP datagram.
    pub block_udp: bool,
    /// Connections to these addresses are refused.
    pub refuse: Vec<SocketAddr>,
    pub chunking: Chunking,
    /// `start` does not give b the credentials of a (the test does, later).
    pub withhold_from_b: bool,
    /// (due, sequence, to_a, what).
    wire: Vec<(Instant, u64, bool, Wire)>,
    seq: u64,
    /// Open connections: (a's id, b's id).
    pub links: Vec<(ConnectionId, ConnectionId)>,
    next_port: u16,
    spins: u32,
}

impl Net {
    pub fn new(a: Side, b: Side) -> Net {
        #[allow(clippy::disallowed_methods)]
        let start = Instant::now();
        Net {
            a,
            b,
            start,
            now: start,
            latency: Duration::from_millis(10),
            block_udp: false,
            refuse: Vec::new(),
            chunking: Chunking::Writes,
            withhold_from_b: false,
            wire: Vec::new(),
            seq: 0,
            links: Vec::new(),
            next_port: 40000,
            spins: 0,
        }
    }

    pub fn side(&mut self, a: bool) -> &mut Side {
        if a { &mut self.a } else { &mut self.b }
    }

    /// Candidates, credentials, gathering.
    pub fn start(&mut self) {
        let now = self.now;
        for a in [true, false] {
            let s = self.side(a);
            for h in s.udp.clone() {
                s.agent.add_local_host(1, h).unwrap();
            }
            for (h, t) in s.tcp.clone() {
                s.agent.add_local_tcp_host(1, h, t).unwrap();
            }
            s.agent.gather(now);
        }
        if !self.withhold_from_b {
            self.give_b_credentials();
        }
        let (u, p) = self.b.agent.local_credentials();
        let (u, p) = (u.to_owned(), p.to_owned());
        self.a.agent.set_remote_credentials(now, &u, &p).unwrap();
        self.drain();
    }

    /// b learns a's credentials.
    pub fn give_b_credentials(&mut self) {
        let (u, p) = self.a.agent.local_credentials();
        let (u, p) = (u.to_owned(), p.to_owned());
        self.b
            .agent
            .set_remote_credentials(self.now, &u, &p)
            .unwrap();
    }

    fn push(&mut self, to_a: bool, w: Wire) {
        self.seq += 1;
        self.wire.push((self.now + self.latency, self.seq, to_a, w));
    }

    fn link_of(&self, from_a: bool, id: ConnectionId) -> Option<usize> {
        self.links
            .iter()
            .position(|&(a, b)| if from_a { a == id } else { b == id })
    }

    /// The drain rule on both sides until neither has anything left.
    pub fn drain(&mut self) {
        loop {
            let mut any = false;
            for from_a in [true, false] {
                any |= self.drain_side(from_a);
            }
            if !any {
                break;
            }
        }
    }

    fn drain_side(&mut self, from_a: bool) -> bool {
        let now = self.now;
        let elapsed = now - self.start;
        let mut out = Vec::new();
        let mut events = Vec::new();
        {
            let s = self.side(from_a);
            while let Some(t) = s.agent.poll_transmit() {
                if let Some(id) = t.connection {
                    assert_eq!(t.protocol, Protocol::Tcp);
                    s.tcp_writes.push(t.data.to_vec());
                    out.push((Some(id), t.local, t.remote, t.data.to_vec()));
                } else {
                    assert_eq!(t.protocol, Protocol::Udp);
                    out.push((None, t.local, t.remote, t.data.to_vec()));
                }
            }
            while let Some(e) = s.agent.poll_event() {
                events.push(e.clone());
                s.events.push((elapsed, e));
            }
        }
        let any = !out.is_empty() || !events.is_empty();
        for (conn, from, to, data) in out {
            match conn {
                Some(id) => {
                    if let Some(l) = self.link_of(from_a, id) {
                        let peer = if from_a {
                            self.links[l].1
                        } else {
                            self.links[l].0
                        };
                        self.push(!from_a, Wire::Bytes { id: peer, data });
                    }
                }
                None if self.block_udp => {}
                None => self.push(!from_a, Wire::Udp { from, to, data }),
            }
        }
        for e in events {
            match e {
                Event::LocalCandidate(c) => {
                    let _ = self.side(!from_a).agent.add_remote_candidate(now, c);
                }
                Event::GatheringComplete => self.side(!from_a).agent.end_of_remote_candidates(now),
                Event::Connect { id, from, to, .. } => {
                    // Port 0: any ephemeral port, as the system picks one.
                    let from = if from.port() == 0 {
                        self.next_port += 1;
                        SocketAddr::new(from.ip(), self.next_port)
                    } else {
                        from
                    };
                    self.side(from_a).pending.push((id, from, to));
                    self.push(!from_a, Wire::Syn { id, from, to });
                }
                Event::Close { id } => {
                    self.side(from_a).pending.retain(|p| p.0 != id);
                    if let Some(l) = self.link_of(from_a, id) {
                        let (a, b) = self.links.remove(l);
                        let peer = if from_a { b } else { a };
                        self.push(!from_a, Wire::Fin { id: peer });
                    }
                }
                _ => {}
            }
        }
        any
    }

    /// The peer of side `a`'s connection `id` resets it: both ends are told it closed.
    pub fn reset(&mut self, a_side: bool, id: ConnectionId) {
        let now = self.now;
        if let Some(l) = self.link_of(a_side, id) {
            let (ia, ib) = self.links.remove(l);
            self.a.closed_by_peer.push(ia);
            self.a.agent.handle_closed(now, ia);
            self.b.closed_by_peer.push(ib);
            self.b.agent.handle_closed(now, ib);
        }
        self.drain();
    }

    /// Stream bytes handed to side `a`'s (or b's) connection `id`, in the net's chunking.
    pub fn feed(&mut self, to_a: bool, id: ConnectionId, data: &[u8]) {
        let now = self.now;
        let chunking = self.chunking;
        let s = self.side(to_a);
        let pieces: Vec<&[u8]> = match chunking {
            Chunking::Bytes => data.chunks(1).collect(),
            Chunking::Writes | Chunking::Coalesced => vec![data],
        };
        for piece in pieces {
            let mut rest = piece;
            while let Some(r) = s.agent.handle_stream(now, id, &mut rest) {
                s.stream_log.push(format!("{r:?}"));
                if let Received::Data { data, .. } = r {
                    s.received.push(data.to_vec());
                }
            }
            assert!(rest.is_empty(), "handle_stream takes every byte");
        }
    }

    fn deliver(&mut self, to_a: bool, w: Wire) {
        let now = self.now;
        match w {
            Wire::Udp { from, to, data } => {
                let s = self.side(to_a);
                let d = Datagram {
                    local: to,
                    remote: from,
                    protocol: Protocol::Udp,
                    data: &data,
                };
                if let Received::Data { data, .. } = s.agent.handle_receive(now, d) {
                    s.received.push(data.to_vec());
                }
            }
            Wire::Syn { id, from, to } => {
                let src_a = !to_a;
                let Some(pi) = self.side(src_a).pending.iter().position(|p| p.0 == id) else {
                    return; // abandoned, or already one connection with the peer's own
                };
                self.side(src_a).pending.remove(pi);
                let listening = self.side(to_a).listens(to) && !self.refuse.contains(&to);
                if !listening {
                    self.side(src_a).agent.handle_connect_failed(now, id);
                    return;
                }
                // TCP simultaneous open: the peer connects from `to` to `from` at the same time.
                let dst = self.side(to_a);
                let dst_id =
                    if let Some(di) = dst.pending.iter().position(|p| p.1 == to && p.2 == from) {
                        let (did, _, _) = dst.pending.remove(di);
                        dst.agent.handle_connected(now, did, to);
                        Some(did)
                    } else {
                        dst.agent.handle_accepted(now, to, from).ok()
                    };
                match dst_id {
                    Some(did) => {
                        self.links.push(if to_a { (did, id) } else { (id, did) });
                        self.side(src_a).agent.handle_connected(now, id, from);
                    }
                    None => self.side(src_a).agent.handle_connect_failed(now, id),
                }
            }
            Wire::Bytes { id, data } => self.feed(to_a, id, &data),
            Wire::Fin { id } => {
                let s = self.side(to_a);
                s.closed_by_peer.push(id);
                s.agent.handle_closed(now, id);
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        [
            self.a.agent.poll_timeout(),
            self.b.agent.poll_timeout(),
            self.wire.iter().map(|w| w.0).min(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// One step: to the next deadline, deliver what is due, run the timers. False when
    /// nothing is left to do.
    pub fn step(&mut self) -> bool {
        self.drain();
        let Some(next) = self.next_deadline() else {
            return false;
        };
        if next > self.now {
            self.now = next;
            self.spins = 0;
        } else {
            self.spins += 1;
            assert!(self.spins < 10_000, "no progress: a busy loop in an agent");
        }
        let now = self.now;
        self.wire.sort_by_key(|w| (w.0, w.1));
        let (due, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.wire)
            .into_iter()
            .partition(|w| w.0 <= now);
        self.wire = rest;
        let mut due: Vec<(bool, Wire)> = due.into_iter().map(|w| (w.2, w.3)).collect();
        if self.chunking == Chunking::Coalesced {
            // Everything due on one connection at once, as one piece (in order).
            let mut merged: Vec<(bool, Wire)> = Vec::new();
            for (to_a, w) in due {
                if let Wire::Bytes { id, data } = &w
                    && let Some((last_a, Wire::Bytes { id: last, data: d })) = merged.last_mut()
                    && *last == *id
                    && *last_a == to_a
                {
                    d.extend_from_slice(data);
                    continue;
                }
                merged.push((to_a, w));
            }
            due = merged;
        }
        for (to_a, w) in due {
            self.deliver(to_a, w);
            self.drain();
        }
        for a in [true, false] {
            let s = self.side(a);
            if s.agent.poll_timeout().is_some_and(|t| t <= now) {
                s.agent.handle_timeout(now);
            }
        }
        self.drain();
        true
    }

    pub fn run_until(&mut self, limit: Duration, done: impl Fn(&Net) -> bool) -> Option<Duration> {
        let end = self.start + limit;
        loop {
            if done(self) {
                return Some(self.now - self.start);
            }
            if self.now > end || !self.step() {
                return done(self).then(|| self.now - self.start);
            }
        }
    }

    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end && self.step() {}
    }

    pub fn both(&self, s: State) -> bool {
        self.a.agent.state() == s && self.b.agent.state() == s
    }

    /// Application data from one side on component 1, into the network.
    pub fn send(&mut self, from_a: bool, data: &[u8]) -> Result<(), ice_sans_io::SendError> {
        let now = self.now;
        let s = self.side(from_a);
        let t = s.agent.send(now, 1, data)?;
        let (conn, from, to, bytes) = (t.connection, t.local, t.remote, t.data.to_vec());
        match conn {
            Some(id) => {
                self.side(from_a).tcp_writes.push(bytes.clone());
                if let Some(l) = self.link_of(from_a, id) {
                    let peer = if from_a {
                        self.links[l].1
                    } else {
                        self.links[l].0
                    };
                    self.push(
                        !from_a,
                        Wire::Bytes {
                            id: peer,
                            data: bytes,
                        },
                    );
                }
            }
            None if self.block_udp => {}
            None => self.push(
                !from_a,
                Wire::Udp {
                    from,
                    to,
                    data: bytes,
                },
            ),
        }
        Ok(())
    }
}
