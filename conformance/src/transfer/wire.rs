//! The five datagrams of a transfer, encoded and decoded (the table is in [the module's
//! documentation](super)). Decoding is strict and total: every input either decodes to the one
//! [`Datagram`] whose encoding it is (the encoding is canonical: `encode(decode(b)) == b`) or
//! is refused with a [`WireError`] saying why; nothing panics and nothing is allocated.

use std::fmt;

/// The largest chunk a transfer may use (bytes of payload in one Data datagram). A receiver
/// buffers at most [`MAX_WINDOW`] chunks, so at most 64 × 16 KiB = 1 MiB.
pub const MAX_CHUNK_LEN: usize = 16 * 1024;

/// The largest window (chunks in flight, or buffered out of order), the width of the Ack's
/// selective bitmap: a chunk the receiver may buffer is always one the bitmap can report.
pub const MAX_WINDOW: u32 = 64;

/// The longest file name a Start carries, in bytes of UTF-8 (its length is one byte).
pub const MAX_NAME_LEN: usize = 255;

/// The most chunks a transfer may have: the Ack's `next_expected` (a u32) must be able to
/// say that all of them arrived.
pub const MAX_CHUNKS: u64 = u32::MAX as u64;

/// The bytes of the header every datagram begins with: the type byte and the transfer id.
pub const HEADER_LEN: usize = 5;

/// The longest datagram: a Data datagram of [`MAX_CHUNK_LEN`] bytes.
pub const MAX_DATAGRAM_LEN: usize = HEADER_LEN + 4 + MAX_CHUNK_LEN;

/// The bit set in the type byte: types 0 to 63 give first bytes 128 to 191, the range RFC 7983
/// §7 leaves to RTP and RTCP, which no STUN (0 to 3), DTLS (20 to 63) or TURN ChannelData (64
/// to 79) message uses.
const TYPE_MARK: u8 = 0x80;

/// The bit of an Ack's flags saying that the receiver has the Start.
const FLAG_START: u8 = 0x01;

/// Whether a datagram may be one of a transfer's: its first byte is in 128..=191 (RFC 7983
/// §7). Use it to tell transfer datagrams from STUN, DTLS and ChannelData on one socket;
/// [`decode`] says whether it really is one.
#[must_use]
pub fn is_transfer_datagram(datagram: &[u8]) -> bool {
    matches!(datagram.first(), Some(128..=191))
}

/// The kind of a datagram, as its type byte says (the type is the byte minus 128).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// Type 0, sender to receiver: what is coming.
    Start,
    /// Type 1, sender to receiver: one chunk.
    Data,
    /// Type 2, receiver to sender: what has arrived.
    Ack,
    /// Type 3, sender to receiver: every chunk is acknowledged; the sender's SHA-256.
    End,
    /// Type 4, receiver to sender: the receiver's SHA-256.
    EndAck,
}

impl Kind {
    /// The kind of a type byte; `None` for a byte outside 128..=191 or an unassigned type.
    #[must_use]
    pub fn of(first_byte: u8) -> Option<Kind> {
        match first_byte {
            0x80 => Some(Kind::Start),
            0x81 => Some(Kind::Data),
            0x82 => Some(Kind::Ack),
            0x83 => Some(Kind::End),
            0x84 => Some(Kind::EndAck),
            _ => None,
        }
    }

    /// The type byte (the datagram's first byte).
    #[must_use]
    pub fn byte(self) -> u8 {
        TYPE_MARK
            | match self {
                Kind::Start => 0,
                Kind::Data => 1,
                Kind::Ack => 2,
                Kind::End => 3,
                Kind::EndAck => 4,
            }
    }

    /// Whether the receiver of a transfer takes this kind (Start, Data, End); the others
    /// (Ack, EndAck) go to its sender. A peer that both sends and receives over one socket
    /// hands each datagram to one of its two ends by this.
    #[must_use]
    pub fn to_receiver(self) -> bool {
        matches!(self, Kind::Start | Kind::Data | Kind::End)
    }

    /// The smallest encoding of this kind (a Data with one byte of payload).
    fn min_len(self) -> usize {
        HEADER_LEN
            + match self {
                Kind::Start => 8 + 2 + 1,
                Kind::Data => 4 + 1,
                Kind::Ack => 4 + 8 + 1,
                Kind::End | Kind::EndAck => 32,
            }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Start => "Start",
            Kind::Data => "Data",
            Kind::Ack => "Ack",
            Kind::End => "End",
            Kind::EndAck => "EndAck",
        })
    }
}

