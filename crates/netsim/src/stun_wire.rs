//! The STUN bytes the simulator's servers read and write (RFC 8489 §5, §14; RFC 8656 §14, §18):
//! a checked view of a message's attributes, a builder with MESSAGE-INTEGRITY and FINGERPRINT,
//! XOR addresses, the long-term key and the TURN REST password. The TURN server uses all of it,
//! the STUN server the builder for its RFC 8489 Binding responses.
//!
//! netsim carries no STUN codec of an ICE stack ("netsim knows no ICE"): this is the few
//! pieces a server needs, written from the RFCs.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha1::Sha1;

pub(crate) const MAGIC_COOKIE: u32 = 0x2112_A442;
const FINGERPRINT_XOR: u32 = 0x5354_554e;

// Methods (RFC 8489 §18.2, RFC 8656 §17).
pub(crate) const BINDING: u16 = 0x001;
pub(crate) const ALLOCATE: u16 = 0x003;
pub(crate) const REFRESH: u16 = 0x004;
pub(crate) const SEND: u16 = 0x006;
pub(crate) const DATA: u16 = 0x007;
pub(crate) const CREATE_PERMISSION: u16 = 0x008;
pub(crate) const CHANNEL_BIND: u16 = 0x009;

// Classes (RFC 8489 §5).
pub(crate) const REQUEST: u8 = 0;
pub(crate) const INDICATION: u8 = 1;
pub(crate) const SUCCESS: u8 = 2;
pub(crate) const ERROR: u8 = 3;

// Attributes (RFC 8489 §18.3, RFC 8656 §18).
pub(crate) const ATTR_USERNAME: u16 = 0x0006;
pub(crate) const ATTR_MESSAGE_INTEGRITY: u16 = 0x0008;
pub(crate) const ATTR_ERROR_CODE: u16 = 0x0009;
pub(crate) const ATTR_UNKNOWN_ATTRIBUTES: u16 = 0x000A;
pub(crate) const ATTR_CHANNEL_NUMBER: u16 = 0x000C;
pub(crate) const ATTR_LIFETIME: u16 = 0x000D;
pub(crate) const ATTR_XOR_PEER_ADDRESS: u16 = 0x0012;
pub(crate) const ATTR_DATA: u16 = 0x0013;
pub(crate) const ATTR_REALM: u16 = 0x0014;
pub(crate) const ATTR_NONCE: u16 = 0x0015;
pub(crate) const ATTR_XOR_RELAYED_ADDRESS: u16 = 0x0016;
pub(crate) const ATTR_REQUESTED_ADDRESS_FAMILY: u16 = 0x0017;
pub(crate) const ATTR_REQUESTED_TRANSPORT: u16 = 0x0019;
pub(crate) const ATTR_XOR_MAPPED_ADDRESS: u16 = 0x0020;
pub(crate) const ATTR_ALTERNATE_SERVER: u16 = 0x8023;
pub(crate) const ATTR_FINGERPRINT: u16 = 0x8028;

/// Comprehension-required attributes this server understands (RFC 8489 §14: any other one in a
/// request gets 420 Unknown Attribute). DONT-FRAGMENT, EVEN-PORT, RESERVATION-TOKEN,
/// PASSWORD-ALGORITHM(S) and USERHASH are not among them.
const KNOWN_REQUIRED: [u16; 13] = [
    ATTR_USERNAME,
    ATTR_MESSAGE_INTEGRITY,
    ATTR_ERROR_CODE,
    ATTR_UNKNOWN_ATTRIBUTES,
    ATTR_CHANNEL_NUMBER,
    ATTR_LIFETIME,
    ATTR_XOR_PEER_ADDRESS,
    ATTR_DATA,
    ATTR_REALM,
    ATTR_NONCE,
    ATTR_REQUESTED_ADDRESS_FAMILY,
    ATTR_REQUESTED_TRANSPORT,
    ATTR_XOR_MAPPED_ADDRESS,
];

/// Attributes read from one message at most; a message with more is dropped.
const MAX_ATTRIBUTES: usize = 64;

