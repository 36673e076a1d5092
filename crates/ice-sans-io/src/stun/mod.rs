//! STUN (RFC 8489) as ICE uses it: a zero-copy decoded view over received bytes
//! ([`Message`]), a builder that writes into the caller's buffer ([`MessageBuilder`]), short-term
//! and long-term integrity keys ([`IntegrityKey`]) and the FINGERPRINT.
//!
//! Decoding and verifying allocate nothing. Attributes after MESSAGE-INTEGRITY other than
//! FINGERPRINT are never returned as part of the message (RFC 8489 §14.5); they are available
//! through [`Message::ignored_attributes`] for diagnostics only.
//!
//! ```
//! use ice_sans_io::stun::{Attribute, Class, IntegrityKey, Integrity, Message, MessageBuilder, Method, TransactionId};
//!
//! let key = IntegrityKey::short_term("VOkJxbRl1RmTxUk/WvJxBt");
//! let mut buf = [0u8; 256];
//! let tid = TransactionId::new([7; 12]);
//! let mut b = MessageBuilder::new(&mut buf, Class::Request, Method::BINDING, tid)?;
//! b.add(&Attribute::Username("evtj:h6vY"))?;
//! b.add(&Attribute::Priority(0x6e0001ff))?;
//! b.add(&Attribute::IceControlled(0x932ff9b151263b36))?;
//! b.add_integrity(&key)?;
//! b.add_fingerprint()?;
//! let len = b.finish();
//!
//! let msg = Message::decode(&buf[..len])?;
//! assert_eq!(msg.class(), Class::Request);
//! assert_eq!(msg.verify_integrity(&key), Integrity::Ok);
//! assert!(msg.fingerprint().is_ok());
//! assert_eq!(msg.username(), Some("evtj:h6vY"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod attr;
mod builder;
mod integrity;
mod message;

pub use attr::{Attribute, AttributeType, ErrorCode, UnknownAttributes};
pub use builder::{BuildError, MessageBuilder};
pub use integrity::{Fingerprint, Integrity, IntegrityKey};
pub use message::{Message, RawAttribute, RawAttributes};

use std::fmt;

/// The magic cookie of RFC 8489 §5, absent from RFC 3489 messages.
pub const MAGIC_COOKIE: u32 = 0x2112_A442;

/// Length of the STUN header.
pub const HEADER_LEN: usize = 20;

/// The largest message this codec decodes: a STUN message over UDP fits one datagram, and the
/// 16-bit length field bounds it anyway.
pub const MAX_MESSAGE_LEN: usize = HEADER_LEN + 0xFFFC;

/// The class of a message (RFC 8489 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// Request (C1 C0 = 0b00).
    Request,
    /// Indication (0b01).
    Indication,
    /// Success response (0b10).
    Success,
    /// Error response (0b11).
    Error,
}

impl Class {
    fn bits(self) -> u16 {
        match self {
            Class::Request => 0x0000,
            Class::Indication => 0x0010,
            Class::Success => 0x0100,
            Class::Error => 0x0110,
        }
    }

    fn from_type(t: u16) -> Self {
        match t & 0x0110 {
            0x0000 => Class::Request,
            0x0010 => Class::Indication,
            0x0100 => Class::Success,
            _ => Class::Error,
        }
    }

