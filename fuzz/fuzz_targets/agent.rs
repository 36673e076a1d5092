//! The ICE agent driven by the fuzzer: the input is a script of operations on one agent
//! (datagrams of any bytes, checks and responses that are correctly signed but carry fuzzed
//! attributes, remote candidates and credentials, end-of-candidates, restarts, application data,
//! time passing), with every poller drained after each operation; and TURN servers
//! (`agent_relay.rs`): added with credentials, answering the agent's TURN requests as a correct
//! server does or with fuzzed answers, and relaying checks, responses and garbage from peers in
//! Data indications and ChannelData.
//!
//! The script is read by a hand-written decoder (no `arbitrary`): the first bytes choose the
//! configuration, then each operation is one byte and its arguments; past the end every read is
//! zero, so any input is a valid script and libFuzzer's mutations stay meaningful.
//!
//! Properties asserted after every operation (rustls style, in the target):
//! - no panic;
//! - memory bounded by the configuration: pairs, remote candidates (and among them the
//!   peer-reflexive ones) and transactions in flight never exceed their limits; no remote
//!   candidate twice;
//! - every datagram the agent sends is a STUN message that decodes, with a valid FINGERPRINT;
//!   each check it sends is signed with the password of the remote ufrag its USERNAME names,
//!   and each success response with one of its own passwords; except that a datagram to a TURN
//!   server may be a TURN request (valid FINGERPRINT, signed with the long-term key when
//!   signed), a Send indication or ChannelData, whose payload must then satisfy the same;
//! - nothing goes through an allocation to a peer before the server installed a permission for
//!   the peer's IP (RFC 8656 §9): a Send indication at most 300 s after the server's success
//!   to a CreatePermission or ChannelBind for that IP, ChannelData only on a channel the
//!   server bound or refreshed at most 600 s before, both only while the allocation lives;
//! - `Event::RelayAllocated` reports the relayed address the server gave; application data
//!   from `send` is the bytes given, or wraps them for the relay;
//! - at most one TURN client per host candidate and TURN server (`turn_clients()`);
//! - no spin: after `handle_timeout(t)` with `t` at or past `poll_timeout()`, the next
//!   `poll_timeout()` is later than `t` (or `None`), so a driver always waits
//!   (docs/ARCHITECTURE.md: "every deadline `poll_timeout` reports is one that
//!   `handle_timeout` acts on"), the TURN clients' timers included.
//!
//! ICE-TCP (RFC 6544): TCP host candidates of the three types, remote TCP candidates (with and
//! without a matching `tcptype`), connections accepted on any address, the agent's connect
//! requests answered (open, on a chosen local port, or failed), stream bytes (framed checks
//! and responses, framed garbage, raw garbage) in pieces of any size, closes, and TCP
//! datagrams given to `handle_receive`. Asserted as well:
//! - every transmit on a connection is on one the agent holds (asked for and opened, or
//!   accepted, and neither closed nor failed), with its addresses, one RFC 4571 frame whose
//!   content satisfies the rules above (STUN) or is the application's data;
//! - `Event::Connect` names a new id, and asks for TLS only to a TURN server added over TLS;
//!   `Event::Close` names a held one; the connections held never exceed
//!   `max_tcp_connections`;
//! - `handle_stream` takes every byte it is given.
//!
//! TURN over TCP and TLS (RFC 8656 §3.1): servers added over a stream get a connection of
//! their own (answered, refused or closed by the TCP operations); what the agent writes on it
//! is a TURN message as it is (no RFC 4571 frame), checked as over UDP; what the server says
//! goes through `handle_stream` in pieces (ChannelData padded, RFC 8656 §12.5), and the TCP
//! operations' raw bytes break such streams too.
//!
//! Server-reflexive TCP candidates (RFC 6544 §5.2): with a STUN server added, passive and so
//! TCP host candidates ask for a connection to it; asserted: it comes from that candidate's
//! exact address (no port 0), what is written on it is one unframed STUN Binding request
//! (RFC 8489 §6.2.2), and every server-reflexive TCP candidate is passive or so with the
//! related address of a TCP host candidate of its type. The correct answers of operation 6
//! answer it with a mapped address as a NAT's (unframed, on the connection); the raw-bytes
//! and close operations reach these connections too.
//!
//! Operation bytes 16 to 47 are the TURN operations, 48 to 63 the TCP ones; every other byte
//! `b` is operation `b % 16`, as before TURN, so the older seeds keep their meaning (but for
//! their bytes 48 to 63, and 58 to 63, which became the stream operations).
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ice_sans_io::framing::{HEADER_LEN, frame};
use ice_sans_io::stun::{
    Attribute, AttributeType, Class, ErrorCode, Integrity, IntegrityKey, Message, MessageBuilder,
    Method, TransactionId,
};
use ice_sans_io::turn::looks_like_channel_data;
use ice_sans_io::{
    Candidate, CandidateKind, Config, ConnectionId, Datagram, Event, IceAgent, Protocol, Role,
    State, TcpType,
};
use libfuzzer_sys::fuzz_target;

/// The peer's credentials, and a second set (a peer restart).
const PEERS: [(&str, &str); 2] = [
    ("peer", "peerpasswordpeerpassword"),
    ("peer2", "peer2passwordpeer2password"),
];

/// The STUN servers the script may add (over UDP, and over TCP for passive and so hosts).
const STUN_SERVERS: [&str; 2] = ["[2001:db8::3478]:3478", "203.0.113.9:3478"];

