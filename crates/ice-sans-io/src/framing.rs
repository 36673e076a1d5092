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

/// What a [`Deframer`] has read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeframerStats {
    /// Frames returned by [`Deframer::next_frame`].
    pub frames: u64,
    /// Their bytes (without the headers).
    pub bytes: u64,
    /// Null packets (length zero, RFC 4571 §2) skipped.
    pub null_frames: u64,
    /// Frames longer than the maximum, skipped (counted when their header is read).
    pub dropped: u64,
    /// The bytes of those frames (without the headers), counted as they are skipped.
    pub dropped_bytes: u64,
}

/// An incremental RFC 4571 reader for one TCP stream: bytes in through [`Deframer::push`], in
/// pieces of any size, frames out through [`Deframer::next_frame`]. See the
/// [module documentation](self) for what it does with null and oversized frames, and for the
/// memory bound.
#[derive(Debug, Clone)]
pub struct Deframer {
    /// The bytes received and not yet returned: `buf[start..]`.
    buf: Vec<u8>,
    /// Where the unread bytes of `buf` begin.
    start: usize,
    /// The longest frame returned; longer ones are skipped.
    max_frame: usize,
    /// `buf` never holds more than this.
    limit: usize,
    /// Bytes of an oversized frame still to be skipped as they arrive.
    skipping: usize,
    /// The length of the oversized frame being skipped.
    skipping_len: usize,
    stats: DeframerStats,
}

impl Default for Deframer {
    fn default() -> Self {
        Deframer::new()
    }
}

impl Deframer {
    /// A deframer that returns every frame RFC 4571 can carry (up to [`MAX_DATAGRAM`] bytes).
    /// It allocates nothing until the first [`Deframer::push`].
    pub fn new() -> Deframer {
        Deframer::with_max_frame(u16::MAX)
    }

    /// A deframer that returns frames of at most `max_frame` bytes and skips longer ones
    /// (counted in [`DeframerStats::dropped`]). Its buffer is bounded by
    /// [`BUFFERED_FRAMES`] × ([`HEADER_LEN`] + `max_frame`).
    pub fn with_max_frame(max_frame: u16) -> Deframer {
        let max_frame = usize::from(max_frame);
        Deframer {
            buf: Vec::new(),
            start: 0,
            max_frame,
            limit: BUFFERED_FRAMES * (HEADER_LEN + max_frame),
            skipping: 0,
            skipping_len: 0,
            stats: DeframerStats::default(),
        }
    }

    /// The longest frame [`Deframer::next_frame`] returns.
    pub fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// The most bytes the deframer buffers (and so the most [`Deframer::push`] takes before
    /// frames are read out).
    pub fn buffer_limit(&self) -> usize {
        self.limit
    }

    /// The bytes buffered and not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The bytes allocated for the buffer: never more than [`Deframer::buffer_limit`].
    pub fn allocated(&self) -> usize {
        self.buf.capacity()
    }

    /// What has been read so far.
    pub fn stats(&self) -> DeframerStats {
        self.stats
    }

    /// Takes bytes of the stream, as many as fit in the buffer, and returns how many it took
    /// (from the front of `bytes`). Bytes of an oversized frame are skipped, not buffered, so
    /// they are always taken. It takes nothing only when `bytes` is empty or the buffer is full;
    /// the buffer is full only while it holds a whole frame, so after
    /// [`Deframer::next_frame`] has been called until it returns `None`, `push` takes at least
    /// one byte of a non-empty `bytes`.
    pub fn push(&mut self, bytes: &[u8]) -> usize {
        let mut taken = 0;
        if self.skipping > 0 {
            let n = self.skipping.min(bytes.len());
            self.skipping -= n;
            self.stats.dropped_bytes += n as u64;
            taken = n;
            if self.skipping > 0 {
                return taken;
            }
        }
        let bytes = &bytes[taken..];
        if bytes.is_empty() {
            return taken;
        }
        // What was returned is gone: move the unread bytes to the front.
        if self.start > 0 {
            self.buf.copy_within(self.start.., 0);
            self.buf.truncate(self.buf.len() - self.start);
            self.start = 0;
        }
        let n = bytes.len().min(self.limit - self.buf.len());
        if n == 0 {
            return taken;
        }
        let want = self.buf.len() + n;
        if want > self.buf.capacity() {
            // Grow at least twofold to amortise, never past the limit.
            let target = want.max(self.buf.capacity() * 2).min(self.limit);
            self.buf.reserve_exact(target - self.buf.len());
        }
        self.buf.extend_from_slice(&bytes[..n]);
        taken + n
    }

