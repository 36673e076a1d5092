//! Unit tests of the session's internals; the behaviour is tested through the public API in
//! `tests/`.

use ice_sans_io::CandidateKind;
use xep0371_model::{IceFeatures, IceNamespace};

use super::{Session, ns_for};
use crate::config::{Allowance, BeforeAllowed, Config, Role};
use crate::convert;
use crate::convert::tests::candidate;

fn session(before: BeforeAllowed) -> Session {
    let cfg = Config {
        before_allowed: before,
        ..Config::default()
    };
    Session::new(
        cfg,
        Role::Initiator,
        "s",
        "a@b/c".parse().unwrap(),
        "d@e/f".parse().unwrap(),
        [0; 32],
    )
}

/// XEP-0371 §11.1: before the allowance only what the policy permits may leave.
#[test]
fn xep0371_11_1_policy_filter() {
    let s = session(BeforeAllowed::Nothing);
    for k in [
        CandidateKind::Host,
        CandidateKind::ServerReflexive,
        CandidateKind::Relayed,
    ] {
        assert!(!s.may_share(&candidate(k)));
    }
    let mut s = session(BeforeAllowed::RelayOnly);
    assert!(s.may_share(&candidate(CandidateKind::Relayed)));
    assert!(!s.may_share(&candidate(CandidateKind::Host)));
    assert!(!s.may_share(&candidate(CandidateKind::ServerReflexive)));
    s.allowance = Some(Allowance::AllowList);
    assert!(s.may_share(&candidate(CandidateKind::Host)));
}

/// XEP-0371 §8.1: ice:0 when advertised, otherwise ice-udp:1.
#[test]
fn xep0371_8_1_ns_for() {
    let f = |ice0, ice_udp1| IceFeatures {
        ice0,
        ice_udp1,
        ..IceFeatures::default()
    };
    assert_eq!(ns_for(f(true, true)), IceNamespace::Ice0);
    assert_eq!(ns_for(f(true, false)), IceNamespace::Ice0);
    assert_eq!(ns_for(f(false, true)), IceNamespace::IceUdp1);
    assert_eq!(ns_for(f(false, false)), IceNamespace::IceUdp1);
}

/// Our candidates as signalled: the model's candidate with generation, id and network, which
/// reads back as the agent's (once sharing is allowed, XEP-0371 §11.1).
#[test]
fn signalled_candidates() {
    let mut s = session(BeforeAllowed::Nothing);
    s.allowance = Some(Allowance::AllowList);
    for kind in [
        CandidateKind::Host,
        CandidateKind::ServerReflexive,
        CandidateKind::PeerReflexive,
        CandidateKind::Relayed,
    ] {
        let mut c = candidate(kind);
        if kind != CandidateKind::Host {
            c.related = Some("10.0.0.1:5000".parse().unwrap());
        }
        let m = s.signalled_candidate(&c).unwrap();
        assert_eq!(m.generation, Some(0));
        assert_eq!(m.network, Some(0));
        assert!(m.id.as_deref().is_some_and(|i| i.starts_with('c')));
        assert_eq!(convert::agent_candidate(&m), Some(c));
    }
    let mut c = candidate(CandidateKind::Host);
    c.component = 256;
    assert!(s.signalled_candidate(&c).is_none());
}

/// XEP-0371 §11.1: a relayed candidate signalled before the allowance hides its related address
/// (the mapped address the TURN server saw) behind RFC 8839 §5.1's placeholder; after it, the
/// related address goes as it is.
#[test]
fn xep0371_11_1_related_address_hidden_before_the_allowance() {
    let mut s = session(BeforeAllowed::RelayOnly);
    for (mapped, hidden) in [
        ("198.51.100.7:40000", "0.0.0.0:9"),
        ("[2001:db8::7]:40000", "[::]:9"),
    ] {
        let mut c = candidate(CandidateKind::Relayed);
        c.related = Some(mapped.parse().unwrap());
        s.allowance = None;
        let m = s.signalled_candidate(&c).unwrap();
        assert_eq!(m.related_addr(), Some(hidden.parse().unwrap()));
        assert_eq!(m.addr(), c.addr, "the relayed address itself goes");
        s.allowance = Some(Allowance::PresenceSubscription);
        let m = s.signalled_candidate(&c).unwrap();
        assert_eq!(m.related_addr(), c.related);
    }
}
