//! The IP-address sharing policy (XEP-0371 §11.1): what may leave before the allowance, and
//! the peer's candidates held until it comes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use ice_sans_io::CandidateKind;
use xep0371_model::Candidate;

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

    /// XEP-0371 §11.1: a candidate signalled before the allowance (a relayed one, under
    /// [`BeforeAllowed::RelayOnly`]) goes without its related address. A relayed candidate's
    /// `rel-addr` is the mapped address the TURN server saw (RFC 8839 §5.1): the user's public
    /// address, or its host address without a NAT, which is what the policy holds back. It
    /// goes as the placeholder RFC 8839 §5.1 gives for a related address not revealed:
    /// `0.0.0.0` (`::` for IPv6) and port 9. After the allowance candidates go as they are.
    pub(super) fn hide_related_before_allowance(&self, m: &mut Candidate) {
        if self.allowance.is_some() {
            return;
        }
        if let Some(ip) = m.rel_addr {
            m.rel_addr = Some(match ip {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            });
            m.rel_port = Some(9);
        }
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
