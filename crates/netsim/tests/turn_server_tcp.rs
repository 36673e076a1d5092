//! The simulator's TURN server over TCP (RFC 8656 §3.1), driven across a simulated NAT by a
//! TURN client nobody here wrote (turn-client-proto 0.7.3's `TurnClientTcp`, on a connection of
//! the client host's simulated TCP stack), and by hand where that client does not go:
//! turn-client-proto 0.7.3 neither pads ChannelData on a stream nor skips the padding it reads
//! (RFC 8656 §12.5 asks both), so the padded frames are written and read byte by byte here, and
//! turn-client-proto only sees ChannelData whose length is a multiple of 4 (which needs no
//! padding).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ice_netsim::turn_server::{TurnAuth, TurnServerConfig, TurnTransport};
use ice_netsim::{HostId, Node, Sim, TcpCommand, TcpConnId, TcpEvent, Transmit, TurnServer};
use turn_client_proto::api::{TurnClientApi, TurnConfig, TurnEvent, TurnPollRet, TurnRecvRet};
use turn_client_proto::tcp::TurnClientTcp;
use turn_client_proto::types::TurnCredentials;
use turn_client_proto::types::stun::TransportType;
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

/// turn-client-proto's TCP client on a connection from `CLIENT` to `SERVER`, as a node.
struct Client {
    turn: Option<TurnClientTcp>,
    credentials: (String, String),
    base: Instant,
    now: Instant,
    wake: Option<Instant>,
    /// The connection and its ends, once connected.
    conn: Option<(TcpConnId, SocketAddr, SocketAddr)>,
    /// Each `Send` cut into pieces of this many bytes (each its own segment).
    chunk: usize,
    cmds: VecDeque<TcpCommand>,
    events: Vec<TurnEvent>,
    received: Vec<(SocketAddr, Vec<u8>)>,
    /// Every byte the server sent, in order.
    stream: Vec<u8>,
    /// Every byte sent to the server, in order.
    sent: Vec<u8>,
    /// Every write, when it was made.
    log: Vec<(Instant, Vec<u8>)>,
    /// Stop handing the stream to turn-client-proto (after a frame it cannot read).
    deaf: bool,
    /// The connection's end, as the stack reported it.
    ended: Option<TcpEvent>,
}

impl Client {
    fn new(base: Instant, username: &str, password: &str) -> Client {
        let mut cmds = VecDeque::new();
        cmds.push_back(TcpCommand::Connect {
            token: 1,
            from: addr(CLIENT),
            to: addr(SERVER),
        });
        Client {
            turn: None,
            credentials: (username.to_owned(), password.to_owned()),
            base,
            now: base,
            wake: None,
            conn: None,
            chunk: usize::MAX,
            cmds,
            events: Vec::new(),
            received: Vec::new(),
            stream: Vec::new(),
            sent: Vec::new(),
            log: Vec::new(),
            deaf: false,
            ended: None,
        }
    }

    fn conn(&self) -> TcpConnId {
        self.conn.expect("connected").0
    }

    /// Bytes onto the connection, in pieces of `chunk`.
    fn write(&mut self, data: &[u8]) {
        let conn = self.conn();
        self.sent.extend_from_slice(data);
        self.log.push((self.now, data.to_vec()));
        for piece in data.chunks(self.chunk.max(1)) {
            self.cmds.push_back(TcpCommand::Send {
                conn,
                data: piece.to_vec(),
            });
        }
    }

    fn pump(&mut self, now: Instant) {
        self.now = now;
        let t = sans_io(self.base, now);
        let Some(turn) = self.turn.as_mut() else {
            return;
        };
        self.wake = match turn.poll(t) {
            TurnPollRet::WaitUntil(w) => {
                let nanos = u64::try_from(w.as_nanos()).unwrap_or(0);
                Some(self.base + Duration::from_nanos(nanos))
            }
            _ => None,
        };
        let mut out = Vec::new();
        while let Some(tx) = turn.poll_transmit(t) {
            out.push(tx.data.to_vec());
        }
        while let Some(e) = turn.poll_event() {
            self.events.push(e);
        }
        for data in out {
            self.write(&data);
        }
    }

