//! The sending end: Start, the chunks of its window, retransmissions, End.

use std::fmt;
use std::io;
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256 as Hasher};

use super::control::{Aimd, Rto};
use super::flight::Flight;
use super::wire::{self, AckInfo, Datagram, MAX_CHUNKS, Message};
use super::{FailReason, SetupError, Sha256, TransferConfig, TransferStats};

/// Where a sender is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenderState {
    /// Sending the Start and the chunks.
    Sending,
    /// Every chunk is acknowledged; End sent, waiting for the EndAck.
    Finishing,
    /// The EndAck arrived.
    Done {
        /// The SHA-256 of every byte sent.
        sha256: Sha256,
        /// The receiver's SHA-256 of every byte it received.
        peer_sha256: Sha256,
    },
    /// Given up.
    Failed(FailReason),
}

/// The chunk a sender wants next: the caller reads these bytes of its stream and gives them
/// to [`Sender::push_chunk`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkRequest {
    /// The chunk's sequence number.
    pub seq: u32,
    /// Where the chunk begins in the stream (`seq × chunk_len`).
    pub offset: u64,
    /// Its exact length: the chunk length, or what remains for the last chunk.
    pub len: usize,
}

/// Why [`Sender::push_chunk`] refused a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError {
    /// The sender asked for no chunk ([`Sender::wants_chunk`] is `None`).
    NotWanted,
    /// The chunk is not the length asked for.
    WrongLength {
        /// [`ChunkRequest::len`].
        expected: usize,
        /// The length given.
        got: usize,
    },
}

impl fmt::Display for PushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushError::NotWanted => f.write_str("the sender wants no chunk now"),
            PushError::WrongLength { expected, got } => {
                write!(f, "a chunk of {got} bytes where {expected} are wanted")
            }
        }
    }
}

impl std::error::Error for PushError {}

/// The sending end of a transfer of `total_len` bytes. See [the module](super) for the loop
/// that drives it.
#[derive(Debug)]
pub struct Sender {
    id: u32,
    total_len: u64,
    name: Option<String>,
    chunk_len: usize,
    total_chunks: u32,
    window: u32,
    no_progress_timeout: Duration,
    state: SenderState,
    flight: Flight,
    hasher: Hasher,
    sha256: Option<Sha256>,
    bytes_acked: u64,
    start_transmissions: u32,
    start_sent_at: Option<Instant>,
    start_due: bool,
    start_acked: bool,
    end_transmissions: u32,
    end_due: bool,
    /// The time of the last progress (or of the first call with a `now`).
    last_progress: Option<Instant>,
    rto_deadline: Option<Instant>,
    rto: Rto,
    aimd: Aimd,
    /// A loss of a chunk below this does not shrink the window again (one cut per window).
    recovery_until: u32,
    /// A lost chunk may go once beyond the window just cut (RFC 5681 §3.2 step 4).
    fast_retransmit_credit: bool,
    stats: TransferStats,
}

impl Sender {
    /// A sender of `total_len` bytes under the transfer id `id` (draw it at random: the
    /// receiver drops the datagrams of any other id), announcing `name` if given (a plain file
    /// name, [`wire::check_name`]).
    pub fn new(
        id: u32,
        total_len: u64,
        name: Option<String>,
        config: TransferConfig,
    ) -> Result<Sender, SetupError> {
        config.validate()?;
        if let Some(name) = &name {
            wire::check_name(name).map_err(SetupError::Name)?;
        }
        let chunk_len = config.chunk_len;
        let chunks = total_len.div_ceil(chunk_len as u64);
        let total_chunks = u32::try_from(chunks)
            .ok()
            .filter(|_| chunks <= MAX_CHUNKS)
            .ok_or(SetupError::TooManyChunks {
                total_len,
                chunk_len,
            })?;
        let mut sender = Sender {
            id,
            total_len,
            name,
            chunk_len,
            total_chunks,
            window: config.window,
            no_progress_timeout: config.no_progress_timeout,
            state: SenderState::Sending,
            flight: Flight::default(),
            hasher: Hasher::new(),
            sha256: None,
            bytes_acked: 0,
            start_transmissions: 0,
            start_sent_at: None,
            start_due: true,
            start_acked: false,
            end_transmissions: 0,
            end_due: false,
            last_progress: None,
            rto_deadline: None,
            rto: Rto::new(config.initial_rto, config.min_rto, config.max_rto),
            aimd: Aimd::new(config.window),
            recovery_until: 0,
            fast_retransmit_credit: false,
            stats: TransferStats::default(),
        };
        if total_chunks == 0 {
            sender.sha256 = Some(sender.hasher.finalize_reset().into());
        }
        Ok(sender)
    }

