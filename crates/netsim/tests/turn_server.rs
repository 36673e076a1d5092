//! The simulator's TURN server (`turn_server.rs`) driven by a TURN client nobody here wrote
//! (turn-client-proto 0.7.3) across a simulated NAT, with its answers decoded where needed by
//! another independent codec (ice-sans-io's).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ice_netsim::turn_server::{
    REST_EPOCH, TurnAuth, TurnServerConfig, TurnTransport, rest_password,
};
use ice_netsim::{HostId, Node, Sim, TcpConnId, TcpEvent, TcpFailure, Transmit, TurnServer};
use turn_client_proto::api::{TurnClientApi, TurnEvent, TurnRecvRet};
use turn_client_proto::types::TurnCredentials;
use turn_client_proto::types::stun::TransportType;
use turn_client_proto::udp::TurnClientUdp;
use turn_support::{CLIENT, PEER, SERVER, STRANGER, addr, long_term, script};

mod turn_support;

const UDP: TransportType = TransportType::Udp;

/// The start of virtual time: any instant will do; the tests read no clock after this.
#[allow(clippy::disallowed_methods)]
fn t0() -> Instant {
    Instant::now()
}

fn sans_io(base: Instant, now: Instant) -> turn_client_proto::types::Instant {
    let nanos = i64::try_from(now.saturating_duration_since(base).as_nanos()).expect("fits");
    turn_client_proto::types::Instant::from_nanos(nanos)
}

/// turn-client-proto's UDP client as a simulator node.
struct Client {
    turn: TurnClientUdp,
    base: Instant,
    now: Instant,
    wake: Option<Instant>,
    out: VecDeque<Transmit>,
    events: Vec<TurnEvent>,
    received: Vec<(SocketAddr, Vec<u8>)>,
    /// Every datagram that reached the client, as it arrived.
    raw: Vec<Vec<u8>>,
}

impl Client {
    fn new(base: Instant, username: &str, password: &str) -> Client {
        let config =
            turn_client_proto::api::TurnConfig::new(TurnCredentials::new(username, password));
        let mut c = Client {
            turn: TurnClientUdp::allocate(addr(CLIENT), addr(SERVER), config),
            base,
            now: base,
            wake: None,
            out: VecDeque::new(),
            events: Vec::new(),
            received: Vec::new(),
            raw: Vec::new(),
        };
        c.pump(base);
        c
    }

    fn pump(&mut self, now: Instant) {
        self.now = now;
        let t = sans_io(self.base, now);
        self.wake = match self.turn.poll(t) {
            turn_client_proto::api::TurnPollRet::WaitUntil(w) => {
                let nanos = u64::try_from(w.as_nanos()).unwrap_or(0);
                Some(self.base + Duration::from_nanos(nanos))
            }
            _ => None,
        };
        while let Some(tx) = self.turn.poll_transmit(t) {
            self.out.push_back(Transmit {
                from: tx.from,
                to: tx.to,
                data: tx.data.to_vec(),
            });
        }
        while let Some(e) = self.turn.poll_event() {
            self.events.push(e);
        }
    }

    /// A verb at `now`: what it transmits goes out at the next step.
    fn act(
        &mut self,
        now: Instant,
        f: impl FnOnce(&mut TurnClientUdp, turn_client_proto::types::Instant),
    ) {
        f(&mut self.turn, sans_io(self.base, now));
        self.pump(now);
    }

    fn send_to(&mut self, now: Instant, peer: SocketAddr, data: &[u8]) {
        let t = sans_io(self.base, now);
        let built = self
            .turn
            .send_to(UDP, peer, data.to_vec(), t)
            .expect("sendable")
            .expect("something to send");
        let tx = built.build();
        self.out.push_back(Transmit {
            from: tx.from,
            to: tx.to,
            data: tx.data,
        });
        self.now = now;
    }

    fn relayed(&self) -> Option<SocketAddr> {
        self.events.iter().find_map(|e| match e {
            TurnEvent::AllocationCreated(_, a) => Some(*a),
            _ => None,
        })
    }
}

