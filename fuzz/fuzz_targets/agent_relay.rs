//! The TURN servers of the `agent` target: what they were told, what they answered, and the
//! rules the agent's datagrams to them must keep. Included by `agent.rs` with `#[path]`.
//!
//! One [`Alloc`] per TURN client of the agent, in the order of `IceAgent::turn_clients()`
//! (the agent never removes one), holds the server's side of the allocation: when it expires
//! and which permissions and channels the server installed, and when. Every datagram from a
//! server to a base goes through [`Turn::observe`] first, whichever operation forged it, so
//! that a success the client takes (right transaction, right method, signed with the long-term
//! key when the request was) is one the server is known to have given.
//!
//! [`Turn::outgoing`] checks each datagram the agent sends to a server:
//! - a TURN request decodes with a valid FINGERPRINT and, when signed, names the configured
//!   user and verifies with the long-term key `MD5(user:realm:pass)`;
//! - a Send indication goes to a peer IP whose permission the server installed (a success to
//!   CreatePermission or ChannelBind) at most 300 s ago, on an allocation whose lifetime has
//!   not run out (RFC 8656 §9, §11.2);
//! - ChannelData goes on a channel the server bound or refreshed at most 600 s ago, on an
//!   allocation still alive (RFC 8656 §12: a binding the server installed implies the
//!   permission).
//!
//! Each lifetime includes its last instant: at the instant something expires the client may
//! still send, as long as `handle_timeout(now)` was not called yet; a race with no width, not
//! a fault.
//! - what a Send indication or ChannelData carries is handed back for the STUN checks of
//!   direct datagrams.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ice_sans_io::stun::{
    Attribute, AttributeType, Class, ErrorCode, Integrity, IntegrityKey, Message, MessageBuilder,
    Method, TransactionId,
};
use ice_sans_io::turn::{
    TurnClient, TurnCredentials, TurnTransport, decode_channel_data, encode_channel_data,
    looks_like_channel_data,
};

use crate::script::Script;
use crate::{Rig, remote, request};

pub(crate) const USER: &str = "romeo";
pub(crate) const PASS: &str = "wherefore";
pub(crate) const REALM: &str = "example.org";
const NONCE: &str = "nonce-0123456789";
const PERMISSION_LIFETIME: Duration = Duration::from_secs(300);
const CHANNEL_LIFETIME: Duration = Duration::from_secs(600);
/// What a server grants when LIFETIME is absent (RFC 8656 §3.2), as the client assumes.
const DEFAULT_LIFETIME: u32 = 600;
/// The latest TURN requests kept for answers.
const MAX_REQUESTS: usize = 32;

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("a literal address")
}

/// TURN servers: one per family, and sometimes the STUN servers' addresses (one server for
/// both).
pub(crate) fn server(i: u8) -> SocketAddr {
    match i % 8 {
        0..=3 => addr("203.0.113.7:3478"),
        4 | 5 => addr("[2001:db8::7]:3478"),
        6 => addr("203.0.113.9:3478"),
        _ => addr("[2001:db8::3478]:3478"),
    }
}

/// TURN servers reached over TCP (`i` even) or TLS (RFC 8656 §3.1): addresses of their own,
/// one per transport, so that each address has one set of credentials here.
pub(crate) fn stream_server(i: u8) -> SocketAddr {
    match i % 4 {
        0 => addr("203.0.113.7:3479"),
        1 => addr("203.0.113.7:5349"),
        2 => addr("[2001:db8::7]:3479"),
        _ => addr("[2001:db8::7]:5349"),
    }
}

/// Where a 300 Try Alternate sends the client.
fn alternate(i: u8) -> SocketAddr {
    match i % 3 {
        0 => addr("203.0.113.8:3478"),
        1 => addr("[2001:db8::8]:3478"),
        _ => server(i),
    }
}

/// A server the agent took, with the credentials it was given last.
#[derive(Clone)]
struct Server {
    addr: SocketAddr,
    username: String,
    key: IntegrityKey,
}

