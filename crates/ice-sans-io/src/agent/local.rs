//! Local candidates: their bases, foundations (RFC 8445 §5.1.1.3) and the address rules.

use std::net::{IpAddr, SocketAddr};

use crate::candidate::{
    Candidate, CandidateKind, MAX_TCP_OTHER_PREF, Protocol, TcpType, priority, tcp_local_preference,
};
use crate::event::Event;

use super::IceAgent;
use super::error::CandidateError;
use super::out::Route;

/// A local candidate with its base (RFC 8445 §5.1.1).
#[derive(Debug, Clone)]
pub(super) struct Local {
    pub(super) cand: Candidate,
    /// The address datagrams of the candidate's pairs leave from: a host candidate's own, or
    /// a relayed candidate's own (RFC 8445 §5.1.1.2: the base of a relayed candidate is the
    /// candidate itself). For a TCP candidate, the address its connections are opened from
    /// ([`crate::Event::Connect`]'s `from`: an active candidate's IP with port 0) and accepted
    /// on (passive and simultaneous-open).
    pub(super) base: SocketAddr,
    /// The relay (index in the agent's `relays`) of a relayed candidate and of peer-reflexive
    /// candidates learned on its pairs.
    pub(super) relay: Option<usize>,
}

impl Local {
    /// A base of pairs (RFC 8445 §6.1.2.4: pairs are formed on bases): a host or a relayed
    /// candidate. Reflexive candidates stand for their base.
    pub(super) fn is_base(&self) -> bool {
        matches!(self.cand.kind, CandidateKind::Host | CandidateKind::Relayed)
    }

    /// A UDP host candidate: a socket of the caller's, gathering and allocating.
    pub(super) fn is_udp_host(&self) -> bool {
        self.cand.kind == CandidateKind::Host && self.cand.protocol == Protocol::Udp
    }

    /// A host candidate that gathers server-reflexive candidates from STUN servers: a UDP
    /// one, or a passive or so TCP one (RFC 6544 §5.2; an active one has no port of its own).
    pub(super) fn gathers(&self) -> bool {
        self.cand.kind == CandidateKind::Host
            && matches!(
                self.cand.tcp_type,
                None | Some(TcpType::Passive | TcpType::SimultaneousOpen)
            )
    }

    /// A base of UDP pairs on this address: where a datagram that arrived on `addr` belongs.
    pub(super) fn is_udp_base_at(&self, addr: SocketAddr) -> bool {
        self.is_base() && self.cand.protocol == Protocol::Udp && self.base == addr
    }

    /// The TCP type of a TCP candidate (RFC 6544 §4.5).
    pub(super) fn tcp_type(&self) -> Option<TcpType> {
        self.cand.tcp_type
    }

    /// How a datagram from this candidate's base to `remote` leaves.
    pub(super) fn route_to(&self, remote: SocketAddr) -> Route {
        match self.relay {
            Some(relay) => Route::Relay {
                relay,
                relayed: self.base,
                peer: remote,
            },
            None => Route::udp(self.base, remote),
        }
    }
}

pub(super) fn check_address(addr: SocketAddr) -> Result<(), CandidateError> {
    let ip = addr.ip();
    if addr.port() == 0 || ip.is_unspecified() || ip.is_multicast() {
        return Err(CandidateError::InvalidAddress(addr));
    }
    if let IpAddr::V4(v4) = ip
        && v4.is_broadcast()
    {
        return Err(CandidateError::InvalidAddress(addr));
    }
    Ok(())
}

impl IceAgent {
    /// RFC 8445 §5.1.1.3: one foundation per (type, base IP, STUN server IP, protocol).
    pub(super) fn foundation(
        &mut self,
        kind: CandidateKind,
        base: IpAddr,
        server: Option<IpAddr>,
        protocol: Protocol,
    ) -> String {
        let key = (kind, base, server, protocol);
        let i = match self.foundations.iter().position(|k| *k == key) {
            Some(i) => i,
            None => {
                self.foundations.push(key);
                self.foundations.len() - 1
            }
        };
        (i + 1).to_string()
    }

    /// A candidate of `kind` at `addr` derived from host candidate `host` through `server`
    /// (server-reflexive or relayed, RFC 8445 §5.1.1.2): the host's component and local
    /// preference, the type preference of `kind` (§5.1.2.2), and a foundation for the type,
    /// the host's IP and the server's IP (§5.1.1.3).
    pub(super) fn derived_candidate(
        &mut self,
        host: usize,
        kind: CandidateKind,
        addr: SocketAddr,
        server: SocketAddr,
        related: SocketAddr,
    ) -> Candidate {
        let h = &self.locals[host].cand;
        let (component, local_pref, ip) = (h.component, h.local_preference(), h.addr.ip());
        Candidate {
            component,
            foundation: self.foundation(kind, ip, Some(server.ip()), Protocol::Udp),
            protocol: Protocol::Udp,
            priority: priority(kind.type_preference(), local_pref, component),
            addr,
            kind,
            related: Some(related),
            tcp_type: None,
        }
    }

    /// Adds a local candidate whose pairs leave from `base` (through `relay`), and reports it
    /// ([`Event::LocalCandidate`]). Returns its index.
    pub(super) fn add_local(
        &mut self,
        cand: Candidate,
        base: SocketAddr,
        relay: Option<usize>,
    ) -> usize {
        self.locals.push(Local {
            cand: cand.clone(),
            base,
            relay,
        });
        self.events.push_back(Event::LocalCandidate(cand));
        self.locals.len() - 1
    }

    /// The priority a peer-reflexive candidate learned from this base would have (the
    /// PRIORITY of our checks, RFC 8445 §7.1.1). On TCP, the peer-reflexive type and direction
    /// preferences of the base's TCP type (RFC 6544 §4.2) with its `other-pref`.
    pub(super) fn prflx_priority(&self, local: usize) -> u32 {
        let c = &self.locals[local].cand;
        let kind = CandidateKind::PeerReflexive;
        match c.tcp_type {
            None => priority(kind.type_preference(), c.local_preference(), c.component),
            Some(t) => {
                let other = c.local_preference() & MAX_TCP_OTHER_PREF;
                let pref = tcp_local_preference(kind, t, other);
                priority(kind.tcp_type_preference(), pref, c.component)
            }
        }
    }
}
