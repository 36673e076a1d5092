//! Server-reflexive TCP candidates (RFC 6544 §5.2): one agent with UDP and TCP host
//! candidates and a STUN server, driven by hand in virtual time; the test plays the caller
//! (connections) and a scripted STUN server that answers Binding requests on a stream with
//! the address a NAT would give. Each test names what it checks.
#![allow(clippy::unwrap_used)] // fixtures

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ice_sans_io::candidate::{priority, tcp_local_preference};
use ice_sans_io::stun::{Attribute, Class, Message, MessageBuilder, Method};
use ice_sans_io::{
    Candidate, CandidateKind, Config, ConnectionId, Datagram, Event, IceAgent, Protocol, Received,
    Role, TcpType,
};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

const SERVER: &str = "192.0.2.1:3478";
const UDP: &str = "10.0.0.1:5000";
const SO: &str = "10.0.0.1:7000";
const PASSIVE: &str = "10.0.0.1:7001";

/// What the NAT maps each local address to.
fn nat(local: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr("203.0.113.1:0").ip(), local.port() + 50000)
}

/// A Binding success response to `request` with XOR-MAPPED-ADDRESS `mapped`.
fn binding_response(request: &[u8], mapped: SocketAddr, class: Class) -> Vec<u8> {
    let req = Message::decode(request).unwrap();
    assert_eq!(
        (req.class(), req.method()),
        (Class::Request, Method::BINDING)
    );
    let mut buf = [0u8; 256];
    let mut b =
        MessageBuilder::new(&mut buf, class, Method::BINDING, req.transaction_id()).unwrap();
    if class == Class::Success {
        b.add(&Attribute::XorMappedAddress(mapped)).unwrap();
    }
    b.add_fingerprint().unwrap();
    let n = b.finish();
    buf[..n].to_vec()
}

/// A written transmit: connection, protocol, local, remote, bytes.
type Write = (
    Option<ConnectionId>,
    Protocol,
    SocketAddr,
    SocketAddr,
    Vec<u8>,
);

struct Rig {
    agent: IceAgent,
    t0: Instant,
    now: Instant,
    events: Vec<(Duration, Event)>,
    writes: Vec<Write>,
}

impl Rig {
    fn new(cfg: Config) -> Rig {
        #[allow(clippy::disallowed_methods)] // a test's origin of time
        let t0 = Instant::now();
        Rig {
            agent: IceAgent::new(cfg, [5; 32]),
            t0,
            now: t0,
            events: Vec::new(),
            writes: Vec::new(),
        }
    }

    /// UDP, so, passive and active host candidates and the STUN server; gathering.
    fn standard(cfg: Config) -> Rig {
        let mut r = Rig::new(cfg);
        r.agent.add_local_host(1, addr(UDP)).unwrap();
        let a = &mut r.agent;
        a.add_local_tcp_host(1, addr(SO), TcpType::SimultaneousOpen)
            .unwrap();
        a.add_local_tcp_host(1, addr(PASSIVE), TcpType::Passive)
            .unwrap();
        a.add_local_tcp_host(1, addr("10.0.0.1:0"), TcpType::Active)
            .unwrap();
        a.add_stun_server(addr(SERVER));
        let now = r.now;
        r.agent.gather(now);
        r.drain();
        r
    }

    fn drain(&mut self) {
        let at = self.now - self.t0;
        while let Some(t) = self.agent.poll_transmit() {
            self.writes
                .push((t.connection, t.protocol, t.local, t.remote, t.data.to_vec()));
        }
        while let Some(e) = self.agent.poll_event() {
            self.events.push((at, e));
        }
    }

    /// Runs the agent's timers up to `d` from the start.
    fn run_to(&mut self, d: Duration) {
        let end = self.t0 + d;
        while let Some(t) = self.agent.poll_timeout() {
            if t > end {
                break;
            }
            self.now = self.now.max(t);
            let now = self.now;
            self.agent.handle_timeout(now);
            self.drain();
        }
        self.now = self.now.max(end);
    }

