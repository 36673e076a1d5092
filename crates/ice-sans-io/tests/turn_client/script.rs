//! The scripted server: reads the client's requests, writes the answers a test chooses.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ice_sans_io::stun::{
    Attribute, AttributeType, Class, ErrorCode, Integrity, IntegrityKey, Message, MessageBuilder,
};
use ice_sans_io::turn::{
    TurnClient, TurnConfig, TurnCredentials, TurnEvent, TurnReceived, TurnState,
};

pub(crate) const USER: &str = "romeo";
pub(crate) const PASS: &str = "wherefore";
pub(crate) const REALM: &str = "example.org";
pub(crate) const NONCE: &str = "nonce-1";

pub(crate) fn server() -> SocketAddr {
    "192.0.2.1:3478".parse().unwrap()
}
pub(crate) fn base() -> SocketAddr {
    "10.0.0.1:5000".parse().unwrap()
}
pub(crate) fn relayed() -> SocketAddr {
    "192.0.2.1:49152".parse().unwrap()
}
pub(crate) fn mapped() -> SocketAddr {
    "203.0.113.5:61000".parse().unwrap()
}
pub(crate) fn peer() -> SocketAddr {
    "198.51.100.9:7000".parse().unwrap()
}
pub(crate) fn key() -> IntegrityKey {
    IntegrityKey::long_term(USER, REALM, PASS)
}

/// A client and a virtual clock.
pub(crate) struct H {
    pub(crate) c: TurnClient,
    pub(crate) t0: Instant,
    pub(crate) now: Instant,
}

impl H {
    pub(crate) fn new(cfg: TurnConfig) -> H {
        #[allow(clippy::disallowed_methods)]
        let t0 = Instant::now();
        let creds = TurnCredentials::new(USER, PASS);
        H {
            c: TurnClient::new(cfg, server(), base(), creds, [5; 32]).unwrap(),
            t0,
            now: t0,
        }
    }

    /// Datagrams the client wants to send: (destination, bytes).
    pub(crate) fn sent(&mut self) -> Vec<(SocketAddr, Vec<u8>)> {
        let mut v = Vec::new();
        while let Some(t) = self.c.poll_transmit() {
            assert_eq!(t.local, base());
            v.push((t.remote, t.data.to_vec()));
        }
        v
    }

    /// The one request sent, checked for FINGERPRINT.
    pub(crate) fn one(&mut self) -> Vec<u8> {
        let mut s = self.sent();
        assert_eq!(s.len(), 1, "one datagram expected, got {}", s.len());
        let (_, b) = s.pop().unwrap();
        let m = Message::decode(&b).unwrap();
        assert!(m.fingerprint().is_ok(), "RFC 8489 §14.7: FINGERPRINT");
        b
    }

    pub(crate) fn events(&mut self) -> Vec<TurnEvent> {
        std::iter::from_fn(|| self.c.poll_event()).collect()
    }

    /// Advances the clock to `t0 + at` and fires the timer.
    pub(crate) fn at(&mut self, at: Duration) {
        self.now = self.t0 + at;
        self.c.handle_timeout(self.now);
    }

    /// Delivers bytes from the server; returns what the client made of them, owned.
    pub(crate) fn deliver(&mut self, bytes: &[u8]) -> Got {
        self.deliver_from(server(), bytes)
    }

    pub(crate) fn deliver_from(&mut self, from: SocketAddr, bytes: &[u8]) -> Got {
        match self.c.handle_receive(self.now, from, bytes) {
            TurnReceived::Consumed => Got::Consumed,
            TurnReceived::Data { peer, data } => Got::Data(peer, data.to_vec()),
            TurnReceived::NotForUs => Got::NotForUs,
            TurnReceived::Dropped(d) => Got::Dropped(format!("{d:?}")),
            other => panic!("unknown {other:?}"),
        }
    }

    /// Starts the allocation and answers 401: returns the signed retry.
    pub(crate) fn signed_allocate(&mut self) -> Vec<u8> {
        self.c.allocate(self.now).unwrap();
        let req = self.one();
        self.deliver(&unauthenticated(&req));
        self.one()
    }

    /// Allocate through 401 and the signed retry, to the Allocated state.
    pub(crate) fn allocated(cfg: TurnConfig) -> H {
        let mut h = H::new(cfg);
        let req = h.signed_allocate();
        assert_eq!(h.deliver(&allocate_ok(&req, 600)), Got::Consumed);
        assert!(matches!(h.events()[..], [TurnEvent::Allocated { .. }]));
        assert_eq!(h.c.state(), TurnState::Allocated);
        h
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Got {
    Consumed,
    Data(SocketAddr, Vec<u8>),
    NotForUs,
    Dropped(String),
}

/// A response to `req` of `class` with `attrs`, signed with `sign`, with FINGERPRINT.
pub(crate) fn reply(
    req: &[u8],
    class: Class,
    attrs: &[Attribute<'_>],
    sign: Option<&IntegrityKey>,
) -> Vec<u8> {
    let m = Message::decode(req).unwrap();
    let mut buf = vec![0u8; 2048];
    let mut b = MessageBuilder::new(&mut buf, class, m.method(), m.transaction_id()).unwrap();
    for a in attrs {
        b.add(a).unwrap();
    }
    if let Some(k) = sign {
        b.add_integrity(k).unwrap();
    }
    b.add_fingerprint().unwrap();
    let n = b.finish();
    buf.truncate(n);
    buf
}

pub(crate) fn error(
    req: &[u8],
    code: u16,
    extra: &[Attribute<'_>],
    sign: Option<&IntegrityKey>,
) -> Vec<u8> {
    let mut attrs = vec![Attribute::ErrorCode(ErrorCode { code, reason: "x" })];
    attrs.extend_from_slice(extra);
    reply(req, Class::Error, &attrs, sign)
}

pub(crate) fn unauthenticated(req: &[u8]) -> Vec<u8> {
    error(
        req,
        401,
        &[Attribute::Realm(REALM), Attribute::Nonce(NONCE)],
        None,
    )
}

pub(crate) fn allocate_ok(req: &[u8], lifetime: u32) -> Vec<u8> {
    let attrs = [
        Attribute::XorRelayedAddress(relayed()),
        Attribute::XorMappedAddress(mapped()),
        Attribute::Lifetime(lifetime),
    ];
    reply(req, Class::Success, &attrs, Some(&key()))
}

pub(crate) fn ok(req: &[u8], attrs: &[Attribute<'_>]) -> Vec<u8> {
    reply(req, Class::Success, attrs, Some(&key()))
}

/// Checks a signed request: USERNAME, REALM, NONCE `nonce`, MESSAGE-INTEGRITY with the
/// long-term key (RFC 8489 §9.2.4).
pub(crate) fn assert_signed(req: &[u8], nonce: &str) {
    let m = Message::decode(req).unwrap();
    assert_eq!(m.username(), Some(USER));
    assert_eq!(m.get(AttributeType::REALM), Some(Attribute::Realm(REALM)));
    assert_eq!(m.get(AttributeType::NONCE), Some(Attribute::Nonce(nonce)));
    assert_eq!(m.verify_integrity(&key()), Integrity::Ok);
}

pub(crate) fn get<'a>(req: &'a [u8], t: AttributeType) -> Option<Attribute<'a>> {
    Message::decode(req).unwrap().get(t)
}