    /// The transfer id.
    #[must_use]
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The length of the transfer.
    #[must_use]
    pub fn total_len(&self) -> u64 {
        self.total_len
    }

    /// Where the sender is.
    #[must_use]
    pub fn state(&self) -> SenderState {
        self.state
    }

    /// The bytes the receiver acknowledged so far.
    #[must_use]
    pub fn bytes_acked(&self) -> u64 {
        self.bytes_acked
    }

    /// What the sender did, counted (retransmissions, datagrams sent, drops).
    #[must_use]
    pub fn stats(&self) -> &TransferStats {
        &self.stats
    }

    /// The current retransmission timeout.
    #[must_use]
    pub fn rto(&self) -> Duration {
        self.rto.rto()
    }

    /// The smoothed round-trip time, once measured.
    #[must_use]
    pub fn srtt(&self) -> Option<Duration> {
        self.rto.srtt()
    }

    /// The congestion window, in chunks.
    #[must_use]
    pub fn cwnd(&self) -> u32 {
        self.aimd.window()
    }

    /// The SHA-256 of the whole stream, once every chunk has been pushed.
    #[must_use]
    pub fn sha256(&self) -> Option<Sha256> {
        self.sha256
    }

    /// The chunk the sender wants next, if its window has room for one; `None` when every
    /// chunk was pushed, the window is full, or the sender is no longer sending. The chunks are
    /// asked for in order.
    #[must_use]
    pub fn wants_chunk(&self) -> Option<ChunkRequest> {
        let seq = self.flight.next_seq();
        if self.state != SenderState::Sending
            || seq >= self.total_chunks
            || self.flight.held() >= self.window
        {
            return None;
        }
        let offset = u64::from(seq) * self.chunk_len as u64;
        let len = (self.total_len - offset).min(self.chunk_len as u64) as usize;
        Some(ChunkRequest { seq, offset, len })
    }

    /// Gives the sender the chunk [`Sender::wants_chunk`] asked for (copied: the sender keeps
    /// it until acknowledged).
    pub fn push_chunk(&mut self, bytes: &[u8]) -> Result<(), PushError> {
        self.check_push(bytes.len())?;
        self.push(bytes.to_vec());
        Ok(())
    }

    /// Reads from `reader` every chunk the sender wants now ([`std::io::Read::read_exact`]
    /// each), returning how many. A stream shorter than announced is an
    /// [`io::ErrorKind::UnexpectedEof`] error.
    pub fn read_from<R: io::Read + ?Sized>(&mut self, reader: &mut R) -> io::Result<u32> {
        let mut chunks = 0;
        while let Some(want) = self.wants_chunk() {
            let mut bytes = vec![0; want.len];
            reader.read_exact(&mut bytes)?;
            self.push(bytes);
            chunks += 1;
        }
        Ok(chunks)
    }

    fn check_push(&self, got: usize) -> Result<(), PushError> {
        let want = self.wants_chunk().ok_or(PushError::NotWanted)?;
        if got != want.len {
            return Err(PushError::WrongLength {
                expected: want.len,
                got,
            });
        }
        Ok(())
    }

