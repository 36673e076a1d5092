//! The chunks of a sender's window: pushed by the caller, sent, acknowledged (cumulatively or
//! by the bitmap), found lost. Only the chunks not yet acknowledged in order are kept, and an
//! acknowledged chunk's bytes are freed at once.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::wire::AckInfo;

/// A chunk is lost when a chunk sent this many transmissions after it is acknowledged first
/// (the duplicate-ack threshold of RFC 5681 §3.2, counted in transmissions as RFC 8985 counts
/// in time).
const REORDER_THRESHOLD: u64 = 3;

/// One chunk of the window.
#[derive(Debug)]
struct Slot {
    /// The bytes, until acknowledged (then empty).
    data: Vec<u8>,
    /// The chunk's length (kept after the bytes are freed).
    len: usize,
    /// Times sent (Karn's rule: a sample only when 1).
    transmissions: u32,
    /// The last time sent.
    sent_at: Option<Instant>,
    /// The last transmission's rank among all chunk transmissions (1, 2, ...).
    order: u64,
    acked: bool,
    /// Found lost and not sent again yet: out of the flight, first in line.
    lost: bool,
}

impl Slot {
    fn in_flight(&self) -> bool {
        self.transmissions > 0 && !self.acked && !self.lost
    }
}

/// What an Ack newly acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Acked {
    /// Chunks.
    pub(super) chunks: u32,
    /// Their bytes.
    pub(super) bytes: u64,
    /// The shortest round trip among them that Karn's rule allows (chunks sent once).
    pub(super) sample: Option<Duration>,
}

/// A chunk [`Flight::send`] picked.
#[derive(Debug)]
pub(super) struct Sent<'a> {
    /// Its sequence number.
    pub(super) seq: u32,
    /// Its bytes.
    pub(super) payload: &'a [u8],
    /// Whether it was sent before.
    pub(super) retransmission: bool,
    /// Whether it went beyond the congestion window, on the caller's credit.
    pub(super) used_credit: bool,
}

/// The window's chunks.
#[derive(Debug, Default)]
pub(super) struct Flight {
    /// The chunks from `base` on, pushed but not yet acknowledged in order.
    slots: VecDeque<Slot>,
    /// The sequence number of `slots[0]`: every chunk below it is acknowledged.
    base: u32,
    /// Chunks ever sent: the first transmissions go in order, so these are `0..sent`.
    sent: u32,
    next_order: u64,
    highest_acked_order: u64,
}

impl Flight {
    /// Every chunk below this is acknowledged.
    pub(super) fn base(&self) -> u32 {
        self.base
    }

    /// The chunks held (pushed, not acknowledged in order).
    pub(super) fn held(&self) -> u32 {
        self.slots.len() as u32
    }

    /// The sequence number of the next chunk to push.
    pub(super) fn next_seq(&self) -> u32 {
        self.base + self.held()
    }

    /// Chunks sent at least once (`0..sent`).
    pub(super) fn sent(&self) -> u32 {
        self.sent
    }

    /// Appends the next chunk.
    pub(super) fn push(&mut self, data: Vec<u8>) {
        self.slots.push_back(Slot {
            len: data.len(),
            data,
            transmissions: 0,
            sent_at: None,
            order: 0,
            acked: false,
            lost: false,
        });
    }

