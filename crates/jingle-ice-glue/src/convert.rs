//! Candidates between the model's vocabulary (`xep0371_model`: what the stanzas carry) and the
//! agent's (`ice_sans_io`: what the agent pairs), written once.
//!
//! Every match is exhaustive. Where the source enum is `#[non_exhaustive]` (the agent's
//! [`ice_sans_io::Protocol`]), a value this crate does not know yet gives `None`, never a
//! guessed neighbour: a new variant upstream shows up as a candidate not signalled, not as a
//! wrong one.

use ice_sans_io::{CandidateKind, Protocol as AgentProtocol, TcpType as AgentTcpType};
use xep0371_model::{CandidateType, Protocol as ModelProtocol, TcpType as ModelTcpType};

/// The agent's kind of a candidate of the given model type (RFC 8445 §5.1.1; XEP-0371 §5.3
/// `type`).
pub fn agent_kind(t: CandidateType) -> CandidateKind {
    match t {
        CandidateType::Host => CandidateKind::Host,
        CandidateType::Prflx => CandidateKind::PeerReflexive,
        CandidateType::Srflx => CandidateKind::ServerReflexive,
        CandidateType::Relay => CandidateKind::Relayed,
    }
}

/// The model's type (XEP-0371 §5.3 `type`) of a candidate of the given agent kind.
pub fn model_type(kind: CandidateKind) -> CandidateType {
    match kind {
        CandidateKind::Host => CandidateType::Host,
        CandidateKind::PeerReflexive => CandidateType::Prflx,
        CandidateKind::ServerReflexive => CandidateType::Srflx,
        CandidateKind::Relayed => CandidateType::Relay,
    }
}

/// The agent's protocol for the model's (XEP-0371 §5.3 `protocol`).
pub fn agent_protocol(p: ModelProtocol) -> AgentProtocol {
    match p {
        ModelProtocol::Udp => AgentProtocol::Udp,
        ModelProtocol::Tcp => AgentProtocol::Tcp,
    }
}

/// The model's protocol for the agent's; `None` for a protocol the agent knows and this crate
/// does not (the agent's enum is `#[non_exhaustive]`).
pub fn model_protocol(p: AgentProtocol) -> Option<ModelProtocol> {
    match p {
        AgentProtocol::Udp => Some(ModelProtocol::Udp),
        AgentProtocol::Tcp => Some(ModelProtocol::Tcp),
        _ => None,
    }
}

/// The agent's TCP type (RFC 6544 §4.5) for the model's (XEP-0371 §5.3 `tcptype`).
pub fn agent_tcp_type(t: ModelTcpType) -> AgentTcpType {
    match t {
        ModelTcpType::Active => AgentTcpType::Active,
        ModelTcpType::Passive => AgentTcpType::Passive,
        ModelTcpType::So => AgentTcpType::SimultaneousOpen,
    }
}

/// The model's TCP type (XEP-0371 §5.3 `tcptype`) for the agent's.
pub fn model_tcp_type(t: AgentTcpType) -> ModelTcpType {
    match t {
        AgentTcpType::Active => ModelTcpType::Active,
        AgentTcpType::Passive => ModelTcpType::Passive,
        AgentTcpType::SimultaneousOpen => ModelTcpType::So,
    }
}

/// The agent's candidate for a candidate the peer signalled: component, foundation,
/// protocol, priority, address, kind, related address and TCP type (in either namespace:
/// the lenient reading keeps a `tcptype` that XEP-0176's schema lacks). What the agent has no
/// use for (generation, id, network, unknown attributes) is left behind. A TCP candidate
/// without `tcptype` is passed on as it is, and the agent refuses it. `None` when the agent
/// cannot represent the candidate (no such candidate today: every model value maps).
pub fn agent_candidate(c: &xep0371_model::Candidate) -> Option<ice_sans_io::Candidate> {
    Some(ice_sans_io::Candidate {
        component: u16::from(c.component),
        foundation: c.foundation.clone(),
        protocol: agent_protocol(c.protocol),
        priority: c.priority,
        addr: c.addr(),
        kind: agent_kind(c.type_),
        related: c.related_addr(),
        tcp_type: c.tcptype.map(agent_tcp_type),
    })
}

