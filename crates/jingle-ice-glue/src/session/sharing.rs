//! The IP-address sharing policy (XEP-0371 §11.1): what may leave before the allowance, and
//! the peer's candidates held until it comes.

use std::time::Instant;

use ice_sans_io::CandidateKind;

use super::Session;
use crate::config::{Allowance, BeforeAllowed};
use crate::event::Event;

impl Session {
    /// XEP-0371 §11.1: whether a candidate of ours may leave the session now.
    pub(super) fn may_share(&self, c: &ice_sans_io::Candidate) -> bool {
        self.allowance.is_some()
            || (self.cfg.before_allowed == BeforeAllowed::RelayOnly
                && c.kind == CandidateKind::Relayed)
    }

    /// The allowance came (the first one counts): the peer's held candidates and its
    /// end-of-candidates go to the agent.
    pub(super) fn allow(&mut self, now: Instant, a: Allowance) {
        if self.allowance.is_some() {
            return;
        }
        self.allowance = Some(a);
        self.emit(Event::SharingAllowed(a));
        for c in std::mem::take(&mut self.held_remote) {
            self.add_remote(now, c);
        }
        if std::mem::take(&mut self.held_eoc) {
            self.agent.end_of_remote_candidates(now);
        }
    }

    /// A candidate of the peer to the agent (a refusal is counted).
    pub(super) fn add_remote(&mut self, now: Instant, c: ice_sans_io::Candidate) {
        if self.agent.add_remote_candidate(now, c).is_err() {
            self.stats.candidates_refused += 1;
        }
    }
}