impl Node for Client {
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, data: &[u8]) {
        self.raw.push(data.to_vec());
        let t = sans_io(self.base, now);
        let tx = turn_client_proto::api::Transmit::new(data, UDP, from, to);
        if let TurnRecvRet::PeerData(d) = self.turn.recv(tx, t) {
            self.received.push((d.peer, d.data().to_vec()));
        }
        self.pump(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.pump(now);
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if self.out.is_empty() {
            self.wake
        } else {
            Some(self.now)
        }
    }
}

/// A host's hand: sends what it is given, keeps what arrives.
#[derive(Default)]
struct Hand {
    now: Option<Instant>,
    out: VecDeque<Transmit>,
    received: Vec<(SocketAddr, Vec<u8>)>,
}

impl Hand {
    fn send(&mut self, now: Instant, from: &str, to: SocketAddr, data: &[u8]) {
        self.now = Some(now);
        self.out.push_back(Transmit {
            from: addr(from),
            to,
            data: data.to_vec(),
        });
    }
}

impl Node for Hand {
    fn handle_datagram(&mut self, _: Instant, from: SocketAddr, _: SocketAddr, data: &[u8]) {
        self.received.push((from, data.to_vec()));
    }
    fn handle_timeout(&mut self, _: Instant) {}
    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        if self.out.is_empty() { None } else { self.now }
    }
}

struct World {
    sim: Sim,
    base: Instant,
    client: Client,
    peer: Hand,
    stranger: Hand,
    ids: [HostId; 3],
}

impl World {
    fn new(service: &str, username: &str, password: &str) -> World {
        let topology = script(service);
        let base = t0();
        let sim = Sim::new(&topology, base);
        let ids = ["client", "peer", "stranger"].map(|h| sim.host(h).expect("declared"));
        World {
            sim,
            base,
            client: Client::new(base, username, password),
            peer: Hand::default(),
            stranger: Hand::default(),
            ids,
        }
    }

    fn at(&self, secs: f64) -> Instant {
        self.base + Duration::from_secs_f64(secs)
    }

    /// Runs until `secs` of virtual time (the client included unless `without_client`).
    fn run(&mut self, secs: f64, without_client: bool) {
        let deadline = self.at(secs);
        let [c, p, s] = self.ids;
        let mut nodes: Vec<(HostId, &mut dyn Node)> =
            vec![(p, &mut self.peer), (s, &mut self.stranger)];
        if !without_client {
            nodes.push((c, &mut self.client));
        }
        self.sim
            .run_until(deadline, &mut nodes, |_| false)
            .expect("no stall");
    }

    fn server(&self) -> &TurnServer {
        self.sim.turn_server("turn1").expect("a turn host")
    }
}

