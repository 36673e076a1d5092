//! A reliable transfer of a byte stream over unreliable datagrams, sans IO: a [`Sender`] and a
//! [`Receiver`] that take datagrams and the time in and give datagrams, bytes and deadlines
//! out. It carries a file between two clients over the ICE pair the `call` and `answer`
//! commands selected (real sockets, maybe through a TURN relay, maybe lossy), and the bytes
//! `expect.data_bytes` asks each side of a topology run to send the other (virtual or real
//! time). Neither end reads a clock, draws a random number, spawns a thread or touches a
//! socket: a seed and a loss pattern replay a transfer bit for bit.
//!
//! # Wire format
//!
//! Every datagram begins with a five-byte header: a type byte, then the transfer id (a `u32`,
//! big-endian, drawn at random by whoever starts the transfer). The type byte is `0x80 |
//! type`, always in 128..=191: the range RFC 7983 §7 leaves to RTP and RTCP, so that an ICE
//! agent or a TURN client demultiplexing on the first byte never takes a transfer datagram
//! for STUN (0..=3), DTLS (20..=63) or TURN ChannelData (64..=79). All integers are
//! big-endian.
//!
//! | Byte 0 | Message  | From     | After the header                                                    | Length      |
//! |--------|----------|----------|---------------------------------------------------------------------|-------------|
//! | `0x80` | Start    | sender   | total length `u64`, chunk length `u16` (1..=16384), name length `u8`, name (UTF-8, 0..=255 bytes) | 16 + name |
//! | `0x81` | Data     | sender   | sequence number `u32`, payload (1..=chunk length bytes; only the last chunk is shorter) | 9 + payload |
//! | `0x82` | Ack      | receiver | next expected sequence number `u32`, selective bitmap `u64`, flags `u8` (bit 0: Start received; the others 0) | 18 |
//! | `0x83` | End      | sender   | SHA-256 of every byte sent (32 bytes)                               | 37          |
//! | `0x84` | EndAck   | receiver | SHA-256 of every byte received (32 bytes)                           | 37          |
//!
//! The payload of Data `seq` is bytes `seq × chunk_len .. min((seq + 1) × chunk_len,
//! total_len)` of the stream: the offset is implied, so a chunk is exactly `chunk_len` bytes
//! except the last. Bit `i` of an Ack's bitmap (least significant first) says that chunk
//! `next_expected + 1 + i` arrived. A name is a plain file name ([`wire::check_name`]: no
//! `/`, `\`, control character, `.` or `..`). The decoder ([`wire::decode`]) refuses anything
//! else with a [`wire::WireError`] (a truncated datagram, bytes after the end, an unknown type
//! or flag, a chunk length of 0, a length needing more than 2³² − 1 chunks, ...); the
//! encoding is canonical (`encode(decode(b)) == b`). With the default chunk of 1,000 bytes a
//! Data datagram is 1,009 bytes: inside TURN ChannelData (4 bytes), UDP (8) and IPv6 (40) it
//! still fits a 1,200-byte path MTU.
//!
//! # Manual
//!
//! **The exchange.** The sender sends Start, then Data chunks as the congestion window allows
//! (without waiting for the Start to be acknowledged: one round trip saved). The receiver
//! takes the first Start it sees ([`Receiver::new`]) or only the one with the id agreed out of
//! band ([`Receiver::with_id`]), and answers every datagram of its transfer with an Ack
//! (next expected chunk, the bitmap of the 64 chunks after it, whether it has the Start);
//! Data before the Start is dropped (counted, unanswered: the id is not yet known) and sent
//! again when the sender's timer expires. Once the Start and every chunk are acknowledged,
//! the sender sends End with its SHA-256; a receiver that has every byte answers EndAck with
//! its own SHA-256 and is done (it answers a repeated End again: the EndAck may be lost); the
//! sender is done on the EndAck. Both ends then hold both digests
//! ([`SenderState::Done`], [`ReceiverState::Done`]) and can print both
//! ([`hex`]): a mismatch means corruption (the transfer carries no checksum of its own; UDP's
//! covers the path).
//!
//! **The loop.** Each end is driven the same way; the caller owns the socket and the clock:
//!
//! 1. Sender only: feed it the chunks it asks for, [`Sender::wants_chunk`] then
//!    [`Sender::push_chunk`] (or [`Sender::read_from`] with any [`std::io::Read`]).
//! 2. Send every datagram of `poll_transmit(now)` until it returns `None`.
//! 3. Receiver only: take the bytes in order with [`Receiver::poll_bytes`] (or
//!    [`Receiver::write_to`]).
//! 4. Wait for a datagram or for `poll_timeout()`, whichever comes first; give the datagram
//!    to `handle_datagram(now, bytes)`, or call `handle_timeout(now)`; start again at 1.
//!
//! Stop when `state()` is done or failed. A done receiver should still be driven for a while
//! (a few seconds: its peer may repeat End if the EndAck was lost). A peer that both sends
//! and receives on one socket gives Start, Data and End to its receiver and Ack and EndAck to
//! its sender ([`wire::Kind::to_receiver`] on [`wire::Kind::of`] the first byte).
//!
//! **Reliability.** The sender keeps only the chunks of its window (64 by default, at most
//! [`wire::MAX_WINDOW`], the bitmap's width), asking the caller for a chunk only when the
//! window has room, and frees a chunk once acknowledged. It retransmits on a timer (RFC 6298:
//! SRTT and RTTVAR from samples, initial RTO 300 ms, between 50 ms and 3 s, doubled on each
//! expiry, everything outstanding sent again; Karn's rule: no sample from a chunk sent
//! twice) and early, when the acknowledgements show a hole: a chunk is lost once a chunk sent
//! three transmissions after it is acknowledged and it was sent at least 1.25 SRTT ago (RFC
//! 8985's allowance for reordering, without its timer). Its congestion window counts chunks
//! (RFC 5681 in chunks): 4 at first, slow start, halved once per window on a loss seen in the
//! acknowledgements (the lost chunk still goes at once), one chunk after a timeout, and never
//! above the configured window. The receiver buffers out of order only chunks within its
//! window from the first chunk the caller has not taken: a chunk beyond it is dropped
//! (counted) and comes back later, so a caller that stops taking bytes stops the transfer
//! instead of growing the buffer. It never allocates by the announced length, which it
//! checks against [`TransferConfig::max_total_len`].
//!
//! **Failure.** Either end fails ([`FailReason::NoProgress`]) when nothing new happened for
//! [`TransferConfig::no_progress_timeout`] (15 s): for the sender no new acknowledgement, for
//! the receiver no new Start, chunk or End. The clock starts at the first call that passes a
//! `now`. A receiver fails at once on a Start longer than its maximum
//! ([`FailReason::TooLong`]). Every datagram refused or dropped is counted in
//! [`TransferStats`]; none panics, none is buffered beyond the window.
//!
//! **Choices.** The chunks come from the caller one at a time ([`Sender::push_chunk`]) rather
//! than from a reader inside `poll_transmit`: the sender stays free of I/O errors, a test
//! feeds it from anything, and [`Sender::read_from`] still serves the common case. Acks go
//! out for every datagram (no ack delay: one timer less, and the reverse path is cheap);
//! several datagrams handled before one `poll_transmit` share one Ack. The Start carries the
//! chunk length, so the receiver needs no configuration agreed with the sender. Data before
//! the Start is not buffered (its chunk length and the id to lock on are not known yet): a
//! lost Start costs one retransmission timeout. The window stops at 64 chunks so that every
//! chunk the receiver may hold fits the Ack's bitmap (64 kB per round trip: 1.6 MB/s at
//! 40 ms). The decrease is Reno's one half, not CUBIC's 0.7: random loss is taken for
//! congestion, which costs throughput on a lossy path (a 1 MiB transfer through 10% loss each
//! way takes about 22 s of virtual time in the tests, 16 s with 0.7) but never floods a slow
//! relay.
//!
//! # Example
//!
//! A sender and a receiver over an in-memory queue that loses every fifth datagram and swaps
//! neighbours, in virtual time:
//!
//! ```
//! use std::collections::VecDeque;
//! use std::time::{Duration, Instant};
//! use jingle_ice_conformance::transfer::{
//!     Receiver, ReceiverState, Sender, SenderState, TransferConfig, hex,
//! };
//!
//! let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
//! let config = TransferConfig::default();
//! let mut sender = Sender::new(0x5eed, data.len() as u64, Some("a.bin".into()), config.clone())?;
//! let mut receiver = Receiver::new(config)?;
//! let (mut to_receiver, mut to_sender) = (VecDeque::new(), VecDeque::new());
//! let (mut received, mut count) = (Vec::new(), 0u32);
//! let mut source = &data[..];
//! let mut now = Instant::now();
//! while !matches!(sender.state(), SenderState::Done { .. } | SenderState::Failed(_)) {
//!     sender.read_from(&mut source)?;
//!     while let Some(d) = sender.poll_transmit(now) {
//!         count += 1;
//!         if count % 5 != 0 {
//!             to_receiver.push_back(d);
//!         }
//!     }
//!     if to_receiver.len() >= 2 {
//!         to_receiver.swap(0, 1);
//!     }
//!     while let Some(d) = to_receiver.pop_front() {
//!         receiver.handle_datagram(now, &d);
//!         while let Some(ack) = receiver.poll_transmit(now) {
//!             to_sender.push_back(ack);
//!         }
//!     }
//!     while let Some(bytes) = receiver.poll_bytes() {
//!         received.extend_from_slice(&bytes);
//!     }
//!     now += Duration::from_millis(20);
//!     while let Some(d) = to_sender.pop_front() {
//!         sender.handle_datagram(now, &d);
//!     }
//!     if sender.poll_timeout().is_some_and(|t| t <= now) {
//!         sender.handle_timeout(now);
//!     }
//! }
//! assert_eq!(received, data);
//! assert_eq!(receiver.name(), Some("a.bin"));
//! let (SenderState::Done { sha256, peer_sha256 }, ReceiverState::Done { .. }) =
//!     (sender.state(), receiver.state())
//! else {
//!     panic!("not done: {:?}", sender.state());
//! };
//! assert_eq!(sha256, peer_sha256);
//! println!("sent {}, received {}", hex(&sha256), hex(&peer_sha256));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod control;
mod flight;
mod receiver;
mod sender;
pub mod wire;

