//! [`Deframer`]: frames out of a stream that arrives in pieces, bounded.

#[cfg(doc)]
use super::MAX_DATAGRAM;
use super::measure::{CHANNEL_HEADER, MAX_STUN_MESSAGE, Measure};
use super::{BUFFERED_FRAMES, FrameError, Framing, HEADER_LEN};

/// What a [`Deframer`] has read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeframerStats {
    /// Frames returned by [`Deframer::next_frame`].
    pub frames: u64,
    /// Their bytes (without the RFC 4571 headers; STUN and ChannelData headers included).
    pub bytes: u64,
    /// Null packets (length zero, RFC 4571 §2) skipped.
    pub null_frames: u64,
    /// Frames longer than the maximum, skipped (counted when their header is read).
    pub dropped: u64,
    /// The bytes of those frames (without the RFC 4571 headers), counted as they are skipped.
    pub dropped_bytes: u64,
    /// Bytes dropped because they are no message of the framing, with all that came after
    /// them ([`Framing::StunStream`] only: see [`Deframer::is_broken`]).
    pub unframeable_bytes: u64,
}

/// An incremental reader for one TCP stream: bytes in through [`Deframer::push`], in pieces of
/// any size, frames out through [`Deframer::next_frame`]. RFC 4571 by default
/// ([`Deframer::new`]), STUN and ChannelData to a TURN server with
/// [`Deframer::stun_stream`]. See the [module documentation](crate::framing) for what it does with null
/// and oversized frames, and for the memory bound.
#[derive(Debug, Clone)]
pub struct Deframer {
    framing: Framing,
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
    /// The bytes the oversized message being skipped takes on the stream.
    skipping_len: usize,
    /// Where the unframeable bytes began, once the stream is broken.
    broken_at: Option<u64>,
    /// Bytes of the stream consumed before `buf[start]` (for [`FrameError::Unframeable`]).
    offset: u64,
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

    /// An RFC 4571 deframer that returns frames of at most `max_frame` bytes and skips longer
    /// ones (counted in [`DeframerStats::dropped`]). Its buffer is bounded by
    /// [`BUFFERED_FRAMES`] × ([`HEADER_LEN`] + `max_frame`).
    pub fn with_max_frame(max_frame: u16) -> Deframer {
        Deframer::with_framing(Framing::Rfc4571, usize::from(max_frame))
    }

    /// A deframer of STUN messages and ChannelData on a stream to or from a TURN server
    /// ([`Framing::StunStream`]) that returns messages of at most `max_message` bytes, header
    /// included (at most the longest STUN message, 65,555 bytes), and skips longer ones. Its
    /// buffer is bounded by [`BUFFERED_FRAMES`] × (`max_message` + 3).
    pub fn stun_stream(max_message: usize) -> Deframer {
        Deframer::with_framing(
            Framing::StunStream,
            max_message.clamp(CHANNEL_HEADER, MAX_STUN_MESSAGE),
        )
    }

    fn with_framing(framing: Framing, max_frame: usize) -> Deframer {
        // The most one message takes on the stream beside its frame: a header or padding.
        let overhead = match framing {
            Framing::Rfc4571 => HEADER_LEN,
            Framing::StunStream => 3,
        };
        Deframer {
            framing,
            buf: Vec::new(),
            start: 0,
            max_frame,
            limit: BUFFERED_FRAMES * (overhead + max_frame),
            skipping: 0,
            skipping_len: 0,
            broken_at: None,
            offset: 0,
            stats: DeframerStats::default(),
        }
    }