/// A well-formed STUN message with the magic cookie, its attributes located.
pub(crate) struct Message<'a> {
    pub(crate) method: u16,
    pub(crate) class: u8,
    pub(crate) txid: [u8; 12],
    raw: &'a [u8],
    /// Type, value and the offset of the attribute's header.
    attrs: Vec<(u16, &'a [u8], usize)>,
}

impl<'a> Message<'a> {
    /// The message in `data`, or `None` when it is not a well-formed RFC 8489 message.
    pub(crate) fn parse(data: &'a [u8]) -> Option<Message<'a>> {
        if data.len() < 20 || data[0] & 0xC0 != 0 {
            return None;
        }
        let ty = u16::from_be_bytes([data[0], data[1]]);
        let len = usize::from(u16::from_be_bytes([data[2], data[3]]));
        let cookie = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
        if cookie != MAGIC_COOKIE || len % 4 != 0 || data.len() != 20 + len {
            return None;
        }
        let mut attrs = Vec::new();
        let mut at = 20;
        while at < data.len() {
            if at + 4 > data.len() || attrs.len() == MAX_ATTRIBUTES {
                return None;
            }
            let t = u16::from_be_bytes([data[at], data[at + 1]]);
            let l = usize::from(u16::from_be_bytes([data[at + 2], data[at + 3]]));
            let next = at + 4 + l.div_ceil(4) * 4;
            if next > data.len() {
                return None;
            }
            attrs.push((t, &data[at + 4..at + 4 + l], at));
            at = next;
        }
        let mut txid = [0u8; 12];
        txid.copy_from_slice(&data[8..20]);
        Some(Message {
            method: (ty & 0x000F) | ((ty & 0x00E0) >> 1) | ((ty & 0x3E00) >> 2),
            class: u8::from(ty & 0x0010 != 0) | (u8::from(ty & 0x0100 != 0) << 1),
            txid,
            raw: data,
            attrs,
        })
    }

    /// The first attribute of type `t` (RFC 8489 §14: later duplicates are ignored), ignoring
    /// those after MESSAGE-INTEGRITY except FINGERPRINT.
    pub(crate) fn attr(&self, t: u16) -> Option<&'a [u8]> {
        self.covered()
            .find(|(ty, _, _)| *ty == t)
            .map(|(_, v, _)| *v)
    }

    /// Every attribute of type `t`, in order.
    pub(crate) fn attrs(&self, t: u16) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.covered()
            .filter(move |(ty, _, _)| *ty == t)
            .map(|(_, v, _)| *v)
    }

    /// The attributes up to and including MESSAGE-INTEGRITY (RFC 8489 §14.5: the rest are
    /// ignored, FINGERPRINT aside).
    fn covered(&self) -> impl Iterator<Item = &(u16, &'a [u8], usize)> + '_ {
        let end = self
            .attrs
            .iter()
            .position(|(t, _, _)| *t == ATTR_MESSAGE_INTEGRITY)
            .map_or(self.attrs.len(), |i| i + 1);
        self.attrs[..end].iter()
    }

    /// Comprehension-required attributes this server does not know (RFC 8489 §14).
    pub(crate) fn unknown_required(&self) -> Vec<u16> {
        self.covered()
            .map(|(t, _, _)| *t)
            .filter(|t| *t < 0x8000 && !KNOWN_REQUIRED.contains(t))
            .take(16)
            .collect()
    }

    /// A string attribute.
    pub(crate) fn text(&self, t: u16) -> Option<&'a str> {
        self.attr(t).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// A 32-bit attribute (LIFETIME).
    pub(crate) fn u32(&self, t: u16) -> Option<u32> {
        let v = self.attr(t)?;
        Some(u32::from_be_bytes(v.get(..4)?.try_into().ok()?))
    }

    /// An XOR address attribute (RFC 8489 §14.2).
    pub(crate) fn xor_address(v: &[u8], txid: &[u8; 12]) -> Option<SocketAddr> {
        let port = u16::from_be_bytes([*v.get(2)?, *v.get(3)?]) ^ (MAGIC_COOKIE >> 16) as u16;
        match (v.get(1)?, v.len()) {
            (0x01, 8) => {
                let x = u32::from_be_bytes(v[4..8].try_into().ok()?) ^ MAGIC_COOKIE;
                Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(x)), port))
            }
            (0x02, 20) => {
                let key = xor_key(txid);
                let mut o = [0u8; 16];
                for (i, b) in o.iter_mut().enumerate() {
                    *b = v[4 + i] ^ key[i];
                }
                Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(o)), port))
            }
            _ => None,
        }
    }

    /// Whether MESSAGE-INTEGRITY is present and right for `key` (RFC 8489 §14.5: the HMAC over
    /// the message up to the attribute, with the length as if it ended after it).
    pub(crate) fn integrity_ok(&self, key: &[u8]) -> bool {
        let Some(&(_, value, at)) = self
            .attrs
            .iter()
            .find(|(t, _, _)| *t == ATTR_MESSAGE_INTEGRITY)
        else {
            return false;
        };
        if value.len() != 20 {
            return false;
        }
        let Ok(len) = u16::try_from(at - 20 + 24) else {
            return false;
        };
        let mut head = [0u8; 20];
        head.copy_from_slice(&self.raw[..20]);
        head[2..4].copy_from_slice(&len.to_be_bytes());
        let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(key) else {
            return false;
        };
        mac.update(&head);
        mac.update(&self.raw[20..at]);
        mac.verify_slice(value).is_ok()
    }
}

