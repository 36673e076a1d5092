//! The decoded view of a received message.

use std::fmt;
use std::net::SocketAddr;

use super::attr::{Attribute, AttributeType, ErrorCode, UnknownAttributes};
use super::integrity::{self, Fingerprint, Integrity, IntegrityKey};
use super::{Class, DecodeError, HEADER_LEN, MAGIC_COOKIE, Method, TransactionId};

/// One attribute as it lies in the message: type, value (without padding) and offset.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RawAttribute<'a> {
    /// The type.
    pub attr_type: AttributeType,
    /// The value, without padding.
    pub value: &'a [u8],
    /// Offset of the attribute header in the message.
    pub offset: usize,
}

impl fmt::Debug for RawAttribute<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at {} ({} bytes)",
            self.attr_type,
            self.offset,
            self.value.len()
        )
    }
}

/// Walks the attributes of `buf[from..to]`, which `Message::decode` has validated.
#[derive(Clone)]
pub struct RawAttributes<'a> {
    buf: &'a [u8],
    offset: usize,
    end: usize,
    skip_from: usize,
    skip_to: usize,
}

impl<'a> Iterator for RawAttributes<'a> {
    type Item = RawAttribute<'a>;

    fn next(&mut self) -> Option<RawAttribute<'a>> {
        loop {
            if self.offset + 4 > self.end {
                return None;
            }
            let o = self.offset;
            let t = u16::from_be_bytes([self.buf[o], self.buf[o + 1]]);
            let len = usize::from(u16::from_be_bytes([self.buf[o + 2], self.buf[o + 3]]));
            self.offset = o + 4 + ((len + 3) & !3);
            if (self.skip_from..self.skip_to).contains(&o) {
                continue;
            }
            return Some(RawAttribute {
                attr_type: AttributeType(t),
                value: self.buf.get(o + 4..o + 4 + len)?,
                offset: o,
            });
        }
    }
}

/// A STUN message decoded from received bytes, without copying them.
///
/// [`Message::decode`] validates the header and every attribute the message counts (all up to
/// MESSAGE-INTEGRITY, MESSAGE-INTEGRITY itself and FINGERPRINT), so the getters cannot fail:
/// a malformed value is a [`DecodeError`], to which an agent answers 400 (RFC 8489 §6.3), using
/// [`Message::peek_header`] for the transaction ID.
///
/// Attributes after MESSAGE-INTEGRITY other than FINGERPRINT are ignored (RFC 8489 §14.5): no
/// getter and no iterator but [`Message::ignored_attributes`] returns them, and they are never
/// decoded or validated.
#[derive(Clone)]
pub struct Message<'a> {
    buf: &'a [u8],
    msg_type: u16,
    cookie: bool,
    tid: TransactionId,
    integrity_at: Option<usize>,
    fingerprint_at: Option<usize>,
    ignored: usize,
    // What an agent reads from every check, recorded during the one validating pass (the
    // first occurrence before MESSAGE-INTEGRITY, RFC 8489 §14).
    username: Option<&'a str>,
    priority: Option<u32>,
    ice_controlling: Option<u64>,
    ice_controlled: Option<u64>,
    use_candidate: bool,
}

impl fmt::Debug for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("class", &self.class())
            .field("method", &self.method())
            .field("transaction_id", &self.tid)
            .field("rfc3489", &!self.cookie)
            .field("attributes", &self.attributes().collect::<Vec<_>>())
            .finish()
    }
}

impl<'a> Message<'a> {
    /// Class, method and transaction ID of bytes that carry a STUN header, even when the rest
    /// does not decode: enough to answer 400.
    pub fn peek_header(buf: &[u8]) -> Option<(Class, Method, TransactionId)> {
        let h: &[u8; HEADER_LEN] = buf.get(..HEADER_LEN)?.try_into().ok()?;
        if h[0] & 0xC0 != 0 {
            return None;
        }
        let t = u16::from_be_bytes([h[0], h[1]]);
        let tid: [u8; 12] = h[8..20].try_into().ok()?;
        Some((
            Class::from_type(t),
            Method::from_type(t),
            TransactionId(tid),
        ))
    }

