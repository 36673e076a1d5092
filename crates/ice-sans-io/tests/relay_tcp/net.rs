//! The in-memory network: agent A (controlling) behind a firewall that drops all its UDP,
//! with a TURN server it reaches over a TCP (or TLS) connection it holds; agent B
//! (controlled) on a public UDP address; the scripted server (`server.rs`) relaying between
//! A's connection and B over UDP. Every hop takes `delay`; connection bytes reach A in the
//! chunking the test picks. Signalling is immediate. Virtual time.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ice_sans_io::turn::{TurnCredentials, TurnTransport};
use ice_sans_io::{
    Config, ConnectionId, Datagram, Event, IceAgent, Protocol, Received, Role, State,
};

use crate::server::{PASS, TurnOverStream, USER};

pub(crate) fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub(crate) fn server() -> SocketAddr {
    addr("192.0.2.1:3478")
}
pub(crate) fn relayed() -> SocketAddr {
    addr("192.0.2.1:49152")
}
pub(crate) fn host_a() -> SocketAddr {
    addr("10.0.1.1:5000")
}
pub(crate) fn host_b() -> SocketAddr {
    addr("198.51.100.2:6000")
}
/// The local address of A's connection to the server (its ephemeral port).
pub(crate) fn conn_local() -> SocketAddr {
    addr("10.0.1.1:40001")
}
/// A's connection as the server sees it, through A's NAT.
pub(crate) fn mapped() -> SocketAddr {
    addr("203.0.113.1:61001")
}

/// How server bytes are handed to `handle_stream`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chunking {
    Whole,
    Bytes,
}

/// How A's connect requests are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    Connect,
    Refuse,
    /// Never answered (the agent's own timeout).
    Silence,
}

enum Wire {
    /// UDP from `from` to `to`.
    Udp {
        from: SocketAddr,
        to: SocketAddr,
        data: Vec<u8>,
    },
    /// A's connect reaches the server.
    Syn(ConnectionId),
    /// Bytes from A on the connection reach the server.
    ToServer(ConnectionId, Vec<u8>),
    /// Bytes from the server reach A.
    ToA(ConnectionId, Vec<u8>),
}

pub(crate) struct Net {
    pub(crate) a: IceAgent,
    pub(crate) b: IceAgent,
    pub(crate) server: TurnOverStream,
    pub(crate) t0: Instant,
    pub(crate) now: Instant,
    pub(crate) delay: Duration,
    pub(crate) chunking: Chunking,
    pub(crate) answer: Answer,
    pub(crate) events_a: Vec<(Duration, Event)>,
    pub(crate) events_b: Vec<(Duration, Event)>,
    /// A's connect requests: id, from, to, tls.
    pub(crate) connects: Vec<(ConnectionId, SocketAddr, SocketAddr, Option<String>)>,
    /// The connection open between A and the server, if any.
    pub(crate) open: Option<ConnectionId>,
    /// Every Transmit A wrote on a connection: (connection, protocol, bytes).
    pub(crate) written: Vec<(ConnectionId, Protocol, Vec<u8>)>,
    /// What `handle_stream` returned on A, as text.
    pub(crate) stream_log: Vec<String>,
    pub(crate) received_a: Vec<Vec<u8>>,
    pub(crate) received_b: Vec<Vec<u8>>,
    /// Connections A asked to close.
    pub(crate) closed_by_a: Vec<ConnectionId>,
    /// A's firewall lets its UDP through (both ways) when set; it drops it by default.
    pub(crate) udp_a_open: bool,
    wire: Vec<(Instant, u64, Wire)>,
    seq: u64,
    spins: u32,
}

impl Net {
    pub(crate) fn new() -> Net {
        Net::with_config(Config::new(Role::Controlling))
    }

    /// With this configuration for A.
    pub(crate) fn with_config(config_a: Config) -> Net {
        #[allow(clippy::disallowed_methods)]
        let t0 = Instant::now();
        Net {
            a: IceAgent::new(config_a, [31; 32]),
            b: IceAgent::new(Config::new(Role::Controlled), [32; 32]),
            server: TurnOverStream::new(relayed(), mapped()),
            t0,
            now: t0,
            delay: Duration::from_millis(10),
            chunking: Chunking::Whole,
            answer: Answer::Connect,
            events_a: Vec::new(),
            events_b: Vec::new(),
            connects: Vec::new(),
            open: None,
            written: Vec::new(),
            stream_log: Vec::new(),
            received_a: Vec::new(),
            received_b: Vec::new(),
            closed_by_a: Vec::new(),
            udp_a_open: false,
            wire: Vec::new(),
            seq: 0,
            spins: 0,
        }
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.now - self.t0
    }