#[test]
fn allocate_after_401_then_permission_send_data_and_channels_both_ways() {
    let mut w = World::new(&long_term(""), "user", "pass");
    w.run(1.0, false);
    let relayed = w.client.relayed().expect("allocated");
    assert_eq!(
        relayed.ip().to_string(),
        "198.51.100.200",
        "on the TURN host"
    );
    let stats = w.server().stats();
    assert_eq!(
        (stats.unauthenticated, stats.allocations),
        (1, 1),
        "{stats:?}"
    );

    // CreatePermission, then a Send indication reaches the peer as plain UDP from the relay.
    let peer = addr(PEER);
    let now = w.at(1.0);
    w.client.act(now, |t, n| {
        t.create_permission(UDP, peer.ip(), n).expect("permission")
    });
    w.run(2.0, false);
    assert!(
        w.client
            .events
            .iter()
            .any(|e| matches!(e, TurnEvent::PermissionCreated(_, ip) if *ip == peer.ip())),
        "{:?}",
        w.client.events
    );
    w.client.send_to(w.at(2.0), peer, b"hello");
    w.run(3.0, false);
    assert_eq!(w.peer.received, vec![(relayed, b"hello".to_vec())]);

    // The peer's answer comes back as a Data indication.
    w.peer.send(w.at(3.0), PEER, relayed, b"world");
    w.run(4.0, false);
    assert_eq!(w.client.received, vec![(peer, b"world".to_vec())]);
    assert_eq!(
        w.client.raw.last().map(|d| d[0..2].to_vec()),
        Some(vec![0x00, 0x17])
    );

    // A stranger without a permission is not relayed; it is counted.
    w.stranger.send(w.at(4.0), STRANGER, relayed, b"let me in");
    w.run(5.0, false);
    assert_eq!(w.client.received.len(), 1, "nothing from the stranger");
    assert_eq!(w.server().stats().no_permission, 1);

    // ChannelBind, then ChannelData both ways.
    let now = w.at(5.0);
    w.client
        .act(now, |t, n| t.bind_channel(UDP, peer, n).expect("bind"));
    w.run(6.0, false);
    assert!(
        w.client
            .events
            .iter()
            .any(|e| matches!(e, TurnEvent::ChannelCreated(_, a) if *a == peer)),
        "{:?}",
        w.client.events
    );
    w.client.send_to(w.at(6.0), peer, b"over the channel");
    w.run(7.0, false);
    assert_eq!(
        w.peer.received.last(),
        Some(&(relayed, b"over the channel".to_vec()))
    );
    w.peer.send(w.at(7.0), PEER, relayed, b"and back");
    w.run(8.0, false);
    assert_eq!(
        w.client.received.last(),
        Some(&(peer, b"and back".to_vec()))
    );
    let last = w.client.raw.last().expect("received");
    assert_eq!(last[0] & 0xC0, 0x40, "ChannelData, not a Data indication");
    let stats = w.server().stats();
    assert_eq!(
        (stats.relayed_to_peer, stats.relayed_to_client),
        (2, 2),
        "{stats:?}"
    );
    assert_eq!(stats.channel_binds, 1);

    // The client keeps its allocation, permission and channel alive over a long run (its own
    // refreshes), and the channel still carries data after 20 virtual minutes.
    w.run(1200.0, false);
    w.peer.send(w.at(1200.0), PEER, relayed, b"still here");
    w.run(1201.0, false);
    assert_eq!(
        w.client.received.last(),
        Some(&(peer, b"still here".to_vec()))
    );
    assert!(w.server().stats().refreshes >= 1);
}

#[test]
fn allocations_and_permissions_expire_in_virtual_time() {
    let service =
        r#"{ kind = "turn", port = 3478, username = "user", password = "pass", lifetime_s = 400 }"#;
    let mut w = World::new(service, "user", "pass");
    w.run(1.0, false);
    let relayed = w.client.relayed().expect("allocated");
    let peer = addr(PEER);
    let now = w.at(1.0);
    w.client.act(now, |t, n| {
        t.create_permission(UDP, peer.ip(), n).expect("permission")
    });
    w.run(2.0, false);
    // The client goes silent: no refreshes from here on.
    w.peer.send(w.at(290.0), PEER, relayed, b"within 300 s");
    w.run(291.0, true);
    assert_eq!(w.server().stats().relayed_to_client, 1);
    // The permission (300 s from about 1 s) is gone, the allocation (400 s) not yet.
    w.peer.send(w.at(310.0), PEER, relayed, b"after 300 s");
    w.run(311.0, true);
    assert_eq!(w.server().stats().no_permission, 1);
    assert_eq!(w.server().allocation_count(), 1);
    // The allocation is gone after its 400 s; datagrams to its address are dropped.
    w.peer.send(w.at(402.0), PEER, relayed, b"after 400 s");
    w.run(403.0, true);
    let stats = w.server().stats();
    assert_eq!(w.server().allocation_count(), 0);
    assert_eq!(stats.allocations_ended, 1, "{stats:?}");
    assert_eq!(stats.relayed_to_client, 1);
}

