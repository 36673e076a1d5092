//! The bytes `[expect] data_bytes` asks for: once both sides are connected, each sends the
//! other `data_bytes` bytes over its selected pair with the reliable transfer of
//! [`crate::transfer`] (a [`Sender`] on each side, and a [`Receiver`] for the other side's
//! stream), and every byte must arrive intact.
//!
//! - The content of each side's stream is ChaCha8 keyed by
//!   [`ice_netsim::derive_seed`]`(seed, "data initiator")` (or `"data responder"`): its first
//!   `u32` is the transfer id (the other side's receiver takes only that id,
//!   [`Receiver::with_id`]), then the chunks are filled in order. The same seed sends the same
//!   bytes, so the simulator replays a transfer datagram for datagram.
//! - The transfer's datagrams start with 0x80 to 0x84 (RFC 7983 §7's RTP range, which no STUN,
//!   DTLS or TURN ChannelData message uses): [`DataTransfers::take`] hands them to the side's
//!   receiver (Start, Data, End) or sender (Ack, EndAck) by [`wire::Kind::to_receiver`], and
//!   leaves any other application datagram (the text datagrams of `data = true`) to the
//!   conductor.
//! - The bytes a receiver hands out are counted and hashed (SHA-256), never kept. The verdict
//!   ([`verdict`]) compares, per direction, the sender's SHA-256 of what it sent with the
//!   receiver's of what it received, with the one the receiver sent back (EndAck), and with
//!   the runner's own of the bytes handed out, and the byte count with `data_bytes`.
//! - The transfer's own no-progress timeout (15 s, [`TransferConfig::no_progress_timeout`])
//!   decides when a direction has failed; the run's `duration_ms` still bounds the run.
//!
//! This module uses nothing else of the runner: the conductor gives it the datagrams and a
//! function that sends over a side's pair.

use std::time::{Duration, Instant};

use ice_netsim::derive_seed;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use sha2::{Digest as _, Sha256 as Hasher};

use crate::transfer::{
    Receiver, ReceiverState, Sender, SenderState, SetupError, Sha256, TransferConfig, hex, wire,
};

/// The sides by index: the initiator (0) and the responder (1).
const SIDES: [&str; 2] = ["initiator", "responder"];

/// What one side's transfer to the other did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransferSummary {
    /// Bytes of this side's stream the other side's receiver handed out, in order.
    pub delivered: u64,
    /// Datagrams this side's sender sent (Start, Data, End, repeats included).
    pub datagrams: u64,
    /// Data chunks this side's sender sent again (after a timeout or a fast retransmit).
    pub retransmissions: u64,
    /// Expiries of this side's retransmission timer.
    pub timeouts: u64,
    /// From the connection until this side's sender had the EndAck; `None` if it never did.
    pub time: Option<Duration>,
}

/// What `[expect] data_bytes` moved, in a run's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataBytes {
    /// The bytes each side was to send (`data_bytes`).
    pub expected: u64,
    /// The initiator's transfer to the responder, then the responder's to the initiator.
    pub transfers: [TransferSummary; 2],
}

/// One side's two ends: its sender, and its receiver of the other side's stream.
struct End {
    sender: Sender,
    receiver: Receiver,
    /// The source of this side's stream.
    content: ChaCha8Rng,
    /// The bytes the receiver handed out, counted and hashed.
    taken: u64,
    taken_hash: Hasher,
    /// When the sender was done.
    done_at: Option<Instant>,
    /// The first `send` that failed.
    send_error: Option<String>,
}

/// Both sides' transfers of a run (see [the module](self)).
pub struct DataTransfers {
    expected: u64,
    started: Option<Instant>,
    ends: [End; 2],
}

impl std::fmt::Debug for DataTransfers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataTransfers")
            .field("expected", &self.expected)
            .field("started", &self.started)
            .finish_non_exhaustive()
    }
}

impl DataTransfers {
    /// Both sides' transfers of `expected` bytes each, their content and ids from `seed` (the
    /// run's); nothing is sent before [`DataTransfers::drive`].
    pub fn new(seed: u64, expected: u64) -> Result<DataTransfers, SetupError> {
        let config = TransferConfig::default();
        let mut content =
            SIDES.map(|side| ChaCha8Rng::from_seed(derive_seed(seed, &format!("data {side}"))));
        let ids = [content[0].next_u32(), content[1].next_u32()];
        let [c0, c1] = content;
        let end = |i: usize, content| -> Result<End, SetupError> {
            Ok(End {
                sender: Sender::new(ids[i], expected, None, config.clone())?,
                receiver: Receiver::with_id(ids[1 - i], config.clone())?,
                content,
                taken: 0,
                taken_hash: Hasher::new(),
                done_at: None,
                send_error: None,
            })
        };
        Ok(DataTransfers {
            expected,
            started: None,
            ends: [end(0, c0)?, end(1, c1)?],
        })
    }