    fn connects(&self) -> Vec<(ConnectionId, SocketAddr, SocketAddr, Option<String>)> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Connect { id, from, to, tls } => Some((*id, *from, *to, tls.clone())),
                _ => None,
            })
            .collect()
    }

    fn connect_from(&self, from: &str) -> ConnectionId {
        let from = addr(from);
        self.connects()
            .into_iter()
            .find(|c| c.1 == from)
            .unwrap_or_else(|| panic!("no connect from {from}: {:?}", self.connects()))
            .0
    }

    fn closes(&self) -> Vec<ConnectionId> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Close { id } => Some(*id),
                _ => None,
            })
            .collect()
    }

    fn complete(&self) -> bool {
        self.events
            .iter()
            .any(|(_, e)| *e == Event::GatheringComplete)
    }

    fn srflx(&self, t: Option<TcpType>) -> Vec<Candidate> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::LocalCandidate(c)
                    if c.kind == CandidateKind::ServerReflexive && c.tcp_type == t =>
                {
                    Some(c.clone())
                }
                _ => None,
            })
            .collect()
    }

    /// The last thing written on connection `id`.
    fn written_on(&self, id: ConnectionId) -> Vec<u8> {
        self.writes
            .iter()
            .rev()
            .find(|w| w.0 == Some(id))
            .map(|w| w.4.clone())
            .unwrap_or_else(|| panic!("nothing written on {id:?}"))
    }

    /// The connection opens at its exact `from`.
    fn open(&mut self, id: ConnectionId, from: &str) {
        let now = self.now;
        self.agent.handle_connected(now, id, addr(from));
        self.drain();
    }

    /// Bytes from the server on `id`, all of them; what became of each message.
    fn feed(&mut self, id: ConnectionId, data: &[u8]) -> Vec<String> {
        let now = self.now;
        let mut rest = data;
        let mut out = Vec::new();
        while let Some(r) = self.agent.handle_stream(now, id, &mut rest) {
            out.push(format!("{r:?}"));
        }
        self.drain();
        out
    }

    /// The STUN server answers the UDP Binding request.
    fn answer_udp(&mut self) {
        let w = self
            .writes
            .iter()
            .find(|w| w.0.is_none() && w.3 == addr(SERVER))
            .unwrap()
            .clone();
        let resp = binding_response(&w.4, nat(w.2), Class::Success);
        let now = self.now;
        let d = Datagram {
            local: w.2,
            remote: w.3,
            protocol: Protocol::Udp,
            data: &resp,
        };
        assert_eq!(self.agent.handle_receive(now, d), Received::Stun);
        self.drain();
    }

    /// The connection from `from` opens and the server answers its Binding request with the
    /// NAT's mapping of `from`.
    fn serve(&mut self, from: &str) -> ConnectionId {
        let id = self.connect_from(from);
        self.open(id, from);
        let req = self.written_on(id);
        let resp = binding_response(&req, nat(addr(from)), Class::Success);
        assert_eq!(self.feed(id, &resp), vec!["Stun".to_owned()]);
        id
    }
}

/// RFC 6544 §5.2, RFC 8489 §6.2.2: each passive and so host candidate asks the STUN server on
/// a connection from its own address (the listener's port), the active one asks nothing;
/// the Binding request is written as it is (no RFC 4571 header), once.
#[test]
fn rfc6544_5_2_connects_from_the_candidate_address_and_writes_stun_unframed() {
    let mut r = Rig::standard(Config::new(Role::Controlling));
    r.run_to(Duration::from_millis(500));
    let mut connects: Vec<_> = r
        .connects()
        .iter()
        .map(|c| (c.1, c.2, c.3.clone()))
        .collect();
    connects.sort();
    assert_eq!(
        connects,
        vec![
            (addr(SO), addr(SERVER), None),
            (addr(PASSIVE), addr(SERVER), None),
        ],
        "one connection per passive and so candidate, from its exact address"
    );
    let id = r.connect_from(SO);
    r.open(id, SO);
    let req = r.written_on(id);
    let w = r.writes.iter().find(|w| w.0 == Some(id)).unwrap();
    assert_eq!((w.1, w.2, w.3), (Protocol::Tcp, addr(SO), addr(SERVER)));
    assert_eq!(
        &req[..2],
        &[0x00, 0x01],
        "a Binding request, no RFC 4571 length"
    );
    let len = usize::from(u16::from_be_bytes([req[2], req[3]]));
    assert_eq!(req.len(), 20 + len);
    assert!(Message::decode(&req).unwrap().fingerprint().is_ok());
    // Not sent again while it waits (RFC 8489 §6.2.2).
    r.run_to(Duration::from_secs(30));
    assert_eq!(r.writes.iter().filter(|w| w.0 == Some(id)).count(), 1);
}

