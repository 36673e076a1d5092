//! [`Framing`]: the rules by which a stream is cut into messages, and the measuring of one
//! message's header.

use super::HEADER_LEN;

/// How a stream is cut into messages: the rule a [`Deframer`](super::Deframer) reads lengths by.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Framing {
    /// RFC 4571 §2 (ICE-TCP, RFC 6544 §3): a 16-bit length, then that many bytes. A frame is
    /// the bytes after the length; the length zero is the null packet.
    Rfc4571,
    /// STUN messages and ChannelData as a TURN client and server exchange them over TCP and
    /// TLS (RFC 8656 §12.5, RFC 8489 §6.2.2), told apart by their first two bits (RFC 7983
    /// §7): `00` a STUN message of 20 bytes of header plus its length field, `01` ChannelData
    /// with channel numbers 0x4000 to 0x4FFF (RFC 8656 §12) of 4 bytes of header plus its
    /// length, padded to a multiple of 4. A frame is the whole message, header included,
    /// ChannelData without its padding. Anything else (the first bits `10` or `11`, a channel
    /// number above 0x4FFF, a STUN length that is not a multiple of 4, RFC 8489 §5) cannot be
    /// measured, so the stream cannot be followed past it: the deframer drops the rest of the
    /// stream ([`Deframer::is_broken`](super::Deframer::is_broken)) and its owner closes the connection.
    StunStream,
}

/// The header of a STUN message (RFC 8489 §5).
pub(super) const STUN_HEADER: usize = 20;

/// The header of a ChannelData message (RFC 8656 §12.4).
pub(super) const CHANNEL_HEADER: usize = 4;

/// The longest STUN message: its header and the longest length field.
pub(super) const MAX_STUN_MESSAGE: usize = STUN_HEADER + u16::MAX as usize;

/// Where a message lies in the unread bytes, once its header is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Extent {
    /// The frame's first byte, from the message's start.
    pub(super) begin: usize,
    /// The frame's length.
    pub(super) len: usize,
    /// The bytes the message takes on the stream (header, frame, padding).
    pub(super) total: usize,
}

/// What the first bytes of a message say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Measure {
    /// Not enough bytes for the header yet: at least this many are needed.
    Need(usize),
    /// The message's extent.
    Message(Extent),
    /// The bytes are no message this framing knows.
    Unframeable,
}

impl Framing {
    /// The bytes a header takes: what must arrive before a length is known.
    pub(super) fn header_len(self) -> usize {
        match self {
            Framing::Rfc4571 => HEADER_LEN,
            Framing::StunStream => CHANNEL_HEADER,
        }
    }

    /// Reads the header at the start of `unread`.
    pub(super) fn measure(self, unread: &[u8]) -> Measure {
        let [b0, b1, ..] = *unread else {
            return Measure::Need(self.header_len());
        };
        match self {
            Framing::Rfc4571 => {
                // RFC 4571 §2: the length in network byte order.
                let len = usize::from(u16::from_be_bytes([b0, b1]));
                Measure::Message(Extent {
                    begin: HEADER_LEN,
                    len,
                    total: HEADER_LEN + len,
                })
            }
            Framing::StunStream => {
                let [_, _, l0, l1, ..] = *unread else {
                    return Measure::Need(CHANNEL_HEADER);
                };
                let len = usize::from(u16::from_be_bytes([l0, l1]));
                match b0 >> 6 {
                    // RFC 8489 §5: the two most significant bits are zero, and the length
                    // (of the attributes, after the 20-byte header) a multiple of 4.
                    0b00 if len % 4 == 0 => Measure::Message(Extent {
                        begin: 0,
                        len: STUN_HEADER + len,
                        total: STUN_HEADER + len,
                    }),
                    // RFC 8656 §12: channel numbers 0x4000 through 0x4FFF; §12.5: padded to
                    // a multiple of four bytes over TCP and TLS.
                    0b01 if u16::from_be_bytes([b0, b1]) <= 0x4FFF => Measure::Message(Extent {
                        begin: 0,
                        len: CHANNEL_HEADER + len,
                        total: (CHANNEL_HEADER + len + 3) & !3,
                    }),
                    _ => Measure::Unframeable,
                }
            }
        }
    }
}