    /// The next whole frame, if one has arrived. Null packets are skipped and counted; an
    /// oversized frame is dropped and counted, its bytes skipped as they arrive. The frame is
    /// valid until the next call on the deframer.
    pub fn next_frame(&mut self) -> Option<&[u8]> {
        loop {
            if self.skipping > 0 {
                return None;
            }
            let unread = &self.buf[self.start..];
            let [hi, lo, ..] = *unread else {
                return None;
            };
            let len = usize::from(u16::from_be_bytes([hi, lo]));
            if len == 0 {
                // RFC 4571 §2: the null packet.
                self.start += HEADER_LEN;
                self.stats.null_frames += 1;
                continue;
            }
            if len > self.max_frame {
                // Its length is known, so skipping it keeps the framing in step.
                let here = (unread.len() - HEADER_LEN).min(len);
                self.start += HEADER_LEN + here;
                self.skipping = len - here;
                self.skipping_len = len;
                self.stats.dropped += 1;
                self.stats.dropped_bytes += here as u64;
                continue;
            }
            if unread.len() < HEADER_LEN + len {
                return None;
            }
            let at = self.start + HEADER_LEN;
            self.start = at + len;
            self.stats.frames += 1;
            self.stats.bytes += len as u64;
            return Some(&self.buf[at..at + len]);
        }
    }

    /// Whether the stream is at a frame boundary: nothing buffered and nothing being skipped.
    pub fn at_boundary(&self) -> bool {
        self.buffered() == 0 && self.skipping == 0
    }