#[path = "script.rs"]
mod script;
use script::Script;

#[path = "agent_relay.rs"]
mod relay;
use relay::{APP, Outgoing, Turn, turn_op};

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("a literal address")
}

/// Local addresses: two host candidates (one IPv6), two that may become host candidates of
/// component 2, and one that never is one of ours.
fn local(i: u8) -> SocketAddr {
    match i % 5 {
        0 => addr("10.0.0.1:5000"),
        1 => addr("[2001:db8::1]:5000"),
        2 => addr("10.0.0.1:5001"),
        3 => addr("[2001:db8::1]:5001"),
        _ => addr("10.0.0.9:5000"),
    }
}

/// Remote addresses: a few of each family, so that candidates, pairs and prflx collide.
fn remote(i: u8) -> SocketAddr {
    let i = i % 12;
    if i < 8 {
        SocketAddr::new(
            format!("198.51.100.{}", 1 + i / 2).parse().expect("ip"),
            6000 + u16::from(i % 2),
        )
    } else {
        SocketAddr::new(format!("2001:db8::{i}").parse().expect("ip"), 6000)
    }
}

/// A request the agent sent.
struct Sent {
    tid: TransactionId,
    local: SocketAddr,
    remote: SocketAddr,
    /// The password it was signed with (none for gathering requests).
    pwd: Option<String>,
    /// The allocation it went through (then `local` is the relayed address).
    via: Option<usize>,
    /// The TCP connection it went on (then `local` and `remote` are the connection's).
    conn: Option<ConnectionId>,
}

/// A TCP connection the agent holds, as the rig sees it.
#[derive(Debug, Clone, Copy)]
struct Conn {
    id: ConnectionId,
    local: SocketAddr,
    remote: SocketAddr,
    /// Connect asked for and not yet answered.
    connecting: bool,
    /// To a TURN server (RFC 8656 §3.1): unframed TURN messages, not RFC 4571.
    turn: bool,
    /// To a STUN server, gathering (RFC 6544 §5.2): one unframed Binding request.
    stun: bool,
}

struct Rig {
    agent: IceAgent,
    config: Config,
    now: Instant,
    /// The latest requests the agent sent.
    requests: Vec<Sent>,
    /// Every local (ufrag, password) the agent had: generation 0, then each restart.
    locals: Vec<(String, String)>,
    /// Every remote (ufrag, password) the agent took.
    remotes: Vec<(String, String)>,
    /// The TURN servers' side.
    turn: Turn,
    /// The connections the agent holds.
    conns: Vec<Conn>,
    /// Every connection id ever seen (closed ones too: bytes for them are dropped).
    ever: Vec<ConnectionId>,
}

fn verifies(m: &Message<'_>, pwd: &str) -> bool {
    m.verify_integrity(&IntegrityKey::short_term(pwd)) == Integrity::Ok
}

/// What the STUN checks of outgoing datagrams need from the rig.
struct Seen<'r> {
    requests: &'r mut Vec<Sent>,
    locals: &'r [(String, String)],
    remotes: &'r [(String, String)],
}

impl Seen<'_> {
    /// A STUN datagram the agent sends from `local` to `remote` (directly, or through
    /// allocation `via` from its relayed address): it decodes with a valid FINGERPRINT, checks
    /// are signed with the remote password they name, successes with a local one; requests
    /// are kept for answers.
    fn check(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        via: Option<usize>,
        conn: Option<ConnectionId>,
        data: &[u8],
    ) {
        let m = Message::decode(data).expect("the agent sends STUN that decodes");
        assert!(m.fingerprint().is_ok(), "the agent's FINGERPRINT verifies");
        assert_eq!(m.method(), Method::BINDING);
        match m.class() {
            Class::Request => {
                // A check (RFC 8445 §7.2.2): USERNAME `remote:local`, signed with the
                // remote password of that generation. Gathering requests have neither.
                let pwd = m.username().map(|u| {
                    let ufrag = u.split(':').next().unwrap_or_default();
                    let r = self
                        .remotes
                        .iter()
                        .find(|r| r.0 == ufrag && verifies(&m, &r.1));
                    r.expect("a check is signed with the remote password it names")
                        .1
                        .clone()
                });
                if self.requests.len() >= 64 {
                    self.requests.remove(0);
                }
                self.requests.push(Sent {
                    tid: m.transaction_id(),
                    local,
                    remote,
                    pwd,
                    via,
                    conn,
                });
            }
            // RFC 8445 §7.3.1.2: an answer to a check, signed with our password (of the
            // generation the check named).
            Class::Success => assert!(
                self.locals.iter().any(|l| verifies(&m, &l.1)),
                "a success response is signed with a local password"
            ),
            Class::Error | Class::Indication => {}
        }
    }
}

impl Rig {
    fn note_credentials(&mut self) {
        let (u, p) = self.agent.local_credentials();
        if self.locals.last().is_none_or(|l| l.0 != u || l.1 != p) {
            self.locals.push((u.to_owned(), p.to_owned()));
        }
        if let Some((u, p)) = self.agent.remote_credentials()
            && !self.remotes.iter().any(|r| r.0 == u && r.1 == p)
        {
            self.remotes.push((u.to_owned(), p.to_owned()));
        }
    }