/// The model's candidate for one of the agent's: component, foundation, address, priority,
/// protocol, type, related address and TCP type (written in both namespaces: a TCP candidate
/// without it could not be paired). Generation, id and network are left `None`: they
/// belong to the signalling (the session fills them in). `None` when the model cannot carry
/// the candidate: a component over 255, or a protocol [`model_protocol`] does not know.
pub fn model_candidate(c: &ice_sans_io::Candidate) -> Option<xep0371_model::Candidate> {
    let component = u8::try_from(c.component).ok()?;
    let protocol = model_protocol(c.protocol)?;
    let mut m = xep0371_model::Candidate::new(
        component,
        c.foundation.clone(),
        c.addr,
        c.priority,
        protocol,
        model_type(c.kind),
    );
    if let Some(r) = c.related {
        m.rel_addr = Some(r.ip());
        m.rel_port = Some(r.port());
    }
    m.tcptype = c.tcp_type.map(model_tcp_type);
    Some(m)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A UDP candidate of component 1 on 192.0.2.1:5000.
    pub(crate) fn candidate(kind: CandidateKind) -> ice_sans_io::Candidate {
        ice_sans_io::Candidate {
            component: 1,
            foundation: "1".into(),
            protocol: AgentProtocol::Udp,
            priority: 1,
            addr: "192.0.2.1:5000".parse().unwrap(),
            kind,
            related: None,
            tcp_type: None,
        }
    }

    const KINDS: [CandidateKind; 4] = [
        CandidateKind::Host,
        CandidateKind::ServerReflexive,
        CandidateKind::PeerReflexive,
        CandidateKind::Relayed,
    ];

    /// Types and kinds map one to one, both ways.
    #[test]
    fn types_and_kinds_round_trip() {
        for &t in CandidateType::ALL {
            assert_eq!(model_type(agent_kind(t)), t);
        }
        for k in KINDS {
            assert_eq!(agent_kind(model_type(k)), k);
        }
        assert_eq!(model_type(CandidateKind::Relayed), CandidateType::Relay);
        assert_eq!(
            model_type(CandidateKind::PeerReflexive),
            CandidateType::Prflx
        );
    }

    /// Protocols map one to one, both ways.
    #[test]
    fn protocols_round_trip() {
        for &p in ModelProtocol::ALL {
            assert_eq!(model_protocol(agent_protocol(p)), Some(p));
        }
    }

    /// Candidates round-trip between the agent's type and the model's.
    #[test]
    fn candidates_round_trip() {
        for kind in KINDS {
            let mut c = candidate(kind);
            if kind != CandidateKind::Host {
                c.related = Some("10.0.0.1:5000".parse().unwrap());
            }
            let m = model_candidate(&c).unwrap();
            assert_eq!(
                (m.generation, m.id.as_deref(), m.network),
                (None, None, None)
            );
            assert_eq!(agent_candidate(&m), Some(c));
        }
        let mut c = candidate(CandidateKind::Host);
        c.component = 256;
        assert!(model_candidate(&c).is_none());
    }

    /// TCP types map one to one, both ways (the model's `So` is the agent's
    /// `SimultaneousOpen`), and TCP candidates round-trip with their type.
    #[test]
    fn tcp_types_round_trip() {
        for &t in ModelTcpType::ALL {
            assert_eq!(model_tcp_type(agent_tcp_type(t)), t);
        }
        assert_eq!(
            agent_tcp_type(ModelTcpType::So),
            AgentTcpType::SimultaneousOpen
        );
        for t in [
            AgentTcpType::Active,
            AgentTcpType::Passive,
            AgentTcpType::SimultaneousOpen,
        ] {
            let mut c = candidate(CandidateKind::Host);
            c.protocol = AgentProtocol::Tcp;
            c.tcp_type = Some(t);
            let m = model_candidate(&c).unwrap();
            assert_eq!(m.tcptype, Some(model_tcp_type(t)));
            assert_eq!(agent_candidate(&m), Some(c));
        }
    }
}