    /// A verb of turn-client-proto at `now`.
    fn act(
        &mut self,
        now: Instant,
        f: impl FnOnce(&mut TurnClientTcp, turn_client_proto::types::Instant),
    ) {
        f(
            self.turn.as_mut().expect("connected"),
            sans_io(self.base, now),
        );
        self.pump(now);
    }

    /// Data to a peer through turn-client-proto (a Send indication, or ChannelData once bound).
    fn send_to(&mut self, now: Instant, peer: SocketAddr, data: &[u8]) -> Vec<u8> {
        let t = sans_io(self.base, now);
        let built = self
            .turn
            .as_mut()
            .expect("connected")
            .send_to(UDP, peer, data.to_vec(), t)
            .expect("sendable")
            .expect("something to send")
            .build();
        self.now = now;
        self.write(&built.data);
        built.data
    }

    /// Bytes written by hand at `now`.
    fn raw(&mut self, now: Instant, data: &[u8]) {
        self.now = now;
        self.write(data);
    }

    fn relayed(&self) -> Option<SocketAddr> {
        self.events.iter().find_map(|e| match e {
            TurnEvent::AllocationCreated(_, a) => Some(*a),
            _ => None,
        })
    }
}

impl Node for Client {
    fn handle_datagram(&mut self, _: Instant, _: SocketAddr, _: SocketAddr, _: &[u8]) {}

    fn handle_timeout(&mut self, now: Instant) {
        self.pump(now);
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        None
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if self.cmds.is_empty() {
            self.wake
        } else {
            Some(self.now)
        }
    }

    fn poll_tcp(&mut self) -> Option<TcpCommand> {
        self.cmds.pop_front()
    }

    fn handle_tcp(&mut self, now: Instant, event: TcpEvent) {
        match event {
            TcpEvent::Connected {
                conn,
                local,
                remote,
                ..
            } => {
                self.conn = Some((conn, local, remote));
                let (u, p) = &self.credentials;
                let config = TurnConfig::new(TurnCredentials::new(u, p));
                self.turn = Some(TurnClientTcp::allocate(local, remote, config));
                self.pump(now);
            }
            TcpEvent::Data { data, .. } => {
                self.stream.extend_from_slice(&data);
                let (_, local, remote) = self.conn.expect("connected");
                if self.deaf {
                    return;
                }
                let t = sans_io(self.base, now);
                let turn = self.turn.as_mut().expect("connected");
                let tx =
                    turn_client_proto::api::Transmit::new(data, TransportType::Tcp, remote, local);
                if let TurnRecvRet::PeerData(d) = turn.recv(tx, t) {
                    self.received.push((d.peer, d.data().to_vec()));
                }
                while let Some(d) = turn.poll_recv(t) {
                    self.received.push((d.peer, d.data().to_vec()));
                }
                self.pump(now);
            }
            e @ (TcpEvent::Closed { .. }
            | TcpEvent::Reset { .. }
            | TcpEvent::ConnectFailed { .. }) => {
                self.ended = Some(e);
            }
            _ => {}
        }
    }
}

/// A host's hand: sends what it is given when its time comes, keeps what arrives.
#[derive(Default)]
struct Hand {
    clock: Option<Instant>,
    out: VecDeque<(Instant, Transmit)>,
    received: Vec<(SocketAddr, Vec<u8>)>,
}

impl Hand {
    fn send(&mut self, at: Instant, from: &str, to: SocketAddr, data: &[u8]) {
        let t = Transmit {
            from: addr(from),
            to,
            data: data.to_vec(),
        };
        self.out.push_back((at, t));
    }
}

impl Node for Hand {
    fn handle_datagram(&mut self, _: Instant, from: SocketAddr, _: SocketAddr, data: &[u8]) {
        self.received.push((from, data.to_vec()));
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.clock = Some(now);
    }
    fn poll_transmit(&mut self) -> Option<Transmit> {
        let clock = self.clock?;
        if self.out.front().is_some_and(|(at, _)| *at <= clock) {
            self.out.pop_front().map(|(_, t)| t)
        } else {
            None
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.out.front().map(|(at, _)| *at)
    }
}

const TCP_SERVICE: &str = r#", transports = ["udp", "tcp"]"#;

struct World {
    sim: Sim,
    base: Instant,
    client: Client,
    peer: Hand,
    stranger: Hand,
    ids: [HostId; 3],
}

impl World {
    fn new(service: &str) -> World {
        let topology = script(service);
        let base = t0();
        let sim = Sim::new(&topology, base);
        let ids = ["client", "peer", "stranger"].map(|h| sim.host(h).expect("declared"));
        World {
            sim,
            base,
            client: Client::new(base, "user", "pass"),
            peer: Hand::default(),
            stranger: Hand::default(),
            ids,
        }
    }