/// What the receiver reports in an Ack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckInfo {
    /// Every chunk below this sequence number has arrived (this one has not).
    pub next_expected: u32,
    /// Bit `i` (least significant first) set: chunk `next_expected + 1 + i` has arrived.
    pub bitmap: u64,
    /// Whether the receiver has the Start.
    pub start_received: bool,
}

/// The body of a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'a> {
    /// What is coming: the length, the chunk size and maybe a file name.
    Start {
        /// The number of bytes of the transfer.
        total_len: u64,
        /// The payload of every Data but the last, 1 to [`MAX_CHUNK_LEN`].
        chunk_len: u16,
        /// A file name: 1 to 255 bytes of UTF-8, a plain name (see [`check_name`]).
        name: Option<&'a str>,
    },
    /// One chunk: bytes `seq × chunk_len ..` of the transfer.
    Data {
        /// The chunk's sequence number.
        seq: u32,
        /// 1 to [`MAX_CHUNK_LEN`] bytes.
        payload: &'a [u8],
    },
    /// What has arrived.
    Ack(AckInfo),
    /// Every chunk is acknowledged; the SHA-256 of all the bytes sent.
    End {
        /// The sender's digest.
        sha256: [u8; 32],
    },
    /// The End arrived; the SHA-256 of all the bytes received.
    EndAck {
        /// The receiver's digest.
        sha256: [u8; 32],
    },
}

impl Message<'_> {
    /// The kind of this message.
    #[must_use]
    pub fn kind(&self) -> Kind {
        match self {
            Message::Start { .. } => Kind::Start,
            Message::Data { .. } => Kind::Data,
            Message::Ack(_) => Kind::Ack,
            Message::End { .. } => Kind::End,
            Message::EndAck { .. } => Kind::EndAck,
        }
    }
}

/// One datagram: the transfer id and the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datagram<'a> {
    /// The transfer's id, drawn at random by the sender's user.
    pub id: u32,
    /// The message.
    pub message: Message<'a>,
}

/// Why a file name is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    /// The name is empty (send no name instead).
    Empty,
    /// More than [`MAX_NAME_LEN`] bytes.
    TooLong(usize),
    /// Not UTF-8.
    NotUtf8,
    /// `.` or `..`, or holds `/`, `\`, NUL or another control character: it could name
    /// something else than a file of the receiver's chosen directory.
    NotPlain,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => f.write_str("the file name is empty"),
            NameError::TooLong(n) => write!(f, "the file name has {n} bytes (at most {MAX_NAME_LEN})"),
            NameError::NotUtf8 => f.write_str("the file name is not UTF-8"),
            NameError::NotPlain => f.write_str(
                "the file name is not a plain name ('.', '..', or holds '/', '\\' or a control character)",
            ),
        }
    }
}

/// Checks that a file name is one a Start may carry: 1 to 255 bytes, not `.` or `..`, and no
/// `/`, `\` or control character. The receiver may then use it as a file name in a directory
/// of its choice without leaving that directory (it may still exist, or be reserved on
/// Windows: that is the application's check).
pub fn check_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong(name.len()));
    }
    if name == "."
        || name == ".."
        || name
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control())
    {
        return Err(NameError::NotPlain);
    }
    Ok(())
}

