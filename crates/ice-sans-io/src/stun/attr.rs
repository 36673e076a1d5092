//! STUN attributes: the ones ICE needs (RFC 8489, RFC 8445 §16.1) and the TURN client's
//! (RFC 8656), each decoded from and encoded to its value bytes.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{DecodeError, MAGIC_COOKIE, TransactionId};

/// An attribute type (RFC 8489 §18.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttributeType(pub u16);

impl AttributeType {
    /// MAPPED-ADDRESS.
    pub const MAPPED_ADDRESS: AttributeType = AttributeType(0x0001);
    /// USERNAME.
    pub const USERNAME: AttributeType = AttributeType(0x0006);
    /// MESSAGE-INTEGRITY.
    pub const MESSAGE_INTEGRITY: AttributeType = AttributeType(0x0008);
    /// ERROR-CODE.
    pub const ERROR_CODE: AttributeType = AttributeType(0x0009);
    /// UNKNOWN-ATTRIBUTES.
    pub const UNKNOWN_ATTRIBUTES: AttributeType = AttributeType(0x000A);
    /// CHANNEL-NUMBER (RFC 8656).
    pub const CHANNEL_NUMBER: AttributeType = AttributeType(0x000C);
    /// LIFETIME (RFC 8656).
    pub const LIFETIME: AttributeType = AttributeType(0x000D);
    /// XOR-PEER-ADDRESS (RFC 8656).
    pub const XOR_PEER_ADDRESS: AttributeType = AttributeType(0x0012);
    /// DATA (RFC 8656).
    pub const DATA: AttributeType = AttributeType(0x0013);
    /// REALM.
    pub const REALM: AttributeType = AttributeType(0x0014);
    /// NONCE.
    pub const NONCE: AttributeType = AttributeType(0x0015);
    /// XOR-RELAYED-ADDRESS (RFC 8656).
    pub const XOR_RELAYED_ADDRESS: AttributeType = AttributeType(0x0016);
    /// REQUESTED-ADDRESS-FAMILY (RFC 8656 §18.8).
    pub const REQUESTED_ADDRESS_FAMILY: AttributeType = AttributeType(0x0017);
    /// REQUESTED-TRANSPORT (RFC 8656).
    pub const REQUESTED_TRANSPORT: AttributeType = AttributeType(0x0019);
    /// XOR-MAPPED-ADDRESS.
    pub const XOR_MAPPED_ADDRESS: AttributeType = AttributeType(0x0020);
    /// PRIORITY (RFC 8445 §16.1).
    pub const PRIORITY: AttributeType = AttributeType(0x0024);
    /// USE-CANDIDATE (RFC 8445 §16.1).
    pub const USE_CANDIDATE: AttributeType = AttributeType(0x0025);
    /// SOFTWARE.
    pub const SOFTWARE: AttributeType = AttributeType(0x8022);
    /// ALTERNATE-SERVER (RFC 8489 §14.15).
    pub const ALTERNATE_SERVER: AttributeType = AttributeType(0x8023);
    /// FINGERPRINT.
    pub const FINGERPRINT: AttributeType = AttributeType(0x8028);
    /// ICE-CONTROLLED (RFC 8445 §16.1).
    pub const ICE_CONTROLLED: AttributeType = AttributeType(0x8029);
    /// ICE-CONTROLLING (RFC 8445 §16.1).
    pub const ICE_CONTROLLING: AttributeType = AttributeType(0x802A);

    /// RFC 8489 §14: types 0x0000-0x7FFF are comprehension-required.
    pub const fn is_comprehension_required(self) -> bool {
        self.0 < 0x8000
    }

    /// Whether this codec understands the type.
    pub fn is_known(self) -> bool {
        self.name().is_some()
    }