/// The server's side of one TURN client's allocation.
pub(crate) struct Alloc {
    /// The host candidate the client allocates from, as `Event::RelayAllocated` names it.
    host: SocketAddr,
    /// Where the client sends from: the host candidate, or over a stream the connection's
    /// local address once it is open.
    pub(crate) base: SocketAddr,
    /// The server as given to `add_turn_server`.
    pub(crate) origin: SocketAddr,
    /// Its credentials when the client was made: the agent gives a server's new
    /// credentials to the allocations made afterwards only (RFC 8656 §5).
    creds: Option<Server>,
    /// The server the client talks to now (another after a 300).
    pub(crate) server: SocketAddr,
    /// The client's relayed address, where checks through it come from.
    pub(crate) relayed: Option<SocketAddr>,
    /// The XOR-RELAYED-ADDRESS of the latest Allocate success the client could take.
    given_relayed: Option<SocketAddr>,
    expires: Option<Instant>,
    permissions: Vec<(IpAddr, Instant)>,
    channels: Vec<(u16, SocketAddr, Instant)>,
}

/// A TURN request the agent sent.
pub(crate) struct Request {
    alloc: usize,
    tid: TransactionId,
    method: Method,
    signed: bool,
    peer: Option<SocketAddr>,
    channel: Option<u16>,
    lifetime: Option<u32>,
}

/// What a datagram to a TURN server was.
pub(crate) enum Outgoing<'d> {
    /// A TURN request (checked and kept).
    Request,
    /// A Binding message (the server also does STUN): checked as a direct datagram.
    Binding,
    /// A Send indication or ChannelData: `data` for `peer`.
    Relayed { peer: SocketAddr, data: &'d [u8] },
}

#[derive(Default)]
pub(crate) struct Turn {
    servers: Vec<Server>,
    pub(crate) allocs: Vec<Alloc>,
    pub(crate) requests: Vec<Request>,
    /// Requests answered by [`Turn::answer`], for [`Turn::observe`].
    answered: Vec<Request>,
}

impl Turn {
    /// Credentials for `add_turn_server`: mostly the user's, sometimes TURN REST ones, a
    /// username over 512 bytes (refused), or the script's text.
    pub(crate) fn credentials(s: &mut Script<'_>) -> TurnCredentials {
        match s.below(8) {
            0..=4 => TurnCredentials::new(USER, PASS),
            5 => TurnCredentials::rest(b"north-pole-secret", 1_900_000_000, USER),
            6 => TurnCredentials::new("u".repeat(513), PASS),
            _ => {
                let user = crate::text(s);
                TurnCredentials::new(user, crate::text(s))
            }
        }
    }

    /// The agent took `addr` with `creds` (for the allocations made from now on, as in the
    /// agent).
    pub(crate) fn add_server(&mut self, addr: SocketAddr, creds: &TurnCredentials) {
        let server = Server {
            addr,
            username: creds.username.clone(),
            key: IntegrityKey::long_term(&creds.username, REALM, &creds.password),
        };
        match self.servers.iter_mut().find(|s| s.addr == addr) {
            Some(s) => *s = server,
            None => self.servers.push(server),
        }
    }

    pub(crate) fn server_count(&self) -> usize {
        self.servers.len()
    }

