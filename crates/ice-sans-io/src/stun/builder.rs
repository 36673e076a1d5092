//! Writing a message into the caller's buffer.

use std::fmt;

use super::attr::{Attribute, AttributeType};
use super::integrity::{self, IntegrityKey};
use super::{
    Class, HEADER_LEN, MAGIC_COOKIE, MAX_MESSAGE_LEN, Method, TransactionId, message_type,
};

/// Why a message could not be built.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildError {
    /// The caller's buffer is too small for what was added.
    BufferTooSmall {
        /// Bytes the message would need.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// Only FINGERPRINT may follow MESSAGE-INTEGRITY (RFC 8489 §14.5).
    AfterIntegrity(AttributeType),
    /// Nothing may follow FINGERPRINT (RFC 8489 §14.7).
    AfterFingerprint(AttributeType),
    /// MESSAGE-INTEGRITY and FINGERPRINT are computed: add them with
    /// [`MessageBuilder::add_integrity`] and [`MessageBuilder::add_fingerprint`].
    Computed(AttributeType),
    /// A value the attribute cannot carry.
    BadValue {
        /// The attribute.
        attr_type: AttributeType,
        /// What is wrong.
        reason: &'static str,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::BufferTooSmall { needed, available } => {
                write!(
                    f,
                    "the message needs {needed} bytes, the buffer has {available}"
                )
            }
            BuildError::AfterIntegrity(t) => {
                write!(
                    f,
                    "{t} cannot follow MESSAGE-INTEGRITY; only FINGERPRINT can (RFC 8489 §14.5)"
                )
            }
            BuildError::AfterFingerprint(t) => {
                write!(f, "{t} cannot follow FINGERPRINT (RFC 8489 §14.7)")
            }
            BuildError::Computed(t) => write!(f, "{t} is computed by the builder, not added"),
            BuildError::BadValue { attr_type, reason } => write!(f, "{attr_type}: {reason}"),
        }
    }
}

impl std::error::Error for BuildError {}

/// Builds one message in a caller's buffer, without allocating.
///
/// Add attributes in order, then [`Self::add_integrity`] and [`Self::add_fingerprint`] as
/// needed, then [`Self::finish`]. Padding is written as zeros (RFC 8489 §14).
#[derive(Debug)]
pub struct MessageBuilder<'b> {
    buf: &'b mut [u8],
    len: usize,
    tid: TransactionId,
    integrity: bool,
    fingerprint: bool,
}

impl<'b> MessageBuilder<'b> {
    /// Starts a message of `class` and `method` with `tid` (and the magic cookie) in `buf`.
    #[inline]
    pub fn new(
        buf: &'b mut [u8],
        class: Class,
        method: Method,
        tid: TransactionId,
    ) -> Result<Self, BuildError> {
        if buf.len() < HEADER_LEN {
            return Err(BuildError::BufferTooSmall {
                needed: HEADER_LEN,
                available: buf.len(),
            });
        }
        buf[..2].copy_from_slice(&message_type(class, method).to_be_bytes());
        buf[2..4].fill(0);
        buf[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
        buf[8..20].copy_from_slice(tid.as_bytes());
        Ok(MessageBuilder {
            buf,
            len: HEADER_LEN,
            tid,
            integrity: false,
            fingerprint: false,
        })
    }

    /// Reserves room for an attribute with a value of `value_len` bytes; returns the value's
    /// range, with the padding already zeroed.
    #[inline]
    fn reserve(
        &mut self,
        t: AttributeType,
        value_len: usize,
    ) -> Result<std::ops::Range<usize>, BuildError> {
        let total = self.len + 4 + ((value_len + 3) & !3);
        if value_len > 0xFFFF || total > MAX_MESSAGE_LEN {
            return Err(BuildError::BadValue {
                attr_type: t,
                reason: "the message would exceed 65535 bytes",
            });
        }
        if total > self.buf.len() {
            return Err(BuildError::BufferTooSmall {
                needed: total,
                available: self.buf.len(),
            });
        }
        let o = self.len;
        self.buf[o..o + 2].copy_from_slice(&t.0.to_be_bytes());
        self.buf[o + 2..o + 4].copy_from_slice(&(value_len as u16).to_be_bytes());
        self.buf[o + 4 + value_len..total].fill(0);
        self.len = total;
        self.set_length(total);
        Ok(o + 4..o + 4 + value_len)
    }

    #[inline]
    fn set_length(&mut self, total: usize) {
        self.buf[2..4].copy_from_slice(&((total - HEADER_LEN) as u16).to_be_bytes());
    }

    /// Adds an attribute.
    #[inline]
    pub fn add(&mut self, attr: &Attribute<'_>) -> Result<(), BuildError> {
        let t = attr.attr_type();
        if self.fingerprint {
            return Err(BuildError::AfterFingerprint(t));
        }
        if self.integrity {
            return Err(BuildError::AfterIntegrity(t));
        }
        if t == AttributeType::MESSAGE_INTEGRITY || t == AttributeType::FINGERPRINT {
            return Err(BuildError::Computed(t));
        }
        let before = self.len;
        let range = self.reserve(t, attr.value_len())?;
        let tid = self.tid;
        if let Err(reason) = attr.encode_value(&mut self.buf[range], &tid) {
            self.len = before;
            self.set_length(before);
            return Err(BuildError::BadValue {
                attr_type: t,
                reason,
            });
        }
        Ok(())
    }

    /// Adds MESSAGE-INTEGRITY computed with `key` over everything added so far (RFC 8489 §14.5).
    #[inline]
    pub fn add_integrity(&mut self, key: &IntegrityKey) -> Result<(), BuildError> {
        let t = AttributeType::MESSAGE_INTEGRITY;
        if self.fingerprint {
            return Err(BuildError::AfterFingerprint(t));
        }
        if self.integrity {
            return Err(BuildError::AfterIntegrity(t));
        }
        let at = self.len;
        let range = self.reserve(t, 20)?;
        // The length field now covers MESSAGE-INTEGRITY, as the HMAC requires.
        let mac = key.sign(&[&self.buf[..at]]);
        self.buf[range].copy_from_slice(&mac);
        self.integrity = true;
        Ok(())
    }

    /// Adds FINGERPRINT over everything added so far (RFC 8489 §14.7). It must be last.
    #[inline]
    pub fn add_fingerprint(&mut self) -> Result<(), BuildError> {
        let t = AttributeType::FINGERPRINT;
        if self.fingerprint {
            return Err(BuildError::AfterFingerprint(t));
        }
        let at = self.len;
        let range = self.reserve(t, 4)?;
        let crc = integrity::fingerprint(&[&self.buf[..at]]);
        self.buf[range].copy_from_slice(&crc.to_be_bytes());
        self.fingerprint = true;
        Ok(())
    }

    /// The length of the message so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether only the header has been written.
    pub fn is_empty(&self) -> bool {
        self.len == HEADER_LEN
    }

    /// Ends the message; returns its length (the message is `buf[..len]`).
    #[inline]
    pub fn finish(self) -> usize {
        self.len
    }
}
