//! Segments that arrived beyond RCV.NXT, held until the hole before them is filled (RFC 9293
//! §3.10.7.4, seventh check: "segments with higher beginning sequence numbers SHOULD be held
//! for later processing").

use std::collections::BTreeMap;

use super::WINDOW;

/// The held segments of one connection, at most [`WINDOW`] octets.
#[derive(Debug, Default)]
pub(super) struct Held {
    /// Payloads by stream offset.
    segments: BTreeMap<u64, Vec<u8>>,
    octets: usize,
    /// Where the peer's FIN is, when a held segment carried it.
    fin: Option<u64>,
}

impl Held {
    /// Octets held.
    pub(super) fn octets(&self) -> usize {
        self.octets
    }

    /// Keeps `payload` (and its FIN) starting at `offset`, beyond `rcv`, while the window
    /// from `rcv` has room for it; drops it otherwise.
    pub(super) fn hold(&mut self, rcv: u64, offset: u64, payload: &[u8], fin: bool) {
        let end = offset.saturating_add(payload.len() as u64);
        if end > rcv + u64::from(WINDOW) || self.octets + payload.len() > usize::from(WINDOW) {
            return;
        }
        if fin {
            self.fin = Some(end);
        }
        if !payload.is_empty() && !self.segments.contains_key(&offset) {
            self.octets += payload.len();
            self.segments.insert(offset, payload.to_vec());
        }
    }

    /// Appends to `data` what now follows `*rcv` in order, moving `*rcv` past it; whether the
    /// peer's FIN follows.
    pub(super) fn take_in_order(&mut self, rcv: &mut u64, data: &mut Vec<u8>) -> bool {
        while let Some(entry) = self.segments.first_entry() {
            if *entry.key() > *rcv {
                break;
            }
            let (at, bytes) = entry.remove_entry();
            self.octets = self.octets.saturating_sub(bytes.len());
            let skip = usize::try_from(*rcv - at).unwrap_or(usize::MAX);
            if let Some(more) = bytes.get(skip..) {
                data.extend_from_slice(more);
                *rcv += more.len() as u64;
            }
        }
        self.fin == Some(*rcv)
    }

    /// Forgets everything (after the peer's FIN nothing follows).
    pub(super) fn clear(&mut self) {
        *self = Held::default();
    }
}