use std::fmt;
use std::time::Duration;

pub use receiver::{Receiver, ReceiverState};
pub use sender::{ChunkRequest, PushError, Sender, SenderState};
pub use wire::{MAX_CHUNK_LEN, MAX_WINDOW, NameError};

/// A SHA-256 digest.
pub type Sha256 = [u8; 32];

/// The settings of either end. The defaults suit a file over a 1,200-byte path MTU on the
/// Internet; [`TransferConfig::validate`] says which values are refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferConfig {
    /// Sender: the payload of every Data but the last, 1 to [`MAX_CHUNK_LEN`]. Default 1,000
    /// (a 1,009-byte datagram, 1,061 bytes inside ChannelData, UDP and IPv6). The receiver
    /// takes the length the Start announces.
    pub chunk_len: usize,
    /// Both: the chunks in flight (sender) or buffered out of order (receiver), 1 to
    /// [`MAX_WINDOW`]. Default 64. A receiver's window smaller than its sender's drops the
    /// excess (counted) and slows the transfer down.
    pub window: u32,
    /// Sender: the retransmission timeout before any RTT sample. Default 300 ms.
    pub initial_rto: Duration,
    /// Sender: the least retransmission timeout. Default 50 ms.
    pub min_rto: Duration,
    /// Sender: the largest retransmission timeout, after any backoff. Default 3 s.
    pub max_rto: Duration,
    /// Both: fail after this long without progress. Default 15 s.
    pub no_progress_timeout: Duration,
    /// Receiver: the longest transfer accepted; a longer Start fails the receiver. Default
    /// 4 GiB.
    pub max_total_len: u64,
}

