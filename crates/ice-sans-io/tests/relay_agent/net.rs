//! The in-memory network: two agents (A controlling, B controlled, one host candidate each),
//! one `turn-server-proto` TurnServer, a queue of datagrams with a fixed one-way delay, a
//! filter that drops datagrams, an optional static NAT in front of A, and virtual time.
//!
//! The server relays from its own address (192.0.2.1, ports from 49152): a datagram it sends
//! to one of its relayed addresses goes back into it as arriving on that address, so the two
//! agents' allocations can relay to each other. Signalling is direct: credentials and local
//! candidates reach the other agent as soon as they are polled.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use ice_sans_io::turn::TurnCredentials;
use ice_sans_io::{Candidate, Config, Datagram, Event, IceAgent, Protocol, Received, Role, State};
use turn_server_proto::api::TurnServerApi;
use turn_server_proto::server::TurnServer;
use turn_server_proto::stun::agent::Transmit as ServerTransmit;
use turn_server_proto::types::{Instant as ServerInstant, TransportType};

use crate::serve;

const fn v4(o: [u8; 4], port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(
        Ipv4Addr::new(o[0], o[1], o[2], o[3]),
        port,
    ))
}

/// The TURN server's listening address; it relays from the same IP.
pub(crate) const SERVER: SocketAddr = v4([192, 0, 2, 1], 3478);
/// The host candidates of A (controlling) and B (controlled).
pub(crate) const HOSTS: [SocketAddr; 2] = [v4([10, 0, 1, 1], 5000), v4([10, 0, 2, 1], 5000)];
/// The first relayed port the server hands out (then 49153, ...).
pub(crate) const FIRST_RELAY_PORT: u16 = 49152;
pub(crate) const USER: &str = "romeo";
pub(crate) const PASS: &str = "wherefore";
/// A's public address when [`Net::nat_a`] puts a NAT in front of it.
pub(crate) const A_PUBLIC: SocketAddr = v4([203, 0, 113, 1], 6000);

/// A datagram as it travelled: when (since the start), from, to, the bytes, and its place
/// in the order of everything the agents sent and were handed (`n`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Wire {
    pub(crate) n: u64,
    pub(crate) at: Duration,
    pub(crate) from: SocketAddr,
    pub(crate) to: SocketAddr,
    pub(crate) data: Vec<u8>,
}

/// One agent and what it did.
pub(crate) struct Peer {
    pub(crate) agent: IceAgent,
    pub(crate) host: SocketAddr,
    pub(crate) events: Vec<(Duration, Event)>,
    /// Application data handed up (`Received::Data`).
    pub(crate) received: Vec<Vec<u8>>,
    /// Every datagram the agent asked to send, with its own addresses (before any NAT).
    pub(crate) sent: Vec<Wire>,
    /// Every datagram handed to `handle_receive`.
    pub(crate) got: Vec<Wire>,
}

impl Peer {
    pub(crate) fn position(&self, f: impl Fn(&Event) -> bool) -> Option<usize> {
        self.events.iter().position(|(_, e)| f(e))
    }

    /// The last nominated pair reported by `Event::SelectedPair` at or after `since`:
    /// (local, remote).
    pub(crate) fn nominated_since(&self, since: Duration) -> Option<(Candidate, Candidate)> {
        self.events
            .iter()
            .rev()
            .take_while(|(t, _)| *t >= since)
            .find_map(|(_, e)| match e {
                Event::SelectedPair {
                    local,
                    remote,
                    nominated: true,
                    ..
                } => Some((local.clone(), remote.clone())),
                _ => None,
            })
    }

    /// The local candidates announced at or after `since`.
    pub(crate) fn local_candidates_since(&self, since: Duration) -> Vec<Candidate> {
        self.events
            .iter()
            .filter(|(t, _)| *t >= since)
            .filter_map(|(_, e)| match e {
                Event::LocalCandidate(c) => Some(c.clone()),
                _ => None,
            })
            .collect()
    }
}

/// Drops a datagram (from, to as on the wire, bytes) when it returns true.
pub(crate) type Filter = Box<dyn Fn(SocketAddr, SocketAddr, &[u8]) -> bool>;

fn is_host(a: SocketAddr) -> bool {
    HOSTS.contains(&a) || a == A_PUBLIC
}