    /// Host candidates, the TURN server over `transport` for A, credentials, gathering.
    pub(crate) fn start(&mut self, transport: TurnTransport) {
        let now = self.now;
        self.a.add_local_host(1, host_a()).unwrap();
        self.b.add_local_host(1, host_b()).unwrap();
        self.a
            .add_turn_server_over(server(), TurnCredentials::new(USER, PASS), transport)
            .unwrap();
        let (u, p) = self.a.local_credentials();
        let (u, p) = (u.to_owned(), p.to_owned());
        self.b.set_remote_credentials(now, &u, &p).unwrap();
        let (u, p) = self.b.local_credentials();
        let (u, p) = (u.to_owned(), p.to_owned());
        self.a.set_remote_credentials(now, &u, &p).unwrap();
        self.a.gather(now);
        self.b.gather(now);
        self.drain();
    }

    fn put(&mut self, w: Wire) {
        self.seq += 1;
        self.wire.push((self.now + self.delay, self.seq, w));
    }

    /// The drain rule on both agents until neither has anything left.
    pub(crate) fn drain(&mut self) {
        loop {
            let mut any = false;
            let (now, at) = (self.now, self.elapsed());
            let mut out = Vec::new();
            while let Some(t) = self.a.poll_transmit() {
                out.push((t.connection, t.protocol, t.local, t.remote, t.data.to_vec()));
            }
            for (conn, protocol, from, to, data) in out {
                any = true;
                match conn {
                    Some(id) => {
                        self.written.push((id, protocol, data.clone()));
                        if self.open == Some(id) {
                            self.put(Wire::ToServer(id, data));
                        }
                    }
                    // A's firewall drops its UDP, unless the test opened it.
                    None => {
                        assert_eq!(from.ip(), host_a().ip());
                        if self.udp_a_open {
                            self.put(Wire::Udp { from, to, data });
                        }
                    }
                }
            }
            let mut events = Vec::new();
            while let Some(e) = self.a.poll_event() {
                events.push(e.clone());
                self.events_a.push((at, e));
            }
            for e in events {
                any = true;
                match e {
                    Event::LocalCandidate(c) => self.b.add_remote_candidate(now, c).unwrap(),
                    Event::GatheringComplete => self.b.end_of_remote_candidates(now),
                    Event::Connect { id, from, to, tls } => {
                        self.connects.push((id, from, to, tls));
                        self.put(Wire::Syn(id));
                    }
                    Event::Close { id } => {
                        self.closed_by_a.push(id);
                        if self.open == Some(id) {
                            self.open = None;
                        }
                    }
                    _ => {}
                }
            }
            let mut out = Vec::new();
            while let Some(t) = self.b.poll_transmit() {
                assert_eq!(t.connection, None);
                out.push((t.local, t.remote, t.data.to_vec()));
            }
            for (from, to, data) in out {
                any = true;
                self.put(Wire::Udp { from, to, data });
            }
            let mut events = Vec::new();
            while let Some(e) = self.b.poll_event() {
                events.push(e.clone());
                self.events_b.push((at, e));
            }
            for e in events {
                any = true;
                match e {
                    Event::LocalCandidate(c) => self.a.add_remote_candidate(now, c).unwrap(),
                    Event::GatheringComplete => self.a.end_of_remote_candidates(now),
                    _ => {}
                }
            }
            if !any {
                return;
            }
        }
    }

    /// Bytes from the server handed to A's connection `id` in the net's chunking.
    pub(crate) fn feed_a(&mut self, id: ConnectionId, data: &[u8]) {
        let now = self.now;
        let pieces: Vec<&[u8]> = match self.chunking {
            Chunking::Bytes => data.chunks(1).collect(),
            Chunking::Whole => vec![data],
        };
        for piece in pieces {
            let mut rest = piece;
            while let Some(r) = self.a.handle_stream(now, id, &mut rest) {
                self.stream_log.push(format!("{r:?}"));
                if let Received::Data { data, .. } = r {
                    self.received_a.push(data.to_vec());
                }
            }
            assert!(rest.is_empty(), "handle_stream takes every byte");
        }
        self.drain();
    }

