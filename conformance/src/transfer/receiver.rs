//! The receiving end: takes a Start, buffers chunks within its window, hands the bytes out in
//! order, acknowledges, answers the End.

use std::collections::VecDeque;
use std::io;
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256 as Hasher};

use super::wire::{self, AckInfo, Datagram, Message, chunk_count};
use super::{FailReason, SetupError, Sha256, TransferConfig, TransferStats};

/// Where a receiver is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiverState {
    /// No Start yet.
    Waiting,
    /// The Start arrived; chunks are arriving.
    Receiving,
    /// Every byte and the End arrived; the EndAck is sent (again for every End repeated).
    Done {
        /// The SHA-256 of every byte received.
        sha256: Sha256,
        /// The sender's SHA-256, from its End.
        peer_sha256: Sha256,
    },
    /// Given up.
    Failed(FailReason),
}

/// What the Start announced.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Announced {
    id: u32,
    total_len: u64,
    chunk_len: u16,
    total_chunks: u32,
    name: Option<String>,
}

/// The receiving end of a transfer. See [the module](super) for the loop that drives it.
#[derive(Debug)]
pub struct Receiver {
    /// The id agreed out of band, if any.
    expected_id: Option<u32>,
    window: u32,
    max_total_len: u64,
    no_progress_timeout: Duration,
    state: ReceiverState,
    start: Option<Announced>,
    /// Chunks from `taken` on: `Some` when arrived. At most `window` long.
    buffer: VecDeque<Option<Vec<u8>>>,
    /// Chunks the caller took ([`Receiver::poll_bytes`]).
    taken: u32,
    /// Every chunk below this arrived.
    next_expected: u32,
    hasher: Hasher,
    sha256: Option<Sha256>,
    ack_due: bool,
    end_ack_due: bool,
    /// The time of the last progress (or of the first call with a `now`).
    last_progress: Option<Instant>,
    stats: TransferStats,
}

impl Receiver {
    /// A receiver that takes the first Start it sees, whatever its id, and from then on only
    /// that id: for a transfer whose id is not known in advance (one transfer per pair).
    pub fn new(config: TransferConfig) -> Result<Receiver, SetupError> {
        Receiver::make(None, config)
    }

    /// A receiver that takes only the transfer `id` (agreed out of band): Starts of other ids
    /// are dropped and counted like their other datagrams.
    pub fn with_id(id: u32, config: TransferConfig) -> Result<Receiver, SetupError> {
        Receiver::make(Some(id), config)
    }

    fn make(expected_id: Option<u32>, config: TransferConfig) -> Result<Receiver, SetupError> {
        config.validate()?;
        Ok(Receiver {
            expected_id,
            window: config.window,
            max_total_len: config.max_total_len,
            no_progress_timeout: config.no_progress_timeout,
            state: ReceiverState::Waiting,
            start: None,
            buffer: VecDeque::new(),
            taken: 0,
            next_expected: 0,
            hasher: Hasher::new(),
            sha256: None,
            ack_due: false,
            end_ack_due: false,
            last_progress: None,
            stats: TransferStats::default(),
        })
    }

    /// Where the receiver is.
    #[must_use]
    pub fn state(&self) -> ReceiverState {
        self.state
    }

    /// The transfer id, once a Start was taken (or the one given to [`Receiver::with_id`]).
    #[must_use]
    pub fn id(&self) -> Option<u32> {
        self.start.as_ref().map(|s| s.id).or(self.expected_id)
    }

    /// The length the Start announced.
    #[must_use]
    pub fn total_len(&self) -> Option<u64> {
        self.start.as_ref().map(|s| s.total_len)
    }