/// Why bytes are not a transfer datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// No byte at all.
    Empty,
    /// The first byte is not in 128..=191: STUN, DTLS, ChannelData or anything else.
    NotTransfer(u8),
    /// The first byte is in 128..=191 but names no type of this version.
    UnknownType(u8),
    /// Shorter than the smallest datagram of its kind.
    Truncated {
        /// The kind the type byte names.
        kind: Kind,
        /// The datagram's length.
        len: usize,
        /// The smallest length of the kind.
        min: usize,
    },
    /// Bytes after the end of a fixed-length message or of a Start's name.
    TrailingBytes {
        /// The kind the type byte names.
        kind: Kind,
        /// How many bytes too many.
        extra: usize,
    },
    /// A Start's chunk length is 0 or more than [`MAX_CHUNK_LEN`].
    BadChunkLen(u16),
    /// A Start whose length needs more than [`MAX_CHUNKS`] chunks of its chunk length.
    TooManyChunks {
        /// The length it announces.
        total_len: u64,
        /// Its chunk length.
        chunk_len: u16,
    },
    /// A Start's name is refused.
    BadName(NameError),
    /// A Data with more than [`MAX_CHUNK_LEN`] bytes of payload.
    PayloadTooLong(usize),
    /// An Ack with flags this version does not define.
    UnknownFlags(u8),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Empty => f.write_str("an empty datagram"),
            WireError::NotTransfer(b) => {
                write!(
                    f,
                    "first byte {b} is not in 128..=191: not a transfer datagram"
                )
            }
            WireError::UnknownType(b) => write!(f, "unknown transfer message type {}", b & 0x3f),
            WireError::Truncated { kind, len, min } => {
                write!(f, "a {kind} of {len} bytes (at least {min})")
            }
            WireError::TrailingBytes { kind, extra } => {
                write!(f, "{extra} bytes after the end of a {kind}")
            }
            WireError::BadChunkLen(n) => {
                write!(f, "a Start with chunk length {n} (1 to {MAX_CHUNK_LEN})")
            }
            WireError::TooManyChunks {
                total_len,
                chunk_len,
            } => write!(
                f,
                "a Start of {total_len} bytes in chunks of {chunk_len}: more than 2^32 - 1 chunks"
            ),
            WireError::BadName(e) => write!(f, "a Start's name: {e}"),
            WireError::PayloadTooLong(n) => {
                write!(
                    f,
                    "a Data of {n} bytes of payload (at most {MAX_CHUNK_LEN})"
                )
            }
            WireError::UnknownFlags(b) => write!(f, "an Ack with unknown flags 0x{b:02x}"),
        }
    }
}

impl std::error::Error for WireError {}

/// The number of chunks of `total_len` bytes in chunks of `chunk_len` (> 0) bytes.
#[must_use]
pub fn chunk_count(total_len: u64, chunk_len: u16) -> u64 {
    total_len.div_ceil(u64::from(chunk_len.max(1)))
}

/// Reads a datagram. Strict: see [`WireError`] for every refusal.
pub fn decode(buf: &[u8]) -> Result<Datagram<'_>, WireError> {
    let &first = buf.first().ok_or(WireError::Empty)?;
    if !is_transfer_datagram(buf) {
        return Err(WireError::NotTransfer(first));
    }
    let kind = Kind::of(first).ok_or(WireError::UnknownType(first))?;
    if buf.len() < kind.min_len() {
        return Err(WireError::Truncated {
            kind,
            len: buf.len(),
            min: kind.min_len(),
        });
    }
    let id = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]);
    let body = &buf[HEADER_LEN..];
    let exact = |n: usize| {
        if body.len() > n {
            Err(WireError::TrailingBytes {
                kind,
                extra: body.len() - n,
            })
        } else {
            Ok(())
        }
    };
    let message = match kind {
        Kind::Start => {
            let total_len = u64::from_be_bytes(array(&body[..8]));
            let chunk_len = u16::from_be_bytes([body[8], body[9]]);
            if chunk_len == 0 || usize::from(chunk_len) > MAX_CHUNK_LEN {
                return Err(WireError::BadChunkLen(chunk_len));
            }
            if chunk_count(total_len, chunk_len) > MAX_CHUNKS {
                return Err(WireError::TooManyChunks {
                    total_len,
                    chunk_len,
                });
            }
            let name_len = usize::from(body[10]);
            let rest = &body[11..];
            if rest.len() < name_len {
                return Err(WireError::Truncated {
                    kind,
                    len: buf.len(),
                    min: buf.len() - rest.len() + name_len,
                });
            }
            exact(11 + name_len)?;
            let name = if name_len == 0 {
                None
            } else {
                let name = std::str::from_utf8(&rest[..name_len])
                    .map_err(|_| WireError::BadName(NameError::NotUtf8))?;
                check_name(name).map_err(WireError::BadName)?;
                Some(name)
            };
            Message::Start {
                total_len,
                chunk_len,
                name,
            }
        }
        Kind::Data => {
            let seq = u32::from_be_bytes(array(&body[..4]));
            let payload = &body[4..];
            if payload.len() > MAX_CHUNK_LEN {
                return Err(WireError::PayloadTooLong(payload.len()));
            }
            Message::Data { seq, payload }
        }
        Kind::Ack => {
            exact(13)?;
            let flags = body[12];
            if flags & !FLAG_START != 0 {
                return Err(WireError::UnknownFlags(flags));
            }
            Message::Ack(AckInfo {
                next_expected: u32::from_be_bytes(array(&body[..4])),
                bitmap: u64::from_be_bytes(array(&body[4..12])),
                start_received: flags & FLAG_START != 0,
            })
        }
        Kind::End | Kind::EndAck => {
            exact(32)?;
            let sha256 = array(&body[..32]);
            if kind == Kind::End {
                Message::End { sha256 }
            } else {
                Message::EndAck { sha256 }
            }
        }
    };
    Ok(Datagram { id, message })
}