/// RFC 6544 §4.2, §5.2: the answer gives a server-reflexive candidate of the same tcptype,
/// whose related address is the host candidate, with the server-reflexive direction
/// preferences (so 6, passive 2) and the host's `other-pref`, the TCP server-reflexive type
/// preference, a foundation of its own; then the gathering connection is closed.
#[test]
fn rfc6544_4_2_srflx_candidates_type_base_priority_and_close() {
    let mut r = Rig::standard(Config::new(Role::Controlling));
    r.run_to(Duration::from_millis(500));
    let so_id = r.serve(SO);
    let passive_id = r.serve(PASSIVE);
    let hosts: Vec<Candidate> = r.agent.local_candidates().cloned().collect();
    let host_of = |t| {
        hosts
            .iter()
            .find(|c| c.kind == CandidateKind::Host && c.tcp_type == Some(t))
            .unwrap()
            .clone()
    };
    for (t, dir, from) in [
        (TcpType::SimultaneousOpen, 6, SO),
        (TcpType::Passive, 2, PASSIVE),
    ] {
        let c = r.srflx(Some(t));
        let [c] = &c[..] else {
            panic!("one srflx {t:?}: {c:?}")
        };
        let host = host_of(t);
        assert_eq!(c.addr, nat(addr(from)));
        assert_eq!(c.protocol, Protocol::Tcp);
        assert_eq!(c.related, Some(addr(from)), "related: the host candidate");
        assert_eq!(c.local_preference() >> 13, dir, "RFC 6544 §4.2 direction");
        let other = host.local_preference() & 8191;
        assert_eq!(c.local_preference() & 8191, other);
        let pref = tcp_local_preference(CandidateKind::ServerReflexive, t, other);
        assert_eq!(
            c.priority,
            priority(
                CandidateKind::ServerReflexive.tcp_type_preference(),
                pref,
                1
            )
        );
        assert_ne!(c.foundation, host.foundation);
    }
    // Different servers or transports give different foundations (RFC 8445 §5.1.1.3); both
    // TCP ones share theirs (same type, base IP, server, protocol).
    let so = &r.srflx(Some(TcpType::SimultaneousOpen))[0];
    let passive = &r.srflx(Some(TcpType::Passive))[0];
    assert_eq!(so.foundation, passive.foundation);
    // No server-reflexive active candidate (see the README).
    assert!(r.srflx(Some(TcpType::Active)).is_empty());
    let mut closes = r.closes();
    closes.sort();
    let mut want = vec![so_id, passive_id];
    want.sort();
    assert_eq!(
        closes, want,
        "each gathering connection closed once answered"
    );
    assert_eq!(r.agent.stats().gathering_requests_sent, 3);
}

/// `GatheringComplete` waits for the TCP gatherings as for the UDP one, and comes once they
/// are all answered.
#[test]
fn gathering_complete_waits_for_tcp() {
    let mut r = Rig::standard(Config::new(Role::Controlling));
    r.run_to(Duration::from_millis(500));
    r.answer_udp();
    assert_eq!(r.srflx(None).len(), 1, "the UDP srflx candidate");
    assert!(!r.complete());
    r.serve(SO);
    assert!(!r.complete());
    r.serve(PASSIVE);
    assert!(r.complete());
}