    fn deliver(&mut self, w: Wire) {
        let now = self.now;
        match w {
            Wire::Syn(id) => match self.answer {
                Answer::Connect => {
                    self.open = Some(id);
                    self.a.handle_connected(now, id, conn_local());
                }
                Answer::Refuse => self.a.handle_connect_failed(now, id),
                Answer::Silence => {}
            },
            // What A wrote before closing still arrives (TCP delivers it before the FIN).
            Wire::ToServer(id, data) => {
                let (back, udp) = self.server.client_wrote(&data);
                if !back.is_empty() {
                    self.put(Wire::ToA(id, back));
                }
                for (to, data) in udp {
                    self.put(Wire::Udp {
                        from: relayed(),
                        to,
                        data,
                    });
                }
            }
            Wire::ToA(id, data) => {
                if self.open == Some(id) {
                    self.feed_a(id, &data);
                }
            }
            Wire::Udp { from, to, data } => {
                if to == relayed() {
                    if let (Some(id), Some(bytes)) = (self.open, self.server.peer_sent(from, &data))
                    {
                        self.put(Wire::ToA(id, bytes));
                    }
                } else if to == host_b() {
                    let d = Datagram {
                        local: to,
                        remote: from,
                        protocol: Protocol::Udp,
                        data: &data,
                    };
                    if let Received::Data { data, .. } = self.b.handle_receive(now, d) {
                        self.received_b.push(data.to_vec());
                    }
                } else if to == host_a() && self.udp_a_open {
                    let d = Datagram {
                        local: to,
                        remote: from,
                        protocol: Protocol::Udp,
                        data: &data,
                    };
                    if let Received::Data { data, .. } = self.a.handle_receive(now, d) {
                        self.received_a.push(data.to_vec());
                    }
                }
                // Anything else to A's host is dropped by its firewall.
            }
        }
        self.drain();
    }

    /// Advances to the next deadline (`end` at the latest) and handles what is due.
    fn step(&mut self, end: Instant) {
        self.drain();
        let next = [
            self.a.poll_timeout(),
            self.b.poll_timeout(),
            self.wire.iter().map(|w| w.0).min(),
            Some(end),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(end);
        if next > self.now {
            self.now = next;
            self.spins = 0;
        } else {
            self.spins += 1;
            assert!(self.spins < 10_000, "no progress at {:?}", self.elapsed());
        }
        while let Some(k) = (0..self.wire.len())
            .filter(|&k| self.wire[k].0 <= self.now)
            .min_by_key(|&k| (self.wire[k].0, self.wire[k].1))
        {
            let (_, _, w) = self.wire.remove(k);
            self.deliver(w);
        }
        let now = self.now;
        if self.a.poll_timeout().is_some_and(|t| t <= now) {
            self.a.handle_timeout(now);
        }
        if self.b.poll_timeout().is_some_and(|t| t <= now) {
            self.b.handle_timeout(now);
        }
        self.drain();
    }

    pub(crate) fn run_until(&mut self, limit: Duration, done: impl Fn(&Net) -> bool) -> bool {
        let end = self.t0 + limit;
        while !done(self) {
            if self.now >= end {
                return false;
            }
            self.step(end);
        }
        true
    }

    pub(crate) fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.step(end);
        }
    }

    pub(crate) fn both(&self, s: State) -> bool {
        self.a.state() == s && self.b.state() == s
    }

    /// Application data from A (true) or B over the selected pair.
    pub(crate) fn send(&mut self, from_a: bool, data: &[u8]) {
        let now = self.now;
        let agent = if from_a { &mut self.a } else { &mut self.b };
        let t = agent.send(now, 1, data).unwrap();
        let (conn, protocol, from, to, bytes) =
            (t.connection, t.protocol, t.local, t.remote, t.data.to_vec());
        match conn {
            Some(id) => {
                self.written.push((id, protocol, bytes.clone()));
                if self.open == Some(id) {
                    self.put(Wire::ToServer(id, bytes));
                }
            }
            None => {
                if !from_a || self.udp_a_open {
                    self.put(Wire::Udp {
                        from,
                        to,
                        data: bytes,
                    });
                }
            }
        }
    }

    pub(crate) fn saw_a(&self, f: impl Fn(&Event) -> bool) -> bool {
        self.events_a.iter().any(|(_, e)| f(e))
    }
}