#[test]
fn alternate_answers_every_allocate_with_300() {
    let mut w = World::new(&long_term(r#", alternate = "turn2:3478""#), "user", "pass");
    w.run(5.0, false);
    assert_eq!(w.client.relayed(), None);
    // The first, unsigned Allocate gets 300 at once (no 401 first), as coturn answers it.
    let stats = w.server().stats();
    assert_eq!(
        (stats.redirected, stats.unauthenticated),
        (1, 0),
        "{stats:?}"
    );
    // The 300 carries ALTERNATE-SERVER (a plain address) naming turn2.
    let answer = w
        .client
        .raw
        .iter()
        .find_map(|d| {
            let m = ice_sans_io::stun::Message::decode(d).ok()?;
            (m.error_code()?.code == 300).then(|| d.clone())
        })
        .expect("a 300 answer");
    let m = ice_sans_io::stun::Message::decode(&answer).expect("decodes");
    assert!(!m.has_integrity(), "the request was not signed");
    let alt = m
        .raw_attributes()
        .find(|a| a.attr_type.0 == 0x8023)
        .expect("ALTERNATE-SERVER");
    assert_eq!(alt.value, &[0, 1, 0x0d, 0x96, 198, 51, 100, 201]);
}

#[test]
fn rest_credentials_are_checked_against_the_virtual_clock() {
    let service = r#"{ kind = "turn", port = 3478, secret = "s3cret" }"#;
    // Valid for an hour from the start of virtual time.
    let user = format!("{}:romeo", REST_EPOCH + 3600);
    let mut w = World::new(service, &user, &rest_password("s3cret", &user));
    w.run(2.0, false);
    assert!(w.client.relayed().is_some(), "{:?}", w.client.events);

    // The same scheme with a wrong password is refused.
    let mut w = World::new(service, &user, "not the password");
    w.run(10.0, false);
    assert_eq!(w.client.relayed(), None);
    assert_eq!(w.server().stats().allocations, 0);

    // Expired 1 s after the start: refused 5 s in.
    let user = format!("{}:romeo", REST_EPOCH + 1);
    let topology = script(service);
    let base = t0();
    let mut sim = Sim::new(&topology, base);
    let id = sim.host("client").expect("declared");
    let mut client = Client::new(
        base + Duration::from_secs(5),
        &user,
        &rest_password("s3cret", &user),
    );
    client.base = base;
    client.pump(base + Duration::from_secs(5));
    sim.run_until(
        base + Duration::from_secs(20),
        &mut [(id, &mut client as &mut dyn Node)],
        |_| false,
    )
    .expect("no stall");
    assert_eq!(client.relayed(), None, "{:?}", client.events);
    let stats = sim.turn_server("turn1").expect("turn").stats();
    assert_eq!(stats.allocations, 0);
    assert!(stats.unauthenticated >= 2, "{stats:?}");
}

/// The server's answers depend only on its seed and its input: fed the same datagrams, two
/// servers with one seed answer byte for byte alike (nonces included).
#[test]
fn the_server_is_deterministic_given_its_seed() {
    let base = t0();
    let config = TurnServerConfig::new(
        3478,
        TurnAuth::LongTerm {
            username: "user".into(),
            password: "pass".into(),
        },
        vec![addr(SERVER).ip()],
    );
    // Record a whole exchange with turn-client-proto against one server.
    let mut first = TurnServer::new(config.clone(), base, [7; 32]);
    let mut client = Client::new(base, "user", "pass");
    let mut inputs = Vec::new();
    let mut outputs = Vec::new();
    let mut pending: Vec<Transmit> = Vec::new();
    for step in 0..40u64 {
        // 10 ms between steps: the server's answers arrive at the next one.
        let now = base + Duration::from_millis(step * 10);
        for r in pending.drain(..) {
            client.handle_datagram(now, r.from, r.to, &r.data);
        }
        client.handle_timeout(now);
        if step == 10 {
            client.act(now, |t, n| {
                t.create_permission(UDP, addr(PEER).ip(), n).expect("ok")
            });
        }
        if step == 20 {
            client.act(now, |t, n| t.bind_channel(UDP, addr(PEER), n).expect("ok"));
        }
        while let Some(t) = client.poll_transmit() {
            first.handle_datagram(now, t.from, t.to, &t.data);
            inputs.push((now, t));
            while let Some(r) = first.poll_transmit() {
                outputs.push(r.clone());
                pending.push(r);
            }
        }
    }
    assert!(client.relayed().is_some());
    assert!(
        outputs.len() >= 4,
        "401, Allocate, CreatePermission, ChannelBind answers"
    );
    let replay = |seed: [u8; 32]| {
        let mut s = TurnServer::new(config.clone(), base, seed);
        let mut out = Vec::new();
        for (now, t) in &inputs {
            s.handle_datagram(*now, t.from, t.to, &t.data);
            while let Some(r) = s.poll_transmit() {
                out.push(r);
            }
        }
        out
    };
    assert_eq!(replay([7; 32]), outputs);
    assert_ne!(
        replay([8; 32])[0],
        outputs[0],
        "another seed, another nonce"
    );
}

/// Hostile datagrams: garbage, truncations and bit flips of real requests never panic.
#[test]
fn hostile_datagrams_are_dropped_and_counted() {
    let base = t0();
    let mut config =
        TurnServerConfig::new(3478, TurnAuth::Secret("s".into()), vec![addr(SERVER).ip()]);
    config.relay_ports = 50000..=50001;
    let mut server = TurnServer::new(config, base, [1; 32]);
    let mut client = Client::new(base, "1:x", "y");
    let request = client.poll_transmit().expect("an Allocate").data;
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..20_000usize {
        let mut d = request.clone();
        match i % 4 {
            0 => d.truncate(next() as usize % (d.len() + 1)),
            1 => {
                let at = next() as usize % d.len();
                d[at] ^= 1 << (next() % 8);
            }
            2 => d = (0..next() % 200).map(|_| next() as u8).collect(),
            _ => {
                d = vec![0x40, next() as u8, 0, (next() % 8) as u8];
                d.extend((0..next() % 8).map(|_| next() as u8));
            }
        }
        let to = if i % 7 == 0 {
            "198.51.100.200:50000"
        } else {
            SERVER
        };
        server.handle_datagram(base, addr(CLIENT), addr(to), &d);
        while server.poll_transmit().is_some() {}
    }
    assert!(server.stats().dropped > 0);
    assert_eq!(server.allocation_count(), 0);
}

/// Hostile streams: random bytes, truncated and flipped frames, on many connections at once,
/// never panic, and what the server holds stays under a frame per connection.
#[test]
fn hostile_streams_never_panic_and_hold_little() {
    let base = t0();
    let mut config =
        TurnServerConfig::new(3478, TurnAuth::Secret("s".into()), vec![addr(SERVER).ip()]);
    config.transports = vec![TurnTransport::Tcp];
    let mut s = TurnServer::new(config, base, [5; 32]);
    while s.poll_tcp().is_some() {}
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let conns = 300u64;
    for c in 0..conns {
        s.handle_tcp(
            base,
            TcpEvent::Accepted {
                listener: addr(SERVER),
                conn: TcpConnId(c),
                local: addr(SERVER),
                remote: SocketAddr::new(addr(PEER).ip(), 1000 + c as u16),
            },
        );
    }
    let s_stats = s.stats();
    assert_eq!(
        (s_stats.tcp.accepted, s_stats.tcp.refused),
        (256, 44),
        "MAX_STREAMS"
    );
    for i in 0..20_000u64 {
        let conn = TcpConnId(next() % conns);
        let data: Vec<u8> = match i % 4 {
            // A plausible header: STUN or ChannelData with a big length, then not enough bytes.
            0 => {
                let mut d = vec![(next() % 0x80) as u8 & 0x4F, next() as u8, 0xFF, 0xFC];
                d.extend((0..next() % 64).map(|_| next() as u8));
                d
            }
            1 => (0..next() % 3000).map(|_| next() as u8).collect(),
            2 => vec![0x40, 0x00, 0x00, 0x03, 1, 2, 3, 0],
            _ => (0..next() % 7).map(|_| 0).collect(),
        };
        s.handle_tcp(base, TcpEvent::Data { conn, data });
        while s.poll_tcp().is_some() {}
        while s.poll_transmit().is_some() {}
        assert!(s.stream_bytes_held() <= s.connection_count() * 65_540);
    }
    let stats = s.stats();
    assert!(stats.tcp.broken > 0, "{stats:?}");
    assert_eq!(s.allocation_count(), 0);
    for c in 0..conns {
        s.handle_tcp(
            base,
            TcpEvent::Reset {
                conn: TcpConnId(c),
                reason: TcpFailure::Reset,
            },
        );
    }
    assert_eq!((s.connection_count(), s.stream_bytes_held()), (0, 0));
}

/// Requests written by hand with ice-sans-io's codec (another codec nobody on the server side
/// wrote), for the answers turn-client-proto never provokes.
mod crafted {
    use super::*;
    use ice_sans_io::stun::{
        Attribute, AttributeType, Class, IntegrityKey, Message, MessageBuilder, Method,
        TransactionId,
    };

    struct Request<'a> {
        method: Method,
        tid: u8,
        attrs: Vec<Attribute<'a>>,
        signed: Option<(&'a str, &'a str)>,
    }

    fn bytes(r: &Request<'_>) -> Vec<u8> {
        let mut buf = vec![0u8; 512];
        let mut b = MessageBuilder::new(
            &mut buf,
            Class::Request,
            r.method,
            TransactionId::new([r.tid; 12]),
        )
        .expect("a buffer");
        for a in &r.attrs {
            b.add(a).expect("fits");
        }
        if let Some((realm, password)) = r.signed {
            b.add_integrity(&IntegrityKey::long_term("user", realm, password))
                .expect("fits");
        }
        let n = b.finish();
        buf.truncate(n);
        buf
    }

    fn server() -> TurnServer {
        let config = TurnServerConfig::new(
            3478,
            TurnAuth::LongTerm {
                username: "user".into(),
                password: "pass".into(),
            },
            vec![addr(SERVER).ip()],
        );
        TurnServer::new(config, t0(), [3; 32])
    }

    /// Sends `data` from the client and returns the answer's error code (0 for a success).
    fn ask(s: &mut TurnServer, data: &[u8]) -> (u16, Vec<u8>) {
        s.handle_datagram(t0(), addr(CLIENT), addr(SERVER), data);
        let t = s.poll_transmit().expect("an answer");
        let m = Message::decode(&t.data).expect("decodes");
        (m.error_code().map_or(0, |e| e.code), t.data.clone())
    }

    fn nonce(answer: &[u8]) -> String {
        let m = Message::decode(answer).expect("decodes");
        match m.get(AttributeType(0x0015)) {
            Some(Attribute::Nonce(n)) => n.to_owned(),
            other => panic!("no NONCE: {other:?}"),
        }
    }

    #[test]
    fn nonce_realm_unknown_attributes_mismatch_and_deletion() {
        let mut s = server();
        let allocate = |tid, nonce: &'static str, realm, extra: Option<Attribute<'static>>| {
            let mut attrs = vec![
                Attribute::RequestedTransport(17),
                Attribute::Username("user"),
                Attribute::Realm(realm),
                Attribute::Nonce(nonce),
            ];
            attrs.extend(extra);
            bytes(&Request {
                method: Method::ALLOCATE,
                tid,
                attrs,
                signed: Some((realm, "pass")),
            })
        };
        let (code, answer) = ask(
            &mut s,
            &bytes(&Request {
                method: Method::ALLOCATE,
                tid: 1,
                attrs: vec![Attribute::RequestedTransport(17)],
                signed: None,
            }),
        );
        assert_eq!(code, 401);
        let n: &'static str = Box::leak(nonce(&answer).into_boxed_str());
        assert_eq!(
            ask(&mut s, &allocate(2, "not-the-nonce", "example", None)).0,
            438
        );
        assert_eq!(ask(&mut s, &allocate(3, n, "elsewhere", None)).0, 401);
        // DONT-FRAGMENT (0x001A) is comprehension-required and not served: 420.
        let df = Attribute::Other {
            attr_type: AttributeType(0x001A),
            value: &[],
        };
        assert_eq!(ask(&mut s, &allocate(4, n, "example", Some(df))).0, 420);
        let (code, first) = ask(&mut s, &allocate(5, n, "example", None));
        assert_eq!(code, 0);
        // A retransmission gets the same success; another transaction 437.
        assert_eq!(ask(&mut s, &allocate(5, n, "example", None)).1, first);
        assert_eq!(ask(&mut s, &allocate(6, n, "example", None)).0, 437);
        // Refresh with LIFETIME 0 deletes it.
        let refresh = bytes(&Request {
            method: Method::REFRESH,
            tid: 7,
            attrs: vec![
                Attribute::Lifetime(0),
                Attribute::Username("user"),
                Attribute::Realm("example"),
                Attribute::Nonce(n),
            ],
            signed: Some(("example", "pass")),
        });
        assert_eq!(ask(&mut s, &refresh).0, 0);
        assert_eq!(s.allocation_count(), 0);
        assert_eq!(s.stats().allocations_ended, 1);
        assert_eq!(ask(&mut s, &refresh).0, 437, "nothing left to refresh");
    }
}