    /// The drain rule (transmits, then events), then the invariants.
    fn drain(&mut self) {
        self.note_credentials();
        self.turn.sync(self.agent.turn_clients());
        while let Some(t) = self.agent.poll_transmit() {
            let (local, remote, data) = (t.local, t.remote, t.data);
            let mut seen = Seen {
                requests: &mut self.requests,
                locals: &self.locals,
                remotes: &self.remotes,
            };
            if let Some(id) = t.connection {
                assert_eq!(t.protocol, Protocol::Tcp);
                let c = self
                    .conns
                    .iter()
                    .find(|c| c.id == id && !c.connecting)
                    .expect("bytes go on a connection the agent holds, open");
                assert_eq!((c.local, c.remote), (local, remote));
                if c.stun {
                    // RFC 8489 §6.2.2: a Binding request as it is, no RFC 4571 header.
                    let m = Message::decode(data).expect("one unframed STUN message");
                    assert_eq!((m.class(), m.method()), (Class::Request, Method::BINDING));
                    assert!(m.username().is_none(), "a gathering request, not a check");
                    seen.check(local, remote, None, Some(id), data);
                    continue;
                }
                if !c.turn {
                    let inner = unframe(data);
                    seen.check(local, remote, None, Some(id), inner);
                    continue;
                }
                // RFC 8656 §3.1, §12.5: one TURN message, unframed, ChannelData padded.
                let a = self
                    .turn
                    .alloc(local, remote)
                    .expect("a TURN connection carries its client's messages");
                if looks_like_channel_data(data) {
                    assert!(
                        data.len().is_multiple_of(4),
                        "ChannelData padded on a stream"
                    );
                }
                match self.turn.outgoing(self.now, a, data) {
                    Outgoing::Request => {}
                    Outgoing::Binding => panic!("no Binding on a TURN connection"),
                    Outgoing::Relayed { peer, data } => {
                        let relayed = self.turn.allocs[a]
                            .relayed
                            .expect("a relayed datagram leaves an allocated client");
                        seen.check(relayed, peer, Some(a), None, data);
                    }
                }
                continue;
            }
            assert_eq!(t.protocol, Protocol::Udp);
            let Some(a) = self.turn.alloc(local, remote) else {
                seen.check(local, remote, None, None, data);
                continue;
            };
            match self.turn.outgoing(self.now, a, data) {
                Outgoing::Request => {}
                Outgoing::Binding => seen.check(local, remote, None, None, data),
                Outgoing::Relayed { peer, data } => {
                    let relayed = self.turn.allocs[a]
                        .relayed
                        .expect("a relayed datagram leaves an allocated client");
                    seen.check(relayed, peer, Some(a), None, data);
                }
            }
        }
        while let Some(e) = self.agent.poll_event() {
            match e {
                Event::RelayAllocated {
                    server,
                    base,
                    relayed,
                } => self.turn.check_allocated(server, base, relayed),
                Event::Connect { id, from, to, tls } => {
                    let turn = (0..4).any(|i| relay::stream_server(i) == to);
                    // The STUN servers: ours, and the TURN servers added as STUN servers too.
                    let stun = !turn
                        && (STUN_SERVERS.iter().any(|s| addr(s) == to)
                            || (0..8).any(|i| relay::server(i) == to));
                    if stun {
                        // RFC 6544 §5.2: from a passive or so candidate's own address.
                        assert!(tls.is_none());
                        assert!(
                            self.agent
                                .local_candidates()
                                .any(|c| c.kind == CandidateKind::Host
                                    && c.addr == from
                                    && matches!(
                                        c.tcp_type,
                                        Some(TcpType::Passive | TcpType::SimultaneousOpen)
                                    )),
                            "a gathering connection from a passive or so candidate's address"
                        );
                    }
                    assert!(tls.is_none() || turn, "ICE-TCP asks for no TLS");
                    // TLS exactly to the servers added over TLS (port 5349 here).
                    assert_eq!(tls.is_some(), turn && to.port() == 5349);
                    if turn {
                        assert_eq!(from.port(), 0, "to a TURN server from a host IP, port 0");
                    }
                    assert!(!self.ever.contains(&id), "a new id");
                    self.ever.push(id);
                    self.conns.push(Conn {
                        id,
                        local: from,
                        remote: to,
                        connecting: true,
                        turn,
                        stun,
                    });
                }
                Event::Close { id } => {
                    let i = self
                        .conns
                        .iter()
                        .position(|c| c.id == id)
                        .expect("Close names a connection the agent holds");
                    self.conns.remove(i);
                }
                _ => {}
            }
        }
        assert!(self.conns.len() <= self.config.max_tcp_connections);

        let cfg = &self.config;
        assert!(self.agent.pair_count() <= cfg.max_pairs);
        let remotes = self.agent.remote_candidates();
        assert!(remotes.len() <= cfg.max_remote_candidates);
        let prflx = remotes
            .iter()
            .filter(|c| c.kind == CandidateKind::PeerReflexive)
            .count();
        assert!(prflx <= cfg.max_peer_reflexive);
        for (i, c) in remotes.iter().enumerate() {
            assert!(c.component >= 1 && c.component <= cfg.components);
            assert!(
                !remotes[..i].iter().any(|d| d.addr == c.addr
                    && d.component == c.component
                    && d.protocol == c.protocol),
                "a remote candidate is kept once"
            );
            assert_eq!(
                c.tcp_type.is_some(),
                c.protocol == Protocol::Tcp,
                "a TCP candidate, and only it, has a tcptype"
            );
        }
        // Exactly `max_transactions`, no slack: every place that starts a transaction
        // (`pace` for gathering and checks, `nominate`, `consent` for this generation's and
        // the previous one's selected pairs) first checks `transactions.len() <
        // max_transactions` and adds one; `send_check` may drop the pair's previous
        // transaction but never adds more than one; `restart` only removes. Cancelled
        // transactions (RFC 8445 §7.3.1.4) stay counted until their timeout.
        assert!(self.agent.transactions_in_flight() <= cfg.max_transactions);
        assert!(
            self.agent.peer_reflexive_local_candidates().count() <= cfg.max_peer_reflexive,
            "local peer-reflexive candidates are bounded"
        );
        for c in 1..=cfg.components {
            if let Some(p) = self.agent.selected_pair(c) {
                assert_eq!(p.remote.component, c);
                assert_eq!(p.local.component, c);
            }
        }
        // RFC 6544 §5.2: server-reflexive TCP candidates of passive and so hosts only, related
        // to a host of their type.
        for c in self.agent.local_candidates() {
            if c.kind != CandidateKind::ServerReflexive || c.protocol != Protocol::Tcp {
                continue;
            }
            assert!(matches!(
                c.tcp_type,
                Some(TcpType::Passive | TcpType::SimultaneousOpen)
            ));
            assert!(
                self.agent
                    .local_candidates()
                    .any(|h| h.kind == CandidateKind::Host
                        && h.tcp_type == c.tcp_type
                        && Some(h.addr) == c.related),
                "a server-reflexive TCP candidate is related to its host"
            );
        }
        let hosts = self
            .agent
            .local_candidates()
            .filter(|c| c.kind == CandidateKind::Host && c.protocol == Protocol::Udp)
            .count();
        assert!(
            self.agent.turn_clients().count() <= hosts * self.turn.server_count(),
            "at most one TURN client per host candidate and TURN server"
        );
        if self.agent.state() == State::Completed {
            for c in 1..=cfg.components {
                let p = self.agent.selected_pair(c).expect("Completed has a pair");
                assert!(
                    p.nominated,
                    "Completed: every component's pair is nominated"
                );
            }
        }
    }