/// The hosts cannot reach each other: connected through the relay, one datagram sent each
/// way, then 30 s of consent checks and refreshes (the run of
/// `connect::hosts_apart_connect_through_the_relay`, which other tests inspect).
pub(crate) fn relayed_run(seeds: [u8; 2]) -> Net {
    let mut net = Net::new(seeds);
    net.filter = Some(hosts_apart());
    net.start();
    net.connect();
    net.send(0, b"from A");
    net.send(1, b"from B");
    net.run_for(Duration::from_secs(30));
    net
}

/// The hosts cannot reach each other directly; everything else passes.
pub(crate) fn hosts_apart() -> Filter {
    Box::new(|from, to, _| is_host(from) && is_host(to))
}

/// A host talks to the server's listening port only: not to the other host, not to a
/// relayed address. Only relay-to-relay pairs can work.
pub(crate) fn server_port_only() -> Filter {
    Box::new(|from, to, _| (is_host(from) && to != SERVER) || (is_host(to) && from != SERVER))
}

/// Nothing reaches the server.
pub(crate) fn server_unreachable() -> Filter {
    Box::new(|_, to, _| to.ip() == SERVER.ip())
}

struct InFlight {
    at: Instant,
    seq: u64,
    from: SocketAddr,
    to: SocketAddr,
    data: Vec<u8>,
}

enum Signal {
    Candidate(Candidate),
    Credentials(String, String),
}

/// The two agents, the server and the wire between them.
pub(crate) struct Net {
    pub(crate) peers: [Peer; 2],
    pub(crate) server: TurnServer,
    pub(crate) t0: Instant,
    pub(crate) now: Instant,
    /// One-way delay of every hop (host to server, server to host, server to itself).
    pub(crate) delay: Duration,
    pub(crate) filter: Option<Filter>,
    /// A static NAT in front of A: A's host appears as [`A_PUBLIC`].
    pub(crate) nat_a: bool,
    /// Datagrams to an address nobody has.
    pub(crate) lost: u64,
    /// The relayed addresses the server allocated, in order, and those it closed.
    pub(crate) relayed: Vec<SocketAddr>,
    pub(crate) closed: Vec<SocketAddr>,
    server_wake: Option<Instant>,
    wire: Vec<InFlight>,
    seq: u64,
    order: u64,
    spins: u32,
}

impl Net {
    /// A (controlling, seed `seeds[0]`) and B (controlled, seed `seeds[1]`), and the server
    /// with the user `USER`/`PASS`. Nothing started.
    pub(crate) fn new(seeds: [u8; 2]) -> Net {
        #[allow(clippy::disallowed_methods)]
        let t0 = Instant::now();
        let peer = |i: usize, role| Peer {
            agent: IceAgent::new(Config::new(role), [seeds[i]; 32]),
            host: HOSTS[i],
            events: Vec::new(),
            received: Vec::new(),
            sent: Vec::new(),
            got: Vec::new(),
        };
        let mut server = TurnServer::new(TransportType::Udp, SERVER, "example.org".into());
        server.add_user(USER.into(), PASS.into());
        Net {
            peers: [peer(0, Role::Controlling), peer(1, Role::Controlled)],
            server,
            t0,
            now: t0,
            delay: Duration::from_millis(10),
            filter: None,
            nat_a: false,
            lost: 0,
            relayed: Vec::new(),
            closed: Vec::new(),
            server_wake: None,
            wire: Vec::new(),
            seq: 0,
            order: 0,
            spins: 0,
        }
    }

    /// Host candidates, the TURN server with the right password, credentials exchanged,
    /// gathering started.
    pub(crate) fn start(&mut self) {
        self.start_with([PASS, PASS], true);
    }

    /// [`Net::start`] with these TURN passwords for A and B; the ICE credentials exchanged
    /// now or (`credentials` false) when the test calls [`Net::exchange_credentials`]: until
    /// then no check goes out.
    pub(crate) fn start_with(&mut self, passwords: [&str; 2], credentials: bool) {
        let now = self.now;
        for (i, pwd) in passwords.into_iter().enumerate() {
            let a = &mut self.peers[i].agent;
            a.add_local_host(1, HOSTS[i]).unwrap();
            a.add_turn_server(SERVER, TurnCredentials::new(USER, pwd))
                .unwrap();
        }
        if credentials {
            self.exchange_credentials();
        }
        for p in &mut self.peers {
            p.agent.gather(now);
        }
        self.drain();
    }