impl Default for TransferConfig {
    fn default() -> Self {
        TransferConfig {
            chunk_len: 1000,
            window: 64,
            initial_rto: Duration::from_millis(300),
            min_rto: Duration::from_millis(50),
            max_rto: Duration::from_secs(3),
            no_progress_timeout: Duration::from_secs(15),
            max_total_len: 4 << 30,
        }
    }
}

impl TransferConfig {
    /// Checks the bounds: a chunk length of 1 to [`MAX_CHUNK_LEN`], a window of 1 to
    /// [`MAX_WINDOW`], `0 < min_rto <= initial_rto <= max_rto <= 1 h`, a no-progress timeout of
    /// 1 ms to 1 day.
    pub fn validate(&self) -> Result<(), SetupError> {
        const HOUR: Duration = Duration::from_secs(3600);
        const DAY: Duration = Duration::from_secs(86_400);
        let bad = |what| Err(SetupError::Config(what));
        if self.chunk_len == 0 || self.chunk_len > MAX_CHUNK_LEN {
            return bad("chunk_len must be 1 to 16384");
        }
        if self.window == 0 || self.window > MAX_WINDOW {
            return bad("window must be 1 to 64");
        }
        if self.min_rto.is_zero()
            || self.min_rto > self.initial_rto
            || self.initial_rto > self.max_rto
            || self.max_rto > HOUR
        {
            return bad("the RTOs must hold 0 < min_rto <= initial_rto <= max_rto <= 1 h");
        }
        if self.no_progress_timeout < Duration::from_millis(1) || self.no_progress_timeout > DAY {
            return bad("no_progress_timeout must be 1 ms to 1 day");
        }
        Ok(())
    }
}