    fn receive(&mut self, local: SocketAddr, remote: SocketAddr, data: &[u8]) {
        let d = Datagram {
            local,
            remote,
            protocol: Protocol::Udp,
            data,
        };
        let _ = self.agent.handle_receive(self.now, d);
    }

    /// Time passes to `now` and the agent's timers run; a deadline that was due must move
    /// past `now`.
    fn advance(&mut self, now: Instant) {
        self.now = now.max(self.now);
        let due = self.agent.poll_timeout().is_some_and(|d| d <= self.now);
        self.agent.handle_timeout(self.now);
        self.drain();
        if due {
            let next = self.agent.poll_timeout();
            assert!(
                next.is_none_or(|n| n > self.now),
                "handle_timeout left a deadline at or before now: a driver would spin \
                 (agent {:?}; TURN clients, state and deadline from now: {:?})",
                self.agent.state(),
                self.agent
                    .turn_clients()
                    .map(|c| (
                        c.state(),
                        c.poll_timeout().map(|t| t.checked_duration_since(self.now))
                    ))
                    .collect::<Vec<_>>()
            );
        }
    }

    /// A success response to a request the agent sent, as a correct peer (or STUN server)
    /// answers it: from where it went, mapped to where it came from, signed with its key.
    fn answer(&mut self, i: usize, buf: &mut [u8]) {
        let Some(r) = self.requests.get(i) else {
            return;
        };
        let (tid, from, to, pwd, via, conn) =
            (r.tid, r.local, r.remote, r.pwd.clone(), r.via, r.conn);
        let Ok(mut b) = MessageBuilder::new(buf, Class::Success, Method::BINDING, tid) else {
            return;
        };
        // A gathering over TCP: the STUN server's answer, as a NAT maps the port.
        let stun = conn.is_some_and(|id| self.conns.iter().any(|c| c.id == id && c.stun));
        let mapped = if stun {
            SocketAddr::new(addr("203.0.113.77:0").ip(), from.port())
        } else {
            from
        };
        let _ = b.add(&Attribute::XorMappedAddress(mapped));
        if let Some(p) = &pwd {
            let _ = b.add_integrity(&IntegrityKey::short_term(p));
        }
        let _ = b.add_fingerprint();
        let n = b.finish();
        match conn {
            Some(id) if stun => {
                let answer = buf[..n].to_vec();
                self.stream(id, &answer, &[]);
            }
            Some(id) => {
                let framed = framed(&buf[..n]);
                self.stream(id, &framed, &[]);
            }
            None => self.deliver(from, to, via, &buf[..n]),
        }
    }

    /// Stream bytes on connection `id`, handed over in pieces of the given sizes (then the
    /// rest at once); every byte is taken.
    fn stream(&mut self, id: ConnectionId, bytes: &[u8], pieces: &[u8]) {
        let mut rest = bytes;
        let mut sizes = pieces.iter();
        while !rest.is_empty() {
            let n = sizes
                .next()
                .map_or(rest.len(), |&n| usize::from(n).clamp(1, rest.len()));
            let (mut piece, tail) = rest.split_at(n);
            rest = tail;
            while self.agent.handle_stream(self.now, id, &mut piece).is_some() {}
            assert!(piece.is_empty(), "handle_stream takes every byte");
            self.drain();
        }
    }

    /// A connection of the script's choice: one held (open or not), or any id ever seen.
    fn pick_conn(&self, s: &mut Script<'_>) -> Option<ConnectionId> {
        if s.byte() % 4 == 0 && !self.ever.is_empty() {
            return Some(self.ever[s.below(self.ever.len())]);
        }
        (!self.conns.is_empty()).then(|| self.conns[s.below(self.conns.len())].id)
    }