    /// Each agent gets the other's current ICE credentials.
    pub(crate) fn exchange_credentials(&mut self) {
        let now = self.now;
        for i in 0..2 {
            let (u, p) = self.peers[1 - i].agent.local_credentials();
            let (u, p) = (u.to_owned(), p.to_owned());
            self.peers[i]
                .agent
                .set_remote_credentials(now, &u, &p)
                .unwrap();
        }
        self.drain();
    }

    /// Virtual time since the start.
    pub(crate) fn elapsed(&self) -> Duration {
        self.now - self.t0
    }

    fn server_now(&self) -> ServerInstant {
        ServerInstant::from_nanos(self.elapsed().as_nanos() as i64)
    }

    /// Puts a datagram on the wire (it arrives after `delay`), unless the filter drops it.
    fn put(&mut self, from: SocketAddr, to: SocketAddr, data: Vec<u8>) {
        if self.filter.as_ref().is_some_and(|f| f(from, to, &data)) {
            return;
        }
        self.seq += 1;
        self.wire.push(InFlight {
            at: self.now + self.delay,
            seq: self.seq,
            from,
            to,
            data,
        });
    }

    /// A datagram an agent sends: logged, then through the NAT onto the wire.
    fn put_from_agent(&mut self, i: usize, mut w: Wire) {
        self.order += 1;
        w.n = self.order;
        self.peers[i].sent.push(w.clone());
        let from = if self.nat_a && w.from == HOSTS[0] {
            A_PUBLIC
        } else {
            w.from
        };
        self.put(from, w.to, w.data);
    }

    /// The drain rule, for both agents until neither has anything left: transmits onto the
    /// wire, events recorded, credentials and candidates signalled to the other agent.
    pub(crate) fn drain(&mut self) {
        loop {
            let mut progress = false;
            for i in 0..2 {
                let (now, at) = (self.now, self.elapsed());
                let p = &mut self.peers[i];
                let mut out = Vec::new();
                while let Some(t) = p.agent.poll_transmit() {
                    assert_eq!(t.protocol, Protocol::Udp);
                    out.push(Wire {
                        n: 0,
                        at,
                        from: t.local,
                        to: t.remote,
                        data: t.data.to_vec(),
                    });
                }
                let mut signals = Vec::new();
                while let Some(e) = p.agent.poll_event() {
                    match &e {
                        Event::LocalCandidate(c) => signals.push(Signal::Candidate(c.clone())),
                        Event::LocalCredentials { ufrag, pwd, .. } => {
                            signals.push(Signal::Credentials(ufrag.clone(), pwd.clone()))
                        }
                        _ => {}
                    }
                    p.events.push((at, e));
                }
                progress |= !out.is_empty() || !signals.is_empty();
                for w in out {
                    self.put_from_agent(i, w);
                }
                let other = &mut self.peers[1 - i].agent;
                for s in signals {
                    match s {
                        Signal::Candidate(c) => other.add_remote_candidate(now, c).unwrap(),
                        Signal::Credentials(u, p) => {
                            other.set_remote_credentials(now, &u, &p).unwrap()
                        }
                    }
                }
            }
            if !progress {
                return;
            }
        }
    }