/// Why an end cannot be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupError {
    /// A [`TransferConfig`] value out of bounds (which one, in words).
    Config(&'static str),
    /// The sender's file name cannot go in a Start.
    Name(NameError),
    /// The length needs more than 2³² − 1 chunks of the configured length.
    TooManyChunks {
        /// The length asked for.
        total_len: u64,
        /// The chunk length configured.
        chunk_len: usize,
    },
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::Config(what) => write!(f, "transfer configuration: {what}"),
            SetupError::Name(e) => e.fmt(f),
            SetupError::TooManyChunks {
                total_len,
                chunk_len,
            } => write!(
                f,
                "{total_len} bytes in chunks of {chunk_len} make more than 2^32 - 1 chunks"
            ),
        }
    }
}

impl std::error::Error for SetupError {}

/// Why an end gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailReason {
    /// Nothing new for this long (the configured no-progress timeout).
    NoProgress(Duration),
    /// Receiver: the Start announced more than the configured maximum.
    TooLong {
        /// The announced length.
        total_len: u64,
        /// [`TransferConfig::max_total_len`].
        max: u64,
    },
}

impl fmt::Display for FailReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailReason::NoProgress(d) => write!(f, "no progress for {:.1} s", d.as_secs_f64()),
            FailReason::TooLong { total_len, max } => {
                write!(f, "the peer announced {total_len} bytes (at most {max})")
            }
        }
    }
}

/// What an end did, counted. Each end counts what applies to it; the rest stays 0. The
/// counters of dropped datagrams say why each was dropped, once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransferStats {
    /// Datagrams returned by `poll_transmit`.
    pub datagrams_sent: u64,
    /// Bytes of those datagrams.
    pub bytes_sent: u64,
    /// Datagrams given to `handle_datagram`.
    pub datagrams_received: u64,
    /// Sender: chunks sent again (by the timer or a fast retransmit); Start and End repeats
    /// are not counted.
    pub retransmissions: u64,
    /// Sender: chunks found lost by the acknowledgements (a hole before a later chunk).
    pub fast_retransmits: u64,
    /// Sender: expiries of the retransmission timer.
    pub timeouts: u64,
    /// Datagrams that did not decode ([`wire::WireError`]).
    pub malformed: u64,
    /// Datagrams of another transfer (another id), dropped.
    pub wrong_id: u64,
    /// Datagrams of a kind this end does not take (an Ack to a receiver, a Data to a sender,
    /// an EndAck before the End), dropped.
    pub unexpected: u64,
    /// Datagrams arriving after the end was done (late copies), dropped.
    pub late: u64,
    /// Receiver: Data or End before any Start, dropped.
    pub before_start: u64,
    /// Receiver: Data with a sequence number past the last chunk, dropped.
    pub beyond_length: u64,
    /// Receiver: Data whose payload is not its chunk's length (longer than the chunk length,
    /// or overflowing or falling short of the total length), dropped.
    pub bad_payload_len: u64,
    /// Receiver: Data beyond the window, dropped (and acknowledged: the sender learns where
    /// the receiver is).
    pub beyond_window: u64,
    /// Receiver: Data, Start or End received again (acknowledged again).
    pub duplicates: u64,
    /// Receiver: a second Start that differs from the first, dropped.
    pub conflicting_start: u64,
    /// Receiver: an End before every chunk arrived, dropped.
    pub early_end: u64,
    /// Sender: an Ack acknowledging chunks never sent, dropped.
    pub invalid_ack: u64,
}

impl TransferStats {
    /// The datagrams dropped, for any reason.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.malformed
            + self.wrong_id
            + self.unexpected
            + self.late
            + self.before_start
            + self.beyond_length
            + self.bad_payload_len
            + self.beyond_window
            + self.conflicting_start
            + self.early_end
            + self.invalid_ack
    }
}

/// Lower-case hex of bytes (a digest, to print both ends' and compare them by eye).
#[must_use]
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(2 * bytes.len());
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bounds_are_checked() {
        let ok = TransferConfig::default();
        assert_eq!(ok.validate(), Ok(()));
        let bad = [
            TransferConfig {
                chunk_len: 0,
                ..ok.clone()
            },
            TransferConfig {
                chunk_len: MAX_CHUNK_LEN + 1,
                ..ok.clone()
            },
            TransferConfig {
                window: 0,
                ..ok.clone()
            },
            TransferConfig {
                window: MAX_WINDOW + 1,
                ..ok.clone()
            },
            TransferConfig {
                min_rto: Duration::ZERO,
                ..ok.clone()
            },
            TransferConfig {
                initial_rto: Duration::from_secs(4),
                ..ok.clone()
            },
            TransferConfig {
                no_progress_timeout: Duration::MAX,
                ..ok.clone()
            },
        ];
        for c in bad {
            assert!(matches!(c.validate(), Err(SetupError::Config(_))), "{c:?}");
        }
        assert_eq!(hex(&[0x00, 0xab, 0x7f]), "00ab7f");
    }
}