    /// Follows the agent's TURN clients: new ones get an allocation, each one's server and
    /// relayed address are read.
    pub(crate) fn sync<'c>(&mut self, clients: impl Iterator<Item = &'c TurnClient>) {
        for (i, c) in clients.enumerate() {
            if i == self.allocs.len() {
                let creds = self.servers.iter().find(|s| s.addr == c.server()).cloned();
                self.allocs.push(Alloc {
                    host: c.base(),
                    base: c.base(),
                    creds,
                    origin: c.server(),
                    server: c.server(),
                    relayed: None,
                    given_relayed: None,
                    expires: None,
                    permissions: Vec::new(),
                    channels: Vec::new(),
                });
            }
            let a = &mut self.allocs[i];
            // Over a stream the client is made anew, from the connection's local address,
            // when its connection opens: of the host's IP.
            assert_eq!(
                a.host.ip(),
                c.base().ip(),
                "the agent's TURN clients keep their order"
            );
            a.base = c.base();
            a.server = c.server();
            a.relayed = c.relayed_address();
        }
    }

    /// The allocation of the client on `base` talking to `server`.
    pub(crate) fn alloc(&self, base: SocketAddr, server: SocketAddr) -> Option<usize> {
        self.allocs
            .iter()
            .position(|a| a.base == base && a.server == server)
    }

    fn server_of(&self, a: usize) -> Option<&Server> {
        self.allocs[a].creds.as_ref()
    }

    /// `Event::RelayAllocated` reports what the server gave.
    pub(crate) fn check_allocated(
        &self,
        server: SocketAddr,
        base: SocketAddr,
        relayed: SocketAddr,
    ) {
        let a = self
            .allocs
            .iter()
            .find(|a| a.host == base && a.origin == server)
            .expect("RelayAllocated names a server and base of a TURN client");
        assert_eq!(
            a.given_relayed,
            Some(relayed),
            "RelayAllocated reports the server's XOR-RELAYED-ADDRESS"
        );
    }

    /// Whether the server still holds allocation `a` at `now` (its last instant included).
    fn alive(&self, a: usize, now: Instant) -> bool {
        self.allocs[a].expires.is_some_and(|e| now <= e)
    }

    /// A datagram the agent sends through allocation `a`, checked (see the module docs).
    pub(crate) fn outgoing<'d>(&mut self, now: Instant, a: usize, data: &'d [u8]) -> Outgoing<'d> {
        if looks_like_channel_data(data) {
            let (number, payload) =
                decode_channel_data(data).expect("the agent's ChannelData decodes");
            let peer = match self.allocs[a].channels.iter().find(|c| c.0 == number) {
                Some(&(_, peer, at)) if now <= at + CHANNEL_LIFETIME => peer,
                Some(&(_, _, at)) => panic!(
                    "ChannelData on channel {number:#x}, whose binding the server installed or \
                     refreshed {:?} ago: it expired after 600 s (RFC 8656 §12)",
                    now - at
                ),
                None => panic!("ChannelData on channel {number:#x}, which the server never bound"),
            };
            assert!(
                self.alive(a, now),
                "ChannelData through an allocation the server no longer holds (expires {:?}, now {:?})",
                self.allocs[a].expires,
                now
            );
            return Outgoing::Relayed {
                peer,
                data: payload,
            };
        }
        let m = Message::decode(data).expect("the agent sends STUN that decodes to a TURN server");
        match (m.class(), m.method()) {
            (_, Method::BINDING) => Outgoing::Binding,
            (Class::Indication, Method::SEND) => {
                let Some(Attribute::XorPeerAddress(peer)) = m.get(AttributeType::XOR_PEER_ADDRESS)
                else {
                    panic!("a Send indication names its peer");
                };
                let Some(Attribute::Data(data)) = m.get(AttributeType::DATA) else {
                    panic!("a Send indication carries DATA");
                };
                let ip = peer.ip();
                assert!(
                    self.allocs[a]
                        .permissions
                        .iter()
                        .any(|p| p.0 == ip && now <= p.1 + PERMISSION_LIFETIME),
                    "a Send indication to {ip}, for which the server installed no permission (RFC 8656 §9)"
                );
                assert!(
                    self.alive(a, now),
                    "a Send indication through an allocation the server no longer holds"
                );
                Outgoing::Relayed { peer, data }
            }
            (Class::Request, method) => {
                assert!(
                    m.fingerprint().is_ok(),
                    "a TURN request's FINGERPRINT verifies"
                );
                let signed = m.has_integrity();
                if signed {
                    let s = self
                        .server_of(a)
                        .expect("the allocation's server was added");
                    assert_eq!(m.username(), Some(s.username.as_str()));
                    assert_eq!(
                        m.verify_integrity(&s.key),
                        Integrity::Ok,
                        "a signed TURN request verifies with the long-term key"
                    );
                }
                let tid = m.transaction_id();
                if self.requests.iter().any(|r| r.tid == tid) {
                    return Outgoing::Request;
                }
                if self.requests.len() >= MAX_REQUESTS {
                    self.requests.remove(0);
                }
                self.requests.push(Request {
                    alloc: a,
                    tid,
                    method,
                    signed,
                    peer: match m.get(AttributeType::XOR_PEER_ADDRESS) {
                        Some(Attribute::XorPeerAddress(p)) => Some(p),
                        _ => None,
                    },
                    channel: match m.get(AttributeType::CHANNEL_NUMBER) {
                        Some(Attribute::ChannelNumber(n)) => Some(n),
                        _ => None,
                    },
                    lifetime: match m.get(AttributeType::LIFETIME) {
                        Some(Attribute::Lifetime(l)) => Some(l),
                        _ => None,
                    },
                });
                Outgoing::Request
            }
            (class, method) => panic!(
                "the agent sends a TURN server requests, Send indications, ChannelData or \
                 Binding, not {class:?} {method:?}"
            ),
        }
    }

    /// A datagram from allocation `a`'s server to its base, before the agent takes it: a
    /// success the client can take updates the server's side.
    pub(crate) fn observe(&mut self, now: Instant, a: usize, data: &[u8]) {
        let Ok(m) = Message::decode(data) else { return };
        if m.class() != Class::Success {
            return;
        }
        let Some(r) = self
            .requests
            .iter()
            .chain(&self.answered)
            .find(|r| r.alloc == a && r.tid == m.transaction_id() && r.method == m.method())
        else {
            return;
        };
        if r.signed
            && self
                .server_of(a)
                .is_none_or(|s| m.verify_integrity(&s.key) != Integrity::Ok)
        {
            return;
        }
        let lifetime = match m.get(AttributeType::LIFETIME) {
            Some(Attribute::Lifetime(l)) => l,
            _ => DEFAULT_LIFETIME,
        };
        let (peer, channel) = (r.peer, r.channel);
        let al = &mut self.allocs[a];
        match m.method() {
            Method::ALLOCATE => {
                if let Some(Attribute::XorRelayedAddress(relayed)) =
                    m.get(AttributeType::XOR_RELAYED_ADDRESS)
                {
                    al.given_relayed = Some(relayed);
                    al.expires = Some(now + Duration::from_secs(u64::from(lifetime)));
                }
            }
            Method::REFRESH => al.expires = Some(now + Duration::from_secs(u64::from(lifetime))),
            Method::CREATE_PERMISSION | Method::CHANNEL_BIND => {
                let Some(peer) = peer else { return };
                al.permissions.retain(|p| p.0 != peer.ip());
                al.permissions.push((peer.ip(), now));
                if let Some(n) = channel {
                    al.channels.retain(|c| c.0 != n);
                    al.channels.push((n, peer, now));
                }
            }
            _ => {}
        }
    }

    /// The answer a correct server gives to request `i` (taken out of the list): 401 with
    /// REALM and NONCE to an unsigned request; else a success signed with the long-term key,
    /// with XOR-RELAYED-ADDRESS, XOR-MAPPED-ADDRESS and LIFETIME for an Allocate (the
    /// script picks them among a few) and LIFETIME for a Refresh. Returns the allocation.
    pub(crate) fn answer(&mut self, s: &mut Script<'_>, i: usize) -> Option<(usize, Vec<u8>)> {
        let r = self.requests.remove(i);
        if self.answered.len() >= MAX_REQUESTS {
            self.answered.remove(0);
        }
        self.answered.push(r);
        let r = self.answered.last()?;
        let a = r.alloc;
        let key = self.server_of(a)?.key.clone();
        let base = self.allocs[a].base;
        let mut buf = vec![0u8; 512];
        let class = if r.signed {
            Class::Success
        } else {
            Class::Error
        };
        let mut b = MessageBuilder::new(&mut buf, class, r.method, r.tid).ok()?;
        if !r.signed {
            b.add(&Attribute::ErrorCode(ErrorCode::UNAUTHENTICATED))
                .ok()?;
            b.add(&Attribute::Realm(REALM)).ok()?;
            b.add(&Attribute::Nonce(NONCE)).ok()?;
        } else {
            let lifetime = |s: &mut Script<'_>| [None, Some(600), Some(60), Some(3600)][s.below(4)];
            match r.method {
                Method::ALLOCATE => {
                    let c = s.byte();
                    let port = 49152 + a as u16;
                    let relayed = match c % 8 {
                        0..=5 => SocketAddr::new(addr("203.0.113.7:0").ip(), port),
                        6 => SocketAddr::new(addr("[2001:db8::7]:0").ip(), port),
                        // Collisions: a host address, or a remote candidate's.
                        _ if c & 8 == 0 => crate::local(c >> 4),
                        _ => crate::remote(c >> 4),
                    };
                    b.add(&Attribute::XorRelayedAddress(relayed)).ok()?;
                    let mapped = match s.below(4) {
                        0 => None,
                        1 => Some(base),
                        _ if base.is_ipv4() => Some(addr("192.0.2.77:0")),
                        _ => Some(addr("[2001:db8::77]:0")),
                    };
                    if let Some(m) = mapped {
                        let m = SocketAddr::new(m.ip(), base.port());
                        b.add(&Attribute::XorMappedAddress(m)).ok()?;
                    }
                    if let Some(l) = lifetime(s) {
                        b.add(&Attribute::Lifetime(l)).ok()?;
                    }
                }
                Method::REFRESH => {
                    if let Some(l) = r.lifetime.or_else(|| lifetime(s)) {
                        b.add(&Attribute::Lifetime(l)).ok()?;
                    }
                }
                _ => {}
            }
            b.add_integrity(&key).ok()?;
        }
        b.add_fingerprint().ok()?;
        let n = b.finish();
        buf.truncate(n);
        Some((a, buf))
    }

    /// An answer to request `i` with the script's class, code and attributes, signed with the
    /// right key, another or none (the turn target's).
    pub(crate) fn fuzzed_answer(&self, s: &mut Script<'_>, i: usize) -> Option<(usize, Vec<u8>)> {
        let r = &self.requests[i];
        let mut buf = vec![0u8; 512];
        let success = s.bool();
        let class = if success {
            Class::Success
        } else {
            Class::Error
        };
        let mut b = MessageBuilder::new(&mut buf, class, r.method, r.tid).ok()?;
        if !success {
            let code = [
                300, 400, 401, 403, 420, 437, 438, 440, 441, 442, 443, 486, 500, 508,
            ][s.below(14)];
            b.add(&Attribute::ErrorCode(ErrorCode { code, reason: "" }))
                .ok()?;
        }
        let which = s.byte();
        if which & 1 != 0 {
            b.add(&Attribute::Realm(REALM)).ok()?;
        }
        if which & 2 != 0 {
            let nonce = ["n0", "n1", NONCE][s.below(3)];
            b.add(&Attribute::Nonce(nonce)).ok()?;
        }
        if which & 4 != 0 {
            let relayed =
                SocketAddr::new(addr("203.0.113.7:0").ip(), 50000 + u16::from(s.byte() % 4));
            b.add(&Attribute::XorRelayedAddress(relayed)).ok()?;
        }
        if which & 8 != 0 {
            b.add(&Attribute::XorMappedAddress(crate::remote(s.byte())))
                .ok()?;
        }
        if which & 16 != 0 {
            b.add(&Attribute::Lifetime(u32::from(s.u16()))).ok()?;
        }
        if which & 32 != 0 {
            b.add(&Attribute::AlternateServer(alternate(s.byte())))
                .ok()?;
        }
        match s.below(4) {
            0 => {}
            1 => b
                .add_integrity(&IntegrityKey::long_term(USER, REALM, "not-the-password"))
                .ok()?,
            _ => b.add_integrity(&self.server_of(r.alloc)?.key).ok()?,
        }
        if !s.byte().is_multiple_of(4) {
            b.add_fingerprint().ok()?;
        }
        let n = b.finish();
        buf.truncate(n);
        Some((r.alloc, buf))
    }

    /// A bound channel of allocation `a` to `peer`, as the server has it.
    pub(crate) fn channel(&self, a: usize, peer: SocketAddr, now: Instant) -> Option<u16> {
        self.allocs[a]
            .channels
            .iter()
            .find(|c| c.1 == peer && now < c.2 + CHANNEL_LIFETIME)
            .map(|c| c.0)
    }
}

