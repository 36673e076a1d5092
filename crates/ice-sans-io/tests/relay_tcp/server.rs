//! A scripted TURN server reached over a stream (RFC 8656 §3.1), relaying over UDP: it cuts
//! the client's stream by the messages' own lengths (RFC 8656 §12.5, written here apart from
//! the crate's reader), answers Allocate (401, then the signed success), Refresh,
//! CreatePermission and ChannelBind with the long-term key, relays Send indications and
//! ChannelData to peers, and wraps what peers send to the relayed address in Data indications
//! or ChannelData, padded to a multiple of 4 as §12.5 asks.

use std::net::{IpAddr, SocketAddr};

use ice_sans_io::stun::{
    Attribute, AttributeType, Class, ErrorCode, Integrity, IntegrityKey, Message, MessageBuilder,
    Method, TransactionId,
};

pub(crate) const USER: &str = "romeo";
pub(crate) const PASS: &str = "wherefore";
pub(crate) const REALM: &str = "example.org";
const NONCE: &str = "nonce-over-tcp";

/// What the server did, for the tests to look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seen {
    /// A STUN message from the client (method, class, signed).
    Stun(Method, Class, bool),
    /// ChannelData from the client: the bytes as they were on the stream (padding included).
    Channel(Vec<u8>),
}

/// The server's side of one connection and its allocation.
pub(crate) struct TurnOverStream {
    /// The relayed address it hands out.
    pub(crate) relayed: SocketAddr,
    /// The client's address as the server sees it (XOR-MAPPED-ADDRESS).
    pub(crate) mapped: SocketAddr,
    pub(crate) key: IntegrityKey,
    buf: Vec<u8>,
    pub(crate) seen: Vec<Seen>,
    pub(crate) allocated: bool,
    pub(crate) released: bool,
    pub(crate) permissions: Vec<IpAddr>,
    pub(crate) channels: Vec<(u16, SocketAddr)>,
    /// Answer every Allocate with this error instead (a code, and ALTERNATE-SERVER for 300).
    pub(crate) refuse_allocate: Option<(u16, Option<SocketAddr>)>,
    /// Answer every Refresh (but a release) 437 Allocation Mismatch (RFC 8656 §7.5: the
    /// allocation is gone).
    pub(crate) refuse_refresh: bool,
}

impl TurnOverStream {
    pub(crate) fn new(relayed: SocketAddr, mapped: SocketAddr) -> Self {
        TurnOverStream {
            relayed,
            mapped,
            key: IntegrityKey::long_term(USER, REALM, PASS),
            buf: Vec::new(),
            seen: Vec::new(),
            allocated: false,
            released: false,
            permissions: Vec::new(),
            channels: Vec::new(),
            refuse_allocate: None,
            refuse_refresh: false,
        }
    }

    /// Stream bytes from the client. Returns the bytes to write back on the stream and the
    /// UDP datagrams to send from the relayed address (to, data).
    pub(crate) fn client_wrote(&mut self, bytes: &[u8]) -> (Vec<u8>, Vec<(SocketAddr, Vec<u8>)>) {
        self.buf.extend_from_slice(bytes);
        let (mut back, mut udp) = (Vec::new(), Vec::new());
        loop {
            if self.buf.len() < 4 {
                break;
            }
            let len = usize::from(u16::from_be_bytes([self.buf[2], self.buf[3]]));
            let (total, stun) = match self.buf[0] >> 6 {
                0 => (20 + len, true),
                // RFC 8656 §12.5: over TCP, ChannelData is padded to a multiple of 4.
                1 => ((4 + len + 3) & !3, false),
                _ => panic!("the client wrote bytes that are no STUN and no ChannelData"),
            };
            if self.buf.len() < total {
                break;
            }
            let msg: Vec<u8> = self.buf.drain(..total).collect();
            if stun {
                self.stun(&msg, &mut back, &mut udp);
            } else {
                self.seen.push(Seen::Channel(msg.clone()));
                let number = u16::from_be_bytes([msg[0], msg[1]]);
                let data = &msg[4..4 + len];
                if let Some(&(_, peer)) = self.channels.iter().find(|c| c.0 == number) {
                    udp.push((peer, data.to_vec()));
                }
            }
        }
        (back, udp)
    }