    /// A datagram from `remote` to `local`: directly, or through allocation `via` (`local` is
    /// then its relayed address), relayed as its server does: ChannelData on the peer's
    /// channel, else a Data indication.
    fn deliver(&mut self, local: SocketAddr, remote: SocketAddr, via: Option<usize>, data: &[u8]) {
        match via {
            None => self.receive(local, remote, data),
            Some(a) => {
                let wrapped = match self.turn.channel(a, remote, self.now) {
                    Some(ch) => relay::channel_data(ch, data, 0),
                    None => relay::data_indication(remote, data),
                };
                self.server_sends(a, &wrapped);
            }
        }
    }

    /// `data` from allocation `a`'s server to its base: the server's side notes what it
    /// answered, then the agent takes it; over a stream on the allocation's connection, with
    /// ChannelData padded (RFC 8656 §12.5), in pieces of the sizes in `pieces`.
    fn server_sends(&mut self, a: usize, data: &[u8]) {
        self.server_sends_in(a, data, &[]);
    }

    fn server_sends_in(&mut self, a: usize, data: &[u8], pieces: &[u8]) {
        let (base, server) = (self.turn.allocs[a].base, self.turn.allocs[a].server);
        self.turn.observe(self.now, a, data);
        let conn = self
            .conns
            .iter()
            .find(|c| c.turn && !c.connecting && c.local == base && c.remote == server)
            .map(|c| c.id);
        match conn {
            Some(id) => {
                let mut bytes = data.to_vec();
                if looks_like_channel_data(&bytes) {
                    bytes.resize(bytes.len().next_multiple_of(4), 0);
                }
                self.stream(id, &bytes, pieces);
            }
            None => self.receive(base, server, data),
        }
    }
}

/// A short string of script bytes (any characters).
fn text(s: &mut Script<'_>) -> String {
    let n = s.below(12);
    String::from_utf8_lossy(s.bytes(n)).into_owned()
}

/// A Binding request from the peer with fuzzed attributes, signed with a fuzzed key choice.
fn request(s: &mut Script<'_>, rig: &Rig, buf: &mut [u8]) -> usize {
    let mut tid = [0u8; 12];
    tid[..4].copy_from_slice(&s.u32().to_le_bytes());
    tid[4] = s.byte();
    let Ok(mut b) = MessageBuilder::new(
        buf,
        Class::Request,
        Method::BINDING,
        TransactionId::new(tid),
    ) else {
        return 0;
    };
    // Whose ufrag the request names for us: this generation's, an older one's, or nobody's.
    let (ours, our_pwd) = match s.below(8) {
        0 => (
            "nobody".to_owned(),
            "nobodypasswordnobodypassword".to_owned(),
        ),
        1 => rig.locals[s.below(rig.locals.len())].clone(),
        _ => {
            let (u, p) = rig.agent.local_credentials();
            (u.to_owned(), p.to_owned())
        }
    };
    // And the peer's: the one we know, another, or anything.
    let theirs = match s.below(6) {
        0 => PEERS[0].0.to_owned(),
        1 => PEERS[1].0.to_owned(),
        2 => text(s),
        _ => rig
            .agent
            .remote_credentials()
            .map_or(PEERS[0].0, |r| r.0)
            .to_owned(),
    };
    let username = match s.below(6) {
        0 => None,
        1 => Some(ours.clone()),
        2 => Some(format!("{theirs}:{ours}")),
        _ => Some(format!("{ours}:{theirs}")),
    };
    if let Some(u) = &username {
        let _ = b.add(&Attribute::Username(u));
    }
    if s.byte() % 8 != 0 {
        let _ = b.add(&Attribute::Priority(s.u32()));
    }
    // Tie-breakers: anything, or next to ours (equal included), RFC 8445 §7.3.1.1.
    let tie = |s: &mut Script<'_>| match s.below(4) {
        0 => rig
            .agent
            .tie_breaker()
            .wrapping_add(u64::from(s.byte() % 3))
            .wrapping_sub(1),
        _ => s.u64(),
    };
    match s.below(5) {
        0 | 1 => {
            let t = tie(s);
            let _ = b.add(&Attribute::IceControlling(t));
        }
        2 => {
            let t = tie(s);
            let _ = b.add(&Attribute::IceControlled(t));
        }
        3 => {
            let (t, u) = (tie(s), tie(s));
            let _ = b.add(&Attribute::IceControlling(t));
            let _ = b.add(&Attribute::IceControlled(u));
        }
        _ => {}
    }
    if s.bool() {
        let _ = b.add(&Attribute::UseCandidate);
    }
    // Unknown attributes: comprehension-required (a 420, RFC 8489 §6.3.1) or optional
    // (ignored).
    match s.below(8) {
        0 => {
            let _ = b.add(&Attribute::Other {
                attr_type: AttributeType(0x7f00 | u16::from(s.byte())),
                value: &[1, 2, 3],
            });
        }
        1 => {
            let _ = b.add(&Attribute::Other {
                attr_type: AttributeType(0xc000 | u16::from(s.byte())),
                value: &[4],
            });
        }
        _ => {}
    }
    match s.below(8) {
        0 => {
            let _ = b.add_integrity(&IntegrityKey::short_term("not-the-password"));
        }
        1 => {}
        _ => {
            let _ = b.add_integrity(&IntegrityKey::short_term(&our_pwd));
        }
    }
    if s.byte() % 16 != 0 {
        let _ = b.add_fingerprint();
    }
    b.finish()
}

