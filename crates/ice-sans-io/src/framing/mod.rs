//! RFC 4571 framing: datagrams on a TCP byte stream.
//!
//! ICE over TCP (RFC 6544 §3) carries every STUN message and every application datagram of a
//! TCP candidate pair in the framing of RFC 4571 §2: a 16-bit unsigned length in network byte
//! order, then that many bytes. There are no frame markers, so a reader that loses count of
//! the bytes cannot find the next frame again; with a 16-bit length it never has to, because
//! every length is a frame it can read or skip.
//!
//! This module is pure and knows nothing of the agent: [`frame`] and [`frame_in_place`] write a
//! frame, [`Deframer`] reads frames back out of a stream that arrives in pieces of any size.
//!
//! The same reader also splits the other stream ICE meets: STUN and TURN to a server over TCP
//! or TLS ([`Framing::StunStream`], [`Deframer::stun_stream`]). There nothing is added to the
//! messages (RFC 8489 §6.2.2: STUN messages are self-delimiting; RFC 8656 §12.5: ChannelData
//! padded to a multiple of four bytes), and each message's own header gives its length.
//!
//! What the deframer does with the lengths RFC 4571 allows:
//!
//! - **Zero.** RFC 4571 §2: "Zero is a valid value for LENGTH, and it codes the null packet."
//!   It is not an error and does not end the stream; it carries nothing for STUN or the
//!   application, so the deframer skips it and counts it ([`DeframerStats::null_frames`]):
//!   [`Deframer::next_frame`] never returns an empty frame.
//! - **More than the configured maximum** ([`Deframer::with_max_frame`], 65,535 by default, so
//!   nothing is refused unless the caller asks). The length is known, so the frame is skipped
//!   byte by byte as it arrives, never buffered, and counted ([`DeframerStats::dropped`]); the
//!   frames after it are read as usual.
//!
//! So no content of a stream is an error. The one error of a stream is its end in the middle of
//! a frame (the peer closed, or the connection broke), which [`Deframer::finish`] reports.
//!
//! Memory is bounded: a deframer holds one buffer of at most [`Deframer::buffer_limit`] bytes
//! (room for [`BUFFERED_FRAMES`] frames of the maximum size), grown as needed up to that limit
//! and never beyond. [`Deframer::push`] takes only what fits and says how much it took; the
//! caller reads the frames out and pushes the rest.
//!
//! ```
//! use ice_sans_io::framing::{Deframer, frame};
//!
//! let mut stream = Vec::new();
//! frame(b"first", &mut stream).unwrap();
//! frame(b"second", &mut stream).unwrap();
//!
//! let mut deframer = Deframer::new();
//! let mut got = Vec::new();
//! // The stream arrives three bytes at a time.
//! for piece in stream.chunks(3) {
//!     let mut rest = piece;
//!     while !rest.is_empty() {
//!         let taken = deframer.push(rest);
//!         rest = &rest[taken..];
//!         while let Some(f) = deframer.next_frame() {
//!             got.push(f.to_vec());
//!         }
//!     }
//! }
//! assert_eq!(got, [b"first".to_vec(), b"second".to_vec()]);
//! assert!(deframer.finish().is_ok());
//! ```

mod deframer;
mod measure;
#[cfg(test)]
mod tests;

pub use deframer::{Deframer, DeframerStats};
pub use measure::Framing;

use std::fmt;

/// The length field before each frame (RFC 4571 §2: 16 bits).
pub const HEADER_LEN: usize = 2;

/// The longest datagram one frame carries (RFC 4571 §2: the length is a 16-bit unsigned
/// integer).
pub const MAX_DATAGRAM: usize = u16::MAX as usize;

/// How many frames of the maximum size (header included) a [`Deframer`]'s buffer holds at most.
pub const BUFFERED_FRAMES: usize = 2;
/// What framing refuses.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// The datagram is longer than [`MAX_DATAGRAM`] bytes: RFC 4571 §2 cannot frame it.
    TooLong {
        /// Its length.
        len: usize,
    },
    /// [`frame_in_place`]: the buffer is shorter than [`HEADER_LEN`] plus the datagram.
    BufferTooSmall {
        /// The bytes needed.
        needed: usize,
        /// The buffer's length.
        got: usize,
    },
    /// [`Deframer::finish`]: the stream held bytes that are no message of its
    /// [`Framing`] (only [`Framing::StunStream`] has such bytes); nothing after them was read.
    Unframeable {
        /// Where in the stream they began (bytes from its start).
        offset: u64,
    },
    /// [`Deframer::finish`]: the stream ended inside a frame.
    Truncated {
        /// The bytes of the unfinished frame that had arrived, its header included.
        received: usize,
        /// The bytes the frame still lacked.
        missing: usize,
    },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooLong { len } => write!(
                f,
                "a datagram of {len} bytes is longer than RFC 4571 framing carries ({MAX_DATAGRAM})"
            ),
            FrameError::BufferTooSmall { needed, got } => {
                write!(f, "framing needs {needed} bytes of buffer, got {got}")
            }
            FrameError::Unframeable { offset } => write!(
                f,
                "the stream holds no STUN message or ChannelData at byte {offset} (RFC 8656 \
                 §12.5, RFC 7983 §7): it cannot be followed past it"
            ),
            FrameError::Truncated { received, missing } => write!(
                f,
                "the stream ended inside a frame: {received} bytes received, {missing} missing \
                 (RFC 4571 §2)"
            ),
        }
    }
}

impl std::error::Error for FrameError {}

/// Appends `data` framed (RFC 4571 §2: its length as 16 bits, big-endian, then the bytes) to
/// `out`. Refuses a datagram longer than [`MAX_DATAGRAM`] and leaves `out` as it was. An empty
/// `data` writes the null packet (a zero length).
pub fn frame(data: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
    let len = u16::try_from(data.len()).map_err(|_| FrameError::TooLong { len: data.len() })?;
    out.reserve(HEADER_LEN + data.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(data);
    Ok(())
}

/// Frames in place a datagram already written at `buf[HEADER_LEN..HEADER_LEN + len]`: writes
/// the length into `buf[..HEADER_LEN]` (RFC 4571 §2) and returns the frame,
/// `&buf[..HEADER_LEN + len]`. For a caller that builds datagrams into its own buffer and
/// leaves room in front: nothing is copied or allocated.
pub fn frame_in_place(buf: &mut [u8], len: usize) -> Result<&[u8], FrameError> {
    let len16 = u16::try_from(len).map_err(|_| FrameError::TooLong { len })?;
    let needed = HEADER_LEN + len;
    if buf.len() < needed {
        return Err(FrameError::BufferTooSmall {
            needed,
            got: buf.len(),
        });
    }
    buf[..HEADER_LEN].copy_from_slice(&len16.to_be_bytes());
    Ok(&buf[..needed])
}
