//! State derivation: after every input, the component and agent states (and failures,
//! RFC 8445 §8.1.2, RFC 8838 §8) are derived again from the pairs, never set by hand.

use std::time::Instant;

use crate::candidate::{CandidateKind, ComponentId, TcpType};
use crate::event::{Event, FailReason, State};

use super::IceAgent;

impl IceAgent {
    /// Recomputes component and agent states, and failure (RFC 8445 §8.1.2, RFC 8838 §8).
    pub(super) fn update_states(&mut self, now: Instant) {
        for ci in 0..self.components.len() {
            let id = self.components[ci].id;
            let pairs = || self.pairs.iter().filter(|p| p.component == id);
            let any_valid = pairs().any(|p| p.is_valid());
            let nominated = pairs().any(|p| p.nominated() && p.is_valid());
            let live = pairs().any(|p| p.is_live())
                || self.triggered.iter().any(|t| {
                    self.pairs
                        .iter()
                        .any(|p| p.id == t.pair && p.component == id)
                });
            let old_selected = self
                .old
                .as_ref()
                .is_some_and(|o| o.pairs.iter().any(|p| p.component == id));
            let prev = self.components[ci].state;
            // Failure (RFC 8445 §8.1.2, RFC 8838 §8): nothing valid and nothing left to check,
            // after the peer's end-of-candidates or, without it, for a while once the peer has
            // given candidates for the component. Before its first candidate nothing was tried:
            // a peer may hold its candidates back for a long time (XEP-0371 §11.1: until its
            // user accepts), and only the session can decide how long to wait for them.
            let heard =
                self.remote_end_of_candidates || self.remotes.iter().any(|c| c.component == id);
            let stuck =
                heard && !any_valid && !live && self.remote_creds.is_some() && !old_selected;
            // RFC 6544 §6.2, §7.1: pairs on a local passive candidate are not checked by us;
            // they form from the peer's checks (and an so pair's connection may be the peer's).
            // While the peer may still connect to one of ours, its end-of-candidates is no
            // failure yet: the component waits as it would without it.
            let awaiting = self.awaits_incoming_tcp(id);
            let c = &mut self.components[ci];
            if !stuck {
                c.idle_since = None;
            }
            let failed = stuck
                && (prev == State::Failed
                    || (self.remote_end_of_candidates && !awaiting)
                    || now
                        >= *c.idle_since.get_or_insert(now)
                            + self.cfg.no_end_of_candidates_timeout);
            // Failed first: it excludes a valid pair, and a consent-lost component whose pair
            // has since failed has nothing left either.
            let state = if failed {
                State::Failed
            } else if c.consent.lost {
                State::Disconnected
            } else if nominated {
                State::Completed
            } else if any_valid {
                State::Connected
            } else if old_selected {
                // During a restart the old pair carries the data.
                prev
            } else if self.remote_creds.is_some() {
                State::Checking
            } else {
                State::New
            };
            if state == State::Failed {
                c.idle_since = None;
                if prev != State::Failed {
                    let reason = if self.remote_end_of_candidates {
                        FailReason::AllPairsFailed
                    } else {
                        FailReason::NoEndOfCandidates
                    };
                    self.events.push_back(Event::ComponentFailed {
                        component: id,
                        reason,
                    });
                }
            }
            if state != prev {
                self.components[ci].state = state;
                self.events.push_back(Event::ComponentStateChanged {
                    component: id,
                    state,
                });
            }
        }
        let states = self.components.iter().map(|c| c.state);
        let overall = if states.clone().any(|s| s == State::Failed) {
            State::Failed
        } else if states.clone().any(|s| s == State::Disconnected) {
            State::Disconnected
        } else if states.clone().all(|s| s == State::Completed) {
            State::Completed
        } else if states
            .clone()
            .all(|s| matches!(s, State::Completed | State::Connected))
        {
            State::Connected
        } else if states.clone().all(|s| s == State::New) {
            State::New
        } else {
            State::Checking
        };
        if overall != self.state {
            self.state = overall;
            self.events.push_back(Event::StateChanged(overall));
        }
    }

    /// Whether component `id` has a TCP host candidate that the peer may still connect to: a
    /// passive one and a remote active one (RFC 6544 §6.2: only the peer checks those pairs),
    /// or two simultaneous-open ones (§7.1: either side's connection may be the one that
    /// opens; ours may fail because the peer's got through first), of the same family.
    fn awaits_incoming_tcp(&self, id: ComponentId) -> bool {
        self.locals.iter().any(|l| {
            l.cand.kind == CandidateKind::Host
                && l.cand.component == id
                && self.remotes.iter().any(|r| {
                    let meets = matches!(
                        (l.tcp_type(), r.tcp_type),
                        (Some(TcpType::Passive), Some(TcpType::Active))
                            | (
                                Some(TcpType::SimultaneousOpen),
                                Some(TcpType::SimultaneousOpen)
                            )
                    );
                    meets && r.component == id && r.addr.is_ipv4() == l.cand.addr.is_ipv4()
                })
        })
    }
}