/// A gathering connection that fails does not hold gathering up: refused, closed by the
/// server, garbage on it (closed by the agent), an error answer, a connect never answered
/// (`tcp_connect_timeout`), a server that never answers (Ti, 39.5 s). No candidate comes of
/// any, and each connection the agent still held is closed.
#[test]
fn failed_gathering_connections_do_not_block_gathering() {
    type Case = (&'static str, fn(&mut Rig, ConnectionId), Duration, bool);
    let cases: [Case; 6] = [
        (
            "refused",
            |r, id| {
                let now = r.now;
                r.agent.handle_connect_failed(now, id);
                r.drain();
            },
            Duration::ZERO,
            false,
        ),
        (
            "closed by the server",
            |r, id| {
                r.open(id, SO);
                let now = r.now;
                r.agent.handle_closed(now, id);
                r.drain();
            },
            Duration::ZERO,
            false,
        ),
        (
            "garbage",
            |r, id| {
                r.open(id, SO);
                let out = r.feed(id, b"\xffgarbage, no STUN");
                assert_eq!(out, vec!["Dropped(BadStream)".to_owned()]);
            },
            Duration::ZERO,
            true,
        ),
        (
            "error answer",
            |r, id| {
                r.open(id, SO);
                let req = r.written_on(id);
                let resp = binding_response(&req, nat(addr(SO)), Class::Error);
                assert_eq!(r.feed(id, &resp), vec!["Stun".to_owned()]);
            },
            Duration::ZERO,
            true,
        ),
        (
            "connect unanswered",
            |_, _| {},
            Duration::from_secs(11),
            true,
        ),
        (
            "server silent",
            |r, id| r.open(id, SO),
            Duration::from_millis(40_100),
            true,
        ),
    ];
    for (name, act, wait, closed) in cases {
        let mut r = Rig::new(Config::new(Role::Controlling));
        r.agent
            .add_local_tcp_host(1, addr(SO), TcpType::SimultaneousOpen)
            .unwrap();
        r.agent.add_stun_server(addr(SERVER));
        let now = r.now;
        r.agent.gather(now);
        r.drain();
        r.run_to(Duration::from_millis(100));
        let id = r.connect_from(SO);
        act(&mut r, id);
        if !wait.is_zero() {
            assert!(!r.complete(), "{name}: complete too early");
            let at = r.now - r.t0 + wait;
            r.run_to(at);
        }
        assert!(r.complete(), "{name}: gathering never completed");
        assert!(
            r.srflx(Some(TcpType::SimultaneousOpen)).is_empty(),
            "{name}"
        );
        assert_eq!(r.closes() == vec![id], closed, "{name}: {:?}", r.closes());
    }
}

/// A silent server is given up after Ti (RFC 8489 §6.2.2, 39.5 s), not UDP's schedule.
#[test]
fn rfc8489_6_2_2_ti_for_a_request_over_tcp() {
    let mut r = Rig::new(Config::new(Role::Controlling));
    r.agent
        .add_local_tcp_host(1, addr(SO), TcpType::SimultaneousOpen)
        .unwrap();
    r.agent.add_stun_server(addr(SERVER));
    let now = r.now;
    r.agent.gather(now);
    r.drain();
    r.run_to(Duration::from_millis(100));
    let id = r.connect_from(SO);
    r.open(id, SO);
    let opened = r.now - r.t0;
    r.run_to(opened + Duration::from_millis(39_400));
    assert!(!r.complete());
    r.run_to(opened + Duration::from_millis(39_600));
    assert!(r.complete());
}

/// Hostile answers on the connection: a response to another transaction, a request, a
/// message of another method: dropped and counted, the connection waits on for the real
/// answer; an answer longer than `max_tcp_frame` is skipped.
#[test]
fn hostile_messages_on_the_gathering_connection() {
    let mut cfg = Config::new(Role::Controlling);
    cfg.max_tcp_frame = 100;
    let mut r = Rig::new(cfg);
    r.agent
        .add_local_tcp_host(1, addr(SO), TcpType::SimultaneousOpen)
        .unwrap();
    r.agent.add_stun_server(addr(SERVER));
    let now = r.now;
    r.agent.gather(now);
    r.drain();
    r.run_to(Duration::from_millis(100));
    let id = r.connect_from(SO);
    r.open(id, SO);
    let req = r.written_on(id);
    let mut other = req.clone();
    other[19] ^= 0xff; // another transaction id
    let stray = binding_response(&other, nat(addr(SO)), Class::Success);
    assert_eq!(
        r.feed(id, &stray),
        vec!["Dropped(UnknownTransaction)".to_owned()]
    );
    assert_eq!(r.feed(id, &req), vec!["Dropped(Unhandled)".to_owned()]);
    // A Binding response padded with a 200-byte unknown attribute: longer than 100 + 20.
    let mut big = binding_response(&req, nat(addr(SO)), Class::Success);
    let extra = 200u16;
    let len = u16::from_be_bytes([big[2], big[3]]) + 4 + extra;
    big[2..4].copy_from_slice(&len.to_be_bytes());
    big.extend_from_slice(&[0x80, 0x99]);
    big.extend_from_slice(&extra.to_be_bytes());
    big.extend(std::iter::repeat_n(0u8, usize::from(extra)));
    let _ = r.feed(id, &big);
    assert_eq!(r.agent.stats().tcp_frames_dropped, 1);
    assert!(r.srflx(Some(TcpType::SimultaneousOpen)).is_empty());
    assert!(!r.complete());
    let resp = binding_response(&req, nat(addr(SO)), Class::Success);
    assert_eq!(r.feed(id, &resp), vec!["Stun".to_owned()]);
    assert_eq!(r.srflx(Some(TcpType::SimultaneousOpen)).len(), 1);
    assert!(r.complete());
    // Bytes after the close: the id is forgotten.
    let out = r.feed(id, &resp);
    assert_eq!(out, vec!["Dropped(UnknownConnection)".to_owned()]);
}

/// Limits: at `max_tcp_connections` no gathering connection is asked for, and gathering
/// completes without it (counted).
#[test]
fn limit_connections() {
    let mut cfg = Config::new(Role::Controlling);
    cfg.max_tcp_connections = 0;
    let mut r = Rig::standard(cfg);
    r.run_to(Duration::from_millis(500));
    assert!(r.connects().is_empty());
    assert_eq!(r.agent.stats().tcp_refused, 2);
    r.answer_udp();
    assert!(r.complete());
}

/// RFC 8445 §5.1.3: a mapped address equal to the host's (no NAT) is redundant: no
/// candidate.
#[test]
fn rfc8445_5_1_3_no_nat_no_candidate() {
    let mut r = Rig::new(Config::new(Role::Controlling));
    r.agent
        .add_local_tcp_host(1, addr(SO), TcpType::SimultaneousOpen)
        .unwrap();
    r.agent.add_stun_server(addr(SERVER));
    let now = r.now;
    r.agent.gather(now);
    r.drain();
    r.run_to(Duration::from_millis(100));
    let id = r.connect_from(SO);
    r.open(id, SO);
    let req = r.written_on(id);
    let resp = binding_response(&req, addr(SO), Class::Success);
    let _ = r.feed(id, &resp);
    assert!(r.srflx(Some(TcpType::SimultaneousOpen)).is_empty());
    assert!(r.complete());
}

/// Pairing (RFC 8445 §6.1.2.4, RFC 6544 §6.2): our srflx so candidate is not paired (its base
/// is); the peer's srflx so candidate is a target: the so pair connects from our so host's
/// address to the peer's server-reflexive address (the simultaneous open through two
/// endpoint-independent mapping NATs).
#[test]
fn rfc6544_6_2_srflx_so_pairs_from_the_so_base() {
    let mut r = Rig::new(Config::new(Role::Controlling));
    r.agent
        .add_local_tcp_host(1, addr(SO), TcpType::SimultaneousOpen)
        .unwrap();
    r.agent.add_stun_server(addr(SERVER));
    let now = r.now;
    r.agent.gather(now);
    r.drain();
    r.run_to(Duration::from_millis(100));
    r.serve(SO);
    assert_eq!(r.srflx(Some(TcpType::SimultaneousOpen)).len(), 1);
    let now = r.now;
    r.agent
        .set_remote_credentials(now, "peer", "peerpasswordpeerpassword")
        .unwrap();
    let mut peer = Candidate::host(1, addr("198.51.100.9:62000"), "7");
    peer.kind = CandidateKind::ServerReflexive;
    peer.related = Some(addr("10.9.0.1:7000"));
    peer.protocol = Protocol::Tcp;
    peer.tcp_type = Some(TcpType::SimultaneousOpen);
    peer.priority = 1000;
    r.agent.add_remote_candidate(now, peer).unwrap();
    assert_eq!(
        r.agent.pair_count(),
        1,
        "one pair: our so host with the peer's srflx"
    );
    r.drain();
    let before = r.connects().len();
    let at = r.now - r.t0 + Duration::from_millis(200);
    r.run_to(at);
    let connects = r.connects();
    let (_, from, to, tls) = connects[before..]
        .first()
        .expect("the pair's connect")
        .clone();
    assert_eq!(
        (from, to, tls),
        (addr(SO), addr("198.51.100.9:62000"), None)
    );
}