    /// The file name the Start announced, a plain name ([`wire::check_name`]).
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.start.as_ref().and_then(|s| s.name.as_deref())
    }

    /// The bytes received in order (handed out or ready for [`Receiver::poll_bytes`]).
    #[must_use]
    pub fn bytes_received(&self) -> u64 {
        self.start.as_ref().map_or(0, |s| {
            (u64::from(self.next_expected) * u64::from(s.chunk_len)).min(s.total_len)
        })
    }

    /// What the receiver did, counted (every datagram dropped, and why).
    #[must_use]
    pub fn stats(&self) -> &TransferStats {
        &self.stats
    }

    /// The next bytes of the stream, in order (one chunk), if any arrived that the caller has
    /// not taken yet. Take them all after each datagram: chunks not taken count against the
    /// window.
    #[must_use]
    pub fn poll_bytes(&mut self) -> Option<Vec<u8>> {
        if self.taken >= self.next_expected {
            return None;
        }
        let chunk = self.buffer.pop_front().flatten();
        self.taken += 1;
        chunk
    }

    /// Writes every byte [`Receiver::poll_bytes`] has to `writer`, returning how many.
    pub fn write_to<W: io::Write + ?Sized>(&mut self, writer: &mut W) -> io::Result<u64> {
        let mut n = 0;
        while let Some(bytes) = self.poll_bytes() {
            writer.write_all(&bytes)?;
            n += bytes.len() as u64;
        }
        Ok(n)
    }

    /// The next datagram to send: the EndAck if an End arrived (again), else an Ack if a
    /// datagram of the transfer arrived since the last one.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        self.arm(now);
        let start = self.start.as_ref()?;
        let message = if self.end_ack_due {
            self.end_ack_due = false;
            self.ack_due = false;
            Message::EndAck {
                sha256: self.sha256?,
            }
        } else if self.ack_due {
            self.ack_due = false;
            Message::Ack(AckInfo {
                next_expected: self.next_expected,
                bitmap: self.bitmap(),
                start_received: true,
            })
        } else {
            return None;
        };
        // Acks and EndAcks always encode.
        let bytes = Datagram {
            id: start.id,
            message,
        }
        .encode()
        .unwrap_or_default();
        self.stats.datagrams_sent += 1;
        self.stats.bytes_sent += bytes.len() as u64;
        Some(bytes)
    }

    /// Bit `i`: chunk `next_expected + 1 + i` arrived.
    fn bitmap(&self) -> u64 {
        let from = (self.next_expected - self.taken) as usize + 1;
        let mut bitmap = 0;
        for (i, chunk) in self.buffer.iter().skip(from).take(64).enumerate() {
            if chunk.is_some() {
                bitmap |= 1 << i;
            }
        }
        bitmap
    }

    /// Takes a datagram from the sender (Start, Data, End); anything else is counted and
    /// dropped, and so is everything after a failure.
    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) {
        self.arm(now);
        self.stats.datagrams_received += 1;
        let Ok(d) = wire::decode(datagram) else {
            self.stats.malformed += 1;
            return;
        };
        if self.id().is_some_and(|id| id != d.id) {
            self.stats.wrong_id += 1;
            return;
        }
        if matches!(self.state, ReceiverState::Failed(_)) {
            self.stats.late += 1;
            return;
        }
        match d.message {
            Message::Start {
                total_len,
                chunk_len,
                name,
            } => {
                self.on_start(now, d.id, total_len, chunk_len, name);
            }
            Message::Data { .. } | Message::End { .. } if self.start.is_none() => {
                self.stats.before_start += 1;
            }
            Message::Data { seq, payload } => self.on_data(now, seq, payload),
            Message::End { sha256 } => self.on_end(now, sha256),
            Message::Ack(_) | Message::EndAck { .. } => self.stats.unexpected += 1,
        }
    }

    fn on_start(
        &mut self,
        now: Instant,
        id: u32,
        total_len: u64,
        chunk_len: u16,
        name: Option<&str>,
    ) {
        let announced = Announced {
            id,
            total_len,
            chunk_len,
            // The decoder held it to a plain name.
            total_chunks: u32::try_from(chunk_count(total_len, chunk_len)).unwrap_or(u32::MAX),
            name: name.map(str::to_owned),
        };
        if let Some(start) = &self.start {
            if *start == announced {
                self.stats.duplicates += 1;
                self.ack_due = true;
            } else {
                self.stats.conflicting_start += 1;
            }
            return;
        }
        if total_len > self.max_total_len {
            self.state = ReceiverState::Failed(FailReason::TooLong {
                total_len,
                max: self.max_total_len,
            });
            return;
        }
        if announced.total_chunks == 0 {
            self.sha256 = Some(self.hasher.finalize_reset().into());
        }
        self.start = Some(announced);
        self.state = ReceiverState::Receiving;
        self.last_progress = Some(now);
        self.ack_due = true;
    }

    fn on_data(&mut self, now: Instant, seq: u32, payload: &[u8]) {
        let Some(start) = &self.start else { return };
        if matches!(self.state, ReceiverState::Done { .. }) {
            self.stats.late += 1;
            return;
        }
        if seq >= start.total_chunks {
            self.stats.beyond_length += 1;
            return;
        }
        let offset = u64::from(seq) * u64::from(start.chunk_len);
        let expected = (start.total_len - offset).min(u64::from(start.chunk_len));
        if payload.len() as u64 != expected {
            self.stats.bad_payload_len += 1;
            return;
        }
        self.ack_due = true;
        if seq < self.next_expected {
            self.stats.duplicates += 1;
            return;
        }
        let index = (seq - self.taken) as usize;
        if index >= self.window as usize {
            self.stats.beyond_window += 1;
            return;
        }
        if self.buffer.len() <= index {
            self.buffer.resize(index + 1, None);
        }
        if self.buffer[index].is_some() {
            self.stats.duplicates += 1;
            return;
        }
        self.buffer[index] = Some(payload.to_vec());
        self.last_progress = Some(now);
        while let Some(Some(chunk)) = self.buffer.get((self.next_expected - self.taken) as usize) {
            self.hasher.update(chunk);
            self.next_expected += 1;
        }
        if self.next_expected == start.total_chunks {
            self.sha256 = Some(self.hasher.finalize_reset().into());
        }
    }

    fn on_end(&mut self, now: Instant, peer_sha256: Sha256) {
        if matches!(self.state, ReceiverState::Done { .. }) {
            self.stats.duplicates += 1;
            self.end_ack_due = true;
            return;
        }
        let Some(sha256) = self.sha256 else {
            self.stats.early_end += 1;
            self.ack_due = true;
            return;
        };
        self.state = ReceiverState::Done {
            sha256,
            peer_sha256,
        };
        self.last_progress = Some(now);
        self.end_ack_due = true;
    }

    /// When [`Receiver::handle_timeout`] must be called: the no-progress deadline, until done
    /// or failed (`None` before the first call with a `now`).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !matches!(
            self.state,
            ReceiverState::Waiting | ReceiverState::Receiving
        ) {
            return None;
        }
        self.last_progress
            .and_then(|t| t.checked_add(self.no_progress_timeout))
    }

    /// Gives up if nothing new arrived for the no-progress timeout.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.arm(now);
        if self.poll_timeout().is_some_and(|t| now >= t) {
            self.state = ReceiverState::Failed(FailReason::NoProgress(self.no_progress_timeout));
            self.ack_due = false;
            self.end_ack_due = false;
        }
    }

    /// Starts the no-progress clock at the first `now` seen.
    fn arm(&mut self, now: Instant) {
        if self.last_progress.is_none() {
            self.last_progress = Some(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transfer::wire::decode;

    fn t0() -> Instant {
        #[allow(clippy::disallowed_methods, reason = "a test's origin of time")]
        Instant::now()
    }

    fn enc(id: u32, message: Message<'_>) -> Vec<u8> {
        Datagram { id, message }.encode().unwrap()
    }

    fn start(id: u32, total_len: u64) -> Vec<u8> {
        enc(
            id,
            Message::Start {
                total_len,
                chunk_len: 10,
                name: Some("x"),
            },
        )
    }

    fn data(id: u32, seq: u32, len: usize) -> Vec<u8> {
        enc(
            id,
            Message::Data {
                seq,
                payload: &vec![seq as u8; len],
            },
        )
    }

    fn last_ack(r: &mut Receiver, now: Instant) -> AckInfo {
        let mut last = None;
        while let Some(d) = r.poll_transmit(now) {
            if let Message::Ack(a) = decode(&d).unwrap().message {
                last = Some(a);
            }
        }
        last.expect("an ack")
    }

    #[test]
    fn out_of_order_chunks_are_buffered_and_reported() {
        let now = t0();
        let mut r = Receiver::new(TransferConfig::default()).unwrap();
        r.handle_datagram(now, &data(5, 0, 10));
        assert_eq!(r.stats().before_start, 1);
        assert_eq!(r.poll_transmit(now), None, "no ack before the Start");
        r.handle_datagram(now, &start(5, 35));
        assert_eq!(
            (r.id(), r.total_len(), r.name()),
            (Some(5), Some(35), Some("x"))
        );
        r.handle_datagram(now, &data(5, 1, 10));
        r.handle_datagram(now, &data(5, 3, 5));
        let a = last_ack(&mut r, now);
        assert_eq!(
            (a.next_expected, a.bitmap, a.start_received),
            (0, 0b101, true)
        );
        assert_eq!(r.poll_bytes(), None);
        r.handle_datagram(now, &data(5, 0, 10));
        assert_eq!(r.bytes_received(), 20);
        assert_eq!(r.poll_bytes(), Some(vec![0; 10]));
        assert_eq!(r.poll_bytes(), Some(vec![1; 10]));
        assert_eq!(r.poll_bytes(), None);
        let a = last_ack(&mut r, now);
        assert_eq!((a.next_expected, a.bitmap), (2, 0b1));
        r.handle_datagram(now, &data(5, 2, 10));
        let mut out = Vec::new();
        assert_eq!(r.write_to(&mut out).unwrap(), 15);
        assert_eq!(r.bytes_received(), 35);
        r.handle_datagram(now, &enc(5, Message::End { sha256: [9; 32] }));
        let ReceiverState::Done {
            peer_sha256,
            sha256,
        } = r.state()
        else {
            panic!("{:?}", r.state())
        };
        assert_eq!(peer_sha256, [9; 32]);
        let reply = r.poll_transmit(now).unwrap();
        assert_eq!(decode(&reply).unwrap().message, Message::EndAck { sha256 });
        assert_eq!(r.poll_transmit(now), None);
        // A repeated End is answered again; a late Data is not.
        r.handle_datagram(now, &enc(5, Message::End { sha256: [9; 32] }));
        r.handle_datagram(now, &data(5, 2, 10));
        assert!(r.poll_transmit(now).is_some());
        assert_eq!(r.poll_transmit(now), None);
        assert_eq!(r.stats().late, 1);
    }

    #[test]
    fn hostile_datagrams_are_dropped_and_counted() {
        let now = t0();
        let c = TransferConfig {
            window: 4,
            ..TransferConfig::default()
        };
        let mut r = Receiver::with_id(5, c).unwrap();
        r.handle_datagram(now, &start(6, 100));
        assert_eq!((r.stats().wrong_id, r.state()), (1, ReceiverState::Waiting));
        r.handle_datagram(now, &start(5, 35));
        r.handle_datagram(now, &data(5, 4, 10)); // past the last chunk (3)
        r.handle_datagram(now, &data(5, 0, 11)); // longer than the chunk length
        r.handle_datagram(now, &data(5, 3, 10)); // overflows the length (5 bytes are left)
        r.handle_datagram(now, &data(5, 0, 9)); // short
        r.handle_datagram(now, &start(5, 36)); // a second Start, another length
        r.handle_datagram(
            now,
            &enc(
                5,
                Message::Start {
                    total_len: 35,
                    chunk_len: 10,
                    name: None,
                },
            ),
        );
        r.handle_datagram(now, &start(5, 35)); // the same Start again
        r.handle_datagram(now, &enc(5, Message::End { sha256: [0; 32] })); // before the data
        r.handle_datagram(now, &enc(5, Message::EndAck { sha256: [0; 32] }));
        r.handle_datagram(now, &[0x82, 0, 0, 0, 5]);
        r.handle_datagram(now, &[]);
        let s = r.stats().clone();
        assert_eq!(
            (
                s.beyond_length,
                s.bad_payload_len,
                s.conflicting_start,
                s.duplicates,
                s.early_end
            ),
            (1, 3, 2, 1, 1)
        );
        assert_eq!((s.unexpected, s.malformed, s.wrong_id), (1, 2, 1));
        assert_eq!(s.dropped(), 11);
        assert_eq!(r.state(), ReceiverState::Receiving);
        assert_eq!(r.total_len(), Some(35));
    }

    #[test]
    fn the_window_bounds_the_buffer() {
        let now = t0();
        let c = TransferConfig {
            window: 4,
            ..TransferConfig::default()
        };
        let mut r = Receiver::new(c).unwrap();
        r.handle_datagram(now, &start(5, 1000));
        for seq in 1..=10 {
            r.handle_datagram(now, &data(5, seq, 10));
        }
        assert_eq!(r.stats().beyond_window, 7);
        assert_eq!(r.buffer.len(), 4);
        let a = last_ack(&mut r, now);
        assert_eq!((a.next_expected, a.bitmap), (0, 0b111));
        // Chunks not taken hold the window: 0 to 3 arrived, none taken, 4 is refused.
        r.handle_datagram(now, &data(5, 0, 10));
        r.handle_datagram(now, &data(5, 4, 10));
        assert_eq!((r.bytes_received(), r.stats().beyond_window), (40, 8));
        assert_eq!(r.poll_bytes().map(|b| b[0]), Some(0));
        r.handle_datagram(now, &data(5, 4, 10));
        assert_eq!(r.bytes_received(), 50);
    }

    #[test]
    fn a_huge_start_fails_cleanly_and_silence_fails_late() {
        let now = t0();
        let mut r = Receiver::new(TransferConfig::default()).unwrap();
        r.handle_datagram(
            now,
            &enc(
                1,
                Message::Start {
                    total_len: 1 << 40,
                    chunk_len: 16384,
                    name: None,
                },
            ),
        );
        assert!(matches!(
            r.state(),
            ReceiverState::Failed(FailReason::TooLong { .. })
        ));
        assert_eq!(r.poll_transmit(now), None);
        r.handle_datagram(now, &start(1, 10));
        assert_eq!(r.stats().late, 1);

        let mut r = Receiver::new(TransferConfig::default()).unwrap();
        assert_eq!(r.poll_timeout(), None);
        assert_eq!(r.poll_transmit(now), None);
        assert_eq!(r.poll_timeout(), Some(now + Duration::from_secs(15)));
        r.handle_datagram(now + Duration::from_secs(10), &start(1, 10));
        let deadline = now + Duration::from_secs(25);
        assert_eq!(r.poll_timeout(), Some(deadline));
        r.handle_timeout(deadline - Duration::from_millis(1));
        assert_eq!(r.state(), ReceiverState::Receiving);
        r.handle_timeout(deadline);
        assert_eq!(
            r.state(),
            ReceiverState::Failed(FailReason::NoProgress(Duration::from_secs(15)))
        );
        assert_eq!(r.poll_timeout(), None);
    }

    #[test]
    fn an_empty_transfer_needs_only_start_and_end() {
        let now = t0();
        let mut r = Receiver::new(TransferConfig::default()).unwrap();
        r.handle_datagram(
            now,
            &enc(
                2,
                Message::Start {
                    total_len: 0,
                    chunk_len: 1000,
                    name: None,
                },
            ),
        );
        assert_eq!(last_ack(&mut r, now).next_expected, 0);
        r.handle_datagram(now, &enc(2, Message::End { sha256: [1; 32] }));
        assert!(matches!(r.state(), ReceiverState::Done { .. }));
        assert_eq!(r.poll_bytes(), None);
    }
}