    /// Appends a chunk of the wanted length.
    fn push(&mut self, data: Vec<u8>) {
        self.hasher.update(&data);
        self.flight.push(data);
        if self.flight.next_seq() == self.total_chunks {
            self.sha256 = Some(self.hasher.finalize_reset().into());
        }
    }

    /// The next datagram to send, if any: the Start (until acknowledged), then chunks found
    /// lost, then new chunks, as the congestion window allows; the End when finishing.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        self.arm(now);
        // The sender only builds messages the encoder takes (a checked name, a chunk length
        // of 1 to MAX_CHUNK_LEN, payloads of 1 to chunk_len bytes): `encode` cannot fail.
        let bytes = match self.state {
            SenderState::Sending if self.start_due && !self.start_acked => {
                self.start_due = false;
                self.start_transmissions += 1;
                if self.start_transmissions == 1 {
                    self.start_sent_at = Some(now);
                }
                let message = Message::Start {
                    total_len: self.total_len,
                    chunk_len: self.chunk_len as u16,
                    name: self.name.as_deref(),
                };
                Datagram {
                    id: self.id,
                    message,
                }
                .encode()
            }
            SenderState::Sending => {
                let credit = self.fast_retransmit_credit;
                let sent = self.flight.send(now, self.aimd.window(), credit)?;
                if sent.retransmission {
                    self.stats.retransmissions += 1;
                }
                if sent.used_credit {
                    self.fast_retransmit_credit = false;
                }
                let message = Message::Data {
                    seq: sent.seq,
                    payload: sent.payload,
                };
                Datagram {
                    id: self.id,
                    message,
                }
                .encode()
            }
            SenderState::Finishing if self.end_due => {
                self.end_due = false;
                self.end_transmissions += 1;
                let message = Message::End {
                    sha256: self.sha256.unwrap_or_default(),
                };
                Datagram {
                    id: self.id,
                    message,
                }
                .encode()
            }
            _ => return None,
        };
        let bytes = bytes.unwrap_or_default();
        self.stats.datagrams_sent += 1;
        self.stats.bytes_sent += bytes.len() as u64;
        // RFC 6298 §5.1: start the timer if it is not running.
        if self.rto_deadline.is_none() {
            self.rto_deadline = now.checked_add(self.rto.rto());
        }
        Some(bytes)
    }

    /// Takes a datagram from the receiver (an Ack or the EndAck); anything else is counted
    /// and dropped.
    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) {
        self.arm(now);
        self.stats.datagrams_received += 1;
        let Ok(d) = wire::decode(datagram) else {
            self.stats.malformed += 1;
            return;
        };
        if d.id != self.id {
            self.stats.wrong_id += 1;
            return;
        }
        if matches!(
            self.state,
            SenderState::Done { .. } | SenderState::Failed(_)
        ) {
            self.stats.late += 1;
            return;
        }
        match d.message {
            Message::Ack(ack) => self.on_ack(now, ack),
            Message::EndAck { sha256 }
                if self.state == SenderState::Finishing && self.end_transmissions > 0 =>
            {
                self.state = SenderState::Done {
                    sha256: self.sha256.unwrap_or_default(),
                    peer_sha256: sha256,
                };
                self.rto_deadline = None;
            }
            _ => self.stats.unexpected += 1,
        }
    }

    fn on_ack(&mut self, now: Instant, ack: AckInfo) {
        if !self.flight.plausible(&ack) {
            self.stats.invalid_ack += 1;
            return;
        }
        let mut progress = false;
        let mut sample: Option<Duration> = None;
        if ack.start_received && !self.start_acked {
            self.start_acked = true;
            progress = true;
            // Karn's rule holds for the Start too.
            if self.start_transmissions == 1 {
                sample = self.start_sent_at.map(|t| now.saturating_duration_since(t));
            }
        }
        let acked = self.flight.ack(now, &ack);
        self.bytes_acked += acked.bytes;
        if let Some(r) = acked.sample.into_iter().chain(sample).min() {
            self.rto.sample(r);
        }
        if acked.chunks > 0 {
            progress = true;
            self.aimd.on_ack(acked.chunks);
        }
        let settle = self.rto.srtt().map_or(Duration::ZERO, |s| s + s / 4);
        let (lost, highest) = self.flight.detect_losses(now, settle);
        self.stats.fast_retransmits += u64::from(lost);
        // One cut per window: a loss among the chunks sent before the last cut is the same
        // congestion event (RFC 6582's recovery point).
        if highest.is_some_and(|seq| seq >= self.recovery_until) {
            self.aimd.on_loss();
            self.recovery_until = self.flight.sent();
            self.fast_retransmit_credit = true;
        }
        if progress {
            self.last_progress = Some(now);
            // RFC 6298 §5.2 and §5.3: stop the timer when nothing is outstanding, else
            // restart it.
            self.rto_deadline = if self.outstanding() {
                now.checked_add(self.rto.rto())
            } else {
                None
            };
        }
        if self.start_acked
            && self.flight.base() == self.total_chunks
            && self.state == SenderState::Sending
        {
            self.state = SenderState::Finishing;
            self.end_due = true;
            self.rto_deadline = None;
        }
    }

    /// Whether anything sent waits for an acknowledgement.
    fn outstanding(&self) -> bool {
        (self.start_transmissions > 0 && !self.start_acked)
            || self.flight.outstanding()
            || (self.state == SenderState::Finishing && self.end_transmissions > 0)
    }

    /// When [`Sender::handle_timeout`] must be called: the retransmission timer or the
    /// no-progress deadline, whichever is first; `None` once done or failed (or before the
    /// first call with a `now`).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !matches!(self.state, SenderState::Sending | SenderState::Finishing) {
            return None;
        }
        let give_up = self
            .last_progress
            .and_then(|t| t.checked_add(self.no_progress_timeout));
        match (self.rto_deadline, give_up) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Acts on the deadlines due at `now`: gives up without progress, or retransmits (RFC
    /// 6298 §5.4 to §5.6: back off, and send again everything outstanding, from a congestion
    /// window of one chunk).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.arm(now);
        if !matches!(self.state, SenderState::Sending | SenderState::Finishing) {
            return;
        }
        if self
            .last_progress
            .and_then(|t| t.checked_add(self.no_progress_timeout))
            .is_some_and(|t| now >= t)
        {
            self.state = SenderState::Failed(FailReason::NoProgress(self.no_progress_timeout));
            self.rto_deadline = None;
            return;
        }
        if self.rto_deadline.is_none_or(|t| now < t) {
            return;
        }
        self.stats.timeouts += 1;
        self.rto.backoff();
        if self.start_transmissions > 0 && !self.start_acked {
            self.start_due = true;
        }
        if self.state == SenderState::Finishing {
            self.end_due = true;
        }
        self.flight.all_lost();
        self.aimd.on_timeout();
        self.fast_retransmit_credit = false;
        self.recovery_until = self.flight.sent();
        self.rto_deadline = now.checked_add(self.rto.rto());
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
    use crate::transfer::wire::{AckInfo, Kind, decode};

    fn t0() -> Instant {
        #[allow(clippy::disallowed_methods, reason = "a test's origin of time")]
        Instant::now()
    }

    const MS: Duration = Duration::from_millis(1);

    fn ack(id: u32, next_expected: u32, bitmap: u64) -> Vec<u8> {
        Datagram {
            id,
            message: Message::Ack(AckInfo {
                next_expected,
                bitmap,
                start_received: true,
            }),
        }
        .encode()
        .unwrap()
    }

    fn drain(s: &mut Sender, now: Instant) -> Vec<Datagram<'static>> {
        let mut out = Vec::new();
        while let Some(d) = s.poll_transmit(now) {
            let d: &'static [u8] = Box::leak(d.into_boxed_slice());
            out.push(decode(d).unwrap());
        }
        out
    }

    fn seqs(ds: &[Datagram<'_>]) -> Vec<u32> {
        ds.iter()
            .filter_map(|d| match d.message {
                Message::Data { seq, .. } => Some(seq),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn setup_is_checked() {
        let c = TransferConfig::default();
        assert!(matches!(
            Sender::new(1, 10, Some("a/b".into()), c.clone()),
            Err(SetupError::Name(_))
        ));
        let tiny = TransferConfig {
            chunk_len: 1,
            ..c.clone()
        };
        assert!(matches!(
            Sender::new(1, 1 << 33, None, tiny),
            Err(SetupError::TooManyChunks { .. })
        ));
        assert!(matches!(
            Sender::new(1, 10, None, TransferConfig { window: 0, ..c }),
            Err(SetupError::Config(_))
        ));
    }

    #[test]
    fn asks_for_chunks_in_order_within_the_window() {
        let c = TransferConfig {
            chunk_len: 10,
            window: 3,
            ..TransferConfig::default()
        };
        let mut s = Sender::new(1, 25, None, c).unwrap();
        assert_eq!(
            s.wants_chunk(),
            Some(ChunkRequest {
                seq: 0,
                offset: 0,
                len: 10
            })
        );
        assert_eq!(
            s.push_chunk(&[0; 9]),
            Err(PushError::WrongLength {
                expected: 10,
                got: 9
            })
        );
        s.push_chunk(&[0; 10]).unwrap();
        s.push_chunk(&[1; 10]).unwrap();
        assert_eq!(
            s.wants_chunk(),
            Some(ChunkRequest {
                seq: 2,
                offset: 20,
                len: 5
            })
        );
        assert_eq!(s.sha256(), None);
        s.push_chunk(&[2; 5]).unwrap();
        assert!(s.sha256().is_some());
        assert_eq!(s.wants_chunk(), None);
        assert_eq!(s.push_chunk(&[0; 5]), Err(PushError::NotWanted));
        let mut short: &[u8] = &[1, 2, 3];
        let mut t = Sender::new(
            1,
            25,
            None,
            TransferConfig {
                chunk_len: 10,
                ..TransferConfig::default()
            },
        )
        .unwrap();
        assert_eq!(
            t.read_from(&mut short).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
    }

    #[test]
    fn sends_start_then_the_initial_window_then_waits() {
        let now = t0();
        let c = TransferConfig {
            chunk_len: 10,
            ..TransferConfig::default()
        };
        let mut s = Sender::new(9, 100, Some("f".into()), c).unwrap();
        s.read_from(&mut &[7u8; 100][..]).unwrap();
        let out = drain(&mut s, now);
        assert_eq!(out[0].message.kind(), Kind::Start);
        assert_eq!(seqs(&out), [0, 1, 2, 3]);
        assert_eq!(s.poll_timeout(), Some(now + 300 * MS));
        // An ack of chunk 0 opens the window by two (slow start: one acked, one more).
        s.handle_datagram(now + 40 * MS, &ack(9, 1, 0));
        assert_eq!(s.srtt(), Some(40 * MS));
        assert_eq!(seqs(&drain(&mut s, now + 40 * MS)), [4, 5]);
        assert_eq!(s.bytes_acked(), 10);
        assert_eq!(s.stats().invalid_ack, 0);
        // Chunks never sent cannot be acknowledged.
        s.handle_datagram(now + 41 * MS, &ack(9, 7, 0));
        s.handle_datagram(now + 41 * MS, &ack(9, 1, 1 << 5));
        assert_eq!(s.stats().invalid_ack, 2);
        s.handle_datagram(now, &ack(8, 1, 0));
        s.handle_datagram(now, &[0x00, 1, 2]);
        s.handle_datagram(
            now,
            &Datagram {
                id: 9,
                message: Message::EndAck { sha256: [0; 32] },
            }
            .encode()
            .unwrap(),
        );
        assert_eq!(
            (
                s.stats().wrong_id,
                s.stats().malformed,
                s.stats().unexpected
            ),
            (1, 1, 1)
        );
    }

    #[test]
    fn a_hole_in_the_bitmap_is_retransmitted_before_the_timer() {
        let now = t0();
        let c = TransferConfig {
            chunk_len: 10,
            ..TransferConfig::default()
        };
        let mut s = Sender::new(9, 1000, None, c).unwrap();
        s.read_from(&mut &[7u8; 1000][..]).unwrap();
        assert_eq!(seqs(&drain(&mut s, now)), [0, 1, 2, 3]);
        // 0 lost; 1, 2 and 3 arrived: 0 was sent three transmissions before 3, but it may
        // still arrive: it was sent less than 1.25 SRTT (62.5 ms) ago.
        s.handle_datagram(now + 50 * MS, &ack(9, 0, 0b111));
        assert_eq!(s.srtt(), Some(50 * MS));
        assert_eq!(s.stats().fast_retransmits, 0);
        let out = seqs(&drain(&mut s, now + 50 * MS));
        assert_eq!(
            out,
            [4, 5, 6, 7, 8, 9],
            "slow start: a window of 7, chunk 0 in flight"
        );
        // The next Ack (of chunk 4) finds it lost.
        s.handle_datagram(now + 70 * MS, &ack(9, 0, 0b1111));
        assert_eq!(s.stats().fast_retransmits, 1);
        let out = seqs(&drain(&mut s, now + 70 * MS));
        assert_eq!(out[0], 0, "{out:?}");
        assert_eq!(s.stats().retransmissions, 1);
        // Karn: the retransmitted chunk's ack gives no sample; the first ack's did.
        let srtt = s.srtt();
        s.handle_datagram(now + 500 * MS, &ack(9, 4, 0));
        assert_eq!(s.srtt(), srtt);
    }

    #[test]
    fn timeouts_back_off_and_give_up_without_progress() {
        let now = t0();
        let mut s = Sender::new(9, 5000, None, TransferConfig::default()).unwrap();
        s.read_from(&mut &[7u8; 5000][..]).unwrap();
        assert_eq!(seqs(&drain(&mut s, now)), [0, 1, 2, 3]);
        let mut t = now;
        let mut rtos = Vec::new();
        while let Some(deadline) = s.poll_timeout() {
            rtos.push((deadline - t).as_millis());
            t = deadline;
            s.handle_timeout(t);
            let out = drain(&mut s, t);
            if matches!(s.state(), SenderState::Sending) {
                // Start again and one chunk: the window collapsed to one.
                assert_eq!(out.len(), 2, "{out:?}");
            }
        }
        assert_eq!(rtos, [300, 600, 1200, 2400, 3000, 3000, 3000, 1500]);
        assert_eq!(
            s.state(),
            SenderState::Failed(FailReason::NoProgress(Duration::from_secs(15)))
        );
        assert_eq!(t - now, Duration::from_secs(15));
        assert_eq!(s.poll_transmit(t), None);
    }

    #[test]
    fn an_empty_transfer_is_start_end_and_done() {
        let now = t0();
        let mut s = Sender::new(3, 0, None, TransferConfig::default()).unwrap();
        assert_eq!(s.wants_chunk(), None);
        let out = drain(&mut s, now);
        assert_eq!(out.len(), 1);
        s.handle_datagram(now, &ack(3, 0, 0));
        assert_eq!(s.state(), SenderState::Finishing);
        let out = drain(&mut s, now);
        let Message::End { sha256 } = out[0].message else {
            panic!("{out:?}")
        };
        assert_eq!(
            hex_of(sha256),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let end_ack = Datagram {
            id: 3,
            message: Message::EndAck { sha256 },
        }
        .encode()
        .unwrap();
        s.handle_datagram(now, &end_ack);
        assert_eq!(
            s.state(),
            SenderState::Done {
                sha256,
                peer_sha256: sha256
            }
        );
        assert_eq!(s.poll_timeout(), None);
        s.handle_datagram(now, &end_ack);
        assert_eq!(s.stats().late, 1);
    }

    fn hex_of(d: Sha256) -> String {
        crate::transfer::hex(&d)
    }
}