impl Rig {
    /// `data` from `peer` through allocation `a`, wrapped as the script says: a Data
    /// indication, ChannelData on the peer's channel (if the server bound one), or ChannelData
    /// on a channel number of the script's (bound to another peer, or to none).
    fn relay_in(&mut self, s: &mut Script<'_>, a: usize, peer: SocketAddr, data: &[u8]) {
        let wrapped = match (s.below(4), self.turn.channel(a, peer, self.now)) {
            (0, Some(ch)) => channel_data(ch, data, 0),
            (3, _) => channel_data(0x4000 + u16::from(s.byte() % 3), data, s.below(4)),
            _ => data_indication(peer, data),
        };
        self.server_sends(a, &wrapped);
    }

    /// What `send` returned for `APP`: the bytes as given, or a Send indication or ChannelData
    /// carrying them to a TURN server (checked as every datagram to a server is).
    pub(crate) fn check_app(&mut self, local: SocketAddr, remote: SocketAddr, data: &[u8]) {
        match self.turn.alloc(local, remote) {
            None => assert_eq!(data, APP, "application data leaves as given"),
            Some(a) => match self.turn.outgoing(self.now, a, data) {
                Outgoing::Relayed { data, .. } => assert_eq!(data, APP),
                _ => {
                    panic!("application data to a TURN server is a Send indication or ChannelData")
                }
            },
        }
    }
}