/// The first `N` bytes of `bytes` (which has at least `N`: the callers checked the length).
fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut a = [0; N];
    a.copy_from_slice(&bytes[..N]);
    a
}

/// Why a message cannot be encoded (the decoder would refuse it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeError {
    /// A Start's chunk length is 0 or more than [`MAX_CHUNK_LEN`], or its length needs more
    /// than [`MAX_CHUNKS`] chunks.
    BadStart,
    /// A Start's name is refused.
    BadName(NameError),
    /// A Data's payload is empty or longer than [`MAX_CHUNK_LEN`].
    BadPayload(usize),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::BadStart => f.write_str("a Start with a bad chunk length or total length"),
            EncodeError::BadName(e) => write!(f, "a Start's name: {e}"),
            EncodeError::BadPayload(n) => {
                write!(f, "a Data of {n} bytes of payload (1 to {MAX_CHUNK_LEN})")
            }
        }
    }
}

impl std::error::Error for EncodeError {}

impl Datagram<'_> {
    /// The encoded datagram, appended to `out`. Whatever this encodes [`decode`] reads back
    /// unchanged; what it would not read, this refuses (and appends nothing).
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self.message {
            Message::Start {
                total_len,
                chunk_len,
                name,
            } => {
                if chunk_len == 0
                    || usize::from(chunk_len) > MAX_CHUNK_LEN
                    || chunk_count(total_len, chunk_len) > MAX_CHUNKS
                {
                    return Err(EncodeError::BadStart);
                }
                if let Some(name) = name {
                    check_name(name).map_err(EncodeError::BadName)?;
                }
            }
            Message::Data { payload, .. } => {
                if payload.is_empty() || payload.len() > MAX_CHUNK_LEN {
                    return Err(EncodeError::BadPayload(payload.len()));
                }
            }
            Message::Ack(_) | Message::End { .. } | Message::EndAck { .. } => {}
        }
        out.push(self.message.kind().byte());
        out.extend_from_slice(&self.id.to_be_bytes());
        match self.message {
            Message::Start {
                total_len,
                chunk_len,
                name,
            } => {
                out.extend_from_slice(&total_len.to_be_bytes());
                out.extend_from_slice(&chunk_len.to_be_bytes());
                let name = name.unwrap_or("");
                // check_name held it to 255 bytes.
                out.push(u8::try_from(name.len()).unwrap_or(0));
                out.extend_from_slice(name.as_bytes());
            }
            Message::Data { seq, payload } => {
                out.extend_from_slice(&seq.to_be_bytes());
                out.extend_from_slice(payload);
            }
            Message::Ack(a) => {
                out.extend_from_slice(&a.next_expected.to_be_bytes());
                out.extend_from_slice(&a.bitmap.to_be_bytes());
                out.push(if a.start_received { FLAG_START } else { 0 });
            }
            Message::End { sha256 } | Message::EndAck { sha256 } => {
                out.extend_from_slice(&sha256);
            }
        }
        Ok(())
    }

    /// The encoded datagram (see [`Datagram::encode_into`]).
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.encode_into(&mut out)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(d: Datagram<'_>) -> Vec<u8> {
        let bytes = d.encode().unwrap();
        assert_eq!(decode(&bytes), Ok(d));
        bytes
    }

    #[test]
    fn every_kind_round_trips_with_its_documented_length() {
        let start = Datagram {
            id: 0x0102_0304,
            message: Message::Start {
                total_len: 1 << 20,
                chunk_len: 1000,
                name: Some("a.bin"),
            },
        };
        let bytes = round_trip(start);
        assert_eq!(bytes.len(), 16 + 5);
        assert_eq!(&bytes[..5], &[0x80, 1, 2, 3, 4]);
        let none = Datagram {
            id: 7,
            message: Message::Start {
                total_len: 0,
                chunk_len: 1,
                name: None,
            },
        };
        assert_eq!(round_trip(none).len(), 16);
        let data = Datagram {
            id: 7,
            message: Message::Data {
                seq: 9,
                payload: &[5; 1000],
            },
        };
        assert_eq!(round_trip(data).len(), 1009);
        let ack = Datagram {
            id: 7,
            message: Message::Ack(AckInfo {
                next_expected: 3,
                bitmap: 0b101,
                start_received: true,
            }),
        };
        let bytes = round_trip(ack);
        assert_eq!(bytes.len(), 18);
        assert_eq!(bytes[17], 1);
        assert_eq!(
            round_trip(Datagram {
                id: 7,
                message: Message::End { sha256: [1; 32] }
            })
            .len(),
            37
        );
        let end_ack = round_trip(Datagram {
            id: 7,
            message: Message::EndAck { sha256: [2; 32] },
        });
        assert_eq!(end_ack[0], 0x84);
        for b in [0x80, 0x81, 0x82, 0x83, 0x84] {
            assert!((128..=191).contains(&b));
        }
    }

    #[test]
    fn malformed_inputs_get_their_error() {
        assert_eq!(decode(&[]), Err(WireError::Empty));
        assert_eq!(decode(&[0x00, 1]), Err(WireError::NotTransfer(0)));
        assert_eq!(decode(&[0x40; 8]), Err(WireError::NotTransfer(0x40)));
        assert_eq!(decode(&[0xc0; 8]), Err(WireError::NotTransfer(0xc0)));
        assert_eq!(decode(&[0x85; 40]), Err(WireError::UnknownType(0x85)));
        assert!(matches!(
            decode(&[0x81, 0, 0, 0, 0, 0, 0, 0, 1]),
            Err(WireError::Truncated { .. })
        ));
        let mut ack = Datagram {
            id: 1,
            message: Message::Ack(AckInfo {
                next_expected: 0,
                bitmap: 0,
                start_received: false,
            }),
        }
        .encode()
        .unwrap();
        ack.push(0);
        assert_eq!(
            decode(&ack),
            Err(WireError::TrailingBytes {
                kind: Kind::Ack,
                extra: 1
            })
        );
        ack.pop();
        ack[17] = 0x02;
        assert_eq!(decode(&ack), Err(WireError::UnknownFlags(2)));
        let mut start = vec![0x80, 0, 0, 0, 1];
        start.extend_from_slice(&u64::MAX.to_be_bytes());
        start.extend_from_slice(&1u16.to_be_bytes());
        start.push(0);
        assert_eq!(
            decode(&start),
            Err(WireError::TooManyChunks {
                total_len: u64::MAX,
                chunk_len: 1
            })
        );
        start[5..13].copy_from_slice(&1000u64.to_be_bytes());
        start[13..15].copy_from_slice(&0u16.to_be_bytes());
        assert_eq!(decode(&start), Err(WireError::BadChunkLen(0)));
        start[13..15].copy_from_slice(&1000u16.to_be_bytes());
        start[15] = 3;
        start.extend_from_slice(b"../");
        assert_eq!(decode(&start), Err(WireError::BadName(NameError::NotPlain)));
        start.truncate(16);
        start.extend_from_slice(&[0xff, 0xfe, 0xfd]);
        assert_eq!(decode(&start), Err(WireError::BadName(NameError::NotUtf8)));
        start.pop();
        assert!(matches!(
            decode(&start),
            Err(WireError::Truncated {
                kind: Kind::Start,
                ..
            })
        ));
        let mut data = vec![0x81, 0, 0, 0, 1, 0, 0, 0, 0];
        data.resize(9 + MAX_CHUNK_LEN + 1, 0);
        assert_eq!(
            decode(&data),
            Err(WireError::PayloadTooLong(MAX_CHUNK_LEN + 1))
        );
    }

    #[test]
    fn the_encoder_refuses_what_the_decoder_would() {
        let bad = [
            Message::Start {
                total_len: 1,
                chunk_len: 0,
                name: None,
            },
            Message::Start {
                total_len: 1,
                chunk_len: 1,
                name: Some(""),
            },
            Message::Start {
                total_len: 1,
                chunk_len: 1,
                name: Some("a/b"),
            },
            Message::Data {
                seq: 0,
                payload: &[],
            },
        ];
        for message in bad {
            let mut out = Vec::new();
            assert!(Datagram { id: 0, message }.encode_into(&mut out).is_err());
            assert!(out.is_empty());
        }
        assert_eq!(check_name(&"x".repeat(256)), Err(NameError::TooLong(256)));
        assert_eq!(check_name(".."), Err(NameError::NotPlain));
        assert_eq!(check_name("a\u{7}"), Err(NameError::NotPlain));
        assert_eq!(check_name("ok né.txt"), Ok(()));
        assert_eq!(chunk_count(0, 1000), 0);
        assert_eq!(chunk_count(1000, 1000), 1);
        assert_eq!(chunk_count(1001, 1000), 2);
    }
}