/// A response to one of the agent's requests (or to none), fuzzed.
fn response(
    s: &mut Script<'_>,
    rig: &Rig,
    buf: &mut [u8],
) -> Option<(SocketAddr, SocketAddr, Option<usize>, usize)> {
    let pick = s.below(256);
    let (tid, from, to, pwd, via) = if rig.requests.is_empty() || pick % 8 == 7 {
        (
            TransactionId::new([s.byte(); 12]),
            local(s.byte()),
            remote(s.byte()),
            None,
            None,
        )
    } else {
        let r = &rig.requests[rig.requests.len() - 1 - pick % rig.requests.len()];
        (r.tid, r.local, r.remote, r.pwd.clone(), r.via)
    };
    // Mostly from where the request went (the 5-tuple symmetry rule), sometimes not.
    let (dst, src, via) = if s.byte() % 8 == 0 {
        (local(s.byte()), remote(s.byte()), None)
    } else {
        (from, to, via)
    };
    let error = s.byte() % 4 == 0;
    let class = if error { Class::Error } else { Class::Success };
    let mut b = MessageBuilder::new(buf, class, Method::BINDING, tid).ok()?;
    if error {
        let code = [487, 487, 400, 401, 420, 500][s.below(6)];
        if s.byte() % 8 != 0 {
            let _ = b.add(&Attribute::ErrorCode(ErrorCode {
                code,
                reason: "fuzz",
            }));
        }
    } else {
        let mapped = match s.below(4) {
            0 => remote(s.byte()),
            1 => SocketAddr::new(addr("203.0.113.5:1").ip(), s.u16().max(1)),
            _ => dst,
        };
        match s.below(8) {
            0 => {}
            1 => {
                let _ = b.add(&Attribute::MappedAddress(mapped));
            }
            _ => {
                let _ = b.add(&Attribute::XorMappedAddress(mapped));
            }
        }
    }
    if s.byte() % 8 == 0 {
        let _ = b.add(&Attribute::Other {
            attr_type: AttributeType(0x7f00 | u16::from(s.byte())),
            value: &[9],
        });
    }
    // The right key mostly, else another peer password, an old one, or none.
    let key = match s.below(8) {
        0 => None,
        1 => Some(PEERS[s.below(2)].1.to_owned()),
        2 if !rig.remotes.is_empty() => Some(rig.remotes[s.below(rig.remotes.len())].1.clone()),
        _ => pwd,
    };
    if let Some(k) = key {
        let _ = b.add_integrity(&IntegrityKey::short_term(&k));
    }
    let _ = b.add_fingerprint();
    Some((dst, src, via, b.finish()))
}

fn candidate(s: &mut Script<'_>) -> Candidate {
    let kind = [
        CandidateKind::Host,
        CandidateKind::Host,
        CandidateKind::ServerReflexive,
        CandidateKind::Relayed,
        CandidateKind::PeerReflexive,
    ][s.below(5)];
    let foundation = match s.below(6) {
        0 => "2".to_owned(),
        1 => "a b".to_owned(),
        2 => String::new(),
        3 => "f".repeat(33),
        4 => text(s),
        _ => "1".to_owned(),
    };
    let addr = match s.below(16) {
        0 => addr("0.0.0.0:6000"),
        1 => addr("198.51.100.1:0"),
        2 => addr("224.0.0.1:6000"),
        _ => remote(s.byte()),
    };
    let component = u16::from(s.byte() % 4);
    // One byte for the protocol and the TCP type (mostly matching, sometimes not).
    let p = s.byte();
    let protocol = if p % 8 == 0 {
        Protocol::Tcp
    } else {
        Protocol::Udp
    };
    let tcp_types = [
        Some(TcpType::Active),
        Some(TcpType::Passive),
        Some(TcpType::SimultaneousOpen),
        None,
    ];
    let tcp_type = match protocol {
        Protocol::Tcp => tcp_types[usize::from(p >> 3) % 4],
        _ if p >> 3 == 31 => Some(TcpType::Passive),
        _ => None,
    };
    Candidate {
        component,
        foundation,
        protocol,
        priority: s.u32(),
        addr,
        kind,
        related: s.bool().then(|| remote(s.byte())),
        tcp_type,
    }
}