/// The XOR key of an IPv6 address: the cookie, then the transaction id.
fn xor_key(txid: &[u8; 12]) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    key[4..].copy_from_slice(txid);
    key
}

/// The message type of `method` in `class` (RFC 8489 §5).
fn message_type(method: u16, class: u8) -> u16 {
    let c = u16::from(class);
    (method & 0x000F)
        | ((method & 0x0070) << 1)
        | ((method & 0x0F80) << 2)
        | ((c & 1) << 4)
        | ((c & 2) << 7)
}

/// The value of a plain address attribute (RFC 8489 §14.1; RFC 3489 §11.2.1's MAPPED-ADDRESS
/// has the same shape): a zero byte, the family, the port, the address.
pub(crate) fn address_value(addr: SocketAddr) -> Vec<u8> {
    let mut v = vec![0u8];
    match addr.ip() {
        IpAddr::V4(ip) => {
            v.push(0x01);
            v.extend_from_slice(&addr.port().to_be_bytes());
            v.extend_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            v.push(0x02);
            v.extend_from_slice(&addr.port().to_be_bytes());
            v.extend_from_slice(&ip.octets());
        }
    }
    v
}

/// A message being written.
pub(crate) struct Builder {
    buf: Vec<u8>,
    txid: [u8; 12],
}

impl Builder {
    /// A message of `method` and `class` with transaction id `txid`.
    pub(crate) fn new(method: u16, class: u8, txid: [u8; 12]) -> Builder {
        let mut buf = Vec::with_capacity(128);
        buf.extend_from_slice(&message_type(method, class).to_be_bytes());
        buf.extend_from_slice(&[0, 0]);
        buf.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        buf.extend_from_slice(&txid);
        Builder { buf, txid }
    }

    /// Appends an attribute, padded to four bytes.
    pub(crate) fn attr(mut self, t: u16, value: &[u8]) -> Builder {
        let len = u16::try_from(value.len()).unwrap_or(u16::MAX);
        self.buf.extend_from_slice(&t.to_be_bytes());
        self.buf.extend_from_slice(&len.to_be_bytes());
        self.buf.extend_from_slice(&value[..usize::from(len)]);
        let pad = (4 - value.len() % 4) % 4;
        self.buf.extend(std::iter::repeat_n(0u8, pad));
        self
    }

    /// Appends an XOR address attribute (RFC 8489 §14.2).
    pub(crate) fn xor_address(self, t: u16, addr: SocketAddr) -> Builder {
        let port = addr.port() ^ (MAGIC_COOKIE >> 16) as u16;
        let mut v = vec![0u8];
        match addr.ip() {
            IpAddr::V4(ip) => {
                v.push(0x01);
                v.extend_from_slice(&port.to_be_bytes());
                v.extend_from_slice(&(u32::from(ip) ^ MAGIC_COOKIE).to_be_bytes());
            }
            IpAddr::V6(ip) => {
                v.push(0x02);
                v.extend_from_slice(&port.to_be_bytes());
                let key = xor_key(&self.txid);
                v.extend(ip.octets().iter().zip(key).map(|(b, k)| b ^ k));
            }
        }
        self.attr(t, &v)
    }