    /// The chunk to send now, if the congestion window `cwnd` has room: the first one found
    /// lost, else the first never sent. With the window full, a lost chunk still goes if
    /// `credit` allows (the fast retransmit of RFC 5681 §3.2 goes at once, whatever the
    /// window). It is marked sent at `now`.
    pub(super) fn send(&mut self, now: Instant, cwnd: u32, credit: bool) -> Option<Sent<'_>> {
        let in_flight = self.slots.iter().filter(|s| s.in_flight()).count() as u32;
        let lost = self.slots.iter().position(|s| s.lost && !s.acked);
        let (index, used_credit) = if in_flight < cwnd {
            (
                lost.or_else(|| self.slots.iter().position(|s| s.transmissions == 0))?,
                false,
            )
        } else if credit {
            (lost?, true)
        } else {
            return None;
        };
        let seq = self.base + index as u32;
        self.next_order += 1;
        let slot = &mut self.slots[index];
        let retransmission = slot.transmissions > 0;
        if !retransmission {
            self.sent = seq + 1;
        }
        slot.transmissions += 1;
        slot.sent_at = Some(now);
        slot.order = self.next_order;
        slot.lost = false;
        Some(Sent {
            seq,
            payload: &slot.data,
            retransmission,
            used_credit,
        })
    }

    /// Whether an Ack acknowledges only chunks sent (RFC 9293 §3.10.7.4 drops an ACK of
    /// data not yet sent; so does this).
    pub(super) fn plausible(&self, ack: &AckInfo) -> bool {
        // Bit i is chunk next_expected + 1 + i: those below `sent` may be set.
        let settable = u64::from(self.sent).saturating_sub(u64::from(ack.next_expected) + 1);
        let allowed = if settable >= 64 {
            u64::MAX
        } else {
            (1 << settable) - 1
        };
        ack.next_expected <= self.sent && ack.bitmap & !allowed == 0
    }

    /// Applies a plausible Ack at `now`.
    pub(super) fn ack(&mut self, now: Instant, ack: &AckInfo) -> Acked {
        let mut acked = Acked::default();
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let seq = self.base + i as u32;
            let arrived = seq < ack.next_expected
                || (seq > ack.next_expected && {
                    let bit = seq - ack.next_expected - 1;
                    bit < 64 && ack.bitmap >> bit & 1 == 1
                });
            if !arrived || slot.acked {
                continue;
            }
            slot.acked = true;
            slot.lost = false;
            slot.data = Vec::new();
            acked.chunks += 1;
            acked.bytes += slot.len as u64;
            self.highest_acked_order = self.highest_acked_order.max(slot.order);
            // Karn's rule: no sample from a chunk sent more than once.
            if slot.transmissions == 1
                && let Some(t) = slot.sent_at
            {
                let r = now.saturating_duration_since(t);
                acked.sample = Some(acked.sample.map_or(r, |s| s.min(r)));
            }
        }
        while self.slots.front().is_some_and(|s| s.acked) {
            self.slots.pop_front();
            self.base += 1;
        }
        acked
    }

    /// Marks lost every chunk in flight sent [`REORDER_THRESHOLD`] transmissions before an
    /// acknowledged one and at least `settle` before `now` (RFC 8985 §6.2: a chunk overtaken
    /// is lost once it had time to arrive; without a reordering timer, the next
    /// acknowledgement or the retransmission timer catches the rest). Returns how many, and
    /// the highest sequence number among them.
    pub(super) fn detect_losses(&mut self, now: Instant, settle: Duration) -> (u32, Option<u32>) {
        let mut lost = (0, None);
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if slot.in_flight()
                && slot.order + REORDER_THRESHOLD <= self.highest_acked_order
                && slot
                    .sent_at
                    .is_some_and(|t| now.saturating_duration_since(t) >= settle)
            {
                slot.lost = true;
                lost = (lost.0 + 1, Some(self.base + i as u32));
            }
        }
        lost
    }

    /// The retransmission timer expired: every chunk in flight is to be sent again.
    pub(super) fn all_lost(&mut self) {
        for slot in &mut self.slots {
            if slot.in_flight() {
                slot.lost = true;
            }
        }
    }

    /// Whether a chunk sent waits for its acknowledgement.
    pub(super) fn outstanding(&self) -> bool {
        self.slots.iter().any(|s| s.transmissions > 0 && !s.acked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(next_expected: u32, bitmap: u64) -> AckInfo {
        AckInfo {
            next_expected,
            bitmap,
            start_received: true,
        }
    }

    #[test]
    fn acks_free_chunks_and_holes_are_found() {
        #[allow(clippy::disallowed_methods, reason = "a test's origin of time")]
        let now = Instant::now();
        let ms = Duration::from_millis(1);
        let mut f = Flight::default();
        for i in 0..6u8 {
            f.push(vec![i; 10]);
        }
        assert_eq!(f.next_seq(), 6);
        let mut sent = Vec::new();
        while let Some(s) = f.send(now, 5, true) {
            assert!(!s.retransmission && !s.used_credit);
            assert_eq!(s.payload, [s.seq as u8; 10]);
            sent.push(s.seq);
        }
        assert_eq!((sent, f.sent()), (vec![0, 1, 2, 3, 4], 5));
        // Only chunks sent may be acknowledged: bit 3 is chunk 5.
        assert!(f.plausible(&ack(1, 0b111)));
        assert!(!f.plausible(&ack(1, 0b1111)));
        assert!(!f.plausible(&ack(6, 0)));
        // Chunk 1 is missing; 0, 2, 3 and 4 arrived.
        let a = f.ack(now + 40 * ms, &ack(1, 0b111));
        assert_eq!((a.chunks, a.bytes, a.sample), (4, 40, Some(40 * ms)));
        assert_eq!((f.base(), f.held()), (1, 5));
        // Chunk 1 was sent 3 transmissions before chunk 4: lost, once it had time to arrive.
        assert_eq!(f.detect_losses(now + 40 * ms, 50 * ms), (0, None));
        assert_eq!(f.detect_losses(now + 60 * ms, 50 * ms), (1, Some(1)));
        assert_eq!(f.detect_losses(now + 60 * ms, 50 * ms), (0, None));
        // With no room in the window, a lost chunk may still go on credit.
        assert!(f.send(now + 60 * ms, 0, false).is_none());
        let s = f.send(now + 60 * ms, 0, true).unwrap();
        assert_eq!((s.seq, s.retransmission, s.used_credit), (1, true, true));
        // Karn: the retransmitted chunk gives no sample.
        let a = f.ack(now + 100 * ms, &ack(5, 0));
        assert_eq!((a.chunks, a.sample), (1, None));
        assert_eq!((f.base(), f.held()), (5, 1));
        assert!(!f.outstanding());
        assert_eq!(f.send(now, 1, false).map(|s| s.seq), Some(5));
        f.all_lost();
        assert!(f.outstanding());
        let s = f.send(now, 1, false).unwrap();
        assert_eq!((s.seq, s.retransmission, s.used_credit), (5, true, false));
    }
}