    /// The rule this deframer reads by.
    pub fn framing(&self) -> Framing {
        self.framing
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

    /// Whether the stream held bytes that are no message of its framing ([`Framing::StunStream`]
    /// only): from there on every byte pushed is taken and dropped, no frame comes out, and
    /// [`Deframer::finish`] says where it broke. The connection is of no more use: close it.
    pub fn is_broken(&self) -> bool {
        self.broken_at.is_some()
    }

    /// Takes bytes of the stream, as many as fit in the buffer, and returns how many it took
    /// (from the front of `bytes`). Bytes of an oversized frame are skipped, not buffered, so
    /// they are always taken, as are all bytes of a [broken](Deframer::is_broken) stream. It
    /// takes nothing only when `bytes` is empty or the buffer is full; the buffer is full only
    /// while it holds a whole frame, so after [`Deframer::next_frame`] has been called until it
    /// returns `None`, `push` takes at least one byte of a non-empty `bytes`.
    pub fn push(&mut self, bytes: &[u8]) -> usize {
        if self.broken_at.is_some() {
            self.stats.unframeable_bytes += bytes.len() as u64;
            return bytes.len();
        }
        let mut taken = 0;
        if self.skipping > 0 {
            let n = self.skipping.min(bytes.len());
            self.skipping -= n;
            self.stats.dropped_bytes += n as u64;
            self.offset += n as u64;
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

    /// Consumes `n` unread bytes of the buffer.
    fn consume(&mut self, n: usize) {
        self.start += n;
        self.offset += n as u64;
    }

    /// The next whole frame, if one has arrived. Null packets are skipped and counted; an
    /// oversized frame is dropped and counted, its bytes skipped as they arrive. The frame is
    /// valid until the next call on the deframer.
    pub fn next_frame(&mut self) -> Option<&[u8]> {
        loop {
            if self.skipping > 0 || self.broken_at.is_some() {
                return None;
            }
            let unread = &self.buf[self.start..];
            let ext = match self.framing.measure(unread) {
                Measure::Need(_) => return None,
                Measure::Message(ext) => ext,
                Measure::Unframeable => {
                    // No length can be read, so no later frame can be found (RFC 8656 §12.5
                    // leaves no way to resynchronise a stream).
                    self.broken_at = Some(self.offset);
                    self.stats.unframeable_bytes += unread.len() as u64;
                    let end = self.buf.len();
                    self.consume(end - self.start);
                    return None;
                }
            };
            if ext.len == 0 {
                // RFC 4571 §2: the null packet.
                self.consume(ext.total);
                self.stats.null_frames += 1;
                continue;
            }
            if ext.len > self.max_frame {
                // Its length is known, so skipping it keeps the framing in step.
                let here = unread.len().min(ext.total);
                self.consume(here);
                self.skipping = ext.total - here;
                self.skipping_len = ext.total;
                self.stats.dropped += 1;
                self.stats.dropped_bytes += here.saturating_sub(ext.begin) as u64;
                continue;
            }
            if unread.len() < ext.total {
                return None;
            }
            let at = self.start + ext.begin;
            self.consume(ext.total);
            self.stats.frames += 1;
            self.stats.bytes += ext.len as u64;
            return Some(&self.buf[at..at + ext.len]);
        }
    }

    /// Whether the stream is at a frame boundary: nothing buffered and nothing being skipped.
    pub fn at_boundary(&self) -> bool {
        self.buffered() == 0 && self.skipping == 0 && self.broken_at.is_none()
    }

    /// For when the stream has ended (the peer closed it, or the connection failed): `Ok` at a
    /// frame boundary, else [`FrameError::Truncated`] with what the last frame had and lacked,
    /// or [`FrameError::Unframeable`] for a broken stream. Call [`Deframer::next_frame`] until
    /// it returns `None` first: frames still buffered are counted as unfinished.
    pub fn finish(&self) -> Result<(), FrameError> {
        if let Some(offset) = self.broken_at {
            return Err(FrameError::Unframeable { offset });
        }
        if self.at_boundary() {
            return Ok(());
        }
        if self.skipping > 0 {
            // The header and part of an oversized frame arrived.
            return Err(FrameError::Truncated {
                received: self.skipping_len - self.skipping,
                missing: self.skipping,
            });
        }
        let unread = &self.buf[self.start..];
        let received = unread.len();
        let missing = match self.framing.measure(unread) {
            Measure::Message(ext) => ext.total.saturating_sub(received),
            Measure::Need(n) => n - received,
            // `next_frame` breaks the stream at such bytes before `finish` can see them.
            Measure::Unframeable => 0,
        };
        Err(FrameError::Truncated { received, missing })
    }
}