    /// Decodes and validates `buf`, which must hold exactly one message.
    #[inline]
    pub fn decode(buf: &'a [u8]) -> Result<Self, DecodeError> {
        if buf.len() < HEADER_LEN {
            return Err(DecodeError::TooShort { len: buf.len() });
        }
        if buf[0] & 0xC0 != 0 {
            return Err(DecodeError::NotStun);
        }
        let msg_type = u16::from_be_bytes([buf[0], buf[1]]);
        let length = u16::from_be_bytes([buf[2], buf[3]]);
        if length % 4 != 0 {
            return Err(DecodeError::UnalignedLength { length });
        }
        if usize::from(length) != buf.len() - HEADER_LEN {
            return Err(DecodeError::LengthMismatch {
                length,
                actual: buf.len() - HEADER_LEN,
            });
        }
        let cookie = buf[4..8] == MAGIC_COOKIE.to_be_bytes();
        let mut tid = [0u8; 12];
        tid.copy_from_slice(&buf[8..20]);
        let tid = TransactionId(tid);
        let mut m = Message {
            buf,
            msg_type,
            cookie,
            tid,
            integrity_at: None,
            fingerprint_at: None,
            ignored: 0,
            username: None,
            priority: None,
            ice_controlling: None,
            ice_controlled: None,
            use_candidate: false,
        };

        let mut o = HEADER_LEN;
        while o < buf.len() {
            // The length is a multiple of 4, so at least 4 bytes remain.
            let t = AttributeType(u16::from_be_bytes([buf[o], buf[o + 1]]));
            let len = usize::from(u16::from_be_bytes([buf[o + 2], buf[o + 3]]));
            let next = o + 4 + ((len + 3) & !3);
            if next > buf.len() {
                return Err(DecodeError::AttributeOverflow {
                    attr_type: t.0,
                    offset: o,
                });
            }
            let value = &buf[o + 4..o + 4 + len];
            if t == AttributeType::FINGERPRINT {
                if next != buf.len() {
                    return Err(DecodeError::FingerprintNotLast { offset: o });
                }
                Attribute::decode(t, value, &tid)?;
                m.fingerprint_at = Some(o);
            } else if m.integrity_at.is_some() {
                // RFC 8489 §14.5: "Agents MUST ignore all other attributes that follow
                // MESSAGE-INTEGRITY, with the exception of the FINGERPRINT attribute."
                m.ignored += 1;
            } else {
                match Attribute::decode(t, value, &tid)? {
                    Attribute::MessageIntegrity(_) => m.integrity_at = Some(o),
                    Attribute::Username(u) => {
                        m.username.get_or_insert(u);
                    }
                    Attribute::Priority(p) => {
                        m.priority.get_or_insert(p);
                    }
                    Attribute::IceControlling(v) => {
                        m.ice_controlling.get_or_insert(v);
                    }
                    Attribute::IceControlled(v) => {
                        m.ice_controlled.get_or_insert(v);
                    }
                    Attribute::UseCandidate => m.use_candidate = true,
                    _ => {}
                }
            }
            o = next;
        }
        Ok(m)
    }

    /// The bytes of the message.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// The class.
    pub fn class(&self) -> Class {
        Class::from_type(self.msg_type)
    }

    /// The method.
    pub fn method(&self) -> Method {
        Method::from_type(self.msg_type)
    }

    /// The transaction ID (the last 12 bytes of the header).
    pub fn transaction_id(&self) -> TransactionId {
        self.tid
    }

    /// Whether the magic cookie is absent: an RFC 3489 message, whose transaction ID is the 16
    /// bytes [`Self::legacy_transaction_id`] returns. libnice sends such Binding Requests for
    /// server-reflexive discovery; a server answers them with MAPPED-ADDRESS.
    pub fn is_rfc3489(&self) -> bool {
        !self.cookie
    }

    /// The 128-bit transaction ID of RFC 3489 (cookie field included).
    pub fn legacy_transaction_id(&self) -> [u8; 16] {
        let mut t = [0u8; 16];
        t.copy_from_slice(&self.buf[4..20]);
        t
    }