    /// The name RFC 8489 uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Request => "request",
            Class::Indication => "indication",
            Class::Success => "success response",
            Class::Error => "error response",
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A STUN method: 12 bits (RFC 8489 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Method(u16);

impl Method {
    /// Binding (RFC 8489).
    pub const BINDING: Method = Method(0x001);
    /// Allocate (RFC 8656).
    pub const ALLOCATE: Method = Method(0x003);
    /// Refresh (RFC 8656).
    pub const REFRESH: Method = Method(0x004);
    /// Send (RFC 8656).
    pub const SEND: Method = Method(0x006);
    /// Data (RFC 8656).
    pub const DATA: Method = Method(0x007);
    /// CreatePermission (RFC 8656).
    pub const CREATE_PERMISSION: Method = Method(0x008);
    /// ChannelBind (RFC 8656).
    pub const CHANNEL_BIND: Method = Method(0x009);

    /// A method from its 12-bit value; `None` above 0xFFF.
    pub const fn new(value: u16) -> Option<Method> {
        if value <= 0x0FFF {
            Some(Method(value))
        } else {
            None
        }
    }

    /// The 12-bit value.
    pub const fn value(self) -> u16 {
        self.0
    }

    /// The name of a registered method, if it is one.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x001 => "Binding",
            0x003 => "Allocate",
            0x004 => "Refresh",
            0x006 => "Send",
            0x007 => "Data",
            0x008 => "CreatePermission",
            0x009 => "ChannelBind",
            _ => return None,
        })
    }

    fn from_type(t: u16) -> Self {
        Method((t & 0x000F) | ((t & 0x00E0) >> 1) | ((t & 0x3E00) >> 2))
    }

    fn type_bits(self) -> u16 {
        let m = self.0;
        (m & 0x000F) | ((m & 0x0070) << 1) | ((m & 0x0F80) << 2)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "0x{:03x}", self.0),
        }
    }
}

/// The message type field: class and method (RFC 8489 §5).
pub(crate) fn message_type(class: Class, method: Method) -> u16 {
    class.bits() | method.type_bits()
}

/// A 96-bit transaction ID (RFC 8489 §5).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransactionId([u8; 12]);

impl TransactionId {
    /// A transaction ID from its bytes. Draw them from the agent's seeded RNG.
    pub const fn new(bytes: [u8; 12]) -> Self {
        TransactionId(bytes)
    }

    /// The bytes.
    pub const fn as_bytes(&self) -> &[u8; 12] {
        &self.0
    }
}

impl fmt::Debug for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TransactionId({self})")
    }
}

impl fmt::Display for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// Why bytes are not a STUN message this codec accepts.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer than 20 bytes.
    TooShort {
        /// Bytes received.
        len: usize,
    },
    /// The two most significant bits are not zero (RFC 8489 §5): not STUN (RFC 7983 would
    /// demultiplex it elsewhere).
    NotStun,
    /// The length field is not a multiple of 4 (RFC 8489 §5).
    UnalignedLength {
        /// The length field.
        length: u16,
    },
    /// The length field does not match the bytes received.
    LengthMismatch {
        /// The length field.
        length: u16,
        /// Bytes after the header.
        actual: usize,
    },
    /// An attribute's length runs past the end of the message.
    AttributeOverflow {
        /// Attribute type.
        attr_type: u16,
        /// Offset of the attribute in the message.
        offset: usize,
    },
    /// A FINGERPRINT that is not the last attribute (RFC 8489 §14.7).
    FingerprintNotLast {
        /// Offset of the FINGERPRINT attribute.
        offset: usize,
    },
    /// An attribute whose value does not fit its type.
    BadAttribute {
        /// Attribute type.
        attr_type: u16,
        /// What is wrong.
        reason: &'static str,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::TooShort { len } => write!(
                f,
                "{len} bytes is shorter than the 20-byte STUN header (RFC 8489 §5)"
            ),
            DecodeError::NotStun => {
                f.write_str("the first two bits are not zero: not a STUN message (RFC 8489 §5)")
            }
            DecodeError::UnalignedLength { length } => {
                write!(
                    f,
                    "message length {length} is not a multiple of 4 (RFC 8489 §5)"
                )
            }
            DecodeError::LengthMismatch { length, actual } => {
                write!(
                    f,
                    "message length field says {length} bytes, {actual} follow the header (RFC 8489 §5)"
                )
            }
            DecodeError::AttributeOverflow { attr_type, offset } => write!(
                f,
                "attribute {} at offset {offset} runs past the end of the message (RFC 8489 §14)",
                AttributeType(*attr_type)
            ),
            DecodeError::FingerprintNotLast { offset } => {
                write!(
                    f,
                    "FINGERPRINT at offset {offset} is not the last attribute (RFC 8489 §14.7)"
                )
            }
            DecodeError::BadAttribute { attr_type, reason } => {
                write!(f, "attribute {}: {reason}", AttributeType(*attr_type))
            }
        }
    }
}

impl std::error::Error for DecodeError {}