    /// For when the stream has ended (the peer closed it, or the connection failed): `Ok` at a
    /// frame boundary, else [`FrameError::Truncated`] with what the last frame had and lacked.
    /// Call [`Deframer::next_frame`] until it returns `None` first: frames still buffered are
    /// counted as unfinished.
    pub fn finish(&self) -> Result<(), FrameError> {
        if self.at_boundary() {
            return Ok(());
        }
        if self.skipping > 0 {
            // The header and part of an oversized frame arrived.
            return Err(FrameError::Truncated {
                received: HEADER_LEN + self.skipping_len - self.skipping,
                missing: self.skipping,
            });
        }
        let unread = &self.buf[self.start..];
        let received = unread.len();
        let missing = match *unread {
            [hi, lo, ..] => {
                (HEADER_LEN + usize::from(u16::from_be_bytes([hi, lo]))).saturating_sub(received)
            }
            _ => HEADER_LEN - received,
        };
        Err(FrameError::Truncated { received, missing })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Feeds `stream` in the given pieces, reading frames out after each push.
    fn read_all(d: &mut Deframer, pieces: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        for piece in pieces {
            let mut rest = *piece;
            loop {
                let taken = d.push(rest);
                rest = &rest[taken..];
                while let Some(f) = d.next_frame() {
                    got.push(f.to_vec());
                }
                assert!(d.allocated() <= d.buffer_limit());
                if rest.is_empty() {
                    break;
                }
                assert!(taken > 0, "push took nothing after the frames were read");
            }
        }
        got
    }

    fn framed(frames: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for f in frames {
            frame(f, &mut out).unwrap();
        }
        out
    }

    /// RFC 4571 §2: a 16-bit length in network byte order, then the bytes.
    #[test]
    fn rfc4571_2_header_is_16_bit_big_endian() {
        let mut out = vec![0xAA];
        frame(&[1, 2, 3], &mut out).unwrap();
        assert_eq!(out, [0xAA, 0, 3, 1, 2, 3]);
        let mut out = Vec::new();
        frame(&[7; 300], &mut out).unwrap();
        assert_eq!(&out[..2], &[0x01, 0x2C]);
    }

    #[test]
    fn round_trip() {
        let stream = framed(&[b"one", b"two", b"three"]);
        let mut d = Deframer::new();
        assert_eq!(
            read_all(&mut d, &[&stream]),
            [b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]
        );
        assert!(d.at_boundary());
        assert_eq!(d.finish(), Ok(()));
        let s = d.stats();
        assert_eq!((s.frames, s.bytes, s.null_frames, s.dropped), (3, 11, 0, 0));
    }

    #[test]
    fn one_byte_at_a_time() {
        let stream = framed(&[b"stun", &[9; 1000], b"x"]);
        let pieces: Vec<&[u8]> = stream.chunks(1).collect();
        let mut d = Deframer::new();
        let got = read_all(&mut d, &pieces);
        assert_eq!(got, [b"stun".to_vec(), vec![9; 1000], b"x".to_vec()]);
        assert_eq!(d.finish(), Ok(()));
    }

    #[test]
    fn many_frames_in_one_push() {
        let frames: Vec<Vec<u8>> = (0..500u16).map(|i| i.to_be_bytes().repeat(3)).collect();
        let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
        let stream = framed(&refs);
        let mut d = Deframer::new();
        assert_eq!(d.push(&stream), stream.len());
        let mut got = Vec::new();
        while let Some(f) = d.next_frame() {
            got.push(f.to_vec());
        }
        assert_eq!(got, frames);
        assert_eq!(d.stats().frames, 500);
    }

    #[test]
    fn frame_split_across_pushes_at_every_offset() {
        let stream = framed(&[b"before", b"the frame that is split", b"after"]);
        for cut in 0..=stream.len() {
            let mut d = Deframer::new();
            let got = read_all(&mut d, &[&stream[..cut], &stream[cut..]]);
            assert_eq!(
                got,
                [
                    b"before".to_vec(),
                    b"the frame that is split".to_vec(),
                    b"after".to_vec()
                ],
                "cut at {cut}"
            );
            assert_eq!(d.finish(), Ok(()));
        }
    }

    /// Frames over the configured maximum are skipped and counted; those after it are read:
    /// the length says where the next frame begins, so framing stays in step.
    #[test]
    fn over_the_limit_is_skipped_and_counted() {
        let stream = framed(&[b"ok", &[1; 100], b"fine"]);
        for size in [1, 3, 7, stream.len()] {
            let pieces: Vec<&[u8]> = stream.chunks(size).collect();
            let mut d = Deframer::with_max_frame(10);
            assert_eq!(d.buffer_limit(), 2 * 12);
            let got = read_all(&mut d, &pieces);
            assert_eq!(got, [b"ok".to_vec(), b"fine".to_vec()], "pieces of {size}");
            let s = d.stats();
            assert_eq!((s.frames, s.dropped, s.dropped_bytes), (2, 1, 100));
            assert!(d.allocated() <= 24);
            assert_eq!(d.finish(), Ok(()));
        }
    }

    /// RFC 4571 §2: "Zero is a valid value for LENGTH, and it codes the null packet." Not an
    /// error; skipped and counted, never returned.
    #[test]
    fn rfc4571_2_null_packet_is_skipped_and_counted() {
        let stream = framed(&[b"", b"a", b"", b"", b"b", b""]);
        assert_eq!(&stream[..2], &[0, 0]);
        let mut d = Deframer::new();
        assert_eq!(read_all(&mut d, &[&stream]), [b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(d.stats().null_frames, 4);
        assert_eq!(d.finish(), Ok(()));
    }

    #[test]
    fn max_length_65535() {
        let big = vec![0x5A; MAX_DATAGRAM];
        let mut stream = Vec::new();
        frame(&big, &mut stream).unwrap();
        assert_eq!(&stream[..2], &[0xFF, 0xFF]);
        frame(b"next", &mut stream).unwrap();
        let mut d = Deframer::new();
        let pieces: Vec<&[u8]> = stream.chunks(4096).collect();
        let got = read_all(&mut d, &pieces);
        assert_eq!(got, [big, b"next".to_vec()]);
        assert!(d.allocated() <= d.buffer_limit());
        assert_eq!(
            d.buffer_limit(),
            BUFFERED_FRAMES * (HEADER_LEN + MAX_DATAGRAM)
        );
    }

    #[test]
    fn too_long_is_refused() {
        let mut out = vec![1];
        assert_eq!(
            frame(&vec![0; MAX_DATAGRAM + 1], &mut out),
            Err(FrameError::TooLong { len: 65_536 })
        );
        assert_eq!(out, [1], "out is left as it was");
        let mut buf = vec![0; 70_000];
        assert_eq!(
            frame_in_place(&mut buf, 65_536),
            Err(FrameError::TooLong { len: 65_536 })
        );
    }

    #[test]
    fn in_place() {
        let mut buf = [0u8; 16];
        buf[2..7].copy_from_slice(b"hello");
        assert_eq!(frame_in_place(&mut buf, 5).unwrap(), b"\x00\x05hello");
        assert_eq!(
            frame_in_place(&mut buf, 15),
            Err(FrameError::BufferTooSmall {
                needed: 17,
                got: 16
            })
        );
    }

    /// A full buffer takes nothing until its frames are read; then it takes again.
    #[test]
    fn backpressure() {
        let stream = framed(&[&[1; 8], &[2; 8], &[3; 8]]);
        let mut d = Deframer::with_max_frame(8);
        assert_eq!(d.push(&stream), 20);
        assert_eq!(d.push(&stream[20..]), 0);
        assert_eq!(d.next_frame(), Some(&[1; 8][..]));
        assert_eq!(d.next_frame(), Some(&[2; 8][..]));
        assert_eq!(d.next_frame(), None);
        assert_eq!(d.push(&stream[20..]), 10);
        assert_eq!(d.next_frame(), Some(&[3; 8][..]));
        assert!(d.at_boundary());
    }

    #[test]
    fn truncated_stream() {
        let mut d = Deframer::new();
        assert_eq!(d.finish(), Ok(()));
        d.push(&[0]);
        assert_eq!(
            d.finish(),
            Err(FrameError::Truncated {
                received: 1,
                missing: 1
            })
        );
        d.push(&[4, b'a']);
        assert_eq!(d.next_frame(), None);
        assert_eq!(
            d.finish(),
            Err(FrameError::Truncated {
                received: 3,
                missing: 3
            })
        );
        // The header and 3 bytes of an oversized frame of 20.
        let mut d = Deframer::with_max_frame(10);
        d.push(&[0, 20, 1, 2, 3]);
        assert_eq!(d.next_frame(), None);
        assert_eq!(
            d.finish(),
            Err(FrameError::Truncated {
                received: 5,
                missing: 17
            })
        );
        assert!(
            FrameError::Truncated {
                received: 5,
                missing: 17
            }
            .to_string()
            .contains("RFC 4571")
        );
    }

    proptest! {
        /// Any split of any sequence of frames decodes to the same frames, with any maximum:
        /// those over it counted as dropped, the null packets as null.
        #[test]
        fn any_split_decodes_the_same(
            frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..20),
            cuts in proptest::collection::vec(1usize..400, 1..30),
            max_frame in prop_oneof![Just(u16::MAX), 1u16..200],
        ) {
            let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
            let stream = framed(&refs);
            let mut pieces = Vec::new();
            let mut rest = stream.as_slice();
            for &c in cuts.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (a, b) = rest.split_at(c.min(rest.len()));
                pieces.push(a);
                rest = b;
            }
            let mut d = Deframer::with_max_frame(max_frame);
            let got = read_all(&mut d, &pieces);
            let max = usize::from(max_frame);
            let want: Vec<Vec<u8>> =
                frames.iter().filter(|f| !f.is_empty() && f.len() <= max).cloned().collect();
            prop_assert_eq!(&got, &want);
            let s = d.stats();
            prop_assert_eq!(s.frames, want.len() as u64);
            prop_assert_eq!(s.bytes, want.iter().map(Vec::len).sum::<usize>() as u64);
            prop_assert_eq!(s.null_frames, frames.iter().filter(|f| f.is_empty()).count() as u64);
            let over: Vec<&Vec<u8>> = frames.iter().filter(|f| f.len() > max).collect();
            prop_assert_eq!(s.dropped, over.len() as u64);
            prop_assert_eq!(s.dropped_bytes, over.iter().map(|f| f.len()).sum::<usize>() as u64);
            prop_assert_eq!(d.finish(), Ok(()));
            prop_assert!(d.allocated() <= d.buffer_limit());
        }
    }
}
