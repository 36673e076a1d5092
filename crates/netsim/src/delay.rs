//! [`DelayLine`]: items held until they are due, bounded.
//!
//! The simulator keeps its datagrams in flight in one ([`crate::Sim`]); a runner on real
//! sockets can keep the datagrams it delays on their way (latency, jitter) in another. Items
//! come out in order of due time, and items due at the same instant in the order they were
//! held, so a run that holds the same items at the same times releases them in the same order.
//! At most [`DelayLine::limit`] items are held at once; what comes over is refused and counted.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::time::Instant;

/// Items held until they are due, released in order of due time, then of holding; at most
/// `limit` at once, more refused and counted in [`DelayLine::refused`].
///
/// ```
/// use std::time::{Duration, Instant};
/// use ice_netsim::DelayLine;
///
/// let t0 = Instant::now();
/// let mut line = DelayLine::new(2);
/// assert!(line.hold(t0 + Duration::from_millis(20), "late"));
/// assert!(line.hold(t0 + Duration::from_millis(10), "early"));
/// assert!(!line.hold(t0, "over the limit"));
/// assert_eq!(line.refused(), 1);
/// assert_eq!(line.next_due(), Some(t0 + Duration::from_millis(10)));
/// assert_eq!(line.pop_due(t0), None);
/// let due = t0 + Duration::from_millis(20);
/// assert_eq!(line.pop_due(due), Some((t0 + Duration::from_millis(10), "early")));
/// assert_eq!(line.pop_due(due), Some((due, "late")));
/// assert!(line.is_empty());
/// ```
#[derive(Debug, Clone)]
pub struct DelayLine<T> {
    heap: BinaryHeap<Reverse<Held<T>>>,
    seq: u64,
    limit: usize,
    refused: u64,
}

/// One item and its place in the order: (due, sequence number of holding).
#[derive(Debug, Clone)]
struct Held<T> {
    due: Instant,
    seq: u64,
    item: T,
}

impl<T> PartialEq for Held<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}
impl<T> Eq for Held<T> {}
impl<T> PartialOrd for Held<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Held<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.due, self.seq).cmp(&(other.due, other.seq))
    }
}

impl<T> DelayLine<T> {
    /// An empty line that holds at most `limit` items at once.
    pub fn new(limit: usize) -> Self {
        DelayLine {
            heap: BinaryHeap::new(),
            seq: 0,
            limit,
            refused: 0,
        }
    }

    /// Holds `item` until `due`; false (and counted in [`DelayLine::refused`]) when the line
    /// already holds [`DelayLine::limit`] items.
    pub fn hold(&mut self, due: Instant, item: T) -> bool {
        if self.heap.len() >= self.limit {
            self.refused += 1;
            return false;
        }
        self.seq += 1;
        self.heap.push(Reverse(Held {
            due,
            seq: self.seq,
            item,
        }));
        true
    }

    /// The next item due by `now`, with the instant it was due.
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, T)> {
        if self.heap.peek()?.0.due > now {
            return None;
        }
        self.heap.pop().map(|Reverse(h)| (h.due, h.item))
    }

    /// When the next item is due.
    #[must_use]
    pub fn next_due(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(h)| h.due)
    }

    /// Items held.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// The most items held at once.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Items refused because the line was full.
    pub fn refused(&self) -> u64 {
        self.refused
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn ties_come_out_in_the_order_held() {
        #[allow(clippy::disallowed_methods)]
        let t0 = Instant::now();
        let mut line = DelayLine::new(10);
        let at = t0 + Duration::from_millis(5);
        for i in 0..5 {
            assert!(line.hold(at, i));
        }
        assert!(line.hold(t0, 99));
        let out: Vec<i32> = std::iter::from_fn(|| line.pop_due(at).map(|(_, i)| i)).collect();
        assert_eq!(out, vec![99, 0, 1, 2, 3, 4]);
    }

    #[test]
    fn the_limit_refuses_and_counts() {
        #[allow(clippy::disallowed_methods)]
        let t0 = Instant::now();
        let mut line = DelayLine::new(1);
        assert!(line.hold(t0, ()));
        assert!(!line.hold(t0, ()));
        assert!(!line.hold(t0, ()));
        assert_eq!((line.len(), line.limit(), line.refused()), (1, 1, 2));
        assert_eq!(line.pop_due(t0), Some((t0, ())));
        assert!(line.hold(t0, ()));
    }
}