    /// The registered name, for the types this codec knows.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::MAPPED_ADDRESS => "MAPPED-ADDRESS",
            Self::USERNAME => "USERNAME",
            Self::MESSAGE_INTEGRITY => "MESSAGE-INTEGRITY",
            Self::ERROR_CODE => "ERROR-CODE",
            Self::UNKNOWN_ATTRIBUTES => "UNKNOWN-ATTRIBUTES",
            Self::CHANNEL_NUMBER => "CHANNEL-NUMBER",
            Self::LIFETIME => "LIFETIME",
            Self::XOR_PEER_ADDRESS => "XOR-PEER-ADDRESS",
            Self::DATA => "DATA",
            Self::REALM => "REALM",
            Self::NONCE => "NONCE",
            Self::XOR_RELAYED_ADDRESS => "XOR-RELAYED-ADDRESS",
            Self::REQUESTED_ADDRESS_FAMILY => "REQUESTED-ADDRESS-FAMILY",
            Self::REQUESTED_TRANSPORT => "REQUESTED-TRANSPORT",
            Self::XOR_MAPPED_ADDRESS => "XOR-MAPPED-ADDRESS",
            Self::PRIORITY => "PRIORITY",
            Self::USE_CANDIDATE => "USE-CANDIDATE",
            Self::SOFTWARE => "SOFTWARE",
            Self::ALTERNATE_SERVER => "ALTERNATE-SERVER",
            Self::FINGERPRINT => "FINGERPRINT",
            Self::ICE_CONTROLLED => "ICE-CONTROLLED",
            Self::ICE_CONTROLLING => "ICE-CONTROLLING",
            _ => return None,
        })
    }
}

impl fmt::Display for AttributeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n} (0x{:04x})", self.0),
            None => write!(f, "0x{:04x}", self.0),
        }
    }
}

/// ERROR-CODE (RFC 8489 §14.8): a code from 300 to 699 and a reason phrase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode<'a> {
    /// The code, `class * 100 + number`.
    pub code: u16,
    /// The reason phrase (UTF-8, at most 128 characters).
    pub reason: &'a str,
}

impl ErrorCode<'static> {
    /// 300 Try Alternate.
    pub const TRY_ALTERNATE: ErrorCode<'static> = ErrorCode {
        code: 300,
        reason: "Try Alternate",
    };
    /// 400 Bad Request.
    pub const BAD_REQUEST: ErrorCode<'static> = ErrorCode {
        code: 400,
        reason: "Bad Request",
    };
    /// 401 Unauthenticated.
    pub const UNAUTHENTICATED: ErrorCode<'static> = ErrorCode {
        code: 401,
        reason: "Unauthenticated",
    };
    /// 420 Unknown Attribute.
    pub const UNKNOWN_ATTRIBUTE: ErrorCode<'static> = ErrorCode {
        code: 420,
        reason: "Unknown Attribute",
    };
    /// 438 Stale Nonce.
    pub const STALE_NONCE: ErrorCode<'static> = ErrorCode {
        code: 438,
        reason: "Stale Nonce",
    };
    /// 487 Role Conflict (RFC 8445 §7.3.1.1).
    pub const ROLE_CONFLICT: ErrorCode<'static> = ErrorCode {
        code: 487,
        reason: "Role Conflict",
    };
    /// 500 Server Error.
    pub const SERVER_ERROR: ErrorCode<'static> = ErrorCode {
        code: 500,
        reason: "Server Error",
    };
}

/// The list of UNKNOWN-ATTRIBUTES (RFC 8489 §14.9), read from the message without copying.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct UnknownAttributes<'a>(&'a [u8]);

impl<'a> UnknownAttributes<'a> {
    /// The listed types.
    pub fn iter(&self) -> impl Iterator<Item = AttributeType> + 'a {
        self.0
            .chunks_exact(2)
            .map(|c| AttributeType(u16::from_be_bytes([c[0], c[1]])))
    }

    /// The raw value (a sequence of 16-bit types).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// Wraps raw bytes; `None` when their length is odd.
    pub fn from_bytes(bytes: &'a [u8]) -> Option<Self> {
        (bytes.len() % 2 == 0).then_some(UnknownAttributes(bytes))
    }
}