    /// Takes an application datagram that side `side` (0: initiator) received at `now` if it
    /// is a transfer's (first byte 0x80 to 0x84): true when taken (dropped before the
    /// transfers started), false when it is other application data. The bytes it completes
    /// are counted and hashed at once.
    pub fn take(&mut self, side: usize, now: Instant, datagram: &[u8]) -> bool {
        let Some(kind) = datagram.first().and_then(|b| wire::Kind::of(*b)) else {
            return false;
        };
        if let (Some(_), Some(end)) = (self.started, self.ends.get_mut(side)) {
            if kind.to_receiver() {
                end.receiver.handle_datagram(now, datagram);
                while let Some(bytes) = end.receiver.poll_bytes() {
                    end.taken += bytes.len() as u64;
                    end.taken_hash.update(&bytes);
                }
            } else {
                end.sender.handle_datagram(now, datagram);
                // Only an EndAck makes a sender done.
                if matches!(end.sender.state(), SenderState::Done { .. }) {
                    end.done_at.get_or_insert(now);
                }
            }
        }
        true
    }

    /// One turn at `now` (the first starts the transfers): the deadlines due, the chunks the
    /// senders want, every datagram out through `send(side, datagram)`.
    pub fn drive(
        &mut self,
        now: Instant,
        mut send: impl FnMut(usize, &[u8]) -> Result<(), String>,
    ) {
        self.started.get_or_insert(now);
        for (i, end) in self.ends.iter_mut().enumerate() {
            if end.sender.poll_timeout().is_some_and(|t| t <= now) {
                end.sender.handle_timeout(now);
            }
            if end.receiver.poll_timeout().is_some_and(|t| t <= now) {
                end.receiver.handle_timeout(now);
            }
            let mut chunk = Vec::new();
            while let Some(want) = end.sender.wants_chunk() {
                chunk.resize(want.len, 0);
                end.content.fill_bytes(&mut chunk);
                // The length is the one asked for: push_chunk cannot refuse it.
                let _ = end.sender.push_chunk(&chunk);
            }
            let mut out = Vec::new();
            while let Some(d) = end.sender.poll_transmit(now) {
                out.push(d);
            }
            while let Some(d) = end.receiver.poll_transmit(now) {
                out.push(d);
            }
            for d in out {
                if let Err(e) = send(i, &d) {
                    end.send_error.get_or_insert(e);
                }
            }
        }
    }

    /// When [`DataTransfers::drive`] must next run for a deadline (a retransmission, a
    /// no-progress timeout); `None` before the start.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.started?;
        self.ends
            .iter()
            .flat_map(|e| [e.sender.poll_timeout(), e.receiver.poll_timeout()])
            .flatten()
            .min()
    }

    /// Whether both senders are done (each has its EndAck, so both receivers are done too).
    pub fn done(&self) -> bool {
        self.ends
            .iter()
            .all(|e| matches!(e.sender.state(), SenderState::Done { .. }))
    }

    /// Whether an end gave up or a send failed: the run cannot pass.
    pub fn failed(&self) -> bool {
        self.ends.iter().any(|e| {
            matches!(e.sender.state(), SenderState::Failed(_))
                || matches!(e.receiver.state(), ReceiverState::Failed(_))
                || e.send_error.is_some()
        })
    }

    /// What each side's transfer did.
    pub fn summary(&self) -> DataBytes {
        let transfer = |i: usize| {
            let (end, other) = (&self.ends[i], &self.ends[1 - i]);
            let stats = end.sender.stats();
            TransferSummary {
                delivered: other.taken,
                datagrams: stats.datagrams_sent,
                retransmissions: stats.retransmissions,
                timeouts: stats.timeouts,
                time: end
                    .done_at
                    .zip(self.started)
                    .map(|(d, s)| d.saturating_duration_since(s)),
            }
        };
        DataBytes {
            expected: self.expected,
            transfers: [transfer(0), transfer(1)],
        }
    }

    /// Every way the transfers fall short of `data_bytes` (empty: both streams arrived whole
    /// and intact).
    pub fn failures(&self) -> Vec<String> {
        let mut v = Vec::new();
        for (i, end) in self.ends.iter().enumerate() {
            if let Some(e) = &end.send_error {
                v.push(format!(
                    "data_bytes: the {} could not send over its pair: {e}",
                    SIDES[i]
                ));
            }
        }
        for from in 0..2 {
            let (end, other) = (&self.ends[from], &self.ends[1 - from]);
            let seen = Seen {
                sender: end.sender.state(),
                sent_sha256: end.sender.sha256(),
                receiver: other.receiver.state(),
                announced: other.receiver.total_len(),
                delivered: other.taken,
                delivered_sha256: other.taken_hash.clone().finalize().into(),
            };
            v.extend(verdict(self.expected, from, &seen));
        }
        v
    }
}

