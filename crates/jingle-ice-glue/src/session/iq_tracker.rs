//! Our requests awaiting their answer (XEP-0166: every IQ set is answered by a result or an
//! error), with their deadlines and a bound.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use xep0371_model::Action;

/// Our requests not answered yet, by IQ id: the action each carried and when it times out
/// (`Config::iq_timeout`). At most `Config::max_pending_iqs` are kept; none with 0.
#[derive(Debug, Clone)]
pub(super) struct IqTracker {
    pending: BTreeMap<String, Pending>,
    max: usize,
    timeout: Duration,
}

#[derive(Debug, Clone)]
struct Pending {
    action: Action,
    deadline: Instant,
}

impl IqTracker {
    /// No request tracked; at most `max` at a time, each for `timeout`.
    pub(super) fn new(max: usize, timeout: Duration) -> Self {
        IqTracker {
            pending: BTreeMap::new(),
            max,
            timeout,
        }
    }

    /// How many requests await their answer.
    pub(super) fn len(&self) -> usize {
        self.pending.len()
    }

    /// Makes room for one more request: forgets the request with the earliest deadline (the
    /// lowest id among equal ones) until fewer than the bound remain, and gives back the
    /// forgotten ones, in that order, with their actions.
    pub(super) fn make_room(&mut self) -> Vec<(String, Action)> {
        let mut evicted = Vec::new();
        while self.pending.len() >= self.max {
            let Some(oldest) = self
                .pending
                .iter()
                .min_by_key(|(_, p)| p.deadline)
                .map(|(id, _)| id.clone())
            else {
                break;
            };
            if let Some(p) = self.pending.remove(&oldest) {
                evicted.push((oldest, p.action));
            }
        }
        evicted
    }

    /// Tracks the request `id` carrying `action`, sent at `now` (nothing when the bound is 0;
    /// call [`IqTracker::make_room`] first).
    pub(super) fn track(&mut self, now: Instant, id: String, action: Action) {
        if self.max > 0 {
            self.pending.insert(
                id,
                Pending {
                    action,
                    deadline: now + self.timeout,
                },
            );
        }
    }

    /// The answer to `id` came: the action of that request, if it was ours and pending.
    pub(super) fn answered(&mut self, id: &str) -> Option<Action> {
        self.pending.remove(id).map(|p| p.action)
    }

    /// Takes out the requests whose deadline is `now` or earlier, by id.
    pub(super) fn expire(&mut self, now: Instant) -> Vec<(String, Action)> {
        let expired: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(id, _)| id.clone())
            .collect();
        expired
            .into_iter()
            .filter_map(|id| self.pending.remove(&id).map(|p| (id, p.action)))
            .collect()
    }

    /// The earliest deadline.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.pending.values().map(|p| p.deadline).min()
    }

    /// Forgets every request (the session ended).
    pub(super) fn clear(&mut self) {
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bound evicts the earliest deadline first, the timeout expires by id order.
    #[test]
    fn bounded_and_expiring() {
        #[allow(clippy::disallowed_methods)]
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut iqs = IqTracker::new(2, 10 * s);
        assert!(iqs.make_room().is_empty());
        iqs.track(t0 + s, "b".into(), Action::TransportInfo);
        iqs.track(t0, "c".into(), Action::SessionInitiate);
        assert_eq!(
            iqs.make_room(),
            vec![("c".to_owned(), Action::SessionInitiate)]
        );
        iqs.track(t0 + s, "a".into(), Action::TransportInfo);
        assert_eq!(iqs.len(), 2);
        assert_eq!(iqs.next_deadline(), Some(t0 + 11 * s));
        assert!(iqs.expire(t0 + 10 * s).is_empty());
        let expired = iqs.expire(t0 + 11 * s);
        assert!(expired.iter().map(|(id, _)| id.as_str()).eq(["a", "b"]));
        assert_eq!(iqs.answered("a"), None);
        let mut none = IqTracker::new(0, s);
        assert!(none.make_room().is_empty());
        none.track(t0, "x".into(), Action::TransportInfo);
        assert_eq!((none.len(), none.answered("x")), (0, None));
    }
}