/// The application data the script sends.
pub(crate) const APP: &[u8] = b"\x80data";

/// An allocation of the script's choice, if there is one.
fn pick_alloc(s: &mut Script<'_>, rig: &Rig) -> Option<usize> {
    let n = rig.turn.allocs.len();
    (n > 0).then(|| s.below(n))
}

/// A TURN server over TCP or TLS (RFC 8656 §3.1), with credentials.
pub(crate) fn add_stream_server(s: &mut Script<'_>, rig: &mut Rig) {
    let i = s.byte();
    let server = stream_server(i);
    let creds = Turn::credentials(s);
    let transport = if i % 2 == 0 {
        TurnTransport::Tcp
    } else {
        TurnTransport::Tls {
            server_name: "turn.example.org".into(),
        }
    };
    if rig
        .agent
        .add_turn_server_over(server, creds.clone(), transport)
        .is_ok()
    {
        rig.turn.add_server(server, &creds);
    }
}

/// The TURN operations (operation bytes 16 to 47, here 0 to 31).
pub(crate) fn turn_op(s: &mut Script<'_>, rig: &mut Rig, op: u8, buf: &mut [u8]) {
    match op {
        // A TURN server with credentials; sometimes it does STUN too.
        0..=2 => {
            let server = server(s.byte());
            let creds = Turn::credentials(s);
            if rig.agent.add_turn_server(server, creds.clone()).is_ok() {
                rig.turn.add_server(server, &creds);
            }
            if s.byte().is_multiple_of(4) {
                rig.agent.add_stun_server(server);
            }
        }
        // The server answers some of the latest TURN requests as a correct server does.
        3..=10 => {
            for _ in 0..1 + s.below(4) {
                let len = rig.turn.requests.len();
                if len == 0 {
                    break;
                }
                let i = len - 1 - s.below(len.min(4));
                if let Some((a, msg)) = rig.turn.answer(s, i) {
                    rig.server_sends(a, &msg);
                }
                rig.drain();
            }
        }
        // A fuzzed answer to one of them.
        11..=14 => {
            if rig.turn.requests.is_empty() {
                return;
            }
            let i = s.below(rig.turn.requests.len());
            if let Some((a, msg)) = rig.turn.fuzzed_answer(s, i) {
                rig.server_sends(a, &msg);
            }
        }
        // Any bytes from a server to its base.
        15 | 16 => {
            if let Some(a) = pick_alloc(s, rig) {
                let n = s.below(128);
                let bytes = s.bytes(n);
                rig.server_sends(a, bytes);
            }
        }
        // A check from a peer, through the relay.
        17..=24 => {
            if let Some(a) = pick_alloc(s, rig) {
                let peer = remote(s.byte());
                let n = request(s, rig, buf);
                rig.relay_in(s, a, peer, &buf[..n]);
            }
        }
        // Any bytes from a peer, through the relay.
        25..=30 => {
            if let Some(a) = pick_alloc(s, rig) {
                let peer = remote(s.byte());
                let n = s.below(96);
                let bytes = s.bytes(n);
                rig.relay_in(s, a, peer, bytes);
            }
        }
        // The session ends: the allocations are released.
        _ => {
            if s.byte().is_multiple_of(4) {
                rig.agent.close(rig.now);
            }
        }
    }
}

/// A Data indication (RFC 8656 §11.4) from `peer` carrying `data`.
pub(crate) fn data_indication(peer: SocketAddr, data: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; data.len() + 64];
    let Ok(mut b) = MessageBuilder::new(
        &mut buf,
        Class::Indication,
        Method::DATA,
        TransactionId::new([7; 12]),
    ) else {
        return Vec::new();
    };
    let _ = b.add(&Attribute::XorPeerAddress(peer));
    let _ = b.add(&Attribute::Data(data));
    let n = b.finish();
    buf.truncate(n);
    buf
}

/// ChannelData (RFC 8656 §12.4) on `channel`, with `pad` zero bytes after it.
pub(crate) fn channel_data(channel: u16, data: &[u8], pad: usize) -> Vec<u8> {
    let mut buf = vec![0u8; data.len() + 4 + pad];
    if encode_channel_data(channel, data, false, &mut buf).is_none() {
        // Not a channel number: the header as given.
        buf[..2].copy_from_slice(&channel.to_be_bytes());
        buf[2..4].copy_from_slice(&(data.len() as u16).to_be_bytes());
        buf[4..4 + data.len()].copy_from_slice(data);
    }
    buf
}