impl fmt::Debug for UnknownAttributes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// A decoded attribute. Strings and byte strings borrow from the message.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attribute<'a> {
    /// MAPPED-ADDRESS (RFC 8489 §14.1), what RFC 3489 servers return.
    MappedAddress(SocketAddr),
    /// XOR-MAPPED-ADDRESS (RFC 8489 §14.2).
    XorMappedAddress(SocketAddr),
    /// USERNAME (RFC 8489 §14.3); in ICE `peer-ufrag:own-ufrag` (RFC 8445 §7.2.2).
    Username(&'a str),
    /// MESSAGE-INTEGRITY (RFC 8489 §14.5): the HMAC-SHA1 as received.
    MessageIntegrity(&'a [u8; 20]),
    /// FINGERPRINT (RFC 8489 §14.7): the value as received.
    Fingerprint(u32),
    /// ERROR-CODE (RFC 8489 §14.8).
    ErrorCode(ErrorCode<'a>),
    /// UNKNOWN-ATTRIBUTES (RFC 8489 §14.9).
    UnknownAttributes(UnknownAttributes<'a>),
    /// REALM (RFC 8489 §14.9).
    Realm(&'a str),
    /// NONCE (RFC 8489 §14.10).
    Nonce(&'a str),
    /// SOFTWARE (RFC 8489 §14.14).
    Software(&'a str),
    /// PRIORITY (RFC 8445 §7.1.1).
    Priority(u32),
    /// USE-CANDIDATE (RFC 8445 §7.1.2).
    UseCandidate,
    /// ICE-CONTROLLED with the tie-breaker (RFC 8445 §7.1.3).
    IceControlled(u64),
    /// ICE-CONTROLLING with the tie-breaker (RFC 8445 §7.1.3).
    IceControlling(u64),
    /// LIFETIME in seconds (RFC 8656 §18.4).
    Lifetime(u32),
    /// XOR-RELAYED-ADDRESS (RFC 8656 §18.5).
    XorRelayedAddress(SocketAddr),
    /// XOR-PEER-ADDRESS (RFC 8656 §18.3).
    XorPeerAddress(SocketAddr),
    /// DATA (RFC 8656 §18.4).
    Data(&'a [u8]),
    /// REQUESTED-TRANSPORT: an IP protocol number, 17 for UDP (RFC 8656 §18.7).
    RequestedTransport(u8),
    /// CHANNEL-NUMBER, 0x4000 to 0x4FFF (RFC 8656 §18.1).
    ChannelNumber(u16),
    /// REQUESTED-ADDRESS-FAMILY: 0x01 for IPv4, 0x02 for IPv6 (RFC 8656 §18.8).
    RequestedAddressFamily(u8),
    /// ALTERNATE-SERVER (RFC 8489 §14.15): where a 300 Try Alternate sends the client; an
    /// address encoded as MAPPED-ADDRESS is, without XOR.
    AlternateServer(SocketAddr),
    /// Any other attribute, kept as type and value.
    Other {
        /// The type.
        attr_type: AttributeType,
        /// The value, without padding.
        value: &'a [u8],
    },
}

/// Longest USERNAME value (RFC 8489 §14.3: "less than 513 bytes").
pub(crate) const MAX_USERNAME: usize = 512;
/// Longest REALM, NONCE and SOFTWARE values: 763 bytes (RFC 8489 §14.9, §14.10, §14.14).
pub(crate) const MAX_TEXT: usize = 763;

fn bad(attr_type: AttributeType, reason: &'static str) -> DecodeError {
    DecodeError::BadAttribute {
        attr_type: attr_type.0,
        reason,
    }
}

#[inline]
fn text(t: AttributeType, v: &[u8], max: usize) -> Result<&str, DecodeError> {
    if v.len() > max {
        return Err(bad(t, "value is longer than the RFC allows"));
    }
    std::str::from_utf8(v).map_err(|_| bad(t, "value is not UTF-8"))
}

#[inline]
fn fixed<const N: usize>(t: AttributeType, v: &[u8]) -> Result<[u8; N], DecodeError> {
    v.try_into()
        .map_err(|_| bad(t, "value has the wrong length"))
}

/// XOR mask of an address family (RFC 8489 §14.2): the cookie, then the transaction ID.
fn xor_mask(tid: &TransactionId) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    m[4..].copy_from_slice(tid.as_bytes());
    m
}

fn decode_address(
    t: AttributeType,
    v: &[u8],
    xor: Option<&TransactionId>,
) -> Result<SocketAddr, DecodeError> {
    if v.len() < 4 {
        return Err(bad(t, "value is shorter than an address"));
    }
    let mask = xor.map(xor_mask);
    let mut port = u16::from_be_bytes([v[2], v[3]]);
    if mask.is_some() {
        port ^= (MAGIC_COOKIE >> 16) as u16;
    }
    let ip = match (v[1], v.len()) {
        (0x01, 8) => {
            let mut a: [u8; 4] = fixed(t, &v[4..8])?;
            if let Some(m) = &mask {
                a.iter_mut().zip(m).for_each(|(b, k)| *b ^= k);
            }
            IpAddr::V4(Ipv4Addr::from(a))
        }
        (0x02, 20) => {
            let mut a: [u8; 16] = fixed(t, &v[4..20])?;
            if let Some(m) = &mask {
                a.iter_mut().zip(m).for_each(|(b, k)| *b ^= k);
            }
            IpAddr::V6(Ipv6Addr::from(a))
        }
        (0x01 | 0x02, _) => return Err(bad(t, "address length does not match its family")),
        _ => return Err(bad(t, "unknown address family")),
    };
    Ok(SocketAddr::new(ip, port))
}

impl<'a> Attribute<'a> {
    /// Decodes the value `v` of an attribute of type `t`; `tid` unmasks XOR addresses.
    #[inline]
    pub fn decode(t: AttributeType, v: &'a [u8], tid: &TransactionId) -> Result<Self, DecodeError> {
        Ok(match t {
            AttributeType::MAPPED_ADDRESS => Attribute::MappedAddress(decode_address(t, v, None)?),
            AttributeType::ALTERNATE_SERVER => {
                Attribute::AlternateServer(decode_address(t, v, None)?)
            }
            AttributeType::XOR_MAPPED_ADDRESS => {
                Attribute::XorMappedAddress(decode_address(t, v, Some(tid))?)
            }
            AttributeType::XOR_PEER_ADDRESS => {
                Attribute::XorPeerAddress(decode_address(t, v, Some(tid))?)
            }
            AttributeType::XOR_RELAYED_ADDRESS => {
                Attribute::XorRelayedAddress(decode_address(t, v, Some(tid))?)
            }
            AttributeType::USERNAME => Attribute::Username(text(t, v, MAX_USERNAME)?),
            AttributeType::REALM => Attribute::Realm(text(t, v, MAX_TEXT)?),
            AttributeType::NONCE => Attribute::Nonce(text(t, v, MAX_TEXT)?),
            AttributeType::SOFTWARE => Attribute::Software(text(t, v, MAX_TEXT)?),
            AttributeType::MESSAGE_INTEGRITY => Attribute::MessageIntegrity(
                v.try_into().map_err(|_| bad(t, "value is not 20 bytes"))?,
            ),
            AttributeType::FINGERPRINT => Attribute::Fingerprint(u32::from_be_bytes(fixed(t, v)?)),
            AttributeType::ERROR_CODE => {
                if v.len() < 4 {
                    return Err(bad(t, "value is shorter than 4 bytes"));
                }
                let (class, number) = (u16::from(v[2] & 0x07), u16::from(v[3]));
                if !(3..=6).contains(&class) || number > 99 {
                    return Err(bad(t, "code is not 300 to 699"));
                }
                Attribute::ErrorCode(ErrorCode {
                    code: class * 100 + number,
                    reason: text(t, &v[4..], MAX_TEXT)?,
                })
            }
            AttributeType::UNKNOWN_ATTRIBUTES => Attribute::UnknownAttributes(
                UnknownAttributes::from_bytes(v).ok_or(bad(t, "value length is odd"))?,
            ),
            AttributeType::PRIORITY => Attribute::Priority(u32::from_be_bytes(fixed(t, v)?)),
            AttributeType::USE_CANDIDATE => {
                if !v.is_empty() {
                    return Err(bad(t, "value is not empty"));
                }
                Attribute::UseCandidate
            }
            AttributeType::ICE_CONTROLLED => {
                Attribute::IceControlled(u64::from_be_bytes(fixed(t, v)?))
            }
            AttributeType::ICE_CONTROLLING => {
                Attribute::IceControlling(u64::from_be_bytes(fixed(t, v)?))
            }
            AttributeType::LIFETIME => Attribute::Lifetime(u32::from_be_bytes(fixed(t, v)?)),
            AttributeType::DATA => Attribute::Data(v),
            AttributeType::REQUESTED_TRANSPORT => {
                let b: [u8; 4] = fixed(t, v)?;
                Attribute::RequestedTransport(b[0])
            }
            AttributeType::CHANNEL_NUMBER => {
                let b: [u8; 4] = fixed(t, v)?;
                Attribute::ChannelNumber(u16::from_be_bytes([b[0], b[1]]))
            }
            AttributeType::REQUESTED_ADDRESS_FAMILY => {
                let b: [u8; 4] = fixed(t, v)?;
                Attribute::RequestedAddressFamily(b[0])
            }
            _ => Attribute::Other {
                attr_type: t,
                value: v,
            },
        })
    }

    /// The attribute's type.
    #[inline]
    pub fn attr_type(&self) -> AttributeType {
        match self {
            Attribute::MappedAddress(_) => AttributeType::MAPPED_ADDRESS,
            Attribute::XorMappedAddress(_) => AttributeType::XOR_MAPPED_ADDRESS,
            Attribute::Username(_) => AttributeType::USERNAME,
            Attribute::MessageIntegrity(_) => AttributeType::MESSAGE_INTEGRITY,
            Attribute::Fingerprint(_) => AttributeType::FINGERPRINT,
            Attribute::ErrorCode(_) => AttributeType::ERROR_CODE,
            Attribute::UnknownAttributes(_) => AttributeType::UNKNOWN_ATTRIBUTES,
            Attribute::Realm(_) => AttributeType::REALM,
            Attribute::Nonce(_) => AttributeType::NONCE,
            Attribute::Software(_) => AttributeType::SOFTWARE,
            Attribute::Priority(_) => AttributeType::PRIORITY,
            Attribute::UseCandidate => AttributeType::USE_CANDIDATE,
            Attribute::IceControlled(_) => AttributeType::ICE_CONTROLLED,
            Attribute::IceControlling(_) => AttributeType::ICE_CONTROLLING,
            Attribute::Lifetime(_) => AttributeType::LIFETIME,
            Attribute::XorRelayedAddress(_) => AttributeType::XOR_RELAYED_ADDRESS,
            Attribute::XorPeerAddress(_) => AttributeType::XOR_PEER_ADDRESS,
            Attribute::Data(_) => AttributeType::DATA,
            Attribute::RequestedTransport(_) => AttributeType::REQUESTED_TRANSPORT,
            Attribute::ChannelNumber(_) => AttributeType::CHANNEL_NUMBER,
            Attribute::RequestedAddressFamily(_) => AttributeType::REQUESTED_ADDRESS_FAMILY,
            Attribute::AlternateServer(_) => AttributeType::ALTERNATE_SERVER,
            Attribute::Other { attr_type, .. } => *attr_type,
        }
    }

    /// Length of the encoded value, without padding.
    #[inline]
    pub(crate) fn value_len(&self) -> usize {
        let addr = |a: &SocketAddr| if a.is_ipv4() { 8 } else { 20 };
        match self {
            Attribute::MappedAddress(a)
            | Attribute::AlternateServer(a)
            | Attribute::XorMappedAddress(a)
            | Attribute::XorRelayedAddress(a)
            | Attribute::XorPeerAddress(a) => addr(a),
            Attribute::Username(s)
            | Attribute::Realm(s)
            | Attribute::Nonce(s)
            | Attribute::Software(s) => s.len(),
            Attribute::MessageIntegrity(_) => 20,
            Attribute::ErrorCode(e) => 4 + e.reason.len(),
            Attribute::UnknownAttributes(u) => u.as_bytes().len(),
            Attribute::UseCandidate => 0,
            Attribute::Fingerprint(_)
            | Attribute::Priority(_)
            | Attribute::Lifetime(_)
            | Attribute::RequestedTransport(_)
            | Attribute::RequestedAddressFamily(_)
            | Attribute::ChannelNumber(_) => 4,
            Attribute::IceControlled(_) | Attribute::IceControlling(_) => 8,
            Attribute::Data(d) => d.len(),
            Attribute::Other { value, .. } => value.len(),
        }
    }

    /// Writes the value into `out` (exactly [`Self::value_len`] bytes); `tid` masks XOR
    /// addresses. Returns a reason when the value cannot be encoded.
    #[inline]
    pub(crate) fn encode_value(
        &self,
        out: &mut [u8],
        tid: &TransactionId,
    ) -> Result<(), &'static str> {
        fn address(out: &mut [u8], a: &SocketAddr, tid: Option<&TransactionId>) {
            let mask = tid.map(xor_mask);
            out[0] = 0;
            let mut port = a.port();
            if mask.is_some() {
                port ^= (MAGIC_COOKIE >> 16) as u16;
            }
            out[2..4].copy_from_slice(&port.to_be_bytes());
            let bytes: &mut [u8] = match a.ip() {
                IpAddr::V4(ip) => {
                    out[1] = 0x01;
                    out[4..8].copy_from_slice(&ip.octets());
                    &mut out[4..8]
                }
                IpAddr::V6(ip) => {
                    out[1] = 0x02;
                    out[4..20].copy_from_slice(&ip.octets());
                    &mut out[4..20]
                }
            };
            if let Some(m) = mask {
                bytes.iter_mut().zip(m).for_each(|(b, k)| *b ^= k);
            }
        }
        match self {
            Attribute::MappedAddress(a) | Attribute::AlternateServer(a) => address(out, a, None),
            Attribute::XorMappedAddress(a)
            | Attribute::XorRelayedAddress(a)
            | Attribute::XorPeerAddress(a) => address(out, a, Some(tid)),
            Attribute::Username(s) => {
                if s.len() > MAX_USERNAME {
                    return Err("USERNAME is longer than 512 bytes");
                }
                out.copy_from_slice(s.as_bytes());
            }
            Attribute::Realm(s) | Attribute::Nonce(s) | Attribute::Software(s) => {
                if s.len() > MAX_TEXT {
                    return Err("value is longer than 763 bytes");
                }
                out.copy_from_slice(s.as_bytes());
            }
            Attribute::MessageIntegrity(m) => out.copy_from_slice(&m[..]),
            Attribute::Fingerprint(v) | Attribute::Priority(v) | Attribute::Lifetime(v) => {
                out.copy_from_slice(&v.to_be_bytes());
            }
            Attribute::ErrorCode(e) => {
                if !(300..=699).contains(&e.code) {
                    return Err("ERROR-CODE is not 300 to 699");
                }
                if e.reason.len() > MAX_TEXT {
                    return Err("reason phrase is longer than 763 bytes");
                }
                out[0] = 0;
                out[1] = 0;
                out[2] = (e.code / 100) as u8;
                out[3] = (e.code % 100) as u8;
                out[4..].copy_from_slice(e.reason.as_bytes());
            }
            Attribute::UnknownAttributes(u) => out.copy_from_slice(u.as_bytes()),
            Attribute::UseCandidate => {}
            Attribute::IceControlled(v) | Attribute::IceControlling(v) => {
                out.copy_from_slice(&v.to_be_bytes())
            }
            Attribute::Data(d) => out.copy_from_slice(d),
            Attribute::RequestedTransport(p) | Attribute::RequestedAddressFamily(p) => {
                out.copy_from_slice(&[*p, 0, 0, 0])
            }
            Attribute::ChannelNumber(c) => {
                out[..2].copy_from_slice(&c.to_be_bytes());
                out[2..].fill(0);
            }
            Attribute::Other { value, .. } => out.copy_from_slice(value),
        }
        Ok(())
    }
}