fuzz_target!(|data: &[u8]| {
    let mut s = Script(data);
    // The configuration: small limits so that they are reached.
    let flags = s.byte();
    let mut config = Config::new(if flags & 1 == 0 {
        Role::Controlling
    } else {
        Role::Controlled
    });
    config = config.with_components(1 + u16::from(flags >> 1 & 1));
    config.consent_interval = match flags >> 2 & 3 {
        0 => None,
        1 => Some(Duration::from_millis(700)),
        _ => Some(Duration::from_secs(5)),
    };
    config.max_requests = 1 + u32::from(flags >> 4 & 7);
    config.nomination_delay = Duration::from_millis(if flags & 0x80 == 0 { 500 } else { 0 });
    config.max_pairs = 8;
    config.max_remote_candidates = 8;
    config.max_peer_reflexive = 4;
    config.max_transactions = 8;
    config.max_early_checks = 4;
    let mut seed = [0u8; 32];
    seed[0] = s.byte();
    // The TURN clients' limits, small so that they are reached, from the same byte (no seed
    // from before TURN adds a TURN server, so none changes meaning).
    config.turn.max_permissions = 1 + usize::from(seed[0] >> 4 & 3);
    config.turn.max_channels = 1 + usize::from(seed[0] >> 6 & 1);
    config.turn.max_transactions = 2 + usize::from(seed[0] >> 7);
    #[allow(clippy::disallowed_methods)]
    let now = Instant::now();
    let mut rig = Rig {
        agent: IceAgent::new(config.clone(), seed),
        config,
        now,
        requests: Vec::new(),
        locals: Vec::new(),
        remotes: Vec::new(),
        turn: Turn::default(),
        conns: Vec::new(),
        ever: Vec::new(),
    };
    let _ = rig.agent.add_local_host(1, local(0));
    let _ = rig.agent.add_local_host(1, local(1));
    rig.drain();
    let mut buf = [0u8; 1024];
    let mut ops = 0;
    while !s.done() && ops < 256 {
        ops += 1;
        let op = s.byte();
        if (16..48).contains(&op) {
            turn_op(&mut s, &mut rig, op - 16, &mut buf);
            rig.drain();
            continue;
        }
        if (48..64).contains(&op) {
            tcp_op(&mut s, &mut rig, op - 48, &mut buf);
            rig.drain();
            continue;
        }
        match op % 16 {
            // A datagram of any bytes, on any local address.
            0 => {
                let (l, r) = (local(s.byte()), remote(s.byte()));
                let n = s.below(128);
                let bytes = s.bytes(n);
                rig.receive(l, r, bytes);
            }
            // A check from the peer.
            1..=3 => {
                let n = request(&mut s, &rig, &mut buf);
                let (l, r) = (local(s.byte()), remote(s.byte()));
                rig.receive(l, r, &buf[..n]);
            }
            // A response, fuzzed.
            4 | 5 => {
                if let Some((dst, src, via, n)) = response(&mut s, &rig, &mut buf) {
                    rig.deliver(dst, src, via, &buf[..n]);
                }
            }
            // Correct answers to the latest requests, as a live peer gives them.
            6 => {
                let n = 1 + s.below(8);
                let len = rig.requests.len();
                for i in len.saturating_sub(n)..len {
                    rig.answer(i, &mut buf);
                    rig.drain();
                }
            }
            7 => {
                let c = candidate(&mut s);
                let _ = rig.agent.add_remote_candidate(rig.now, c);
            }
            8 => {
                let (u, p) = match s.below(5) {
                    0 | 1 => (PEERS[0].0.to_owned(), PEERS[0].1.to_owned()),
                    2 => (PEERS[1].0.to_owned(), PEERS[1].1.to_owned()),
                    3 => ("bad:ufrag".to_owned(), String::new()),
                    _ => (text(&mut s), text(&mut s)),
                };
                let _ = rig.agent.set_remote_credentials(rig.now, &u, &p);
            }
            9 => rig.agent.end_of_remote_candidates(rig.now),
            10 => {
                if s.byte() % 4 == 0 {
                    rig.agent.restart(rig.now);
                } else {
                    let component = u16::from(s.byte() % 3);
                    let sent = rig
                        .agent
                        .send(rig.now, component, APP)
                        .ok()
                        .map(|t| (t.local, t.remote, t.connection, t.data.to_vec()));
                    match sent {
                        Some((local, remote, Some(id), data)) => {
                            let c = rig.conns.iter().find(|c| c.id == id && !c.connecting);
                            let c = c.expect("data goes on an open connection");
                            if c.turn {
                                rig.check_app(local, remote, &data);
                            } else {
                                assert_eq!(unframe(&data), APP, "data leaves framed as given");
                            }
                        }
                        Some((local, remote, None, data)) => rig.check_app(local, remote, &data),
                        None => {}
                    }
                }
            }
            11 => match s.below(3) {
                0 => rig.agent.add_stun_server(match s.below(3) {
                    0 => addr(STUN_SERVERS[0]),
                    _ => addr(STUN_SERVERS[1]),
                }),
                1 => rig.agent.gather(rig.now),
                _ => {
                    let component = 1 + u16::from(s.byte() % 2);
                    let _ = rig.agent.add_local_host(component, local(s.byte()));
                }
            },
            // Time passes by a fuzzed amount.
            12 | 13 => {
                let now = rig.now + Duration::from_millis(u64::from(s.u16()));
                rig.advance(now);
            }
            // Time passes from deadline to deadline, as a driver runs the agent.
            _ => {
                for _ in 0..1 + s.below(32) {
                    match rig.agent.poll_timeout() {
                        Some(d) => rig.advance(d),
                        None => break,
                    }
                }
            }
        }
        rig.drain();
    }
});

/// One RFC 4571 frame (RFC 6544 §3): the length says the rest, exactly.
fn unframe(data: &[u8]) -> &[u8] {
    assert!(data.len() >= HEADER_LEN, "a frame has its header");
    let len = usize::from(u16::from_be_bytes([data[0], data[1]]));
    assert_eq!(len, data.len() - HEADER_LEN, "one whole frame per transmit");
    &data[HEADER_LEN..]
}

fn framed(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    frame(data, &mut out).expect("short");
    out
}