    /// Hands `data` from `from` to agent `i`'s host socket now, then drains.
    pub(crate) fn inject<'a>(
        &mut self,
        i: usize,
        from: SocketAddr,
        data: &'a [u8],
    ) -> Received<'a> {
        let (now, at) = (self.now, self.elapsed());
        self.order += 1;
        let p = &mut self.peers[i];
        p.got.push(Wire {
            n: self.order,
            at,
            from,
            to: p.host,
            data: data.to_vec(),
        });
        let d = Datagram {
            local: p.host,
            remote: from,
            protocol: Protocol::Udp,
            data,
        };
        let r = p.agent.handle_receive(now, d);
        if let Received::Data { data, .. } = r {
            p.received.push(data.to_vec());
        }
        self.drain();
        r
    }

    fn deliver(&mut self, w: InFlight) {
        let to = if self.nat_a && w.to == A_PUBLIC {
            HOSTS[0]
        } else {
            w.to
        };
        if let Some(i) = HOSTS.iter().position(|h| *h == to) {
            let _ = self.inject(i, w.from, &w.data);
        } else if to.ip() == SERVER.ip() {
            let now = self.server_now();
            let t = ServerTransmit::new(w.data, TransportType::Udp, w.from, to);
            if let Some(t) = self.server.recv(t, now) {
                let t = t.build();
                self.put(t.from, t.to, t.data);
            }
            self.run_server();
        } else {
            self.lost += 1;
        }
    }

    /// Whether the server forwards a datagram from `from` arriving on its address `to` (a
    /// probe: what it would send is discarded).
    pub(crate) fn server_forwards(&mut self, from: SocketAddr, to: SocketAddr) -> bool {
        let now = self.server_now();
        let t = ServerTransmit::new(b"probe".to_vec(), TransportType::Udp, from, to);
        self.server.recv(t, now).is_some()
    }

    /// The server's own work: sockets for allocations, closed sockets, its transmits.
    fn run_server(&mut self) {
        let now = self.server_now();
        let (relayed, closed) = (&mut self.relayed, &mut self.closed);
        let wake = serve(
            &mut self.server,
            now,
            |_| {
                let port = FIRST_RELAY_PORT + relayed.len() as u16;
                let addr = SocketAddr::new(SERVER.ip(), port);
                relayed.push(addr);
                addr
            },
            |addr| closed.push(addr),
        );
        if let Some(t) = wake {
            let t = self.t0 + Duration::from_nanos(t.as_nanos().max(0) as u64);
            // Its timers are strict (`expires_at < now`): asked again at `now`, it would
            // answer `now` for ever.
            self.server_wake = Some(t.max(self.now + Duration::from_millis(1)));
        }
        while let Some(t) = self.server.poll_transmit(self.server_now()) {
            self.put(t.from, t.to, t.data);
        }
    }

    /// Advances to the next deadline (a datagram's arrival, an agent's or the server's timer),
    /// `end` at the latest, and handles what is due there.
    fn step(&mut self, end: Instant) {
        self.drain();
        let next = [
            self.peers[0].agent.poll_timeout(),
            self.peers[1].agent.poll_timeout(),
            self.wire.iter().map(|w| w.at).min(),
            self.server_wake,
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
        // Datagrams due, in the order they were sent (delivering one sends others later).
        while let Some(k) = (0..self.wire.len())
            .filter(|&k| self.wire[k].at <= self.now)
            .min_by_key(|&k| (self.wire[k].at, self.wire[k].seq))
        {
            let w = self.wire.remove(k);
            self.deliver(w);
        }
        if self.server_wake.is_some_and(|t| t <= self.now) {
            self.run_server();
        }
        let now = self.now;
        for i in 0..2 {
            if self.peers[i].agent.poll_timeout().is_some_and(|t| t <= now) {
                self.peers[i].agent.handle_timeout(now);
                self.drain();
            }
        }
    }

    /// Runs until `done` holds, at most until `limit` after the start. Whether it held.
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

    /// Runs for `d` of virtual time: the clock ends at now + `d` exactly.
    pub(crate) fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.step(end);
        }
    }

    pub(crate) fn both(&self, s: State) -> bool {
        self.peers.iter().all(|p| p.agent.state() == s)
    }

    /// Connects both agents (Completed) within 10 s of virtual time, or panics.
    pub(crate) fn connect(&mut self) {
        let limit = self.elapsed() + Duration::from_secs(10);
        assert!(
            self.run_until(limit, |n| n.both(State::Completed)),
            "not connected: {:?} {:?}",
            self.peers[0].agent.state(),
            self.peers[1].agent.state()
        );
    }

    /// Application data from agent `i` over its selected pair; returns the datagram as the
    /// agent handed it out.
    pub(crate) fn send(&mut self, i: usize, data: &[u8]) -> Wire {
        let (now, at) = (self.now, self.elapsed());
        let t = self.peers[i].agent.send(now, 1, data).unwrap();
        let w = Wire {
            n: 0,
            at,
            from: t.local,
            to: t.remote,
            data: t.data.to_vec(),
        };
        self.put_from_agent(i, w);
        self.peers[i].sent.last().unwrap().clone()
    }

    /// ICE restart on both agents at once (RFC 8445 §9); the drain signals the new
    /// credentials and candidates.
    pub(crate) fn restart_both(&mut self) {
        let now = self.now;
        for p in &mut self.peers {
            p.agent.restart(now);
        }
        self.drain();
    }
}