    fn walk(&self, skip_from: usize, skip_to: usize, end: usize) -> RawAttributes<'a> {
        RawAttributes {
            buf: self.buf,
            offset: HEADER_LEN,
            end,
            skip_from,
            skip_to,
        }
    }

    /// The attributes that count, in order: all up to MESSAGE-INTEGRITY, MESSAGE-INTEGRITY, and
    /// FINGERPRINT.
    pub fn raw_attributes(&self) -> RawAttributes<'a> {
        match self.integrity_at {
            Some(mi) => self.walk(
                mi + 24,
                self.fingerprint_at.unwrap_or(self.buf.len()),
                self.buf.len(),
            ),
            None => self.walk(0, 0, self.buf.len()),
        }
    }

    /// The attributes that count, decoded.
    pub fn attributes(&self) -> impl Iterator<Item = Attribute<'a>> + 'a {
        let tid = self.tid;
        // Validated by `decode`: every counted attribute decodes.
        self.raw_attributes()
            .filter_map(move |a| Attribute::decode(a.attr_type, a.value, &tid).ok())
    }

    /// Attributes after MESSAGE-INTEGRITY other than FINGERPRINT: never authenticated, never
    /// acted on; for diagnostics.
    pub fn ignored_attributes(&self) -> RawAttributes<'a> {
        match self.integrity_at {
            Some(mi) if self.ignored > 0 => {
                self.walk(0, mi + 24, self.fingerprint_at.unwrap_or(self.buf.len()))
            }
            _ => self.walk(0, 0, 0),
        }
    }

    /// The first attribute of type `t` that counts.
    pub fn get(&self, t: AttributeType) -> Option<Attribute<'a>> {
        let a = self.raw_attributes().find(|a| a.attr_type == t)?;
        Attribute::decode(a.attr_type, a.value, &self.tid).ok()
    }

    /// Comprehension-required attributes this codec does not know (RFC 8489 §6.3.1): a request
    /// with any is answered 420 with UNKNOWN-ATTRIBUTES.
    pub fn unknown_comprehension_required(&self) -> impl Iterator<Item = AttributeType> + 'a {
        self.raw_attributes()
            .map(|a| a.attr_type)
            .filter(|t| t.is_comprehension_required() && !t.is_known())
    }

    /// Checks MESSAGE-INTEGRITY with `key` (RFC 8489 §14.5): HMAC-SHA1 over the message up to
    /// the attribute, with the header's length covering the message up to and including it;
    /// compared in constant time.
    #[inline]
    pub fn verify_integrity(&self, key: &IntegrityKey) -> Integrity {
        let Some(at) = self.integrity_at else {
            return Integrity::Absent;
        };
        let Ok(received) = <&[u8; 20]>::try_from(&self.buf[at + 4..at + 24]) else {
            return Integrity::Bad;
        };
        let adjusted = ((at + 24 - HEADER_LEN) as u16).to_be_bytes();
        let computed = key.sign(&[&self.buf[..2], &adjusted, &self.buf[4..at]]);
        if integrity::constant_time_eq(&computed, received) {
            Integrity::Ok
        } else {
            Integrity::Bad
        }
    }

    /// Checks FINGERPRINT (RFC 8489 §14.7): the CRC-32 of the message up to the attribute
    /// XOR 0x5354554e.
    #[inline]
    pub fn fingerprint(&self) -> Fingerprint {
        let Some(at) = self.fingerprint_at else {
            return Fingerprint::Absent;
        };
        let b = &self.buf[at + 4..at + 8];
        let received = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        // FINGERPRINT is last, so the header's length already covers it.
        let computed = integrity::fingerprint(&[&self.buf[..at]]);
        if computed == received {
            Fingerprint::Ok
        } else {
            Fingerprint::Bad { received, computed }
        }
    }

    /// Whether MESSAGE-INTEGRITY is present.
    pub fn has_integrity(&self) -> bool {
        self.integrity_at.is_some()
    }

    /// USERNAME.
    pub fn username(&self) -> Option<&'a str> {
        self.username
    }

    /// PRIORITY.
    pub fn priority(&self) -> Option<u32> {
        self.priority
    }

    /// Whether USE-CANDIDATE is present.
    pub fn use_candidate(&self) -> bool {
        self.use_candidate
    }

    /// ICE-CONTROLLING's tie-breaker.
    pub fn ice_controlling(&self) -> Option<u64> {
        self.ice_controlling
    }

    /// ICE-CONTROLLED's tie-breaker.
    pub fn ice_controlled(&self) -> Option<u64> {
        self.ice_controlled
    }

    /// XOR-MAPPED-ADDRESS, or MAPPED-ADDRESS when only that is present (RFC 3489 servers).
    pub fn mapped_address(&self) -> Option<SocketAddr> {
        let mut mapped = None;
        for a in self.attributes() {
            match a {
                Attribute::XorMappedAddress(x) => return Some(x),
                Attribute::MappedAddress(x) if mapped.is_none() => mapped = Some(x),
                _ => {}
            }
        }
        mapped
    }

    /// ERROR-CODE.
    pub fn error_code(&self) -> Option<ErrorCode<'a>> {
        match self.get(AttributeType::ERROR_CODE)? {
            Attribute::ErrorCode(e) => Some(e),
            _ => None,
        }
    }

    /// UNKNOWN-ATTRIBUTES.
    pub fn unknown_attributes(&self) -> Option<UnknownAttributes<'a>> {
        match self.get(AttributeType::UNKNOWN_ATTRIBUTES)? {
            Attribute::UnknownAttributes(u) => Some(u),
            _ => None,
        }
    }
}