/// What the runner saw of one direction at the end of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// Where the sender ended.
    pub sender: SenderState,
    /// The sender's SHA-256 of its whole stream, once every chunk was pushed.
    pub sent_sha256: Option<Sha256>,
    /// Where the other side's receiver ended.
    pub receiver: ReceiverState,
    /// The length the receiver's Start announced.
    pub announced: Option<u64>,
    /// The bytes the receiver handed out.
    pub delivered: u64,
    /// The runner's SHA-256 of those bytes.
    pub delivered_sha256: Sha256,
}

/// Why the transfer of side `from` (0: the initiator) to the other side falls short of
/// `expected` bytes arriving intact, if it does: an end failed or never finished, a count
/// differs from `expected`, or a SHA-256 of what arrived (the receiver's, the one it sent
/// back, the runner's of the bytes handed out) differs from the sender's.
pub fn verdict(expected: u64, from: usize, seen: &Seen) -> Option<String> {
    let (sender, receiver) = (SIDES[from & 1], SIDES[(from + 1) & 1]);
    let what = format!("data_bytes: the {sender}'s {expected} bytes to the {receiver}");
    let progress = format!("{} of {expected} bytes delivered", seen.delivered);
    if let SenderState::Failed(why) = seen.sender {
        return Some(format!("{what}: the {sender} gave up: {why} ({progress})"));
    }
    if let ReceiverState::Failed(why) = seen.receiver {
        return Some(format!(
            "{what}: the {receiver} gave up: {why} ({progress})"
        ));
    }
    let (
        SenderState::Done {
            sha256: sent,
            peer_sha256: echoed,
        },
        ReceiverState::Done {
            sha256: received,
            peer_sha256: announced_sha,
        },
    ) = (seen.sender, seen.receiver)
    else {
        return Some(format!(
            "{what}: the transfer did not finish within duration_ms ({progress}; sender {:?}, \
             receiver {:?})",
            seen.sender, seen.receiver
        ));
    };
    if seen.announced != Some(expected) || seen.delivered != expected {
        return Some(format!(
            "{what}: the {receiver} received {} bytes of a stream of {}",
            seen.delivered,
            seen.announced
                .map_or_else(|| "unknown length".to_owned(), |n| n.to_string())
        ));
    }
    let wanted = seen.sent_sha256.unwrap_or(sent);
    let differs = [
        ("its own", sent),
        ("in its End", announced_sha),
        ("of the receiver", received),
        ("echoed in the EndAck", echoed),
        ("of the bytes handed out", seen.delivered_sha256),
    ]
    .into_iter()
    .find(|(_, d)| *d != wanted);
    differs.map(|(which, got)| {
        format!(
            "{what} arrived corrupted: SHA-256 {} sent, {} {which}",
            hex(&wanted),
            hex(&got)
        )
    })
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;

    fn t0() -> Instant {
        #[allow(clippy::disallowed_methods, reason = "a test's origin of time")]
        Instant::now()
    }

    /// Both transfers over an in-memory link of `delay` each way; `corrupt` may change each
    /// datagram on its way. Returns the transfers and the virtual time taken.
    fn run(expected: u64, mut corrupt: impl FnMut(&mut Vec<u8>)) -> (DataTransfers, Duration) {
        let start = t0();
        let step = Duration::from_millis(10);
        let mut t = DataTransfers::new(7, expected).expect("valid");
        let mut link: VecDeque<(usize, Vec<u8>)> = VecDeque::new();
        let mut now = start;
        while !t.done() && !t.failed() && now < start + Duration::from_secs(60) {
            t.drive(now, |side, d| {
                let mut d = d.to_vec();
                corrupt(&mut d);
                link.push_back((1 - side, d));
                Ok(())
            });
            now += step;
            while let Some((to, d)) = link.pop_front() {
                assert!(t.take(to, now, &d), "every datagram is the transfer's");
            }
        }
        (t, now - start)
    }

    #[test]
    fn both_streams_arrive_whole_and_the_seed_decides_the_bytes() {
        let (t, _) = run(25_000, |_| {});
        assert!(t.done(), "{:?}", t.failures());
        assert_eq!(t.failures(), Vec::<String>::new());
        let s = t.summary();
        assert_eq!(s.expected, 25_000);
        for x in &s.transfers {
            assert_eq!(x.delivered, 25_000);
            assert!(x.time.is_some());
            // Start, 25 chunks, End.
            assert_eq!((x.datagrams, x.retransmissions), (27, 0));
        }
        // Other application data is not the transfer's.
        let mut t = DataTransfers::new(7, 1).expect("valid");
        assert!(!t.take(0, t0(), b"data 1 from side 1"));
        assert!(!t.take(0, t0(), &[0x85, 0, 0, 0, 0]));
        assert!(
            t.take(0, t0(), &[0x81]),
            "a transfer's kind, before the start"
        );
        // Two seeds, two streams: the ids (and so the bytes) differ.
        let ids = |seed| {
            let t = DataTransfers::new(seed, 1).expect("valid");
            t.ends.each_ref().map(|e| e.sender.id())
        };
        assert_eq!(ids(7), ids(7));
        assert_ne!(ids(7), ids(8));
        assert_ne!(ids(7)[0], ids(7)[1]);
    }

    #[test]
    fn a_corrupted_payload_is_reported_with_both_digests() {
        let mut n = 0;
        let (t, _) = run(5_000, |d| {
            // Flip the last byte of the initiator's third chunk, once.
            if d[0] == 0x81 && d[5..9] == [0, 0, 0, 2] && n == 0 {
                n += 1;
                if let Some(b) = d.last_mut() {
                    *b ^= 1;
                }
            }
        });
        assert!(t.done(), "a corrupted chunk still completes the exchange");
        let failures = t.failures();
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert!(
            failures[0].starts_with(
                "data_bytes: the initiator's 5000 bytes to the responder arrived corrupted: \
                 SHA-256 "
            ),
            "{failures:?}"
        );
    }

    fn done(sent: Sha256, received: Sha256) -> Seen {
        Seen {
            sender: SenderState::Done {
                sha256: sent,
                peer_sha256: received,
            },
            sent_sha256: Some(sent),
            receiver: ReceiverState::Done {
                sha256: received,
                peer_sha256: sent,
            },
            announced: Some(10),
            delivered: 10,
            delivered_sha256: received,
        }
    }

    #[test]
    fn the_verdict_compares_digests_and_counts() {
        let (a, b) = ([1; 32], [2; 32]);
        assert_eq!(verdict(10, 0, &done(a, a)), None);
        assert_eq!(
            verdict(10, 1, &done(a, b)).as_deref(),
            Some(
                "data_bytes: the responder's 10 bytes to the initiator arrived corrupted: \
                 SHA-256 0101010101010101010101010101010101010101010101010101010101010101 \
                 sent, 0202020202020202020202020202020202020202020202020202020202020202 of \
                 the receiver"
            )
        );
        // The receiver agrees with the sender, but what it handed out differs.
        let seen = Seen {
            delivered_sha256: b,
            ..done(a, a)
        };
        assert!(verdict(10, 0, &seen).is_some_and(|s| s.ends_with("of the bytes handed out")));
        let short = Seen {
            delivered: 9,
            ..done(a, a)
        };
        assert_eq!(
            verdict(10, 0, &short).as_deref(),
            Some(
                "data_bytes: the initiator's 10 bytes to the responder: the responder received \
                 9 bytes of a stream of 10"
            )
        );
        let failed = Seen {
            receiver: ReceiverState::Failed(crate::transfer::FailReason::NoProgress(
                Duration::from_secs(15),
            )),
            delivered: 4,
            ..done(a, a)
        };
        assert_eq!(
            verdict(10, 0, &failed).as_deref(),
            Some(
                "data_bytes: the initiator's 10 bytes to the responder: the responder gave up: \
                 no progress for 15.0 s (4 of 10 bytes delivered)"
            )
        );
        let unfinished = Seen {
            sender: SenderState::Sending,
            ..done(a, a)
        };
        assert!(
            verdict(10, 0, &unfinished).is_some_and(|s| s.contains("did not finish")),
            "an unfinished transfer fails"
        );
    }
}