    fn stun(&mut self, bytes: &[u8], back: &mut Vec<u8>, udp: &mut Vec<(SocketAddr, Vec<u8>)>) {
        let m = Message::decode(bytes).expect("the client's STUN decodes");
        let signed = m.has_integrity();
        self.seen.push(Seen::Stun(m.method(), m.class(), signed));
        if m.class() == Class::Indication {
            if m.method() == Method::SEND
                && let (Some(Attribute::XorPeerAddress(peer)), Some(Attribute::Data(d))) = (
                    m.get(AttributeType::XOR_PEER_ADDRESS),
                    m.get(AttributeType::DATA),
                )
                && self.permissions.contains(&peer.ip())
            {
                udp.push((peer, d.to_vec()));
            }
            return;
        }
        if !signed {
            // RFC 8489 §9.2.3: the first request is answered 401 with REALM and NONCE.
            let attrs = [
                Attribute::ErrorCode(ErrorCode {
                    code: 401,
                    reason: "Unauthorized",
                }),
                Attribute::Realm(REALM),
                Attribute::Nonce(NONCE),
            ];
            back.extend(build(&m, Class::Error, &attrs, None));
            return;
        }
        assert_eq!(m.verify_integrity(&self.key), Integrity::Ok);
        assert_eq!(m.username(), Some(USER));
        let key = self.key.clone();
        match m.method() {
            Method::ALLOCATE => {
                if let Some((code, alt)) = self.refuse_allocate {
                    let mut attrs = vec![Attribute::ErrorCode(ErrorCode { code, reason: "no" })];
                    if let Some(a) = alt {
                        attrs.push(Attribute::AlternateServer(a));
                    }
                    back.extend(build(&m, Class::Error, &attrs, Some(&key)));
                    return;
                }
                assert_eq!(
                    m.get(AttributeType::REQUESTED_TRANSPORT),
                    Some(Attribute::RequestedTransport(17)),
                    "RFC 8656 §7.1: a UDP allocation"
                );
                self.allocated = true;
                let attrs = [
                    Attribute::XorRelayedAddress(self.relayed),
                    Attribute::XorMappedAddress(self.mapped),
                    Attribute::Lifetime(600),
                ];
                back.extend(build(&m, Class::Success, &attrs, Some(&key)));
            }
            Method::REFRESH => {
                let lifetime = match m.get(AttributeType::LIFETIME) {
                    Some(Attribute::Lifetime(l)) => l,
                    _ => 600,
                };
                if lifetime != 0 && self.refuse_refresh {
                    let attrs = [Attribute::ErrorCode(ErrorCode {
                        code: 437,
                        reason: "Allocation Mismatch",
                    })];
                    back.extend(build(&m, Class::Error, &attrs, Some(&key)));
                    return;
                }
                if lifetime == 0 {
                    self.released = true;
                    self.allocated = false;
                }
                let attrs = [Attribute::Lifetime(lifetime)];
                back.extend(build(&m, Class::Success, &attrs, Some(&key)));
            }
            Method::CREATE_PERMISSION => {
                if let Some(Attribute::XorPeerAddress(p)) = m.get(AttributeType::XOR_PEER_ADDRESS)
                    && !self.permissions.contains(&p.ip())
                {
                    self.permissions.push(p.ip());
                }
                back.extend(build(&m, Class::Success, &[], Some(&key)));
            }
            Method::CHANNEL_BIND => {
                if let (Some(Attribute::ChannelNumber(n)), Some(Attribute::XorPeerAddress(p))) = (
                    m.get(AttributeType::CHANNEL_NUMBER),
                    m.get(AttributeType::XOR_PEER_ADDRESS),
                ) {
                    self.channels.retain(|c| c.0 != n);
                    self.channels.push((n, p));
                    if !self.permissions.contains(&p.ip()) {
                        self.permissions.push(p.ip());
                    }
                }
                back.extend(build(&m, Class::Success, &[], Some(&key)));
            }
            other => panic!("unexpected method {other:?}"),
        }
    }

    /// A UDP datagram from `peer` to the relayed address: the bytes to write to the client
    /// (`None` without a permission, RFC 8656 §9).
    pub(crate) fn peer_sent(&mut self, peer: SocketAddr, data: &[u8]) -> Option<Vec<u8>> {
        if !self.allocated || !self.permissions.contains(&peer.ip()) {
            return None;
        }
        if let Some(&(n, _)) = self.channels.iter().find(|c| c.1 == peer) {
            // RFC 8656 §12.5: padded to a multiple of 4 over TCP.
            let mut out = n.to_be_bytes().to_vec();
            out.extend_from_slice(&(data.len() as u16).to_be_bytes());
            out.extend_from_slice(data);
            while out.len() % 4 != 0 {
                out.push(0);
            }
            return Some(out);
        }
        let mut buf = vec![0u8; data.len() + 128];
        let tid = TransactionId::new([9; 12]);
        let mut b = MessageBuilder::new(&mut buf, Class::Indication, Method::DATA, tid).unwrap();
        b.add(&Attribute::XorPeerAddress(peer)).unwrap();
        b.add(&Attribute::Data(data)).unwrap();
        let n = b.finish();
        buf.truncate(n);
        Some(buf)
    }

    /// The STUN messages the client sent of `method`.
    pub(crate) fn count(&self, method: Method) -> usize {
        self.seen
            .iter()
            .filter(|s| matches!(s, Seen::Stun(m, Class::Request | Class::Indication, _) if *m == method))
            .count()
    }

    /// The ChannelData the client wrote, as on the stream.
    pub(crate) fn channel_data(&self) -> Vec<Vec<u8>> {
        self.seen
            .iter()
            .filter_map(|s| match s {
                Seen::Channel(b) => Some(b.clone()),
                Seen::Stun(..) => None,
            })
            .collect()
    }
}

fn build(
    req: &Message<'_>,
    class: Class,
    attrs: &[Attribute<'_>],
    key: Option<&IntegrityKey>,
) -> Vec<u8> {
    let mut buf = vec![0u8; 1024];
    let mut b = MessageBuilder::new(&mut buf, class, req.method(), req.transaction_id()).unwrap();
    for a in attrs {
        b.add(a).unwrap();
    }
    if let Some(k) = key {
        b.add_integrity(k).unwrap();
    }
    b.add_fingerprint().unwrap();
    let n = b.finish();
    buf.truncate(n);
    buf
}