/// The TCP operations (RFC 6544).
fn tcp_op(s: &mut Script<'_>, rig: &mut Rig, op: u8, buf: &mut [u8]) {
    let now = rig.now;
    if op >= 10 {
        return stream_op(s, rig, op - 10);
    }
    match op {
        // A TCP host candidate (on the UDP hosts' addresses too: the protocols stay apart).
        0 => {
            let t = [TcpType::Active, TcpType::Passive, TcpType::SimultaneousOpen][s.below(3)];
            let component = 1 + u16::from(s.byte() % 2);
            let _ = rig.agent.add_local_tcp_host(component, local(s.byte()), t);
        }
        // A connection arrives, on any address.
        1 => {
            let (l, r) = (local(s.byte()), remote(s.byte()));
            if let Ok(id) = rig.agent.handle_accepted(now, l, r) {
                assert!(!rig.ever.contains(&id), "a new id");
                rig.ever.push(id);
                rig.conns.push(Conn {
                    id,
                    local: l,
                    remote: r,
                    connecting: false,
                    turn: false,
                    stun: false,
                });
            }
        }
        // The answer to a connect request: open (on a port of the script's), or failed.
        2 => {
            let pending: Vec<usize> = (0..rig.conns.len())
                .filter(|&i| rig.conns[i].connecting)
                .collect();
            if pending.is_empty() {
                return;
            }
            let i = pending[s.below(pending.len())];
            let c = rig.conns[i];
            if s.byte() % 4 == 0 {
                rig.conns.remove(i);
                rig.agent.handle_connect_failed(now, c.id);
            } else {
                let port = if c.local.port() == 0 {
                    40000 + u16::from(s.byte())
                } else {
                    c.local.port()
                };
                let local = SocketAddr::new(c.local.ip(), port);
                rig.conns[i].local = local;
                rig.conns[i].connecting = false;
                rig.agent.handle_connected(now, c.id, local);
            }
        }
        // A check from the peer, framed, on a connection, in pieces.
        3 | 4 => {
            let Some(id) = rig.pick_conn(s) else { return };
            let n = request(s, rig, buf);
            let mut bytes = framed(&buf[..n]);
            if s.byte() % 4 == 0 {
                // Two frames in one write.
                bytes.extend_from_within(..);
            }
            let pieces = s.bytes(4).to_vec();
            rig.stream(id, &bytes, &pieces);
        }
        // A fuzzed response, framed, on a connection.
        5 => {
            let Some(id) = rig.pick_conn(s) else { return };
            if let Some((_, _, _, n)) = response(s, rig, buf) {
                let bytes = framed(&buf[..n]);
                let pieces = s.bytes(4).to_vec();
                rig.stream(id, &bytes, &pieces);
            }
        }
        // Raw bytes: any lengths, any content (oversized frames, null packets, cut frames).
        6 => {
            let Some(id) = rig.pick_conn(s) else { return };
            let n = s.below(200);
            let bytes = s.bytes(n).to_vec();
            let pieces = s.bytes(4).to_vec();
            rig.stream(id, &bytes, &pieces);
        }
        // The peer closed a connection.
        7 => {
            let Some(id) = rig.pick_conn(s) else { return };
            rig.conns.retain(|c| c.id != id);
            rig.agent.handle_closed(now, id);
        }
        // A TCP datagram given to handle_receive: dropped.
        8 => {
            let n = s.below(64);
            let d = Datagram {
                local: local(s.byte()),
                remote: remote(s.byte()),
                protocol: Protocol::Tcp,
                data: s.bytes(n),
            };
            let _ = rig.agent.handle_receive(now, d);
        }
        // A remote TCP candidate with a tcptype.
        _ => {
            let mut c = candidate(s);
            c.protocol = Protocol::Tcp;
            c.tcp_type =
                Some([TcpType::Active, TcpType::Passive, TcpType::SimultaneousOpen][s.below(3)]);
            let _ = rig.agent.add_remote_candidate(now, c);
        }
    }
}

/// The operations on TURN connections (RFC 8656 §3.1; TCP operation bytes 58 to 63).
fn stream_op(s: &mut Script<'_>, rig: &mut Rig, op: u8) {
    let now = rig.now;
    let turn_conns: Vec<usize> = (0..rig.conns.len())
        .filter(|&i| rig.conns[i].turn)
        .collect();
    match op {
        // A TURN server over TCP or TLS.
        0 | 1 => relay::add_stream_server(s, rig),
        // A server's message split over several reads (or several in one read), correct
        // answers to its client's requests.
        2 | 3 => {
            let len = rig.turn.requests.len();
            if len == 0 {
                return;
            }
            let i = len - 1 - s.below(len.min(4));
            if let Some((a, msg)) = rig.turn.answer(s, i) {
                let pieces = s.bytes(4).to_vec();
                rig.server_sends_in(a, &msg, &pieces);
            }
        }
        // A TURN connection closes under its allocation, or fails to open.
        4 => {
            if turn_conns.is_empty() {
                return;
            }
            let c = rig.conns[turn_conns[s.below(turn_conns.len())]];
            rig.conns.retain(|x| x.id != c.id);
            if c.connecting {
                rig.agent.handle_connect_failed(now, c.id);
            } else {
                rig.agent.handle_closed(now, c.id);
            }
        }
        // Bytes of the script's on a TURN connection: STUN-looking headers with any length,
        // ChannelData with any channel, garbage (a broken stream).
        _ => {
            if turn_conns.is_empty() {
                return;
            }
            let id = rig.conns[turn_conns[s.below(turn_conns.len())]].id;
            let n = s.below(96);
            let mut bytes = vec![[0x00u8, 0x40, 0x80][s.below(3)], s.byte()];
            bytes.extend_from_slice(&s.u16().to_be_bytes());
            bytes.extend_from_slice(s.bytes(n));
            let pieces = s.bytes(4).to_vec();
            rig.stream(id, &bytes, &pieces);
        }
    }
}