    /// Appends a plain address attribute (RFC 8489 §14.1, as ALTERNATE-SERVER carries it).
    pub(crate) fn address(self, t: u16, addr: SocketAddr) -> Builder {
        self.attr(t, &address_value(addr))
    }

    /// Appends ERROR-CODE (RFC 8489 §14.8).
    pub(crate) fn error(self, code: u16, reason: &str) -> Builder {
        let mut v = vec![
            0,
            0,
            u8::try_from(code / 100).unwrap_or(0),
            (code % 100) as u8,
        ];
        v.extend_from_slice(reason.as_bytes());
        self.attr(ATTR_ERROR_CODE, &v)
    }

    /// The message's bytes: MESSAGE-INTEGRITY with `key` when given, then FINGERPRINT.
    pub(crate) fn finish(mut self, key: Option<&[u8]>) -> Vec<u8> {
        if let Some(key) = key {
            self.set_len(24);
            let tag = Hmac::<Sha1>::new_from_slice(key)
                .map(|mut m| {
                    m.update(&self.buf);
                    m.finalize().into_bytes().to_vec()
                })
                .unwrap_or_default();
            self = self.attr(ATTR_MESSAGE_INTEGRITY, &tag);
        }
        self.set_len(8);
        let crc = crc32fast::hash(&self.buf) ^ FINGERPRINT_XOR;
        self = self.attr(ATTR_FINGERPRINT, &crc.to_be_bytes());
        self.buf
    }

    /// Writes the length field as if `extra` more bytes followed.
    fn set_len(&mut self, extra: usize) {
        let len = u16::try_from(self.buf.len() - 20 + extra).unwrap_or(u16::MAX);
        self.buf[2..4].copy_from_slice(&len.to_be_bytes());
    }
}

/// An indication without MESSAGE-INTEGRITY or FINGERPRINT (RFC 8656 §11.4: a Data indication).
pub(crate) fn finish_plain(b: Builder) -> Vec<u8> {
    let mut b = b;
    b.set_len(0);
    b.buf
}

/// The long-term key (RFC 8489 §9.2.2): MD5(username ":" realm ":" password), without SASLprep
/// (the script's strings are used as written).
pub(crate) fn long_term_key(username: &str, realm: &str, password: &str) -> [u8; 16] {
    let mut h = Md5::new();
    h.update(username.as_bytes());
    h.update(b":");
    h.update(realm.as_bytes());
    h.update(b":");
    h.update(password.as_bytes());
    h.finalize().into()
}

/// The TURN REST password of `username` (coturn's `static-auth-secret`, Prosody's
/// mod_external_services): base64(HMAC-SHA1(secret, username)).
pub fn rest_password(secret: &str, username: &str) -> String {
    let tag = Hmac::<Sha1>::new_from_slice(secret.as_bytes())
        .map(|mut m| {
            m.update(username.as_bytes());
            m.finalize().into_bytes().to_vec()
        })
        .unwrap_or_default();
    // RFC 4648 §4: standard base64 with padding.
    BASE64.encode(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_type_round_trip() {
        for (m, c) in [
            (ALLOCATE, SUCCESS),
            (CHANNEL_BIND, ERROR),
            (DATA, INDICATION),
        ] {
            let bytes = Builder::new(m, c, [1; 12]).finish(None);
            let msg = Message::parse(&bytes).unwrap();
            assert_eq!((msg.method, msg.class), (m, c));
        }
        // RFC 8656 §17: Allocate success response 0x0103, Data indication 0x0017.
        assert_eq!(message_type(ALLOCATE, SUCCESS), 0x0103);
        assert_eq!(message_type(DATA, INDICATION), 0x0017);
    }

    #[test]
    fn integrity_round_trip() {
        let key = long_term_key("user", "example", "pass");
        let bytes = Builder::new(ALLOCATE, REQUEST, [2; 12])
            .attr(ATTR_USERNAME, b"user")
            .finish(Some(&key));
        let msg = Message::parse(&bytes).unwrap();
        assert!(msg.integrity_ok(&key));
        assert!(!msg.integrity_ok(&[0; 16]));
    }
}