    fn at(&self, secs: f64) -> Instant {
        self.base + Duration::from_secs_f64(secs)
    }

    fn run(&mut self, secs: f64) {
        let deadline = self.at(secs);
        let [c, p, s] = self.ids;
        let mut nodes: Vec<(HostId, &mut dyn Node)> = vec![
            (p, &mut self.peer),
            (s, &mut self.stranger),
            (c, &mut self.client),
        ];
        self.sim
            .run_until(deadline, &mut nodes, |_| false)
            .expect("no stall");
    }

    fn server(&self) -> &TurnServer {
        self.sim.turn_server("turn1").expect("a turn host")
    }

    /// Allocated (through a 401) and a permission for the peer by 2 s; the relayed address.
    fn allocated_with_permission(&mut self) -> SocketAddr {
        self.run(1.0);
        let relayed = self.client.relayed().expect("allocated over TCP");
        let peer = addr(PEER);
        let now = self.at(1.0);
        self.client.act(now, |t, n| {
            t.create_permission(UDP, peer.ip(), n).expect("permission")
        });
        self.run(2.0);
        assert!(
            self.client
                .events
                .iter()
                .any(|e| matches!(e, TurnEvent::PermissionCreated(_, ip) if *ip == peer.ip())),
            "{:?}",
            self.client.events
        );
        relayed
    }
}

#[test]
fn allocate_through_401_permission_send_indication_and_data_indication_over_tcp() {
    let mut w = World::new(&long_term(TCP_SERVICE));
    let relayed = w.allocated_with_permission();
    assert_eq!(relayed.ip(), addr(SERVER).ip(), "on the TURN host");
    let s = w.server().stats();
    assert_eq!((s.unauthenticated, s.allocations), (1, 1), "{s:?}");
    assert_eq!((s.tcp.accepted, s.tcp.allocations), (1, 1), "{s:?}");
    assert_eq!(w.server().connection_count(), 1);
    assert_eq!(w.sim.stats().sent, 0, "no UDP between client and server");

    // A Send indication on the stream reaches the peer as plain UDP from the relay.
    let peer = addr(PEER);
    w.client.send_to(w.at(2.0), peer, b"hello");
    w.run(3.0);
    assert_eq!(w.peer.received, vec![(relayed, b"hello".to_vec())]);

    // The peer's answer comes back on the stream as a Data indication (0x0017).
    let before = w.client.stream.len();
    w.peer.send(w.at(3.0), PEER, relayed, b"world");
    w.run(4.0);
    assert_eq!(w.client.received, vec![(peer, b"world".to_vec())]);
    assert_eq!(w.client.stream[before..before + 2], [0x00, 0x17]);

    // A stranger without a permission is not relayed.
    w.stranger.send(w.at(4.0), STRANGER, relayed, b"let me in");
    w.run(5.0);
    assert_eq!(w.client.received.len(), 1);
    assert_eq!(w.server().stats().no_permission, 1);

    // The client keeps its allocation alive over a long run with its own refreshes.
    w.run(1200.0);
    w.peer.send(w.at(1200.0), PEER, relayed, b"still here");
    w.run(1201.0);
    assert_eq!(
        w.client.received.last(),
        Some(&(peer, b"still here".to_vec()))
    );
    let s = w.server().stats();
    assert!(s.refreshes >= 1, "{s:?}");
    assert_eq!((s.tcp.closed, s.tcp.broken), (0, 0));
}

#[test]
fn channel_data_both_ways_padded_on_the_stream() {
    let mut w = World::new(&long_term(TCP_SERVICE));
    let relayed = w.allocated_with_permission();
    let peer = addr(PEER);
    let now = w.at(2.0);
    w.client
        .act(now, |t, n| t.bind_channel(UDP, peer, n).expect("bind"));
    w.run(3.0);
    assert!(
        w.client
            .events
            .iter()
            .any(|e| matches!(e, TurnEvent::ChannelCreated(_, a) if *a == peer)),
        "{:?}",
        w.client.events
    );
    // Four bytes need no padding: turn-client-proto's ChannelData as it writes it.
    let sent = w.client.send_to(w.at(3.0), peer, b"four");
    assert_eq!(sent[0] & 0xC0, 0x40, "ChannelData");
    let channel = [sent[0], sent[1]];
    w.run(4.0);
    assert_eq!(w.peer.received, vec![(relayed, b"four".to_vec())]);
    w.peer.send(w.at(4.0), PEER, relayed, b"back");
    w.run(5.0);
    assert_eq!(w.client.received, vec![(peer, b"back".to_vec())]);
    assert_eq!(
        w.client.stream[w.client.stream.len() - 8..],
        [channel[0], channel[1], 0, 4, b'b', b'a', b'c', b'k']
    );

    // Five bytes from the peer: RFC 8656 §12.5, the length says 5 and three bytes of padding
    // follow on the stream.
    w.client.deaf = true;
    let before = w.client.stream.len();
    w.peer.send(w.at(5.0), PEER, relayed, b"hello");
    w.run(6.0);
    assert_eq!(
        w.client.stream[before..],
        [
            channel[0], channel[1], 0, 5, b'h', b'e', b'l', b'l', b'o', 0, 0, 0
        ]
    );

    // From the client: ChannelData of 5 bytes, padded, then a Send indication right behind
    // it on the stream (in the same write): the server skips the padding and reads both.
    let mut padded = vec![channel[0], channel[1], 0, 5];
    padded.extend_from_slice(b"abcde\xEE\xEE\xEE");
    w.client.raw(w.at(6.0), &padded);
    w.client.send_to(w.at(6.0), peer, b"next");
    w.run(7.0);
    assert_eq!(
        w.peer.received[1..],
        [(relayed, b"abcde".to_vec()), (relayed, b"next".to_vec())]
    );
    let s = w.server().stats();
    assert_eq!((s.relayed_to_peer, s.relayed_to_client), (3, 2), "{s:?}");
    assert_eq!(s.tcp.broken, 0);
}

#[test]
fn a_stream_cut_in_odd_pieces_is_read_whole() {
    for chunk in [1, 3, 7, 13] {
        let mut w = World::new(&long_term(TCP_SERVICE));
        w.client.chunk = chunk;
        let relayed = w.allocated_with_permission();
        w.client.send_to(w.at(2.0), addr(PEER), b"in pieces");
        w.run(3.0);
        assert_eq!(
            w.peer.received,
            vec![(relayed, b"in pieces".to_vec())],
            "pieces of {chunk}"
        );
        let tcp = w.sim.tcp_stats(w.ids[0]).expect("client host");
        assert!(
            tcp.segments_sent as usize > w.client.sent.len() / chunk,
            "{tcp:?}"
        );
    }
}

/// The server fed the same stream as TCP events directly, cut every way from 1 byte up:
/// the same answers, byte for byte, as when it came whole; a Binding request on the stream is
/// answered too.
#[test]
fn the_server_reads_a_stream_the_same_whatever_its_cuts() {
    let mut w = World::new(&long_term(TCP_SERVICE));
    let relayed = w.allocated_with_permission();
    w.client.send_to(w.at(2.0), addr(PEER), b"hello");
    w.run(3.0);
    assert_eq!(w.peer.received.len(), 1);
    let mut stream = w.client.sent.clone();
    // RFC 8489 Binding request, no attributes.
    stream.extend_from_slice(&[0, 1, 0, 0, 0x21, 0x12, 0xA4, 0x42]);
    stream.extend_from_slice(&[9; 12]);
    let (nat_side, _) = (addr("198.51.100.10:5000"), ());
    let answers = |cut: usize| {
        let base = w.base;
        let mut config = TurnServerConfig::new(
            3478,
            TurnAuth::LongTerm {
                username: "user".into(),
                password: "pass".into(),
            },
            vec![addr(SERVER).ip()],
        );
        config.transports = vec![TurnTransport::Tcp];
        let mut s = TurnServer::new(config, base, ice_netsim::derive_seed(0, "turn turn1"));
        let listens: Vec<_> = std::iter::from_fn(|| s.poll_tcp()).collect();
        assert_eq!(listens, [TcpCommand::Listen { addr: addr(SERVER) }]);
        let conn = TcpConnId(7);
        s.handle_tcp(
            base,
            TcpEvent::Accepted {
                listener: addr(SERVER),
                conn,
                local: addr(SERVER),
                remote: nat_side,
            },
        );
        let mut out = Vec::new();
        let mut datagrams = Vec::new();
        for piece in stream.chunks(cut) {
            s.handle_tcp(
                base + Duration::from_secs(1),
                TcpEvent::Data {
                    conn,
                    data: piece.to_vec(),
                },
            );
            while let Some(c) = s.poll_tcp() {
                match c {
                    TcpCommand::Send { conn: c, data } if c == conn => out.extend(data),
                    other => panic!("{other:?}"),
                }
            }
            datagrams.extend(std::iter::from_fn(|| s.poll_transmit()));
            assert!(s.stream_bytes_held() < 65_540);
        }
        (out, datagrams, s.stats())
    };
    let (whole, datagrams, stats) = answers(stream.len());
    assert_eq!(datagrams.len(), 1, "the Send indication, relayed");
    assert_eq!(datagrams[0].from, relayed);
    assert_eq!(
        (stats.allocations, stats.permissions, stats.bindings),
        (1, 1, 1),
        "{stats:?}"
    );
    assert_eq!(
        &whole[whole.len() - 32..whole.len() - 30],
        &[0x01, 0x01],
        "Binding success last"
    );
    for cut in 1..=97 {
        assert_eq!(answers(cut).0, whole, "cut every {cut} bytes");
    }
}

#[test]
fn closing_or_resetting_the_connection_deletes_the_allocation() {
    for abort in [false, true] {
        let mut w = World::new(&long_term(TCP_SERVICE));
        let relayed = w.allocated_with_permission();
        let conn = w.client.conn();
        w.client.cmds.push_back(if abort {
            TcpCommand::Abort { conn }
        } else {
            TcpCommand::Close { conn }
        });
        w.client.now = w.at(2.0);
        w.run(3.0);
        let s = w.server().stats();
        assert_eq!(w.server().allocation_count(), 0, "abort {abort}: {s:?}");
        assert_eq!(w.server().relayed_addresses().count(), 0);
        assert_eq!(w.server().connection_count(), 0);
        assert_eq!(
            (s.tcp.closed, s.tcp.allocations_closed, s.allocations_ended),
            (1, 1, 1)
        );
        if !abort {
            // The server closed its half in turn.
            assert_eq!(w.client.ended, Some(TcpEvent::Closed { conn }));
        }
        // The relayed port relays no more.
        w.peer.send(w.at(3.0), PEER, relayed, b"anyone?");
        w.run(4.0);
        assert_eq!(w.server().stats().relayed_to_client, 0);
        assert_eq!(w.client.received, []);
    }
}

#[test]
fn garbage_on_the_stream_aborts_the_connection_and_is_counted() {
    for garbage in [
        &[0xFF, 0, 0, 0][..],
        &[0x00, 0x01, 0x00, 0x03],
        &[0x5A, 0x00, 0x00, 0x00],
    ] {
        let mut w = World::new(&long_term(TCP_SERVICE));
        w.allocated_with_permission();
        w.client.raw(w.at(2.0), garbage);
        w.run(3.0);
        let s = w.server().stats();
        assert_eq!(
            (s.tcp.broken, s.tcp.allocations_closed),
            (1, 1),
            "{garbage:?}: {s:?}"
        );
        assert_eq!(w.server().allocation_count(), 0);
        assert!(
            matches!(w.client.ended, Some(TcpEvent::Reset { .. })),
            "an RST: {:?}",
            w.client.ended
        );
    }
}

#[test]
fn tcp_is_served_only_when_transports_name_it() {
    // The simulator honours transports = ["udp", "tcp"]: nothing to report.
    assert_eq!(
        Sim::unsupported(&script(&long_term(TCP_SERVICE))),
        Vec::<String>::new()
    );
    // The default, UDP only: nobody listens on TCP 3478.
    let mut w = World::new(&long_term(""));
    w.run(5.0);
    assert!(
        matches!(w.client.ended, Some(TcpEvent::ConnectFailed { .. })),
        "{:?}",
        w.client.ended
    );
    assert_eq!(w.server().stats().tcp.accepted, 0);

    // TCP only: a datagram to the port is not answered.
    let mut w = World::new(&long_term(r#", transports = ["tcp"]"#));
    w.peer.send(
        w.base,
        PEER,
        addr(SERVER),
        &[
            0, 1, 0, 0, 0x21, 0x12, 0xA4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
        ],
    );
    w.run(2.0);
    assert!(w.client.relayed().is_some(), "over TCP");
    assert_eq!(w.peer.received, [], "no answer over UDP");
    assert_eq!(w.server().stats().bindings, 0);
}

/// A client that writes recorded bytes at recorded times on its connection (turn-client-proto
/// draws its transaction ids from an OS RNG, so two of its runs differ).
struct Replayer {
    writes: VecDeque<(Instant, Vec<u8>)>,
    conn: Option<TcpConnId>,
    cmds: VecDeque<TcpCommand>,
    now: Instant,
    stream: Vec<u8>,
}

impl Node for Replayer {
    fn handle_datagram(&mut self, _: Instant, _: SocketAddr, _: SocketAddr, _: &[u8]) {}
    fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        let Some(conn) = self.conn else {
            return;
        };
        while self.writes.front().is_some_and(|(t, _)| *t <= now) {
            if let Some((_, data)) = self.writes.pop_front() {
                self.cmds.push_back(TcpCommand::Send { conn, data });
            }
        }
    }
    fn poll_transmit(&mut self) -> Option<Transmit> {
        None
    }
    fn poll_timeout(&self) -> Option<Instant> {
        if !self.cmds.is_empty() {
            Some(self.now)
        } else {
            self.conn.and(self.writes.front().map(|(t, _)| *t))
        }
    }
    fn poll_tcp(&mut self) -> Option<TcpCommand> {
        self.cmds.pop_front()
    }
    fn handle_tcp(&mut self, _: Instant, event: TcpEvent) {
        match event {
            TcpEvent::Connected { conn, .. } => self.conn = Some(conn),
            TcpEvent::Data { data, .. } => self.stream.extend(data),
            _ => {}
        }
    }
}

/// The same seed replays the same bytes: fed the same writes at the same times, the server's
/// stream to the client and the relayed datagrams are the same, run after run, and the same as
/// in the run recorded.
#[test]
fn the_same_seed_gives_the_same_stream() {
    let mut w = World::new(&long_term(TCP_SERVICE));
    let relayed = w.allocated_with_permission();
    w.client.send_to(w.at(2.0), addr(PEER), b"hello");
    w.peer.send(w.at(2.5), PEER, relayed, b"world");
    w.run(4.0);
    let recorded = (w.client.stream.clone(), w.peer.received.clone());
    assert_eq!(recorded.1.len(), 1);
    let writes = w.client.log.clone();
    let replay = || {
        let topology = script(&long_term(TCP_SERVICE));
        let base = w.base;
        let mut sim = Sim::new(&topology, base);
        let mut r = Replayer {
            writes: writes.iter().cloned().collect(),
            conn: None,
            cmds: VecDeque::from([TcpCommand::Connect {
                token: 1,
                from: addr(CLIENT),
                to: addr(SERVER),
            }]),
            now: base,
            stream: Vec::new(),
        };
        let mut peer = Hand::default();
        peer.send(w.at(2.5), PEER, relayed, b"world");
        let ids = ["client", "peer"].map(|h| sim.host(h).expect("declared"));
        sim.run_until(
            w.at(4.0),
            &mut [(ids[0], &mut r as &mut dyn Node), (ids[1], &mut peer)],
            |_| false,
        )
        .expect("no stall");
        (r.stream, peer.received)
    };
    assert_eq!(replay(), recorded);
    assert_eq!(replay(), recorded);
}
